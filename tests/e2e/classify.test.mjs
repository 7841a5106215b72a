// End-to-end: drawing and classifying on the page, the ready model, saved models (IndexedDB,
// download/load, corrupt files, PyTorch files in and out), resuming after a reload, in headless
// Debian Chromium against the page served as the run command serves it. (Crashes and a lost GPU:
// recovery.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, open, waitForStatus, setSettings, ROOT, FASHION_CLI, assertNoPanics, safetensorsHeader, stroke, reload } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

const READY = path.join(ROOT, 'models/ready.safetensors');

async function modelReady(page, pattern = /Ready model/) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('model-info').textContent), pattern.source, { timeout: 60_000 });
}

const probabilities = (page) => page.evaluate(() => Array.from(window.fashionTest.classify().probabilities ?? []));

async function classifyTestImage(page, index) {
  await page.waitForFunction(() => !document.getElementById('test-show').disabled, null, { timeout: 60_000 });
  await page.fill('#test-index', String(index));
  await page.click('#test-show');
  await page.waitForFunction((i) => window.fashionTest.classify().inputLabel?.startsWith(`test image ${i} `), index, { timeout: 30_000 });
  return probabilities(page);
}

function argmax(p) { return p.indexOf(Math.max(...p)); }

test('drawing on the pad gives live probabilities from the ready model, before any training', { timeout: 180_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, server.url);
    await modelReady(page);
    const t = await page.evaluate(() => window.fashionTest.timings().classifierReadyMs);
    console.log(`page load to first possible prediction (ready model loaded): ${t.toFixed(0)} ms`);
    const { __metadata__: meta } = safetensorsHeader(fs.readFileSync(path.join(ROOT, 'models/ready.safetensors'))).header;
    const shipped = (100 * Number(meta.test_accuracy)).toFixed(2);
    assert.ok((await page.textContent('#model-info')).includes(`${shipped}% test accuracy`), `the shipped model's ${shipped}% is shown`);
    assert.equal(await page.textContent('#top-class'), 'Nothing drawn yet');

    // Trousers: a waistband and two legs, drawn with a wide brush.
    await page.fill('#brush', '30');
    await page.dispatchEvent('#brush', 'input');
    await stroke(page, [[90, 40], [190, 40]]);
    await stroke(page, [[100, 40], [95, 150], [92, 255]]);
    await stroke(page, [[180, 40], [185, 150], [188, 255]]);
    const p = await probabilities(page);
    assert.equal(p.length, 10);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4, `probabilities sum to 1: ${p}`);
    const top = await page.textContent('#top-class');
    const names = await page.$$eval('#probs li .name', (els) => els.map((e) => e.textContent));
    assert.ok(top.startsWith(names[0]), `the top class is shown first: ${top} / ${names[0]}`);
    assert.equal(names[0], 'Trouser', `drawn trousers read as ${top}`);
    const lit = await page.evaluate(() => {
      const d = document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 40) n++;
      return n;
    });
    assert.ok(lit > 60, `the 28x28 preview shows the drawing (${lit} lit pixels)`);
    const stats = await page.evaluate(() => window.fashionTest.classify().stats);
    console.log(`drawing -> probabilities: median ${stats.median.toFixed(2)} ms, p95 ${stats.p95.toFixed(2)} ms over ${stats.count} predictions (live while drawing and after each stroke)`);
    assert.ok(stats.count > 3, 'predictions while drawing, not only at the end');

    // Undo the legs, then clear by keyboard: a blank pad is not a garment.
    await page.click('#undo');
    assert.notDeepEqual(await probabilities(page), p);
    await page.focus('#pad');
    await page.keyboard.press('Delete');
    assert.equal(await page.textContent('#top-class'), 'Nothing drawn yet');
    await page.keyboard.press('Control+z');
    assert.notEqual(await page.textContent('#top-class'), 'Nothing drawn yet', 'undo brings the strokes back');

    // An uploaded picture of any size and colour: a big colour PNG of a dataset bag.
    await page.setInputFiles('#picture', path.join(ROOT, 'tests/e2e/fixtures/bag.png'));
    await page.waitForFunction(() => window.fashionTest.classify().inputLabel === 'picture bag.png', null, { timeout: 30_000 });
    const bag = await probabilities(page);
    assert.equal(argmax(bag), 8, `the bag picture reads as ${bag}`);
    // A file that is not a picture is a clear message.
    await page.setInputFiles('#picture', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a png') });
    await page.waitForFunction(() => /notes\.png could not be read/.test(document.getElementById('draw-error').textContent));
    assert.deepEqual(await probabilities(page), bag, 'the last result stays');
    assertNoPanics(errors);
    await page.screenshot({ path: '/tmp/fashion-draw.png', fullPage: true });
  } finally {
    await browser.close();
  }
});

