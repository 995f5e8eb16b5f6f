// "Draw a digit and look inside": the pad, the live prediction, the 28×28 image the model
// saw (with receptive fields), every layer's activation maps and the filters. Follows the
// hub: a new model (pretrained, trained, loaded) rebuilds the views and re-reads the drawing.
//
// Hooks for tests: #pad, #clear, #undo, #prediction[data-digit][data-confidence][data-source],
// [data-layer] groups with one <canvas> per channel, #receptive-field[data-size][data-cell-layer],
// #update-time[data-ms].
//
// Hub events:
//   dispatches 'recognition' {detail: {result}} after every reading of the pad: result is what
//     predictImage returned (digit undefined: too little ink to read), or null for an empty pad;
//     its layers' activations are views into a buffer the next reading refills.
//   listens to 'show-input' {detail: {pixels: Float32Array(784) 0..1, label, source}}: shows that
//     image (e.g. a test image from the lab) as if it had been drawn, with the pad cleared.

import { Pad } from './pad.js';
import { ActivationMaps, window1d, summaryEntry } from './maps.js';
import { FilterView } from './draw-filters.js';
import { EXAMPLE_STROKES } from './draw-examples.js';
import { fmt } from './draw-colors.js';

/** Predictions while drawing: at most one per this many ms (≈30/s), always one at stroke end. */
const THROTTLE_MS = 33;

const DRAW_HTML = `
  <div class="draw-grid">
  <div class="draw-main">
    <div class="pad-col">
      <div class="pad-frame">
        <canvas id="pad" class="pad" tabindex="0"
          aria-label="Drawing pad: draw one digit, 0 to 9, with the mouse, a finger or a pen. Delete clears it, Control+Z undoes the last stroke."
          aria-describedby="pad-hint"></canvas>
        <p class="pad-hint" id="pad-hint">Loading the network…</p>
      </div>
      <div class="pad-tools" role="toolbar" aria-label="Drawing tools">
        <button type="button" class="btn" id="undo" aria-keyshortcuts="Control+Z" title="Undo the last stroke (Ctrl+Z)">Undo</button>
        <button type="button" class="btn" id="clear" aria-keyshortcuts="Delete" title="Clear the pad (Delete)">Clear</button>
        <button type="button" class="btn btn-quiet" id="example" title="Draw an example digit">Example</button>
      </div>
    </div>
    <div class="side-col">
      <div id="prediction" class="prediction" data-digit="" data-confidence="0">
        <span class="pred-label">Prediction</span>
        <span class="pred-digit" id="pred-digit" aria-hidden="true">?</span>
        <span class="pred-caption" id="pred-caption">draw a digit</span>
      </div>
      <figure class="seen">
        <div class="input-view" id="input-view">
          <canvas id="input28" width="28" height="28" role="img" aria-label="The 28 by 28 image the network receives"></canvas>
          <div class="rf-box" id="rf-box" hidden></div>
        </div>
        <figcaption>What it sees, 28 × 28</figcaption>
      </figure>
    </div>
  </div>
  <div class="probs" aria-label="Probability of each digit">
    <ol class="prob-bars" id="probabilities"></ol>
  </div>
  <p class="rf-text" id="receptive-field" data-size="" data-cell-layer="">Point at a cell of any map to see which input pixels it depends on.</p>
  <p class="timing"><span id="update-time" data-ms="">update – ms</span><span class="model-line" id="draw-model"></span></p>
  </div>
  <p class="sr-only" id="prediction-announce" aria-live="polite"></p>
  <a class="mini-prediction" id="mini-prediction" href="#area-draw" hidden>
    <span class="mini-digit" id="mini-digit"></span><span id="mini-text"></span>
  </a>
`;

const INSIDE_HTML = `
  <div class="inside-controls">
    <fieldset class="segmented" id="scale-mode">
      <legend>Colour scale</legend>
      <label><input type="radio" name="scale-mode" value="layer" checked> one per layer</label>
      <label><input type="radio" name="scale-mode" value="channel"> one per channel</label>
    </fieldset>
    <div class="colour-key" aria-label="How to read the colours">
      <span class="key-item"><span class="key-swatch key-viridis" aria-hidden="true"></span>0 … largest (ReLU, pooling)</span>
      <span class="key-item"><span class="key-swatch key-diverging" aria-hidden="true"></span>negative · 0 · positive</span>
    </div>
  </div>
  <p class="maps-hint" id="maps-hint">Draw a digit to light up the maps. Point at a cell to see the patch of input it depends on; click a map to enlarge it.</p>
  <div class="maps" id="maps"></div>
  <section class="filters-section" aria-labelledby="filters-title">
    <h3 id="filters-title">Filters</h3>
    <div id="filters"></div>
  </section>
`;

