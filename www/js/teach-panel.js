// "Teach it your drawings": the user's own labelled drawings ("That's a ..." + Keep), kept in
// this browser, exported and imported as one file, and taught to the model in use by the
// training worker Auto picks, as for a run (src/teach: fine-tuning with a replay of
// Fashion-MNIST, measured on held-out drawings and the test set before and after). The taught model replaces the one in use only when the
// user says so; until then nothing changes. Files are parsed by the worker, never here.
import { toWorker } from './messages.js';
import * as store from './store.js';
import { pct } from './status.js';

const $ = (id) => document.getElementById(id);
const KEY = 'drawings';
// Drawing records from the parallel lists a set is stored and read as.
const records = (labels, flat, strokes) => {
  const pixels = new Uint8Array(flat);
  return Array.from(labels, (label, i) => ({ label, pixels: pixels.slice(i * PIXELS, (i + 1) * PIXELS), drawn: strokes?.[i] ?? null }));
};
const onName = (backend) => (backend === 'webgpu' ? 'WebGPU' : 'the CPU');
const PIXELS = 784;

export class TeachPanel {
  /** wasm: the page module; names: class names; classify: the drawing panel; worker(): the CPU
   * worker client (it reads set files); teachOn(): resolves {backend, worker} to teach on (Auto's
   * pick, the dataset sent), or throws why none; canTeach(): whether a dataset is loaded and
   * nothing trains; onTaught(bytes, report): the user keeps a taught model; onBusy(): a teaching
   * starts or ends; onError(text); storageFailed(e). */
  constructor({ wasm, names, classify, worker, teachOn, canTeach, onTaught, onBusy, onError, storageFailed }) {
    Object.assign(this, { wasm, names, classify, worker, teachOn, canTeach, onTaught, onBusy, onError, storageFailed });
    this.teacher = null;  // the worker teaching now
    this.stopAsked = false;
    // The kept drawings: { label, pixels: Uint8Array(784), drawn: {brush, strokes} in pad
    // coordinates, or null for a picture or test image }.
    this.drawings = [];
    this.teaching = false;
    this.taught = null;   // { weights, report } waiting for Use or Discard
    this.ui = {
      cls: $('teach-class'), keep: $('teach-keep'), summary: $('teach-summary'), run: $('teach-run'),
      cancel: $('teach-cancel'), exportSet: $('teach-export'), importSet: $('teach-import'), clear: $('teach-clear'),
      result: $('teach-result'), figures: $('teach-figures'), use: $('teach-use'), discard: $('teach-discard'),
      list: $('teach-list'), thumbs: $('teach-thumbs'),
    };
    names.forEach((name, c) => this.ui.cls.append(new Option(name, String(c))));
    const { ui } = this;
    ui.keep.addEventListener('click', () => this.keep());
    ui.run.addEventListener('click', () => this.teach());
    ui.cancel.addEventListener('click', () => {
      // Before the worker is picked, the stop follows the teaching's start.
      if (this.teacher) this.teacher.send(toWorker.stop());
      else this.stopAsked = true;
    });
    ui.exportSet.addEventListener('click', () => this.exportSet());
    ui.importSet.addEventListener('change', () => {
      const file = ui.importSet.files[0];
      ui.importSet.value = '';
      if (file) this.importSet(file);
    });
    ui.clear.addEventListener('click', () => {
      const n = this.drawings.length;
      if (confirm(`Delete all ${n} kept drawing${n === 1 ? '' : 's'}? Export the set first to keep a copy.`)) this.setDrawings([]);
    });
    ui.use.addEventListener('click', () => this.useTaught());
    ui.list.addEventListener('toggle', () => this.renderThumbs());
    // One listener for every thumbnail: a class changed, or a drawing deleted.
    ui.thumbs.addEventListener('change', (e) => {
      const i = Number(e.target.closest('li')?.dataset.index);
      if (Number.isInteger(i)) this.setDrawings(this.drawings.map((d, k) => (k === i ? { ...d, label: Number(e.target.value) } : d)));
    });
    ui.thumbs.addEventListener('click', (e) => {
      const i = Number(e.target.closest('li')?.dataset.index);
      if (!Number.isInteger(i)) return;
      // A thumbnail back on the pad (its strokes, else its pixels); × deletes it.
      if (e.target.matches('canvas')) this.redraw(i);
      if (!e.target.matches('button')) return;
      const others = (_, k) => k !== i;
      this.setDrawings(this.drawings.filter(others));
    });
    ui.discard.addEventListener('click', () => { this.taught = null; this.render(); });
  }

