// The browser benchmark keeps working: a short window of tests/e2e/bench.mjs on each path the
// page trains on (WebGPU on SwiftShader, the CPU on one worker and on two). Its figures are
// printed for the CI log; what is asserted is that each path trained and reported, never a speed
// (this machine's speed varies 2x over a day: scripts/bench/compare.sh is where speed is judged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './harness.mjs';

test('the browser benchmark runs on WebGPU and on one and two CPU workers (figures printed)', { timeout: 600_000 }, () => {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'tests/e2e/bench.mjs'),
    '--backends', 'webgpu,cpu1,cpu', '--batches', '64', '--seconds', '4'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  for (const l of lines) {
    console.log(`bench smoke: ${l.backend} batch ${l.batch_size}: ${l.samples_per_sec_over_window} samples/s over ${l.seconds.toFixed(1)} s (${l.adapter})`);
  }
  assert.deepEqual(lines.map((l) => l.backend), ['webgpu', 'cpu1', 'cpu']);
  for (const l of lines) assert.ok(l.steps_measured > 0 && l.samples_per_sec_over_window > 0, `${l.backend} trained: ${JSON.stringify(l)}`);
  assert.match(lines[0].adapter, /swiftshader/i, 'WebGPU ran on the browser adapter');
  assert.doesNotMatch(lines[1].adapter, /two workers/);
  assert.match(lines[2].adapter, /two workers/, 'the isolated page pairs its CPU workers');
});