test('test images classified on the page match the CLI for the same model', { timeout: 180_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await open(browser, server.url);
    await modelReady(page);
    for (const index of [0, 1, 42, 1234, 9999]) {
      const onPage = await classifyTestImage(page, index);
      const cli = JSON.parse(execFileSync(FASHION_CLI, ['predict', '--json', '--index', String(index), '--model', READY], { encoding: 'utf8' }));
      assert.equal(argmax(onPage), cli.predicted, `test image ${index}`);
      onPage.forEach((v, c) => assert.ok(Math.abs(v - cli.probabilities[c]) < 1e-4, `image ${index} class ${c}: ${v} vs ${cli.probabilities[c]}`));
    }
    // The keyboard path: type an index and press Enter.
    await page.fill('#test-index', '7');
    await page.press('#test-index', 'Enter');
    await page.waitForFunction(() => window.fashionTest.classify().inputLabel?.startsWith('test image 7 '));
  } finally {
    await browser.close();
  }
});

test('a trained model survives a reload, resumes, downloads and loads back, and stays restorable after a new run; bad model files are refused', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=500`);
    await waitForStatus(page, /Ready to train/);
    await modelReady(page);
    await setSettings(page, { recipe: 'reference', backend: 'cpu', epochs: 4, limit: 6000, batch: 64 });
    await page.click('#train');
    await modelReady(page, /Trained here: epoch 1 of 4/);
    await page.click('#stop');
    await waitForStatus(page, /Stopped after epoch/);
    const stoppedAt = await page.evaluate(() => window.fashionTest.lastEpoch());
    const trained = await classifyTestImage(page, 3);

    // Reload: the model, its metrics and the run come back from IndexedDB.
    await reload(page);
    await modelReady(page, new RegExp(`Restored from this browser: epoch ${stoppedAt} of 4`));
    assert.deepEqual(await classifyTestImage(page, 3), trained, 'same predictions after the reload');
    assert.equal(await page.inputValue('#limit'), '6000', 'the run\'s settings are restored');
    assert.equal((await page.evaluate(() => window.fashionTest.history().testAcc)).length, stoppedAt);

    // Download, switch to the ready model, load the download: the same predictions again.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fashion-')), download.suggestedFilename());
    await download.saveAs(file);
    await page.click('#use-ready');
    await modelReady(page);
    assert.notDeepEqual(await probabilities(page), trained);
    await page.setInputFiles('#load-model', file);
    await modelReady(page, /Loaded from fashion-mlp-epoch\d\.safetensors/);
    assert.deepEqual(await probabilities(page), trained, 'download then load gives the same predictions');

    // A corrupt file and a truncated one are refused; the loaded model keeps working.
    const bytes = fs.readFileSync(file);
    for (const [name, buffer] of [['garbage.safetensors', Buffer.from('definitely not a model')], ['cut.safetensors', bytes.subarray(0, bytes.length - 1000)]]) {
      await page.setInputFiles('#load-model', { name, mimeType: 'application/octet-stream', buffer });
      await page.waitForFunction((n) => document.getElementById('draw-error').textContent.includes(`${n} was refused`), name);
      assert.match(await page.textContent('#model-info'), /Loaded from fashion-mlp-epoch/);
      assert.deepEqual(await classifyTestImage(page, 3), trained);
    }

    // Resume the stopped run after the reload: it finishes its four epochs.
    await reload(page);
    await waitForStatus(page, /Ready to train/);
    await page.waitForSelector('#resume:not([hidden])');
    assert.match(await page.textContent('#resume'), /Resume from epoch/);
    await page.click('#resume');
    await waitForStatus(page, /Finished 4 epochs/, 300_000);
    const acc = await page.evaluate(() => window.fashionTest.history().testAcc.map(([e]) => e));
    assert.deepEqual(acc, [1, 2, 3, 4], 'history continues from the saved epoch');

    // A new run keeps the finished one as the previous run, restorable with its model.
    assert.ok(await page.isHidden('#previous-run'));
    await setSettings(page, { recipe: 'reference', backend: 'cpu', epochs: 1, limit: 2000, batch: 64 });
    await page.click('#train');
    await waitForStatus(page, /Finished 1 epochs/, 300_000);
    await page.waitForSelector('#previous-run:not([hidden])');
    assert.match(await page.textContent('#previous-run-text'), /^Previous run: epoch 4 of 4, \d+\.\d\d% test accuracy/);
    await modelReady(page, /Trained here: epoch 1 of 1/);
    await page.click('#restore-previous');
    await modelReady(page, /Restored from this browser: epoch 4 of 4/);
    await page.waitForFunction(() => /^Previous run: epoch 1 of 1/.test(document.getElementById('previous-run-text').textContent));
    await reload(page);
    await modelReady(page, /Restored from this browser: epoch 4 of 4/);
    assert.match(await page.textContent('#previous-run-text'), /^Previous run: epoch 1 of 1/);
    // Discarded by the user (after a confirmation), it is gone for good; the latest run stays.
    const asked = page.waitForEvent('dialog').then(async (d) => { const text = d.message(); await d.accept(); return text; });
    await page.click('#discard-previous');
    assert.match(await asked, /^Discard the previous run \(epoch 1 of 1\)\?/);
    await page.waitForSelector('#previous-run', { state: 'hidden' });
    await reload(page);
    await modelReady(page, /Restored from this browser: epoch 4 of 4/);
    assert.ok(await page.isHidden('#previous-run'));
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});

/** Draws a closed outline through `points` (pad coordinates) as one stroke. */
async function outline(page, points) {
  await stroke(page, [...points, points[0]]);
}

// Garments drawn the way people draw them: a closed line around the shape, the default brush.
// scripts/dev/render-drawings.py paints the same strokes into PNGs for the native tests.
const OUTLINES = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/drawings/outlines.json'), 'utf8'));

test('garments drawn as outlines on the pad are read as what they are', { timeout: 180_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, server.url);
    await modelReady(page);
    const names = await page.evaluate(() => Array.from(document.querySelectorAll('#probs li .name'), (e) => e.textContent).sort());
    for (const [garment, points] of Object.entries(OUTLINES)) {
      await page.focus('#pad');
      await page.keyboard.press('Delete');
      await outline(page, points);
      const top = await page.textContent('#top-class');
      const lit = await page.evaluate(() => {
        const d = document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
        return n;
      });
      console.log(`${garment} drawn as an outline: ${top} (${lit} bright pixels in the 28x28 input)`);
      assert.ok(top.startsWith(`${garment} ·`), `the ${garment} outline reads as ${top}`);
      await page.screenshot({ path: `/tmp/fashion-outline-${garment.replace('/', '-')}.png`, clip: await page.locator('.draw').boundingBox() });
    }
    assert.equal(names.length, 10);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});

const FIXTURES = path.join(ROOT, 'tests/fixtures/pytorch');

test('PyTorch weights load in the page, and the model downloads for PyTorch', { timeout: 180_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, server.url);
    await modelReady(page);
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'probabilities.json'), 'utf8'));
    for (const file of ['sequential.pt', 'fc.pth', 'model.safetensors']) {
      await page.setInputFiles('#load-model', path.join(FIXTURES, file));
      await modelReady(page, new RegExp(`Loaded from ${file.replace('.', '\\.')} \\(PyTorch weights\\)`));
      for (const index of [0, 1, 2]) {
        const p = await classifyTestImage(page, index);
        p.forEach((v, c) => assert.ok(Math.abs(v - expected.probabilities[index][c]) < 1e-5, `${file}, image ${index}, class ${c}: ${v} vs PyTorch ${expected.probabilities[index][c]}`));
      }
    }
    const pytorch = await classifyTestImage(page, 7);
    // Download for PyTorch, then load the download: the same predictions.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-pytorch')]);
    assert.match(download.suggestedFilename(), /-pytorch\.safetensors$/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fashion-')), download.suggestedFilename());
    await download.saveAs(file);
    const { header } = safetensorsHeader(fs.readFileSync(file));
    assert.deepEqual(Object.keys(header).filter((k) => k !== '__metadata__').sort(), ['0.bias', '0.weight', '3.bias', '3.weight', '6.bias', '6.weight', '9.bias', '9.weight']);
    assert.deepEqual(header['0.weight'].shape, [256, 784], 'PyTorch\'s [out, in] layout');
    await page.setInputFiles('#load-model', file);
    await modelReady(page, /PyTorch weights/);
    assert.deepEqual(await classifyTestImage(page, 7), pytorch);
    // Another network is refused, saying which it is; the model in use stays.
    await page.setInputFiles('#load-model', path.join(FIXTURES, 'wrong-shape.pt'));
    await page.waitForFunction(() => document.getElementById('draw-error').textContent.includes('wrong-shape.pt was refused'));
    assert.match(await page.textContent('#draw-error'), /784→128→10.*784→256→128→64→10/);
    assert.deepEqual(await classifyTestImage(page, 7), pytorch);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
