// The charts' worker: draws the curves, the prediction grid, the confusion matrix and per-class
// accuracy onto the page's canvases handed over as OffscreenCanvases, so that none of it takes
// the page's main thread (charts.js does the drawing; the page only posts what changed).
import { createRenderer } from './charts.js';

let renderer = null;
self.onmessage = ({ data }) => {
  if (data.type === 'init') renderer = createRenderer(data.canvases, data.facts, (m) => self.postMessage(m));
  else renderer?.handle(data);
};
