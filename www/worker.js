// The training worker: owns the wasm Trainer and the bundled data, so the page never blocks.
// Spoken to only through ui/trainer-client.js. Training is a loop of `trainer.step()` calls
// (one batch or one validation chunk each) that yields to the event loop between steps, so
// pause/stop messages get through mid-epoch; Stop takes effect after the running batch.
//
// Protocol. Every message is a plain object with a `type`; requests carry an `id` that every
// reply and event about that request repeats. Buffers from the worker are transferred.
//
// page → worker
//   {type:'train', id, architecture:{name,layers}, config, initialWeights: Uint8Array|null, workers, fullMnist}
//       config: TrainConfig fields in camelCase (src/train.rs); epochs and batchSize are
//       required (the client fills in its DEFAULT_CONFIG), other missing ones take Rust's defaults.
//       initialWeights: a .safetensors file to continue from (its architecture wins), or null.
//       workers: Web Workers to train on (this one included; default 1): each batch's gradients
//       are computed in shards by all of them at once (parallel/pool.js); also for fine-tune
//       and evaluate. fullMnist: train on all 60,000 MNIST images (data/full-*.gz, fetched
//       once, with 'data-progress' events) instead of the bundled 20,000.
//   {type:'fine-tune', id, weights, pixels: Float32Array(n·784, 0..1), labels: Uint8Array(n),
//       config, bundledImages, repeat}
//       trains `weights` on the user's images (each `repeat` times) mixed with `bundledImages`
//       bundled ones picked with config.seed; config.trainSize is ignored (all of that mix).
//   {type:'pause'} | {type:'resume'} | {type:'stop'}          the running train / fine-tune job
//   {type:'evaluate', id, weights, workers}                   on the bundled 10,000 test images
//   {type:'test-images', id, indices: number[]}
//   {type:'augment-examples', id, indices: number[], augmentation, copies, seed}
//       `copies` augmented versions of bundled training images (TrainConfig.augmentation)
//   {type:'robustness', id, weights, perDigit, steps}
//       the robustness report (src/robustness.rs) of `weights` on the first `perDigit` test
//       images of each digit and the optdigits collection, read with preprocessing `steps`
//   {type:'test-only-crash-helper', id}   TEST ONLY: makes the first gradient worker's wasm
//       panic mid-run, so the e2e tests can check a run survives losing a worker. Answered by
//       a 'result' once the crash has been asked for.
//   {type:'test-only-panic', id}    TEST ONLY (the page never sends it): makes the wasm panic
//       (testOnlyPanic), so the end-to-end tests can check how a Rust panic is reported and
//       recovered from now that no user input reaches one. Answered by a fatal 'error'.
//
// worker → page
//   {type:'ready', trainSize, testSize}                       wasm and data loaded
//   {type:'start', id, job, trainSize, validationSize, batchesPerEpoch, epochs, batchSize, workers}
//   {type:'data-progress', id, loaded, total}   the full training set downloading (bytes)
//   {type:'worker-restarted', id, message}   a gradient worker failed and was replaced; its
//       shard was computed by this worker instead, so the run goes on with the same numbers
//   {type:'batch', id, epoch, batch, batches, loss, accuracy, images,
//       imagesPerSecond, elapsedMs, etaMs, progress, epochProgress}      progress: 0–1 overall
//   {type:'validating', id, epoch, done, total, elapsedMs, etaMs}
//   {type:'epoch', id, epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate,
//       bestEpoch, weights, elapsedMs, memoryBytes}               memoryBytes: the wasm heap
//   {type:'weights', id, epoch, batch, weights}               mid-epoch, every ~2 s
//   {type:'paused', id} | {type:'resumed', id}
//   {type:'eval-progress', id, done, total}                   test evaluation (evaluate, finish)
//   {type:'finished', id, reason, weightsFromEpoch, valLoss, valAccuracy, message, divergence,
//       weights, test: Evaluation|null, history, trainSeconds, trainSize, validationSize}
//       reason: completed | earlyStopped | stopped | diverged (divergence says what: a loss
//       that became NaN, infinite or absurdly large, or weights that did). `weights` are the ones in use
//       (the best epoch's). `test` is null when stopped (Stop means: stop working now) or
//       diverged (it stops at once; the weights kept were validated already, or are the start's).
//   {type:'result', id, value}                                reply to evaluate / test-images /
//       augment-examples ({originals: Uint8Array(784)[], augmented: Float32Array}) / robustness
//   {type:'robustness-progress', id, done, total, results}   results so far, per condition
//   {type:'error', id, message, fatal}     id null: not about one request. fatal: the wasm
//       instance is unusable (a Rust panic, loading failed, or an error no request caught);
//       the page replaces the worker. A panic's message says what Rust said and where.
//   Evaluation = {count, loss, accuracy, confusion[10][10], predictions[]}
import init, * as wasm from './pkg/digitlens.js';
import { GradientPool } from './parallel/pool.js';
import { describe } from './wasm-errors.js';
import { fetchWithProgress } from './fetch-progress.js';

