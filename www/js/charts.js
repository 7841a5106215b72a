// The page's charts, drawn with plain Canvas 2D on any canvas (an OffscreenCanvas in the render
// worker, or the page's own canvas where a browser cannot hand one over): loss and accuracy
// curves over epochs, the test-image grid with predictions, the confusion matrix and per-class
// accuracy. Text is measured with the canvas itself, so nothing touches the document.

const FONT = '12px system-ui, sans-serif';

/** The plot area of a chart with `left` and `bottom` margins for labels. */
function frame(ctx, w, h, p, { left = 56, bottom = 40, top = 10, right = 12 } = {}) {
  ctx.fillStyle = p.chart_bg;
  ctx.fillRect(0, 0, w, h);
  return { x: left, y: top, w: w - left - right, h: h - top - bottom };
}

/** Round tick values covering [lo, hi], about `n` of them. */
function ticks(lo, hi, n) {
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

/**
 * Curves over epochs. `series`: [{label, color, points: [[x, y]], dots}]; the y axis fits the
 * points (within [0, 1] when `percent`).
 */
export function drawCurves(canvas, { series, epochs, yLabel, percent, palette: p }) {
  const ctx = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const a = frame(ctx, W, H, p);
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  let lo = ys.length ? Math.min(...ys) : 0;
  let hi = ys.length ? Math.max(...ys) : (percent ? 1 : 2.5);
  const pad = Math.max((hi - lo) * 0.08, 1e-3);
  lo = Math.max(0, lo - pad);
  hi = percent ? Math.min(1, hi + pad) : hi + pad;
  const xMax = Math.max(1, epochs);
  const X = (x) => a.x + (x / xMax) * a.w;
  const Y = (y) => a.y + a.h - ((y - lo) / (hi - lo || 1)) * a.h;
  ctx.font = FONT;
  ctx.strokeStyle = p.chart_grid;
  ctx.fillStyle = p.chart_text;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of ticks(lo, hi, 5)) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(a.x, y); ctx.lineTo(a.x + a.w, y); ctx.stroke();
    ctx.fillText(percent ? `${(v * 100).toFixed(0)}%` : v.toFixed(2), a.x - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const v of ticks(0, xMax, Math.min(10, xMax))) {
    const x = Math.round(X(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, a.y); ctx.lineTo(x, a.y + a.h); ctx.stroke();
    ctx.fillText(String(v), x, a.y + a.h + 6);
  }
  ctx.fillText('epoch', a.x + a.w / 2, H - 16);
  ctx.save();
  ctx.translate(12, a.y + a.h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, -6);
  ctx.restore();
  ctx.save();
  ctx.beginPath(); ctx.rect(a.x - 4, a.y - 4, a.w + 8, a.h + 8); ctx.clip();
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    if (s.dots) {
      for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(X(x), Y(y), 3, 0, 2 * Math.PI); ctx.fill(); }
    } else if (pts.length) {
      ctx.lineWidth = 2;
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
    }
  }
  ctx.restore();
  legend(ctx, a, series, percent ? 'bottom' : 'top', p);
}

function legend(ctx, a, series, where, p) {
  ctx.font = FONT;
  const width = 36 + Math.max(...series.map((s) => ctx.measureText(s.label).width));
  const height = 8 + 18 * series.length;
  const x = a.x + a.w - width - 8;
  const y = where === 'top' ? a.y + 8 : a.y + a.h - height - 8;
  ctx.globalAlpha = 0.85;
  ctx.fillStyle = p.chart_bg;
  ctx.fillRect(x, y, width, height);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = p.chart_grid;
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, y + 0.5, width, height);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  series.forEach((s, i) => {
    const cy = y + 13 + 18 * i;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    if (s.dots) { ctx.beginPath(); ctx.arc(x + 16, cy, 3, 0, 2 * Math.PI); ctx.fill(); } else {
      ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x + 8, cy); ctx.lineTo(x + 24, cy); ctx.stroke();
    }
    ctx.fillStyle = p.chart_text;
    ctx.fillText(s.label, x + 30, cy);
  });
}

