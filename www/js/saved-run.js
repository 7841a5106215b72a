// What the page keeps across reloads, in IndexedDB (store.js): the latest run (its last model,
// its checkpoint for an exact resume, metrics, history and settings), the last model file the
// user loaded, and which model the drawing panel uses ('trained', 'loaded' or 'ready').
import * as store from './store.js';

/** Everything saved, read in one go; a store that cannot be read is reported and skipped. */
export async function loadAll(onError) {
  const [run, loaded, choice] = await store.loadAll(['trained', 'loaded', 'choice']).catch((e) => {
    onError('models', e);
    return [null, null, null];
  });
  return { run: run?.weights && run.config ? run : null, loaded, choice };
}

/** The latest run; with `choice`, the page's use of its model, in the same transaction. */
export const saveRun = (record, choice = null) => store.saveAll(choice ? [['trained', record], ['choice', choice]] : [['trained', record]]);
export const saveLoaded = (record) => store.saveAll([['loaded', record], ['choice', 'loaded']]);
export const saveChoice = (choice) => store.save('choice', choice);
