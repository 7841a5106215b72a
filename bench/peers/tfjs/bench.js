// TF.js peer of the product's browser bench (tests/e2e/bench.mjs): the same workload, measured
// the same way, so that samples_per_sec_over_window can be compared side by side.
// Workload: MLP 784-256-128-64-10, ReLU, dropout 0.2 after each hidden layer, softmax
// cross-entropy (mean), Adam lr 0.003 (0.9, 0.999, 1e-8), inputs byte/255, all 60,000 training
// images, reshuffled every epoch (last partial batch kept), one optimizer step per batch.
'use strict';

const log = (msg) => { console.log('[tfjs] ' + msg); document.getElementById('log').textContent += '\n' + msg; };

// The IDX .gz files come as plain bytes from our own origin; the page gunzips them itself.
async function fetchIdx(name, magic) {
  const resp = await fetch(`/data/${name}`);
  if (!resp.ok) throw new Error(`${name}: HTTP ${resp.status}`);
  const bytes = new Uint8Array(await new Response(resp.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const dv = new DataView(bytes.buffer);
  if (dv.getUint32(0) !== magic) throw new Error(`${name}: bad IDX magic`);
  const dims = Array.from({ length: magic & 0xff }, (_, i) => dv.getUint32(4 + 4 * i));
  return { dims, data: bytes.subarray(4 + 4 * dims.length) };
}

async function loadTrain() {
  const [img, lbl] = await Promise.all([
    fetchIdx('train-images-idx3-ubyte.gz', 0x803), fetchIdx('train-labels-idx1-ubyte.gz', 0x801)]);
  const n = img.dims[0];
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = img.data[i] / 255;
  return { n, x, y: Int32Array.from(lbl.data.subarray(0, n)) };
}

// Selects the backend and describes what it really is (a silent fallback would void the figure).
async function setBackend(backend) {
  if (backend === 'wasm') tf.wasm.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  if (!(await tf.setBackend(backend).catch(() => false)) || tf.getBackend() !== backend) {
    throw new Error(`TF.js backend '${backend}' unavailable (active: ${tf.getBackend()})`);
  }
  if (backend === 'wasm') {
    // Without COOP/COEP headers (like the product's page) TF.js runs its SIMD binary on 1 thread.
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return `tfjs-backend-wasm ${simd ? 'SIMD' : 'no SIMD'}, ${tf.wasm.getThreadsCount()} thread(s), crossOriginIsolated=${self.crossOriginIsolated}`;
  }
  if (backend === 'webgpu') {
    // Described like the product does (src/web/gpu.rs), from a second adapter request.
    const ad = await navigator.gpu.requestAdapter();
    const info = ad.info || {};
    const parts = ['vendor', 'architecture', 'device', 'description'].map((k) => info[k]).filter(Boolean);
    if (info.isFallbackAdapter ?? ad.isFallbackAdapter) parts.push('software fallback adapter');
    parts.push(`isFallbackAdapter=${info.isFallbackAdapter ?? ad.isFallbackAdapter}`);
    return parts.join(', ');
  }
  return backend;
}

function buildModel() {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 128, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 10 })); // logits: the softmax is inside the loss
  return m;
}

async function runBench({ backend = 'wasm', batchSize = 64, seconds = 20, syncEvery = 20, warmupSeconds = 2, warmupSteps = 3, dataOnBackend = true } = {}) {
  const adapter = await setBackend(backend);
  const train = await loadTrain();
  log(`${backend}: ${adapter}; ${train.n} training images`);

  // Like the product (and like TF.js's own model.fit), the training set lives on the backend and
  // each batch is gathered there; when one buffer cannot hold it (WebGPU binding limit), each
  // batch is uploaded from the Float32Array instead (also with dataOnBackend: false).
  const limit = backend === 'webgpu' ? tf.backend().device.limits.maxStorageBufferBindingSize : Infinity;
  const resident = dataOnBackend && train.x.byteLength <= limit;
  const xAll = resident ? tf.tensor2d(train.x, [train.n, 784]) : null;
  const yAll = tf.tensor1d(train.y, 'int32');

  const model = buildModel();
  const optimizer = tf.train.adam(0.003, 0.9, 0.999, 1e-8);
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  let cursor = train.n; // forces a shuffle before the first batch
  const shuffle = () => { // Fisher-Yates, a new order per epoch
    for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  };

  // One training step; returns its loss (a tensor, still being computed on GPU backends) and size.
  const step = () => {
    if (cursor >= train.n) { shuffle(); cursor = 0; }
    const idxArr = order.slice(cursor, Math.min(cursor + batchSize, train.n));
    cursor += idxArr.length;
    const loss = tf.tidy(() => {
      const idx = tf.tensor1d(idxArr, 'int32');
      let xs;
      if (resident) xs = tf.gather(xAll, idx);
      else { // the batch's rows, copied out of the preloaded Float32Array
        const buf = new Float32Array(idxArr.length * 784);
        idxArr.forEach((k, i) => buf.set(train.x.subarray(k * 784, k * 784 + 784), i * 784));
        xs = tf.tensor2d(buf, [idxArr.length, 784]);
      }
      const ys = tf.oneHot(tf.gather(yAll, idx), 10);
      return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true })), true);
    });
    return { loss, n: idxArr.length };
  };

  // Warm-up: at least `warmupSteps` steps and `warmupSeconds`, each awaited, so that shader
  // compilation and first-use allocations are over before the clock starts.
  const tw = performance.now();
  let warm = 0, lossFirst, stepMs;
  while (warm < warmupSteps || performance.now() - tw < warmupSeconds * 1000) {
    const ts = performance.now();
    const { loss } = step();
    lossFirst = (await loss.data())[0];
    loss.dispose();
    stepMs = performance.now() - ts;
    warm++;
  }
  const warmupS = (performance.now() - tw) / 1000;
  // Queueing is nearly free and the clock only sees queued GPU work at a read, so on a slow GPU
  // 20 queued steps would overrun the window by 20 steps' time: read at least about once a second.
  const every = Math.max(1, Math.min(syncEvery, Math.floor(1000 / stepMs)));

  // Window: steps are queued freely; every `every` steps, and when the window is over, the
  // latest loss is read, which waits for all work queued before it, so the time is honest.
  const t0 = performance.now();
  let steps = 0, samples = 0, lossLast;
  for (;;) {
    const { loss, n } = step();
    steps++; samples += n;
    const over = performance.now() - t0 >= seconds * 1000;
    if (over || steps % every === 0) lossLast = (await loss.data())[0];
    loss.dispose();
    if (over) break;
  }
  const elapsed = (performance.now() - t0) / 1000;
  log(`${backend} batch ${batchSize}: ${steps} steps in ${elapsed.toFixed(2)} s = ${(samples / elapsed).toFixed(0)} samples/s (warm-up ${warm} steps, ${warmupS.toFixed(1)} s; loss read every ${every} steps)`);

  model.dispose(); optimizer.dispose(); yAll.dispose(); if (xAll) xAll.dispose();
  return {
    samples_per_sec_over_window: Math.round(samples / elapsed), steps_measured: steps, samples_measured: samples,
    seconds: +elapsed.toFixed(3), backend_used: tf.getBackend(), adapter, tfjs_version: tf.version.tfjs,
    data_on_backend: resident, sync_every: every, warmup_steps: warm, warmup_seconds: +warmupS.toFixed(3),
    loss_after_warmup: lossFirst, loss_last: lossLast,
  };
}

window.runBench = runBench;
