// The grid of test images with predicted labels (green: right, red: wrong).

const NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export { NAMES };

export function drawGrid(canvas, pixels, labels, predictions) {
  const ctx = canvas.getContext('2d');
  const n = labels.length;
  const cols = 8;
  const rows = Math.ceil(n / cols);
  const cellW = canvas.width / cols;
  const cellH = canvas.height / rows;
  const side = Math.min(cellW - 8, cellH - 22);
  ctx.fillStyle = '#0f1420';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = document.createElement('canvas');
  tile.width = 28; tile.height = 28;
  const tctx = tile.getContext('2d');
  const img = tctx.createImageData(28, 28);
  ctx.imageSmoothingEnabled = false;
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 784; p++) {
      const v = pixels[i * 784 + p];
      img.data.set([v, v, v, 255], p * 4);
    }
    tctx.putImageData(img, 0, 0);
    const x = (i % cols) * cellW + (cellW - side) / 2;
    const y = Math.floor(i / cols) * cellH + 2;
    ctx.drawImage(tile, x, y, side, side);
    const pred = predictions ? predictions[i] : undefined;
    if (pred !== undefined) {
      const ok = pred === labels[i];
      ctx.strokeStyle = ok ? '#3ecf8e' : '#ff5c5c';
      ctx.lineWidth = ok ? 1.5 : 3;
      ctx.strokeRect(x - 1, y - 1, side + 2, side + 2);
      ctx.fillStyle = ok ? '#b9f6d8' : '#ffc2c2';
      const text = ok ? NAMES[pred] : `${NAMES[pred]} (${NAMES[labels[i]]})`;
      ctx.fillText(text, x + side / 2, y + side + 13, cellW - 2);
    } else {
      ctx.fillStyle = '#9aa4b8';
      ctx.fillText(NAMES[labels[i]], x + side / 2, y + side + 13, cellW - 2);
    }
  }
}
