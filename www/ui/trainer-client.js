// The page's side of the training worker (the message protocol is documented at the top of
// www/worker.js). A TrainerClient owns one dedicated module worker that holds the wasm
// Trainer and the bundled data; panels share one through sharedTrainerClient(), because the
// data is loaded once and this machine class has few cores to spare.
//
// Methods return promises; progress arrives as events (addEventListener(type, e => e.detail)):
//   'start'        {id, job, trainSize, validationSize, batchesPerEpoch, epochs, batchSize, workers}
//   'worker-restarted' {message}: one of the other cores' workers failed and was replaced
//   'data-progress' {loaded, total}: the full MNIST training set downloading (train({fullMnist}))
//   'batch'        Rust's batch event + imagesPerSecond, elapsedMs, etaMs, progress, epochProgress
//   'validating'   {epoch, done, total, elapsedMs, etaMs}
//   'epoch'        the epoch record + weights (Uint8Array safetensors), elapsedMs, memoryBytes
//   'weights'      {epoch, batch, weights}: mid-epoch weights, every ~2 s
//   'paused', 'resumed'
//   'eval-progress' {done, total}: the test evaluation after training or from evaluate()
//   'finished'     the finish event + weights, test (evaluation or null), history, trainSeconds
//   'error'        {message, fatal, restarted, job}: every failure (the promise concerned rejects
//                  too). fatal: the worker died (e.g. a Rust panic, with its message); restarted:
//                  it has been replaced by a fresh one (not when it never loaded: then the next
//                  request tries a fresh one).
// Every event's detail carries `id` (the request) and `job` ('train' | 'fine-tune' | 'evaluate'
// | 'test-images'), so a panel can tell its own jobs from another panel's. Each panel reports
// the failures of its own requests; the Train panel also reports those of no request (job null).
// One train / fine-tune job runs at a time; evaluate and test-images may run beside it.

/** The page's training defaults: what pressing Train does. They are Rust's
 *  `TrainConfig::default()` (src/train.rs says why these values; an e2e test keeps the two
 *  equal), written out here so the form can show them before the wasm module has loaded. */
export const DEFAULT_CONFIG = Object.freeze({
  epochs: 2,
  batchSize: 64,
  learningRate: 0.003,
  optimizer: 'adam',
  momentum: 0.9,
  weightDecay: 0.01,
  schedule: 'cosine',
  trainSize: 20000,
  validationSplit: 0.1,
  earlyStopping: true,
  patience: 2,
  minDelta: 0.001,
  augment: true,
  // What `augment` does (src/augment.rs): shifts of up to 2 px; every other distortion off.
  augmentation: Object.freeze({ shift: 2, rotation: 0, scale: 0, shear: 0, elastic: 0, thickness: 0, blur: 0, lowRes: 0 }),
  seed: 42,
});

/** The most Web Workers a job may use: past about 8, a batch of 64 leaves each worker too few
 *  images to pay for its messages. */
export const MAX_WORKERS = 8;
/** Web Workers training and evaluation use by default: every core, up to MAX_WORKERS. */
export function defaultWorkers() {
  return Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 1));
}

export class TrainerClient extends EventTarget {
  /** Workers each job runs on (the Train form sets it). */
  workers = defaultWorkers();
  #url;
  #worker = null;
  #workerReady = false;
  #ready = null;
  #resolveReady = null;
  #rejectReady = null;
  /** id → {job, resolve, reject} */
  #pending = new Map();
  #nextId = 1;
  /** id of the running train / fine-tune job, or null. */
  #job = null;
  #paused = false;

  constructor(url = new URL('../worker.js', import.meta.url)) {
    super();
    this.#url = url;
    this.#spawn();
  }

  /** Resolves with {trainSize, testSize} once the worker has loaded wasm and the data. */
  ready() {
    this.#ensureWorker();
    return this.#ready;
  }

  /** True while a train or fine-tune job runs (paused included). */
  get running() {
    return this.#job !== null;
  }

  get paused() {
    return this.#paused;
  }

  /** Trains `architecture` ({name, layers}) from scratch, or continues from `initialWeights`
   *  (safetensors bytes; their architecture wins). Resolves with the 'finished' detail; the
   *  promise's `.id` is the id its events carry. */
  train({ architecture, config = {}, initialWeights = null, fullMnist = false }) {
    return this.#startJob('train', { architecture, config: { ...DEFAULT_CONFIG, ...config }, initialWeights, fullMnist, workers: this.workers });
  }

