// "Why this digit?": which strokes pushed the network towards its answer, and which away, as a
// map over the 28 × 28 input view and over the pad itself, with a legend, a method switch,
// target and contrast pickers and a sentence in plain words. Every number comes from Rust
// (Recognizer.explain); this module only asks and paints.
//
// Gradient × input and Grad-CAM take well under a millisecond: they follow every reading of
// the pad, like the prediction. Integrated gradients and occlusion take tens of milliseconds:
// they run in a worker (client.js) when a stroke ends, so drawing never waits for them.
//
// Hooks for tests: #why-method (radios), #why-target, #why-versus (selects), #why-map-input and
// #why-map-pad (canvases), #why-range, #why-sentence, #why-status[data-state='idle'|'busy'|
// 'ready'|'error'][data-method][data-target][data-versus][data-range]; performance measures
// 'explain:<method>:compute' (a live map), ':ask' (handing a slow one to the worker), ':show'.

import { SCALES, fmt } from '../draw-colors.js';
import { MODEL_SIDE } from '../pad.js';
import { ExplainWorker, WORKER_URL } from './client.js';
import { paintMap, paintOnPad } from './overlay.js';

export { WORKER_URL as EXPLAIN_WORKER_URL };

const METHODS = [
  { name: 'gradient', label: 'Gradient × input', live: true },
  { name: 'integrated', label: 'Integrated gradients', live: false },
  { name: 'occlusion', label: 'Occlusion', live: false },
  { name: 'gradcam', label: 'Grad-CAM', live: true },
];

/** What each method measured, for the line under the sentence. */
function methodNote(result) {
  switch (result.method) {
    case 'gradient':
      return 'Gradient × input: how fast the score changes with each pixel, times the pixel.';
    case 'integrated':
      return `Integrated gradients, 32 steps from the blank image; the map sums to the score's change within ${(100 * result.completenessError).toFixed(1)} %.`;
    case 'occlusion':
      return 'Occlusion: how much the probability drops when a 4 × 4 patch is erased (patches every 2 pixels, erased to blank paper).';
    case 'gradcam':
      return `Grad-CAM at ${result.layer}: its activations weighted by their gradient, each cell spread over its receptive field.`;
    default:
      return '';
  }
}

const PANEL_HTML = `
  <div class="why-controls">
    <fieldset class="segmented" id="why-method">
      <legend>Method</legend>
      ${METHODS.map((m, i) => `<label><input type="radio" name="why-method" value="${m.name}"${i === 0 ? ' checked' : ''}> ${m.label}</label>`).join('')}
    </fieldset>
    <label class="why-pick">Explain <select id="why-target"></select></label>
    <label class="why-pick">rather than <select id="why-versus"></select></label>
    <label class="why-pick"><input type="checkbox" id="why-on-pad" checked> on the pad</label>
  </div>
  <div class="why-legend" id="why-legend" aria-label="Colour scale of the map">
    <span class="why-end" id="why-min">−0</span>
    <span class="why-bar" aria-hidden="true"></span>
    <span class="why-end" id="why-max">+0</span>
    <span class="why-key"><span class="why-red">red</span>: pushes towards <b id="why-towards">the answer</b> · <span class="why-blue">blue</span>: pushes <span id="why-away">away</span> · values up to ±<span id="why-range">0</span> (the scale ends at the 98th percentile)</span>
  </div>
  <p class="why-sentence" id="why-sentence" aria-live="polite">Draw a digit to see why the network reads it as it does.</p>
  <p class="why-status" id="why-status" data-state="idle"></p>
`;