export function mountDrawPanel(root, hub, { insideRoot } = {}) {
  const body = document.createElement('div');
  body.className = 'draw-panel';
  body.innerHTML = DRAW_HTML;
  root.append(body);
  const $ = (id) => document.getElementById(id);

  const pad = new Pad($('pad'));
  // Around the pad nothing can be dragged (see the pad's own guard against selections).
  body.querySelector('.draw-main').addEventListener('dragstart', (e) => e.preventDefault());
  const predictionEl = $('prediction');
  const digitEl = $('pred-digit');
  const captionEl = $('pred-caption');
  const announceEl = $('prediction-announce');
  const hintEl = $('pad-hint');
  const rfText = $('receptive-field');
  const rfBox = $('rf-box');
  const timingEl = $('update-time');
  const modelLine = $('draw-model');
  /** The chip that shows the prediction while it is scrolled out of view (see updateMini). */
  const mini = { link: $('mini-prediction'), digit: $('mini-digit'), text: $('mini-text'), away: false };
  /** An image shown instead of a drawing ('show-input'): {pixels, label, source}, or null. */
  let shownInput = null;
  /** The summary of the model in use (null before one is). */
  let summary = null;
  /** Why there will be no model (set by fail()), or '' while one is on its way. */
  let failure = '';

  // Probability bars, built once.
  const bars = [];
  const probList = $('probabilities');
  for (let d = 0; d < 10; d++) {
    const li = document.createElement('li');
    li.dataset.digit = String(d);
    const pct = document.createElement('span');
    pct.className = 'prob-pct';
    const track = document.createElement('span');
    track.className = 'prob-track';
    const fill = document.createElement('span');
    fill.className = 'prob-fill';
    track.append(fill);
    const label = document.createElement('span');
    label.className = 'prob-digit';
    label.textContent = String(d);
    li.append(pct, track, label);
    probList.append(li);
    bars.push({ li, pct, fill });
  }

  // The 28×28 input, painted as ink on paper.
  const inputCanvas = $('input28');
  const inputCtx = inputCanvas.getContext('2d');
  const inputImage = inputCtx.createImageData(28, 28);
  const inputPixels = new Uint32Array(inputImage.data.buffer);
  const INK_LUT = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const [r, g, b] = [255 + (27 - 255) * t, 255 + (29 - 255) * t, 255 + (41 - 255) * t].map(Math.round);
    INK_LUT[i] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  function paintInput(input) {
    for (let i = 0; i < 784; i++) inputPixels[i] = INK_LUT[Math.max(0, Math.min(255, (input[i] * 255) | 0))];
    inputCtx.putImageData(inputImage, 0, 0);
  }

  // ---- look inside ------------------------------------------------------------------
  let maps = null;
  /** The latest reading's activations, shown by the maps (see read). */
  let activations = null;
  let filters = null;
  if (insideRoot) {
    const inside = document.createElement('div');
    inside.className = 'inside-panel';
    inside.innerHTML = INSIDE_HTML;
    insideRoot.append(inside);
    maps = new ActivationMaps($('maps'), {
      onCell: showReceptiveField,
      kernels: (name) => hub.recognizer && hub.recognizer.kernels(name),
      // The channel card (ui/insight/card.js) follows these.
      onChannel: (detail) => hub.dispatchEvent(new CustomEvent('channel', { detail })),
    });
    filters = new FilterView($('filters'));
    for (const input of inside.querySelectorAll('input[name="scale-mode"]')) {
      input.addEventListener('change', () => input.checked && maps.setMode(input.value));
    }
  }

  function showReceptiveField(info) {
    if (!info || !info.rf) {
      rfBox.hidden = true;
      rfText.dataset.size = '';
      rfText.dataset.cellLayer = '';
      rfText.textContent = 'Point at a cell of any map to see which input pixels it depends on.';
      return;
    }
    const { rf } = info;
    const [r0, r1] = window1d(rf, info.row);
    const [c0, c1] = window1d(rf, info.col);
    rfBox.style.left = `${(c0 / 28) * 100}%`;
    rfBox.style.top = `${(r0 / 28) * 100}%`;
    rfBox.style.width = `${((c1 - c0) / 28) * 100}%`;
    rfBox.style.height = `${((r1 - r0) / 28) * 100}%`;
    rfBox.hidden = false;
    rfText.dataset.size = String(rf.size);
    rfText.dataset.cellLayer = info.layer;
    rfText.dataset.rows = `${r0}-${r1 - 1}`;
    rfText.dataset.cols = `${c0}-${c1 - 1}`;
    const clipped = r1 - r0 !== rf.size || c1 - c0 !== rf.size;
    const value = info.value === undefined ? '' : ` Value here: ${fmt(info.value)}.`;
    rfText.textContent =
      `${info.layer} cell (${info.row}, ${info.col}) sees input rows ${r0}–${r1 - 1}, cols ${c0}–${c1 - 1}: ` +
      `${r1 - r0} × ${c1 - c0} px${clipped ? ` (its field is ${rf.size} × ${rf.size}, cut off at the edge)` : ''}.${value}`;
  }

  // ---- recognition --------------------------------------------------------------------
  let lastRun = 0;
  let timer = 0;
  const times = [];
  let lastAnnounced = '';

  /** `lazyMaps`: the maps may wait until they are on screen (see ActivationMaps.show). */
  function showEmpty(lazyMaps = false) {
    predictionEl.dataset.digit = '';
    predictionEl.dataset.confidence = '0';
    predictionEl.classList.add('is-empty');
    digitEl.textContent = '?';
    captionEl.textContent = 'draw a digit';
    for (const b of bars) {
      b.fill.style.transform = 'scaleY(0)';
      b.pct.textContent = '';
      b.li.classList.remove('top');
    }
    paintInput(new Float32Array(784));
    updateHint();
    updateMini();
    if (maps) maps.show(null, { lazy: lazyMaps });
  }

  function showResult(result) {
    const digit = result.digit;
    const probs = result.probabilities;
    predictionEl.classList.remove('is-empty');
    predictionEl.dataset.digit = String(digit);
    predictionEl.dataset.confidence = result.confidence.toFixed(4);
    digitEl.textContent = String(digit);
    let second = -1;
    for (let d = 0; d < 10; d++) if (d !== digit && (second < 0 || probs[d] > probs[second])) second = d;
    captionEl.textContent =
      result.confidence >= 0.8
        ? `${Math.round(result.confidence * 100)} % sure`
        : `${Math.round(result.confidence * 100)} % — or maybe ${second}?`;
    for (let d = 0; d < 10; d++) {
      const p = probs[d];
      bars[d].fill.style.transform = `scaleY(${p.toFixed(4)})`;
      bars[d].pct.textContent = p >= 0.005 ? `${Math.round(p * 100)}` : '';
      bars[d].li.classList.toggle('top', d === digit);
    }
    paintInput(result.input);
    updateHint();
    updateMini();
  }

  // The prediction follows you down the page: when it is scrolled out of view (a phone looking
  // at the training curves), a small chip shows it and leads back to the pad.
  function updateMini() {
    const digit = predictionEl.dataset.digit;
    mini.link.hidden = !mini.away || digit === '';
    if (digit === '') return;
    const percent = Math.round(Number(predictionEl.dataset.confidence) * 100);
    mini.digit.textContent = digit;
    mini.text.textContent = `${percent} %`;
    mini.link.setAttribute('aria-label', `The network reads ${digit}, ${percent} percent sure: back to the drawing pad`);
  }
  new IntersectionObserver((entries) => {
    mini.away = !entries.at(-1).isIntersecting; // the last entry is the state now
    updateMini();
  }).observe(predictionEl);

  /** The note on the pad: shown while it is empty; names the image on display, if any. */
  function updateHint() {
    hintEl.textContent = !hub.recognizer
      ? failure || 'Loading the network…'
      : shownInput
        ? `Showing ${shownInput.source} (label ${shownInput.label}). Draw to replace it.`
        : 'Draw a digit here';
    hintEl.classList.toggle('is-note', !!shownInput);
    hintEl.hidden = !pad.isEmpty;
  }

  function announce() {
    const d = predictionEl.dataset.digit;
    const what = shownInput ? `Showing ${shownInput.source}, labelled ${shownInput.label}. ` : '';
    const text = d === '' ? 'The pad is empty.' : `${what}The network reads ${d}, ${Math.round(Number(predictionEl.dataset.confidence) * 100)} percent sure.`;
    if (text !== lastAnnounced) {
      announceEl.textContent = text;
      lastAnnounced = text;
    }
  }

  /** Tells the other areas what the model read from the pad (null: the pad is empty). */
  function publish(result) {
    hub.dispatchEvent(new CustomEvent('recognition', { detail: { result } }));
  }

  /** The drawing, or the image shown while the pad is empty, as the model reads it. Every
   *  reading refills one activations buffer (a new one per reading would cost more than the
   *  network itself); the maps show the latest reading, so they never need an older one. */
  function read(recognizer) {
    const count = recognizer.activationCount;
    if (activations?.length !== count) activations = new Float32Array(count);
    if (pad.isEmpty) return recognizer.predict28(shownInput.pixels, activations);
    const img = pad.imageData();
    return recognizer.predictImage(img.data, img.width, img.height, activations);
  }

  /** Reads the pad (or the image shown) and repaints everything; `lazyMaps` as in showEmpty. */
  function recognize({ lazyMaps = false } = {}) {
    clearTimeout(timer);
    timer = 0;
    lastRun = performance.now();
    const recognizer = hub.recognizer;
    if (!recognizer) return;
    predictionEl.dataset.source = shownInput ? shownInput.source : 'pad';
    if (pad.isEmpty && !shownInput) {
      showEmpty(lazyMaps);
      publish(null);
      return;
    }
    const t0 = performance.now();
    let result;
    try {
      result = read(recognizer);
    } catch (e) {
      const what = shownInput ? shownInput.source : 'the drawing';
      hub.error(`Could not read ${what}: ${e.message || e}`, 'Clear the pad and try again; reload the page if it keeps happening.');
      return;
    }
    const t1 = performance.now();
    if (result.digit === undefined || result.digit === null) {
      showEmpty(lazyMaps);
      // No digit: a speck, or a pad so full of ink that no paper is left to find a digit on.
      captionEl.textContent = !shownInput && pad.inkCoverage() > 0.5 ? 'too much ink — clear and draw one digit' : 'too small to read — draw bigger';
    } else {
      showResult(result);
      if (shownInput) captionEl.textContent += ` · label ${shownInput.label}`;
      if (maps) {
        maps.show(result, { lazy: lazyMaps });
        $('maps-hint').hidden = true;
      }
    }
    const t2 = performance.now();
    times.push(t2 - t0);
    if (times.length > 15) times.shift();
    const median = [...times].sort((a, b) => a - b)[times.length >> 1];
    timingEl.dataset.ms = (t2 - t0).toFixed(2);
    timingEl.dataset.median = median.toFixed(2);
    timingEl.dataset.predict = (t1 - t0).toFixed(2);
    timingEl.dataset.render = (t2 - t1).toFixed(2);
    timingEl.textContent = `update ${median.toFixed(1)} ms`;
    timingEl.title =
      `Reading the drawing and repainting every map: ${median.toFixed(1)} ms (median of the last ${times.length} updates; ` +
      `the last one: read ${(t1 - t0).toFixed(1)} + draw ${(t2 - t1).toFixed(1)} ms). One screen frame lasts 16.7 ms.`;
    // Only the user's own drawings (the lab offers to learn from them); after timing, so the
    // listeners' work does not count as the update's.
    if (!shownInput) publish(result);
  }

  function schedule() {
    if (timer) return;
    const wait = Math.max(0, lastRun + THROTTLE_MS - performance.now());
    timer = setTimeout(() => {
      timer = 0;
      recognize();
    }, wait);
  }

  pad.addEventListener('change', (e) => {
    const kind = e.detail.kind;
    // Any change of the pad replaces an image shown from elsewhere.
    shownInput = null;
    hintEl.hidden = true;
    if (kind === 'move' || kind === 'start') schedule();
    else {
      recognize();
      announce();
      updateHint();
    }
  });

  hub.addEventListener('show-input', ({ detail }) => {
    pad.clear();
    shownInput = { pixels: Float32Array.from(detail.pixels), label: detail.label, source: detail.source || 'an image' };
    recognize();
    announce();
  });

  $('clear').addEventListener('click', () => pad.clear());
  $('undo').addEventListener('click', () => pad.undo());
  let exampleDigit = 0;
  /** Draws the next example digit (0, 1, 2, … on each call). */
  function drawExample() {
    pad.setStrokes(EXAMPLE_STROKES[exampleDigit]);
    exampleDigit = (exampleDigit + 1) % 10;
  }
  $('example').addEventListener('click', drawExample);

  /** Shows the receptive field of the middle cell of a layer's maps (as pointing at it does);
   *  returns the input rows and columns it covers, e.g. {rows: '9–16', cols: '9–16'}. */
  function pointAt(layerName) {
    const entry = summary && summaryEntry(summary, layerName);
    if (!entry?.receptive_field || typeof entry.output !== 'object') throw new Error(`${layerName} has no maps`);
    showReceptiveField({ layer: layerName, row: entry.output.height >> 1, col: entry.output.width >> 1, rf: entry.receptive_field });
    return { rows: rfText.dataset.rows.replace('-', '–'), cols: rfText.dataset.cols.replace('-', '–') };
  }

  // Shortcuts, except while typing in a form field (the model editor has some).
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'z') {
      if (pad.undo()) e.preventDefault();
    } else if (!e.ctrlKey && !e.metaKey && !e.altKey && (e.key === 'Delete' || (e.key === 'Backspace' && t === pad.canvas))) {
      e.preventDefault();
      pad.clear();
    }
  });

  // ---- following the hub's model --------------------------------------------------------
  /** Puts a model in use. With the same architecture as before (new weights during training,
   *  every few seconds) the layer views, summary and timings stay: only values are repainted,
   *  and the filters only once they are on screen. */
  function useModel(recognizer, info, architectureChanged = true) {
    if (!recognizer) return;
    const rebuild = architectureChanged || !summary;
    try {
      if (rebuild) {
        summary = recognizer.summary();
        // Layer names and shapes come from the model itself (one forward on a blank image).
        const probe = recognizer.predict28(new Float32Array(784));
        if (maps) {
          maps.reset(summary);
          maps.build(probe.layers, summary);
        }
        showReceptiveField(null);
        if (filters) filters.setModel(recognizer, summary);
      } else if (filters) {
        filters.setWeights(recognizer);
      }
      // The enlarged channel shows its filter: refresh it for the new weights.
      if (maps?.detail) maps.openDetail(maps.detail.group, maps.detail.channel);
    } catch (e) {
      hub.error(`Could not show this model's layers: ${e.message || e}`, 'Try another model or reload the page.');
      return;
    }
    updateHint();
    const params = summary.total_params.toLocaleString('en');
    modelLine.textContent = ` · model: ${info?.label || summary.name} (${params} parameters)`;
    if (rebuild) times.length = 0;
    recognize({ lazyMaps: !rebuild });
    if (rebuild) warmUp(recognizer);
  }

  // The first few runs of fresh WebAssembly are slow until the engine optimises them; do them
  // while the page is idle rather than on the first strokes.
  function warmUp(recognizer) {
    const idle = window.requestIdleCallback || ((f) => setTimeout(f, 50));
    let left = 4;
    const blank = new Uint8Array(4 * 56 * 56);
    for (let y = 10; y < 46; y++) for (let x = 24; x < 32; x++) blank[(y * 56 + x) * 4 + 3] = 255;
    const step = () => {
      if (hub.recognizer !== recognizer || left-- <= 0) return;
      try {
        recognizer.predictImage(blank, 56, 56);
      } catch {
        return;
      }
      idle(step);
    };
    idle(step);
  }

  hub.addEventListener('model', ({ detail }) => useModel(detail.recognizer, detail.info, detail.architectureChanged));
  if (hub.recognizer) useModel(hub.recognizer, hub.info);
  else showEmpty();

  return {
    pad, recognize, maps, filters, drawExample, pointAt,
    /** Whether the views show something: a drawing, or an image shown from elsewhere. */
    hasInput: () => !pad.isEmpty || !!shownInput,
    /** No model will come (e.g. the wasm did not load): says so on the pad. */
    fail(reason) {
      failure = reason;
      updateHint();
    },
  };
}