const DATA = {
  train: ['./data/train-images-idx3-ubyte.gz', './data/train-labels-idx1-ubyte.gz'],
  test: ['./data/t10k-images-idx3-ubyte.gz', './data/t10k-labels-idx1-ubyte.gz'],
  // All 60,000 MNIST training images, fetched only when a run asks for them (fullMnist).
  full: ['./data/full-train-images-idx3-ubyte.gz', './data/full-train-labels-idx1-ubyte.gz'],
};
/** How often mid-epoch weights go to the page, so the drawing follows training. */
const WEIGHTS_EVERY_MS = 2000;
/** Batches the images/s figure averages over. */
const RATE_WINDOW = 20;
const PIXELS = 784;

/** Runs `work(object)` (sync or async) and frees the wasm `object` afterwards, except after a
 *  trap: the instance is unusable then (free() would throw "…while it was borrowed" and hide the
 *  panic's message) and the page replaces this worker anyway. */
function withFreed(object, work) {
  const fail = (error) => {
    if (!(error instanceof WebAssembly.RuntimeError)) object.free();
    throw error;
  };
  let result;
  try {
    result = work(object);
  } catch (error) {
    fail(error);
  }
  if (!(result instanceof Promise)) {
    object.free();
    return result;
  }
  return result.then((value) => {
    object.free();
    return value;
  }, fail);
}

