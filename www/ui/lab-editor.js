// The architecture editor: start from a preset (or the model in use), add, remove, reorder and
// edit layers. Every edit asks Rust (`analyzeArchitecture`) whether the stack works: a valid one
// shows every layer's output shape and a live summary and can be handed to the Train panel; an
// invalid one (including one that would need more memory than a tab can give it to train)
// shows Rust's message at the offending layer and cannot be trained.
//
// Hands a valid stack to the trainer as `hub.customArchitecture` + a 'custom-architecture' hub
// event ({detail: {architecture}}), then focuses the Train area's #preset.
//
// Keys on a focused layer: ↑/↓ go to the previous/next layer, Alt+↑/Alt+↓ move it, Delete removes it.
import { el, grouped, kilobytes } from './lab-common.js';
import { kerasShape, summaryTable } from './lab-summary.js';
import { DEFAULT_CONFIG } from './trainer-client.js';

const ACTIVATIONS = [['relu', 'ReLU'], ['linear', 'none (linear)']];

/** What the editor knows about each layer type: its Keras name, a new layer's settings, and the
 *  settings the user can edit. Validity is Rust's business, not this table's. */
const TYPES = {
  conv2d: {
    kind: 'Conv2D',
    fresh: { filters: 32, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    fields: [
      { key: 'filters', label: 'filters', min: 1 },
      { key: 'kernel', label: 'kernel', min: 1 },
      { key: 'stride', label: 'stride', min: 1 },
      { key: 'padding', label: 'padding', options: [['valid', 'valid'], ['same', 'same']] },
      { key: 'activation', label: 'activation', options: ACTIVATIONS },
    ],
  },
  maxpool2d: { kind: 'MaxPool2D', fresh: { size: 2 }, fields: [{ key: 'size', label: 'pool size', min: 1 }] },
  relu: { kind: 'ReLU', fresh: {}, fields: [] },
  flatten: { kind: 'Flatten', fresh: {}, fields: [] },
  dense: {
    kind: 'Dense',
    fresh: { units: 128, activation: 'relu' },
    fields: [{ key: 'units', label: 'units', min: 1 }, { key: 'activation', label: 'activation', options: ACTIVATIONS }],
  },
  dropout: { kind: 'Dropout', fresh: { rate: 0.25 }, fields: [{ key: 'rate', label: 'rate', min: 0, step: 0.05, decimal: true }] },
};

const STARTS = [['dense', 'dense'], ['cnn', 'cnn'], ['cnn3', 'cnn3'], ['model', 'the model in use']];

/** The value typed into a number field, or an error in plain words. */
export function parseField(field, text) {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) return { error: `${field.label} must be a number` };
  if (!field.decimal && !Number.isInteger(value)) return { error: `${field.label} must be a whole number` };
  if (value < field.min) return { error: `${field.label} must be at least ${field.min}` };
  return { value };
}

/** The editor's own name for an edited stack: "my-cnn" for an edited cnn. */
const customName = (base) => `my-${String(base).replace(/^my-/, '')}`;

