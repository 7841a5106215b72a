// The "Draw to classify" panel: the pad, uploaded pictures and test images go through the Rust
// preprocessing into the page's own CPU model, which answers synchronously (a few ms), even while
// the worker trains. The model is the shipped ready one until a trained, saved or loaded one
// replaces it.
import { DrawingPad } from './pad.js';
import { paintAttribution, paintWeights } from './why.js';

const LIVE_MS = 40; // at most one prediction per this many ms while a stroke is being drawn
const MAX_MODEL_BYTES = 64 * 2 ** 20; // far above any model of this network (about 1 MB)
// A picture's declared size is checked before it is decoded: a 48-megapixel photo fits; a small
// file announcing 16,384 x 16,384 pixels (1 GiB once decoded) does not.
const MAX_PICTURE_PIXELS = 50e6;
const PICTURE_SIDE = 1024; // plenty for a 28x28 result: larger pictures are decoded scaled down

const $ = (id) => document.getElementById(id);

export class ClassifyPanel {
  /** wasm: the page module's exports; facts: its shared facts (image size, class names);
   * requestTestImage(index) asks the worker for one image; onModelFile(bytes, name, meta) is
   * told about a model file the user loaded; readModel(bytes, name) resolves with it read by a
   * worker into this project's safetensors bytes. */
  constructor({ wasm, facts, requestTestImage, readModel, onModelFile, onError, onClassified = () => {}, crashed = () => false }) {
    this.wasm = wasm;
    this.crashed = crashed; // true while a panicked page module is being replaced
    this.names = facts.class_names;
    this.side = facts.image_side;
    this.testCount = facts.test_size;
    this.requestTestImage = requestTestImage;
    this.onModelFile = onModelFile;
    this.readModel = readModel;
    this.onError = onError;
    this.onClassified = onClassified; // (top class or null) after every answer
    this.classifier = null;
    this.modelBytes = null;
    this.modelInfo = null;
    this.input = null;      // the model inputs last classified
    this.inputLabel = null; // what they are ("your drawing", "test image 12 (Bag)")
    this.probabilities = null;
    this.latencyMs = [];    // draw -> probabilities, per prediction
    this.pictureInputs = new WeakMap(); // picture shown on the pad -> its inputs (for undo)
    this.ui = {
      pad: $('pad'), preview: $('preview'), probs: $('probs'), top: $('top-class'), source: $('input-source'),
      latency: $('latency'), brush: $('brush'), undo: $('undo'), clear: $('clear'), picture: $('picture'),
      testIndex: $('test-index'), testShow: $('test-show'), testRandom: $('test-random'),
      modelInfo: $('model-info'), download: $('download-model'), downloadPytorch: $('download-pytorch'),
      load: $('load-model'), ready: $('use-ready'), why: $('show-why'), caption: $('preview-caption'),
      weightsBox: $('weights-box'), weights: $('weights'),
    };
    // The pad's size and default brush are the ones Rust renders drawings at (facts).
    this.ui.pad.width = this.ui.pad.height = facts.pad_side;
    this.ui.brush.value = String(facts.pad_brush);
    this.pad = new DrawingPad(this.ui.pad, { onChange: (final) => this.padChanged(final) });
    this.buildBars();
    this.wire();
    this.renderPreview();
  }

