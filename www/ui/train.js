// The Train panel: settings, Train / Pause / Stop, live numbers, progress and charts of a run in
// the training worker, the test evaluation, and earlier runs kept for comparison.
// The weights follow training onto the page (hub.setModel) so the drawing keeps predicting from
// the current network. Finished runs are published for the model lab: hub.runs and a 'run'
// event. A custom stack from the lab appears as "custom" when hub.customArchitecture is set
// (refreshed on the hub's 'custom-architecture' event and whenever the preset list gets focus).
// The panel's TrainerClient is the page's shared one, also offered as hub.trainer.
import { sharedTrainerClient, DEFAULT_CONFIG, defaultWorkers, MAX_WORKERS } from './trainer-client.js';
import { drawTrainingChart, overfittingSpan, smooth } from './charts.js';
import { sentence } from './lab-common.js';
import { mountRobustnessReport } from './robust/report.js';
import { AUGMENTATION_HTML, readAugmentation, writeAugmentation, mountAugmentationGrid } from './robust/augment-form.js';

const PRESETS = ['dense', 'cnn', 'cnn3'];
/** Earlier runs whose validation curves stay on the charts. */
const COMPARED_RUNS = 3;
/** EMA weight for the per-batch training curve and numbers: averages over about an eighth of
 *  an epoch, so a short epoch's curve does not lag behind its validation point. */
const smoothingFor = (batchesPerEpoch) => Math.min(0.95, Math.max(0.7, 1 - 8 / batchesPerEpoch));
const TEST_IMAGES = '10,000';

/** A labelled control in the page's style (label.field > .field-label + control). */
function labelled(label, control, optimizer = '') {
  const only = optimizer ? ` data-optimizer="${optimizer}"` : '';
  return `<label class="field"${only}><span class="field-label">${label}</span>${control}</label>`;
}

