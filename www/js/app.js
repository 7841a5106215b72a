// The page: fetches the dataset, drives the training worker, and draws what it reports.
// Training never runs here; this thread only renders.
import { fetchDataset } from './dataset.js';
import { drawGrid } from './grid.js';
import { ClassifyPanel } from './classify.js';
import * as store from './store.js';
import { registerOffline } from './offline.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'), error: $('error'), dataBar: $('data-bar'), dataInfo: $('data-info'),
  files: $('files'), drop: $('drop'), train: $('train'), resume: $('resume'), pause: $('pause'), stop: $('stop'),
  epoch: $('s-epoch'), acc: $('s-acc'), rate: $('s-rate'), eta: $('s-eta'), backendOut: $('s-backend'),
  epochBar: $('epoch-bar'), lossChart: $('loss-chart'), accChart: $('acc-chart'), grid: $('grid'),
  confusion: $('confusion'), perClass: $('per-class'),
};

const emptyHistory = () => ({ trainLoss: [], trainAcc: [], testLoss: [], testAcc: [], liveLoss: [], liveAcc: [] });

// What the page knows; everything on screen is drawn from this.
const state = {
  worker: null, workerReady: false, pendingFiles: null, dataReady: false,
  running: false, paused: false, epochs: 50, backend: null,
  grid: null, gridPredictions: null,
  history: emptyHistory(),
  lastWeights: null, lastEpoch: 0, lastConfig: null, lastTrainLimit: null, dataSource: null,
  classify: null, timings: {},
};
window.fashionApp = state; // inspected by the end-to-end tests

let wasm = null; // the page's own module (charts, CPU model)
const wasmReady = new Promise((resolve) => {
  if (window.wasmBindings) resolve(window.wasmBindings);
  addEventListener('TrunkApplicationStarted', () => resolve(window.wasmBindings), { once: true });
}).then((w) => { wasm = w; redraw(); return w; });
const READY_MODEL = 'ready.safetensors';


