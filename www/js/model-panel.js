// The drawing panel's start: the classifier, and what this browser kept from last time (the last
// run's history, settings and checkpoint, and the model the panel used last), else the ready model.
import { toWorker } from './messages.js';
import { ClassifyPanel } from './classify.js';
import { TeachPanel } from './teach-panel.js';
import * as saved from './saved-run.js';
import { setStatus, showError, pct } from './status.js';

const $ = (id) => document.getElementById(id);
const READY_MODEL = 'ready.safetensors';
// Fetched as soon as this module loads (index.html preloads it too): the drawing panel must not
// wait for anything else before it can classify.
const readyFetch = fetch(READY_MODEL).then((r) => {
  if (!r.ok) throw new Error(`${READY_MODEL}: HTTP ${r.status}`);
  return r.arrayBuffer();
});
readyFetch.catch(() => {}); // reported where it is used

function drawError(message) {
  $('draw-error').textContent = message;
  $('draw-error').hidden = !message;
}

export async function startModelPanel(app) {
  const panel = new ClassifyPanel({
    wasm: app.wasm,
    facts: app.facts,
    requestTestImage: (index) => { if (app.data.ready) app.trainers.cpu.send(toWorker.testImage(index)); },
    readModel: (bytes, name) => app.readModel(bytes, name),
    onModelFile: (bytes, name, meta) => {
      saved.saveLoaded({ weights: bytes, name, meta }).catch((e) => app.storageFailed(e));
    },
    onError: drawError,
    onClassified: (top) => app.teach?.suggest(top),
    crashed: () => Boolean(app.pageModule?.crashed),
  });
  app.classify = panel;
  app.teach = new TeachPanel({
    wasm: app.wasm,
    names: app.facts.class_names,
    classify: panel,
    worker: () => app.trainers.cpu,
    teachOn: async () => {
      const { config, backend } = app.settings.read();
      const choice = await app.chooseBackend(backend, config);
      const worker = app.trainers.client(choice.backend);
      app.data.sendTo(worker);
      return { backend: choice.backend, worker };
    },
    canTeach: () => app.data.ready && !app.running,
    onTaught: (bytes, report) => {
      const name = `your taught model (${report.drawings} drawings)`;
      const before = { bytes: panel.modelBytes, info: panel.modelInfo };
      try {
        const meta = panel.setModel(bytes, { source: 'file', name });
        saved.saveTaught({ weights: bytes, name, meta }, before).catch((e) => app.storageFailed(e));
        previous = before;
        $('use-previous').hidden = false;
      } catch (e) {
        drawError(`The taught model could not be used: ${e.message || e}`);
      }
    },
    onBusy: () => app.updateButtons(),
    onError: drawError,
    storageFailed: (e) => app.storageFailed(e),
  });
  app.teach.restore();
  if (app.data.info) panel.setTestCount(app.data.info.test);
  // The model in use before the last taught one, one click away while this page is open.
  let previous = null;
  $('use-previous').addEventListener('click', () => {
    if (!previous) return;
    const { bytes, info } = previous;
    previous = null;
    $('use-previous').hidden = true;
    saved.forgetBeforeTeach().catch((e) => app.storageFailed(e));
    try {
      const meta = panel.setModel(bytes, info);
      if (info.source === 'ready') app.saveChoice('ready');
      else if (info.source === 'trained' || info.source === 'saved') app.saveChoice('trained');
      else saved.saveLoaded({ weights: bytes, name: info.name, meta }).catch((e) => app.storageFailed(e));
    } catch (e) {
      drawError(`The previous model could not be used: ${e.message || e}`);
    }
  });
  $('use-ready').addEventListener('click', async () => {
    try {
      panel.setModel(await readyModelBytes(), { source: 'ready' });
      app.saveChoice('ready');
    } catch (e) {
      panel.onError(`The ready model could not be loaded: ${e.message || e}`);
    }
  });
  // One of Restore and Discard at a time, both off until it has finished: a Discard that came
  // during a Restore's swap would forget the run the swap had just put aside.
  const exclusive = (work) => async () => {
    if (app.previousBusy) return;
    app.previousBusy = true;
    app.updateButtons();
    try {
      await work();
    } catch (e) {
      app.storageFailed(e);
    } finally {
      app.previousBusy = false;
      app.updateButtons();
    }
  };
  // The previous run becomes the latest again (its model in use, its checkpoint resumable).
  $('restore-previous').addEventListener('click', exclusive(async () => {
    await saved.swapWithPrevious();
    previous = await restore(app, panel);
    $('use-previous').hidden = !previous;
  }));
  // Kept until the user says otherwise: a third run replaces it, or this.
  $('discard-previous').addEventListener('click', exclusive(async () => {
    const prev = app.previousRun;
    if (!prev || !confirm(`Discard the previous run (epoch ${prev.epoch} of ${prev.epochs})? Its model and checkpoint cannot be restored afterwards.`)) return;
    await saved.discardPrevious();
    app.previousRun = null;
  }));
  previous = await restore(app, panel);
  $('use-previous').hidden = !previous;
  app.timings.classifierReadyMs = performance.now();
  app.updateButtons();
}

/** The last run (history, settings, checkpoint), the one before it, and the model the panel
 * used last. Returns the model a taught one in use replaced ({bytes, info}), else null. */
async function restore(app, panel) {
  const { run, loaded, choice, previous, beforeTeach } = await saved.loadAll((key, e) => console.warn(`the saved ${key} could not be read`, e));
  app.previousRun = previous;
  if (run) {
    app.run = { config: run.config, trainLimit: run.trainLimit, epoch: run.epoch, epochs: run.epochs, weights: run.weights, checkpoint: run.checkpoint ?? null, accuracy: run.accuracy };
    app.settings.fill(run.config, { trainLimit: run.trainLimit });
    app.progress.restore(run);
    setStatus(`Restored the run from epoch ${run.epoch} of ${run.epochs} (${pct(run.accuracy)})`);
  }
  const chosen = choice === 'loaded' ? loaded : choice === 'trained' ? run : null;
  if (chosen) {
    try {
      panel.setModel(chosen.weights, { ...chosen, source: choice === 'trained' ? 'saved' : 'file' });
      return choice === 'loaded' && chosen.meta?.taught_drawings ? beforeTeach : null;
    } catch (e) {
      showError(`The model saved in this browser could not be read (${e.message || e}); using the ready model.`);
    }
  }
  panel.setModel(await readyModelBytes(), { source: 'ready' });
  return null;
}

async function readyModelBytes() {
  return new Uint8Array((await readyFetch).slice(0));
}
