#!/usr/bin/env python3
"""Fills dist/sw.js with this build's version (a hash of every app file) and the list of files
to keep offline. Any change to the app gives a new version, which browsers then install beside
the old one."""
import hashlib
import json
import pathlib
import sys

dist = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
sw = dist / "sw.js"
files = sorted(
    p for p in dist.rglob("*")
    if p.is_file() and p != sw and "data" not in p.relative_to(dist).parts
)
digest = hashlib.sha256()
for p in files:
    digest.update(str(p.relative_to(dist)).encode())
    digest.update(p.read_bytes())
version = digest.hexdigest()[:16]
assets = ["./"] + [str(p.relative_to(dist)) for p in files if p.name != "index.html"]
text = sw.read_text()
if "__VERSION__" not in text:
    sys.exit(f"{sw}: already stamped or not the template")
sw.write_text(text.replace("'__VERSION__'", json.dumps(version)).replace("__ASSETS__", json.dumps(assets)))
print(f"service worker: version {version}, {len(assets)} files kept offline")
