// What the page keeps across reloads, in IndexedDB (store.js): the latest run (its last model,
// its checkpoint for an exact resume, metrics, history and settings) and the one before it, the
// last model file the user loaded, and which model the drawing panel uses ('trained', 'loaded'
// or 'ready').
import * as store from './store.js';

/** Everything saved, read in one go; a store that cannot be read is reported and skipped. */
export async function loadAll(onError) {
  const [run, loaded, choice, previous, beforeTeach] = await store.loadAll(['trained', 'loaded', 'choice', 'previous', 'beforeTeach']).catch((e) => {
    onError('models', e);
    return [null, null, null, null, null];
  });
  const whole = (r) => (r?.weights && r.config ? r : null);
  return { run: whole(run), loaded, choice, previous: whole(previous), beforeTeach: beforeTeach?.bytes ? beforeTeach : null };
}

/** A new run is starting: the latest run is kept as the previous one until another replaces it. */
export const keepAsPrevious = () => store.copy('trained', 'previous');
/** The previous run is forgotten (the user discarded it). */
export const discardPrevious = () => store.save('previous', null);
/** The previous run becomes the latest (its model in use), the latest the previous. */
export const swapWithPrevious = () => store.swap('trained', 'previous').then(() => store.save('choice', 'trained'));

/** The latest run; with `choice`, the page's use of its model, in the same transaction. */
export const saveRun = (record, choice = null) => store.saveAll(choice ? [['trained', record], ['choice', choice]] : [['trained', record]]);
export const saveLoaded = (record) => store.saveAll([['loaded', record], ['choice', 'loaded']]);
export const saveChoice = (choice) => store.save('choice', choice);
/** A taught model in use, and the model it replaced ({bytes, info}), one click away even after a
 * reload: one transaction. */
export const saveTaught = (record, before) => store.saveAll([['loaded', record], ['choice', 'loaded'], ['beforeTeach', before]]);
export const forgetBeforeTeach = () => store.save('beforeTeach', null);
