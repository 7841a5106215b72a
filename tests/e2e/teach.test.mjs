// End-to-end: teaching the model your drawings on the page, in headless Debian Chromium on the
// CPU fallback. A test image is kept with its class ("That's a ..."); a set of outline drawings
// made by the CLI (`fashion drawings`) is imported; a thumbnail is relabelled and one deleted;
// "Show why" and the first layer's images are drawn; Teach runs in the CPU worker with progress and
// shows the held-out and test-set figures before and after; the taught model is used only when
// the user says so, and survives a reload. Bad sets (a picture, another class list) are refused
// with a message and the set stays as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, open, FASHION_CLI, assertNoPanics, stroke, reload, setSettings } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

const summary = (page) => page.textContent('#teach-summary');

async function waitFor(page, selector, pattern, timeout = 60_000) {
  await page.waitForFunction(([sel, src]) => new RegExp(src).test(document.querySelector(sel).textContent), [selector, pattern.source], { timeout });
}

/** Opens the page (WebGPU or not) with the ready model in use and a set of ten outline drawings
 * a class made by the CLI (`fashion drawings`) in a fresh folder, runs `body`, then closes. */
async function withOutlines({ webgpu }, body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'teach-'));
  const set = path.join(dir, 'outlines.json');
  execFileSync(FASHION_CLI, ['drawings', '--per-class', '10', '--seed', '5', '--out', set], { stdio: 'pipe' });
  const browser = await launch({ webgpu });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=1000`);
    await waitFor(page, '#model-info', /Ready model/);
    await body({ page, errors, dir, set });
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('keep drawings, import a set, teach, use the taught model; bad sets change nothing', { timeout: 300_000 }, () => withOutlines({ webgpu: false }, async ({ page, errors, dir, set }) => {
  assert.match(await summary(page), /No drawings kept yet/);
  assert.ok(await page.isDisabled('#teach-keep'), 'nothing to keep before anything is shown');

  // "That's a ...": a test image, its class chosen by hand, kept.
  await page.waitForFunction(() => !document.getElementById('test-show').disabled, null, { timeout: 120_000 });
  await page.fill('#test-index', '1');
  await page.click('#test-show');
  await page.waitForFunction(() => !document.getElementById('teach-keep').disabled);
  // Show why: the preview turns into red and blue pixels for the top class, in a few ms.
  const whyMs = await page.evaluate(() => { const t = performance.now(); document.getElementById('show-why').click(); return performance.now() - t; });
  console.log(`showing why (gradient x input and painting it) on the main thread: ${whyMs.toFixed(1)} ms`);
  await waitFor(page, '#preview-caption', /^Red pushed toward Pullover, blue away from it$/);
  const coloured = await page.evaluate(() => {
    const d = document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data;
    let red = 0, blue = 0;
    for (let i = 0; i < d.length; i += 4) { if (d[i] > d[i + 2] + 60) red++; if (d[i + 2] > d[i] + 60) blue++; }
    return { red, blue };
  });
  assert.ok(coloured.red > 10 && coloured.blue > 10, JSON.stringify(coloured));
  await page.click('#show-why');
  await waitFor(page, '#preview-caption', /^What the model sees/);
  // The first layer's 256 units as images.
  await page.click('#weights-box summary');
  await page.waitForFunction(() => document.getElementById('weights').width === 16 * 29 - 1);
  await page.selectOption('#teach-class', '2');
  await page.click('#teach-keep');
  await waitFor(page, '#teach-summary', /^1 drawing kept: 1 Pullover\./);

  // A set of 100 outline drawings imported and added.
  await page.setInputFiles('#teach-import', set);
  await waitFor(page, '#teach-summary', /^101 drawings kept: 10 T-shirt\/top, 10 Trouser, 11 Pullover/);

  // The thumbnails: one relabelled, one deleted, one drawn, kept with its strokes, shown
  // again from its thumbnail and deleted again.
  await page.click('#teach-list summary');
  await page.waitForFunction(() => document.querySelectorAll('#teach-thumbs li').length === 101);
  await page.selectOption('#teach-thumbs li[data-index="0"] select', '4');
  await waitFor(page, '#teach-summary', /^101 drawings kept: 10 T-shirt\/top, 10 Trouser, 10 Pullover, 10 Dress, 11 Coat/);
  const trousers = [[[110, 40], [100, 240]], [[170, 40], [180, 240]], [[110, 40], [170, 40]]];
  for (const line of trousers) await stroke(page, line);
  await page.waitForFunction(() => window.fashionTest.classify().inputLabel === 'your drawing');
  const drawnProbabilities = await page.evaluate(() => window.fashionTest.classify().probabilities);
  await page.selectOption('#teach-class', '1');
  await page.click('#teach-keep');
  await waitFor(page, '#teach-summary', /^102 drawings kept/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#teach-export')]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  const drawn = exported.drawings[101];
  assert.equal(drawn.label, 1);
  assert.equal(drawn.strokes.length, 3, 'the strokes are kept with the drawing');
  assert.ok(drawn.brush > 0 && drawn.strokes.every((s) => s.length >= 2));
  assert.equal(exported.drawings[0].strokes, undefined, 'a test image has no strokes');
  await page.click('#clear');
  await page.click('#teach-thumbs li[data-index="101"] canvas');
  await page.waitForFunction(() => window.fashionTest.classify().inputLabel === 'your drawing');
  const redrawn = await page.evaluate(() => window.fashionTest.classify().probabilities);
  const gap = Math.max(...redrawn.map((p, i) => Math.abs(p - drawnProbabilities[i])));
  assert.ok(gap < 0.05, `the redrawn strokes read as the drawing did (largest difference ${gap})`);
  await page.click('#teach-thumbs li[data-index="101"] button');
  await waitFor(page, '#teach-summary', /^101 drawings kept: 10 T-shirt\/top, 10 Trouser, 10 Pullover, 10 Dress, 11 Coat/);
  assert.equal(await page.locator('#teach-thumbs li').count(), 101);

  // Bad sets: refused with a message, the set as it was.
  const png = path.join(dir, 'photo.png');
  fs.writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
  await page.setInputFiles('#teach-import', png);
  await waitFor(page, '#draw-error', /photo\.png: .*neither a drawing set/);
  const digits = path.join(dir, 'digits.json');
  const text = fs.readFileSync(set, 'utf8').replace('"T-shirt/top"', '"zero"');
  fs.writeFileSync(digits, text);
  await page.setInputFiles('#teach-import', digits);
  await waitFor(page, '#draw-error', /digits\.json: the drawings were labelled for another class list/);
  assert.match(await summary(page), /^101 drawings kept/);

  // Cancel, sent right behind Teach: the worker stops before the first chunk, nothing changes.
  const shown = await page.textContent('#model-info');
  await page.evaluate(() => { document.getElementById('teach-run').click(); document.getElementById('teach-cancel').click(); });
  await waitFor(page, '#draw-error', /Teaching stopped: teaching was cancelled; the model in use is unchanged/);
  assert.ok(await page.isHidden('#teach-result'));
  assert.equal(await page.textContent('#model-info'), shown);
  assert.ok(!(await page.isDisabled('#teach-run')), 'Teach can run again');

  // Teach: progress, then before/after; the model in use is unchanged until Use.
  const before = await page.textContent('#model-info');
  const t0 = Date.now();
  await page.click('#teach-run');
  await waitFor(page, '#teach-figures', /Taught 101 drawings on the CPU in [\d.]+ s: your drawings .* → .*Fashion-MNIST test set .*% → .*%/, 120_000);
  console.log(`teaching 101 drawings in the page's CPU worker (5 folds and the final model, test set scored before and after): ${Date.now() - t0} ms; ${await page.textContent('#teach-figures')}`);
  if (process.env.TEACH_SCREENSHOT) await page.locator('section.draw').screenshot({ path: process.env.TEACH_SCREENSHOT });
  assert.equal(await page.textContent('#model-info'), before, 'nothing replaced before the user decides');
  await page.click('#teach-use');
  await waitFor(page, '#model-info', /Taught 101 of your drawings: \d+\.\d\d% test accuracy/);
  assert.ok(await page.isHidden('#teach-result'));

  // A reload keeps the taught model in use, the set, and the model before teaching one click away.
  await reload(page);
  await waitFor(page, '#model-info', /Taught 101 of your drawings/);
  await waitFor(page, '#teach-summary', /^101 drawings kept: 10 T-shirt\/top, 10 Trouser, 10 Pullover, 10 Dress, 11 Coat/);
  await page.waitForFunction(() => !document.getElementById('use-previous').hidden);
  // Taught again: the model before (the first taught one) stays one click away, after a reload too.
  await page.click('#teach-run');
  await waitFor(page, '#teach-figures', /Taught 101 drawings/, 120_000);
  await page.click('#teach-use');
  await page.waitForFunction(() => !document.getElementById('use-previous').hidden);
  await reload(page);
  await waitFor(page, '#model-info', /Taught 101 of your drawings/);
  await page.waitForFunction(() => !document.getElementById('use-previous').hidden);
  await page.click('#use-previous');
  await waitFor(page, '#model-info', /Taught 101 of your drawings/);
  assert.ok(await page.isHidden('#use-previous'));
  await reload(page);
  await waitFor(page, '#model-info', /Taught 101 of your drawings/);
  assert.ok(await page.isHidden('#use-previous'), 'once used, the model before teaching is not offered again');
  await page.click('#use-ready');
  await waitFor(page, '#model-info', /Ready model/);
  assertNoPanics(errors);
}));

