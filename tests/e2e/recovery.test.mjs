// End-to-end: nothing lost, nothing let in. A bad dataset after a good one leaves the good one
// in use; a run stopped at epoch 3, reloaded and resumed ends exactly where an uninterrupted run
// ends (bit for bit on the CPU, within 1e-5 on WebGPU); a lost WebGPU device, a crashed worker
// and a crashed second CPU worker each continue the run on the CPU from its last checkpoint; the page is same-origin only under
// a strict Content-Security-Policy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { serve, launch, open, waitForStatus, setSettings, assertNoPanics, safetensorsTensors, reload } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

function maxGap(a, b) {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let gap = 0;
  for (const k of Object.keys(a)) a[k].forEach((v, i) => { gap = Math.max(gap, Math.abs(v - b[k][i])); });
  return gap;
}

// The CPU's epochs are large enough (60 steps) that Stop lands before the run ends; WebGPU's are
// small enough to finish in minutes on SwiftShader.
const RUN = { epochs: 6, batch: 100, seed: 7 };
const LIMIT = { cpu: 6000, webgpu: 300 };

/** Trains RUN on `backend` in a fresh page; with `stopAt`, stops after that epoch, reloads and
 * resumes. Returns the final model's tensors. */
async function trainRun(browser, backend, stopAt = null) {
  const { page, errors } = await open(browser, `${server.url}?testLimit=200`);
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, { recipe: 'improved', backend, limit: LIMIT[backend], ...RUN });
  if (stopAt) await page.evaluate((n) => window.fashionTest.stopAfterEpoch(n), stopAt);
  await page.click('#train');
  if (stopAt) {
    await waitForStatus(page, /Stopped after epoch/);
    await reload(page);
    await waitForStatus(page, /Ready to train/);
    await page.waitForSelector('#resume:not([hidden]):not([disabled])');
    await page.click('#resume');
  }
  await waitForStatus(page, /Finished 6 epochs/, 600_000);
  const history = await page.evaluate(() => window.fashionTest.history().testAcc.map(([e]) => e));
  assert.deepEqual(history, [1, 2, 3, 4, 5, 6], 'the history continues across the reload');
  const weights = safetensorsTensors(Buffer.from(await page.evaluate(() => window.fashionTest.weightsBase64()), 'base64'));
  assertNoPanics(errors);
  await page.close();
  return weights;
}

test('stop at epoch 3, reload, resume: the CPU run ends bit for bit where an uninterrupted one ends', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const whole = await trainRun(browser, 'cpu');
    const resumed = await trainRun(browser, 'cpu', 3);
    assert.equal(maxGap(whole, resumed), 0);
  } finally {
    await browser.close();
  }
});

test('the same on WebGPU, within 1e-5', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const whole = await trainRun(browser, 'webgpu');
    const resumed = await trainRun(browser, 'webgpu', 3);
    const gap = maxGap(whole, resumed);
    assert.ok(gap <= 1e-5, `largest difference ${gap}`);
  } finally {
    await browser.close();
  }
});

/** Starts a WebGPU run and waits for its first epoch. */
async function gpuRunAtEpoch1(browser) {
  const { page, errors } = await open(browser, `${server.url}?testLimit=200`);
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, { backend: 'webgpu', epochs: 3, limit: 600, batch: 100 });
  await page.click('#train');
  await page.waitForFunction(() => window.fashionTest.checkpointEpoch() >= 1, null, { timeout: 300_000 });
  return { page, errors };
}

test('a lost GPU device: the run continues on the CPU from its last checkpoint', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await gpuRunAtEpoch1(browser);
    await page.evaluate(() => window.fashionTest.debug('lose_gpu'));
    await page.waitForFunction(() => /GPU/.test(document.getElementById('error').textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent('#error'), /continues on the CPU from epoch [12], its last checkpoint/);
    // The CPU finishes two epochs of 600 images in a blink: any of these may be the status seen.
    await waitForStatus(page, /Training on the CPU|Epoch \d of 3 on CPU|Finished 3 epochs/, 120_000);
    assert.equal(await page.inputValue('#backend'), 'cpu');
    await waitForStatus(page, /Finished 3 epochs/, 300_000);
    assert.deepEqual(await page.evaluate(() => window.fashionTest.history().testAcc.map(([e]) => e)), [1, 2, 3]);
    assert.match(await page.textContent('#model-info'), /epoch 3 of 3/);
    assertNoPanics(errors.filter((e) => !/device|GPU|lost|destroyed/i.test(e)));
  } finally {
    await browser.close();
  }
});

