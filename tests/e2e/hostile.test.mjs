// End-to-end: files built to hurt (scripts/bench/hostile.py, the same ones the CLI is checked
// with) given to the page as a user would give them, and real panics inside the page's module
// and the CPU worker. Each file is refused with a message, and the model in use, the dataset and
// the saved run stay; a panic replaces the module (or worker) and the same model, dataset and run
// are back. Each file's wall time, longest main-thread task and the renderer's peak memory growth
// are printed (measured, not asserted: docs/RESULTS.md states them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, open, waitForStatus, setSettings, ROOT, stroke, reload, assertNoPanics } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

/** Draws a stroke on the pad and resolves the probabilities the page shows for it. */
async function drawAndClassify(page) {
  await page.click('#clear');
  await page.waitForFunction(() => window.fashionTest.classify().probabilities === null);
  await stroke(page, [[84, 56], [196, 224]]);
  await page.waitForFunction(() => window.fashionTest.classify().probabilities !== null, null, { timeout: 30_000 });
  return page.evaluate(() => window.fashionTest.classify().probabilities);
}

const textOf = (page, sel) => page.evaluate((s) => document.querySelector(s).textContent, sel);

/** A fresh page with the dataset loaded and a CPU run of `settings` started (with `stopAfter`,
 * stopped after that epoch); resolves once `started` (a page function) is true, waiting at most
 * `timeout` ms. Returns the page, its console errors and the model shown before the run. */
async function cpuRun(browser, settings, started, timeout, { stopAfter = null } = {}) {
  const { page, errors } = await open(browser, `${server.url}?testLimit=300`);
  await waitForStatus(page, /Ready to train/);
  const model = await textOf(page, '#model-info');
  await setSettings(page, { recipe: 'reference', backend: 'cpu', batch: 64, ...settings });
  if (stopAfter) await page.evaluate((n) => window.fashionTest.stopAfterEpoch(n), stopAfter);
  await page.click('#train');
  await page.waitForFunction(started, null, { timeout });
  return { page, errors, model };
}

/** The real Fashion-MNIST is the dataset in use. */
async function assertRealDataset(page, what = '') {
  const data = await page.evaluate(() => window.fashionTest.dataset());
  assert.deepEqual([data.ready, data.train, data.test], [true, 60000, 10000], `${what}the dataset in use`);
}

/** The console shows a real Rust panic, the one the test interface armed. */
const assertInjectedPanic = (errors) => assert.match(errors.join('\n'), /panicked at [^\n]*\n[^\n]*injected by the test interface/, 'a real Rust panic');

