// Training speed as the app trains: a Web Worker stepping a wasm Trainer (canonical cnn,
// batch 64, Adam, the Rust defaults otherwise) on the bundled training subset, yielding to
// the event loop between steps like www/worker.js; then the same with 1, 2, … workers sharing
// each batch (parallel/pool.js, as worker.js trains with them), and the 10,000-image test
// evaluation spread over them. Reports to bench.js:
//   {type:'result', name, value, note, extra?} ... then {type:'done'}, or {type:'error', message}.
import init, * as wasm from './pkg/digitlens.js';
import { GradientPool } from './parallel/pool.js';

const TRAIN_DATA = ['./data/train-images-idx3-ubyte.gz', './data/train-labels-idx1-ubyte.gz'];
const TEST_DATA = ['./data/t10k-images-idx3-ubyte.gz', './data/t10k-labels-idx1-ubyte.gz'];
/** Rounds of the worker-count comparison: each round measures every count once, so a busy
 *  spell of the shared machine hits all counts alike; the median round is reported. */
const ROUNDS = 3;
const BATCHES_PER_ROUND = 20;
const BATCH = 64;
const WARMUP_BATCHES = 3;
const MEASURED_BATCHES = 30;

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
/** The next task, without the 4 ms clamp of nested timeouts. */
function nextTask() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One real epoch; the step times of full batches after the warm-up give the training rate. */
async function run() {
  await init();
  const data = wasm.Dataset.fromIdx(...await Promise.all(TRAIN_DATA.map(fetchBytes)));
  const architecture = JSON.stringify(wasm.presetArchitecture('cnn'));
  const trainer = wasm.Trainer.fromScratch(architecture, data, JSON.stringify({ epochs: 1, batchSize: BATCH, optimizer: 'adam' }));
  const { trainSize, validationSize } = trainer;
  const stepTimes = [];
  const started = performance.now();
  for (let step = 0; ; step++) {
    await nextTask();
    const before = performance.now();
    const event = trainer.step();
    const ms = performance.now() - before;
    if (event.type === 'batch' && event.images === BATCH && step >= WARMUP_BATCHES && stepTimes.length < MEASURED_BATCHES) {
      stepTimes.push(ms);
      if (stepTimes.length === MEASURED_BATCHES) {
        self.postMessage({ type: 'result', name: 'train_img_per_s', value: BATCH / median(stepTimes) * 1000,
          note: `cnn, batch ${BATCH}, Adam, one Web Worker: median Trainer.step() of ${MEASURED_BATCHES} batches after ${WARMUP_BATCHES} warm-up` });
      }
    }
    if (event.type === 'epoch' || event.type === 'finished') break;
  }
  self.postMessage({ type: 'result', name: 'epoch_s', value: (performance.now() - started) / 1000,
    note: `one real epoch, timed: ${trainSize} training images + validation on ${validationSize}` });
  trainer.free();
  await workersScaling(data, architecture);
  data.free();
}

/** Images/s of `BATCHES_PER_ROUND` training steps (after a warm-up) with `pool`'s workers
 *  sharing each batch; one worker steps the Trainer alone, as worker.js does. */
async function trainRate(pool, data, architecture) {
  const trainer = wasm.Trainer.fromScratch(architecture, data, JSON.stringify({ epochs: 1, batchSize: BATCH, optimizer: 'adam' }));
  const times = [];
  try {
    for (let step = 0; times.length < BATCHES_PER_ROUND; step++) {
      await nextTask();
      const before = performance.now();
      const event = pool.size > 1 ? await pool.step(trainer) : trainer.step();
      const ms = performance.now() - before;
      if (event?.type === 'batch' && event.images === BATCH && step >= WARMUP_BATCHES) times.push(ms);
    }
  } finally {
    trainer.free();
  }
  return BATCH / median(times) * 1000;
}

/** 1, 2 and (when the machine has more) every core's workers: training and test evaluation. */
async function workersScaling(data, architecture) {
  const cores = Math.min(8, navigator.hardwareConcurrency || 1);
  const counts = [...new Set([1, 2, cores])];
  const test = wasm.Dataset.fromIdx(...await Promise.all(TEST_DATA.map(fetchBytes)));
  const model = wasm.Recognizer.pretrained();
  const weights = model.flatWeights();
  const read = (from, to) => test.range(from, to);
  const rates = new Map(counts.map((n) => [n, { train: [], evaluate: [] }]));
  // One pool per count, kept for every round: a new Web Worker's wasm runs baseline code, and
  // compiles its hot functions on the machine's cores, for its first seconds, which is not
  // what a training run of minutes sees.
  const pools = new Map(counts.map((n) => [n, new GradientPool(new URL('./parallel/gradient-worker.js', import.meta.url))]));
  try {
    for (const [n, pool] of pools) {
      await pool.configure(n, architecture);
      await trainRate(pool, data, architecture);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [n, pool] of pools) {
        rates.get(n).train.push(await trainRate(pool, data, architecture));
        const started = performance.now();
        (await pool.evaluate(weights, test.length, read, { yieldToEvents: nextTask })).free();
        rates.get(n).evaluate.push(test.length / (performance.now() - started) * 1000);
      }
    }
  } finally {
    for (const pool of pools.values()) pool.close();
    model.free();
    test.free();
  }
  for (const n of counts) {
    const { train, evaluate } = rates.get(n);
    self.postMessage({ type: 'result', name: 'train_img_per_s_workers', value: median(train), extra: { workers: n },
      note: `cnn, batch ${BATCH}, Adam, ${n} Web Worker${n > 1 ? 's sharing each batch (parallel/pool.js)' : ''}: median of ${ROUNDS} rounds of ${BATCHES_PER_ROUND} batches, counts interleaved (${cores} cores reported)` });
    self.postMessage({ type: 'result', name: 'eval_img_per_s_workers', value: median(evaluate), extra: { workers: n },
      note: `the 10,000 test images evaluated in parts of 500 spread over ${n} worker${n > 1 ? 's' : ''}, pretrained cnn, median of ${ROUNDS}` });
  }
}

self.onmessage = ({ data }) => {
  if (data.type !== 'run') return;
  run().then(
    () => self.postMessage({ type: 'done' }),
    (error) => self.postMessage({ type: 'error', message: error?.message ?? String(error) }),
  );
};
