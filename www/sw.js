// Service worker: keeps one complete, consistent copy of the app (page, both wasm modules, the
// ready model) per version, so the page loads, classifies and trains offline. The dataset itself
// stays in the page's own 'fashion-data-v1' cache (see js/dataset.js).
// VERSION and ASSETS are filled in by scripts/build/stamp-sw.py at build time.
const VERSION = '__VERSION__';
const ASSETS = __ASSETS__;
const PREFIX = 'fashion-app-';
const CACHE = PREFIX + VERSION;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // 'reload': the files of this version from the server, never from the HTTP cache.
    await cache.addAll(ASSETS.map((a) => new Request(a, { cache: 'reload' })));
    // The first version takes over at once; a later one waits until the user asks (js/offline.js),
    // so a running page never gets files from a different version.
    if (!self.registration.active) await self.skipWaiting();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'activate') self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith(PREFIX) && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.includes('/data/')) return; // the dataset: js/dataset.js caches it itself
  if (url.pathname.endsWith('/train/modules.json')) {
    // Which training modules exist changes while a first build finishes them (scripts/run.sh):
    // the server's answer when there is one, this version's copy offline.
    event.respondWith(fetch(request).catch(async () => (await caches.open(CACHE)).match(request, { ignoreSearch: true })));
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = request.mode === 'navigate'
      ? await cache.match(new URL('./', self.location.href).href, { ignoreSearch: true })
      : await cache.match(request, { ignoreSearch: true });
    return hit || fetch(request);
  })());
});