/** The 10x10 confusion matrix (rows: true class), each row coloured by its share. */
export function drawConfusion(canvas, { matrix, names, palette: p }) {
  const ctx = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const a = frame(ctx, W, H, p, { left: 110, bottom: 44 });
  const side = Math.min(a.w, a.h) / 10;
  ctx.font = FONT;
  for (let t = 0; t < 10; t++) {
    const row = matrix[t];
    const sum = Math.max(1, row.reduce((s, v) => s + v, 0));
    for (let q = 0; q < 10; q++) {
      const share = row[q] / sum;
      ctx.fillStyle = t === q
        ? `rgb(20, ${Math.round(60 + 170 * share)}, ${Math.round(70 + 90 * share)})`
        : `rgb(${Math.round(30 + 225 * Math.sqrt(share))}, 40, 60)`;
      ctx.fillRect(a.x + q * side, a.y + t * side, side - 1, side - 1);
      ctx.fillStyle = 'rgba(255, 255, 255, 0.9)';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(String(row[q]), a.x + (q + 0.5) * side, a.y + (t + 0.5) * side);
    }
  }
  ctx.fillStyle = p.chart_text;
  ctx.textAlign = 'right';
  for (let t = 0; t < 10; t++) ctx.fillText(`${names[t]} ${t}`, a.x - 6, a.y + (t + 0.5) * side);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (let q = 0; q < 10; q++) ctx.fillText(String(q), a.x + (q + 0.5) * side, a.y + 10 * side + 4);
  ctx.fillText('predicted', a.x + 5 * side, a.y + 10 * side + 22);
  ctx.save();
  ctx.translate(14, a.y + 5 * side);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('true', 0, -8);
  ctx.restore();
}

/** Horizontal bars of per-class accuracy. */
export function drawPerClass(canvas, { accuracy, names, palette: p }) {
  const ctx = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const a = frame(ctx, W, H, p, { left: 110, bottom: 40 });
  const h = a.h / 10;
  ctx.font = FONT;
  ctx.strokeStyle = p.chart_grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = p.chart_text;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const x = Math.round(a.x + v * a.w) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, a.y); ctx.lineTo(x, a.y + a.h); ctx.stroke();
    ctx.fillText(`${v * 100}%`, x, a.y + a.h + 6);
  }
  ctx.fillText('per-class accuracy', a.x + a.w / 2, H - 16);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let c = 0; c < 10; c++) {
    const v = Math.min(1, Math.max(0, accuracy[c] ?? 0));
    ctx.fillStyle = v >= 0.9 ? p.ok : v >= 0.75 ? p.accent : p.warn;
    ctx.fillRect(a.x, a.y + c * h + 3, v * a.w, h - 6);
    ctx.fillStyle = p.chart_text;
    ctx.fillText(`${names[c]} ${c}`, a.x - 6, a.y + (c + 0.5) * h);
  }
}

/** The test images (`side`×`side` bytes each) with their predictions, eight to a row. `tiles`:
 * each image already made into something drawable (`makeTiles`). */
export function drawGrid(canvas, { tiles, labels, predictions, names, palette: p }) {
  const ctx = canvas.getContext('2d');
  const n = labels.length;
  const cols = 8;
  const rows = Math.ceil(n / cols);
  const cellW = canvas.width / cols;
  const cellH = canvas.height / rows;
  const size = Math.min(cellW - 8, cellH - 22);
  ctx.fillStyle = p.chart_bg;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  for (let i = 0; i < n; i++) {
    const x = (i % cols) * cellW + (cellW - size) / 2;
    const y = Math.floor(i / cols) * cellH + 2;
    ctx.drawImage(tiles[i], x, y, size, size);
    const pred = predictions ? predictions[i] : undefined;
    if (pred !== undefined) {
      const ok = pred === labels[i];
      ctx.strokeStyle = ok ? p.ok : p.bad;
      ctx.lineWidth = ok ? 1.5 : 3;
      ctx.strokeRect(x - 1, y - 1, size + 2, size + 2);
      ctx.fillStyle = ok ? p.ok_text : p.bad_text;
      ctx.fillText(ok ? names[pred] : `${names[pred]} (${names[labels[i]]})`, x + size / 2, y + size + 13, cellW - 2);
    } else {
      ctx.fillStyle = p.muted;
      ctx.fillText(names[labels[i]], x + size / 2, y + size + 13, cellW - 2);
    }
  }
}

