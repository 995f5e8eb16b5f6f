// Training speed as the app trains: a Web Worker stepping a wasm Trainer (canonical cnn,
// batch 64, Adam, the Rust defaults otherwise) on the bundled training subset, yielding to
// the event loop between steps like www/worker.js. Reports to bench.js:
//   {type:'result', name, value, note} ... then {type:'done'}, or {type:'error', message}.
import init, * as wasm from './pkg/digitlens.js';

const TRAIN_DATA = ['./data/train-images-idx3-ubyte.gz', './data/train-labels-idx1-ubyte.gz'];
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
  data.free();
}

self.onmessage = ({ data }) => {
  if (data.type !== 'run') return;
  run().then(
    () => self.postMessage({ type: 'done' }),
    (error) => self.postMessage({ type: 'error', message: error?.message ?? String(error) }),
  );
};