function setStatus(text) { ui.status.textContent = text; }
function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}
function fmtTime(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
const pct = (x) => `${(x * 100).toFixed(2)}%`;

function updateButtons() {
  const canStart = state.dataReady && state.workerReady && !state.running;
  ui.train.disabled = !canStart;
  const resumable = state.lastWeights && state.lastConfig && state.lastEpoch < state.lastConfig.epochs;
  ui.resume.hidden = !resumable || state.running;
  ui.resume.disabled = !canStart;
  if (resumable) ui.resume.textContent = `Resume from epoch ${state.lastEpoch}`;
  for (const id of ['test-index', 'test-show', 'test-random']) $(id).disabled = !(state.dataReady && state.workerReady);
  ui.pause.disabled = !state.running;
  ui.stop.disabled = !state.running;
  ui.pause.textContent = state.paused ? 'Resume' : 'Pause';
  ui.pause.setAttribute('aria-pressed', String(state.paused));
  for (const el of document.querySelectorAll('#settings input, #settings select')) el.disabled = state.running;
  ui.files.disabled = state.running;
}

// ---- worker -------------------------------------------------------------------------------

function startWorker() {
  state.workerReady = false;
  const worker = new Worker('train-worker.js', { type: 'module' });
  worker.onmessage = (e) => onWorkerMessage(e.data);
  worker.onerror = (e) => {
    e.preventDefault?.();
    workerLost(`the training worker failed: ${e.message || 'unknown error'}`);
  };
  state.worker = worker;
}

function workerLost(message) {
  state.worker?.terminate();
  state.worker = null;
  state.running = false;
  state.paused = false;
  const onGpu = state.backend?.name === 'webgpu';
  // A crashed or lost GPU is not retried automatically: the resume goes to the CPU.
  if (onGpu) $('backend').value = 'cpu';
  const kept = state.lastWeights
    ? ` The model from epoch ${state.lastEpoch} is kept: press Resume to continue${onGpu ? ' on the CPU' : ''}.`
    : ` Press Train to start again${onGpu ? ' (the backend is now set to CPU)' : ''}.`;
  showError(`${message}.${kept}`);
  setStatus('Training stopped by an error');
  startWorker();
  updateButtons();
}

function send(msg, transfer = []) { state.worker.postMessage(msg, transfer); }

function sendData(files) {
  state.dataReady = false;
  updateButtons();
  const copies = files.map((f) => ({ name: f.name, bytes: f.bytes.slice() }));
  send({ type: 'load_data', files: copies }, copies.map((f) => f.bytes.buffer));
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case 'ready':
      state.workerReady = true;
      if (state.pendingFiles) sendData(state.pendingFiles);
      break;
    case 'data_loaded':
      state.dataReady = true;
      state.dataCache?.keep();
      state.dataCache = null;
      state.grid = { pixels: new Uint8Array(msg.grid_pixels), labels: msg.grid_labels };
      state.gridPredictions = null;
      $('test-index').max = String(msg.test - 1);
      ui.dataInfo.textContent = `${msg.train.toLocaleString()} training and ${msg.test.toLocaleString()} test images ready`
        + (state.dataSource ? ` (${state.dataSource}).` : '.');
      state.dataSource = null;
      setStatus('Ready to train');
      showError('');
      redraw();
      break;
    case 'backend':
      state.backend = msg;
      ui.backendOut.textContent = msg.name === 'webgpu' ? 'WebGPU' : 'CPU';
      ui.backendOut.title = msg.adapter + (msg.fallback_reason ? ` — ${msg.fallback_reason}` : '');
      setStatus(msg.name === 'webgpu'
        ? `Training on WebGPU (${msg.adapter})`
        : `Training on the CPU${msg.fallback_reason ? ` — ${msg.fallback_reason}` : ''}`);
      break;
    case 'started':
      state.running = true;
      break;
    case 'progress': {
      state.lastProgress = msg;
      const x = msg.epoch - 1 + msg.batch / msg.batches_per_epoch;
      state.history.liveLoss.push([x, msg.loss]);
      state.history.liveAcc.push([x, msg.accuracy]);
      ui.epoch.textContent = `${msg.epoch} / ${msg.epochs}`;
      ui.rate.textContent = Math.round(msg.samples_per_sec).toLocaleString();
      ui.eta.textContent = fmtTime(msg.eta_seconds);
      ui.epochBar.style.width = `${(100 * msg.batch) / msg.batches_per_epoch}%`;
      scheduleRedraw();
      break;
    }
    case 'epoch': {
      const h = state.history;
      h.trainLoss.push([msg.epoch, msg.train_loss]);
      h.trainAcc.push([msg.epoch, msg.train_accuracy]);
      h.testLoss.push([msg.epoch, msg.test_loss]);
      h.testAcc.push([msg.epoch, msg.test_accuracy]);
      state.lastWeights = new Uint8Array(msg.weights);
      state.lastEpoch = msg.epoch;
      state.confusion = msg.confusion;
      state.perClass = msg.per_class_accuracy;
      state.gridPredictions = msg.grid_predictions;
      useTrainedModel(msg);
      ui.acc.textContent = pct(msg.test_accuracy);
      const where = state.backend?.name === 'webgpu' ? 'WebGPU' : 'CPU';
      setStatus(`Epoch ${msg.epoch} of ${msg.epochs} on ${where}: test accuracy ${pct(msg.test_accuracy)}`);
      redraw();
      break;
    }
    case 'test_image':
      state.classify?.showTestImage({ ...msg, pixels: new Uint8Array(msg.pixels) });
      break;
    case 'paused': state.paused = true; setStatus('Paused'); break;
    case 'resumed': state.paused = false; setStatus('Training resumed'); break;
    case 'stopped':
      state.running = false; state.paused = false;
      ui.eta.textContent = '–';
      setStatus(`Stopped after epoch ${state.lastEpoch}`);
      break;
    case 'finished': {
      state.running = false;
      const last = state.history.testAcc.at(-1);
      setStatus(`Finished ${state.lastEpoch} epochs: test accuracy ${last ? pct(last[1]) : '–'}`);
      break;
    }
    case 'error':
      if (msg.fatal) { workerLost(msg.message); return; }
      if (!state.running && state.dataReady) { showError(msg.message); break; }
      state.running = false; state.paused = false;
      if (!state.dataReady) {
        ui.dataInfo.textContent = 'The dataset could not be used.';
        state.dataCache?.forget();
        state.dataCache = null;
      }
      showError(msg.message);
      setStatus(state.dataReady ? 'Error — see the message' : 'No usable dataset');
      break;
    default:
      console.warn('unknown worker message', msg);
  }
  updateButtons();
}

// ---- drawing --------------------------------------------------------------------------------

let redrawQueued = false;
function scheduleRedraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => { redrawQueued = false; redraw(); });
}

