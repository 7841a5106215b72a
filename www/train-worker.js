// Module worker bootstrap: loads the training module (WebGPU + CPU) and hands control to Rust,
// which posts {type: "ready"} once it listens for messages.
import init, { run_worker } from './train/trainer.js';

try {
  await init({ module_or_path: new URL('./train/trainer_bg.wasm', import.meta.url) });
  run_worker();
} catch (e) {
  postMessage({ type: 'error', message: `the training module failed to load: ${e}`, fatal: true });
}
