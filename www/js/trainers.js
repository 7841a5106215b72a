// The training workers, one per kind of module: the CPU engine (with relaxed SIMD where the
// browser validates it) and, once its module is built, the GPU engine. Each is started when
// first needed. Auto decides here: with a GPU worker and a WebGPU adapter, each worker measures
// its backend on a few batches of the real data and the faster one trains.
import { WorkerClient } from './worker-client.js';

// A module using f32x4.relaxed_madd: browsers without relaxed SIMD refuse to validate it.
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code: one body of 59 bytes, no locals
  0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0x0b,
]);

export function hasRelaxedSimd() {
  try { return WebAssembly.validate(RELAXED_PROBE); } catch { return false; }
}

/** The training modules this build has and, while a first build finishes the others, how far it
 * has got (train/modules.json, written by scripts/build/build-worker.sh):
 * {modules, building: {modules, done, total, started_s, now_s} | undefined}. */
export async function builtModules() {
  try {
    const r = await fetch('train/modules.json', { cache: 'no-cache' });
    return r.ok ? await r.json() : { modules: ['cpu'] };
  } catch {
    return { modules: ['cpu'] };
  }
}

/** "about 4 min left (31 of 82 crates)", from a build's progress so far. */
export function buildEta({ done, total, started_s: started, now_s: now }) {
  const crates = `${Math.min(done, total)} of ${total} crates`;
  if (!(done > 0) || !(now > started)) return `just started (${crates})`;
  const left = ((now - started) * Math.max(total - done, 0)) / done;
  const text = left < 60 ? 'less than a minute left' : `about ${Math.round(left / 60)} min left`;
  return `${text} (${crates})`;
}

export class Trainers {
  /** onMessage(msg, client), onCrash(text, client). */
  constructor({ onMessage, onCrash }) {
    this.onMessage = onMessage;
    this.onCrash = onCrash;
    this.modules = ['cpu'];
    this.clients = {};
    this.measured = null;
  }

  /** Reads which modules are built (call before the first `client`). */
  async refresh() {
    const built = await builtModules();
    this.modules = built.modules;
    this.building = built.building ?? null;
    return this.modules;
  }

  /** Why the GPU module is not there: still building (with how long), or not built. */
  gpuMissingReason() {
    if (this.building?.modules?.includes('gpu')) return `the WebGPU training module is still building, ${buildEta(this.building)}`;
    return 'the WebGPU training module is not built';
  }

  /** The CPU module: relaxed SIMD's where it is built and the browser has it. */
  get cpuModule() {
    return this.modules.includes('cpu-relaxed') && hasRelaxedSimd() ? 'cpu-relaxed' : 'cpu';
  }

  /** The CPU worker: checks datasets, serves test images, trains on the CPU. */
  get cpu() { return this.client('cpu'); }

  hasGpuModule() { return this.modules.includes('gpu'); }

  /** Whether CPU runs share each batch between two workers: where the page is cross-origin
   * isolated (SharedArrayBuffer), the machine has a second core, and `?cpuWorkers=1` does not
   * ask for one. */
  get paired() {
    const asked = Number(new URLSearchParams(location.search).get('cpuWorkers')) || 2;
    return asked >= 2 && self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function'
      && (navigator.hardwareConcurrency ?? 1) >= 2;
  }

  /** The CPU worker that computes the second half of each batch in a paired run. */
  get partner() { return this.client('cpu-partner'); }

  /** A fresh link between the two CPU workers for one run (or measurement) of `config`: their
   * gradients, two slots each, behind four counters (src/web/exchange.rs). The previous one is
   * stopped, so a partner still waiting on it lets go. */
  newExchange(config) {
    this.endExchange();
    const widths = [784, ...config.model.hidden, 10];
    let len = 2; // the loss and the hits follow the gradient
    for (let i = 0; i + 1 < widths.length; i++) len += widths[i] * widths[i + 1] + widths[i + 1];
    this.exchange = new SharedArrayBuffer((4 + 4 * len) * 4);
    return this.exchange;
  }

  /** Tells both workers of the current link that it is over (a run ended or a worker died). */
  endExchange() {
    if (!this.exchange) return;
    const counters = new Int32Array(this.exchange, 0, 4);
    Atomics.store(counters, 2, 1);
    for (let i = 0; i < 3; i++) Atomics.notify(counters, i);
    this.exchange = null;
  }

  /** The worker of `backend` ('cpu', 'webgpu' or 'cpu-partner'), started on first use. */
  client(backend) {
    const key = ['webgpu', 'cpu-partner'].includes(backend) ? backend : 'cpu';
    if (!this.clients[key]) {
      // The partner runs the first CPU worker's module: both must round alike.
      const module = key === 'webgpu' ? 'gpu' : key === 'cpu-partner' ? (this.clients.cpu?.module ?? this.cpuModule) : this.cpuModule;
      const client = new WorkerClient({
        module,
        onMessage: (m) => this.onMessage(m, client),
        onCrash: (text) => this.onCrash(text, client),
      });
      client.backend = key;
      this.clients[key] = client;
    }
    return this.clients[key];
  }

  all() { return Object.values(this.clients); }
}
