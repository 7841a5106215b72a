// jax-js peer of the product's browser bench (tests/e2e/bench.mjs): the same workload, measured
// the same way, so that samples_per_sec_over_window can be compared side by side.
// Workload: MLP 784-256-128-64-10, ReLU, dropout 0.2 after each hidden layer, softmax
// cross-entropy (mean), Adam lr 0.003 (0.9, 0.999, 1e-8), inputs byte/255, all 60,000 training
// images, reshuffled every epoch (last partial batch kept), one optimizer step per batch.
// jax-js's way, as its authors train: one jit()-compiled step (batch gather on the device,
// dropout masks, forward, valueAndGrad, Adam) with the state on the device; jax-js is lazy, so
// the loop waits for the queued steps every `syncEvery` steps (and at the end of the window).
import {
  init, defaultDevice, jit, valueAndGrad, blockUntilReady, getWebGPUDevice, numpy as np, nn, random, tree,
} from '/node_modules/@jax-js/jax/dist/index.js';

const DIMS = [784, 256, 128, 64, 10];
const KEEP = 0.8;
const B1 = 0.9, B2 = 0.999, EPS = 1e-8;
const log = (msg) => { console.log('[jaxjs] ' + msg); document.getElementById('log').textContent += '\n' + msg; };

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

function describe(backend) {
  if (backend === 'webgpu') {
    const info = getWebGPUDevice().adapterInfo || {};
    const parts = ['vendor', 'architecture', 'device', 'description'].map((k) => info[k]).filter(Boolean);
    if (info.isFallbackAdapter) parts.push('software fallback adapter');
    return parts.join(', ');
  }
  // Without COOP/COEP (like the product's page) jax-js runs its kernels on the page's thread.
  return `jax-js wasm, ${typeof SharedArrayBuffer !== 'undefined' ? 'worker pool' : 'main thread, 1 thread'}`;
}

// torch.nn.Linear's default initialisation, U(±1/sqrt(fan_in)).
function initParams(key) {
  const keys = random.split(key, 2 * (DIMS.length - 1));
  const params = [];
  for (let l = 0; l < DIMS.length - 1; l++) {
    const bound = 1 / Math.sqrt(DIMS[l]);
    params.push({
      w: random.uniform(keys.ref.slice(2 * l), [DIMS[l], DIMS[l + 1]], { minval: -bound, maxval: bound }),
      b: random.uniform(keys.ref.slice(2 * l + 1), [DIMS[l + 1]], { minval: -bound, maxval: bound }),
    });
  }
  keys.dispose();
  return params;
}

function forward(params, x, masks) {
  let h = x;
  for (let l = 0; l < params.length; l++) {
    h = np.dot(h, params[l].w).add(params[l].b);
    if (l < params.length - 1) h = np.where(masks[l], nn.relu(h).mul(1 / KEEP), 0);
  }
  return h;
}

function lossFn(params, x, y, masks) {
  const logits = forward(params, x, masks);
  return nn.logSoftmax(logits).mul(nn.oneHot(y, 10)).sum().mul(-1 / y.shape[0]);
}

// The whole step, traced once per batch shape by jit(); every argument is consumed.
const trainStep = jit(function step(state, xAll, yAll, idx) {
  const { params, m, v, t, key } = state;
  const x = xAll.slice(idx.ref);
  const y = yAll.slice(idx);
  const n = y.shape[0];
  const keys = random.split(key, 4);
  const nextKey = keys.ref.slice(0);
  const masks = [0, 1, 2].map((i) => random.bernoulli(keys.ref.slice(i + 1), KEEP, [n, DIMS[i + 1]]));
  keys.dispose();
  const [loss, grads] = valueAndGrad(lossFn)(tree.ref(params), x, y, masks);
  const t1 = t.add(1);
  const stepSize = np.reciprocal(np.subtract(1, np.power(B1, t1.ref))).mul(0.003);
  const invBc2 = np.reciprocal(np.subtract(1, np.power(B2, t1.ref)));
  const newM = tree.map((mi, g) => mi.mul(B1).add(g.mul(1 - B1)), m, tree.ref(grads));
  const newV = tree.map((vi, g) => vi.mul(B2).add(g.ref.mul(g).mul(1 - B2)), v, grads);
  const newParams = tree.map(
    (p, mi, vi) => p.sub(mi.mul(stepSize.ref).div(np.sqrt(vi.mul(invBc2.ref)).add(EPS))),
    params, tree.ref(newM), tree.ref(newV));
  stepSize.dispose();
  invBc2.dispose();
  return { params: newParams, m: newM, v: newV, t: t1, key: nextKey, loss };
});