function redraw() {
  if (state.grid) drawGrid(ui.grid, state.grid.pixels, state.grid.labels, state.gridPredictions);
  if (!wasm) return;
  const h = state.history;
  const epochs = state.epochs;
  try {
    wasm.draw_curves(ui.lossChart, [
      { label: 'train (live)', color: '#4f9dff', points: h.liveLoss },
      { label: 'train (epoch)', color: '#9cc7ff', points: h.trainLoss, dots: true },
      { label: 'test', color: '#ffb454', points: h.testLoss, dots: true },
    ], epochs, 'loss', false);
    wasm.draw_curves(ui.accChart, [
      { label: 'train (live)', color: '#4f9dff', points: h.liveAcc },
      { label: 'train (epoch)', color: '#9cc7ff', points: h.trainAcc, dots: true },
      { label: 'test', color: '#ffb454', points: h.testAcc, dots: true },
    ], epochs, 'accuracy', true);
    $('cm-empty').hidden = Boolean(state.confusion);
    if (state.confusion) {
      wasm.draw_confusion(ui.confusion, new Uint32Array(state.confusion.flat()));
      wasm.draw_per_class(ui.perClass, new Float64Array(state.perClass));
    }
  } catch (e) {
    console.error('drawing failed', e);
  }
}

// ---- controls -------------------------------------------------------------------------------

function readConfig() {
  const num = (id) => Number($(id).value);
  const improved = $('improved').checked;
  return {
    model: { hidden: [256, 128, 64], dropout: num('dropout') },
    epochs: num('epochs'),
    batch_size: num('batch'),
    learning_rate: num('lr'),
    schedule: improved ? 'cosine' : 'constant',
    weight_decay: 0,
    label_smoothing: improved ? 0.1 : 0,
    augment_flip: improved,
    seed: num('seed'),
  };
}

function startTraining(config, trainLimit, resume) {
  state.epochs = config.epochs;
  state.lastConfig = config;
  state.lastTrainLimit = trainLimit;
  showError('');
  setStatus(resume ? `Resuming from epoch ${resume.epoch}…` : 'Starting…');
  state.running = true;
  updateButtons();
  const testLimit = Number(new URLSearchParams(location.search).get('testLimit')) || null;
  send({ type: 'start', config, backend: $('backend').value, train_limit: trainLimit, test_limit: testLimit, resume });
  redraw();
}

ui.train.addEventListener('click', () => {
  if (!$('settings').reportValidity()) return;
  state.history = emptyHistory();
  state.lastEpoch = 0;
  const limit = Number($('limit').value);
  startTraining(readConfig(), limit && limit < 60000 ? limit : null, null);
});
// Continues the last run (after a crash, a lost GPU, a Stop or a reload) from its last epoch.
// Adam's moments restart; the weights, shuffle order and schedule carry on.
ui.resume.addEventListener('click', () => {
  const h = state.history;
  const keep = (list) => list.filter(([x]) => x <= state.lastEpoch);
  for (const k of Object.keys(h)) h[k] = keep(h[k]);
  startTraining(state.lastConfig, state.lastTrainLimit, { weights: state.lastWeights.slice(), epoch: state.lastEpoch });
});
ui.pause.addEventListener('click', () => send({ type: state.paused ? 'resume' : 'pause' }));
ui.stop.addEventListener('click', () => send({ type: 'stop' }));

async function useFiles(fileList) {
  const files = await Promise.all([...fileList].map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  if (!files.length) return;
  ui.dataInfo.textContent = `Checking ${files.map((f) => f.name).join(', ')}…`;
  state.pendingFiles = files;
  state.dataCache = null;
  if (state.workerReady) sendData(files);
}
ui.files.addEventListener('change', () => useFiles(ui.files.files));
ui.drop.addEventListener('dragover', (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => { e.preventDefault(); ui.drop.classList.remove('over'); useFiles(e.dataTransfer.files); });
ui.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.files.click(); } });

// ---- start ------------------------------------------------------------------------------------

