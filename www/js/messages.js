// Every message the page sends a training worker, built in one place. Their Rust side is
// `ToWorker` in src/web/protocol.rs (serde, unknown fields refused); tests/e2e/protocol.test.mjs
// parses each kind built here with the page's own module, so the two cannot drift apart.
export const toWorker = {
  /** Dataset files: [{name, bytes: Uint8Array}]. */
  loadData: (files) => ({ type: 'load_data', files }),
  /** A run: `checkpoint` (bytes) continues one; `shard` and `exchange` (a SharedArrayBuffer,
   * taken off before parsing) pair two CPU workers. */
  start: ({ config, backend, trainLimit = null, testLimit = null, checkpoint = null, reason = null, measured = null, shard, exchange }) => ({
    type: 'start', config, backend, train_limit: trainLimit, test_limit: testLimit, checkpoint, reason, measured,
    ...(shard ? { shard, exchange } : {}),
  }),
  /** Auto's measurement of `backend` ('cpu' or 'webgpu') on `config`. */
  measure: ({ config, backend, shard, exchange }) => ({ type: 'measure', config, backend, ...(shard ? { shard, exchange } : {}) }),
  /** A model file (ours, a checkpoint, PyTorch weights) to read into our safetensors. */
  readModel: (name, bytes) => ({ type: 'read_model', name, bytes }),
  /** A drawing set file (this app's export or a Kaggle-layout CSV) to read: its bytes, or the
   * user's `File`, which the worker reads itself. */
  readDrawings: (name, contents) => (contents instanceof Blob ? { type: 'read_drawings', name, file: contents } : { type: 'read_drawings', name, bytes: contents }),
  /** Teach `model` (safetensors bytes) the drawing set file `drawings`; stop() cancels. */
  teach: ({ model, drawings, options = null, backend = null }) => ({ type: 'teach', model, drawings, options, backend }),
  pause: () => ({ type: 'pause' }),
  resume: () => ({ type: 'resume' }),
  stop: () => ({ type: 'stop' }),
  testImage: (index) => ({ type: 'test_image', index }),
  /** Test interface only: the worker's next read of a file of this name panics. */
  injectPanic: (fileName) => ({ type: 'inject_panic', file_name: fileName }),
  /** Diagnostics: 'memory', 'gpu_costs', 'lose_gpu'. */
  debug: (hook) => ({ type: 'debug', hook }),
};
