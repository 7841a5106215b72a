// The page's wiring: starts the page module, the training worker, the dataset panel and the
// drawing panel, and turns what the worker reports into what the other modules show. Training
// never runs on this thread; it only renders. Every failure keeps what was there: a bad dataset
// leaves the previous one in use, a lost GPU or a crashed worker continues the run on the CPU
// from its last checkpoint, a bad model file leaves the current model.
import { Trainers, buildEta } from './trainers.js';
import { toWorker } from './messages.js';
import { Settings } from './settings.js';
import { ProgressView } from './progress.js';
import { startModelPanel } from './model-panel.js';
import { DataPanel } from './data-panel.js';
import * as saved from './saved-run.js';
import { setStatus, showError, pct, count } from './status.js';
import { registerOffline } from './offline.js';
import { PageModule } from './page-module.js';

const $ = (id) => document.getElementById(id);
/** Automatic continuations (after a lost GPU or a crash) per run before the user decides. */
const MAX_RECOVERIES = 2;
// A model file takes milliseconds to read; one that takes this long is built to stall a reader.
const READ_MODEL_MS = 30_000;

class App {
  constructor(wasm, facts) {
    this.wasm = wasm;
    this.facts = facts;
    this.settings = new Settings(facts);
    this.progress = new ProgressView({ facts });
    // The latest run: settings, last epoch's model and checkpoint, metrics.
    this.run = null;
    this.running = false;
    this.paused = false;
    this.backend = null;
    this.recoveries = 0;
    this.afterData = null;
    this.timings = {};
    this.trainers = new Trainers({ onMessage: (m, client) => this.received(m, client), onCrash: (text, client) => this.crashed(text, client) });
    // The worker the current (or last) run trains in.
    this.runWorker = null;
    this.data = new DataPanel({
      trainers: this.trainers,
      files: facts.dataset_files,
      onLoaded: (msg) => this.dataLoaded(msg),
      onChange: () => this.updateButtons(),
      busy: () => this.running,
    });
  }

  /** The worker a run's controls go to: the run's, else the CPU worker. */
  get worker() { return this.runWorker ?? this.trainers.cpu; }

  dataLoaded(msg) {
    this.progress.setGrid(new Uint8Array(msg.grid_pixels), msg.grid_labels);
    this.settings.setTrainSize(msg.train);
    this.classify?.setTestCount(msg.test);
    const next = this.afterData;
    this.afterData = null;
    next?.();
  }

  // ---- runs --------------------------------------------------------------------------------------

  /** Starts a new run, or continues `checkpoint` (a run's own settings and subset apply). */
  async start({ config, backend, trainLimit, checkpoint = null, keepEpoch = 0 }) {
    const testLimit = Number(new URLSearchParams(location.search).get('testLimit')) || null;
    // A new run replaces the latest one only at its first checkpoint; the latest stays
    // restorable as the previous run.
    if (!checkpoint && this.run?.weights) {
      const kept = this.run;
      saved.keepAsPrevious().then(() => { this.previousRun = kept; this.updateButtons(); }).catch((e) => this.storageFailed(e));
    }
    this.run = { ...(checkpoint ? this.run : {}), config, trainLimit, epochs: config.epochs, epoch: keepEpoch };
    this.running = true;
    this.paused = false;
    this.progress.begin(config.epochs, keepEpoch);
    setStatus(checkpoint ? `Continuing from epoch ${keepEpoch}…` : 'Starting…');
    this.updateButtons();
    let choice;
    try {
      choice = await this.chooseBackend(backend, config);
    } catch (e) {
      this.running = false;
      setStatus('Training did not start');
      showError(e.message || String(e));
      this.updateButtons();
      return;
    }
    const worker = this.trainers.client(choice.backend);
    this.runWorker = worker;
    const message = (pair = {}) => toWorker.start({
      config, backend: choice.backend, trainLimit, testLimit, checkpoint: checkpoint ? checkpoint.slice() : null,
      reason: choice.reason ?? null, measured: choice.measured ?? null, ...pair,
    });
    this.sendPaired(choice.backend, config, worker, message);
  }

