// What the page keeps in IndexedDB: the latest trained model with what is needed to show and
// resume it (the weights as safetensors bytes, its metrics and history, the settings it was
// trained with), the last model file loaded or taught, which of them the page uses, and the
// user's labelled drawings. One connection for the page's life.
const DB = 'fashion-mlp';
const STORE = 'models';

let connection = null;
// Writes not yet committed: a reload that comes before their commit loses them.
const inFlight = new Set();

/** Resolves once every write started so far has committed or failed. */
export function settled() {
  return Promise.allSettled([...inFlight]).then(() => undefined);
}

function tracked(promise) {
  inFlight.add(promise);
  const done = () => inFlight.delete(promise);
  promise.then(done, done);
  return promise;
}

function openDb() {
  connection ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => {
      const db = req.result;
      // Another tab upgrading the store, or the browser closing it: open again next time.
      db.onversionchange = () => { db.close(); connection = null; };
      db.onclose = () => { connection = null; };
      resolve(db);
    };
    req.onerror = () => { connection = null; reject(req.error); };
    req.onblocked = () => { connection = null; reject(new Error('the model store is blocked by another tab')); };
  });
  return connection;
}

function run(mode, fn) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(Array.isArray(result) ? result.map((r) => r.result) : result.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('the model store refused the write'));
  }));
}

const stamped = (value) => (value && typeof value === 'object' && !ArrayBuffer.isView(value) ? { ...value, savedAt: Date.now() } : value);

/** Saves every `[key, value]` pair in one transaction (all or none): 'trained' (the latest run,
 * resumable), 'loaded' (the last model file the user loaded) or 'choice' (which of 'trained',
 * 'loaded', 'ready' the page uses), so a choice is never kept without the record it names. */
export function saveAll(pairs) {
  return tracked(run('readwrite', (s) => pairs.map(([key, value]) => s.put(stamped(value), key))));
}

/** Saves `value` under `key`. */
export function save(key, value) {
  return saveAll([[key, value]]);
}

/** The values saved under `keys`, read in one transaction (null where there is none). */
export function loadAll(keys) {
  return run('readonly', (s) => keys.map((k) => s.get(k))).then((values) => values.map((v) => v ?? null));
}

/** Copies the value under `from` to `to` in one transaction (nothing when `from` holds none). */
export function copy(from, to) {
  return tracked(openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, 'readwrite');
    const s = tx.objectStore(STORE);
    const req = s.get(from);
    req.onsuccess = () => { if (req.result != null) s.put(req.result, to); };
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('the model store refused the write'));
  })));
}

/** Swaps the values under `a` and `b` in one transaction. */
export function swap(a, b) {
  return tracked(openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, 'readwrite');
    const s = tx.objectStore(STORE);
    const ra = s.get(a);
    const rb = s.get(b);
    rb.onsuccess = () => {
      if (rb.result != null) s.put(rb.result, a); else s.delete(a);
      if (ra.result != null) s.put(ra.result, b); else s.delete(b);
    };
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('the model store refused the write'));
  })));
}
