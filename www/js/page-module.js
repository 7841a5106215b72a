// The page's own Rust module, replaceable. A panic leaves a WebAssembly instance unusable (its
// stack and heap stay where the panic left them), so when the module reports one (its panic
// hook fires `fashion-panic`) the page loads a fresh instance of the same files and asks its
// users to rebuild what lived in the old one (the classifier's model, from the last good bytes).
// Everything the page holds goes through `exports`, which always answers with the live instance.

export class PageModule {
  /** bindings: the module Trunk's loader started (window.wasmBindings). */
  constructor(bindings) {
    this.bindings = bindings;
    this.instances = 1;
    this.replacing = null;
    this.onReplaced = []; // (why) => void, after a fresh instance is in use
    this.exports = new Proxy({}, { get: (_, name) => this.bindings[name] });
    addEventListener('fashion-panic', (e) => {
      // The panicking call is still unwinding into its JavaScript caller: replace afterwards.
      if (!this.replacing) this.replacing = new Promise((r) => setTimeout(r, 0)).then(() => this.replace(String(e.detail ?? 'a panic')));
    });
  }

  /** True while a panicked instance is being replaced: callers show their failure as that. */
  get crashed() { return this.replacing !== null; }

  async replace(why) {
    try {
      const { glue, wasm } = window.wasmSources;
      this.instances += 1;
      // A new URL is a new module record, hence new glue state around a new instance (the
      // service worker answers it from the cached file when offline).
      const fresh = await import(`${glue}?instance=${this.instances}`);
      await fresh.default({ module_or_path: wasm });
      this.bindings = fresh;
      window.wasmBindings = fresh;
      for (const f of this.onReplaced) f(why);
    } catch (e) {
      for (const f of this.onReplaced) f(why, e);
    } finally {
      this.replacing = null;
    }
  }
}
