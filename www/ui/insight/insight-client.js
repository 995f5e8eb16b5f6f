// The page's side of the insight worker (./worker.js documents the messages). It follows the
// hub's model: each model the page settles on (not the weights that stream in every few
// seconds while training; those wait until training ends) goes to the worker, which looks
// through the 10,000 test digits once for it, in the background, with progress. Nothing runs
// until something asks (`activate()`: a card opens, the map comes into view, a run is
// replayed), so a visit that never looks costs no CPU.
//
// Events (addEventListener(type, e => e.detail)):
//   'progress' {key, done, total}    the pass for the model in use is under way
//   'pass'     {key, layers, labels, predictions, projection, embeddingLayer, seconds}
//   'error'    {message}

export class InsightClient extends EventTarget {
  #worker;
  #nextId = 1;
  /** id → {resolve, reject, onAscent} */
  #pending = new Map();
  #nextKey = 1;
  /** The key of the model in use, and its pass once done. */
  key = 0;
  pass = null;
  #stale = false;
  #active = false;

  constructor(hub) {
    super();
    this.hub = hub;
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#worker.addEventListener('message', ({ data }) => this.#onMessage(data));
    this.#worker.addEventListener('error', (e) => {
      e.preventDefault();
      this.dispatchEvent(new CustomEvent('error', { detail: { message: `the insight worker failed: ${e.message || 'it could not start'}` } }));
    });
    this.#stale = true;
    hub.addEventListener('model', () => {
      this.#stale = true;
      if (!hub.busy) this.#useModel();
    });
    hub.addEventListener('busy', ({ detail }) => {
      if (!detail.busy) this.#useModel();
    });
  }

  /** Starts following the model in use (idempotent). */
  activate() {
    this.#active = true;
    if (!this.hub.busy) this.#useModel();
  }

  #request(message, transfer = [], onAscent = null) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onAscent });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  #onMessage(data) {
    const pending = this.#pending.get(data.id);
    if (data.type === 'progress') {
      if (data.key === this.key) this.dispatchEvent(new CustomEvent('progress', { detail: data }));
      return;
    }
    if (data.type === 'cancelled') {
      this.#settle(data.id, null);
      return;
    }
    if (data.type === 'ascent') {
      pending?.onAscent?.(data);
      if (data.done) this.#settle(data.id, data);
      return;
    }
    if (data.type === 'error') {
      this.#pending.delete(data.id);
      pending?.reject(new Error(data.message));
      if (!pending) this.dispatchEvent(new CustomEvent('error', { detail: data }));
      return;
    }
    if (data.type === 'pass' && data.key === this.key) {
      this.pass = data;
      this.dispatchEvent(new CustomEvent('pass', { detail: data }));
    }
    this.#settle(data.id, data);
  }

  #settle(id, value) {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    pending?.resolve(value);
  }

  #useModel() {
    const recognizer = this.hub.recognizer;
    if (!recognizer || !this.#active || !this.#stale) return;
    this.#stale = false;
    this.key = this.#nextKey++;
    this.pass = null;
    const weights = recognizer.toSafetensors();
    this.#request({ type: 'model', key: this.key, weights }, [weights.buffer]).catch((error) => {
      this.dispatchEvent(new CustomEvent('error', { detail: { message: `looking through the test digits failed: ${error.message}` } }));
    });
  }

  /** Resolves once the pass for the model in use is done. */
  whenPassed() {
    this.activate();
    if (this.pass) return Promise.resolve(this.pass);
    return new Promise((resolve) => {
      const listener = ({ detail }) => {
        this.removeEventListener('pass', listener);
        resolve(detail);
      };
      this.addEventListener('pass', listener);
    });
  }

  /** The card's numbers for one channel: {top, bottom, classMeans, histogram, images}. */
  async channel(layer, channel) {
    const pass = await this.whenPassed();
    return this.#request({ type: 'channel', key: pass.key, layer, channel });
  }

  /** Feature visualisation; `onAscent({image, activation, steps, done})` as it converges.
   *  Resolves with the last report, or null when a newer request replaced it. */
  visualize(layer, channel, { steps = 128, seed = 0 } = {}, onAscent = () => {}) {
    this.activate();
    return this.#request({ type: 'visualize', key: this.key, layer, channel, steps, seed }, [], onAscent);
  }

  /** One test digit: {pixels: Float32Array(784) 0..1, label}. */
  digit(index) {
    return this.#request({ type: 'digit', index });
  }

  /** A digit map of the first `images` test digits for weights (a training snapshot). */
  snapshot(weights, images) {
    const copy = weights.slice();
    return this.#request({ type: 'snapshot', weights: copy, images }, [copy.buffer]);
  }
}
