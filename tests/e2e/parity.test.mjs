// End-to-end: the page's improved run is the CLI's improved run, bit for bit. The page trains in
// its worker (the CPU engine in WebAssembly) what `fashion train` trains natively, from the same
// recipe, seed and subset of the real data, and both models' weights are equal to the last bit:
// the CPU engine sums every output in the same order at any vector width and calls libm for its
// exp and log, so only the rounding of a multiply-add could differ, and the CLI is told to round
// as the page did (fused with relaxed SIMD, separate without).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, open, waitForStatus, setSettings, assertNoPanics, safetensorsTensors, FASHION_CLI } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

// Three epochs of 3,000 images: enough steps (72, with flips, shifts, dropout, smoothing, the
// cosine schedule and the running average) for any difference in rounding to show.
const RUN = { recipe: 'improved', limit: 3000, epochs: 3, seed: 11 };

test("the page's improved run is the CLI's improved run, bit for bit", { timeout: 600_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
  const cliModel = path.join(dir, 'cli.safetensors');
  try {
    const browser = await launch({ webgpu: false });
    try {
      const { page, errors } = await open(browser, `${server.url}?testLimit=200`);
      await waitForStatus(page, /Ready to train/);
      await setSettings(page, { ...RUN, backend: 'cpu' });
      await page.click('#train');
      await waitForStatus(page, new RegExp(`Finished ${RUN.epochs} epochs`), 300_000);
      const pageModel = Buffer.from(await page.evaluate(() => window.fashionTest.weightsBase64()), 'base64');
      assertNoPanics(errors);
      const { adapter } = await page.evaluate(() => window.fashionTest.backend());
      const rounding = /fused multiply-add/.test(adapter) ? 'fused' : 'separate';
      execFileSync(FASHION_CLI, ['train', '--recipe', RUN.recipe, '--train-limit', String(RUN.limit), '--test-limit', '500',
        '--epochs', String(RUN.epochs), '--seed', String(RUN.seed), '--rounding', rounding, '--save', cliModel, '--json'],
        { stdio: ['ignore', 'ignore', 'inherit'] });
      const a = safetensorsTensors(pageModel);
      const b = safetensorsTensors(fs.readFileSync(cliModel));
      assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
      for (const name of Object.keys(a)) {
        const [x, y] = [a[name], b[name]];
        const differ = x.reduce((n, v, i) => n + (Object.is(v, y[i]) ? 0 : 1), 0);
        const gap = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
        assert.equal(differ, 0, `${name}: ${differ} of ${x.length} weights differ (largest gap ${gap})`);
      }
    } finally {
      await browser.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