  /** Trains `weights` further on the user's labelled drawings (pixels 0..1, 784 per image),
   *  each repeated `repeat` times, mixed with `bundledImages` bundled ones. Same events as train. */
  fineTune({ weights, pixels, labels, config = {}, bundledImages = 2000, repeat = 5 }) {
    return this.#startJob('fine-tune', {
      weights, pixels, labels, bundledImages, repeat, config: { ...DEFAULT_CONFIG, ...config }, workers: this.workers,
    });
  }

  pause() {
    this.#control('pause');
  }

  resume() {
    this.#control('resume');
  }

  /** Ends the running job after the current batch, keeping the best weights so far. */
  stop() {
    this.#control('stop');
  }

  /** Resolves with {count, loss, accuracy, confusion[10][10], predictions[]} on the 10,000
   *  bundled test images, computed in the worker ('eval-progress' events on the way). */
  evaluate(weights) {
    return this.#request('evaluate', { weights, workers: this.workers }).promise;
  }

  /** Resolves with [{index, label, pixels: Uint8Array(784)}] from the bundled test set. */
  testImages(indices) {
    return this.#request('test-images', { indices: [...indices] }).promise;
  }

  /** Resolves with {originals: Uint8Array(784)[], augmented: Float32Array(indices·copies·784)}:
   *  `copies` versions of each bundled training image at `indices`, distorted by `augmentation`
   *  (TrainConfig.augmentation) with `seed`. */
  augmentExamples({ indices, augmentation, copies, seed }) {
    return this.#request('augment-examples', { indices: [...indices], augmentation, copies, seed }).promise;
  }

  /** Resolves with the robustness report of `weights` ([{name, count, correct, accuracy,
   *  perDigit}]; 'robustness-progress' events on the way) on `perDigit` test images of each
   *  digit (0 = all) and the optdigits collection, read with preprocessing `steps`. */
  robustness({ weights, perDigit, steps }) {
    return this.#request('robustness', { weights, perDigit, steps });
  }

  /** Ends the worker for good (pending requests reject). */
  terminate() {
    this.#fail('the training worker was shut down', null, { report: false, respawn: false });
  }

  #spawn() {
    this.#workerReady = false;
    this.#ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Callers of ready() see the rejection; the 'error' event reports it to everyone else.
    this.#ready.catch(() => {});
    const worker = new Worker(this.#url, { type: 'module' });
    worker.onmessage = ({ data }) => {
      if (worker === this.#worker) this.#onMessage(data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      if (worker === this.#worker) {
        this.#fail(`the training worker failed: ${event.message || 'www/worker.js could not be loaded or threw'}`, null);
      }
    };
    worker.onmessageerror = () => {
      if (worker === this.#worker) this.#fail('a message from the training worker could not be read', null);
    };
    this.#worker = worker;
  }

  #ensureWorker() {
    if (!this.#worker) this.#spawn();
  }

  #request(job, payload) {
    this.#ensureWorker();
    const id = this.#nextId++;
    const promise = new Promise((resolve, reject) => this.#pending.set(id, { job, resolve, reject }));
    this.#worker.postMessage({ type: job, id, ...payload });
    return { id, promise };
  }

  /** The promise carries the request id as `.id` (the `id` of the job's events). */
  #startJob(job, payload) {
    if (this.#job !== null) {
      return Object.assign(Promise.reject(new Error('a training run is already in progress: stop it first')), { id: null });
    }
    const { id, promise } = this.#request(job, payload);
    this.#job = id;
    this.#paused = false;
    return Object.assign(promise, { id });
  }

  #control(type) {
    if (this.#job !== null) this.#worker.postMessage({ type });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #settle(id, outcome, value) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (id === this.#job) {
      this.#job = null;
      this.#paused = false;
    }
    pending[outcome](value);
  }

  #onMessage(message) {
    const job = this.#pending.get(message.id)?.job ?? null;
    switch (message.type) {
      case 'ready':
        this.#workerReady = true;
        this.#resolveReady({ trainSize: message.trainSize, testSize: message.testSize });
        return;
      case 'error':
        if (message.fatal) {
          this.#fail(message.message, job);
        } else {
          this.#settle(message.id, 'reject', new Error(message.message));
          this.#emit('error', { id: message.id, job, message: message.message, fatal: false, restarted: false });
        }
        return;
      case 'result':
        this.#settle(message.id, 'resolve', message.value);
        return;
      case 'paused':
      case 'resumed':
        this.#paused = message.type === 'paused';
        break;
    }
    // Settle first, so that listeners of 'finished' already see `running` false.
    if (message.type === 'finished') this.#settle(message.id, 'resolve', { ...message, job });
    this.#emit(message.type, { ...message, job });
  }

  /** The worker is unusable: tell everyone, reject what waits on it, and replace it (unless it
   *  never loaded, when a fresh one would fail the same way: the next request tries again). */
  #fail(message, job, { report = true, respawn = this.#workerReady } = {}) {
    this.#worker?.terminate();
    this.#worker = null;
    const error = new Error(message);
    this.#rejectReady(error);
    for (const id of [...this.#pending.keys()]) this.#settle(id, 'reject', error);
    this.#job = null;
    this.#paused = false;
    if (respawn) this.#spawn();
    if (report) this.#emit('error', { id: null, job, message, fatal: true, restarted: respawn });
  }
}

let shared = null;

/** The page's one TrainerClient (created on first use). */
export function sharedTrainerClient() {
  shared ??= new TrainerClient();
  return shared;
}
