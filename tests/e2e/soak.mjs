// A long run in the page with its memory watched: trains in headless Debian Chromium and, after
// every epoch, samples the worker's WebAssembly memory, the page's JS heap and (on WebGPU) the
// GPU memory burn's allocator holds. Prints one JSON line per epoch and a summary: growth after
// the first epochs (the warm-up fills caches and pools) must stay under 5%.
//   node tests/e2e/soak.mjs [--backend cpu|webgpu] [--epochs 50] [--limit 60000] [--minutes 60]
import { serve, launch, open, waitForStatus, setSettings } from './harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const backend = arg('backend', 'cpu');
const epochs = Number(arg('epochs', '50'));
const limit = Number(arg('limit', '60000'));
const minutes = Number(arg('minutes', '60'));
const WARMUP_EPOCHS = 3;

const server = await serve();
const browser = await launch({ webgpu: backend === 'webgpu' });
const series = [];
try {
  const { page } = await open(browser, `${server.url}?testLimit=2000`);
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, { recipe: 'reference', backend, epochs, limit });
  const started = Date.now();
  await page.click('#train');
  let seen = 0;
  while (seen < epochs && Date.now() - started < minutes * 60_000) {
    await page.waitForFunction((n) => window.fashionTest.lastEpoch() > n || /Finished|stopped/.test(document.getElementById('status').textContent), seen, { timeout: 600_000 });
    const epoch = await page.evaluate(() => window.fashionTest.lastEpoch());
    if (epoch <= seen) break;
    seen = epoch;
    const memory = await page.evaluate(() => window.fashionTest.debug('memory'));
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
    const sample = {
      epoch, at_s: Math.round((Date.now() - started) / 1000), worker_wasm_mb: memory.wasm_bytes / 2 ** 20,
      page_js_heap_mb: heap == null ? null : heap / 2 ** 20, gpu_mb: memory.gpu_bytes == null ? null : memory.gpu_bytes / 2 ** 20,
    };
    series.push(sample);
    console.log(JSON.stringify(sample));
  }
  await page.click('#stop').catch(() => {});
} finally {
  await browser.close();
  server.stop();
}
const growth = (key) => {
  const values = series.filter((s) => s.epoch > WARMUP_EPOCHS && s[key] != null).map((s) => s[key]);
  if (values.length < 2) return null;
  return (Math.max(...values) - values[0]) / values[0];
};
const summary = {
  backend, epochs_done: series.length,
  growth_after_warmup: { worker_wasm: growth('worker_wasm_mb'), page_js_heap: growth('page_js_heap_mb'), gpu: growth('gpu_mb') },
};
summary.flat = Object.values(summary.growth_after_warmup).every((g) => g == null || g < 0.05);
console.log(JSON.stringify(summary));
process.exit(summary.flat ? 0 : 1);
