// Training progress on screen: the numbers (epoch, accuracy, samples/s, ETA, backend), the
// epoch bar, the loss and accuracy curves, the prediction grid and the confusion matrix, all
// from one history that a saved run restores. The charts are drawn off the main thread, by the
// render worker (render-worker.js) on the canvases handed to it; this only posts what changed,
// the curves at most once a frame, the rest once an epoch.
import { createRenderer } from './charts.js';
import { fmtTime, pct, count } from './status.js';

const $ = (id) => document.getElementById(id);

/** The live curves keep at most this many points: past it they keep every other one, so the
 * page's memory, the saved run and the charts' drawing time stay flat however long a run is. */
const MAX_LIVE_POINTS = 1000;
const everyOther = (points) => points.filter((_, i) => i % 2 === 0 || i === points.length - 1);

export const emptyHistory = () => ({ trainLoss: [], trainAcc: [], testLoss: [], testAcc: [], liveLoss: [], liveAcc: [] });

const CANVASES = { loss: 'loss-chart', acc: 'acc-chart', grid: 'grid', confusion: 'confusion', perClass: 'per-class' };

/** The charts' renderer: the render worker, or (where a canvas cannot be handed over) the same
 * drawing code on this thread. `post(msg)`; `pixels(id)` resolves how many pixels a chart drew. */
function startRenderer(facts) {
  const waiting = new Map();
  const reply = (m) => { waiting.get(m.id)?.(m.count); waiting.delete(m.id); };
  const ids = Object.keys(CANVASES);
  const plain = JSON.parse(JSON.stringify({ palette: facts.palette, class_names: facts.class_names, image_side: facts.image_side }));
  let post;
  if (typeof OffscreenCanvas !== 'undefined' && HTMLCanvasElement.prototype.transferControlToOffscreen) {
    const canvases = Object.fromEntries(ids.map((k) => [k, $(CANVASES[k]).transferControlToOffscreen()]));
    const worker = new Worker('js/render-worker.js', { type: 'module' });
    worker.onmessage = (e) => reply(e.data);
    worker.postMessage({ type: 'init', canvases, facts: plain }, Object.values(canvases));
    post = (msg, transfer = []) => worker.postMessage(msg, transfer);
  } else {
    const local = createRenderer(Object.fromEntries(ids.map((k) => [k, $(CANVASES[k])])), plain, reply);
    post = (msg) => local.handle(msg);
  }
  return {
    post,
    pixels: (key) => new Promise((resolve) => { waiting.set(key, resolve); post({ type: 'pixels', id: key }); }),
  };
}

export class ProgressView {
  constructor({ facts }) {
    this.facts = facts;
    this.renderer = startRenderer(facts);
    this.history = emptyHistory();
    this.epochs = facts.recipes[0].config.epochs;
    this.grid = null;
    this.gridPredictions = null;
    this.confusion = null;
    this.perClass = null;
    this.lastProgress = null;
    this.queued = false;
  }

  /** A new run of `epochs` epochs (or a resumed one keeping its history up to `keepEpoch`). */
  begin(epochs, keepEpoch = 0) {
    this.epochs = epochs;
    for (const k of Object.keys(this.history)) this.history[k] = this.history[k].filter(([x]) => x <= keepEpoch);
    if (!keepEpoch) { this.confusion = null; this.perClass = null; this.gridPredictions = null; }
    this.redraw();
  }

  /** A saved run's history, metrics and numbers. */
  restore(run) {
    Object.assign(this, {
      history: run.history ?? emptyHistory(), confusion: run.confusion, perClass: run.perClass,
      gridPredictions: run.gridPredictions, epochs: run.epochs,
    });
    $('s-epoch').textContent = `${run.epoch} / ${run.epochs}`;
    $('s-acc').textContent = pct(run.accuracy);
    this.redraw();
  }

  setGrid(pixels, labels) {
    this.grid = { pixels, labels };
    this.gridPredictions = null;
    this.renderer.post({ type: 'grid', pixels: pixels.slice(), labels: Array.from(labels) });
    this.redrawMetrics();
  }

  setBackend(info) {
    const el = $('s-backend');
    el.textContent = info.backend === 'webgpu' ? 'WebGPU' : 'CPU';
    el.title = info.adapter + (info.fallback_reason ? ` — ${info.fallback_reason}` : '');
  }

  progress(msg) {
    this.lastProgress = msg;
    const x = msg.epoch - 1 + msg.batch / msg.batches_per_epoch;
    const h = this.history;
    h.liveLoss.push([x, msg.loss]);
    h.liveAcc.push([x, msg.accuracy]);
    if (h.liveLoss.length > MAX_LIVE_POINTS) {
      h.liveLoss = everyOther(h.liveLoss);
      h.liveAcc = everyOther(h.liveAcc);
    }
    $('s-epoch').textContent = `${msg.epoch} / ${msg.epochs}`;
    $('s-rate').textContent = count(msg.samples_per_sec);
    $('s-eta').textContent = fmtTime(msg.eta_seconds);
    $('epoch-bar').style.width = `${(100 * msg.batch) / msg.batches_per_epoch}%`;
    this.scheduleRedraw();
  }

  epoch(msg) {
    const h = this.history;
    h.trainLoss.push([msg.epoch, msg.train_loss]);
    h.trainAcc.push([msg.epoch, msg.train_accuracy]);
    h.testLoss.push([msg.epoch, msg.test_loss]);
    h.testAcc.push([msg.epoch, msg.test_accuracy]);
    this.confusion = msg.confusion;
    this.perClass = msg.per_class_accuracy;
    this.gridPredictions = msg.watched_predictions;
    $('s-acc').textContent = pct(msg.test_accuracy);
    this.redrawMetrics();
    this.scheduleRedraw();
  }

  stopped() { $('s-eta').textContent = '–'; }

  /** The curves, at most once a frame. */
  scheduleRedraw() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.redrawCurves(); });
  }

  /** Everything again (a new run, a restored one). */
  redraw() {
    this.redrawMetrics();
    this.redrawCurves();
  }

  redrawCurves() {
    this.renderer.post({ type: 'curves', history: this.history, epochs: this.epochs });
  }

  redrawMetrics() {
    $('cm-empty').hidden = Boolean(this.confusion);
    this.renderer.post({ type: 'metrics', confusion: this.confusion, perClass: this.perClass, predictions: this.gridPredictions });
  }
}
