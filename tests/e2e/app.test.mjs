// End-to-end: the page served as the run command serves it, in headless Debian Chromium, with
// WebGPU (SwiftShader) and without any adapter (the CPU fallback).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch, open, waitForStatus, setSettings, assertNoPanics, ROOT } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

/** Sum of a canvas' pixels that differ from its top-left pixel (0 = nothing drawn). */
/** Pixels a chart drew (the render worker counts them on its canvas). */
const drawnPixels = (page, key) => page.evaluate((k) => window.fashionTest.chartPixels(k), key);

test('trains on WebGPU (SwiftShader): accuracy reported, confusion matrix drawn', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=500`);
    await waitForStatus(page, /Ready to train/);
    await setSettings(page, { recipe: 'reference', backend: 'webgpu', epochs: 1, limit: 1000, batch: 64 });
    await page.click('#train');
    const status = await waitForStatus(page, /Training on WebGPU/, 120_000);
    assert.match(status, /WebGPU \(.+\)/, 'the adapter is named');
    await waitForStatus(page, /Finished 1 epochs/, 500_000);
    const app = await page.evaluate(() => ({ acc: window.fashionTest.history().testAcc, cm: window.fashionTest.confusion(), backend: window.fashionTest.backend() }));
    assert.equal(app.backend.backend, 'webgpu');
    assert.equal(app.acc.length, 1);
    assert.ok(app.acc[0][1] > 0.4, `accuracy after one short epoch on WebGPU: ${app.acc[0][1]}`);
    assert.equal(app.cm.flat().reduce((a, b) => a + b, 0), 500);
    assert.match(await page.textContent('#s-acc'), /%$/);
    assert.ok(await drawnPixels(page, 'confusion') > 1000, 'confusion matrix drawn');
    assert.ok(await drawnPixels(page, 'grid') > 1000, 'prediction grid drawn');
    assertNoPanics(errors);
    await page.screenshot({ path: process.env.SCREENSHOT_DIR ? `${process.env.SCREENSHOT_DIR}/webgpu.png` : '/tmp/fashion-webgpu.png', fullPage: true });
  } finally {
    await browser.close();
  }
});

test('falls back to the CPU without a WebGPU adapter, stays responsive, pause/resume/stop work', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=2000`);
    await waitForStatus(page, /Ready to train/);
    const readyMs = await page.evaluate(() => performance.now());
    console.log(`page load to dataset ready (download + parse in the worker): ${readyMs.toFixed(0)} ms; ${await page.textContent('#data-info')}`);
    // Watch the main thread: long tasks and the largest gap between animation frames.
    await page.evaluate(() => {
      window.jank = { longTasks: [], maxFrameGap: 0 };
      new PerformanceObserver((l) => l.getEntries().forEach((e) => window.jank.longTasks.push(e.duration))).observe({ type: 'longtask', buffered: false });
      let last = performance.now();
      const tick = (t) => { window.jank.maxFrameGap = Math.max(window.jank.maxFrameGap, t - last); last = t; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    // Enough epochs that the run is still going when Stop is clicked (an epoch of 12k images
    // takes well under a second here: a 3-epoch run could finish first).
    await setSettings(page, { recipe: 'reference', backend: 'auto', epochs: 30, limit: 12000, batch: 64 });
    await page.click('#train');
    const status = await waitForStatus(page, /Training on the CPU/);
    assert.match(status, /no adapter|WebGPU/, `the fallback reason is shown: ${status}`);
    assert.equal(await page.textContent('#s-backend'), 'CPU');
    await waitForStatus(page, /Epoch 1 of 30/, 300_000);

    await page.click('#pause');
    await waitForStatus(page, /Paused/);
    const steps = () => page.evaluate(() => window.fashionTest.history().liveLoss.length);
    const before = await steps();
    await page.waitForTimeout(1500);
    assert.equal(await steps(), before, 'no progress while paused');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
    await page.click('#pause');
    await waitForStatus(page, /resumed|Epoch/);
    await page.waitForFunction((n) => window.fashionTest.history().liveLoss.length > n, before, { timeout: 60_000 });
    await page.click('#stop');
    await waitForStatus(page, /Stopped after epoch/);
    assert.equal(await page.isDisabled('#train'), false, 'can train again');

    const app = await page.evaluate(() => ({ acc: window.fashionTest.history().testAcc, jank: window.jank }));
    assert.ok(app.acc[0][1] > 0.7, `CPU accuracy after one epoch of 12k images: ${app.acc[0][1]}`);
    const maxLong = Math.max(0, ...app.jank.longTasks);
    console.log(`main thread while training: ${app.jank.longTasks.length} long tasks, longest ${maxLong.toFixed(0)} ms, largest frame gap ${app.jank.maxFrameGap.toFixed(0)} ms`);
    // A structural check, not a speed target (the figure above is printed for the README): a
    // training chunk run on the main thread would block it for seconds, while page work alone
    // stays far below this even on a loaded 2-core machine (475 ms measured beside a fuzzer).
    assert.ok(maxLong < 2000, `longest main-thread task ${maxLong} ms: is training on the main thread?`);
    assertNoPanics(errors);
    await page.screenshot({ path: '/tmp/fashion-cpu.png', fullPage: true });
  } finally {
    await browser.close();
  }
});

