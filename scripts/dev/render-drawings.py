#!/usr/bin/env python3
"""Renders the e2e test's hand-drawn outlines (tests/fixtures/drawings/outlines.json) as PNGs of
the page's pad, so native tests and `fashion predict --brush 22` read the same drawings the e2e
test draws with the mouse.

The pad's own way of painting (www/js/pad.js): black paper, ink #f4f4f4, round caps and joins, a
dot at the first point, then one stroked segment per pointer event. Playwright's
`mouse.move(p, {steps: 8})` (the e2e's stroke) sends 8 evenly spaced events per leg, so each leg is
cut into 8 segments here. Chromium's own canvas paints them.

Usage: python3 scripts/dev/render-drawings.py   (needs /usr/bin/chromium; rewrites the PNGs)
"""
import base64
import json
import pathlib
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/drawings"
SIDE, BRUSH, STEPS = 280, 22, 8

PAGE = """<!doctype html><body><pre id="out"></pre><script>
const outlines = %(outlines)s;
const out = {};
for (const [name, pts] of Object.entries(outlines)) {
  const c = document.createElement('canvas');
  c.width = c.height = %(side)d;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#000000'; ctx.fillRect(0, 0, c.width, c.height);
  ctx.strokeStyle = ctx.fillStyle = '#f4f4f4';
  ctx.lineCap = ctx.lineJoin = 'round';
  const closed = [...pts, pts[0]];
  const events = [closed[0]];
  for (let i = 1; i < closed.length; i++) {
    const [ax, ay] = closed[i - 1], [bx, by] = closed[i];
    for (let s = 1; s <= %(steps)d; s++) events.push([ax + (bx - ax) * s / %(steps)d, ay + (by - ay) * s / %(steps)d]);
  }
  ctx.beginPath(); ctx.arc(events[0][0], events[0][1], %(brush)d / 2, 0, Math.PI * 2); ctx.fill();
  ctx.lineWidth = %(brush)d;
  for (let i = 1; i < events.length; i++) {
    ctx.beginPath(); ctx.moveTo(...events[i - 1]); ctx.lineTo(...events[i]); ctx.stroke();
  }
  out[name] = c.toDataURL('image/png');
}
document.getElementById('out').textContent = JSON.stringify(out);
</script></body>"""


def main():
    outlines = json.loads((FIXTURES / "outlines.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        page = pathlib.Path(tmp) / "render.html"
        page.write_text(PAGE % {"outlines": json.dumps(outlines), "side": SIDE, "steps": STEPS, "brush": BRUSH})
        dom = subprocess.run(
            ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp}/profile", "--dump-dom", page.as_uri()],
            check=True, capture_output=True, text=True, timeout=120).stdout
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    rendered = json.loads(dom[start:dom.index("</pre>", start)].replace("&amp;", "&"))
    for name, url in rendered.items():
        png = FIXTURES / (name.replace("/", "-") + ".png")
        png.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        print(png.relative_to(ROOT))


if __name__ == "__main__":
    main()
