// The browser benchmark (issue 6): one row per measurement, also left in `window.benchResults`
// for tests/e2e/bench.mjs. Predictions run on this page, as the app's drawing pad does;
// training runs in bench-worker.js, a Web Worker, as the app trains. Numbers are reported,
// never judged: the machine may be busy with other work.
import init, * as wasm from './pkg/digitlens.js';

const TEST_DATA = ['./data/t10k-images-idx3-ubyte.gz', './data/t10k-labels-idx1-ubyte.gz'];
const PREDICTIONS = 200;
const BATCH_IMAGES = 1000;
/** Images per Evaluation.add call: the app's worker evaluates in chunks of this size. */
const EVAL_CHUNK = 500;

const results = [];
window.benchResults = results;
const table = document.getElementById('bench-results');
const status = document.getElementById('bench-status');

/** `extra`: more keys of the result, e.g. {method} for explain_ms. */
function report(name, value, note, extra = {}) {
  results.push({ name, ...extra, value, note });
  const row = table.insertRow();
  row.insertCell().textContent = [name, ...Object.values(extra)].join(' ');
  row.insertCell().textContent = Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 3 : 1);
  row.insertCell().textContent = note;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Unmeasured calls before timing: V8 first runs wasm from its baseline compiler and optimises
 *  the hot functions in the background. With a few warm-up calls, on a busy 2-core machine the
 *  first measurement came out slower than the same work measured later (every time, by up to
 *  20 %): it ran partly on baseline code. A drawing session is past that within its first second. */
const WARM_UP_MS = 1000;

/** Median milliseconds of `repeats` calls of `f`, after warming up for `WARM_UP_MS`. */
function timeEach(f, repeats) {
  for (const start = performance.now(); performance.now() - start < WARM_UP_MS;) f();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    f();
    times.push(performance.now() - started);
  }
  return median(times);
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** A 28×28 digit (0 = background) scaled ×10 into 280×280 RGBA, dark ink on white, as the pad
 *  hands a drawing over; `digitlens bench` measures natively with the same image. */
function asDrawing(image28) {
  const rgba = new Uint8ClampedArray(280 * 280 * 4);
  for (let i = 0; i < 280 * 280; i++) {
    const v = 255 - image28[Math.floor(i / 2800) * 28 + Math.floor((i % 280) / 10)];
    rgba.set([v, v, v, 255], i * 4);
  }
  return rgba;
}

/** A "7" drawn on a 280×280 canvas, as the pad would hand it over (RGBA, dark ink on white). */
function drawnDigit() {
  const canvas = new OffscreenCanvas(280, 280);
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, 280, 280);
  g.strokeStyle = '#000';
  g.lineWidth = 22;
  g.lineCap = g.lineJoin = 'round';
  g.beginPath();
  g.moveTo(80, 60);
  g.lineTo(200, 60);
  g.lineTo(120, 230);
  g.stroke();
  return g.getImageData(0, 0, 280, 280).data;
}

/** Per-stage times (see src/kernels/profile.rs): one result each, shown as one table row per
 *  stage and pass with the network's time next to candle's. */
function profileOps() {
  const rows = new Map();
  for (const t of wasm.profileOps(() => performance.now())) {
    const candle = t.implementation === 'candle';
    results.push({ name: `op_${t.op}_${t.pass}_ms${candle ? '_candle' : ''}`, value: t.ms,
      note: `${t.op} ${t.pass}, batch 64, ${candle ? "candle's built-in ops instead of the custom kernel" : 'as the network runs it'} (median)` });
    const key = `${t.op} ${t.pass}`;
    if (!rows.has(key)) {
      const row = document.getElementById('bench-ops').insertRow();
      row.insertCell().textContent = t.op;
      row.insertCell().textContent = t.pass;
      row.insertCell();
      row.insertCell().textContent = '–';
      rows.set(key, row);
    }
    rows.get(key).cells[candle ? 3 : 2].textContent = t.ms.toFixed(2);
  }
}

/** What each unit looks for (ui/insight/worker.js does the same in its worker): the pass over
 *  the test digits, feature visualisation, the map of all digits. */
