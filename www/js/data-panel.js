// The dataset panel: downloads the dataset from the page's origin (or takes the user's files),
// hands it to the CPU worker to check, keeps the dataset in use until new files prove good, and
// hands the good one to any other worker that is to train.
import { toWorker } from './messages.js';
import { fetchDataset } from './dataset.js';
import { setStatus, showError, count } from './status.js';

const $ = (id) => document.getElementById(id);

/** Posts `files` to `worker`: copies of bytes (the page keeps its own for the next worker), or
 * a user's `File`s themselves, which the worker reads in slices (a CSV of any size is never
 * held whole, here or there). */
function send(worker, files) {
  const copies = files.map((f) => (f.file ? { name: f.name, file: f.file } : { name: f.name, bytes: f.bytes.slice() }));
  worker.send(toWorker.loadData(copies), copies.filter((f) => f.bytes).map((f) => f.bytes.buffer));
  worker.data = files;
}

export class DataPanel {
  /**
   * `trainers`: the workers (trainers.js); `onLoaded(msg)`: the CPU worker accepted a dataset;
   * `onChange()`: anything the buttons depend on changed; `busy()`: whether a run is going on
   * (the status line is then the run's).
   */
  constructor({ trainers, files, onLoaded, onChange, busy }) {
    Object.assign(this, { trainers, fileNames: files, onLoaded, onChange, busy });
    // The dataset the worker holds (`files` are kept to hand to a restarted worker) and the
    // files being checked.
    this.ready = false;
    this.files = null;
    this.info = null;
    this.checking = null;
  }

  /** Hands files to the CPU worker to check; the dataset in use stays until they prove good. */
  use(files, source, cache = null) {
    this.checking = { files, source, cache };
    $('data-info').textContent = `Checking ${files.map((f) => f.name).join(', ')}…`;
    send(this.trainers.cpu, files);
    this.onChange();
  }

  /** A restarted CPU worker gets the dataset the old one had. */
  resend() {
    if (!this.files) return;
    this.ready = false;
    this.checking = { files: this.files, source: this.info?.source ?? 'kept' };
    send(this.trainers.cpu, this.files);
  }

  /** Makes sure `worker` holds the dataset in use (already checked) before it trains on it. */
  sendTo(worker) {
    if (this.files && worker.data !== this.files) send(worker, this.files);
  }

  loaded(msg) {
    const checking = this.checking ?? { files: this.files, source: this.info?.source };
    // The user's own files, read once: the worker's copy of them (raw IDX) is what other
    // workers get, not the files on disk, which may change or go away.
    if (msg.files?.length) checking.files = msg.files;
    checking.cache?.keep();
    this.trainers.cpu.data = checking.files;
    Object.assign(this, { ready: true, files: checking.files, info: { train: msg.train, test: msg.test, source: checking.source }, checking: null });
    $('data-bar').style.width = '100%';
    $('data-info').textContent = `${count(msg.train)} training and ${count(msg.test)} test images ready (${checking.source}).`;
    if (!this.busy()) setStatus('Ready to train');
    this.onLoaded(msg);
  }

  refused(message) {
    const checking = this.checking;
    this.checking = null;
    checking?.cache?.forget();
    if (this.ready) {
      const { train, test, source } = this.info;
      showError(`${message}. The dataset already loaded stays in use: ${count(train)} training and ${count(test)} test images (${source}).`);
      $('data-info').textContent = `${count(train)} training and ${count(test)} test images ready (${source}); the last files were refused.`;
    } else {
      showError(`${message}. Pick the four IDX files or two Kaggle CSVs yourself.`);
      $('data-info').textContent = 'No usable dataset yet.';
      setStatus('No usable dataset');
    }
  }

  async download() {
    const params = new URLSearchParams(location.search);
    const base = new URL(params.get('data') || 'data/', location.href);
    const started = performance.now();
    try {
      const { files, fromCache, keep, forget } = await fetchDataset(base, this.fileNames, (loaded, total) => {
        $('data-bar').style.width = total ? `${(100 * loaded) / total}%` : '100%';
        $('data-info').textContent = `Downloading the dataset: ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
      });
      const ms = Math.round(performance.now() - started);
      this.use(files, `${fromCache ? 'read from the browser cache' : 'downloaded'} in ${ms} ms`, { keep, forget });
    } catch (e) {
      showError(`The dataset could not be downloaded: ${e.message}. You can pick the files yourself.`);
      $('data-info').textContent = 'No dataset yet.';
      setStatus('No dataset');
    }
  }

  /** The file picker and the drop zone. */
  wire() {
    const useDropped = (list) => {
      const files = [...list].map((f) => ({ name: f.name, file: f }));
      if (files.length) this.use(files, `your files: ${files.map((f) => f.name).join(', ')}`);
    };
    const picker = $('files');
    const drop = $('drop');
    picker.addEventListener('change', () => { useDropped(picker.files); picker.value = ''; });
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); useDropped(e.dataTransfer.files); });
    drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); picker.click(); } });
  }
}
