// The drawing pad: Pointer Events (mouse, touch, pen with pressure), light ink on black like the
// dataset, undo and clear. It only paints; what the drawing means is decided in Rust.
const INK = '#f4f4f4';
const PAPER = '#000000';

export class DrawingPad {
  /** onChange(final): called while drawing (final=false, throttled by the caller) and after
   * each stroke, undo, clear or picture (final=true). */
  constructor(canvas, { onChange }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.onChange = onChange;
    this.brush = 1; // set by the panel from the brush control
    this.strokes = [];   // [{size, points: [[x, y, pressure]]}]
    this.undoStack = []; // earlier stroke lists, for undoing a clear or a picture
    this.picture = null; // an uploaded picture shown instead of strokes
    this.active = null;
    this.paint();

    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    // Touch drawing must not scroll or zoom the page.
    canvas.style.touchAction = 'none';
  }

  get isEmpty() { return !this.strokes.length && !this.picture; }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * this.canvas.width;
    const y = ((e.clientY - r.top) / r.height) * this.canvas.height;
    // Mice report 0.5 (or 0) pressure; only pens vary it.
    const p = e.pointerType === 'pen' && e.pressure > 0 ? 0.4 + e.pressure * 1.2 : 1;
    return [x, y, p];
  }

  down(e) {
    if (e.button !== 0 && e.pointerType === 'mouse') return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.remember();
    this.active = { size: this.brush, points: [this.point(e)] };
    // Drawing over an uploaded picture starts a fresh drawing.
    this.strokes = this.picture ? [this.active] : [...this.strokes, this.active];
    this.picture = null;
    this.paint();
    this.onChange(false);
  }

  move(e) {
    if (!this.active) return;
    // Fast strokes arrive as several coalesced points per event: keep them all.
    const events = e.getCoalescedEvents?.() ?? [];
    for (const ev of (events.length ? events : [e])) this.active.points.push(this.point(ev));
    this.paint();
    this.onChange(false);
  }

  up(e) {
    if (!this.active) return;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.active = null;
    this.onChange(true);
  }

  // Every change replaces (never mutates) the stroke list, so earlier lists can be restored.
  remember() { this.undoStack.push({ strokes: this.strokes, picture: this.picture }); }

  get canUndo() { return this.undoStack.length > 0; }

  undo() {
    const last = this.undoStack.pop();
    if (!last) return;
    ({ strokes: this.strokes, picture: this.picture } = last);
    this.paint();
    this.onChange(true);
  }

  clear() {
    if (this.isEmpty) return;
    this.remember();
    this.strokes = [];
    this.picture = null;
    this.paint();
    this.onChange(true);
  }

  /** Shows a picture (an ImageBitmap or canvas) fitted on the pad; strokes drawn later replace it. */
  showPicture(picture) {
    this.remember();
    this.strokes = [];
    this.picture = picture;
    this.paint();
  }

  /** Draws kept strokes (pad coordinates) again with one brush width, as a new drawing. */
  showStrokes(strokes, brush) {
    this.remember();
    this.strokes = strokes.map((points) => ({ size: brush, points: points.map(([x, y]) => [x, y, 1]) }));
    this.picture = null;
    this.paint();
    this.onChange(true);
  }

  paint() {
    const { ctx, canvas } = this;
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (this.picture) {
      const s = Math.min(canvas.width / this.picture.width, canvas.height / this.picture.height);
      const w = this.picture.width * s;
      const h = this.picture.height * s;
      ctx.drawImage(this.picture, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
      return;
    }
    if (this.isEmpty) {
      // A hint only while empty: an empty pad is never read, so it cannot reach the model.
      ctx.fillStyle = '#5b6784';
      ctx.font = `${Math.round(canvas.width / 17)}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.fillText('Draw a piece of clothing', canvas.width / 2, canvas.height / 2);
      return;
    }
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    for (const { size, points } of this.strokes) {
      const [x0, y0, p0] = points[0];
      ctx.beginPath();
      ctx.arc(x0, y0, (size * p0) / 2, 0, Math.PI * 2);
      ctx.fill();
      for (let i = 1; i < points.length; i++) {
        const [xa, ya] = points[i - 1];
        const [xb, yb, pb] = points[i];
        ctx.lineWidth = size * pb;
        ctx.beginPath();
        ctx.moveTo(xa, ya);
        ctx.lineTo(xb, yb);
        ctx.stroke();
      }
    }
  }

  /** The widest line drawn so far, in canvas pixels (the preprocessing trims outlines by it). */
  lineWidth() {
    let widest = 0;
    for (const { size, points } of this.strokes) for (const [, , p] of points) widest = Math.max(widest, size * p);
    return widest || this.brush;
  }

  /** The pad's pixels as RGBA bytes. */
  pixels() {
    return this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
  }
}
