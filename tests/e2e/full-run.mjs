// A full training run in the browser: the real page in headless Debian Chromium trains a recipe
// exactly as the page defines it (the CLI's own recipes) on all 60,000 images and reports the
// test accuracy and the wall time, as one JSON line (plus one line per epoch on stderr).
//   node tests/e2e/full-run.mjs [--backend cpu|webgpu] [--epochs 50] [--recipe reference|improved]
import { serve, launch, open, waitForStatus, setSettings } from './harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const backend = arg('backend', 'cpu');
const epochs = Number(arg('epochs', '50'));
const recipe = arg('recipe', 'reference');

const server = await serve();
const browser = await launch({ webgpu: backend === 'webgpu' });
try {
  const { page, errors } = await open(browser, server.url);
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, { recipe, backend, epochs, seed: 42, limit: 60000 });
  const started = Date.now();
  await page.click('#train');
  // One line per epoch on stderr while it runs.
  let seen = 0;
  const watch = setInterval(async () => {
    const acc = await page.evaluate(() => window.fashionTest.history().testAcc).catch(() => []);
    for (const [epoch, a] of acc.slice(seen)) console.error(JSON.stringify({ epoch, test_accuracy: a, at_s: Math.round((Date.now() - started) / 1000) }));
    seen = Math.max(seen, acc.length);
  }, 5000);
  await waitForStatus(page, new RegExp(`Finished ${epochs} epochs`), epochs * 120_000).finally(() => clearInterval(watch));
  const seconds = (Date.now() - started) / 1000;
  const app = await page.evaluate(() => ({ acc: window.fashionTest.history().testAcc, backend: window.fashionTest.backend() }));
  const accs = app.acc.map(([, a]) => a);
  console.log(JSON.stringify({
    where: 'chromium', backend: app.backend.backend, adapter: app.backend.adapter, recipe,
    epochs, seconds: Math.round(seconds), final_test_accuracy: accs.at(-1), best_test_accuracy: Math.max(...accs),
    errors: errors.length,
  }));
} finally {
  await browser.close();
  server.stop();
}