  /** Sends `message({shard, exchange})` to `worker` and, for a CPU run where two workers share
   * each batch, to the partner as well: the run's controls and events are the first worker's;
   * the partner follows it step by step through the shared buffer. */
  sendPaired(backend, config, worker, message) {
    this.data.sendTo(worker);
    if (backend !== 'cpu' || !this.trainers.paired) {
      this.trainers.endExchange();
      worker.send(message());
      return;
    }
    const exchange = this.trainers.newExchange(config);
    const partner = this.trainers.partner;
    this.data.sendTo(partner);
    partner.send(message({ shard: { index: 1, count: 2 }, exchange }));
    worker.send(message({ shard: { index: 0, count: 2 }, exchange }));
  }

  /** The backend a run of `config` trains on ('cpu' or 'webgpu'), and why: Auto measures each
   * worker's backend on a few batches of the real data once per page and keeps the faster. */
  async chooseBackend(backend, config) {
    if (backend === 'cpu') return { backend: 'cpu', reason: 'CPU chosen in the settings' };
    await this.trainers.refresh();
    const gpuMissing = !this.trainers.hasGpuModule()
      ? this.trainers.gpuMissingReason()
      : !navigator.gpu ? 'this browser does not expose WebGPU (navigator.gpu is missing)' : null;
    if (backend === 'webgpu') {
      if (gpuMissing) throw new Error(`WebGPU is not available: ${gpuMissing}`);
      return { backend: 'webgpu' };
    }
    if (gpuMissing) return { backend: 'cpu', reason: gpuMissing };
    if (this.gpuLost) return { backend: 'cpu', reason: `the GPU was lost: ${this.gpuLost}` };
    if (!this.trainers.measured) {
      setStatus('Measuring WebGPU against the CPU on a few batches of the real data…');
      const gpu = await this.measure('webgpu', config);
      if (gpu.error) return { backend: 'cpu', reason: gpu.error };
      const cpu = await this.measure('cpu', config);
      if (cpu.error) throw new Error(cpu.error);
      this.trainers.measured = { webgpu_samples_per_sec: gpu.rate, cpu_samples_per_sec: cpu.rate, adapter: gpu.adapter };
    }
    const m = this.trainers.measured;
    const measured = { webgpu_samples_per_sec: m.webgpu_samples_per_sec, cpu_samples_per_sec: m.cpu_samples_per_sec };
    if (m.webgpu_samples_per_sec >= m.cpu_samples_per_sec) return { backend: 'webgpu', measured };
    return {
      backend: 'cpu', measured,
      reason: `measured WebGPU at ${count(m.webgpu_samples_per_sec)} samples/s and the CPU at ${count(m.cpu_samples_per_sec)}: the CPU is faster`,
    };
  }

  /** While a first build finishes the training modules (scripts/run.sh serves the page before),
   * says how far it has got beside the backend choice, and takes them up when they are there:
   * the next run's Auto measures WebGPU then. Training runs on the CPU meanwhile. */
  async watchModules() {
    const note = $('module-note');
    let waited = false;
    while (this.trainers.building) {
      waited = true;
      note.hidden = false;
      note.textContent = `Training modules: building ${this.trainers.building.modules}, ${buildEta(this.trainers.building)}. `
        + 'Training runs on the CPU meanwhile.';
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await this.trainers.refresh();
    }
    if (!waited) return;
    note.textContent = this.trainers.hasGpuModule() ? 'The WebGPU training module is ready.' : '';
    note.hidden = !note.textContent;
  }

