// "Teach it my handwriting": after drawing, the user says which digit it was; the labelled
// drawings are kept in this browser (IndexedDB, never uploaded) and can fine-tune the model in
// use for a few steps, mixed with bundled MNIST images so it does not forget the rest. Shows
// each drawing's prediction before and after.
//
// Needs the Draw area's hub 'recognition' event ({detail: {result}}, result.input = the 28×28
// image the model saw) to know the latest drawing. Publishes the drawings as hub.drawings and a
// hub 'drawings' event ({detail: {drawings}}) whenever they change.
import { el, grouped, percent, duration, thumbnail, toUnit, toBytes, argmax, trainerOf, inlineMessage } from './lab-common.js';
import { storage, DRAWINGS } from './lab-store.js';

/** A few quick epochs: the user's drawings (each repeated) mixed with bundled images, random
 *  2-pixel shifts so the model learns the shapes rather than the exact pixels. */
export const FINE_TUNE = Object.freeze({
  config: { epochs: 2, batchSize: 32, learningRate: 0.0005, schedule: 'constant', validationSplit: 0, earlyStopping: false, augment: true, seed: 7 },
  bundledImages: 800,
  repeat: 8,
});

/** The digit a recognizer reads in each drawing, with its probability. */
function readAll(recognizer, drawings) {
  return drawings.map((d) => {
    const probabilities = recognizer.probabilities28(toUnit(d.pixels));
    const digit = argmax(probabilities);
    return { digit, confidence: probabilities[digit] };
  });
}

