// End-to-end: the service worker. After one visit the page loads, classifies and trains with the
// server gone; a new version of the app is installed beside the old one and replaces it cleanly,
// and a tab that is training switches only once its run stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, waitForStatus, setSettings, ROOT, reload } from './harness.mjs';

/** Runs `work({server, browser, dir})` against a private copy of dist-test/ (so a test can change it
 * or take it offline), served as the run command serves it, then cleans up. */
async function onPrivateCopy(work) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fashion-dist-'));
  fs.cpSync(path.join(ROOT, 'dist-test'), dir, { recursive: true });
  const server = await serve(dir);
  const browser = await launch({ webgpu: false });
  try {
    await work({ server, browser, dir });
  } finally {
    await browser.close();
    server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function controlled(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 120_000 });
}

const appCaches = (page) => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('fashion-app-')).sort());

async function drawSomething(page) {
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.move(box.x + 60, box.y + 60);
  await page.mouse.down();
  await page.mouse.move(box.x + 220, box.y + 220, { steps: 10 });
  await page.mouse.up();
  const p = await page.evaluate(() => Array.from(window.fashionTest.classify().probabilities ?? []));
  assert.equal(p.length, 10);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4);
}

test('after one visit the page loads, classifies and trains with the server gone', { timeout: 300_000 }, () => onPrivateCopy(async ({ server, browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}?testLimit=300`);
  await waitForStatus(page, /Ready to train/);
  await controlled(page);
  // The dataset is kept once the worker has checked it.
  await page.waitForFunction(async () => (await (await caches.open('fashion-data-v1')).keys()).length === 4, null, { timeout: 60_000, polling: 250 });

  server.stop();
  await context.setOffline(true);
  await reload(page);
  await page.waitForFunction(() => /Ready model/.test(document.getElementById('model-info').textContent), null, { timeout: 60_000 });
  await drawSomething(page);
  await waitForStatus(page, /Ready to train/);
  assert.match(await page.textContent('#data-info'), /read from the browser cache/);
  await setSettings(page, { backend: 'cpu', epochs: 1, limit: 500 });
  await page.click('#train');
  await waitForStatus(page, /Finished 1 epochs/, 120_000);
}));

test('a new version installs beside the old one and replaces its cache when the user reloads', { timeout: 300_000 }, () => onPrivateCopy(async ({ server, browser, dir }) => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await controlled(page);
  const [first] = await appCaches(page);
  assert.ok(first, 'the app is cached');

  // Publish a new version: a changed page and a service worker with a new version stamp.
  const sw = path.join(dir, 'sw.js');
  const version = first.slice('fashion-app-'.length);
  fs.writeFileSync(sw, fs.readFileSync(sw, 'utf8').replace(`"${version}"`, '"second-version"'));
  const index = path.join(dir, 'index.html');
  fs.writeFileSync(index, fs.readFileSync(index, 'utf8').replace('<head>', '<head><meta name="app-build" content="second">'));

  await reload(page);
  await page.waitForSelector('#update:not([hidden])', { timeout: 120_000 });
  assert.equal(await page.$('meta[name=app-build]'), null, 'the running page keeps its own version');
  assert.deepEqual(await appCaches(page), [first, 'fashion-app-second-version'].sort(), 'both versions side by side while the old one runs');
  await Promise.all([page.waitForNavigation({ timeout: 60_000 }), page.click('#update-now')]);
  await page.waitForSelector('meta[name=app-build]', { state: 'attached', timeout: 60_000 });
  assert.deepEqual(await appCaches(page), ['fashion-app-second-version'], 'the old version\'s cache is gone');
  await page.waitForFunction(() => /Ready model/.test(document.getElementById('model-info').textContent), null, { timeout: 60_000 });
  await drawSomething(page);
}));

test('an update asked for while the tab trains waits until the run stops, then reloads', { timeout: 300_000 }, () => onPrivateCopy(async ({ server, browser, dir }) => {
  const page = await browser.newPage();
  await page.goto(`${server.url}?testLimit=200`);
  await controlled(page);
  const [first] = await appCaches(page);
  const sw = path.join(dir, 'sw.js');
  fs.writeFileSync(sw, fs.readFileSync(sw, 'utf8').replace(`"${first.slice('fashion-app-'.length)}"`, '"third-version"'));
  const index = path.join(dir, 'index.html');
  fs.writeFileSync(index, fs.readFileSync(index, 'utf8').replace('<head>', '<head><meta name="app-build" content="third">'));
  await reload(page);
  await page.waitForSelector('#update:not([hidden])', { timeout: 120_000 });
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, { recipe: 'reference', backend: 'cpu', limit: 60000, epochs: 40, batch: 64, seed: 1 });
  await page.click('#train');
  await waitForStatus(page, /Epoch \d+ of 40/, 120_000);
  await page.evaluate(() => { window.stillTheSamePage = true; });
  await page.click('#update-now');
  await page.waitForFunction(() => /applied when training stops/.test(document.getElementById('update').textContent));
  await page.waitForTimeout(3000);
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, 'the training tab did not reload');
  assert.match(await page.textContent('#status'), /Epoch \d+ of 40/, 'and it still trains');
  await Promise.all([page.waitForNavigation({ timeout: 60_000 }), page.click('#stop')]);
  await page.waitForSelector('meta[name=app-build]', { state: 'attached', timeout: 60_000 });
  await page.waitForFunction(() => /Resume|epoch/i.test(document.getElementById('model-info').textContent), null, { timeout: 60_000 });
}));

