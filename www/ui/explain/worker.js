// The slow attribution methods (integrated gradients, occlusion) off the main thread, so the
// pad never waits for them. The worker owns a copy of the page's model, sent as safetensors
// bytes whenever the model in use changes (see client.js).
//
// Messages in:  {type: 'model', version, bytes}   use this model from now on
//               {type: 'explain', id, version, rgba, width, height, options}
// Messages out: {type: 'explained', id, version, result} | {type: 'failed', id, message}
import init, { Recognizer } from '../../pkg/digitlens.js';

const ready = init();
let model = null;
let modelVersion = -1;

self.onmessage = async ({ data }) => {
  await ready;
  if (data.type === 'model') {
    try {
      const next = Recognizer.fromSafetensors(data.bytes);
      model?.free();
      model = next;
      modelVersion = data.version;
    } catch (e) {
      self.postMessage({ type: 'failed', id: -1, message: e.message || String(e) });
    }
    return;
  }
  if (data.type === 'explain') {
    try {
      if (!model || modelVersion !== data.version) throw new Error('the model changed; asking again');
      const t0 = performance.now();
      const result = model.explain(data.rgba, data.width, data.height, data.options);
      result.ms = performance.now() - t0;
      self.postMessage({ type: 'explained', id: data.id, version: data.version, result }, [result.map.buffer]);
    } catch (e) {
      self.postMessage({ type: 'failed', id: data.id, message: e.message || String(e) });
    }
  }
};