export function mountTeach(section, hub) {
  const preview = el('div', { className: 'lab-teach-preview' });
  const labelButtons = Array.from({ length: 10 }, (_, digit) =>
    el('button', { type: 'button', className: 'btn lab-digit', dataset: { digit: String(digit) }, 'aria-label': `This was a ${digit}`, disabled: true }, String(digit)));
  const feedback = el('p', { className: 'lab-teach-feedback muted', role: 'status' });
  const count = el('p', { className: 'lab-teach-count' });
  const thumbs = el('ul', { className: 'lab-drawings', 'aria-label': 'Your labelled drawings' });
  const clearButton = el('button', { type: 'button', className: 'btn btn-quiet btn-small lab-drawings-clear', textContent: 'Delete all' });
  const tuneButton = el('button', { type: 'button', className: 'btn btn-primary lab-fine-tune', textContent: 'Fine-tune the model in use' });
  const progress = el('progress', { className: 'lab-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Fine-tuning progress' });
  const tuneStatus = el('p', { className: 'lab-tune-status muted', role: 'status' });
  const error = el('p', { className: 'lab-message', role: 'alert', hidden: true });
  const results = el('div', { className: 'lab-tune-results' });
  section.append(
    el('h3', {}, 'Teach it your handwriting'),
    el('p', { className: 'muted lab-lede' },
      'Draw a digit on the pad, then say which one it was. Your drawings are kept in this browser only: nothing you draw leaves it.'),
    el('div', { className: 'lab-teach-grid' },
      preview,
      el('div', {},
        el('div', { className: 'lab-digits', role: 'group', 'aria-label': 'This was a…' }, el('span', { className: 'field-label' }, 'This was a'), labelButtons),
        feedback)),
    el('div', { className: 'lab-row' }, count, clearButton),
    thumbs,
    el('div', { className: 'lab-row' }, tuneButton, progress),
    el('p', { className: 'muted lab-note' },
      `Fine-tuning trains the model in use for ${FINE_TUNE.config.epochs} short epochs on your drawings (each ${FINE_TUNE.repeat}×, slightly shifted) mixed with ${grouped(FINE_TUNE.bundledImages)} bundled images, then tests it on the 10,000 test images.`),
    tuneStatus,
    error,
    results,
  );

  /** The latest drawing the model read: {input: Float32Array(784), digit, confidence}, or null. */
  let latest = null;
  /** The user's labelled drawings: [{id, label, pixels: Uint8Array(784), savedAt}]. */
  let drawings = [];
  let tuning = false;

  function refreshControls() {
    const busy = tuning || !!hub.busy;
    labelButtons.forEach((b) => { b.disabled = !latest; });
    tuneButton.disabled = busy || drawings.length === 0 || !hub.recognizer;
    tuneButton.title = hub.busy && !tuning ? 'Wait until training has finished' : '';
    clearButton.hidden = drawings.length === 0;
    section.dataset.drawings = String(drawings.length);
  }

  function showPreview() {
    preview.replaceChildren(latest
      ? el('figure', {}, thumbnail(latest.input, 'your latest drawing'),
        el('figcaption', {}, `The model reads ${latest.digit} (${percent(latest.confidence, 0)})`))
      : el('p', { className: 'muted' }, 'Draw a digit on the pad first.'));
  }

  function renderDrawings() {
    // The map of all digits (ui/insight/digit-map.js) marks them.
    hub.drawings = drawings;
    hub.dispatchEvent(new CustomEvent('drawings', { detail: { drawings } }));
    const digits = new Set(drawings.map((d) => d.label)).size;
    count.textContent = drawings.length
      ? `${drawings.length} drawing${drawings.length > 1 ? 's' : ''} of ${digits} digit${digits > 1 ? 's' : ''}`
      : 'No labelled drawings yet.';
    thumbs.replaceChildren(...drawings.map((d) => el('li', { className: 'lab-drawing', dataset: { id: String(d.id), label: String(d.label) } },
      thumbnail(d.pixels, `your ${d.label}`),
      el('span', { className: 'lab-drawing-label' }, String(d.label)),
      el('button', { type: 'button', className: 'btn btn-quiet btn-small lab-drawing-delete', 'aria-label': `Delete this drawing of a ${d.label}`, title: 'Delete', onclick: () => remove(d.id) }, '✕'))));
    refreshControls();
  }

  function storageFailed(what, failure) {
    hub.error(`${what}: ${failure.message}`, 'Your drawings may not be kept after a reload.');
  }

  async function keep(label) {
    if (!latest) return;
    const drawing = { label, pixels: toBytes(latest.input), savedAt: Date.now() };
    latest = null; // one label per drawing: the buttons wait for the next one
    refreshControls();
    try {
      drawing.id = await storage.put(DRAWINGS, drawing);
    } catch (failure) {
      storageFailed('This drawing could not be kept in the browser', failure);
      drawing.id = `unsaved-${drawing.savedAt}`;
    }
    drawings.push(drawing);
    feedback.textContent = `Kept as a ${label}. Clear the pad and draw the next one.`;
    renderDrawings();
  }

  async function remove(id) {
    try {
      if (typeof id === 'number') await storage.delete(DRAWINGS, id);
    } catch (failure) {
      storageFailed('This drawing could not be deleted from the browser', failure);
      return;
    }
    drawings = drawings.filter((d) => d.id !== id);
    renderDrawings();
  }

  async function fineTune() {
    const used = drawings.slice();
    const startLabel = hub.info?.label ?? 'the model in use';
    tuning = true;
    refreshControls();
    inlineMessage(error, '');
    results.replaceChildren();
    progress.hidden = false;
    progress.value = 0;
    tuneStatus.textContent = `Fine-tuning ${startLabel} on ${used.length} drawings…`;
    hub.setBusy(true, 'fine-tuning');
    const started = performance.now();
    let trainer = null;
    let id = null;
    const onProgress = ({ type, detail }) => {
      if (detail.id !== id) return;
      if (type === 'batch') progress.value = 0.7 * detail.progress;
      else {
        progress.value = 0.7 + 0.3 * (detail.done / detail.total);
        tuneStatus.textContent = `Testing the fine-tuned model: ${grouped(detail.done)} of ${grouped(detail.total)} test images`;
      }
    };
    try {
      const before = readAll(hub.recognizer, used);
      const pixels = new Float32Array(used.length * 784);
      used.forEach((d, i) => pixels.set(toUnit(d.pixels), i * 784));
      trainer = await trainerOf(hub);
      trainer.addEventListener('batch', onProgress);
      trainer.addEventListener('eval-progress', onProgress);
      const job = trainer.fineTune({
        weights: hub.recognizer.toSafetensors(),
        pixels,
        labels: Uint8Array.from(used, (d) => d.label),
        ...FINE_TUNE,
      });
      id = job.id;
      const finished = await job;
      const tuned = hub.wasm.Recognizer.fromSafetensors(finished.weights);
      const after = readAll(tuned, used);
      const testAccuracy = finished.test?.accuracy ?? null;
      hub.setModel(tuned, { source: 'trained', label: `${startLabel.replace(/ \(restored\)$/, '')} + your handwriting`, testAccuracy });
      showResults(used, before, after, testAccuracy);
      const seconds = (performance.now() - started) / 1000;
      tuneStatus.textContent = `Done in ${duration(seconds)} (${duration(finished.trainSeconds)} training, the rest testing): the fine-tuned model is in use now. “Back to pretrained” is under Save and load weights.`;
    } catch (failure) {
      tuneStatus.textContent = 'Fine-tuning did not finish: the model in use is unchanged.';
      inlineMessage(error, `Fine-tuning failed: ${failure.message}`);
      hub.error(`Fine-tuning failed: ${failure.message}`, 'The model in use is unchanged. Try again when no training runs.');
    } finally {
      trainer?.removeEventListener('batch', onProgress);
      trainer?.removeEventListener('eval-progress', onProgress);
      tuning = false;
      progress.hidden = true;
      hub.setBusy(false);
      refreshControls();
    }
  }

  function showResults(used, before, after, testAccuracy) {
    const right = (reads) => reads.filter((r, i) => r.digit === used[i].label).length;
    const cell = (r, label) => el('td', { className: r.digit === label ? 'is-right' : 'is-wrong' },
      `${r.digit} `, el('span', { className: 'muted' }, `(${percent(r.confidence, 0)})`));
    results.replaceChildren(
      el('p', { className: 'lab-tune-score', dataset: { before: String(right(before)), after: String(right(after)), total: String(used.length) } },
        `Your drawings read right: ${right(before)} of ${used.length} before, `, el('strong', {}, `${right(after)} of ${used.length} after`),
        testAccuracy == null ? '.' : `; test accuracy after: ${percent(testAccuracy)}.`),
      el('div', { className: 'table-scroll' }, el('table', { className: 'data lab-tune-table' },
        el('thead', {}, el('tr', {}, ['Drawing', 'You said', 'Before', 'After'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, used.map((d, i) => el('tr', {},
          el('td', {}, thumbnail(d.pixels, `your ${d.label}`)), el('td', {}, String(d.label)), cell(before[i], d.label), cell(after[i], d.label)))))),
    );
  }

  labelButtons.forEach((button) => button.addEventListener('click', () => keep(Number(button.dataset.digit))));
  clearButton.addEventListener('click', async () => {
    try {
      await storage.clear(DRAWINGS);
    } catch (failure) {
      storageFailed('Your drawings could not be deleted from the browser', failure);
      return;
    }
    drawings = [];
    feedback.textContent = '';
    renderDrawings();
  });
  tuneButton.addEventListener('click', fineTune);

  hub.addEventListener('recognition', ({ detail }) => {
    const result = detail?.result;
    latest = result && result.digit != null
      ? { input: Float32Array.from(result.input), digit: result.digit, confidence: result.confidence }
      : null;
    if (latest) feedback.textContent = '';
    showPreview();
    refreshControls();
  });
  hub.addEventListener('model', refreshControls);
  hub.addEventListener('busy', refreshControls);

  showPreview();
  renderDrawings();
  storage.all(DRAWINGS).then(
    (stored) => {
      drawings = [...stored, ...drawings.filter((d) => typeof d.id !== 'number')];
      renderDrawings();
    },
    (failure) => storageFailed('Your earlier drawings could not be read from the browser', failure),
  );
}
