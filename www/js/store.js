// Models kept in IndexedDB: the latest trained one with what is needed to show and resume it (the
// weights as safetensors bytes, its metrics and history, the settings it was trained with), the
// last model file loaded, and which of them the page uses.
const DB = 'fashion-mlp';
const STORE = 'models';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the model store is blocked by another tab'));
  });
}

function run(mode, fn) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
    tx.onabort = () => { db.close(); reject(tx.error || new Error('the model store refused the write')); };
  }));
}

/** Saves `value` under `key`: 'trained' (the latest run, resumable), 'loaded' (the last model
 * file the user loaded) or 'choice' (which of 'trained', 'loaded', 'ready' the page uses). */
export function save(key, value) {
  const record = value && typeof value === 'object' && !ArrayBuffer.isView(value) ? { ...value, savedAt: Date.now() } : value;
  return run('readwrite', (s) => s.put(record, key));
}

/** The value saved under `key`, or null. */
export function load(key) {
  return run('readonly', (s) => s.get(key)).then((r) => r ?? null);
}
