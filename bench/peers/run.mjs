// Runs a peer library's bench page (bench/peers/<peer>/bench.js) in headless Debian Chromium: one
// fresh browser per backend, a fresh page per batch size, one JSON line per (backend, batch) on
// stdout, logs on stderr.
//   node bench/peers/run.mjs --peer tfjs|jaxjs [--backends webgpu,wasm] [--batches 64,256]
//     [--seconds 20] [--sync-every 20] [--upload-batches]  (TF.js: copy each batch from JS memory
//     instead of gathering it on the backend) [--isolated]  (serve with COOP/COEP: jax-js then
//     runs its WebAssembly kernels on a pool of workers sharing memory, one per core)
// Needs the peer's npm packages (TF.js 4.22.0: @tensorflow/tfjs{,-backend-wasm,-backend-webgpu};
// jax-js 0.1.25: @jax-js/jax) and playwright-core in $FASHION_TOOLS/node_modules (scripts/bench/
// compare.sh installs them) and NODE_PATH pointing there.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const TOOLS = process.env.FASHION_TOOLS || path.join(os.homedir(), '.cache/fashion-mlp/tools');
const DATA = process.env.FASHION_DATA_DIR || '/usr/share/datasets/fashion-mnist';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
// Each peer: its page's folder, the npm scope it loads, and the package whose version it reports.
const PEERS = {
  tfjs: { scope: '@tensorflow', package: '@tensorflow/tfjs', version: '4.22.0' },
  jaxjs: { scope: '@jax-js', package: '@jax-js/jax', version: '0.1.25' },
};
const peerName = arg('peer', 'tfjs');
const peer = PEERS[peerName];
if (!peer) throw new Error(`--peer must be one of ${Object.keys(PEERS)}`);
const HERE = path.join(path.dirname(fileURLToPath(import.meta.url)), peerName);
const version = JSON.parse(fs.readFileSync(path.join(TOOLS, 'node_modules', peer.package, 'package.json'), 'utf8')).version;
if (version !== peer.version) throw new Error(`expected ${peer.package} ${peer.version} in ${TOOLS}/node_modules, found ${version}`);
const backends = arg('backends', 'webgpu,wasm').split(',');
const batches = arg('batches', '64,256').split(',').map(Number);
const seconds = Number(arg('seconds', '20'));
const syncEvery = Number(arg('sync-every', '20'));
const dataOnBackend = !process.argv.includes('--upload-batches');
const isolated = process.argv.includes('--isolated');
const log = (msg) => console.error(`[${peerName}-run] ${msg}`);

// URL prefix -> folder; only these three roots are served, and never outside them.
const ROOTS = [
  [`/node_modules/${peer.scope}/`, path.join(TOOLS, 'node_modules', peer.scope)],
  ['/data/', DATA],
  ['/', HERE],
];
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm' };

// COOP/COEP only with --isolated: without them WebAssembly runs on one thread (no
// SharedArrayBuffer). .gz files go out as opaque bytes (the page gunzips them).
const ISOLATION = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
const server = http.createServer((req, res) => {
  try {
    let p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (p === '/') p = '/index.html';
    const [prefix, dir] = ROOTS.find(([pre]) => p.startsWith(pre));
    const file = path.resolve(dir, '.' + p.slice(prefix.length - 1));
    if (!file.startsWith(dir + path.sep) || !fs.statSync(file).isFile()) throw new Error('not a served file');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store', ...ISOLATION });
    fs.createReadStream(file).pipe(res);
  } catch { // bad escapes, missing files, paths outside the roots
    res.writeHead(404).end('not found');
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;
log(`serving ${HERE}, ${TOOLS}/node_modules/${peer.scope} and ${DATA} at ${url}`);

// The launch flags of tests/e2e/harness.mjs, so both sides run in the same browser setup.
const launch = (webgpu) => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', ...(webgpu ? ['--enable-unsafe-webgpu'] : [])],
});

let failed = 0;
try {
  for (const backend of backends) {
    const browser = await launch(backend === 'webgpu');
    try {
      for (const batch of batches) {
        const out = { where: 'chromium', peer: `${peerName}-${version}`, backend, batch_size: batch, isolated };
        const page = await browser.newPage();
        page.on('console', (m) => log(`page: ${m.text()}`));
        page.on('pageerror', (e) => log(`page error: ${e}`));
        try {
          await page.goto(url);
          // Never hang: warm-up on a software GPU can take minutes at large batches, not hours.
          const limitMs = (seconds + 600) * 1000;
          const r = await Promise.race([
            page.evaluate((cfg) => window.runBench(cfg), { backend, batchSize: batch, seconds, syncEvery, dataOnBackend }),
            new Promise((_, reject) => setTimeout(() => reject(new Error(`no result within ${limitMs / 1000} s`)), limitMs).unref()),
          ]);
          if (r.tfjs_version && r.tfjs_version !== version) throw new Error(`expected TF.js ${version}, the page loaded ${r.tfjs_version}`);
          Object.assign(out, r);
        } catch (e) {
          failed++;
          Object.assign(out, { samples_per_sec_over_window: null, error: String(e.message || e).split('\n')[0] });
        }
        console.log(JSON.stringify(out));
        await page.close().catch(() => {});
      }
    } finally {
      await browser.close();
    }
  }
} finally {
  server.closeAllConnections(); // keep-alive sockets would hold the process open
  server.close();
}
process.exitCode = failed ? 1 : 0;
