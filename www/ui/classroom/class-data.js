// "A class's handwriting" (a section of the Model area): each student exports the drawings
// they labelled in "Teach it your handwriting" as a class-data file (class-file.js); the
// teacher imports the students' files, merged into one class set, and sees how well the model
// in use reads it (accuracy, per digit, the misread ones), fine-tunes it on part of the set and
// tests it on the rest, and exports the merged set for the CLI (`digitlens eval --data FILE`).
//
// Hooks for tests: #class-export, #class-import (a file input), #class-export-set,
// #class-tune, section[data-lab="class"][data-count], #class-score[data-right][data-total],
// #class-split-score[data-before][data-after][data-total].
import { el, grouped, percent, thumbnail, toUnit, argmax, trainerOf, inlineMessage } from '../lab-common.js';
import { storage, DRAWINGS } from '../lab-store.js';
import { FINE_TUNE } from '../lab-teach.js';
import { encodeClassFile, decodeClassFile } from './class-file.js';

/** The share of the class set fine-tuning learns from; the rest tests it. */
const TUNE_SHARE = 0.7;
/** Readings per slice before yielding, so a big class set never freezes the page. */
const READ_SLICE = 64;
/** Misread drawings shown at most. */
const MISREAD_SHOWN = 48;

/** Offers bytes as a file download. */
function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const link = el('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Indices 0..n-1 in a fixed pseudo-random order (the same split on every run). */
function shuffledIndices(n, seed = 7) {
  const order = Array.from({ length: n }, (_, i) => i);
  let state = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The digit a recognizer reads in each sample, a slice at a time. */
async function readAll(recognizer, samples) {
  const reads = [];
  for (let i = 0; i < samples.length; i += READ_SLICE) {
    for (const s of samples.slice(i, i + READ_SLICE)) {
      const probabilities = recognizer.probabilities28(toUnit(s.pixels));
      reads.push(argmax(probabilities));
    }
    await new Promise((resolve) => setTimeout(resolve));
  }
  return reads;
}

const rightCount = (samples, reads) => reads.filter((digit, i) => digit === samples[i].label).length;

export function mountClassData(section, hub) {
  const exportMine = el('button', { type: 'button', className: 'btn', id: 'class-export' }, 'Export my drawings');
  const importInput = el('input', { type: 'file', id: 'class-import', multiple: true, accept: '.idx,.gz,application/octet-stream', className: 'class-import' });
  const exportSet = el('button', { type: 'button', className: 'btn', id: 'class-export-set', disabled: true }, 'Export the class set');
  const clearSet = el('button', { type: 'button', className: 'btn btn-quiet btn-small', id: 'class-clear', hidden: true }, 'Empty the class set');
  const tuneButton = el('button', { type: 'button', className: 'btn btn-primary', id: 'class-tune', disabled: true },
    `Fine-tune on ${Math.round(TUNE_SHARE * 100)} %, test on the rest`);
  const sources = el('ul', { className: 'class-sources', 'aria-label': 'Imported files' });
  const status = el('p', { className: 'muted class-status', role: 'status' });
  const error = el('p', { className: 'lab-message', role: 'alert', hidden: true });
  const report = el('div', { className: 'class-report' });
  const tuneReport = el('div', { className: 'class-tune-report' });
  section.append(
    el('h3', {}, 'A class’s handwriting'),
    el('p', { className: 'muted lab-lede' },
      'Each student exports the drawings they labelled above; import everyone’s files here to see how well the model in use reads the class. ',
      'The file is MNIST’s IDX format, which the command line reads too: digitlens eval --data FILE.'),
    el('div', { className: 'lab-row' }, exportMine,
      el('label', { className: 'btn class-import-label' }, 'Import files…', importInput), exportSet, clearSet),
    sources, status, error, report,
    el('div', { className: 'lab-row' }, tuneButton),
    tuneReport,
  );

  /** The merged class set: [{label, pixels: Uint8Array(784), source}]. */
  let samples = [];
  /** Imported files: [{name, count}]. */
  let files = [];
  let busy = false;
  let evaluation = 0; // the latest evaluation's number: older ones stop showing

  function refresh() {
    section.dataset.count = String(samples.length);
    exportSet.disabled = !samples.length;
    clearSet.hidden = !samples.length;
    tuneButton.disabled = busy || !!hub.busy || !hub.recognizer || samples.length < 10;
    tuneButton.title = samples.length < 10 ? 'Import at least 10 drawings' : '';
    sources.replaceChildren(...files.map((f) => el('li', {}, `${f.name}: ${grouped(f.count)} drawing${f.count === 1 ? '' : 's'}`)));
  }

  async function evaluateSet() {
    const number = ++evaluation;
    report.replaceChildren();
    if (!samples.length || !hub.recognizer) return;
    const used = samples;
    const reads = await readAll(hub.recognizer, used);
    if (number !== evaluation) return;
    const right = rightCount(used, reads);
    const rows = Array.from({ length: 10 }, (_, digit) => {
      const of = used.map((s, i) => i).filter((i) => used[i].label === digit);
      const ok = of.filter((i) => reads[i] === digit).length;
      return el('tr', { dataset: { digit: String(digit), total: String(of.length), right: String(ok) } },
        el('th', { scope: 'row' }, String(digit)), el('td', {}, grouped(of.length)), el('td', {}, of.length ? percent(ok / of.length, 0) : '–'));
    });
    const misread = used.map((s, i) => ({ s, read: reads[i] })).filter(({ s, read }) => read !== s.label);
    report.replaceChildren(
      el('p', { className: 'class-score', id: 'class-score', dataset: { right: String(right), total: String(used.length) } },
        `${hub.info?.label ?? 'The model in use'} reads `, el('strong', {}, `${grouped(right)} of ${grouped(used.length)}`),
        ` of the class’s drawings right (${percent(right / used.length, 1)}).`),
      el('div', { className: 'table-scroll' }, el('table', { className: 'data class-per-digit' },
        el('thead', {}, el('tr', {}, ['Digit', 'Drawings', 'Read right'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows))),
      misread.length
        ? el('div', {}, el('p', {}, `Misread (${grouped(misread.length)}${misread.length > MISREAD_SHOWN ? `, the first ${MISREAD_SHOWN}` : ''}):`),
          el('ul', { className: 'lab-drawings class-misread' }, misread.slice(0, MISREAD_SHOWN).map(({ s, read }) =>
            el('li', { className: 'lab-drawing', dataset: { label: String(s.label), read: String(read) } },
              thumbnail(s.pixels, `a ${s.label} read as ${read}`),
              el('span', { className: 'lab-drawing-label' }, `${s.label} → ${read}`)))))
        : el('p', {}, 'None misread.'),
    );
  }

  async function importFiles(list) {
    inlineMessage(error, '');
    const problems = [];
    for (const file of list) {
      try {
        const got = await decodeClassFile(new Uint8Array(await file.arrayBuffer()));
        samples = samples.concat(got.map((s) => ({ ...s, source: file.name })));
        files.push({ name: file.name, count: got.length });
      } catch (e) {
        problems.push(`${file.name}: ${e.message}`);
      }
    }
    if (problems.length) inlineMessage(error, `Not imported (not a class-data file): ${problems.join('; ')}.`);
    status.textContent = `Class set: ${grouped(samples.length)} drawings from ${files.length} file${files.length === 1 ? '' : 's'}.`;
    refresh();
    await evaluateSet();
  }

  async function exportDrawings() {
    inlineMessage(error, '');
    try {
      const mine = await storage.all(DRAWINGS);
      if (!mine.length) throw new Error('there are no labelled drawings yet: label some in “Teach it your handwriting”');
      download(encodeClassFile(mine.map((d) => ({ label: d.label, pixels: d.pixels }))), `my-digits-${mine.length}.idx`);
      status.textContent = `Exported your ${grouped(mine.length)} drawings.`;
    } catch (e) {
      inlineMessage(error, `Could not export your drawings: ${e.message}`);
    }
  }

  async function fineTune() {
    const order = shuffledIndices(samples.length);
    const cut = Math.round(samples.length * TUNE_SHARE);
    const learn = order.slice(0, cut).map((i) => samples[i]);
    const test = order.slice(cut).map((i) => samples[i]);
    const startLabel = hub.info?.label ?? 'the model in use';
    busy = true;
    refresh();
    tuneReport.replaceChildren(el('p', { className: 'muted' }, `Fine-tuning ${startLabel} on ${grouped(learn.length)} drawings…`));
    hub.setBusy(true, 'fine-tuning');
    try {
      const before = rightCount(test, await readAll(hub.recognizer, test));
      const pixels = new Float32Array(learn.length * 784);
      learn.forEach((s, i) => pixels.set(toUnit(s.pixels), i * 784));
      const trainer = await trainerOf(hub);
      const finished = await trainer.fineTune({
        weights: hub.recognizer.toSafetensors(), pixels, labels: Uint8Array.from(learn, (s) => s.label), ...FINE_TUNE,
      });
      const tuned = hub.wasm.Recognizer.fromSafetensors(finished.weights);
      const after = rightCount(test, await readAll(tuned, test));
      hub.setModel(tuned, { source: 'trained', label: `${startLabel} + class data`, testAccuracy: finished.test?.accuracy ?? null });
      tuneReport.replaceChildren(el('p', { className: 'class-split-score', id: 'class-split-score', dataset: { before: String(before), after: String(after), total: String(test.length) } },
        `On the ${grouped(test.length)} drawings it did not learn from: ${grouped(before)} read right before, `,
        el('strong', {}, `${grouped(after)} after`), ` (${percent(before / test.length, 0)} → ${percent(after / test.length, 0)}). The fine-tuned model is in use now.`));
    } catch (e) {
      tuneReport.replaceChildren();
      inlineMessage(error, `Fine-tuning failed: ${e.message}. The model in use is unchanged.`);
    } finally {
      busy = false;
      hub.setBusy(false);
      refresh();
    }
  }

  exportMine.addEventListener('click', exportDrawings);
  importInput.addEventListener('change', async () => {
    const list = [...importInput.files];
    importInput.value = ''; // the same file may be chosen again
    await importFiles(list);
  });
  exportSet.addEventListener('click', () => download(encodeClassFile(samples), `class-digits-${samples.length}.idx`));
  clearSet.addEventListener('click', () => {
    samples = [];
    files = [];
    status.textContent = '';
    refresh();
    evaluateSet();
  });
  tuneButton.addEventListener('click', fineTune);
  hub.addEventListener('model', ({ detail }) => {
    refresh();
    // Training sends new weights every few seconds: evaluate only models that stay.
    if (!hub.busy || detail.info?.source !== 'training') evaluateSet();
  });
  hub.addEventListener('busy', refresh);
  refresh();

  return {
    /** The merged class set (for tests and the console): [{label, pixels}]. */
    samples: () => samples.map(({ label, pixels }) => ({ label, pixels })),
  };
}
