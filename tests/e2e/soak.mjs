// A long run in the page with its memory watched: trains in headless Debian Chromium and, after
// every epoch, samples the worker's WebAssembly memory, the page's live JS heap and (on WebGPU) the
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
  const cdp = await page.context().newCDPSession(page);
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
    // The live JS heap: garbage collected first, then measured exactly (performance.memory
    // is coarse and counts whatever garbage the collector has not reached yet).
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')).usedSize;
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
// Growth from the first epochs after the warm-up to the last ones, each side's median: a leak
// grows epoch after epoch and shows; one sample caught with a message or a chart in flight does not.
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const growth = (key) => {
  const values = series.filter((s) => s.epoch > WARMUP_EPOCHS && s[key] != null).map((s) => s[key]);
  if (values.length < 2) return null;
  const k = Math.max(1, Math.min(5, Math.floor(values.length / 2)));
  const first = median(values.slice(0, k));
  return (median(values.slice(-k)) - first) / first;
};
const summary = {
  backend, epochs_done: series.length,
  growth_after_warmup: { worker_wasm: growth('worker_wasm_mb'), page_js_heap: growth('page_js_heap_mb'), gpu: growth('gpu_mb') },
};
summary.flat = Object.values(summary.growth_after_warmup).every((g) => g == null || g < 0.05);
console.log(JSON.stringify(summary));
process.exit(summary.flat ? 0 : 1);
