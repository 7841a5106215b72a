// The page's test interface, used by tests/e2e and the browser benchmarks. It is the only way
// in from outside: read-only copies of what the page shows, and a few hooks. Documented here:
//   history()        the curves' points {trainLoss, trainAcc, testLoss, testAcc, liveLoss, liveAcc}
//   lastProgress()   the worker's latest progress message (samples/s, steps, ...)
//   lastEpoch()      epochs completed by the latest run
//   checkpointEpoch() the epoch of the latest run's last checkpoint (what a recovery resumes from)
//   backend()        the run's backend {backend, adapter, fallback_reason, measured}
//   confusion()      the latest confusion matrix (10x10)
//   dataset()        {ready, train, test, source} of the dataset in use
//   datasetFiles()   what the page keeps of it to hand to workers: [{name, bytes, file}] (bytes
//                    held, or whether it is a user's File read from disk)
//   classify()       the drawing panel: {probabilities, inputLabel, stats, latencies} (the main
//                    thread's milliseconds of each of the last 200 predictions)
//   timings()        {classifierReadyMs}
//   weightsBase64()  the latest run's last model file (safetensors), base64
//   debug(hook)      the run's worker's diagnostics: 'memory' resolves {wasm_bytes, gpu_bytes};
//                    'lose_gpu' destroys the WebGPU device of the GPU worker, as a driver reset
//                    would; 'gpu_costs' resolves what a GPU step costs there
//   stopAfterEpoch(n) sends Stop as soon as epoch n of the current run is reported (what a
//                    user's click does, without the race against a fast run)
//   crashWorker(msg, which) fires the error event of the run's worker (or, with 'partner', of
//                    the second CPU worker of a paired run), as the browser does when one dies
//   injectPanic(where, name) arms a real panic: the next file named `name` read by the page's
//                    module ('page': the classifier) or the CPU worker ('worker': model and
//                    drawing set files) panics inside Rust, as a reader bug would
//   pageInstances()  how many instances of the page's module have run (1 + replacements)
//   storeSettled()   resolves once every IndexedDB write the page started has committed (a
//                    test reloads after it, as a user's reload comes long after a click)
//   chartPixels(key) resolves how many pixels of a chart ('loss', 'acc', 'grid', 'confusion',
//                    'perClass') differ from its background, once the render worker has drawn
import { toWorker } from './messages.js';
import { settled } from './store.js';

export function installTestApi(app) {
  const copy = (v) => (v == null ? v : structuredClone(v));
  window.fashionTest = Object.freeze({
    history: () => copy(app.progress.history),
    lastProgress: () => copy(app.progress.lastProgress),
    lastEpoch: () => app.run?.epoch ?? 0,
    checkpointEpoch: () => app.run?.checkpointEpoch ?? 0,
    backend: () => copy(app.backend),
    confusion: () => copy(app.progress.confusion),
    dataset: () => ({ ready: app.data.ready, ...(app.data.info ?? {}) }),
    datasetFiles: () => (app.data.files ?? []).map((f) => ({ name: f.name, bytes: f.bytes?.length ?? 0, file: Boolean(f.file) })),
    classify: () => ({
      probabilities: app.classify?.probabilities ? Array.from(app.classify.probabilities) : null,
      inputLabel: app.classify?.inputLabel ?? null,
      stats: app.classify?.stats() ?? null,
      latencies: app.classify ? [...app.classify.latencyMs] : [],
    }),
    timings: () => ({ ...app.timings }),
    weightsBase64: () => {
      const w = app.run?.weights;
      if (!w) return null;
      let text = '';
      for (let i = 0; i < w.length; i += 0x8000) text += String.fromCharCode(...w.subarray(i, i + 0x8000));
      return btoa(text);
    },
    debug: (hook) => {
      const worker = ['lose_gpu', 'gpu_costs'].includes(hook) ? app.trainers.client('webgpu') : app.worker;
      app.data.sendTo(worker);
      return worker.debug(hook);
    },
    stopAfterEpoch: (n) => { app.stopAfterEpoch = n; },
    crashWorker: (message, which = 'run') => (which === 'partner' ? app.trainers.partner : app.worker).simulateCrash(message),
    chartPixels: (key) => app.progress.renderer.pixels(key),
    injectPanic: (where, name) => (where === 'page' ? app.wasm.inject_panic(name) : app.trainers.cpu.send(toWorker.injectPanic(name))),
    pageInstances: () => app.pageModule.instances,
    storeSettled: () => settled(),
  });
}
