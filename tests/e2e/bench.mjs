// Browser training benchmark: the real page in headless Debian Chromium trains on the full 60k
// training set for each backend and batch size; prints one JSON line per measurement with the
// worker's own samples/s (moving average over chunks, after a warm-up). Backend cpu: as the page
// trains on the CPU (two workers where it is cross-origin isolated, as served); cpu1: one worker.
//   node tests/e2e/bench.mjs [--backends webgpu,cpu,cpu1] [--batches 64,256] [--seconds 30] [--gpu] [--dist DIR]
// (--gpu: the machine's GPU through Vulkan instead of SwiftShader; --dist: another build of the
// test flavour, e.g. a copy of dist-test/ from before a change)
import { serve, launch, open, waitForStatus, setSettings } from './harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const backends = arg('backends', 'cpu,webgpu').split(',');
const batches = arg('batches', '64,256').split(',').map(Number);
const seconds = Number(arg('seconds', '30'));
const realGpu = process.argv.includes('--gpu');

const server = await serve(...(arg('dist') ? [arg('dist')] : []));
try {
  for (const backend of backends) {
    const browser = await launch({ webgpu: backend === 'webgpu', realGpu });
    try {
      for (const batch of batches) {
        const workers = backend === 'cpu1' ? '&cpuWorkers=1' : '';
        const { page } = await open(browser, `${server.url}?testLimit=1000${workers}`);
        await waitForStatus(page, /Ready to train/);
        // Enough epochs that the run outlasts the measuring window.
        await setSettings(page, { recipe: 'reference', backend: backend.replace('cpu1', 'cpu'), epochs: 50, limit: 60000, batch });
        await page.click('#train');
        await page.waitForFunction(() => window.fashionTest.lastProgress(), null, { timeout: 180_000 });
        const warm = await page.evaluate(() => window.fashionTest.lastProgress().steps);
        const t0 = Date.now();
        await page.waitForTimeout(seconds * 1000);
        const p = await page.evaluate(() => window.fashionTest.lastProgress());
        const elapsed = (Date.now() - t0) / 1000;
        const adapter = await page.evaluate(() => window.fashionTest.backend()?.adapter);
        console.log(JSON.stringify({
          where: 'chromium', backend, batch_size: batch, adapter,
          samples_per_sec: Math.round(p.samples_per_sec),
          steps_measured: p.steps - warm, seconds: elapsed,
          samples_per_sec_over_window: Math.round(((p.steps - warm) * batch) / elapsed),
        }));
        await page.click('#stop').catch(() => {});
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }
} finally {
  server.stop();
}
