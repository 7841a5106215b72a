// Times the GPU step's kernels one by one in headless Debian Chromium on its WebGPU adapter
// (SwiftShader here): each kernel of each folder (written by scripts/bench/kernels.sh: NAME.wgsl
// and NAME.grid) bound to buffers of its declared sizes (images half zero, small random floats,
// 256 rows), dispatched ten times a submit, all folders' versions alternating round by round so
// that they see the same machine. Prints each kernel's median and fastest ms per dispatch.
//   node tests/e2e/kernels.mjs [--rounds 5] [--only dense0,adam0] DIR [DIR ...]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { launch } from './harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args.splice(i, 2)[1];
};
const rounds = Number(option('--rounds', 5));
const only = option('--only', null)?.split(',');
const dirs = args;
if (!dirs.length) throw new Error('usage: node tests/e2e/kernels.mjs [--rounds N] [--only a,b] DIR [DIR ...]');
const names = fs.readdirSync(dirs[0]).filter((f) => f.endsWith('.wgsl')).map((f) => f.slice(0, -5))
  .filter((n) => !only || only.includes(n)).sort();
const kernels = names.flatMap((name) => dirs.map((dir) => ({
  label: `${name} ${dir}`,
  code: fs.readFileSync(path.join(dir, `${name}.wgsl`), 'utf8'),
  grid: fs.readFileSync(path.join(dir, `${name}.grid`), 'utf8').trim().split(',').map(Number),
})));

// WebGPU needs a secure context: an empty page from 127.0.0.1.
const server = http.createServer((_, res) => res.end('<!doctype html><title>kernels</title>')).listen(0, '127.0.0.1');
await new Promise((resolve) => server.on('listening', resolve));
const browser = await launch({ webgpu: true });
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(m.text()); });
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const lines = await page.evaluate(async ({ kernels, rounds }) => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    const device = await adapter.requestDevice({ requiredLimits: { maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage } });
    const built = [];
    for (const k of kernels) {
      const module = device.createShaderModule({ code: k.code });
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      // The step's scalars: 256 rows from the start, 1/256, a small rate.
      const scalars = new DataView(new ArrayBuffer(80));
      scalars.setUint32(0, 256, true);
      scalars.setFloat32(20, 1 / 256, true);
      scalars.setFloat32(24, 1e-3, true);
      scalars.setFloat32(28, 1e-8, true);
      const uniform = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(uniform, 0, scalars.buffer);
      const entries = [{ binding: 0, resource: { buffer: uniform } }];
      for (const [, binding, name, type, len] of k.code.matchAll(/@binding\((\d+)\) var<storage, \w+> (\w+): array<(\w+), (\d+)>/g)) {
        if (!k.code.includes(`${name}[`)) continue; // unused: not in the layout
        const n = Number(len);
        const data = name === 'order' ? Uint32Array.from({ length: n }, (_, i) => i)
          : name === 'labels' ? Uint32Array.from({ length: n }, (_, i) => i % 10)
          : type === 'u32' ? Uint32Array.from({ length: n }, () => {
            let w = 0;
            for (let t = 0; t < 4; t++) if (Math.random() < 0.5) w |= ((Math.random() * 256) | 0) << (8 * t);
            return w >>> 0;
          })
          : Float32Array.from({ length: n }, () => (Math.random() - 0.5) * 0.1);
        const buffer = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        device.queue.writeBuffer(buffer, 0, data);
        entries.push({ binding: Number(binding), resource: { buffer } });
      }
      built.push({ ...k, pipeline, bind: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) });
    }
    const time = async (k, n) => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, k.bind);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(...k.grid);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / n;
    };
    for (const k of built) await time(k, 2);
    const ms = built.map(() => []);
    for (let r = 0; r < rounds; r++) for (let i = 0; i < built.length; i++) ms[i].push(await time(built[i], 10));
    return built.map((k, i) => {
      const v = ms[i].sort((a, b) => a - b);
      return `${k.label}: median ${v[v.length >> 1].toFixed(2)} ms, fastest ${v[0].toFixed(2)} ms`;
    });
  }, { kernels: kernels.map(({ label, code, grid }) => ({ label, code, grid })), rounds });
  console.log(lines.join('\n'));
} finally {
  await browser.close();
  server.close();
}
