// A full training run in the browser: the real page in headless Debian Chromium trains the
// reference recipe (or the improved one) on all 60,000 images for 50 epochs and reports the test
// accuracy and the wall time, as one JSON line (plus one line per epoch on stderr).
//   node tests/e2e/full-run.mjs [--backend cpu|webgpu] [--epochs 50] [--improved]
import { serve, launch, open, waitForStatus, setSettings } from './harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const backend = arg('backend', 'cpu');
const epochs = Number(arg('epochs', '50'));
const improved = process.argv.includes('--improved');

const server = await serve();
const browser = await launch({ webgpu: backend === 'webgpu' });
try {
  const { page, errors } = await open(browser, server.url);
  await waitForStatus(page, /Ready to train/);
  await setSettings(page, improved
    ? { backend, epochs, limit: 60000, batch: 128, lr: 0.001, dropout: 0.2, seed: 42, improved: true }
    : { backend, epochs, limit: 60000, batch: 64, lr: 0.003, dropout: 0.2, seed: 42, improved: false });
  await page.exposeFunction('reportEpoch', (e) => console.error(JSON.stringify(e)));
  await page.evaluate(() => {
    const h = window.fashionApp.history;
    const push = h.testAcc.push.bind(h.testAcc);
    h.testAcc.push = (p) => { window.reportEpoch({ epoch: p[0], test_accuracy: p[1], at_s: performance.now() / 1000 }); return push(p); };
  });
  const started = Date.now();
  await page.click('#train');
  await waitForStatus(page, new RegExp(`Finished ${epochs} epochs`), epochs * 120_000);
  const seconds = (Date.now() - started) / 1000;
  const app = await page.evaluate(() => ({ acc: window.fashionApp.history.testAcc, backend: window.fashionApp.backend }));
  const accs = app.acc.map(([, a]) => a);
  console.log(JSON.stringify({
    where: 'chromium', backend: app.backend.name, adapter: app.backend.adapter, recipe: improved ? 'improved' : 'reference',
    epochs, seconds: Math.round(seconds), final_test_accuracy: accs.at(-1), best_test_accuracy: Math.max(...accs),
    errors: errors.length,
  }));
} finally {
  await browser.close();
  server.stop();
}