const PANEL_HTML = `
<form class="train-settings" novalidate>
  <fieldset class="card">
    <legend>Model</legend>
    <div class="train-fields">
      ${labelled('Architecture', '<select id="preset" name="preset"></select>')}
      ${labelled('Start from', `<select id="train-from" name="from">
        <option value="scratch">scratch</option>
        <option value="continue">model in use</option>
      </select>`)}
    </div>
    <p class="train-hint muted" data-field="from-hint"></p>
  </fieldset>
  <fieldset class="card train-tall">
    <legend>Data</legend>
    <div class="train-fields">
      ${labelled('Training images', '<input id="train-size" name="trainSize" type="number" min="100" step="100">')}
      ${labelled('Validation split (%)', '<input id="train-val-split" name="validationSplit" type="number" min="0" max="50" step="1">')}
      ${labelled('Random seed', '<input id="train-seed" name="seed" type="number" min="0" step="1">')}
      <label class="train-check"><input id="train-augment" name="augment" type="checkbox"> Augment: distort the training images (see Augmentation)</label>
    </div>
  </fieldset>
  <fieldset class="card train-tall">
    <legend>Optimiser</legend>
    <div class="train-fields">
      ${labelled('Epochs', '<input id="train-epochs" name="epochs" type="number" min="1" max="200" step="1">')}
      ${labelled('Batch size', '<input id="train-batch" name="batchSize" type="number" min="1" max="4096" step="1">')}
      ${labelled('Learning rate', '<input id="train-lr" name="learningRate" type="number" min="0" step="any">')}
      ${labelled('LR schedule', `<select id="train-schedule" name="schedule" title="cosine: the learning rate decays to 0 over the run">
        <option value="cosine">cosine</option>
        <option value="constant">constant</option>
      </select>`)}
      ${labelled('Optimizer', `<select id="train-optimizer" name="optimizer">
        <option value="adam">Adam</option>
        <option value="adamw">AdamW</option>
        <option value="sgd">SGD + momentum</option>
      </select>`)}
      ${labelled('Momentum (SGD)', '<input id="train-momentum" name="momentum" type="number" min="0" max="0.99" step="0.05">', 'sgd')}
      ${labelled('Weight decay (AdamW)', '<input id="train-weight-decay" name="weightDecay" type="number" min="0" step="any">', 'adamw')}
    </div>
  </fieldset>
  ${AUGMENTATION_HTML}
  <fieldset class="card">
    <legend>Cores</legend>
    <div class="train-fields">
      ${labelled('Workers', `<input id="train-workers" name="workers" type="number" min="1" max="${MAX_WORKERS}" step="1">`)}
      <label class="train-check"><input id="train-full-mnist" name="fullMnist" type="checkbox"> Train on all 60,000 MNIST images (a 9.7 MB download, once)</label>
    </div>
    <p class="train-hint muted" id="train-workers-note" data-field="workers-note"></p>
  </fieldset>
  <fieldset class="card">
    <legend>Early stopping</legend>
    <div class="train-fields">
      <label class="train-check"><input id="train-early" name="earlyStopping" type="checkbox"> Stop when validation loss stops improving; keep the best epoch</label>
      ${labelled('Patience (epochs)', '<input id="train-patience" name="patience" type="number" min="1" step="1">')}
      ${labelled('Min delta', '<input id="train-min-delta" name="minDelta" type="number" min="0" step="any">')}
    </div>
  </fieldset>
</form>
<div class="train-buttons">
  <button id="train-start" type="button" class="btn btn-primary">Train</button>
  <button id="train-pause" type="button" class="btn" disabled>Pause</button>
  <button id="train-stop" type="button" class="btn" disabled>Stop</button>
  <button id="train-evaluate" type="button" class="btn">Evaluate on test set</button>
  <button id="train-defaults" type="button" class="btn btn-quiet">Default settings</button>
</div>
<div id="train-status" class="card" data-state="idle" data-epoch="" data-val-accuracy="" data-test-accuracy="">
  <p class="train-headline" data-field="headline"></p>
  <div class="train-progress">
    <label><span data-field="phase">Epoch</span> <progress id="train-progress-epoch" max="1" value="0"></progress></label>
    <label><span>Overall</span> <progress id="train-progress-overall" max="1" value="0"></progress></label>
  </div>
  <dl class="train-numbers">
    <div><dt>images/s</dt><dd data-field="rate">–</dd></div>
    <div><dt>elapsed</dt><dd data-field="elapsed">–</dd></div>
    <div><dt>remaining</dt><dd data-field="eta">–</dd></div>
    <div class="train-series"><dt>train loss</dt><dd data-field="train-loss">–</dd></div>
    <div class="train-series"><dt>train accuracy</dt><dd data-field="train-accuracy">–</dd></div>
    <div class="val-series"><dt>val loss</dt><dd data-field="val-loss">–</dd></div>
    <div class="val-series"><dt>val accuracy</dt><dd data-field="val-accuracy">–</dd></div>
  </dl>
  <p id="train-result" aria-live="polite"></p>
</div>
<div class="train-charts">
  <figure><figcaption>Loss</figcaption><canvas class="train-chart" data-metric="loss" role="img" aria-label="Loss per epoch: training and validation"></canvas></figure>
  <figure><figcaption>Accuracy</figcaption><canvas class="train-chart" data-metric="accuracy" role="img" aria-label="Accuracy per epoch: training and validation"></canvas></figure>
</div>
<ul class="train-legend">
  <li class="train-series">training, per batch (smoothed; faint: raw)</li>
  <li class="val-series">validation, per epoch</li>
  <li class="train-legend-compare">earlier runs (validation, dashed)</li>
  <li class="train-legend-best">best epoch</li>
  <li class="train-legend-overfit">overfitting: validation loss rises while training loss falls</li>
</ul>`;

const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const percent = (x, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '–');
/** A loss: 0.1234, or 6.32e+21 for a diverging run's. */
const fixed = (x, digits = 4) => (!Number.isFinite(x) ? '–' : Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(digits));
const grouped = (n) => n.toLocaleString('en-US');