/** The renderer processes' memory (the page and its workers live there), from /proc. */
async function renderers(browser) {
  const cdp = await browser.newBrowserCDPSession();
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  await cdp.detach();
  const pids = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
  const field = (pid, key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return {
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current size.
    resetPeak: () => pids.forEach((pid) => fs.writeFileSync(`/proc/${pid}/clear_refs`, '5')),
    rssMb: () => pids.reduce((s, pid) => s + field(pid, 'VmRSS'), 0) / 1024,
    peakMb: () => pids.reduce((s, pid) => s + field(pid, 'VmHWM'), 0) / 1024,
  };
}

test('hostile files in the page: each refused with a message; the model, the dataset and the saved run stay', { timeout: 600_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
  execFileSync('python3', [path.join(ROOT, 'scripts/bench/hostile.py'), '--write', dir]);
  const browser = await launch({ webgpu: false });
  try {
    // A saved run to keep: one short epoch on the CPU.
    const { page } = await cpuRun(browser, { limit: 500, epochs: 1, seed: 3 }, () => /Finished 1 epochs/.test(document.getElementById('status').textContent), 120_000);
    const model = await textOf(page, '#model-info');
    assert.match(model, /Trained here: epoch 1 of 1/);
    await page.evaluate(() => {
      window.longestTask = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.longestTask = Math.max(window.longestTask, e.duration);
      }).observe({ type: 'longtask' });
    });
    const memory = await renderers(browser);
    const file = (name) => path.join(dir, name);
    const cases = [
      ...['copies.pt', 'views.pt', 'names.pt', 'revisit.pt', 'zip-records.pt', 'hashed-keys.pt', 'class-names.pt', 'buffer-set.pt', 'legacy-keys.pt', 'empty-tensors.safetensors']
        .map((name) => [name, '#load-model', '#draw-error', /was refused/]),
      ['huge.png', '#picture', '#draw-error', /huge\.png was not read: it is 16384 x 16384 pixels/],
      ['commas.csv', '#files', '#error', /commas\.csv, line 1: .*over the limit/],
      ['rows.csv', '#files', '#error', /rows\.csv, line 60002: one row more than the 60,000 images/],
      ['commas.csv', '#teach-import', '#draw-error', /commas\.csv/],
      ['strokes.json', '#teach-import', '#draw-error', /strokes\.json.*21,000,001 strokes, over the limit of 1,000,000/],
    ];
    for (const [name, input, shown, message] of cases) {
      await page.evaluate((sel) => {
        const el = document.querySelector(sel);
        el.textContent = '';
        el.hidden = true;
        window.longestTask = 0;
      }, shown);
      memory.resetPeak();
      const rss = memory.rssMb();
      const started = Date.now();
      await page.setInputFiles(input, file(name));
      await page.waitForFunction((sel) => document.querySelector(sel).textContent.trim() !== '', shown, { timeout: 60_000 });
      const seconds = (Date.now() - started) / 1000;
      const text = await textOf(page, shown);
      const longestTaskMs = await page.evaluate(() => window.longestTask);
      console.log(JSON.stringify({
        file: name, input, bytes: fs.statSync(file(name)).size, seconds, longest_main_thread_task_ms: Math.round(longestTaskMs),
        renderer_peak_growth_mb: Math.round(memory.peakMb() - rss), message: text.slice(0, 160),
      }));
      assert.match(text, message, `${name} through ${input}`);
      // Nothing lost: the same model classifies, the dataset is the real one.
      assert.equal(await textOf(page, '#model-info'), model, `${name}: the model in use`);
      assert.equal((await drawAndClassify(page)).length, 10, `${name}: the pad still classifies`);
      await assertRealDataset(page, `${name}: `);
    }
    // And the saved run is still this browser's: after a reload it is restored.
    await reload(page);
    await page.waitForFunction(() => /Restored from this browser: epoch 1 of 1/.test(document.getElementById('model-info').textContent), null, { timeout: 60_000 });
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a real panic in the page's module: a fresh instance, the same model, the run goes on", { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, model } = await cpuRun(browser, { limit: 3000, epochs: 3, seed: 3 }, () => window.fashionTest.lastEpoch() >= 1, 120_000);
    assert.match(model, /Ready model/);
    // A real model file, under the name the test interface armed: the classifier's reader
    // panics inside the page's module.
    const ready = fs.readFileSync(path.join(ROOT, 'models/ready.safetensors'));
    await page.evaluate(() => window.fashionTest.injectPanic('page', 'boom.safetensors'));
    await page.setInputFiles('#load-model', { name: 'boom.safetensors', mimeType: 'application/octet-stream', buffer: ready });
    // First what happened, then (the fresh instance in use) that nothing was lost.
    await page.waitForFunction(() => /boom\.safetensors stopped the page's module|page's module stopped/.test(document.getElementById('draw-error').textContent));
    await page.waitForFunction(() => /page's module stopped \(a panic injected by the test interface while reading boom\.safetensors\); it was restarted and the same model is in use/.test(document.getElementById('draw-error').textContent),
      null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => window.fashionTest.pageInstances()), 2);
    assertInjectedPanic(errors);
    // The model the panic could have lost is the one in use, and it answers in the new instance
    // (the run's new epochs replace it as they come, as they would have anyway).
    assert.equal((await drawAndClassify(page)).length, 10);
    await waitForStatus(page, /Finished 3 epochs/, 300_000);
    assert.match(await textOf(page, '#model-info'), /Trained here: epoch 3 of 3/);
    // The new instance is not armed: the same file now loads.
    await page.setInputFiles('#load-model', { name: 'boom.safetensors', mimeType: 'application/octet-stream', buffer: ready });
    await page.waitForFunction(() => /Loaded from boom\.safetensors/.test(document.getElementById('model-info').textContent), null, { timeout: 60_000 });
    assert.equal((await drawAndClassify(page)).length, 10);
  } finally {
    await browser.close();
  }
});