async function loadDefaultData() {
  const params = new URLSearchParams(location.search);
  const base = new URL(params.get('data') || 'data/', location.href);
  const started = performance.now();
  try {
    const { files, fromCache, keep, forget } = await fetchDataset(base, (loaded, total) => {
      ui.dataBar.style.width = total ? `${(100 * loaded) / total}%` : '100%';
      ui.dataInfo.textContent = `Downloading the dataset: ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
    });
    const ms = Math.round(performance.now() - started);
    state.dataSource = `${fromCache ? 'read from the browser cache' : 'downloaded'} in ${ms} ms`;
    ui.dataInfo.textContent = `Dataset ${state.dataSource}; checking it…`;
    state.pendingFiles = files;
    state.dataCache = { keep, forget };
    if (state.workerReady) sendData(files);
  } catch (e) {
    showError(`The dataset could not be downloaded: ${e.message}. You can pick the files yourself.`);
    ui.dataInfo.textContent = 'No dataset yet.';
    setStatus('No dataset');
  }
}

// ---- models: the page's classifier and the saved model -----------------------------------------

function useTrainedModel(msg) {
  const info = { source: 'trained', epoch: msg.epoch, epochs: msg.epochs, accuracy: msg.test_accuracy };
  try {
    state.classify?.setModel(state.lastWeights, info);
  } catch (e) {
    console.error('the new epoch\'s model did not load', e);
  }
  saveChoice('trained');
  store.save('trained', {
    weights: state.lastWeights, epoch: msg.epoch, epochs: msg.epochs,
    accuracy: msg.test_accuracy, config: state.lastConfig, trainLimit: state.lastTrainLimit,
    history: state.history, confusion: state.confusion, perClass: state.perClass,
    gridPredictions: state.gridPredictions, backend: state.backend?.name ?? null,
  }).catch((e) => showError(`The model could not be saved in this browser: ${e.message || e}`));
}

function fillSettings(config, trainLimit) {
  $('epochs').value = config.epochs;
  $('batch').value = config.batch_size;
  $('lr').value = config.learning_rate;
  $('dropout').value = config.model.dropout;
  $('seed').value = config.seed;
  $('limit').value = trainLimit ?? 60000;
  $('improved').checked = config.schedule === 'cosine';
}

function saveChoice(choice) {
  store.save('choice', choice).catch((e) => console.warn('the model choice was not saved', e));
}

/** Restores the last run (history, settings, resumable weights) and the model the page used last:
 * the trained one, a loaded file, or the shipped ready model. */
async function loadStartingModel(panel) {
  const read = (key) => store.load(key).catch((e) => { console.warn(`no saved ${key}`, e); return null; });
  const [run, loaded, choice] = await Promise.all([read('trained'), read('loaded'), read('choice')]);
  if (run?.weights && run.config) {
    Object.assign(state, {
      lastWeights: run.weights, lastEpoch: run.epoch, lastConfig: run.config, lastTrainLimit: run.trainLimit,
      history: run.history, confusion: run.confusion, perClass: run.perClass,
      gridPredictions: run.gridPredictions, epochs: run.epochs,
    });
    fillSettings(run.config, run.trainLimit);
    ui.epoch.textContent = `${run.epoch} / ${run.epochs}`;
    ui.acc.textContent = pct(run.accuracy);
    setStatus(`Restored the run from epoch ${run.epoch} of ${run.epochs} (${pct(run.accuracy)})`);
  }
  const saved = choice === 'loaded' ? loaded : choice === 'trained' ? run : null;
  if (saved) {
    try {
      panel.setModel(saved.weights, { ...saved, source: choice === 'trained' ? 'saved' : 'file' });
      return;
    } catch (e) {
      showError(`The model saved in this browser could not be read (${e.message || e}); using the ready model.`);
    }
  }
  panel.setModel(await readyModelBytes(), { source: 'ready' });
}

async function readyModelBytes() {
  const response = await fetch(READY_MODEL);
  if (!response.ok) throw new Error(`${READY_MODEL}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const drawError = $('draw-error');

async function startClassifier() {
  const w = await wasmReady;
  const panel = new ClassifyPanel({
    wasm: w,
    requestTestImage: (index) => { if (state.workerReady) send({ type: 'test_image', index }); },
    onModelFile: (bytes, name, meta) => {
      store.save('loaded', { weights: bytes, name, meta })
        .then(() => saveChoice('loaded'))
        .catch((e) => showError(`The model could not be saved in this browser: ${e.message || e}`));
    },
    onError: (message) => { drawError.textContent = message; drawError.hidden = !message; },
  });
  state.classify = panel;
  $('use-ready').addEventListener('click', async () => {
    try {
      panel.setModel(await readyModelBytes(), { source: 'ready' });
      saveChoice('ready');
    } catch (e) {
      panel.onError(`The ready model could not be loaded: ${e.message || e}`);
    }
  });
  await loadStartingModel(panel);
  state.timings.classifierReadyMs = performance.now();
  updateButtons();
  redraw();
}

startWorker();
updateButtons();
redraw();
loadDefaultData();
startClassifier().catch((e) => {
  $('model-info').textContent = 'No model could be loaded.';
  showError(`The classifier could not start: ${e.message || e}`);
});
registerOffline();
