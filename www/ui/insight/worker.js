// The insight worker: what each unit looks for, computed off the page's thread. It loads the
// bundled 10,000 test digits itself (the training worker is busy training; two workers never
// wait for each other) and keeps, per model, one pass over them (wasm TopK: every channel's
// top and bottom 9 digits, peaks, dense1 embeddings, predictions) and the map of all digits.
//
// Messages in (each with `id`; a newer 'model' cancels the pass running for an older one):
//   {type:'model', id, key, weights}   weights: safetensors bytes. Runs the pass for `key` unless
//                                      it is cached (the last few models are).
//   {type:'channel', id, key, layer, channel}    the card's numbers and its 18 thumbnails
//   {type:'visualize', id, key, layer, channel, steps, seed}   gradient ascent, reported as it
//                                      converges; a newer 'visualize' stops an older one
//   {type:'digit', id, index}          one test digit's pixels (0..1) and label
//   {type:'snapshot', id, weights, images}   a digit map of the first `images` test digits for
//                                      a training snapshot (not cached)
// Messages out:
//   {type:'progress', id, key, done, total}      during a pass
//   {type:'pass', id, key, layers, labels, predictions, projection, embeddingLayer, seconds}
//   {type:'channel', id, key, ...TopK.channel(), images: Uint8Array(18·784)}
//   {type:'ascent', id, image, activation, steps, done}
//   {type:'cancelled', id}                       an ascent a newer one replaced
//   {type:'digit', id, index, pixels, label}
//   {type:'snapshot', id, projection, labels, predictions}
//   {type:'error', id, message}
import init, * as wasm from '../../pkg/digitlens.js';

const TEST = ['../../data/t10k-images-idx3-ubyte.gz', '../../data/t10k-labels-idx1-ubyte.gz'];
/** Digits per step of a pass: small enough that a new request waits at most ~0.1 s. */
const PASS_CHUNK = 250;
/** Ascent steps between two reports. */
const ASCENT_CHUNK = 8;
/** Models whose pass is kept. */
const CACHED = 3;
const PIXELS = 784;

const post = (message, transfer = []) => self.postMessage(message, transfer);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

const ready = (async () => {
  await init({ module_or_path: new URL('../../pkg/digitlens_bg.wasm', import.meta.url) });
  const [images, labels] = await Promise.all(TEST.map(async (path) => {
    const response = await fetch(new URL(path, import.meta.url));
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }));
  return wasm.Dataset.fromIdx(images, labels);
})();

/** key → {recognizer, pass (TopK, once done), summary} */
const models = new Map();
/** The newest request of each kind that can be superseded. */
let latestModel = 0;
let latestAscent = 0;

function remember(key, entry) {
  models.set(key, entry);
  while (models.size > CACHED) {
    const [oldKey, old] = models.entries().next().value;
    models.delete(oldKey);
    old.pass?.free();
    old.recognizer.free();
  }
}

function passMessage(id, key, entry) {
  const { pass } = entry;
  const projection = pass.projection(2);
  return {
    type: 'pass', id, key, seconds: entry.seconds,
    layers: entry.layers,
    embeddingLayer: pass.embeddingLayer,
    labels: pass.labels(),
    predictions: pass.predictions(),
    projection,
  };
}

async function onModel({ id, key, weights }) {
  latestModel = id;
  const data = await ready;
  let entry = models.get(key);
  if (entry?.pass) {
    post(passMessage(id, key, entry));
    return;
  }
  if (!entry) {
    const recognizer = wasm.Recognizer.fromSafetensors(weights);
    const layers = recognizer.predict28(new Float32Array(PIXELS)).layers.map((l) => ({ name: l.name, shape: l.shape }));
    entry = { recognizer, layers, pass: null };
    remember(key, entry);
  }
  const pass = new wasm.TopK(entry.recognizer);
  const started = performance.now();
  for (let done = 0; done < data.length;) {
    if (latestModel !== id || !models.has(key)) {
      pass.free();
      return;
    }
    done = pass.add(entry.recognizer, data, done + PASS_CHUNK);
    post({ type: 'progress', id, key, done, total: data.length });
    await tick();
  }
  entry.pass = pass;
  entry.seconds = (performance.now() - started) / 1000;
  post(passMessage(id, key, entry));
}

async function onChannel({ id, key, layer, channel }) {
  const data = await ready;
  const entry = models.get(key);
  if (!entry?.pass) throw new Error('the digits for this model are still being looked through');
  const stats = entry.pass.channel(layer, channel);
  const examples = [...stats.top, ...stats.bottom];
  const images = new Uint8Array(examples.length * PIXELS);
  examples.forEach((e, i) => images.set(data.image(e.index), i * PIXELS));
  post({ type: 'channel', id, key, ...stats, images }, [images.buffer]);
}

async function onVisualize({ id, key, layer, channel, steps, seed }) {
  latestAscent = id;
  await ready;
  const entry = models.get(key);
  if (!entry) throw new Error('this model is not loaded in the insight worker');
  const ascent = entry.recognizer.featureAscent(layer, channel, { steps, seed });
  try {
    for (;;) {
      const v = ascent.advance(entry.recognizer, ASCENT_CHUNK);
      const done = ascent.isFinished;
      post({ type: 'ascent', id, layer, channel, image: v.image, activation: v.activation, steps: v.steps, done }, [v.image.buffer]);
      if (done) return;
      await tick();
      if (latestAscent !== id || !models.has(key)) {
        post({ type: 'cancelled', id });
        return;
      }
    }
  } finally {
    ascent.free();
  }
}

async function onDigit({ id, index }) {
  const data = await ready;
  if (!(index >= 0 && index < data.length)) throw new Error(`there is no test digit ${index}`);
  const pixels = Float32Array.from(data.image(index), (p) => p / 255);
  post({ type: 'digit', id, index, pixels, label: data.label(index) }, [pixels.buffer]);
}

async function onSnapshot({ id, weights, images }) {
  const data = await ready;
  const recognizer = wasm.Recognizer.fromSafetensors(weights);
  const pass = new wasm.TopK(recognizer);
  try {
    pass.add(recognizer, data, Math.min(images, data.length));
    post({ type: 'snapshot', id, projection: pass.projection(2), labels: pass.labels(), predictions: pass.predictions() });
  } finally {
    pass.free();
    recognizer.free();
  }
}

const handlers = { model: onModel, channel: onChannel, visualize: onVisualize, digit: onDigit, snapshot: onSnapshot };

self.addEventListener('message', async ({ data: message }) => {
  try {
    const handler = handlers[message.type];
    if (!handler) throw new Error(`unknown request ${message.type}`);
    await handler(message);
  } catch (error) {
    post({ type: 'error', id: message.id, request: message.type, message: error?.message ?? String(error) });
  }
});
