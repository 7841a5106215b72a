// End-to-end: the page stays smooth while it trains and answers quickly. Measured as a user
// would meet it, in headless Debian Chromium, and printed (README/docs figures come from here):
//   - first prediction: from navigation start to the probabilities of a stroke drawn as soon as
//     the page can classify, on a first visit (cold) and on the next one (warm: service worker
//     and caches filled). The driver's stroke arrives a few hundred ms after the pad shows, later
//     than a person's could, so the figure is when the page was ready to classify plus how long
//     the stroke then took to be answered;
//   - while training all 60,000 images for two epochs, on the CPU and on WebGPU: main-thread
//     tasks over 50 ms (Long Tasks observer) and animation frames over 50 ms (Long Animation
//     Frames), and the main-thread time of each prediction of a stroke drawn every second.
// The figures depend on the machine's load, so the assertions against the targets (no task over
// 50 ms; predictions p95 <= 8 ms, median <= 3 ms; first prediction <= 1.5 s cold, 0.5 s warm)
// apply only in benchmark mode: FASHION_BENCH_STRICT=1 (scripts/bench/responsiveness.sh). The
// rest checks that it works at all. FASHION_DIST serves another build (a before/after run).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, open, waitForStatus, setSettings, assertNoPanics, stroke } from './harness.mjs';

const STRICT = process.env.FASHION_BENCH_STRICT === '1';
const LABEL = process.env.FASHION_BENCH_LABEL ?? 'this build';
let server;
before(async () => { server = await serve(process.env.FASHION_DIST || undefined); });
after(() => server?.stop());

/** Records, in the page, when the first stroke starts and when the drawing panel first shows
 * probabilities. */
function watchFirstPrediction() {
  addEventListener('pointerdown', () => { window.firstStrokeMs ??= performance.now(); }, true);
  const tick = () => {
    const p = window.fashionTest?.classify().probabilities;
    if (p) window.firstPredictionMs = performance.now();
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}


const TROUSERS = [[100, 40], [180, 40], [185, 150], [188, 255]];

/** Milliseconds from navigation start to the first probabilities of a stroke drawn as soon as
 * the page can classify. */
async function firstPrediction(page, url) {
  await page.addInitScript(watchFirstPrediction);
  await page.goto(url);
  await page.locator('#pad').waitFor({ state: 'visible' });
  // One short stroke, drawn quickly: the time measured is the page's, not the mouse's.
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.move(box.x + 0.35 * box.width, box.y + 0.15 * box.height);
  await page.mouse.down();
  await page.mouse.move(box.x + 0.65 * box.width, box.y + 0.9 * box.height, { steps: 2 });
  await page.mouse.up();
  await page.waitForFunction(() => window.firstPredictionMs, null, { timeout: 60_000 });
  return page.evaluate(() => {
    const ready = window.fashionTest.timings().classifierReadyMs;
    return ready + window.firstPredictionMs - Math.max(ready, window.firstStrokeMs);
  });
}

test('first prediction: cold and warm', { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const first = await context.newPage();
    const cold = await firstPrediction(first, server.url);
    // The next visit: the service worker and the dataset cache are in place.
    await waitForStatus(first, /Ready to train/);
    await first.waitForFunction(async () => (await navigator.serviceWorker?.getRegistration())?.active?.state === 'activated', null, { timeout: 60_000 });
    await first.close();
    const second = await context.newPage();
    const warm = await firstPrediction(second, server.url);
    console.log(`${LABEL}: first prediction ${cold.toFixed(0)} ms cold, ${warm.toFixed(0)} ms warm (navigation start to the probabilities of a stroke)`);
    console.log(JSON.stringify({ measure: 'first_prediction', build: LABEL, cold_ms: Math.round(cold), warm_ms: Math.round(warm) }));
    if (STRICT) {
      assert.ok(cold <= 1500, `first prediction on a first visit: ${cold} ms`);
      assert.ok(warm <= 500, `first prediction with a warm cache: ${warm} ms`);
    }
    await context.close();
  } finally {
    await browser.close();
  }
});

/** Trains two epochs of all 60,000 images on `backend` while drawing a stroke every second;
 * returns the main thread's long tasks and frames, and the predictions' latencies. */