export function mountExplainPanel(root, hub, { draw, inputView, padFrame }) {
  const body = document.createElement('div');
  body.className = 'why-panel';
  body.innerHTML = PANEL_HTML;
  root.append(body);
  const $ = (id) => document.getElementById(id);
  const targetSelect = $('why-target');
  const versusSelect = $('why-versus');
  const onPad = $('why-on-pad');
  const sentence = $('why-sentence');
  const status = $('why-status');
  body.querySelector('.why-bar').style.background = SCALES.diverging.css;

  targetSelect.append(new Option('the prediction', ''));
  versusSelect.append(new Option('— (no contrast)', ''));
  for (let d = 0; d < 10; d++) {
    targetSelect.append(new Option(String(d), String(d)));
    versusSelect.append(new Option(String(d), String(d)));
  }

  // The overlays: a 28×28 canvas over the input view, and one over the pad at screen resolution.
  const inputMap = document.createElement('canvas');
  inputMap.id = 'why-map-input';
  inputMap.className = 'why-map why-map-input';
  inputMap.width = inputMap.height = 28;
  inputMap.setAttribute('aria-hidden', 'true');
  inputView.append(inputMap);
  const padMap = document.createElement('canvas');
  padMap.id = 'why-map-pad';
  padMap.className = 'why-map why-map-pad';
  padMap.setAttribute('aria-hidden', 'true');
  padFrame.append(padMap);

  const worker = new ExplainWorker();
  let last = null; // the explanation on show
  let request = 0; // bumps with every new question, so late answers are dropped

  const method = () => body.querySelector('input[name="why-method"]:checked').value;
  const options = () => {
    const o = { method: method() };
    if (targetSelect.value !== '') o.target = Number(targetSelect.value);
    if (versusSelect.value !== '') o.versus = Number(versusSelect.value);
    return o;
  };
  const isLive = (name) => METHODS.find((m) => m.name === name).live;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function clear(text = 'Draw a digit to see why the network reads it as it does.') {
    last = null;
    paintMap(inputMap, new Float32Array(784), 0);
    paintOnPad(padMap, inputMap, null, MODEL_SIDE);
    sentence.textContent = text;
    $('why-range').textContent = '0';
    $('why-min').textContent = '−0';
    $('why-max').textContent = '+0';
    status.dataset.range = '0';
  }

  function sizePad() {
    const px = Math.round(padFrame.clientWidth * Math.max(1, window.devicePixelRatio || 1));
    if (px > 0 && padMap.width !== px) padMap.width = padMap.height = px;
  }

  function show(result, ms) {
    last = result;
    paintMap(inputMap, result.map, result.scale);
    sizePad();
    paintOnPad(padMap, inputMap, onPad.checked ? result.placement : null, MODEL_SIDE);
    padMap.hidden = !onPad.checked;
    $('why-range').textContent = fmt(result.range);
    $('why-min').textContent = `−${fmt(result.scale)}`;
    $('why-max').textContent = `+${fmt(result.scale)}`;
    $('why-towards').textContent = result.target === undefined ? 'the answer' : String(result.target);
    $('why-away').textContent = result.versus === undefined ? 'away' : `towards ${result.versus}`;
    sentence.textContent = result.sentence;
    Object.assign(status.dataset, {
      method: result.method,
      target: result.target ?? '',
      versus: result.versus ?? '',
      range: String(result.range),
    });
    setStatus('ready', `${methodNote(result)} ${ms.toFixed(1)} ms.`);
  }

  function fail(message) {
    clear(message);
    setStatus('error', message);
  }

  /** Explains the pad as it is now: at once for the fast methods, in the worker for the slow
   *  ones (only when no stroke is in progress). */
  function update() {
    const recognizer = hub.recognizer;
    if (!recognizer || !draw) return;
    if (draw.pad.isEmpty) {
      clear();
      setStatus('idle', '');
      return;
    }
    const asked = options();
    const live = isLive(asked.method);
    if (!live && draw.pad.drawing !== null) return; // a stroke in progress: wait for its end
    const t0 = performance.now();
    const img = draw.pad.imageData();
    const id = ++request;
    if (live) {
      try {
        const result = recognizer.explain(img.data, img.width, img.height, asked);
        show(result, performance.now() - t0);
      } catch (e) {
        fail(e.message || String(e));
      }
    } else {
      setStatus('busy', `Computing ${asked.method === 'occlusion' ? 'occlusion' : 'integrated gradients'}…`);
      worker.explain(img.data, img.width, img.height, asked).then(
        (result) => {
          if (!result || id !== request) return;
          const shown = performance.now();
          show(result, result.ms);
          // The main thread's share of a slow method: painting its answer.
          performance.measure(`explain:${asked.method}:show`, { start: shown });
        },
        (e) => id === request && fail(e.message || String(e)),
      );
    }
    // What explaining cost this thread (DevTools' timeline; the e2e tests read it).
    performance.measure(`explain:${asked.method}:${live ? 'compute' : 'ask'}`, { start: t0 });
  }

  // After the pad's reading, in a task of its own: explaining never lengthens the reading's
  // task, and readings that come faster than explanations are coalesced.
  let queued = false;
  hub.addEventListener('recognition', () => {
    if (queued) return;
    queued = true;
    setTimeout(() => {
      queued = false;
      update();
    }, 0);
  });
  draw?.pad.addEventListener('change', ({ detail }) => {
    // The drawing changed: an old slow map no longer fits it.
    if (detail.kind === 'start' && last && !isLive(last.method)) clear('');
  });
  hub.addEventListener('model', ({ detail }) => {
    worker.setModel(detail.recognizer);
    update();
  });
  if (hub.recognizer) worker.setModel(hub.recognizer);
  for (const control of [...body.querySelectorAll('input[name="why-method"]'), targetSelect, versusSelect, onPad]) {
    control.addEventListener('change', () => update());
  }
  new ResizeObserver(() => {
    sizePad();
    paintOnPad(padMap, inputMap, last && onPad.checked ? last.placement : null, MODEL_SIDE);
  }).observe(padFrame);

  return {
    /** Switches the method (e.g. from the tour) and explains the drawing with it. */
    setMethod(name) {
      const radio = body.querySelector(`input[name="why-method"][value="${name}"]`);
      if (!radio) throw new Error(`no method ${name}`);
      radio.checked = true;
      update();
    },
    /** The choices on show: {method, target?, versus?, onPad} (what a lesson link keeps). */
    choices: () => ({ ...options(), onPad: onPad.checked }),
    /** Sets the choices (from a lesson link); a method or digit the panel lacks is refused. */
    setChoices({ method: name = 'gradient', target, versus, onPad: shown = true }) {
      const radio = body.querySelector(`input[name="why-method"][value="${name}"]`);
      if (!radio) throw new Error(`no explanation method “${name}”`);
      const digit = (d) => (d === undefined || d === null ? '' : String(d));
      for (const [select, value] of [[targetSelect, target], [versusSelect, versus]]) {
        if (![...select.options].some((o) => o.value === digit(value))) throw new Error(`no digit “${value}” to explain`);
      }
      radio.checked = true;
      targetSelect.value = digit(target);
      versusSelect.value = digit(versus);
      onPad.checked = shown !== false;
      update();
    },
    /** The explanation on show (null: none). */
    current: () => last,
    update,
  };
}
