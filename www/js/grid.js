// The grid of test images with predicted labels (right and wrong in the palette's colours).

/** Draws `labels.length` images (`side`×`side` bytes each in `pixels`) with their predictions. */
export function drawGrid(canvas, { pixels, labels, predictions, names, palette, side }) {
  const ctx = canvas.getContext('2d');
  const n = labels.length;
  const area = side * side;
  const cols = 8;
  const rows = Math.ceil(n / cols);
  const cellW = canvas.width / cols;
  const cellH = canvas.height / rows;
  const size = Math.min(cellW - 8, cellH - 22);
  ctx.fillStyle = palette.chart_bg;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = new OffscreenCanvas(side, side);
  const tctx = tile.getContext('2d');
  const img = tctx.createImageData(side, side);
  ctx.imageSmoothingEnabled = false;
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < area; p++) {
      const v = pixels[i * area + p];
      img.data.set([v, v, v, 255], p * 4);
    }
    tctx.putImageData(img, 0, 0);
    const x = (i % cols) * cellW + (cellW - size) / 2;
    const y = Math.floor(i / cols) * cellH + 2;
    ctx.drawImage(tile, x, y, size, size);
    const pred = predictions ? predictions[i] : undefined;
    if (pred !== undefined) {
      const ok = pred === labels[i];
      ctx.strokeStyle = ok ? palette.ok : palette.bad;
      ctx.lineWidth = ok ? 1.5 : 3;
      ctx.strokeRect(x - 1, y - 1, size + 2, size + 2);
      ctx.fillStyle = ok ? palette.ok_text : palette.bad_text;
      const text = ok ? names[pred] : `${names[pred]} (${names[labels[i]]})`;
      ctx.fillText(text, x + size / 2, y + size + 13, cellW - 2);
    } else {
      ctx.fillStyle = palette.muted;
      ctx.fillText(names[labels[i]], x + size / 2, y + size + 13, cellW - 2);
    }
  }
}