test('a real panic in the CPU worker: restarted, the dataset back, the run continues from its checkpoint', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors, model } = await cpuRun(browser, { limit: 20000, epochs: 4, seed: 5 }, () => window.fashionTest.checkpointEpoch() >= 1, 240_000);
    // A real PyTorch file, under the armed name: the worker's model reader panics.
    await page.evaluate(() => window.fashionTest.injectPanic('worker', 'boom.pt'));
    await page.setInputFiles('#load-model', { name: 'boom.pt', mimeType: 'application/octet-stream', buffer: fs.readFileSync(path.join(ROOT, 'tests/fixtures/pytorch/sequential.pt')) });
    await page.waitForFunction(() => /training worker stopped \(.*a panic injected by the test interface while reading boom\.pt.*\)\. Training continues on the CPU from epoch \d, its last checkpoint/.test(document.getElementById('error').textContent),
      null, { timeout: 60_000 });
    assert.match(await textOf(page, '#draw-error'), /boom\.pt was refused/);
    assertInjectedPanic(errors);
    await waitForStatus(page, /Finished 4 epochs/, 300_000);
    assert.match(await textOf(page, '#model-info'), /Trained here: epoch 4 of 4/);
    await assertRealDataset(page);
    assert.match(model, /Ready model/);
  } finally {
    await browser.close();
  }
});

/** Swaps the two dimensions of `tensor`'s declared shape in the checkpoint of the run this
 * browser keeps (IndexedDB), as a damaged or edited record would: the same number of values, so
 * only the shape tells. */
function transposeSavedCheckpoint(page, tensor) {
  return page.evaluate((name) => new Promise((resolve, reject) => {
    const req = indexedDB.open('fashion-mlp', 1);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction('models', 'readwrite');
      const store = tx.objectStore('models');
      const get = store.get('trained');
      get.onsuccess = () => {
        const record = get.result;
        const bytes = record.checkpoint;
        const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
        const header = new TextDecoder().decode(bytes.subarray(8, 8 + length));
        const shape = /\[(\d+),(\d+)\]/.exec(header.slice(header.indexOf(`"${name}"`)));
        const at = 8 + header.indexOf(shape[0], header.indexOf(`"${name}"`));
        bytes.set(new TextEncoder().encode(`[${shape[2]},${shape[1]}]`), at);
        store.put(record, 'trained');
      };
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  }), tensor);
}

test('a damaged checkpoint in this browser: Resume says which tensor, and the run and its model stay', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    // 60 steps an epoch: Stop lands before the run's end (as in recovery.test.mjs).
    const { page, errors } = await cpuRun(browser, { batch: 100, limit: 6000, epochs: 6, seed: 3 },
      () => /Stopped after epoch/.test(document.getElementById('status').textContent), 120_000, { stopAfter: 1 });
    const epoch = await page.evaluate(() => window.fashionTest.lastEpoch());
    assert.ok(epoch >= 1 && epoch < 6, `stopped after epoch ${epoch}`);
    await page.waitForFunction((e) => window.fashionTest.checkpointEpoch() === e, epoch);
    await transposeSavedCheckpoint(page, 'adam.m.layers.0.weight');
    await reload(page);
    await page.waitForFunction((e) => new RegExp(`Restored from this browser: epoch ${e} of 6`).test(document.getElementById('model-info').textContent), epoch, { timeout: 60_000 });
    await waitForStatus(page, /Ready to train/);
    const model = await textOf(page, '#model-info');
    const before = await drawAndClassify(page);
    assert.equal(await textOf(page, '#resume'), `Resume from epoch ${epoch}`);

    const memory = await renderers(browser);
    memory.resetPeak();
    const rss = memory.rssMb();
    const started = Date.now();
    await page.click('#resume');
    await page.waitForFunction(() => document.getElementById('error').textContent.trim() !== '', null, { timeout: 60_000 });
    const message = await textOf(page, '#error');
    console.log(JSON.stringify({ file: 'checkpoint in IndexedDB, adam.m.layers.0.weight transposed', input: '#resume', seconds: (Date.now() - started) / 1000,
      renderer_peak_growth_mb: Math.round(memory.peakMb() - rss), message }));
    assert.match(message, /^The run's last checkpoint cannot be continued: adam\.m\.layers\.0\.weight has shape \[256, 784\] \(200704 values\), but layers\.0\.weight has shape \[784, 256\]/);
    assert.match(message, new RegExp(`The model of epoch ${epoch} is kept`));
    await waitForStatus(page, /Training stopped by an error/);
    // Nothing lost: the same model answers the same, the run can still be resumed (the record is
    // the user's to discard), the dataset is the real one, and all of it survives a reload.
    assert.equal(await textOf(page, '#model-info'), model);
    assert.deepEqual(await drawAndClassify(page), before);
    assert.equal(await page.isVisible('#resume'), true);
    assert.equal(await page.isDisabled('#train'), false);
    await assertRealDataset(page);
    await reload(page);
    await page.waitForFunction((e) => new RegExp(`Restored from this browser: epoch ${e} of 6`).test(document.getElementById('model-info').textContent), epoch, { timeout: 60_000 });
    assert.equal(await textOf(page, '#resume'), `Resume from epoch ${epoch}`);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
