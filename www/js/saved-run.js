// What the page keeps across reloads, in IndexedDB (store.js): the latest run (its last model,
// its checkpoint for an exact resume, metrics, history and settings), the last model file the
// user loaded, and which model the drawing panel uses ('trained', 'loaded' or 'ready').
import * as store from './store.js';

/** Everything saved, read in parallel; a record that cannot be read is reported and skipped. */
export async function loadAll(onError) {
  const read = (key) => store.load(key).catch((e) => { onError(key, e); return null; });
  const [run, loaded, choice] = await Promise.all([read('trained'), read('loaded'), read('choice')]);
  return { run: run?.weights && run.config ? run : null, loaded, choice };
}

export const saveRun = (record) => store.save('trained', record);
export const saveLoaded = (record) => store.save('loaded', record);
export const saveChoice = (choice) => store.save('choice', choice);
