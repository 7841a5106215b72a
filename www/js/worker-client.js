// A training worker as the page sees it: started on one of the training modules, told what to
// do (messages wait until it says it is ready), and restarted after a crash. What its messages
// mean is app.js's business.
import { toWorker } from './messages.js';

export class WorkerClient {
  /** module: 'cpu', 'cpu-relaxed' or 'gpu' (train-worker.js); onMessage(msg): every message the
   * worker posts; onCrash(text): the worker died. */
  constructor({ module, onMessage, onCrash }) {
    this.module = module;
    this.onMessage = onMessage;
    this.onCrash = onCrash;
    this.waiters = [];
    this.start();
  }

  start() {
    this.ready = false;
    this.queue = [];
    // The dataset a worker holds, by identity of the page's file list (a restart loses it).
    this.data = null;
    const worker = new Worker('train-worker.js', { type: 'module', name: this.module });
    worker.onmessage = (e) => this.received(e.data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.onCrash(`the training worker failed: ${e.message || 'unknown error'}`);
    };
    this.worker = worker;
  }

  received(msg) {
    if (msg.type === 'ready') {
      this.ready = true;
      for (const [m, t] of this.queue.splice(0)) this.worker.postMessage(m, t);
    }
    this.waiters = this.waiters.filter((w) => !w(msg));
    this.onMessage(msg);
  }

  /** Posts `msg` (transferring `transfer`), or queues it until the worker is ready. */
  send(msg, transfer = []) {
    if (this.ready) this.worker.postMessage(msg, transfer);
    else this.queue.push([msg, transfer]);
  }

  restart() {
    this.worker.terminate();
    // Whoever waits for an answer hears that none will come (if its question accepts that).
    this.waiters = this.waiters.filter((w) => !w({ type: 'crashed', message: 'the worker stopped and was restarted' }));
    this.start();
  }

  /** Resolves with the next message `accept` takes. */
  next(accept) {
    return new Promise((resolve) => this.waiters.push((m) => (accept(m) ? (resolve(m), true) : false)));
  }

  /** Diagnostics: 'memory' resolves with the worker's memory use, 'gpu_costs' with what a GPU
   * step costs; 'lose_gpu' destroys its GPU device. */
  debug(hook) {
    const answers = {
      memory: (m) => m.type === 'memory',
      gpu_costs: (m) => (m.type === 'diagnostics' && m.hook === hook) || (m.type === 'error' && m.kind === 'gpu'),
    };
    const answer = answers[hook] ? this.next(answers[hook]) : Promise.resolve(null);
    this.send(toWorker.debug(hook));
    return answer;
  }

  /** What the browser does when a worker dies: the page's crash path, for tests. */
  simulateCrash(message) {
    this.worker.dispatchEvent(new ErrorEvent('error', { message }));
  }
}