test('a corrupt dataset file gives a clear message', { timeout: 120_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    await page.route('**/data/t10k-labels-idx1-ubyte.gz', (route) => route.fulfill({ status: 200, contentType: 'application/gzip', body: Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) }));
    await page.goto(server.url);
    await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 60_000 });
    const text = await page.textContent('#error');
    assert.match(text, /t10k-labels-idx1-ubyte\.gz: corrupt gzip data/);
    assert.equal(await page.isDisabled('#train'), true);
  } finally {
    await browser.close();
  }
});

/** A Kaggle-layout CSV of the first `n` images of an IDX image and label file pair (gzipped). */
function kaggleCsv(images, labels, n) {
  const pixels = zlib.gunzipSync(fs.readFileSync(images)).subarray(16);
  const classes = zlib.gunzipSync(fs.readFileSync(labels)).subarray(8);
  const rows = ['label,' + Array.from({ length: 784 }, (_, i) => `pixel${i + 1}`).join(',')];
  for (let i = 0; i < n; i += 1) rows.push(`${classes[i]},${Array.from(pixels.subarray(i * 784, (i + 1) * 784)).join(',')}`);
  return Buffer.from(rows.join('\n') + '\n');
}

test("the user's own files: four IDX files, then two Kaggle CSVs, read by the worker in slices, train", { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=300`);
    await waitForStatus(page, /Ready to train/);
    const data = (name) => path.join(ROOT, 'dist-test/data', name);
    const idx = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
    await page.setInputFiles('#files', idx.map(data));
    await page.waitForFunction(() => /60,000 training and 10,000 test images ready \(your files: /.test(document.getElementById('data-info').textContent), null, { timeout: 60_000 });
    const csvs = [
      { name: 'mine-train.csv', mimeType: 'text/csv', buffer: kaggleCsv(data(idx[0]), data(idx[1]), 3000) },
      { name: 'mine-test.csv', mimeType: 'text/csv', buffer: kaggleCsv(data(idx[2]), data(idx[3]), 1000) },
    ];
    await page.setInputFiles('#files', csvs);
    await page.waitForFunction(() => /3,000 training and 1,000 test images ready \(your files: mine-train\.csv, mine-test\.csv\)/.test(document.getElementById('data-info').textContent), null, { timeout: 60_000 });
    const inUse = await page.evaluate(() => window.fashionTest.dataset());
    assert.deepEqual([inUse.train, inUse.test], [3000, 1000]);
    // The page keeps the worker's compact copy (raw IDX), not the files on disk.
    assert.deepEqual(await page.evaluate(() => window.fashionTest.datasetFiles()), [
      { name: 'train-images-idx3-ubyte', bytes: 16 + 3000 * 784, file: false },
      { name: 'train-labels-idx1-ubyte', bytes: 8 + 3000, file: false },
      { name: 't10k-images-idx3-ubyte', bytes: 16 + 1000 * 784, file: false },
      { name: 't10k-labels-idx1-ubyte', bytes: 8 + 1000, file: false },
    ]);

    // Every worker that trains gets the same files (the second CPU worker reads them too).
    await setSettings(page, { recipe: 'reference', backend: 'cpu', epochs: 2, batch: 100 });
    await page.click('#train');
    await waitForStatus(page, /Finished 2 epochs: test accuracy/, 240_000);
    const acc = await page.evaluate(() => window.fashionTest.history().testAcc.at(-1)[1]);
    assert.ok(acc > 0.6, `test accuracy ${acc} after two epochs on 3,000 real images`);
    // A restarted worker gets the dataset back from the page's copy.
    await page.evaluate(() => window.fashionTest.crashWorker('a crash for the test'));
    assert.match(await page.textContent('#error'), /it has been restarted/);
    await page.waitForFunction(() => window.fashionTest.dataset().ready, null, { timeout: 60_000 });
    assert.match(await page.textContent('#data-info'), /3,000 training and 1,000 test images ready \(your files: mine-train\.csv, mine-test\.csv\)/);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