async function trainAndWatch(backend) {
  const browser = await launch({ webgpu: backend === 'webgpu' });
  try {
    const { page, errors } = await open(browser, `${server.url}?testLimit=10000`);
    await waitForStatus(page, /Ready to train/);
    await setSettings(page, { recipe: 'reference', backend, epochs: 2, limit: 60000, batch: 64 });
    await page.evaluate(() => {
      window.jank = { tasks: [], frames: [] };
      new PerformanceObserver((l) => l.getEntries().forEach((e) => window.jank.tasks.push(e.duration))).observe({ type: 'longtask', buffered: false });
      try {
        new PerformanceObserver((l) => l.getEntries().forEach((e) => window.jank.frames.push(e.duration))).observe({ type: 'long-animation-frame', buffered: false });
      } catch { /* no Long Animation Frames API: tasks only */ }
    });
    const latencyBefore = await page.evaluate(() => window.fashionTest.classify().stats?.count ?? 0);
    await page.click('#train');
    const started = Date.now();
    // At most 5 minutes: an old build on SwiftShader would take an hour for two epochs.
    const windowMs = 300_000;
    let finished = false;
    let drawn = 0;
    while (!finished && Date.now() - started < windowMs) {
      await page.waitForTimeout(1000);
      await page.click('#clear').catch(() => {});
      await stroke(page, TROUSERS.map(([x, y]) => [x + (drawn % 3) * 5, y]), { steps: 4 });
      drawn++;
      finished = /Finished 2 epochs/.test(await page.textContent('#status'));
    }
    const seconds = (Date.now() - started) / 1000;
    const epochs = await page.evaluate(() => window.fashionTest.lastEpoch());
    // Older builds keep only the statistics of their last 200 predictions.
    const { jank, latencies, stats } = await page.evaluate((skip) => ({
      jank: window.jank,
      latencies: window.fashionTest.classify().latencies?.slice(skip) ?? null,
      stats: window.fashionTest.classify().stats,
    }), latencyBefore);
    assertNoPanics(errors);
    return { jank, latencies, stats, seconds, epochs, finished };
  } finally {
    await browser.close();
  }
}

const over50 = (list) => list.filter((d) => d > 50);
const quantile = (list, q) => {
  const s = [...list].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

for (const backend of ['cpu', 'webgpu']) {
  test(`training on ${backend === 'cpu' ? 'the CPU' : 'WebGPU'} keeps the main thread free and drawing answered`, { timeout: 600_000 }, async () => {
    const r = await trainAndWatch(backend);
    const tasks = over50(r.jank.tasks);
    const frames = over50(r.jank.frames);
    const median = r.latencies ? quantile(r.latencies, 0.5) : r.stats.median;
    const p95 = r.latencies ? quantile(r.latencies, 0.95) : r.stats.p95;
    r.latencies ??= { length: r.stats.count };
    console.log(`${LABEL}, ${backend}, 60,000 images, ${r.finished ? 'two epochs' : `${r.epochs} epoch(s) in ${r.seconds.toFixed(0)} s`}: ` +
      `${tasks.length} main-thread tasks over 50 ms (longest ${Math.max(0, ...r.jank.tasks).toFixed(0)} ms), ` +
      `${frames.length} animation frames over 50 ms (longest ${Math.max(0, ...r.jank.frames).toFixed(0)} ms); ` +
      `drawing -> probabilities median ${median.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms over ${r.latencies.length} predictions`);
    console.log(JSON.stringify({
      measure: 'training_jank', build: LABEL, backend, finished: r.finished, seconds: r.seconds, epochs: r.epochs,
      long_tasks: tasks.length, longest_task_ms: Math.round(Math.max(0, ...r.jank.tasks)),
      long_frames: frames.length, longest_frame_ms: Math.round(Math.max(0, ...r.jank.frames)),
      predictions: r.latencies.length, prediction_median_ms: +median.toFixed(2), prediction_p95_ms: +p95.toFixed(2),
    }));
    assert.ok(r.epochs >= 1, 'an epoch was trained');
    assert.ok(r.latencies.length > 3, 'drawings were classified while training');
    if (STRICT) {
      assert.equal(tasks.length, 0, `main-thread tasks over 50 ms: ${tasks.map((d) => d.toFixed(0))}`);
      assert.ok(p95 <= 8 && median <= 3, `prediction latency: median ${median}, p95 ${p95}`);
    }
  });
}