test('a crashed worker: the run continues on the CPU from its last checkpoint', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page } = await gpuRunAtEpoch1(browser);
    await page.evaluate(() => window.fashionTest.crashWorker('simulated crash'));
    await page.waitForFunction(() => /training worker stopped/.test(document.getElementById('error').textContent));
    assert.match(await page.textContent('#error'), /continues on the CPU from epoch \d, its last checkpoint/);
    assert.match(await page.textContent('#model-info'), /epoch \d of 3/, 'the last good model still classifies');
    await waitForStatus(page, /Finished 3 epochs/, 300_000);
    assert.equal((await page.evaluate(() => window.fashionTest.backend())).backend, 'cpu');
  } finally {
    await browser.close();
  }
});

// A CPU run shares each batch between two workers (the page is cross-origin isolated): when the
// second one dies, the first stops waiting for it and the run goes on from its last checkpoint,
// with a fresh second worker, to the end.
test('a crashed second CPU worker: the run continues from its last checkpoint', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=200`);
    await waitForStatus(page, /Ready to train/);
    await setSettings(page, { recipe: 'reference', backend: 'cpu', limit: 20000, epochs: 4, batch: 64, seed: 5 });
    await page.click('#train');
    await page.waitForFunction(() => window.fashionTest.checkpointEpoch() >= 1, null, { timeout: 240_000 });
    assert.match((await page.evaluate(() => window.fashionTest.backend())).adapter, /two workers/);
    await page.evaluate(() => window.fashionTest.crashWorker('simulated crash', 'partner'));
    await page.waitForFunction(() => /continues on the CPU from epoch \d, its last checkpoint/.test(document.getElementById('error').textContent),
      null, { timeout: 60_000 });
    assert.match(await page.textContent('#error'), /other CPU worker stopped/);
    await waitForStatus(page, /Finished 4 epochs/, 300_000);
    assert.match((await page.evaluate(() => window.fashionTest.backend())).adapter, /two workers/, 'the new run is paired again');
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});

test('a browser storage that refuses writes: a clear message, the run goes on and its model stays in use', { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    // What a full disk or a private window's quota does to IndexedDB writes.
    const full = () => {
      IDBObjectStore.prototype.put = function put() { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };
    };
    const { page, errors } = await open(browser, `${server.url}?testLimit=200`, { init: full });
    await waitForStatus(page, /Ready to train/);
    await setSettings(page, { recipe: 'reference', backend: 'cpu', limit: 2000, epochs: 2, batch: 100, seed: 3 });
    await page.click('#train');
    await page.waitForFunction(() => /storage refused to keep the model/.test(document.getElementById('error').textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent('#error'), /QuotaExceededError|quota/i);
    await waitForStatus(page, /Finished 2 epochs/, 240_000);
    assert.equal(await page.evaluate(() => window.fashionTest.lastEpoch()), 2, 'training went on');
    assert.match(await page.textContent('#model-info'), /epoch 2 of 2/, 'the trained model is the one in use');
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});

/** Gzipped IDX images: the header announces 100 images of 28x28, and the stream goes on to
 * inflate to 512 MiB more (about half a megabyte of gzip). */
function gzipBomb() {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(100, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  return zlib.gzipSync(Buffer.concat([header, Buffer.alloc(100 * 784 + 512 * 2 ** 20)]), { level: 9 });
}

/** Gzipped IDX images whose header claims `count` images of 28x28 but holds only one. */
function lyingImages(count) {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(count, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  return zlib.gzipSync(Buffer.concat([header, Buffer.alloc(784)]));
}

test('bad dataset files after a good dataset: clear messages, the good one stays in use and trains', { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, foreign } = await open(browser, `${server.url}?testLimit=300`);
    await waitForStatus(page, /Ready to train/);
    const labels = (name) => ({ name, mimeType: 'application/gzip', buffer: zlib.gzipSync(Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 3])) });
    const cases = [
      // Text bytes in a file named like an IDX .gz: it is "not gzip", not "a bad CSV".
      [{ name: 'train-images-idx3-ubyte.gz', mimeType: 'application/gzip', buffer: Buffer.from('label,pixel1\n1,2\n') }, /not a gzip file/],
      // A header that claims two billion images: refused as a count, after reading little.
      [{ name: 'train-images-idx3-ubyte.gz', mimeType: 'application/gzip', buffer: lyingImages(2_000_000_000) }, /2,000,000,000 images/],
      // A stream that inflates far past what its header announces: refused after one byte more.
      [{ name: 'train-images-idx3-ubyte.gz', mimeType: 'application/gzip', buffer: gzipBomb() }, /unexpected data after the 100 images/],
      // A labels file where the images should be.
      [labels('train-images-idx3-ubyte.gz'), /labels/],
    ];
    for (const [file, message] of cases) {
      await page.setInputFiles('#files', [file]);
      await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 60_000 });
      const text = await page.textContent('#error');
      assert.match(text, message);
      assert.match(text, /60,000 training and 10,000 test images/, `the dataset in use is named: ${text}`);
      assert.equal(await page.isDisabled('#train'), false, 'Train stays enabled');
      await page.evaluate(() => { document.getElementById('error').hidden = true; });
    }
    assert.deepEqual(await page.evaluate(() => window.fashionTest.dataset()), {
      ready: true, train: 60000, test: 10000, source: await page.evaluate(() => window.fashionTest.dataset().source),
    });
    await setSettings(page, { backend: 'cpu', epochs: 1, limit: 500 });
    await page.click('#train');
    await waitForStatus(page, /Finished 1 epochs/, 120_000);
    const memory = await page.evaluate(() => window.fashionTest.debug('memory'));
    console.log(`worker memory after the bad files and a run: wasm ${(memory.wasm_bytes / 2 ** 20).toFixed(0)} MiB`);
    // The worker's memory only grows (wasm never gives pages back), so this is its peak: the real
    // dataset and a run take about 130 MiB; inflating the bomb would have added 512 MiB.
    assert.ok(memory.wasm_bytes < 256 * 2 ** 20, 'neither the lying header nor the gzip bomb made the worker allocate for them');
    assert.deepEqual(foreign, []);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});

test('the page is same-origin only under a strict Content-Security-Policy', { timeout: 180_000 }, async () => {
  const response = await fetch(server.url);
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'|\*/);
  const html = await response.text();
  assert.match(html, /<meta http-equiv="Content-Security-Policy"/, 'also as a meta tag for static hosting');
  assert.doesNotMatch(html.replace(/<script[^>]*src=[^>]*><\/script>/g, ''), /<script/, 'no inline script');

  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, foreign } = await open(browser, server.url);
    await page.evaluate(() => {
      window.violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await waitForStatus(page, /Ready to train/);
    await page.waitForFunction(() => /Ready model/.test(document.getElementById('model-info').textContent));
    // A request to another origin from the page is refused by the policy.
    const blocked = await page.evaluate(() => fetch('https://example.com/').then(() => 'fetched', (e) => String(e)));
    assert.match(blocked, /Failed to fetch|TypeError/);
    const violations = await page.evaluate(() => window.violations);
    assert.ok(violations.every((v) => v.startsWith('connect-src')), `only the probe was blocked: ${violations}`);
    assert.deepEqual(foreign, [], 'nothing else left the origin');
    // From the first byte on (the listener above comes after the load): nothing the page does
    // itself is refused.
    const refused = errors.filter((e) => /Content Security Policy/.test(e) && !/example\.com/.test(e));
    assert.deepEqual(refused, [], 'the page itself stays within its policy');
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
