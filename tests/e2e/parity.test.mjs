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

/** The page's model after RUN on the CPU (`query` added to the URL), and the worker's adapter line. */
async function pageRun(query) {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=200${query}`);
    await waitForStatus(page, /Ready to train/);
    await setSettings(page, { ...RUN, backend: 'cpu' });
    await page.click('#train');
    await waitForStatus(page, new RegExp(`Finished ${RUN.epochs} epochs`), 300_000);
    const model = Buffer.from(await page.evaluate(() => window.fashionTest.weightsBase64()), 'base64');
    assertNoPanics(errors);
    const { adapter } = await page.evaluate(() => window.fashionTest.backend());
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    return { model, adapter, isolated };
  } finally {
    await browser.close();
  }
}

/** The CLI's model after RUN with `args` added. */
function cliRun(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
  const file = path.join(dir, 'cli.safetensors');
  try {
    execFileSync(FASHION_CLI, ['train', '--recipe', RUN.recipe, '--train-limit', String(RUN.limit), '--test-limit', '500',
      '--epochs', String(RUN.epochs), '--seed', String(RUN.seed), '--save', file, '--json', ...args],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    return fs.readFileSync(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function assertSameWeights(pageModel, cliModel) {
  const a = safetensorsTensors(pageModel);
  const b = safetensorsTensors(cliModel);
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const name of Object.keys(a)) {
    const [x, y] = [a[name], b[name]];
    const differ = x.reduce((n, v, i) => n + (Object.is(v, y[i]) ? 0 : 1), 0);
    const gap = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
    assert.equal(differ, 0, `${name}: ${differ} of ${x.length} weights differ (largest gap ${gap})`);
  }
}

const rounding = (adapter) => (/fused multiply-add/.test(adapter) ? 'fused' : 'separate');

test("the page's improved run in one CPU worker is the CLI's improved run, bit for bit", { timeout: 600_000 }, async () => {
  const run = await pageRun('&cpuWorkers=1');
  assert.doesNotMatch(run.adapter, /two workers/, run.adapter);
  assertSameWeights(run.model, cliRun(['--rounding', rounding(run.adapter)]));
});

// The served page is cross-origin isolated, so a CPU run shares each batch between two workers,
// which add their halves' gradients through a SharedArrayBuffer: `--shards 2` computes both
// halves one after the other and adds them the same way.
test("the page's run in two CPU workers is the CLI's run with --shards 2, bit for bit", { timeout: 600_000 }, async () => {
  const run = await pageRun('');
  assert.equal(run.isolated, true, 'the served page is cross-origin isolated');
  assert.match(run.adapter, /two workers/, run.adapter);
  assertSameWeights(run.model, cliRun(['--rounding', rounding(run.adapter), '--shards', '2']));
});
