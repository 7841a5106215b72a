// Offline use: registers the service worker, and when a new version of the app has been
// installed beside the running one, offers to switch (never mid-session behind the user's back:
// the running page keeps the files it started with until the user reloads). A tab that is
// training never reloads: the switch waits until its run stops, pauses no run, loses nothing.
const WAIT_MS = 1000;

/** busy(): whether this tab is training (an update then waits). */
export function registerOffline({ busy = () => false } = {}) {
  if (!('serviceWorker' in navigator)) return;
  const banner = document.getElementById('update');
  const button = document.getElementById('update-now');
  const text = banner.firstChild;
  let asked = false;
  /** Runs `then` once this tab is not training, saying so meanwhile. */
  const whenIdle = (then) => {
    if (!busy()) { then(); return; }
    text.textContent = 'A new version of this app is ready: it will be applied when training stops. ';
    button.disabled = true;
    setTimeout(() => whenIdle(then), WAIT_MS);
  };
  const offer = (worker) => {
    banner.hidden = false;
    button.onclick = () => { asked = true; whenIdle(() => worker.postMessage({ type: 'activate' })); };
  };
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // Only a switch a user asked for reloads (here or in another tab of the app, which activates
    // the new version for every tab); the first install just takes control.
    if (banner.hidden && !asked) return;
    banner.hidden = false;
    whenIdle(() => { if (!reloading) { reloading = true; location.reload(); } });
  });
  navigator.serviceWorker.register('sw.js').then((reg) => {
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener('updatefound', () => {
      const next = reg.installing;
      next?.addEventListener('statechange', () => {
        if (next.state === 'installed' && navigator.serviceWorker.controller) offer(next);
      });
    });
  }).catch((e) => console.warn('offline use is not available:', e));
}
