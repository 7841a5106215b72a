// Offline use: registers the service worker, and when a new version of the app has been
// installed beside the running one, offers to switch (never mid-session behind the user's back:
// the running page keeps the files it started with until the user reloads).
export function registerOffline() {
  if (!('serviceWorker' in navigator)) return;
  const banner = document.getElementById('update');
  const offer = (worker) => {
    banner.hidden = false;
    document.getElementById('update-now').onclick = () => worker.postMessage({ type: 'activate' });
  };
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // Only a switch the user asked for reloads; the first install just takes control.
    if (!banner.hidden && !reloading) { reloading = true; location.reload(); }
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
