// Training progress on screen: the numbers (epoch, accuracy, samples/s, ETA, backend), the
// epoch bar, the loss and accuracy curves, the prediction grid and the confusion matrix, all
// drawn from one history that a saved run restores.
import { drawGrid } from './grid.js';
import { fmtTime, pct, count } from './status.js';

const $ = (id) => document.getElementById(id);

/** The live curves keep at most this many points: past it they keep every other one, so the
 * page's memory, the saved run and the charts' drawing time stay flat however long a run is. */
const MAX_LIVE_POINTS = 1000;
const everyOther = (points) => points.filter((_, i) => i % 2 === 0 || i === points.length - 1);

export const emptyHistory = () => ({ trainLoss: [], trainAcc: [], testLoss: [], testAcc: [], liveLoss: [], liveAcc: [] });

export class ProgressView {
  constructor({ wasm, facts }) {
    this.wasm = wasm;
    this.facts = facts;
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
    this.redraw();
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
    this.redraw();
  }

  stopped() { $('s-eta').textContent = '–'; }

  scheduleRedraw() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.redraw(); });
  }

  redraw() {
    const { facts, history: h } = this;
    const p = facts.palette;
    if (this.grid) {
      drawGrid($('grid'), {
        ...this.grid, predictions: this.gridPredictions, names: facts.class_names, palette: p, side: facts.image_side,
      });
    }
    try {
      this.wasm.draw_curves($('loss-chart'), [
        { label: 'train (live)', color: p.accent, points: h.liveLoss },
        { label: 'train (epoch)', color: p.accent_soft, points: h.trainLoss, dots: true },
        { label: 'test', color: p.test, points: h.testLoss, dots: true },
      ], this.epochs, 'loss', false);
      this.wasm.draw_curves($('acc-chart'), [
        { label: 'train (live)', color: p.accent, points: h.liveAcc },
        { label: 'train (epoch)', color: p.accent_soft, points: h.trainAcc, dots: true },
        { label: 'test', color: p.test, points: h.testAcc, dots: true },
      ], this.epochs, 'accuracy', true);
      $('cm-empty').hidden = Boolean(this.confusion);
      if (this.confusion) {
        this.wasm.draw_confusion($('confusion'), new Uint32Array(this.confusion.flat()));
        this.wasm.draw_per_class($('per-class'), new Float64Array(this.perClass));
      }
    } catch (e) {
      console.error('drawing failed', e);
    }
  }
}
