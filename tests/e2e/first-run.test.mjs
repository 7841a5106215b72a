// End-to-end: the first run's page (scripts/run.sh serves it before the WebGPU training module is
// built). While train/modules.json says the module is building, the page says how far the build
// has got beside the backend choice and trains on the CPU, saying why; once the module is there,
// the same page (no reload) trains on WebGPU.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, serve, launch, open, waitForStatus, setSettings, assertNoPanics } from './harness.mjs';

let server;
let dir;
const GPU_FILES = ['gpu.js', 'gpu_bg.wasm'];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'first-run-'));
  fs.cpSync(path.join(ROOT, 'dist-test'), dir, { recursive: true });
  const train = path.join(dir, 'train');
  for (const f of GPU_FILES) fs.renameSync(path.join(train, f), path.join(dir, f));
  const now = Math.round(Date.now() / 1000);
  fs.writeFileSync(path.join(train, 'modules.json'), JSON.stringify({
    modules: ['cpu', 'cpu-relaxed'], building: { modules: 'gpu', done: 10, total: 82, started_s: now - 60, now_s: now },
  }));
  server = await serve(dir);
});
after(() => {
  server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('while the WebGPU module builds the page trains on the CPU and says how long; then it trains on WebGPU without a reload', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=200`);
    await waitForStatus(page, /Ready to train/);
    const note = await page.waitForSelector('#module-note:not([hidden])');
    // 60 s for 10 of 82 crates: about 7 minutes for the other 72.
    assert.match(await note.textContent(), /building gpu, about 7 min left \(10 of 82 crates\)\. Training runs on the CPU meanwhile/);

    await setSettings(page, { recipe: 'reference', backend: 'auto', limit: 2000, epochs: 1, batch: 100, seed: 1 });
    await page.click('#train');
    await waitForStatus(page, /Finished 1 epochs/, 120_000);
    const cpu = await page.evaluate(() => window.fashionTest.backend());
    assert.equal(cpu.backend, 'cpu');
    assert.match(cpu.fallback_reason, /WebGPU training module is still building, about 7 min left/);

    // The build finishes: the module appears and modules.json says so.
    const train = path.join(dir, 'train');
    for (const f of GPU_FILES) fs.renameSync(path.join(dir, f), path.join(train, f));
    fs.writeFileSync(path.join(train, 'modules.json'), JSON.stringify({ modules: ['cpu', 'cpu-relaxed', 'gpu'] }));
    await page.waitForFunction(() => /WebGPU training module is ready/.test(document.getElementById('module-note').textContent),
      null, { timeout: 30_000 });

    await setSettings(page, { recipe: 'reference', backend: 'webgpu', limit: 300, epochs: 1, batch: 100, seed: 1 });
    await page.click('#train');
    await waitForStatus(page, /Finished 1 epochs/, 300_000);
    assert.equal((await page.evaluate(() => window.fashionTest.backend())).backend, 'webgpu');
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
