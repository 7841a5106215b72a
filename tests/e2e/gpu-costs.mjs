// What a GPU training step costs in the browser, measured in headless Debian Chromium on the
// WebGPU adapter it offers (SwiftShader here, a real GPU where there is one):
//   - an empty compute dispatch (500 in one pass, one submit) and one submit (100 submits of one
//     dispatch each), with raw WebGPU from the page;
//   - from the app's own GPU worker: dispatches and milliseconds per training step of the GPU
//     engine at batch 64, 256 and 1024, and each kernel's milliseconds.
// One JSON line each.   node tests/e2e/gpu-costs.mjs [--gpu] (real GPU flags instead of SwiftShader)
import { serve, launch, open, waitForStatus } from './harness.mjs';

const realGpu = process.argv.includes('--gpu');
const server = await serve();
const browser = await launch({ webgpu: true, realGpu });
try {
  const { page } = await open(browser, `${server.url}?testLimit=200`);
  await waitForStatus(page, /Ready to train/);
  const raw = await page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { error: 'no WebGPU adapter' };
    const device = await adapter.requestDevice();
    const module = device.createShaderModule({ code: '@compute @workgroup_size(1) fn main() {}' });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const run = async (submits, perSubmit) => {
      const t0 = performance.now();
      for (let s = 0; s < submits; s++) {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        for (let d = 0; d < perSubmit; d++) pass.dispatchWorkgroups(1);
        pass.end();
        device.queue.submit([encoder.finish()]);
      }
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await run(5, 5); // compile and warm up
    const dispatchMs = (await run(1, 500)) / 500;
    const submitMs = (await run(100, 1)) / 100;
    const info = adapter.info ?? {};
    return { adapter: [info.vendor, info.architecture, info.isFallbackAdapter ? 'software fallback adapter' : ''].filter(Boolean).join(', '), empty_dispatch_us: dispatchMs * 1000, submit_us: submitMs * 1000 };
  });
  console.log(JSON.stringify({ where: 'chromium', measure: 'raw webgpu', ...raw }));
  const costs = await page.evaluate(() => window.fashionTest.debug('gpu_costs'));
  if (costs.type === 'error') {
    console.log(JSON.stringify({ where: 'chromium', measure: 'steps', error: costs.message }));
  } else {
    for (const step of costs.report.steps) console.log(JSON.stringify({ where: 'chromium', measure: 'step', adapter: costs.report.adapter, ...step }));
  }
} finally {
  await browser.close();
  server.stop();
}