export function mountEditor(section, hub) {
  let layers = [];
  let name = '';
  /** Index of the layer new ones are added after (the last focused one), or null: at the end. */
  let selected = null;
  /** Typed values that are not numbers: index → message (checked before asking Rust). */
  let typos = new Map();
  let analysis = null;

  const list = el('ol', { className: 'lab-stack', 'aria-label': 'Layers, from input to output' });
  const status = el('div', { className: 'lab-editor-status', role: 'status' });
  const stackError = el('p', { className: 'lab-error lab-stack-error', role: 'alert', hidden: true });
  const addType = el('select', { className: 'lab-add-type', 'aria-label': 'Type of layer to add' },
    Object.entries(TYPES).map(([type, { kind }]) => el('option', { value: type }, kind)));
  const addButton = el('button', { type: 'button', className: 'btn btn-small lab-add' });
  const trainButton = el('button', { type: 'button', className: 'btn btn-primary lab-train-this', textContent: 'Train this' });
  const trainNote = el('p', { className: 'lab-note', hidden: true });
  const summarySlot = el('div', { className: 'lab-editor-summary' });

  section.append(
    el('h3', {}, 'Build your own'),
    el('p', { className: 'muted lab-lede' },
      'Change the layers and watch the shapes follow. Try the lecture’s bug: start from cnn and remove Flatten.'),
    el('div', { className: 'segmented lab-starts', role: 'group', 'aria-label': 'Start from' },
      el('span', { className: 'field-label' }, 'Start from'),
      STARTS.map(([value, text]) => el('button', { type: 'button', className: 'btn btn-small', dataset: { start: value } }, text))),
    el('div', { className: 'lab-editor-grid' },
      el('div', { className: 'lab-editor-main' },
        el('p', { className: 'lab-io' }, 'Input: one 28×28 grey image ', el('span', { className: 'lab-shape' }, '(None, 28, 28, 1)')),
        list,
        stackError,
        el('div', { className: 'lab-add-bar' }, el('label', { className: 'field-label' }, 'Add ', addType), addButton),
        el('p', { className: 'muted lab-keys' }, 'Keys on a layer: ↑ ↓ choose · Alt+↑ Alt+↓ move · Delete removes'),
        status,
        el('div', { className: 'lab-row' }, trainButton),
        trainNote),
      summarySlot),
  );

  // --- the stack ---------------------------------------------------------------------------
  function architecture() {
    return { name, layers: layers.map((layer) => ({ ...layer })) };
  }

  function load(arch, base = arch.name) {
    layers = arch.layers.map((layer) => ({ ...layer }));
    name = customName(base);
    selected = null;
    typos = new Map();
    renderRows();
  }

  function change(mutate, focusIndex) {
    mutate();
    typos = new Map();
    renderRows();
    if (focusIndex != null && layers.length) rowAt(Math.max(0, Math.min(layers.length - 1, focusIndex)))?.focus();
    else if (!layers.length) addType.focus();
  }

  const move = (from, to) => change(() => {
    const [layer] = layers.splice(from, 1);
    layers.splice(to, 0, layer);
    selected = to;
  }, to);

  const remove = (index) => change(() => {
    layers.splice(index, 1);
    selected = null;
  }, Math.min(index, layers.length - 2));

  function add() {
    const type = addType.value;
    const at = selected == null ? layers.length : selected + 1;
    change(() => {
      layers.splice(at, 0, { type, ...TYPES[type].fresh });
      selected = at;
    }, at);
  }

  const rowAt = (index) => list.querySelector(`.lab-layer[data-index="${index}"]`);

  // --- rendering ---------------------------------------------------------------------------
  function fieldControl(layer, index, field) {
    const id = `lab-layer-${index}-${field.key}`;
    const control = field.options
      ? el('select', { id }, field.options.map(([value, text]) => el('option', { value, selected: layer[field.key] === value }, text)))
      : el('input', { id, type: 'number', min: String(field.min), step: String(field.step ?? 1), value: String(layer[field.key]), inputMode: field.decimal ? 'decimal' : 'numeric' });
    control.dataset.key = field.key;
    control.addEventListener(field.options ? 'change' : 'input', () => {
      if (field.options) {
        layer[field.key] = control.value;
        typos.delete(index);
      } else {
        const parsed = parseField(field, control.value);
        if (parsed.error) typos.set(index, parsed.error);
        else {
          layer[field.key] = parsed.value;
          typos.delete(index);
        }
      }
      analyze();
    });
    return el('label', { className: 'lab-field', htmlFor: id }, el('span', {}, field.label), control);
  }

  function renderRows() {
    list.replaceChildren(...layers.map((layer, index) => {
      const type = TYPES[layer.type];
      const position = `layer ${index + 1} (${type.kind})`;
      const tool = (text, label, action, disabled = false) =>
        el('button', { type: 'button', className: 'btn btn-quiet btn-small lab-tool', 'aria-label': label, title: label, disabled, onclick: action }, text);
      return el('li', { className: 'lab-layer', tabIndex: 0, dataset: { index: String(index), type: layer.type }, 'aria-label': `Layer ${index + 1}: ${type.kind}` },
        el('div', { className: 'lab-layer-head' },
          el('span', { className: 'lab-layer-index' }, String(index + 1)),
          el('span', { className: 'lab-layer-kind' }, type.kind),
          el('span', { className: 'lab-layer-name muted' }),
          el('span', { className: 'lab-layer-out' }),
          el('span', { className: 'lab-tools' },
            tool('↑', `Move ${position} up`, () => move(index, index - 1), index === 0),
            tool('↓', `Move ${position} down`, () => move(index, index + 1), index === layers.length - 1),
            tool('✕', `Remove ${position}`, () => remove(index)))),
        type.fields.length ? el('div', { className: 'lab-fields' }, type.fields.map((f) => fieldControl(layer, index, f))) : null,
        el('p', { className: 'lab-error lab-layer-error', role: 'alert', hidden: true }));
    }));
    addButton.textContent = selected == null ? 'Add at the end' : `Add after layer ${selected + 1}`;
    analyze();
  }

  /** Asks Rust about the stack and shows the answer at every layer. */
  function analyze() {
    const typo = [...typos.entries()].sort(([a], [b]) => a - b)[0];
    if (typo) {
      analysis = { ok: false, layer: typo[0], message: typo[1] };
    } else {
      try {
        // Checked for the Train button's batch size: a stack too big to train in memory is
        // refused here, at its heaviest layer (the Train area checks its own batch size too).
        analysis = hub.wasm.analyzeArchitecture(JSON.stringify(architecture()), DEFAULT_CONFIG.batchSize);
      } catch (error) {
        analysis = { ok: false, layer: null, message: error.message };
      }
    }
    const infos = analysis.ok ? analysis.summary.layers : [];
    list.querySelectorAll('.lab-layer').forEach((row, index) => {
      const info = infos[index];
      const failed = !analysis.ok && analysis.layer === index;
      row.classList.toggle('is-error', failed);
      row.querySelector('.lab-layer-name').textContent = info ? info.name : '';
      row.querySelector('.lab-layer-out').textContent = info
        ? `→ ${kerasShape(info.output)}${info.params ? ` · ${grouped(info.params)} params` : ''}`
        : '';
      const message = row.querySelector('.lab-layer-error');
      message.textContent = failed ? analysis.message : '';
      message.hidden = !failed;
      if (failed) row.setAttribute('aria-invalid', 'true');
      else row.removeAttribute('aria-invalid');
    });
    stackError.hidden = analysis.ok || analysis.layer != null;
    stackError.textContent = stackError.hidden ? '' : analysis.message;
    section.dataset.valid = String(analysis.ok);
    trainButton.disabled = !analysis.ok;
    trainNote.hidden = true;
    if (analysis.ok) {
      const { summary, weightBytes } = analysis;
      status.className = 'lab-editor-status is-ok';
      status.textContent = `✓ Ready to train: ${grouped(summary.total_params)} parameters (${kilobytes(weightBytes)}), ${grouped(summary.total_macs)} multiply-adds per image; fits in memory for batches of up to ${grouped(analysis.maxBatchSize)}.`;
      summarySlot.replaceChildren(summaryTable(analysis, `Summary of “${name}”`));
    } else {
      status.className = 'lab-editor-status is-error';
      status.textContent = analysis.layer == null
        ? '✗ This stack cannot be trained (see above).'
        : `✗ This stack cannot be trained: layer ${analysis.layer + 1} needs a change (see the message there).`;
      summarySlot.replaceChildren(el('p', { className: 'muted lab-summary-wait' }, 'The summary appears when the stack is valid.'));
    }
  }

  // --- events --------------------------------------------------------------------------------
  section.querySelector('.lab-starts').addEventListener('click', (event) => {
    const start = event.target.closest('[data-start]')?.dataset.start;
    if (!start) return;
    try {
      if (start === 'model') {
        if (!hub.recognizer) throw new Error('no model is in use yet');
        load(hub.recognizer.architecture());
      } else {
        load(hub.wasm.presetArchitecture(start));
      }
    } catch (error) {
      hub.error(`The editor could not start from ${start}: ${error.message}`, 'Pick another starting point');
    }
  });

  addButton.addEventListener('click', add);

  list.addEventListener('focusin', (event) => {
    const row = event.target.closest('.lab-layer');
    if (!row) return;
    selected = Number(row.dataset.index);
    list.querySelectorAll('.lab-layer.is-selected').forEach((r) => r.classList.remove('is-selected'));
    row.classList.add('is-selected');
    addButton.textContent = `Add after layer ${selected + 1}`;
  });

  list.addEventListener('keydown', (event) => {
    const row = event.target.closest('.lab-layer');
    if (!row) return;
    const index = Number(row.dataset.index);
    const onRow = event.target === row;
    let handled = true;
    if (event.altKey && event.key === 'ArrowUp' && index > 0) move(index, index - 1);
    else if (event.altKey && event.key === 'ArrowDown' && index < layers.length - 1) move(index, index + 1);
    else if (onRow && !event.altKey && event.key === 'ArrowUp') rowAt(index - 1)?.focus();
    else if (onRow && !event.altKey && event.key === 'ArrowDown') rowAt(index + 1)?.focus();
    else if (onRow && (event.key === 'Delete' || event.key === 'Backspace')) remove(index);
    else handled = false;
    if (handled) {
      // The drawing pad listens for Delete on the document: this one was for the editor.
      event.preventDefault();
      event.stopPropagation();
    }
  });

  trainButton.addEventListener('click', () => {
    if (!analysis?.ok) return;
    const offered = architecture();
    hub.customArchitecture = offered;
    hub.dispatchEvent(new CustomEvent('custom-architecture', { detail: { architecture: offered } }));
    const presetSelect = document.getElementById('preset');
    if (!presetSelect) {
      trainNote.hidden = false;
      trainNote.textContent = `“${offered.name}” is ready, but the Train area is not on this page.`;
      return;
    }
    document.getElementById('area-train')?.scrollIntoView({ block: 'start' });
    presetSelect.focus({ preventScroll: true });
    if ([...presetSelect.options].some((o) => o.value === 'custom')) {
      presetSelect.value = 'custom';
      presetSelect.dispatchEvent(new Event('change', { bubbles: true }));
    }
    trainNote.hidden = false;
    trainNote.textContent = `“${offered.name}” is now the “custom” architecture in the Train area: press Train there.`;
  });

  load(hub.wasm.presetArchitecture('cnn'));
  return { load, architecture };
}
