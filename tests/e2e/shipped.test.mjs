// End-to-end: the shipped page (dist/, what scripts/run.sh serves) carries no test interface,
// and works without it: it loads, fetches its dataset and classifies a drawing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, serve, launch, open, waitForStatus, assertNoPanics } from './harness.mjs';

let server;
before(async () => { server = await serve(path.join(ROOT, 'dist')); });
after(() => server?.stop());

test('the shipped page has no test interface and classifies a drawing', { timeout: 120_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await open(browser, server.url);
    await waitForStatus(page, /Ready to train/);
    assert.equal(await page.evaluate(() => typeof window.fashionTest), 'undefined');
    assert.equal(await page.evaluate(async () => (await fetch('js/test-api.js')).status), 404);
    // A pair of trouser legs, drawn with the mouse.
    const box = await page.locator('#pad').boundingBox();
    const at = ([x, y]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
    for (const leg of [[[110, 40], [100, 240]], [[170, 40], [180, 240]]]) {
      await page.mouse.move(...at(leg[0]));
      await page.mouse.down();
      await page.mouse.move(...at(leg[1]), { steps: 10 });
      await page.mouse.up();
    }
    await page.waitForFunction(() => !/Nothing drawn/.test(document.getElementById('top-class').textContent));
    assert.match(await page.textContent('#top-class'), /\d+(\.\d+)?%/);
    assertNoPanics(errors);
  } finally {
    await browser.close();
  }
});