// Failures no request caught (a timer, a rejected promise nobody awaited): report them with the
// panic text, as fatal (this worker's state is unknown), instead of the page's bare
// "Uncaught Error" from the Worker's error event. preventDefault keeps that second report away.
self.addEventListener('error', (event) => {
  event.preventDefault();
  reportUncaught(event.error ?? event.message);
});
self.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  reportUncaught(event.reason);
});
function reportUncaught(error) {
  const { message } = describe(error);
  post({ type: 'error', id: job?.id ?? null, fatal: true, message: `the training worker failed: ${message}` });
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The full training set, loaded once on first use and kept. */
let fullTrainingSet = null;
async function loadFullTrainingSet(id) {
  if (!fullTrainingSet) {
    const [images, labels] = await Promise.all([
      fetchWithProgress(DATA.full[0], (loaded, total) => post({ type: 'data-progress', id, loaded, total })),
      fetchBytes(DATA.full[1]),
    ]);
    fullTrainingSet = wasm.Dataset.fromIdx(images, labels);
  }
  return fullTrainingSet;
}

async function load() {
  const [exports, train, test] = await Promise.all([
    init(),
    Promise.all(DATA.train.map(fetchBytes)),
    Promise.all(DATA.test.map(fetchBytes)),
  ]);
  return { memory: exports.memory, train: wasm.Dataset.fromIdx(...train), test: wasm.Dataset.fromIdx(...test) };
}

const loaded = load();
loaded.then(
  ({ train, test }) => post({ type: 'ready', trainSize: train.length, testSize: test.length }),
  (error) => post({ type: 'error', id: null, fatal: true, message: `the training worker could not load: ${error.message}` }),
);

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

/** Resolves on the next task: lets queued messages (pause, stop) run. MessageChannel, not
 *  setTimeout, because nested timeouts are clamped to 4 ms. */
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
function nextTask() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

/** The running train / fine-tune job: {id, paused, stopRequested, wake}. One at a time. */
let job = null;

/** The other cores' workers; sized per request by its `workers`. */
const pool = new GradientPool(new URL('./parallel/gradient-worker.js', import.meta.url), (why, replaced) => {
  const message = replaced
    ? `a training worker failed (${why}) and was replaced; the run goes on`
    : `a training worker could not start (${why}); the others do its share`;
  post({ type: 'worker-restarted', id: job?.id ?? null, message });
});

/** Averages images/s over the last RATE_WINDOW measurements of one kind of work. */
class Rate {
  constructor() { this.samples = []; }
  add(images, ms) {
    this.samples.push([images, ms]);
    if (this.samples.length > RATE_WINDOW) this.samples.shift();
  }
  /** Images per ms, or `fallback` before any measurement. */
  perMs(fallback) {
    const [images, ms] = this.samples.reduce(([i, m], [a, b]) => [i + a, m + b], [0, 0]);
    return ms > 0 ? images / ms : fallback;
  }
}

/** Elapsed time of a job, not counting pauses. */
class Clock {
  constructor() { this.start = performance.now(); this.pausedMs = 0; this.pausedAt = null; }
  pause() { this.pausedAt = performance.now(); }
  resume() { this.pausedMs += performance.now() - this.pausedAt; this.pausedAt = null; }
  elapsed() { return performance.now() - this.start - this.pausedMs; }
}

async function waitWhilePaused(current, clock) {
  if (!current.paused || current.stopRequested) return;
  clock.pause();
  post({ type: 'paused', id: current.id });
  await new Promise((resolve) => { current.wake = resolve; });
  clock.resume();
  post({ type: 'resumed', id: current.id });
}

/** Evaluates `recognizer` on the test set, spread over `workers` workers, a part per task;
 *  null if `cancelled()` turns true. */
async function evaluateOnTest(id, recognizer, test, workers, cancelled = () => false) {
  // Beside a running job (whose model the pool holds), a pool of this worker alone.
  const beside = job && job.id !== id;
  const evaluator = beside ? new GradientPool(null) : pool;
  try {
    await evaluator.configure(beside ? 1 : workers, JSON.stringify(recognizer.architecture()));
    const evaluation = await evaluator.evaluate(recognizer.flatWeights(), test.length, (from, to) => test.range(from, to), {
      onProgress: (done, total) => post({ type: 'eval-progress', id, done, total }),
      cancelled,
      yieldToEvents: nextTask,
    });
    return evaluation && withFreed(evaluation, () => evaluation.result());
  } finally {
    if (beside) evaluator.close();
  }
}

/** Runs a Trainer to the end, reporting every step; `trainer` is freed here. */
function runTrainer(current, trainer, { kind, epochs, batchSize }, data) {
  return withFreed(trainer, async () => {
    const clock = new Clock();
    const trainRate = new Rate();
    const evalRate = new Rate();
    const { trainSize, validationSize, batchesPerEpoch } = trainer;
    const testSize = data.test.length;
    const totalTrainImages = epochs * trainSize;
    let trainImagesDone = 0;
    let epochsDone = 0;
    let validatedThisEpoch = 0;
    let lastWeightsAt = performance.now();
    const eta = () => {
      // Forward-only work is roughly a third of a training step until it has been measured.
      const train = trainRate.perMs(0);
      const remainingEval = (epochs - epochsDone) * validationSize - validatedThisEpoch + testSize;
      const ms = (totalTrainImages - trainImagesDone) / train + remainingEval / evalRate.perMs(3 * train);
      return Number.isFinite(ms) ? ms : null;
    };
    const weights = () => trainer.toSafetensors();
    post({ type: 'start', id: current.id, job: kind, trainSize, validationSize, batchesPerEpoch, epochs, batchSize, workers: pool.size });
    // With other workers, a batch's gradients and the validation are shared out; anything
    // else (and everything with one worker) is the Trainer's own step.
    const sharedStep = async () => {
      if (pool.size === 1) return null;
      return (await pool.step(trainer)) ?? pool.validate(trainer, {
        onProgress: (done, total) => post({ type: 'validating', id: current.id, epoch: epochsDone + 1, done, total, elapsedMs: clock.elapsed(), etaMs: eta() }),
        cancelled: () => current.stopRequested,
        yieldToEvents: nextTask,
      });
    };
    for (;;) {
      await nextTask();
      await waitWhilePaused(current, clock);
      const started = performance.now();
      const event = current.stopRequested ? trainer.stop() : (await sharedStep()) ?? trainer.step();
      const ms = performance.now() - started;
      if (event.type === 'batch') {
        trainRate.add(event.images, ms);
        trainImagesDone += event.images;
        post({
          ...event, id: current.id,
          imagesPerSecond: 1000 * trainRate.perMs(0),
          elapsedMs: clock.elapsed(), etaMs: eta(),
          progress: Math.min(1, trainImagesDone / totalTrainImages),
          epochProgress: event.batch / event.batches,
        });
        if (performance.now() - lastWeightsAt > WEIGHTS_EVERY_MS) {
          const bytes = weights();
          post({ type: 'weights', id: current.id, epoch: event.epoch, batch: event.batch, weights: bytes }, [bytes.buffer]);
          lastWeightsAt = performance.now();
        }
      } else if (event.type === 'validating') {
        evalRate.add(event.done - validatedThisEpoch, ms);
        validatedThisEpoch = event.done;
        post({ ...event, id: current.id, elapsedMs: clock.elapsed(), etaMs: eta() });
      } else if (event.type === 'epoch') {
        epochsDone = event.epoch;
        validatedThisEpoch = 0;
        const bytes = weights();
        post({ ...event, id: current.id, weights: bytes, elapsedMs: clock.elapsed(), memoryBytes: data.memory.buffer.byteLength }, [bytes.buffer]);
        lastWeightsAt = performance.now();
      } else if (event.type === 'finished') {
        const trainSeconds = clock.elapsed() / 1000;
        const history = trainer.history();
        const bytes = weights();
        let test = null;
        // Stopped means stop working now; diverged keeps weights that were already validated
        // (or the ones training started from), so it stops at once too.
        if (event.reason === 'completed' || event.reason === 'earlyStopped') {
          const cancelled = () => current.stopRequested;
          test = await withFreed(trainer.recognizer(), (recognizer) => evaluateOnTest(current.id, recognizer, data.test, pool.size, cancelled));
        }
        post({ ...event, id: current.id, weights: bytes, test, history, trainSeconds, trainSize, validationSize }, [bytes.buffer]);
        return;
      }
    }
  });
}

/** A seeded shuffle (mulberry32) so the same seed picks the same bundled images. */
function seededSample(n, count, seed) {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

/** IDX files (unsigned bytes) for `images` (count·784 bytes) and their labels. */
function idxFiles(images, labels) {
  const count = labels.length;
  const imageFile = new Uint8Array(16 + images.length);
  const imageHeader = new DataView(imageFile.buffer);
  [0x803, count, 28, 28].forEach((v, i) => imageHeader.setUint32(4 * i, v));
  imageFile.set(images, 16);
  const labelFile = new Uint8Array(8 + count);
  const labelHeader = new DataView(labelFile.buffer);
  [0x801, count].forEach((v, i) => labelHeader.setUint32(4 * i, v));
  labelFile.set(labels, 8);
  return [imageFile, labelFile];
}

/** `bundledImages` bundled images picked with `seed`, plus the user's images `repeat` times.
 *  Built here rather than with config.trainSize, whose random subset could drop the user's. */
function fineTuneDataset(train, { pixels, labels, bundledImages, repeat, seed }) {
  const picked = seededSample(train.length, Math.min(bundledImages, train.length), seed);
  const images = new Uint8Array(picked.length * PIXELS);
  const pickedLabels = new Uint8Array(picked.length);
  picked.forEach((index, k) => {
    images.set(train.image(index), k * PIXELS);
    pickedLabels[k] = train.label(index);
  });
  const times = Math.max(1, repeat);
  const extraPixels = new Float32Array(pixels.length * times);
  const extraLabels = new Uint8Array(labels.length * times);
  for (let r = 0; r < times; r++) {
    extraPixels.set(pixels, r * pixels.length);
    extraLabels.set(labels, r * labels.length);
  }
  return withFreed(wasm.Dataset.fromIdx(...idxFiles(images, pickedLabels)), (base) => base.withExtra(extraPixels, extraLabels));
}

async function train(message, data) {
  const config = JSON.stringify(message.config ?? {});
  const images = message.fullMnist ? await loadFullTrainingSet(message.id) : data.train;
  const trainer = message.initialWeights
    ? wasm.Trainer.fromSafetensors(message.initialWeights, images, config)
    : wasm.Trainer.fromScratch(JSON.stringify(message.architecture), images, config);
  return { trainer, kind: 'train' };
}

function fineTune(message, data) {
  const config = JSON.stringify({ ...message.config, trainSize: 0 });
  const mixed = fineTuneDataset(data.train, { ...message, seed: message.config.seed ?? 0 });
  return { trainer: withFreed(mixed, () => wasm.Trainer.fromSafetensors(message.weights, mixed, config)), kind: 'fine-tune' };
}

async function startJob(message, data, create) {
  if (job) throw new Error('a training run is already in progress: stop it first');
  const current = { id: message.id, paused: false, stopRequested: false, wake: null };
  job = current;
  try {
    const { epochs, batchSize } = message.config ?? {};
    if (!(epochs > 0 && batchSize > 0)) throw new Error('config.epochs and config.batchSize are required');
    const { trainer, kind } = await create(message, data);
    await withFreed(trainer.recognizer(), (model) => pool.configure(message.workers ?? 1, JSON.stringify(model.architecture())));
    await runTrainer(current, trainer, { kind, epochs, batchSize }, data);
  } finally {
    job = null;
  }
}

async function evaluate(message, data) {
  const value = await withFreed(wasm.Recognizer.fromSafetensors(message.weights), (recognizer) => evaluateOnTest(message.id, recognizer, data.test, message.workers ?? 1));
  post({ type: 'result', id: message.id, value });
}

function testImages(message, data) {
  const value = message.indices.map((index) => ({
    index, label: data.test.label(index), pixels: data.test.image(index),
  }));
  post({ type: 'result', id: message.id, value }, value.map((v) => v.pixels.buffer));
}

function augmentExamples(message, data) {
  const { indices, augmentation = {}, copies = 6, seed = 1 } = message;
  const augmented = wasm.augmentedExamples(data.train, Uint32Array.from(indices), JSON.stringify(augmentation), copies, seed);
  const originals = indices.map((index) => data.train.image(index));
  post({ type: 'result', id: message.id, value: { originals, augmented } }, [augmented.buffer, ...originals.map((o) => o.buffer)]);
}

const OPTDIGITS = ['./data/optdigits/images-idx3-ubyte.gz', './data/optdigits/labels-idx1-ubyte.gz'];
let optdigits = null;

/** The robustness report of `weights`, a chunk per task, with progress. */
async function robustness(message, data) {
  optdigits ??= Promise.all(OPTDIGITS.map(fetchBytes));
  const [images, labels] = await optdigits.catch((error) => {
    optdigits = null;
    throw error;
  });
  const report = new wasm.RobustnessReport(data.test, message.perDigit ?? 0, images, labels, JSON.stringify(message.steps ?? {}));
  const value = await withFreed(report, () => withFreed(wasm.Recognizer.fromSafetensors(message.weights), async (recognizer) => {
    while (report.step(recognizer)) {
      post({ type: 'robustness-progress', id: message.id, ...report.progress(), results: report.results() });
      await nextTask();
    }
    return report.results();
  }));
  post({ type: 'result', id: message.id, value });
}

function control(message) {
  if (!job) return;
  if (message.type === 'pause') job.paused = true;
  if (message.type === 'stop') job.stopRequested = true;
  if (message.type === 'resume' || message.type === 'stop') {
    job.paused = false;
    job.wake?.();
    job.wake = null;
  }
}

const HANDLERS = {
  train: (m, d) => startJob(m, d, train),
  'fine-tune': (m, d) => startJob(m, d, fineTune),
  evaluate,
  'test-images': testImages,
  'augment-examples': augmentExamples,
  robustness,
  'test-only-panic': () => wasm.testOnlyPanic(),
  'test-only-crash-helper': (m) => {
    pool.crashForTests();
    post({ type: 'result', id: m.id, value: pool.size });
  },
};

self.onmessage = async ({ data: message }) => {
  let data;
  try {
    data = await loaded;
  } catch (error) {
    post({ type: 'error', id: message.id ?? null, fatal: true, message: `the training worker could not load: ${error.message}` });
    return;
  }
  if (['pause', 'resume', 'stop'].includes(message.type)) {
    control(message);
    return;
  }
  const handler = HANDLERS[message.type];
  try {
    if (!handler) throw new Error(`unknown request '${message.type}'`);
    await handler(message, data);
  } catch (error) {
    post({ type: 'error', id: message.id ?? null, ...describe(error) });
  }
};