function duration(ms) {
  if (!Number.isFinite(ms)) return '–';
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function addStylesheet() {
  const href = new URL('./train.css', import.meta.url).href;
  if ([...document.styleSheets].some((s) => s.href === href)) return;
  document.head.append(Object.assign(document.createElement('link'), { rel: 'stylesheet', href }));
}

/** The form's values as a TrainConfig (camelCase) plus the model choice; throws a readable
 *  error for a field that is not a number. */
export function readSettings(form) {
  const value = (name) => form.elements[name].value;
  const number = (name, label) => {
    const n = Number(value(name));
    if (value(name).trim() === '' || !Number.isFinite(n)) throw new Error(`${label}: enter a number`);
    return n;
  };
  const checked = (name) => form.elements[name].checked;
  return {
    preset: value('preset'),
    from: value('from'),
    workers: Math.min(MAX_WORKERS, Math.max(1, Math.round(number('workers', 'Workers')))),
    fullMnist: checked('fullMnist'),
    config: {
      epochs: number('epochs', 'Epochs'),
      batchSize: number('batchSize', 'Batch size'),
      learningRate: number('learningRate', 'Learning rate'),
      optimizer: value('optimizer'),
      momentum: number('momentum', 'Momentum'),
      weightDecay: number('weightDecay', 'Weight decay'),
      schedule: value('schedule'),
      // All 60,000 means all of them (0: the whole set), whatever the bundled subset's field says.
      trainSize: checked('fullMnist') ? 0 : number('trainSize', 'Training images'),
      validationSplit: number('validationSplit', 'Validation split') / 100,
      earlyStopping: checked('earlyStopping'),
      patience: number('patience', 'Patience'),
      minDelta: number('minDelta', 'Min delta'),
      augment: checked('augment'),
      augmentation: readAugmentation(number),
      seed: number('seed', 'Random seed'),
    },
  };
}

function writeSettings(form, config) {
  writeAugmentation(form, config.augmentation);
  for (const [name, v] of Object.entries(config)) {
    const field = form.elements[name];
    if (!field) continue;
    if (field.type === 'checkbox') field.checked = v;
    else field.value = name === 'validationSplit' ? String(Math.round(v * 100)) : String(v);
  }
}

export function mountTrainPanel(root, hub) {
  addStylesheet();
  root.classList.add('train-panel');
  root.innerHTML = PANEL_HTML;
  const $ = (selector) => root.querySelector(selector);
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const form = $('.train-settings');
  const presetSelect = $('#preset');
  const status = $('#train-status');
  const buttons = { start: $('#train-start'), pause: $('#train-pause'), stop: $('#train-stop'), evaluate: $('#train-evaluate'), defaults: $('#train-defaults') };
  const canvases = [...root.querySelectorAll('.train-chart')];
  const client = sharedTrainerClient();
  hub.trainer ??= client;
  hub.runs ??= [];

  /** The run shown (running or last finished); earlier ones only as comparison curves. */
  let run = null;
  const compared = [];
  let evaluating = false;

  // --- settings ---------------------------------------------------------------------------
  function refreshPresets() {
    const chosen = presetSelect.value || 'cnn';
    const custom = hub.customArchitecture;
    const options = PRESETS.map((name) => [name, name]);
    if (custom) options.push(['custom', `custom (${custom.name ?? 'lab'})`]);
    presetSelect.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
    presetSelect.value = options.some(([v]) => v === chosen) ? chosen : 'cnn';
  }

  function refreshFormState() {
    const optimizer = form.elements.optimizer.value;
    for (const label of root.querySelectorAll('[data-optimizer]')) {
      label.querySelector('input').disabled = label.dataset.optimizer !== optimizer;
    }
    const early = form.elements.earlyStopping.checked;
    form.elements.patience.disabled = form.elements.minDelta.disabled = !early;
    form.elements.trainSize.disabled = form.elements.fullMnist.checked;
    const continuing = form.elements.from.value === 'continue';
    presetSelect.disabled = continuing;
    field('from-hint').textContent = continuing
      ? `Continues training ${hub.info?.label ?? 'the model in use'} (its own architecture).`
      : 'Scratch: fresh random weights (the seed sets them).';
    const workers = Number(form.elements.workers.value) || 1;
    field('workers-note').textContent = workers === 1
      ? 'One Web Worker trains, as on a single core.'
      : `${workers} Web Workers share each batch: every one computes the gradients of its part, they are summed and `
        + 'one update is applied, so the result is the same as with one worker, only faster. Weights and gradients '
        + `travel as transferred buffers, which needs no cross-origin isolation (this machine reports ${navigator.hardwareConcurrency || 1} cores).`;
  }

  function setRunning(running) {
    form.querySelectorAll('fieldset').forEach((f) => { f.disabled = running; });
    buttons.start.disabled = running || client.running;
    buttons.pause.disabled = buttons.stop.disabled = !running;
    buttons.evaluate.disabled = running || evaluating;
    buttons.defaults.disabled = running;
    buttons.pause.textContent = 'Pause';
    if (!running) refreshFormState();
  }

  /** The settings' defaults: Rust's TrainConfig, every core, the bundled subset. */
  const writeDefaults = () => writeSettings(form, { ...DEFAULT_CONFIG, workers: defaultWorkers(), fullMnist: false });
  writeDefaults();
  refreshPresets();
  refreshFormState();
  form.addEventListener('change', refreshFormState);
  presetSelect.addEventListener('focus', refreshPresets);
  hub.addEventListener('custom-architecture', refreshPresets);
  const refreshExamples = mountAugmentationGrid(root, client, () => readSettings(form).config);
  buttons.defaults.addEventListener('click', () => {
    writeDefaults();
    refreshFormState();
    refreshExamples();
  });
  client.ready().then(
    ({ trainSize }) => {
      refreshExamples();
      form.elements.trainSize.max = trainSize;
      form.elements.trainSize.title = `up to ${grouped(trainSize)} bundled images`;
    },
    () => {}, // reported through the client's 'error' event
  );

  // --- status ------------------------------------------------------------------------------
  function setStatus(attributes) {
    for (const [key, v] of Object.entries(attributes)) status.dataset[key] = v ?? '';
  }

  function showNumbers(numbers) {
    for (const [name, text] of Object.entries(numbers)) field(name).textContent = text;
  }

  function showProgress(phase, phaseValue, overall) {
    field('phase').textContent = phase;
    $('#train-progress-epoch').value = phaseValue;
    if (overall !== undefined) $('#train-progress-overall').value = overall;
  }

  // --- charts ------------------------------------------------------------------------------
  // One frame costs ~20 ms of the main thread (paint, and committing the page's ~330 canvases)
  // and as much again of raster threads, and batches arrive up to ~40 times a second: the
  // charts and per-batch numbers are redrawn at most every RENDER_INTERVAL_MS. Every core is
  // training meanwhile, so what a frame costs comes out of the training: at 150 ms the page
  // spent 9.2 s of main-thread time in the default 2-worker run, at 400 ms about half that.
  const RENDER_INTERVAL_MS = 400;
  let frame = 0;
  let lastRender = -Infinity;
  function scheduleRender() {
    if (frame) return;
    const wait = Math.max(0, lastRender + RENDER_INTERVAL_MS - performance.now());
    frame = setTimeout(() => requestAnimationFrame(() => {
      frame = 0;
      lastRender = performance.now();
      render();
    }), wait);
  }

  /** The latest batch not shown yet: shown with the next frame, or at once before any other
   *  event's numbers so that an older batch never overwrites them. */
  let pendingBatch = null;
  function showBatch() {
    const d = pendingBatch;
    if (!d) return;
    pendingBatch = null;
    field('headline').textContent = `${run.label}: epoch ${d.epoch} of ${run.epochs}, batch ${d.batch} of ${d.batches}`;
    showNumbers({
      rate: Math.round(d.imagesPerSecond).toString(), elapsed: duration(d.elapsedMs), eta: duration(d.etaMs),
      'train-loss': fixed(smoothedTrain('loss')), 'train-accuracy': percent(smoothedTrain('accuracy')),
    });
    showProgress(`Epoch ${d.epoch}`, d.epochProgress, d.progress);
  }

  function render() {
    showBatch();
    const history = run?.history ?? [];
    const overfit = overfittingSpan(history);
    for (const canvas of canvases) {
      const metric = canvas.dataset.metric;
      const pick = metric === 'loss' ? (h) => h.valLoss : (h) => h.valAccuracy;
      drawTrainingChart(canvas, {
        metric,
        epochs: run?.epochs ?? 1,
        train: run ? run.batches.map((b) => [b.x, metric === 'loss' ? b.loss : b.accuracy]) : [],
        smoothing: smoothingFor(run?.batchesPerEpoch ?? 1),
        val: history.filter((h) => pick(h) != null).map((h) => [h.epoch, pick(h)]),
        best: run?.best ?? null,
        overfit,
        compare: compared.map(({ label, history: h }) => ({
          label, points: h.filter((e) => pick(e) != null).map((e) => [e.epoch, pick(e)]),
        })),
        empty: 'Press Train to watch the network learn',
      });
    }
  }
  new ResizeObserver(scheduleRender).observe($('.train-charts'));

  /** The smoothed training loss or accuracy at the latest batch (the chart's curve). */
  const smoothedTrain = (key) => smooth(run.batches.map((b) => b[key]), smoothingFor(run.batchesPerEpoch)).at(-1);

  // --- the model in use follows training ---------------------------------------------------
  function useWeights(bytes, info) {
    try {
      hub.setModel(hub.wasm.Recognizer.fromSafetensors(bytes), info);
    } catch (error) {
      hub.error(`The trained weights could not be loaded into the page: ${error.message}`, 'Train again, or reload the page');
    }
  }

  // --- starting a run ----------------------------------------------------------------------
  function chooseModel(settings) {
    if (settings.from === 'continue') {
      if (!hub.recognizer) throw new Error('There is no model in use to continue from yet');
      const architecture = hub.recognizer.architecture();
      return { architecture, initialWeights: hub.recognizer.toSafetensors(), label: `${architecture.name} (continued)` };
    }
    const architecture = settings.preset === 'custom' ? hub.customArchitecture : hub.wasm.presetArchitecture(settings.preset);
    if (!architecture) throw new Error('No custom architecture has been built in the model lab yet');
    return { architecture, initialWeights: null, label: architecture.name };
  }

  function describeArchitecture(architecture, batchSize) {
    const analysis = hub.wasm.analyzeArchitecture(JSON.stringify(architecture), batchSize);
    if (!analysis.ok) {
      const where = analysis.layer == null ? '' : `layer ${analysis.layer + 1} (${analysis.name}): `;
      throw new Error(`The ${architecture.name} architecture cannot be trained: ${where}${analysis.message}`);
    }
    return { params: analysis.summary.total_params, weightBytes: analysis.weightBytes, maxWorkers: analysis.maxWorkers };
  }

  function start() {
    if (client.running) {
      hub.error('Another training job is using the training worker', 'Wait for it to finish, or stop it, then press Train');
      return;
    }
    let settings;
    let model;
    let size;
    try {
      settings = readSettings(form);
      model = chooseModel(settings);
      size = describeArchitecture(model.architecture, settings.config.batchSize);
    } catch (error) {
      hub.error(error.message, 'Fix the setting and press Train again');
      return;
    }
    if (run?.history.length) {
      compared.push({ label: run.label, history: run.history });
      if (compared.length > COMPARED_RUNS) compared.shift();
      labelDuplicates(compared);
    }
    const previous = hub.recognizer ? { bytes: hub.recognizer.toSafetensors(), info: hub.info } : null;
    run = {
      id: null, label: model.label, architecture: model.architecture, ...size, config: settings.config,
      epochs: settings.config.epochs, batches: [], history: [], best: null, previous, bestWeights: null, epochNow: null,
    };
    const current = run;
    // Every worker holds a replica: as many as fit in memory together.
    client.workers = Math.max(1, Math.min(settings.workers, size.maxWorkers ?? settings.workers));
    if (client.workers < settings.workers) {
      hub.error(`${settings.workers} workers would need more memory than the page can safely use for this model`,
        `Training on ${client.workers} instead`);
    }
    const promise = client.train({
      architecture: model.architecture, config: settings.config, initialWeights: model.initialWeights, fullMnist: settings.fullMnist,
    });
    run.id = promise.id;
    promise.catch(() => {}); // failures arrive as the client's 'error' event (handled below)
    setStatus({ state: 'running', epoch: '1', valAccuracy: '', testAccuracy: '', weightsEpoch: '', paused: '', workers: '', workerRestarts: '' });
    field('headline').textContent = `Starting: ${current.label}, ${settings.config.epochs} epochs…`;
    $('#train-result').textContent = '';
    showNumbers({ rate: '–', elapsed: '–', eta: '–', 'train-loss': '–', 'train-accuracy': '–', 'val-loss': '–', 'val-accuracy': '–' });
    showProgress('Epoch 1', 0, 0);
    setRunning(true);
    hub.setBusy(true, 'training');
    scheduleRender();
  }

  /** "cnn", "cnn" → "cnn #1", "cnn #2" so dashed curves can be told apart. */
  function labelDuplicates(list) {
    const counts = {};
    for (const entry of list) {
      entry.base ??= entry.label;
      counts[entry.base] = (counts[entry.base] ?? 0) + 1;
    }
    const seen = {};
    for (const entry of list) {
      seen[entry.base] = (seen[entry.base] ?? 0) + 1;
      entry.label = counts[entry.base] > 1 ? `${entry.base} #${seen[entry.base]}` : entry.base;
    }
  }

  // --- events from the worker ---------------------------------------------------------------
  const mine = (detail) => run && detail.id === run.id;

  client.addEventListener('start', ({ detail }) => {
    if (!mine(detail)) {
      buttons.start.disabled = true; // another panel's job holds the worker
      return;
    }
    run.batchesPerEpoch = detail.batchesPerEpoch;
    const workers = detail.workers > 1 ? ` with ${detail.workers} workers` : '';
    field('headline').textContent = `Training ${run.label} on ${grouped(detail.trainSize)} images${workers}, validating on ${grouped(detail.validationSize)}`;
    status.dataset.workers = String(detail.workers ?? 1);
  });

  client.addEventListener('worker-restarted', ({ detail: d }) => {
    if (!mine(d)) return;
    status.dataset.workerRestarts = String(Number(status.dataset.workerRestarts || 0) + 1);
    $('#train-result').textContent = `${capitalized(d.message)}.`;
  });

  client.addEventListener('data-progress', ({ detail: d }) => {
    if (!mine(d)) return;
    const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
    field('headline').textContent = `Loading all 60,000 MNIST training images: ${mb(d.loaded)}${d.total ? ` of ${mb(d.total)}` : ''}…`;
  });

  client.addEventListener('batch', ({ detail: d }) => {
    if (!mine(d)) return;
    run.batches.push({ x: d.epoch - 1 + d.batch / d.batches, loss: d.loss, accuracy: d.accuracy });
    run.epochNow = d.epoch;
    pendingBatch = d;
    setStatus({ epoch: String(d.epoch) });
    scheduleRender();
  });

  client.addEventListener('validating', ({ detail: d }) => {
    if (!mine(d)) return;
    showBatch();
    field('headline').textContent = `${run.label}: validating epoch ${d.epoch} (${grouped(d.done)} of ${grouped(d.total)} images)`;
    showNumbers({ elapsed: duration(d.elapsedMs), eta: duration(d.etaMs) });
    showProgress('Validation', d.total ? d.done / d.total : 1);
  });

  client.addEventListener('epoch', ({ detail: d }) => {
    if (!mine(d)) return;
    showBatch();
    const { epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate, bestEpoch } = d;
    run.history.push({ epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate, bestEpoch });
    run.best = d.bestEpoch;
    showNumbers({ 'val-loss': fixed(d.valLoss), 'val-accuracy': percent(d.valAccuracy), elapsed: duration(d.elapsedMs) });
    setStatus({ epoch: String(d.epoch), valAccuracy: d.valAccuracy ?? '' });
    // The best validated weights so far: what the page keeps if the run fails from here on.
    if (d.bestEpoch === d.epoch) run.bestWeights = { epoch: d.epoch, bytes: d.weights, valAccuracy: d.valAccuracy };
    useWeights(d.weights, { source: 'training', label: `${run.label} in training, epoch ${d.epoch}`, epoch: d.epoch, valAccuracy: d.valAccuracy });
    scheduleRender();
  });

  client.addEventListener('weights', ({ detail: d }) => {
    if (!mine(d)) return;
    useWeights(d.weights, { source: 'training', label: `${run.label} in training, epoch ${d.epoch} batch ${d.batch}`, epoch: d.epoch });
  });

  client.addEventListener('paused', ({ detail }) => {
    if (!mine(detail)) return;
    buttons.pause.textContent = 'Resume';
    setStatus({ paused: 'true' });
    field('headline').textContent = `${run.label}: paused — press Resume to go on`;
  });

  client.addEventListener('resumed', ({ detail }) => {
    if (!mine(detail)) return;
    buttons.pause.textContent = 'Pause';
    setStatus({ paused: '' });
  });

  client.addEventListener('eval-progress', ({ detail: d }) => {
    if (mine(d) || (evaluating && d.job === 'evaluate')) {
      field('headline').textContent = `Testing on the ${TEST_IMAGES} test images: ${grouped(d.done)} done`;
      showProgress('Test set', d.done / d.total);
    }
  });

  client.addEventListener('finished', ({ detail: d }) => {
    if (mine(d)) finish(d);
    else buttons.start.disabled = status.dataset.state === 'running';
  });

  client.addEventListener('error', ({ detail: d }) => {
    const ours = mine(d) || (d.fatal && run && status.dataset.state === 'running');
    if (ours) {
      showBatch();
      const kept = keepLastGoodModel();
      setStatus({ state: 'error', paused: '', weightsEpoch: kept?.epoch ?? '' });
      field('headline').textContent = `Training failed: ${d.message}`;
      $('#train-result').textContent = `The page keeps ${kept?.label ?? 'the model it used before'}.`;
      showNumbers({ eta: '–' });
      setRunning(false);
      hub.setBusy(false);
    }
    // This panel reports its own failures and those that belong to no request (e.g. the
    // worker could not load); other panels report theirs.
    if (ours || d.job === null || (evaluating && d.job === 'evaluate')) {
      const what = ours ? `Training failed: ${d.message}` : capitalized(d.message);
      const action = d.restarted ? 'The training worker was restarted: press Train again'
        : d.fatal ? 'Press Train to try again; reload the page if it keeps failing' : 'Check the settings and press Train again';
      hub.error(sentence(what), action);
    }
    if (!client.running && status.dataset.state !== 'running') buttons.start.disabled = false;
  });

  /** After a failed run the model in use goes back to the last one known to be good: the best
   *  validated epoch of the run, else the model in use before it (pretrained, saved, loaded).
   *  Returns the info of the model kept. */
  function keepLastGoodModel() {
    const { bestWeights: best, previous } = run;
    run.previous = run.bestWeights = null;
    if (hub.info?.source !== 'training') return hub.info; // no weights of this run are in use
    const kept = best
      ? { bytes: best.bytes, info: { source: 'trained', label: `${run.label}, epoch ${best.epoch}`, epoch: best.epoch, valAccuracy: best.valAccuracy } }
      : previous;
    if (kept) useWeights(kept.bytes, kept.info);
    return kept?.info ?? null;
  }

  function finish(d) {
    showBatch();
    const { reason, weightsFromEpoch, valAccuracy, test } = d;
    const testAccuracy = test?.accuracy;
    let kept;
    if (weightsFromEpoch != null) {
      kept = { source: 'trained', label: `${run.label}, epoch ${weightsFromEpoch}`, epoch: weightsFromEpoch, valAccuracy, testAccuracy };
      useWeights(d.weights, kept);
    } else {
      // No epoch finished: its weights were never validated, so go back to the model in use before.
      kept = run.previous?.info ?? { label: 'the model it used before' };
      if (run.previous) useWeights(run.previous.bytes, run.previous.info);
    }
    run.previous = run.bestWeights = null;
    const state = { completed: 'done', earlyStopped: 'done', stopped: 'stopped', diverged: 'error' }[reason] ?? 'done';
    setStatus({
      state, paused: '', epoch: String(d.history.length), weightsEpoch: weightsFromEpoch ?? '',
      valAccuracy: valAccuracy ?? '', testAccuracy: testAccuracy ?? '',
    });
    const batches = run.batches.length;
    // The worker's message speaks of its own weights; the page says which model it keeps.
    const diverged = `training diverged after ${batches} batch${batches === 1 ? '' : 'es'}: ${d.divergence ?? 'the loss became NaN or infinite'}, so it stopped`;
    field('headline').textContent = `${run.label}: ${reason === 'diverged' ? diverged : d.message} (${duration(d.trainSeconds * 1000)} of training)`;
    $('#train-result').textContent = weightsFromEpoch != null
      ? `Using the weights of epoch ${weightsFromEpoch} — validation ${percent(valAccuracy)}, test ${test ? percent(testAccuracy) : 'not evaluated (press Evaluate on test set)'}.`
      : `No epoch finished: the page keeps ${kept.label}.`;
    showProgress(test ? 'Test set' : `Epoch ${run.epochNow ?? 1}`, 1, 1);
    showNumbers({ eta: duration(0) });
    run.history = d.history;
    run.best = weightsFromEpoch;
    setRunning(false);
    hub.setBusy(false);
    if (reason === 'diverged') hub.error(`${capitalized(diverged)}. The page keeps ${kept.label}.`, 'Lower the learning rate and train again');
    publishRun(d);
    scheduleRender();
  }

  function publishRun(d) {
    const record = {
      label: run.label, architecture: run.architecture, params: run.params, weightBytes: run.weightBytes,
      config: run.config, reason: d.reason, weightsFromEpoch: d.weightsFromEpoch, trainSeconds: d.trainSeconds,
      bestValAccuracy: d.valAccuracy ?? null, testAccuracy: d.test?.accuracy ?? null, history: d.history,
    };
    hub.runs.push(record);
    hub.dispatchEvent(new CustomEvent('run', { detail: record }));
  }

  // --- buttons -----------------------------------------------------------------------------
  buttons.start.addEventListener('click', start);
  buttons.pause.addEventListener('click', () => (client.paused ? client.resume() : client.pause()));
  buttons.stop.addEventListener('click', () => {
    client.stop();
    showBatch();
    field('headline').textContent = `${run.label}: stopping after this batch…`;
  });
  buttons.evaluate.addEventListener('click', async () => {
    if (!hub.recognizer) {
      hub.error('No model is loaded yet', 'Wait until the page says it is ready');
      return;
    }
    const label = hub.info?.label ?? 'the model in use';
    evaluating = true;
    buttons.evaluate.disabled = true;
    field('headline').textContent = `Testing ${label} on the ${TEST_IMAGES} test images…`;
    try {
      const result = await client.evaluate(hub.recognizer.toSafetensors());
      setStatus({ testAccuracy: result.accuracy });
      field('headline').textContent = `Tested ${label}.`;
      $('#train-result').textContent = `${label}: test accuracy ${percent(result.accuracy)} (loss ${fixed(result.loss)}) on ${grouped(result.count)} images.`;
    } catch {
      // Reported by the 'error' listener above.
    } finally {
      evaluating = false;
      buttons.evaluate.disabled = status.dataset.state === 'running';
    }
  });

  hub.addEventListener('model', ({ detail }) => {
    // A model from elsewhere (a file, the lab): earlier test results are not about it.
    if (!['training', 'trained'].includes(detail.info?.source)) {
      setStatus({ testAccuracy: '' });
      $('#train-result').textContent = '';
    }
    refreshFormState();
  });

  setRunning(false);
  field('headline').textContent = 'Choose a model and settings, then press Train.';
  scheduleRender();
  mountRobustnessReport(root, hub, client);
}