  /** The set kept in this browser. */
  async restore() {
    const [set] = await store.loadAll([KEY]).catch((e) => { this.storageFailed(e); return [null]; });
    if (set?.labels && set?.pixels) {
      this.drawings = records(set.labels, set.pixels, set.strokes);
    }
    this.render();
    this.renderThumbs();
  }

  /** The current drawing's class, as the model answers it (the user changes it when wrong). */
  suggest(topClass) {
    if (topClass != null) this.ui.cls.value = String(topClass);
    this.render();
  }

  keep() {
    const input = this.classify.input;
    if (!input) return;
    const bytes = Uint8Array.from(input, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    // What was drawn on the pad, to draw it again later (a picture or test image has no strokes).
    const { pad } = this.classify;
    const round = (v) => Math.round(v * 10) / 10;
    const drawn = !pad.picture && pad.strokes.length
      ? { brush: round(pad.lineWidth()), strokes: pad.strokes.map((s) => s.points.map(([x, y]) => [round(x), round(y)])) }
      : null;
    this.setDrawings([...this.drawings, { label: Number(this.ui.cls.value), pixels: bytes, drawn }]);
  }

  /** Drawing `i` back on the pad, classified by the model in use. */
  redraw(i) {
    const { label, pixels, drawn } = this.drawings[i];
    if (drawn) this.classify.pad.showStrokes(drawn.strokes, drawn.brush);
    else this.classify.showImage(pixels, `your drawing ${i + 1} (kept as ${this.names[label]})`);
  }

  setDrawings(drawings) {
    this.drawings = drawings;
    store.save(KEY, { labels: this.labels(), pixels: this.flat(), strokes: this.strokes() }).catch((e) => this.storageFailed(e));
    this.render();
    this.renderThumbs();
  }

  /** The drawings as thumbnails with their class (changeable) and a delete button, when the
   * list is open. */
  renderThumbs() {
    const { ui } = this;
    if (!ui.list.open) return;
    const scroll = ui.thumbs.scrollTop;
    ui.thumbs.replaceChildren(...this.drawings.map(({ label, pixels }, i) => {
      const li = document.createElement('li');
      li.dataset.index = String(i);
      const canvas = Object.assign(document.createElement('canvas'), { width: 28, height: 28, title: `Drawing ${i + 1}: show it on the pad` });
      const img = new ImageData(28, 28);
      pixels.forEach((v, k) => img.data.set([v, v, v, 255], k * 4));
      canvas.getContext('2d').putImageData(img, 0, 0);
      const select = document.createElement('select');
      select.setAttribute('aria-label', `Class of drawing ${i + 1}`);
      this.names.forEach((name, c) => select.append(new Option(name, String(c), false, c === label)));
      const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: '×', title: `Delete drawing ${i + 1}` });
      li.append(canvas, select, remove);
      return li;
    }));
    ui.thumbs.scrollTop = scroll;
  }

  flat() {
    const out = new Uint8Array(this.drawings.length * PIXELS);
    this.drawings.forEach(({ pixels }, i) => out.set(pixels, i * PIXELS));
    return out;
  }

  labels() {
    return Uint8Array.from(this.drawings, (d) => d.label);
  }

  strokes() {
    return this.drawings.map((d) => d.drawn);
  }

  file() {
    return this.wasm.drawing_set_file(this.labels(), this.flat(), this.strokes());
  }

  exportSet() {
    const url = URL.createObjectURL(new Blob([this.file()], { type: 'application/json' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: 'my-drawings.json' });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  /** Adds the drawings of a set file to the set; a file that is not one leaves the set as it was. */
  async importSet(file) {
    this.onError('');
    // Refused before it is read: a file of any size would otherwise be held whole first.
    const limit = this.wasm.facts().drawing_set_max_bytes;
    if (file.size > limit) {
      this.onError(`${file.name} was not read: it is ${(file.size / 2 ** 20).toFixed(0)} MB, over the limit of ${limit / 2 ** 20} MB for a drawing set.`);
      return;
    }
    const worker = this.worker();
    const answer = worker.next((m) => m.type === 'drawings_read' || m.type === 'crashed' || (m.type === 'error' && m.kind === 'drawings'));
    worker.send(toWorker.readDrawings(file.name, file));
    const msg = await answer;
    // The reader's messages name the file already; a crashed worker's does not.
    if (msg.type !== 'drawings_read') { this.onError(msg.type === 'crashed' ? `${file.name}: ${msg.message}` : msg.message); return; }
    this.setDrawings([...this.drawings, ...records(msg.labels, msg.pixels, msg.strokes)]);
  }

  async teach() {
    this.onError('');
    const model = this.classify.modelBytes;
    if (!model) return;
    this.teaching = true;
    this.taught = null;
    this.stopAsked = false;
    this.render('Teaching: starting…');
    this.onBusy();
    let msg;
    let seconds = 0;
    try {
      const { backend, worker } = await this.teachOn();
      this.backend = backend; // for the progress line
      this.teacher = worker;
      const answer = worker.next((m) => m.type === 'taught' || m.type === 'crashed' || m.type === 'error');
      const t0 = performance.now();
      worker.send(toWorker.teach({ model: model.slice(), drawings: this.file(), backend }));
      if (this.stopAsked) worker.send(toWorker.stop());
      msg = await answer;
      seconds = (performance.now() - t0) / 1000;
    } catch (e) {
      msg = { type: 'error', message: e.message || String(e) };
    }
    this.teaching = false;
    this.teacher = null;
    if (msg.type === 'taught') this.taught = { weights: new Uint8Array(msg.weights), report: msg.report, on: this.backend, seconds };
    else this.onError(`Teaching stopped: ${msg.message}`);
    this.onBusy();
  }

  /** A teaching's progress (from the worker's messages). */
  progress({ steps_done: done, steps_total: total }) {
    if (this.teaching) this.render(`Teaching on ${onName(this.backend)}: step ${done} of ${total} (${Math.round((100 * done) / Math.max(1, total))}%)`);
  }

  useTaught() {
    const { weights, report } = this.taught;
    this.taught = null;
    this.onTaught(weights, report);
    this.render();
  }

  /** status: what a teaching is doing (kept while it runs). */
  render(status = null) {
    const { ui } = this;
    this.status = this.teaching ? (status ?? this.status) : null;
    const n = this.drawings.length;
    const counts = this.names.map((_, c) => this.drawings.filter((d) => d.label === c).length);
    const perClass = counts.map((k, c) => (k ? `${k} ${this.names[c]}` : null)).filter(Boolean).join(', ');
    ui.summary.textContent = this.status ?? (n ? `${n} drawing${n === 1 ? '' : 's'} kept: ${perClass}.` : 'No drawings kept yet: draw, pick the right class, Keep.');
    const busy = this.teaching || !this.canTeach();
    ui.keep.disabled = !this.classify.input || this.teaching;
    ui.run.disabled = busy || n === 0;
    ui.run.title = this.canTeach() ? '' : 'Teaching needs the dataset loaded and no training running';
    ui.cancel.hidden = !this.teaching;
    ui.exportSet.disabled = n === 0;
    ui.clear.disabled = n === 0 || this.teaching;
    ui.result.hidden = !this.taught;
    if (this.taught) {
      const r = this.taught.report;
      const drawings = r.drawings_accuracy_before != null
        ? `your drawings ${pct(r.drawings_accuracy_before)} → ${pct(r.drawings_accuracy_after)} (each scored by a model taught without it), `
        : '';
      const { on, seconds } = this.taught;
      ui.figures.textContent = `Taught ${r.drawings} drawings on ${onName(on)} in ${seconds.toFixed(1)} s: ${drawings}Fashion-MNIST test set ${pct(r.test_accuracy_before)} → ${pct(r.test_accuracy_after)}.`;
    }
  }
}