/** The figures of a teaching: [drawings after, test set after] in percent. */
async function figures(page) {
  const text = await page.textContent('#teach-figures');
  const m = text.match(/your drawings [\d.]+% → ([\d.]+)%.*test set [\d.]+% → ([\d.]+)%/);
  assert.ok(m, text);
  return [Number(m[1]), Number(m[2])];
}

test('teaching on WebGPU (SwiftShader) when the settings ask for it: the CPU\'s figures, the taught model used; a GPU lost mid-teaching changes nothing', { timeout: 300_000 }, () => withOutlines({ webgpu: true }, async ({ page, errors, set }) => {
  await page.waitForFunction(() => window.fashionTest.dataset().ready, null, { timeout: 120_000 });
  await page.setInputFiles('#teach-import', set);
  await waitFor(page, '#teach-summary', /^100 drawings kept/);
  await setSettings(page, { backend: 'cpu' });
  await page.click('#teach-run');
  await waitFor(page, '#teach-figures', /Taught 100 drawings on the CPU in/, 120_000);
  const onCpu = await figures(page);
  await page.click('#teach-discard');
  await setSettings(page, { backend: 'webgpu' });
  const t0 = Date.now();
  await page.click('#teach-run');
  await page.waitForFunction(() => /Teaching on WebGPU: step \d+ of \d+/.test(document.getElementById('teach-summary').textContent), null, { timeout: 120_000 });
  await waitFor(page, '#teach-figures', /Taught 100 drawings on WebGPU in [\d.]+ s: your drawings/, 240_000);
  const onGpu = await figures(page);
  console.log(`teaching 100 drawings on WebGPU (SwiftShader): ${Date.now() - t0} ms; ${await page.textContent('#teach-figures')} (the CPU: ${onCpu.join('% / ')}%)`);
  assert.ok(Math.abs(onGpu[0] - onCpu[0]) <= 5, `held-out drawings: WebGPU ${onGpu[0]}%, CPU ${onCpu[0]}%`);
  assert.ok(Math.abs(onGpu[1] - onCpu[1]) <= 1, `test set: WebGPU ${onGpu[1]}%, CPU ${onCpu[1]}%`);
  await page.click('#teach-use');
  await waitFor(page, '#model-info', /Taught 100 of your drawings: \d+\.\d\d% test accuracy/);

  // The GPU lost in the middle of a teaching (as a driver reset does): a message, the model in
  // use and the set unchanged; WebGPU is refused with the reason until a reload.
  const inUse = await page.textContent('#model-info');
  await page.click('#teach-run');
  await page.waitForFunction(() => /Teaching on WebGPU: step [1-9]/.test(document.getElementById('teach-summary').textContent), null, { timeout: 120_000 });
  await page.evaluate(() => window.fashionTest.debug('lose_gpu'));
  await waitFor(page, '#draw-error', /^Teaching stopped: the GPU device was lost .*; the model in use is unchanged$/, 120_000);
  console.log(`the GPU lost while teaching: ${await page.textContent('#draw-error')}`);
  assert.equal(await page.textContent('#model-info'), inUse);
  assert.ok(await page.isHidden('#teach-result'));
  await waitFor(page, '#teach-summary', /^100 drawings kept/);
  await page.click('#teach-run');
  await waitFor(page, '#draw-error', /^Teaching stopped: .*GPU was lost/);
  assert.equal(await page.textContent('#model-info'), inUse);
  assertNoPanics(errors);
}));