async function runBench({ backend = 'wasm', batchSize = 64, seconds = 20, syncEvery = 10, warmupSeconds = 2, warmupSteps = 3 } = {}) {
  const available = await init(backend);
  if (!available.includes(backend)) throw new Error(`jax-js backend '${backend}' unavailable (init() gave [${available}])`);
  defaultDevice(backend);
  const adapter = describe(backend);
  const train = await loadTrain();
  log(`${backend}: ${adapter}; ${train.n} training images`);

  // The training set lives on the device; each step uploads its batch's indices only.
  const xAll = np.array(train.x).reshape([train.n, 784]);
  const yAll = np.array(train.y, { dtype: np.int32 });
  const params = initParams(random.key(1234));
  let state = {
    params,
    m: tree.map((p) => np.zerosLike(p), tree.ref(params)),
    v: tree.map((p) => np.zerosLike(p), tree.ref(params)),
    t: np.zeros([], { dtype: np.float32 }),
    key: random.key(1235),
    loss: np.zeros([], { dtype: np.float32 }),
  };
  await blockUntilReady([xAll, yAll, state]);

  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  let cursor = train.n; // forces a shuffle before the first batch
  const step = () => {
    if (cursor >= train.n) {
      for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
      cursor = 0;
    }
    const idx = order.slice(cursor, Math.min(cursor + batchSize, train.n));
    cursor += idx.length;
    const { loss, ...rest } = state;
    loss.dispose();
    state = trainStep(rest, xAll.ref, yAll.ref, np.array(idx, { dtype: np.int32 }));
    return idx.length;
  };
  const lossNow = async () => (await state.loss.ref.data())[0];

  // Warm-up: compiles the step's kernels before the clock starts.
  const tw = performance.now();
  let warm = 0, stepMs = 0, lossFirst;
  while (warm < warmupSteps || performance.now() - tw < warmupSeconds * 1000) {
    const ts = performance.now();
    step();
    lossFirst = await lossNow();
    stepMs = performance.now() - ts;
    warm++;
  }
  const warmupS = (performance.now() - tw) / 1000;
  const every = Math.max(1, Math.min(syncEvery, Math.floor(1000 / Math.max(stepMs, 1e-3))));

  const t0 = performance.now();
  let steps = 0, samples = 0;
  for (;;) {
    samples += step();
    steps++;
    const over = performance.now() - t0 >= seconds * 1000;
    if (over || steps % every === 0) await blockUntilReady(state);
    if (over) break;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const lossLast = await lossNow();
  log(`${backend} batch ${batchSize}: ${steps} steps in ${elapsed.toFixed(2)} s = ${(samples / elapsed).toFixed(0)} samples/s`);
  tree.dispose(state);
  xAll.dispose();
  yAll.dispose();
  return {
    samples_per_sec_over_window: Math.round(samples / elapsed), steps_measured: steps, samples_measured: samples,
    seconds: +elapsed.toFixed(3), backend_used: backend, adapter, sync_every: every,
    warmup_steps: warm, warmup_seconds: +warmupS.toFixed(3), loss_after_warmup: lossFirst, loss_last: lossLast,
  };
}

window.runBench = runBench;
