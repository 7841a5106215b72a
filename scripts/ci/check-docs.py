#!/usr/bin/env python3
"""Checks the docs against the repository (scripts/test.sh runs it first):
- README.md is at most 10,000 bytes;
- every figure README.md gives (a number with %, x, ms, s or min, outside code blocks) is also in
  docs/RESULTS.md, where each figure lives with its command and date;
- every repository path README.md, docs/*.md and models/README.md name exists (globs and
  {a,b} alternatives expanded)."""
import glob
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s?[–-]\s?(\d[\d,]*(?:\.\d+)?))?\s?(%|x|ms|min|s)(?![\w])")
PATH = re.compile(r"(?<![\w/.<>-])((?:src|scripts|tests|www|docs|models|bench|fuzz|\.ci)/[\w./*{},-]*[\w*}])")


def prose(text):
    """The text outside fenced code blocks."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def figures(text):
    found = set()
    for m in FIGURE.finditer(prose(text)):
        for number in (m.group(1), m.group(2)):
            if number:
                found.add(number.replace(",", "") + m.group(3))
    return found


def expand(path):
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [p for alt in m.group(1).split(",") for p in expand(path[: m.start()] + alt + path[m.end():])]


def main():
    problems = []
    readme = (ROOT / "README.md").read_text()
    size = len(readme.encode())
    if size > 10_000:
        problems.append(f"README.md is {size} bytes (at most 10,000)")
    results = figures((ROOT / "docs/RESULTS.md").read_text())
    for figure in sorted(figures(readme) - results):
        problems.append(f"README.md gives {figure}, which docs/RESULTS.md does not")
    for doc in ["README.md", "models/README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]:
        for m in PATH.finditer((ROOT / doc).read_text()):
            for path in expand(m.group(1).rstrip(".,")):
                if not glob.glob(str(ROOT / path)):
                    problems.append(f"{doc} names {path}, which the repository does not have")
    for p in problems:
        print(f"check-docs: {p}", file=sys.stderr)
    if not problems:
        print(f"check-docs: README.md {size} bytes; its figures are in docs/RESULTS.md; every path the docs name exists")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