  /** A model file the user gave, read by the CPU worker into our safetensors bytes: a hostile
   * file can stall or kill that worker (restarted; a run on it continues from its checkpoint),
   * never the page or the classifier in use. Throws with the reason when the file is refused. */
  async readModel(bytes, name) {
    const worker = this.trainers.cpu;
    const answer = worker.next((m) => m.type === 'model_read' || m.type === 'crashed' || (m.type === 'error' && m.kind === 'model_file'));
    let timer;
    const slow = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ type: 'slow' }), READ_MODEL_MS);
    });
    worker.send(toWorker.readModel(name, bytes), [bytes.buffer]);
    const msg = await Promise.race([answer, slow]);
    clearTimeout(timer);
    if (msg.type === 'model_read') return new Uint8Array(msg.bytes);
    if (msg.type === 'slow') {
      this.crashed(`reading ${name} took over ${READ_MODEL_MS / 1000} s`, worker);
      throw new Error(`reading it took over ${READ_MODEL_MS / 1000} s`);
    }
    throw new Error(msg.message);
  }

  /** Samples/s of `config` on `backend`, measured by its worker: {rate} or {error}. */
  async measure(backend, config) {
    const worker = this.trainers.client(backend);
    const answer = worker.next((m) => m.type === 'measured' || m.type === 'error');
    this.sendPaired(backend, config, worker, (pair = {}) => toWorker.measure({ config, backend, ...pair }));
    const msg = await answer;
    this.trainers.endExchange();
    return msg.type === 'measured' ? { rate: msg.samples_per_sec } : { error: msg.message };
  }

  train() {
    if (!this.settings.valid()) return;
    showError('');
    this.recoveries = 0;
    this.start(this.settings.read());
  }

  resume() {
    const { run } = this;
    showError('');
    this.recoveries = 0;
    this.start({ config: run.config, backend: this.settings.backend(), trainLimit: run.trainLimit, checkpoint: run.checkpoint, keepEpoch: run.epoch });
  }

  /** After a lost GPU or a crashed worker: the run goes on, on the CPU, from its last checkpoint. */
  recover(why) {
    const interrupted = this.run;
    this.running = false;
    this.backend = null;
    this.paused = false;
    this.settings.setBackend('cpu');
    if (!interrupted || this.recoveries >= MAX_RECOVERIES) {
      showError(`${why}.${interrupted?.checkpoint ? ` The model of epoch ${interrupted.epoch} is kept: press Resume to continue.` : ''}`);
      setStatus('Training stopped by an error');
      this.updateButtons();
      return;
    }
    this.recoveries += 1;
    const saved = interrupted.checkpointEpoch ?? interrupted.epoch;
    const from = interrupted.checkpoint ? `from epoch ${saved}, its last checkpoint` : 'from the start';
    showError(`${why}. Training continues on the CPU ${from}.`);
    const go = () => this.start({
      config: interrupted.config, backend: 'cpu', trainLimit: interrupted.trainLimit,
      checkpoint: interrupted.checkpoint ?? null, keepEpoch: interrupted.checkpoint ? saved : 0,
    });
    if (this.data.ready) go();
    else this.afterData = go;
    this.updateButtons();
  }

  crashed(text, client = this.worker) {
    if (client.crashing) return; // a panic reports itself and then trips the error event too
    client.crashing = true;
    // The other worker of a pair stops waiting for this one (a partner's loss reaches the run as
    // the first worker's error).
    if (client === this.worker || client === this.trainers.clients['cpu-partner']) this.trainers.endExchange();
    const wasRunning = this.running && client === this.worker;
    client.restart();
    if (client === this.worker) this.backend = null;
    if (client === this.trainers.cpu) this.data.resend();
    setTimeout(() => { client.crashing = false; }, 0);
    if (wasRunning) this.recover(`The training worker stopped (${text})`);
    else { showError(`The training worker stopped (${text}); it has been restarted.`); this.updateButtons(); }
  }

  /** The page's module panicked and a fresh instance replaced it: the model in use is rebuilt
   * from its last good bytes (said where the drawing panel shows its messages); the dataset and
   * any run live in the workers and go on. */
  pageModuleReplaced(why, failed) {
    const say = (text) => (this.classify ? this.classify.onError(text) : showError(text));
    if (failed) {
      say(`The page's module stopped (${why}) and could not be restarted (${failed.message || failed}): reload the page. Training goes on.`);
      return;
    }
    try {
      this.classify?.restore();
      say(`The page's module stopped (${why}); it was restarted and the same model is in use. Nothing was lost.`);
    } catch (e) {
      say(`The page's module stopped (${why}); it was restarted, but the model could not be loaded again (${e.message || e}): reload the page.`);
    }
  }

  // ---- the worker's messages ------------------------------------------------------------------

  received(msg, client = this.worker) {
    if (client === this.worker && ['stopped', 'finished'].includes(msg.type)) this.trainers.endExchange();
    if (client !== this.worker && !(client === this.trainers.cpu && ['data_loaded', 'test_image'].includes(msg.type))) {
      // A worker that is not running the run: its dataset, its measurement or a teaching
      // (awaited where asked for); its errors only matter to whoever waits for them.
      if (msg.type === 'data_loaded') client.dataReady = true;
      if (msg.type === 'teaching') this.teach?.progress(msg);
      return;
    }
    switch (msg.type) {
      case 'ready':
        break;
      case 'data_loaded':
        if (client === this.trainers.cpu) this.data.loaded(msg);
        break;
      case 'measured':
        return;
      case 'measuring':
        setStatus('Measuring WebGPU against the CPU on a few batches of the real data…');
        break;
      case 'backend': {
        this.backend = msg;
        this.progress.setBackend(msg);
        const m = msg.measured;
        const measured = m ? ` — measured WebGPU ${count(m.webgpu_samples_per_sec)} vs CPU ${count(m.cpu_samples_per_sec)} samples/s` : '';
        setStatus(msg.backend === 'webgpu'
          ? `Training on WebGPU (${msg.adapter})${measured}`
          : `Training on the CPU — ${msg.fallback_reason ?? 'chosen'}`);
        break;
      }
      case 'started':
        this.running = true;
        break;
      case 'progress':
        this.progress.progress(msg);
        break;
      case 'epoch':
        this.epochDone(msg);
        break;
      case 'checkpoint':
        this.run.checkpoint = new Uint8Array(msg.bytes);
        this.run.checkpointEpoch = msg.epoch;
        this.saveRun();
        break;
      case 'test_image':
        this.classify?.showTestImage({ ...msg, pixels: new Uint8Array(msg.pixels) });
        break;
      case 'paused': this.paused = true; setStatus('Paused'); break;
      case 'resumed': this.paused = false; setStatus('Training resumed'); break;
      case 'stopped':
        this.running = false;
        this.paused = false;
        this.progress.stopped();
        setStatus(`Stopped after epoch ${this.run?.epoch ?? 0}`);
        break;
      case 'finished':
        this.running = false;
        setStatus(`Finished ${msg.epoch} epochs: test accuracy ${pct(msg.test_accuracy)}`);
        break;
      case 'teaching':
        this.teach?.progress(msg);
        break;
      case 'model_read': // answers readModel, which waits for it
      case 'drawings_read': // answers the teach panel's import, which waits for it
      case 'taught': // answers the teach panel's teach, which waits for it
      case 'memory':
      case 'diagnostics':
        break;
      case 'error':
        this.failed(msg, client);
        break;
      default:
        console.warn('unknown worker message', msg);
    }
    this.updateButtons();
  }

  failed({ kind, message, fatal }, client = this.worker) {
    if (fatal) { this.crashed(message, client); return; }
    if (kind === 'model_file') return; // a model file the user loaded: readModel reports it
    // A drawing set the user imported, or a teaching: the teach panel reports it.
    if (kind === 'drawings' || (this.teach?.teaching && client === this.trainers.cpu)) return;
    if (kind === 'gpu') this.gpuLost = message;
    if (kind === 'data' && this.data.checking) { this.data.refused(message); return; }
    if (kind === 'gpu' && this.backend?.backend !== 'webgpu') {
      // A lost device keeps reporting after the run has moved to the CPU.
      console.warn('GPU error after the run left the GPU:', message);
      return;
    }
    if (kind === 'gpu' && this.running) { this.recover(`The GPU failed: ${message}`); return; }
    if (kind === 'worker' && this.running) { this.recover(`A training worker failed: ${message}`); return; }
    if (this.running) {
      this.running = false;
      this.paused = false;
      setStatus('Training stopped by an error');
      const kept = this.run?.checkpoint ? ` The model of epoch ${this.run.epoch} is kept.` : '';
      showError(`${message}.${kept}`);
      return;
    }
    showError(message);
  }

  epochDone(msg) {
    if (this.stopAfterEpoch && msg.epoch >= this.stopAfterEpoch) {
      this.stopAfterEpoch = null;
      this.worker.send(toWorker.stop());
    }
    this.progress.epoch(msg);
    Object.assign(this.run, { epoch: msg.epoch, epochs: msg.epochs, weights: new Uint8Array(msg.weights), accuracy: msg.test_accuracy });
    const where = this.backend?.backend === 'webgpu' ? 'WebGPU' : 'CPU';
    setStatus(`Epoch ${msg.epoch} of ${msg.epochs} on ${where}: test accuracy ${pct(msg.test_accuracy)}`);
    try {
      // The panel's choice is saved with the run's record when its checkpoint comes (saveRun).
      this.classify?.setModel(this.run.weights, { source: 'trained', epoch: msg.epoch, epochs: msg.epochs, accuracy: msg.test_accuracy });
    } catch (e) {
      console.error('the new epoch\'s model did not load', e);
    }
  }

  saveRun() {
    const { run, progress } = this;
    saved.saveRun({
      weights: run.weights, checkpoint: run.checkpoint, epoch: run.epoch, epochs: run.epochs, accuracy: run.accuracy,
      config: run.config, trainLimit: run.trainLimit, history: progress.history, confusion: progress.confusion,
      perClass: progress.perClass, gridPredictions: progress.gridPredictions, backend: this.backend?.backend ?? null,
    }, this.classify?.modelInfo?.source === 'trained' ? 'trained' : null).catch((e) => this.storageFailed(e));
  }

  saveChoice(choice) { saved.saveChoice(choice).catch((e) => this.storageFailed(e)); }

  storageFailed(e) {
    showError(`This browser's storage refused to keep the model (${e.message || e}). It stays in use on this page, but a reload will lose it.`);
  }

  // ---- buttons ------------------------------------------------------------------------------------

  updateButtons() {
    const canStart = this.data.ready && !this.running && !this.teach?.teaching && !this.previousBusy;
    $('train').disabled = !canStart;
    const r = this.run;
    const resumable = Boolean(r?.checkpoint && r.epoch < r.epochs);
    $('resume').hidden = !resumable || this.running;
    $('resume').disabled = !canStart;
    if (resumable) $('resume').textContent = `Resume from epoch ${r.epoch}`;
    for (const id of ['test-index', 'test-show', 'test-random']) $(id).disabled = !this.data.ready;
    $('pause').disabled = !this.running;
    $('stop').disabled = !this.running;
    $('pause').textContent = this.paused ? 'Resume' : 'Pause';
    $('pause').setAttribute('aria-pressed', String(this.paused));
    this.teach?.render();
    const prev = this.previousRun;
    $('previous-run').hidden = !prev || this.running;
    if (prev) $('previous-run-text').textContent = `Previous run: epoch ${prev.epoch} of ${prev.epochs}, ${pct(prev.accuracy)} test accuracy.`;
    $('restore-previous').disabled = !canStart;
    $('discard-previous').disabled = !canStart;
    this.settings.setEnabled(!this.running);
    $('files').disabled = this.running;
  }

  wireControls() {
    $('train').addEventListener('click', () => this.train());
    $('resume').addEventListener('click', () => this.resume());
    $('pause').addEventListener('click', () => this.worker.send(this.paused ? toWorker.resume() : toWorker.pause()));
    $('stop').addEventListener('click', () => this.worker.send(toWorker.stop()));
    this.data.wire();
  }
}