/** Each grid image as a small canvas, made once per dataset. */
export function makeTiles(pixels, count, side) {
  const area = side * side;
  const tiles = [];
  for (let i = 0; i < count; i++) {
    const tile = new OffscreenCanvas(side, side);
    const img = new ImageData(side, side);
    for (let q = 0; q < area; q++) {
      const v = pixels[i * area + q];
      const o = q * 4;
      img.data[o] = v; img.data[o + 1] = v; img.data[o + 2] = v; img.data[o + 3] = 255;
    }
    tile.getContext('2d').putImageData(img, 0, 0);
    tiles.push(tile);
  }
  return tiles;
}

/** Pixels of `canvas` that differ from its top-left corner (tests: has something been drawn). */
export function drawnPixels(canvas) {
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) n++;
  return n;
}

/**
 * Everything the charts show, redrawn at most once a frame and only where something changed.
 * `canvases`: {loss, acc, grid, confusion, perClass}; `facts`: the page's facts (palette, class
 * names, image side). Messages (`handle`): {type: 'curves', history, epochs}, {type: 'metrics',
 * confusion, perClass, predictions}, {type: 'grid', pixels, labels}, {type: 'pixels', id}.
 */
export function createRenderer(canvases, facts, reply) {
  const { palette: p, class_names: names, image_side: side } = facts;
  const state = { history: null, epochs: 1, confusion: null, perClass: null, tiles: null, labels: null, predictions: null };
  const dirty = new Set();
  let scheduled = false;
  const frame = self.requestAnimationFrame ? (f) => self.requestAnimationFrame(f) : (f) => setTimeout(f, 16);
  const draw = {
    curves() {
      const h = state.history;
      if (!h) return;
      drawCurves(canvases.loss, {
        series: [
          { label: 'train (live)', color: p.accent, points: h.liveLoss },
          { label: 'train (epoch)', color: p.accent_soft, points: h.trainLoss, dots: true },
          { label: 'test', color: p.test, points: h.testLoss, dots: true },
        ], epochs: state.epochs, yLabel: 'loss', percent: false, palette: p,
      });
      drawCurves(canvases.acc, {
        series: [
          { label: 'train (live)', color: p.accent, points: h.liveAcc },
          { label: 'train (epoch)', color: p.accent_soft, points: h.trainAcc, dots: true },
          { label: 'test', color: p.test, points: h.testAcc, dots: true },
        ], epochs: state.epochs, yLabel: 'accuracy', percent: true, palette: p,
      });
    },
    metrics() {
      for (const c of [canvases.confusion, canvases.perClass]) {
        if (!state.confusion) c.getContext('2d').clearRect(0, 0, c.width, c.height);
      }
      if (!state.confusion) return;
      drawConfusion(canvases.confusion, { matrix: state.confusion, names, palette: p });
      drawPerClass(canvases.perClass, { accuracy: state.perClass, names, palette: p });
    },
    grid() {
      if (state.tiles) drawGrid(canvases.grid, { tiles: state.tiles, labels: state.labels, predictions: state.predictions, names, palette: p });
    },
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    frame(() => {
      scheduled = false;
      for (const part of dirty) draw[part]();
      dirty.clear();
    });
  };
  return {
    handle(msg) {
      switch (msg.type) {
        case 'curves': Object.assign(state, { history: msg.history, epochs: msg.epochs }); dirty.add('curves'); break;
        case 'metrics':
          Object.assign(state, { confusion: msg.confusion, perClass: msg.perClass, predictions: msg.predictions });
          dirty.add('metrics'); dirty.add('grid');
          break;
        case 'grid':
          Object.assign(state, { tiles: makeTiles(msg.pixels, msg.labels.length, side), labels: msg.labels, predictions: null });
          dirty.add('grid');
          break;
        case 'pixels':
          // After any pending redraw, so that a test sees what the user sees.
          frame(() => reply({ type: 'pixels', id: msg.id, count: drawnPixels(canvases[msg.id]) }));
          return;
        default: return;
      }
      schedule();
    },
  };
}
