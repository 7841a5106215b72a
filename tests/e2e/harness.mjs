// Shared pieces of the browser tests: a static server for the page (its test flavour, dist-test/) on a free loopback port, and
// Debian's Chromium driven by playwright-core (never a downloaded browser).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The CLI the native tests built: scripts/test.sh names it (profile `ci`); else the release one.
export const FASHION_CLI = process.env.FASHION_CLI
  || path.join(process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/fashion-mlp/target'), 'release/fashion');

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

/** Serves the page's test flavour (dist-test/, scripts/build/build-web.sh with FASHION_TEST_API=1)
 * exactly as the run command serves dist/. Returns {url, stop}. */
export async function serve(dir = path.join(ROOT, 'dist-test')) {
  const port = await freePort();
  const child = spawn('python3', [path.join(ROOT, 'scripts/build/serve.py'), '--dir', dir, '--port', String(port)], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Headless Debian Chromium (playwright gives each launch a fresh profile); `webgpu` adds
 * SwiftShader's WebGPU adapter, without it `requestAdapter()` resolves to null. `realGpu` asks for
 * the machine's GPU through Vulkan instead (for GPU machines). */
export async function launch({ webgpu, realGpu = false }) {
  const args = [
    '--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  if (realGpu) args.push('--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist', '--use-vulkan=native');
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args, headless: true });
}

/** Opens the page, collecting console errors and every request that leaves its origin (none
 * may: the page is same-origin only, and such a request is answered with an error). */
export async function open(browser, url, { viewport = { width: 1440, height: 1000 }, init = null } = {}) {
  const page = await browser.newPage({ viewport });
  // `init`: a function run in the page before its own scripts (to break something on purpose).
  if (init) await page.addInitScript(init);
  const errors = [];
  const foreign = [];
  const origin = new URL(url).origin;
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.context().route((u) => u.origin !== origin && /^https?:|^wss?:/.test(u.protocol), (route) => {
    foreign.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  await page.goto(url);
  return { page, errors, foreign };
}

/** Reloads once the page's IndexedDB writes have committed (a user's reload comes long after the
 * click that saved; a test's can come within the write). The shipped page has no test interface
 * and reloads at once. */
export async function reload(page) {
  await page.evaluate(() => window.fashionTest?.storeSettled());
  await page.reload();
}

export async function waitForStatus(page, pattern, timeout = 120_000) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('status').textContent), pattern.source, { timeout });
  return page.textContent('#status');
}

/** Fills the settings form: `recipe` first (it sets the other fields), then the rest. */
export async function setSettings(page, values) {
  const { recipe, ...rest } = values;
  if (recipe) await page.selectOption('#recipe', recipe);
  for (const [id, v] of Object.entries(rest)) {
    if (['backend', 'schedule'].includes(id)) await page.selectOption(`#${id}`, v);
    else if (id === 'flip') await page.setChecked('#flip', v);
    else await page.fill(`#${id}`, String(v));
  }
}

/** Draws a polyline on the pad with the mouse, in pad coordinates (0..280), `steps` mouse moves
 * a segment. */
export async function stroke(page, points, { steps = 8 } = {}) {
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  const at = ([x, y]) => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height];
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps });
  await page.mouse.up();
}

/** Fails on Rust panics or wasm traps among the console errors `open` collected. */
export function assertNoPanics(errors) {
  assert.deepEqual(errors.filter((e) => /panic|RuntimeError|unreachable/i.test(e)), []);
}

/** A safetensors file's header: `{ header, dataStart }`, where `header` maps each tensor's name
 * to its dtype, shape and data offsets (and `__metadata__` to the file's metadata), and the
 * offsets count from `dataStart`. */
export function safetensorsHeader(bytes) {
  const len = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')), dataStart: 8 + len };
}

/** A safetensors file's f32 tensors: name -> Float32Array (metadata left out). */
export function safetensorsTensors(bytes) {
  const { header, dataStart } = safetensorsHeader(bytes);
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const data = bytes.subarray(dataStart + a, dataStart + b);
    out[name] = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  }
  return out;
}