const wasmReady = new Promise((resolve) => {
  if (window.wasmBindings) resolve(window.wasmBindings);
  addEventListener('TrunkApplicationStarted', () => resolve(window.wasmBindings), { once: true });
});

async function main() {
  const pageModule = new PageModule(await wasmReady);
  const app = new App(pageModule.exports, pageModule.exports.facts());
  app.pageModule = pageModule;
  pageModule.onReplaced.push((why, failed) => app.pageModuleReplaced(why, failed));
  // The test interface (window.fashionTest) is in test builds only: scripts/build/build-web.sh
  // with FASHION_TEST_API=1 marks the page; the shipped page has neither the mark nor the file.
  if (document.querySelector('meta[name="fashion-test-api"]')) (await import('./test-api.js')).installTestApi(app);
  app.wireControls();
  app.updateButtons();
  app.progress.redraw();
  // The drawing panel first: it classifies with the ready (or saved) model before the dataset,
  // the training workers or the offline copy take the network and the cores.
  await startModelPanel(app).catch((e) => {
    $('model-info').textContent = 'No model could be loaded.';
    showError(`The classifier could not start: ${e.message || e}`);
  });
  await app.trainers.refresh();
  app.data.download();
  registerOffline({ busy: () => app.running });
  app.watchModules();
}

main();
