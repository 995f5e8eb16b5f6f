// The confusion matrix of the model in use on the 10,000 bundled test images, computed in the
// training worker (hub.trainer.evaluate). Clicking a cell shows those test images; clicking an
// image shows what the model makes of it and hands it to the Draw area as if it had been drawn:
// a hub 'show-input' event, {detail: {pixels: Float32Array(784) in 0..1, label}}.
import { el, grouped, percent, thumbnail, toUnit, argmax, trainerOf, inlineMessage } from './lab-common.js';

const LABELS_URL = new URL('../data/t10k-labels-idx1-ubyte.gz', import.meta.url);
/** Thumbnails shown for one cell (a diagonal cell holds ~1,000 images). */
const GALLERY_LIMIT = 60;

/** The labels of the bundled test set: a gzipped IDX1 file (magic 0x801, count, bytes). */
export async function loadTestLabels(url = LABELS_URL) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname} answered ${response.status}`);
  const bytes = new Uint8Array(await new Response(response.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const header = new DataView(bytes.buffer);
  if (bytes.length < 8 || header.getUint32(0) !== 0x801) throw new Error('the test labels file is not an IDX label file');
  const count = header.getUint32(4);
  if (bytes.length !== 8 + count) throw new Error(`the test labels file announces ${count} labels but holds ${bytes.length - 8}`);
  return bytes.subarray(8);
}

/** Indices of the images with true digit `truth` that were read as `predicted`. */
export function cellIndices(labels, predictions, truth, predicted) {
  const out = [];
  for (let i = 0; i < predictions.length; i++) if (labels[i] === truth && predictions[i] === predicted) out.push(i);
  return out;
}

const INK = [27, 29, 41];
const WHITE = [255, 255, 255];

/** Background of a cell, blended from white: correct answers towards green by their share of
 *  the row, mistakes towards orange by their count relative to the largest mistake.
 *  Returns [css colour, whether its text is white]; the text always has ≥ 4.5:1 contrast. */
export function cellColor(count, rowTotal, maxMistake, diagonal) {
  if (!count) return ['transparent', false];
  const t = diagonal ? count / Math.max(1, rowTotal) : Math.sqrt(count / Math.max(1, maxMistake)); // sqrt: single mistakes stay visible
  const target = diagonal ? [20, 99, 59] : [163, 63, 0];
  const blend = (amount) => target.map((c) => Math.round(255 + (c - 255) * amount));
  // Mid-tones give neither dark nor white text enough contrast: darken past them.
  let amount = 0.12 + 0.88 * t;
  while (Math.max(contrast(blend(amount), INK), contrast(blend(amount), WHITE)) < 4.5 && amount < 1) amount += 0.02;
  const rgb = blend(Math.min(1, amount));
  return [`rgb(${rgb.join(', ')})`, contrast(rgb, WHITE) > contrast(rgb, INK)];
}

/** WCAG contrast ratio of two sRGB colours. */
function contrast(a, b) {
  const luminance = (rgb) => {
    const [r, g, bl] = rgb.map((c) => {
      const v = c / 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

export function mountConfusion(section, hub) {
  const computeButton = el('button', { type: 'button', className: 'btn btn-primary lab-confusion-compute', textContent: 'Compute on the 10,000 test images' });
  const progress = el('progress', { className: 'lab-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Test images evaluated' });
  const status = el('p', { className: 'lab-confusion-status muted', role: 'status' }, 'Not computed yet: it takes a few seconds, in the background.');
  const error = el('p', { className: 'lab-message', role: 'alert', hidden: true });
  const matrix = el('div', { className: 'lab-matrix-slot table-scroll' });
  const gallery = el('div', { className: 'lab-gallery', hidden: true });
  section.append(
    el('h3', {}, 'Where it goes wrong: the confusion matrix'),
    el('p', { className: 'muted lab-lede' },
      'Rows are the true digits, columns what the model read. The diagonal is right; every other number is a mistake. Click a cell to see its images.'),
    el('div', { className: 'lab-row' }, computeButton, progress),
    status,
    error,
    matrix,
    gallery,
  );

  let result = null;
  let labels = null;
  let computing = false;

  function setBusy() {
    computeButton.disabled = computing || !!hub.busy || !hub.recognizer;
    computeButton.title = hub.busy ? 'Wait until training has finished' : '';
  }

  async function compute() {
    const modelLabel = hub.info?.label ?? 'the model in use';
    computing = true;
    setBusy();
    inlineMessage(error, '');
    progress.hidden = false;
    progress.value = 0;
    status.textContent = `Testing ${modelLabel} on the test images…`;
    try {
      const trainer = await trainerOf(hub);
      const onProgress = ({ detail }) => {
        if (detail.job === 'evaluate') progress.value = detail.done / detail.total;
      };
      trainer.addEventListener('eval-progress', onProgress);
      try {
        [labels, result] = await Promise.all([labels ?? loadTestLabels(), trainer.evaluate(hub.recognizer.toSafetensors())]);
      } finally {
        trainer.removeEventListener('eval-progress', onProgress);
      }
      if (labels.length !== result.predictions.length) {
        throw new Error(`${result.predictions.length} predictions for ${labels.length} test labels`);
      }
      result.modelLabel = modelLabel;
      status.textContent = `${modelLabel}: ${percent(result.accuracy)} of ${grouped(result.count)} test images right, ${grouped(result.count - Math.round(result.accuracy * result.count))} mistakes.`;
      renderMatrix();
      gallery.hidden = true;
    } catch (failure) {
      status.textContent = result ? `Showing the earlier result for ${result.modelLabel}.` : 'Not computed.';
      inlineMessage(error, `The confusion matrix could not be computed: ${failure.message}`);
      hub.error(`The confusion matrix could not be computed: ${failure.message}`, 'Try again when no training runs; reload the page if it keeps failing.');
    } finally {
      computing = false;
      progress.hidden = true;
      setBusy();
    }
  }

  function renderMatrix() {
    const { confusion } = result;
    let maxMistake = 0;
    confusion.forEach((row, t) => row.forEach((n, p) => { if (t !== p) maxMistake = Math.max(maxMistake, n); }));
    const head = el('tr', {}, el('th', { scope: 'col', className: 'lab-corner' }, 'true ╲ read'), confusion.map((_, p) => el('th', { scope: 'col' }, String(p))));
    const rows = confusion.map((row, t) => {
      const total = row.reduce((a, b) => a + b, 0);
      return el('tr', {}, el('th', { scope: 'row' }, String(t)), row.map((count, p) => {
        const button = el('button', {
          type: 'button',
          className: `lab-cell${t === p ? ' is-diagonal' : ''}`,
          dataset: { truth: String(t), predicted: String(p), count: String(count) },
          'aria-label': t === p ? `${grouped(count)} images of ${t} read correctly` : `${grouped(count)} images of ${t} read as ${p}`,
          disabled: count === 0,
        }, count ? grouped(count) : '·');
        const [color, dark] = cellColor(count, total, maxMistake, t === p);
        button.style.background = color; // from JS: the CSP forbids style="" in markup
        button.classList.toggle('is-dark', dark);
        return el('td', {}, button);
      }));
    });
    matrix.replaceChildren(el('table', { className: 'lab-matrix' },
      el('caption', { className: 'sr-only' }, 'Confusion matrix: rows are true digits, columns predicted digits'),
      el('thead', {}, head), el('tbody', {}, rows)));
  }

  async function openCell(truth, predicted) {
    const indices = cellIndices(labels, result.predictions, truth, predicted);
    const shown = indices.slice(0, GALLERY_LIMIT);
    const title = truth === predicted ? `${grouped(indices.length)} images of ${truth} read correctly` : `${grouped(indices.length)} images of ${truth} read as ${predicted}`;
    const detail = el('p', { className: 'lab-gallery-detail', role: 'status' });
    const grid = el('div', { className: 'lab-thumbs', 'aria-busy': 'true' });
    gallery.hidden = false;
    gallery.dataset.truth = String(truth);
    gallery.dataset.predicted = String(predicted);
    gallery.replaceChildren(
      el('h4', {}, title, indices.length > shown.length ? el('span', { className: 'muted' }, ` (the first ${shown.length})`) : ''),
      grid,
      detail,
    );
    let images;
    try {
      images = await (await trainerOf(hub)).testImages(shown);
    } catch (failure) {
      hub.error(`The test images could not be shown: ${failure.message}`, 'Try again; reload the page if it keeps failing.');
      grid.replaceChildren(el('p', { className: 'lab-error' }, `Not shown: ${failure.message}`));
      return;
    }
    grid.replaceChildren(...images.map(({ index, label, pixels }) => el('button', {
      type: 'button', className: 'lab-thumb-button', dataset: { index: String(index) },
      'aria-label': `Test image ${index}, a ${label}, read as ${result.predictions[index]}: show it in the Draw area`,
      onclick: () => showImage(index, label, pixels, detail),
    }, thumbnail(pixels, `test image ${index}`), el('span', {}, `#${index}`))));
    grid.removeAttribute('aria-busy');
  }

  function showImage(index, label, pixels, detail) {
    const unit = toUnit(pixels);
    let reads = '';
    try {
      const probabilities = hub.recognizer.probabilities28(unit);
      const digit = argmax(probabilities);
      reads = ` ${hub.info?.label ?? 'The model in use'} reads ${digit} (${percent(probabilities[digit], 0)}).`;
    } catch (failure) {
      hub.error(`This test image could not be read: ${failure.message}`, 'Try another image');
    }
    detail.replaceChildren(`Test image #${index} is labelled ${label}.${reads} `,
      el('a', { href: '#area-inside' }, 'See its activation maps'));
    gallery.querySelectorAll('.lab-thumb-button.is-selected').forEach((b) => b.classList.remove('is-selected'));
    gallery.querySelector(`.lab-thumb-button[data-index="${index}"]`)?.classList.add('is-selected');
    hub.dispatchEvent(new CustomEvent('show-input', { detail: { pixels: unit, label, source: `test image #${index}` } }));
  }

  computeButton.addEventListener('click', compute);
  matrix.addEventListener('click', (event) => {
    const cell = event.target.closest('.lab-cell');
    if (cell && result) openCell(Number(cell.dataset.truth), Number(cell.dataset.predicted));
  });
  hub.addEventListener('model', ({ detail }) => {
    if (result && !computing) {
      status.textContent = `Computed for ${result.modelLabel}; the model in use is now ${detail.info?.label ?? 'another one'}: compute again to update.`;
    }
    setBusy();
  });
  hub.addEventListener('busy', setBusy);
  setBusy();
}