function insight(recognizer, test) {
  const started = performance.now();
  const pass = new wasm.TopK(recognizer);
  for (let done = 0; done < test.length;) done = pass.add(recognizer, test, done + 250);
  report('topk_pass_s', (performance.now() - started) / 1000,
    `one pass over ${test.length} test digits keeping every channel's top and bottom 9, peaks and dense1 (TopK.add in chunks of 250)`);
  const units = [['conv1.relu', 5], ['conv2.relu', 17], ['dense1', 40]];
  let i = 0;
  report('visualize_ms', timeEach(() => recognizer.visualize(...units[i++ % units.length], { steps: 128 }), 6),
    'feature visualisation of one channel (128 steps; conv1.relu, conv2.relu, dense1 in turn), median of 6');
  const projected = performance.now();
  pass.projection(2);
  report('projection_s', (performance.now() - projected) / 1000, `PCA of the ${test.length} test digits' dense1 activations to 2-D`);
  pass.free();
}

/** Runs the training measurements in a Web Worker; resolves when it has reported them all. */
function trainInWorker() {
  return new Promise((resolve, reject) => {
    const worker = new Worker('./bench-worker.js', { type: 'module' });
    worker.onmessage = ({ data }) => {
      if (data.type === 'result') report(data.name, data.value, data.note, data.extra);
      else if (data.type === 'done') { worker.terminate(); resolve(); }
      else if (data.type === 'error') { worker.terminate(); reject(new Error(`training worker: ${data.message}`)); }
    };
    worker.onerror = (e) => { worker.terminate(); reject(new Error(`training worker: ${e.message}`)); };
    worker.postMessage({ type: 'run' });
  });
}

async function run() {
  // Page load → wasm ready, pretrained model loaded and a first drawing read.
  await init();
  const recognizer = wasm.Recognizer.pretrained();
  const image = drawnDigit();
  const first = recognizer.predictImage(image, 280, 280);
  report('first_prediction_ms', performance.now(), `navigation start → pretrained model ready and a first drawing read (digit ${first.digit})`);

  const test = wasm.Dataset.fromIdx(...await Promise.all(TEST_DATA.map(fetchBytes)));
  const pixels = Float32Array.from(test.image(0), (p) => p / 255);
  report('infer_ms', timeEach(() => recognizer.probabilities28(pixels), PREDICTIONS),
    `one preprocessed 28×28 digit → 10 probabilities (probabilities28), median of ${PREDICTIONS}`);
  const drawing = asDrawing(test.image(0));
  const activations = new Float32Array(recognizer.activationCount);
  report('infer_with_maps_ms', timeEach(() => recognizer.predictImage(drawing, 280, 280, activations), PREDICTIONS),
    `one 280×280 RGBA drawing → preprocessing, probabilities and every layer's activations in JS, as the pad reads it (predictImage into a reused buffer), median of ${PREDICTIONS}`);
  report('infer_with_maps_new_buffer_ms', timeEach(() => recognizer.predictImage(drawing, 280, 280), PREDICTIONS),
    `the same, each result in a new Float32Array of ${activations.length} values (predictImage without a buffer), median of ${PREDICTIONS}`);

  for (const method of ['gradient', 'integrated', 'occlusion', 'gradcam']) {
    const repeats = method === 'gradient' || method === 'gradcam' ? PREDICTIONS : 30;
    report('explain_ms', timeEach(() => recognizer.explain(drawing, 280, 280, { method }), repeats),
      `one 280×280 drawing → its ${method} map (Recognizer.explain), median of ${repeats}`, { method });
  }

  const rates = [];
  for (let repeat = 0; repeat < 3; repeat++) {
    const evaluation = new wasm.Evaluation();
    const started = performance.now();
    for (let from = 0; from < BATCH_IMAGES; from += EVAL_CHUNK) evaluation.add(recognizer, test, from, from + EVAL_CHUNK);
    rates.push(BATCH_IMAGES / (performance.now() - started) * 1000);
    evaluation.free();
  }
  report('batch_infer_img_per_s', median(rates), `${BATCH_IMAGES} test images through Evaluation.add in chunks of ${EVAL_CHUNK}, median of 3 runs`);

  insight(recognizer, test);

  profileOps();

  await trainInWorker();
}

run().then(
  () => { status.textContent = 'done'; status.dataset.state = 'done'; },
  (error) => { status.textContent = `benchmark failed: ${error.message}`; status.dataset.state = 'error'; },
);
