// The Keras-style summary of a model: layer (type), output shape, parameters, receptive field,
// multiply-adds, totals and the weights' size. Every number comes from Rust (spec.rs, through
// analyzeArchitecture); this module only lays them out.
import { el, grouped, kilobytes } from './lab-common.js';

/** A layer's output shape as Keras prints it (channels last): (None, 26, 26, 32) or (None, 128). */
export function kerasShape(output) {
  return typeof output === 'number'
    ? `(None, ${output})`
    : `(None, ${output.height}, ${output.width}, ${output.channels})`;
}

/** "3×3" for a layer with a spatial output, '' otherwise. */
export function fieldText(layer) {
  return layer.receptive_field ? `${layer.receptive_field.size}×${layer.receptive_field.size}` : '';
}

/** The analysis (`analyzeArchitecture`'s answer, ok) of the architecture a recognizer runs. */
export function analyzeModel(hub, recognizer) {
  const analysis = hub.wasm.analyzeArchitecture(JSON.stringify(recognizer.architecture()));
  if (!analysis.ok) throw new Error(analysis.message);
  return analysis;
}

/** The summary table of an `ok` analysis: `{summary, weightBytes}`. */
export function summaryTable({ summary, weightBytes }, caption) {
  const head = ['Layer (type)', 'Output shape', 'Param #', 'Receptive field', 'Mult-adds'];
  const rows = summary.layers.map((layer) => el('tr', { dataset: { labLayer: layer.name } },
    el('td', {}, el('span', { className: 'lab-layer-name' }, layer.name), ` (${layer.kind})`),
    el('td', { className: 'lab-shape' }, kerasShape(layer.output)),
    el('td', { dataset: { params: String(layer.params) } }, grouped(layer.params)),
    el('td', { title: layer.receptive_field ? 'How many input pixels (per side) one cell of this layer depends on' : '' }, fieldText(layer)),
    el('td', {}, layer.macs ? grouped(layer.macs) : '0'),
  ));
  const total = (label, value, data) => el('tr', { className: 'lab-total' },
    el('th', { scope: 'row', colSpan: 2 }, label), el('td', { colSpan: 3, dataset: data }, value));
  // Focusable and named: on a phone the table scrolls sideways, also by keyboard (WCAG 2.1.1).
  return el('div', { className: 'table-scroll', tabIndex: 0, role: 'region', 'aria-label': caption || 'Model summary' },
    el('table', { className: 'data lab-summary-table' },
      caption ? el('caption', {}, caption) : null,
      el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows),
      el('tfoot', {},
        total('Total params', `${grouped(summary.total_params)} (${kilobytes(weightBytes)})`, { totalParams: String(summary.total_params), weightBytes: String(weightBytes) }),
        total('Mult-adds per image', grouped(summary.total_macs), { totalMacs: String(summary.total_macs) }),
      ),
    ),
  );
}

/** The summary of the model in use, following the hub's 'model' events. `onEdit(architecture)`
 *  opens a copy in the editor. */
export function mountSummary(section, hub, { onEdit }) {
  const title = el('p', { className: 'lab-model-line' });
  const tableSlot = el('div', { className: 'lab-summary-slot' });
  const text = el('pre', { className: 'lab-summary-text' });
  const editButton = el('button', { type: 'button', className: 'btn btn-small', textContent: 'Edit a copy in the editor' });
  section.append(
    el('h3', {}, 'Summary of the model in use'),
    title,
    tableSlot,
    el('div', { className: 'lab-row' },
      editButton,
      el('details', { className: 'lab-keras' }, el('summary', {}, 'As Keras prints it'), text)),
  );

  /** The analysis shown in the table: rebuilt only when the architecture changes (not for
   *  the new weights that arrive every few seconds during training). */
  let analysis = null;

  function show(recognizer, info, architectureChanged = true) {
    if (!recognizer) return;
    try {
      if (architectureChanged || !analysis) {
        analysis = analyzeModel(hub, recognizer);
        tableSlot.replaceChildren(summaryTable(analysis));
        text.textContent = recognizer.summaryText();
      }
      title.replaceChildren(
        el('strong', {}, info?.label ?? analysis.summary.name),
        ` · architecture “${analysis.summary.name}”, ${grouped(analysis.summary.total_params)} parameters`,
      );
    } catch (error) {
      analysis = null;
      tableSlot.replaceChildren(el('p', { className: 'lab-error' }, `No summary: ${error.message}`));
      hub.error(`The model's summary could not be computed: ${error.message}`, 'Load another model or reload the page');
    }
  }

  editButton.addEventListener('click', () => hub.recognizer && onEdit(hub.recognizer.architecture()));
  hub.addEventListener('model', ({ detail }) => show(detail.recognizer, detail.info, detail.architectureChanged));
  show(hub.recognizer, hub.info);
}
