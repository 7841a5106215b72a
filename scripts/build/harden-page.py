#!/usr/bin/env python3
"""Makes dist/index.html work under a strict Content-Security-Policy: Trunk writes its loader as
an inline <script>, which 'self' alone forbids, so each inline script moves into a file of its
own; then the policy goes into a <meta> tag for static hosting (scripts/build/serve.py also sends it as
a header, where frame-ancestors works too)."""
import hashlib
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from serve import CSP  # noqa: E402  (one definition of the policy)

dist = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
index = dist / "index.html"
html = index.read_text()

INLINE = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S)


def externalise(m):
    attrs, body = m.group("attrs"), m.group("body")
    if "src=" in attrs or not body.strip():
        return m.group(0)
    # Trunk's loader: the page also needs its module's two files to load a fresh instance after
    # a panic (www/js/page-module.js).
    glue = re.search(r"import init, \* as bindings from '([^']+)'", body)
    wasm = re.search(r"module_or_path: '([^']+)'", body)
    if glue and wasm:
        body += f"\nwindow.wasmSources = {{ glue: '{glue.group(1)}', wasm: '{wasm.group(1)}' }};\n"
    name = f"boot-{hashlib.sha256(body.encode()).hexdigest()[:12]}.js"
    (dist / name).write_text(body)
    return f'<script{attrs} src="./{name}"></script>'


html, moved = INLINE.subn(externalise, html)
# frame-ancestors is ignored in a meta tag (browsers warn about it): headers only.
meta_policy = "; ".join(p for p in CSP.split("; ") if not p.startswith("frame-ancestors"))
if "Content-Security-Policy" not in html:
    html = html.replace("<head>", f'<head>\n  <meta http-equiv="Content-Security-Policy" content="{meta_policy}">', 1)
if re.search(r"\son[a-z]+=", html) or re.search(r"\sstyle=", html):
    sys.exit(f"{index}: inline event handlers or style attributes break the Content-Security-Policy")
index.write_text(html)
print(f"page hardened: {moved} inline script(s) moved to files, Content-Security-Policy set")
