// Module worker bootstrap: loads the training module named by the worker's name (cpu: the CPU
// engine with WebAssembly SIMD; cpu-relaxed: the same with relaxed SIMD's fused multiply-add;
// gpu: the GPU engine on WebGPU, with the CPU engine beside it), and hands control to Rust,
// which posts {type: "ready"} once it listens for messages. (The name, not the script's URL: a
// service worker answering from its cache gives the worker the cached request's URL.)
const MODULES = ['cpu', 'cpu-relaxed', 'gpu'];
const name = self.name || 'cpu';

try {
  if (!MODULES.includes(name)) throw new Error(`no training module '${name}'`);
  const { default: init, run_worker } = await import(`./train/${name}.js`);
  await init({ module_or_path: new URL(`./train/${name}_bg.wasm`, import.meta.url) });
  run_worker();
} catch (e) {
  postMessage({ type: 'error', message: `the training module failed to load: ${e}`, fatal: true });
}
