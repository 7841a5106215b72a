// Showing what the model looks at: for the image in view, which pixels pushed its answer toward
// the top class (red) or away from it (blue), over the 28×28 input; and the first layer's weights,
// one small image per unit, in the same colours. The numbers come from the page's module
// (gradient × input, and the weights as they are); this file only paints them.

/** Paints `input` (784 values in [0, 1]) in grey with `attribution` over it on a side×side canvas. */
export function paintAttribution(canvas, input, attribution, side) {
  const max = attribution.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  const img = new ImageData(side, side);
  input.forEach((v, i) => {
    const g = Math.round(v * 120);
    const a = attribution[i] / max;
    const strength = Math.min(1, Math.abs(a) * 1.6);
    const [r, gg, b] = a >= 0 ? [255, 70, 60] : [70, 140, 255];
    img.data.set([
      Math.round(g + (r - g) * strength),
      Math.round(g + (gg - g) * strength),
      Math.round(g + (b - g) * strength),
      255,
    ], i * 4);
  });
  canvas.getContext('2d').putImageData(img, 0, 0);
}

/** Paints `count` images of side×side values (unit after unit) as a grid on `canvas`, each
 * scaled to its own largest magnitude: red positive, blue negative. */
export function paintWeights(canvas, images, side, count) {
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const gap = 1;
  canvas.width = cols * (side + gap) - gap;
  canvas.height = rows * (side + gap) - gap;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#0b1220';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const n = side * side;
  for (let u = 0; u < count; u++) {
    const w = images.subarray(u * n, (u + 1) * n);
    const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    const img = new ImageData(side, side);
    w.forEach((v, i) => {
      const a = Math.min(1, Math.abs(v) / max);
      img.data.set(v >= 0 ? [Math.round(255 * a), Math.round(70 * a), Math.round(60 * a), 255] : [Math.round(70 * a), Math.round(140 * a), Math.round(255 * a), 255], i * 4);
    });
    ctx.putImageData(img, (u % cols) * (side + gap), Math.floor(u / cols) * (side + gap));
  }
}
