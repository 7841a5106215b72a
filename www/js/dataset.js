// Fetches the Fashion-MNIST files from this site, with byte progress, and keeps them in the
// Cache API so a second visit (or an offline one) reads them locally. Files are only kept once
// the worker has checked them: a corrupt download must not stick.

const CACHE = 'fashion-data-v1';

async function readWithProgress(response, onBytes) {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onBytes(value.length);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/** Fetches `names` (the dataset's files) from `base`. Resolves to {files: [{name, bytes}],
 * fromCache, keep(), forget()}: `keep` stores downloaded files once they proved good, `forget`
 * drops cached ones that proved bad. onProgress(loaded, total). */
export async function fetchDataset(base, names, onProgress) {
  const cache = 'caches' in self ? await caches.open(CACHE).catch(() => null) : null;
  const urls = names.map((f) => new URL(f, base).href);
  const responses = await Promise.all(urls.map(async (u, i) => {
    const hit = cache ? await cache.match(u) : undefined;
    if (hit) return { r: hit, hit: true };
    const r = await fetch(u);
    if (!r.ok) throw new Error(`${names[i]}: HTTP ${r.status} ${r.statusText}`);
    return { r, hit: false };
  }));
  const total = responses.reduce((s, { r }) => s + Number(r.headers.get('content-length') || 0), 0);
  let loaded = 0;
  const files = await Promise.all(responses.map(async ({ r, hit }, i) => {
    const bytes = await readWithProgress(r, (n) => { loaded += n; onProgress(loaded, total); });
    return { name: names[i], bytes };
  }));
  onProgress(loaded, loaded);
  // A Response copies the bytes it is given, so the page's own copies can be stored as they are.
  const keep = async () => {
    if (!cache) return;
    await Promise.all(responses.map(({ hit }, i) => {
      if (hit) return null;
      const { bytes } = files[i];
      const headers = { 'content-length': String(bytes.length), 'content-type': 'application/gzip' };
      return cache.put(urls[i], new Response(bytes, { headers })).catch(() => {});
    }));
  };
  const forget = async () => { if (cache) await Promise.all(urls.map((u) => cache.delete(u))); };
  return { files, fromCache: responses.every(({ hit }) => hit), keep, forget };
}
