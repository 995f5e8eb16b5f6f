// Talks to worker.js: keeps its model the page's, asks one explanation at a time and keeps
// only the newest request waiting (a finished stroke makes the previous one moot).

export const WORKER_URL = new URL('./worker.js', import.meta.url).href;

export class ExplainWorker {
  constructor() {
    this.worker = new Worker(WORKER_URL, { type: 'module' });
    this.version = 0; // of the page's model
    this.sentVersion = -1; // of the model the worker has
    this.recognizer = null;
    this.busy = null; // {id, resolve, reject}
    this.waiting = null; // the newest request not sent yet
    this.nextId = 1;
    this.worker.onmessage = ({ data }) => this.#answer(data);
    this.worker.onerror = (e) => this.#answer({ type: 'failed', id: this.busy?.id, message: e.message || 'the explanation worker failed' });
  }

  /** The page's model changed: the worker gets it with the next request. */
  setModel(recognizer) {
    this.recognizer = recognizer;
    this.version++;
  }

  /** Resolves with the explanation, or with null when a newer request replaced this one. */
  explain(rgba, width, height, options) {
    if (this.waiting) this.waiting.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiting = { rgba, width, height, options, resolve, reject };
      this.#pump();
    });
  }

  #pump() {
    if (this.busy || !this.waiting || !this.recognizer) return;
    const job = this.waiting;
    this.waiting = null;
    if (this.sentVersion !== this.version) {
      // Copied out of the main thread's wasm memory; ~1 MB for the pretrained model.
      const bytes = this.recognizer.toSafetensors();
      this.worker.postMessage({ type: 'model', version: this.version, bytes }, [bytes.buffer]);
      this.sentVersion = this.version;
    }
    const id = this.nextId++;
    this.busy = { id, resolve: job.resolve, reject: job.reject };
    const { rgba, width, height, options } = job;
    this.worker.postMessage({ type: 'explain', id, version: this.version, rgba, width, height, options }, [rgba.buffer]);
  }

  #answer(data) {
    if (data.id === -1) {
      // The model did not load in the worker: the page's model is fine, so report and retry.
      this.sentVersion = -1;
      return;
    }
    const job = this.busy;
    if (!job || job.id !== data.id) return;
    this.busy = null;
    if (data.type === 'explained' && data.version === this.version) job.resolve(data.result);
    else if (data.type === 'explained') job.resolve(null); // computed for a model no longer in use
    else job.reject(new Error(data.message));
    this.#pump();
  }
}
