// End-to-end: every message the page builds for a training worker (www/js/messages.js) is one
// the worker reads. Each kind goes through the page's own module, which parses it exactly as a
// worker does (src/web/mod.rs `read_to_worker`: the shared buffer taken off, serde with unknown
// fields refused); a misspelt field or kind fails here, not in a user's run. The worker's
// messages to the page are checked natively (src/web/protocol.rs: app.js has a case for each).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, open, waitForStatus } from './harness.mjs';

let server;
before(async () => { server = await serve(); });
after(() => server?.stop());

test('every message the page builds is one the worker reads', { timeout: 120_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await open(browser, `${server.url}?testLimit=200`);
    await waitForStatus(page, /Ready to train/);
    const results = await page.evaluate(async () => {
      const { toWorker } = await import('./js/messages.js');
      const read = (m) => { try { return window.wasmBindings.read_to_worker(m); } catch (e) { return `refused: ${e.message || e}`; } };
      const config = structuredClone(window.wasmBindings.facts().recipes[0].config);
      const exchange = self.crossOriginIsolated ? new SharedArrayBuffer(64) : null;
      const shard = { index: 1, count: 2 };
      const measured = { webgpu_samples_per_sec: 1, cpu_samples_per_sec: 2 };
      return {
        loadData: read(toWorker.loadData([{ name: 'train-images-idx3-ubyte.gz', bytes: new Uint8Array([1, 2]) }])),
        loadFile: read(toWorker.loadData([{ name: 'mine.csv', file: new File(['label'], 'mine.csv') }])),
        start: read(toWorker.start({ config, backend: 'auto' })),
        startFull: read(toWorker.start({ config, backend: 'cpu', trainLimit: 100, testLimit: 50, checkpoint: new Uint8Array([1]), reason: 'why', measured })),
        startPaired: read(toWorker.start({ config, backend: 'cpu', shard, exchange })),
        measure: read(toWorker.measure({ config, backend: 'webgpu' })),
        measurePaired: read(toWorker.measure({ config, backend: 'cpu', shard, exchange })),
        pause: read(toWorker.pause()),
        resume: read(toWorker.resume()),
        stop: read(toWorker.stop()),
        testImage: read(toWorker.testImage(3)),
        readModel: read(toWorker.readModel('model.pth', new Uint8Array([1, 2, 3]))),
        debug: read(toWorker.debug('memory')),
        injectPanic: read(toWorker.injectPanic('boom.pt')),
        readDrawings: read(toWorker.readDrawings('mine.json', new Uint8Array([123]))),
        readDrawingsFile: read(toWorker.readDrawings('mine.json', new File(['{}'], 'mine.json'))),
        teach: read(toWorker.teach({ model: new Uint8Array([1]), drawings: new Uint8Array([2]) })),
        teachOptions: read(toWorker.teach({ model: new Uint8Array([1]), drawings: new Uint8Array([2]), options: { epochs: 5, replay: 0.5, learning_rate: 0.0001, batch_size: 32, folds: 3, average: 0.9, seed: 2 } })),
        // And the parser is strict: a misspelt field is refused.
        misspelt: read({ ...toWorker.start({ config, backend: 'cpu' }), trainLimit: 5 }),
      };
    });
    assert.deepEqual(results, {
      loadData: 'load_data', loadFile: 'load_data+file', start: 'start', startFull: 'start', startPaired: 'start+exchange', measure: 'measure',
      measurePaired: 'measure+exchange', pause: 'pause', resume: 'resume', stop: 'stop', testImage: 'test_image', readModel: 'read_model', debug: 'debug', injectPanic: 'inject_panic',
      readDrawings: 'read_drawings', readDrawingsFile: 'read_drawings+file', teach: 'teach', teachOptions: 'teach',
      misspelt: results.misspelt,
    });
    assert.match(results.misspelt, /^refused: .*trainLimit/);
  } finally {
    await browser.close();
  }
});