  wire() {
    const { ui } = this;
    ui.brush.addEventListener('input', () => { this.pad.brush = Number(ui.brush.value); });
    this.pad.brush = Number(ui.brush.value);
    ui.undo.addEventListener('click', () => this.pad.undo());
    ui.clear.addEventListener('click', () => this.pad.clear());
    ui.pad.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === 'z') { e.preventDefault(); this.pad.undo(); }
      if (e.key === 'Delete' || e.key === 'Backspace') { e.preventDefault(); this.pad.clear(); }
    });
    ui.picture.addEventListener('change', () => {
      const file = ui.picture.files[0];
      ui.picture.value = '';
      if (file) this.classifyPicture(file);
    });
    const show = () => {
      const i = Number(ui.testIndex.value);
      if (Number.isInteger(i) && i >= 0) this.requestTestImage(i);
    };
    ui.testShow.addEventListener('click', show);
    ui.testIndex.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); show(); } });
    ui.testRandom.addEventListener('click', () => {
      ui.testIndex.value = String(Math.floor(Math.random() * this.testCount));
      show();
    });
    ui.why.addEventListener('change', () => this.render());
    ui.weightsBox.addEventListener('toggle', () => this.renderWeights());
    ui.download.addEventListener('click', () => this.download('model'));
    ui.downloadPytorch.addEventListener('click', () => this.download('pytorch'));
    ui.load.addEventListener('change', async () => {
      const file = ui.load.files[0];
      ui.load.value = '';
      if (file) this.loadFile(file);
    });
  }

  buildBars() {
    this.bars = this.names.map((name, c) => {
      const li = document.createElement('li');
      li.dataset.class = String(c);
      li.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct">–</span>';
      li.querySelector('.name').textContent = name;
      this.ui.probs.append(li);
      return li;
    });
  }

  /** Uses a model file: this project's safetensors, a checkpoint, or PyTorch weights (.pt, .pth,
   * safetensors). Throws, with the current model untouched, when the file does not fit. */
  setModel(bytes, info) {
    const next = new this.wasm.Classifier(bytes, info.name ?? 'model.safetensors');
    const meta = next.metadata() ?? {};
    this.classifier?.free();
    this.classifier = next;
    this.modelBytes = bytes;
    this.modelInfo = { ...info, meta };
    this.renderModelInfo();
    this.renderWeights();
    this.reclassify();
    return meta;
  }

  /** After the page's module was replaced: the model in use again, built in the new instance
   * (the old instance's objects went with it, so they are dropped, not freed). */
  restore() {
    this.classifier = null;
    if (this.modelBytes) this.setModel(this.modelBytes, this.modelInfo);
  }

  /** The first layer's weights as images, when their panel is open. */
  renderWeights() {
    if (!this.ui.weightsBox.open || !this.classifier) return;
    const units = this.classifier.widths()[1];
    paintWeights(this.ui.weights, this.classifier.first_layer_images(), this.side, units);
  }

  renderModelInfo() {
    const { meta, source, epoch, epochs, accuracy, name } = this.modelInfo;
    const acc = accuracy ?? (meta.test_accuracy ? Number(meta.test_accuracy) : null);
    const accText = acc != null ? `${(acc * 100).toFixed(2)}% test accuracy` : 'accuracy unknown';
    let text;
    if (meta.taught_drawings) text = `Taught ${meta.taught_drawings} of your drawings: ${accText}`;
    else if (source === 'ready') text = `Ready model, shipped with the page: ${accText} (${meta.epochs ?? '?'} epochs, trained by the CLI)`;
    else if (source === 'trained') text = `Trained here: epoch ${epoch} of ${epochs}, ${accText}`;
    else if (source === 'saved') text = `Restored from this browser: epoch ${epoch} of ${epochs}, ${accText}`;
    else if (meta.source?.startsWith('PyTorch')) text = `Loaded from ${name} (PyTorch weights): ${accText}`;
    else text = `Loaded from ${name}: ${accText}${meta.epochs ? `, ${meta.epochs} epochs` : ''}`;
    this.ui.modelInfo.textContent = text;
    this.ui.download.disabled = !this.classifier;
    this.ui.downloadPytorch.disabled = !this.classifier;
    this.ui.ready.hidden = source === 'ready';
  }

  padChanged(final) {
    if (final) { this.onError(''); this.classifyPad(); return; }
    // While drawing: at most one prediction per LIVE_MS, always ending with the latest strokes.
    if (this.liveTimer) return;
    this.liveTimer = setTimeout(() => { this.liveTimer = null; if (this.pad.active) this.classifyPad(); }, LIVE_MS);
  }

  classifyPad() {
    const started = performance.now();
    const shown = this.pad.picture && this.pictureInputs.get(this.pad.picture);
    if (shown) { this.classify(shown.input, shown.label, started); return; }
    const { width, height } = this.ui.pad;
    const input = this.pad.isEmpty ? null : this.wasm.prepare_drawing(this.pad.pixels(), width, height, this.pad.lineWidth());
    this.classify(input, 'your drawing', started);
  }

  async classifyPicture(file) {
    this.onError('');
    let bitmap;
    try {
      const { width, height } = await declaredSize(file);
      if (width * height > MAX_PICTURE_PIXELS) {
        this.onError(`${file.name} was not read: it is ${width} x ${height} pixels (${(width * height / 1e6).toFixed(0)} megapixels), and at most ${MAX_PICTURE_PIXELS / 1e6} megapixels are decoded. Scale it down first.`);
        return;
      }
      const s = Math.min(1, PICTURE_SIDE / Math.max(width, height));
      bitmap = await createImageBitmap(file, s < 1
        ? { resizeWidth: Math.max(1, Math.round(width * s)), resizeHeight: Math.max(1, Math.round(height * s)), resizeQuality: 'high' }
        : {});
    } catch (e) {
      this.onError(`${file.name} could not be read as a picture (${e.message || e}). Try a PNG or JPEG.`);
      return;
    }
    const started = performance.now();
    const s = Math.min(1, PICTURE_SIDE / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * s));
    const h = Math.max(1, Math.round(bitmap.height * s));
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    try {
      const input = this.wasm.prepare_picture(rgba, w, h);
      this.pad.showPicture(bitmap);
      this.pictureInputs.set(bitmap, { input, label: `picture ${file.name}` });
      this.classify(input, `picture ${file.name}`, started);
      if (!input) this.onError(`${file.name} looks blank: there is nothing to classify.`);
    } catch (e) {
      this.onError(`${file.name}: ${e.message || e}`);
    }
  }

  /** The loaded test set's size (the Random button and the index field stay inside it). */
  setTestCount(n) {
    this.testCount = n;
    this.ui.testIndex.max = String(n - 1);
  }

  /** A test image from the worker: its dataset bytes, classified exactly as the CLI does. */
  showTestImage({ index, label, pixels }) {
    this.showImage(pixels, `test image ${index} (true class: ${this.names[label]})`);
    this.testImage = { index, label };
  }

  /** 28x28 pixels (0-255) on the pad, classified as they are. */
  showImage(pixels, text) {
    this.onError('');
    const started = performance.now();
    const input = Float32Array.from(pixels, (v) => v / 255);
    const img = new ImageData(this.side, this.side);
    pixels.forEach((v, i) => { img.data.set([v, v, v, 255], i * 4); });
    const canvas = new OffscreenCanvas(this.side, this.side);
    canvas.getContext('2d').putImageData(img, 0, 0);
    this.pad.showPicture(canvas);
    this.pictureInputs.set(canvas, { input, label: text });
    this.classify(input, text, started);
  }

  reclassify() {
    if (this.input) this.classify(this.input, this.inputLabel, performance.now());
    else this.render();
  }

  classify(input, label, started) {
    this.input = input;
    this.inputLabel = label;
    this.probabilities = null;
    if (input && this.classifier) {
      try {
        this.probabilities = this.classifier.predict(input);
      } catch (e) {
        this.onError(`Classifying failed: ${e.message || e}`);
      }
    }
    this.render();
    // The main thread's time for the prediction, its preparation and showing it.
    if (this.probabilities) {
      this.latencyMs.push(performance.now() - started);
      if (this.latencyMs.length > 200) this.latencyMs.shift();
    }
  }

  render() {
    const { ui, probabilities: p } = this;
    const top = p ? p.indexOf(Math.max(...p)) : null;
    this.renderPreview(top);
    ui.source.textContent = this.input ? `Classifying ${this.inputLabel}` : 'Draw a piece of clothing, upload a picture, or pick a test image.';
    if (!p) {
      ui.top.textContent = this.input ? 'No model yet' : (this.pad.isEmpty ? 'Nothing drawn yet' : 'Blank: nothing to classify');
      for (const li of this.bars) { li.querySelector('.fill').style.width = '0%'; li.querySelector('.pct').textContent = '–'; li.classList.remove('best'); }
      this.onClassified(null);
      return;
    }
    const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
    ui.top.textContent = `${this.names[order[0]]} · ${(p[order[0]] * 100).toFixed(1)}%`;
    order.forEach((c, rank) => {
      const li = this.bars[c];
      li.querySelector('.fill').style.width = `${(p[c] * 100).toFixed(1)}%`;
      li.querySelector('.pct').textContent = `${(p[c] * 100).toFixed(1)}%`;
      li.classList.toggle('best', rank === 0);
      if (ui.probs.children[rank] !== li) ui.probs.insertBefore(li, ui.probs.children[rank]);
    });
    const last = this.latencyMs.at(-1);
    ui.latency.textContent = last != null ? `answered in ${last.toFixed(1)} ms on the CPU` : '';
    this.onClassified(order[0]);
  }

  renderPreview(top = null) {
    const { ui } = this;
    const why = ui.why.checked && this.input && top != null && this.classifier;
    ui.caption.textContent = why ? `Red pushed toward ${this.names[top]}, blue away from it` : 'What the model sees (28×28)';
    if (why) {
      try {
        paintAttribution(ui.preview, this.input, this.classifier.attribution(this.input, top), this.side);
        return;
      } catch (e) {
        this.onError(`Showing why failed: ${e.message || e}`);
      }
    }
    const ctx = this.ui.preview.getContext('2d');
    const img = new ImageData(this.side, this.side);
    if (this.input) this.input.forEach((v, i) => { const g = Math.round(v * 255); img.data.set([g, g, g, 255], i * 4); });
    else for (let i = 0; i < this.side * this.side; i++) img.data.set([0, 0, 0, 255], i * 4);
    ctx.putImageData(img, 0, 0);
  }

  /** Saves the model in use: this project's file ('model') or one PyTorch loads ('pytorch'). */
  download(kind) {
    if (!this.classifier) return;
    const { source, epoch } = this.modelInfo;
    const stem = source === 'ready' ? 'fashion-mlp-ready' : `fashion-mlp-epoch${epoch ?? 'x'}`;
    const name = kind === 'pytorch' ? `${stem}-pytorch.safetensors` : `${stem}.safetensors`;
    let bytes;
    try {
      bytes = kind === 'pytorch' ? this.classifier.pytorch_bytes() : this.classifier.model_bytes();
    } catch (e) {
      this.onError(`The model could not be written: ${e.message || e}`);
      return;
    }
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  async loadFile(file) {
    this.onError('');
    // A model of this architecture is about 1 MB; a bigger file is not one, and is not read.
    if (file.size > MAX_MODEL_BYTES) {
      this.onError(`${file.name} was refused: it is ${(file.size / 2 ** 20).toFixed(0)} MB, and a model of this network is about 1 MB (at most ${MAX_MODEL_BYTES / 2 ** 20} MB are read). The current model is still in use.`);
      return;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    try {
      // Read in a worker (hostile files stall or kill a worker, not this page); what comes back
      // is this project's own safetensors file, which the page loads in a moment.
      const model = await this.readModel(bytes, file.name);
      const meta = this.setModel(model, { source: 'file', name: file.name });
      this.onModelFile(model, file.name, meta);
    } catch (e) {
      if (this.crashed()) this.onError(`${file.name} stopped the page's module; it is being restarted with the current model.`);
      else this.onError(`${file.name} was refused: ${e.message || e}. The current model is still in use.`);
    }
  }

  stats() {
    const l = [...this.latencyMs].sort((a, b) => a - b);
    return { count: l.length, median: l[Math.floor(l.length / 2)], p95: l[Math.floor(l.length * 0.95)] };
  }
}

/** A picture file's width and height from its header, read by the browser's own image parser
 * (an <img> reports its natural size once loaded; its pixels are only decoded when drawn). */
function declaredSize(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => { URL.revokeObjectURL(url); resolve({ width: img.naturalWidth, height: img.naturalHeight }); };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('not a picture the browser can decode')); };
    img.src = url;
  });
}
