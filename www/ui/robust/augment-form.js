// The Train form's augmentation settings and the grid of augmented examples: what the network
// really trains on. The fields are TrainConfig.augmentation (src/augment.rs: a strength of 0
// turns a distortion off); the examples come from the training worker ('augment-examples'),
// which distorts a few bundled training digits with exactly the code training uses.
import { paintDigit } from './paint.js';
import { addRobustStylesheet } from './style.js';

/** [name, label, step, max, title] of each augmentation field. */
const FIELDS = [
  ['shift', 'Shift (px)', 1, 8, 'largest random shift, each direction'],
  ['rotation', 'Rotation (°)', 1, 90, 'largest random rotation, either way'],
  ['scale', 'Scale (±)', 0.05, 0.9, '0.2: sizes from 0.8 to 1.2'],
  ['shear', 'Shear', 0.05, 1, 'largest slant: sideways pixels per pixel of height'],
  ['elastic', 'Elastic α', 1, 100, 'elastic distortion strength (Simard et al. 2003: 34 with σ = 4)'],
  ['thickness', 'Thicker/thinner (p)', 0.05, 1, 'probability of strokes a pixel thicker or thinner'],
  ['blur', 'Blur (p)', 0.05, 1, 'probability of a slight blur'],
  ['lowRes', 'Low-res source (p)', 0.05, 1, 'probability of coming from an 8- to 16-pixel source'],
];
const fieldName = (name) => `aug-${name}`;
const fieldId = (name) => `train-aug-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Bundled training images shown in the grid (one of each digit among the first images) and
 *  how many distorted copies of each. */
const EXAMPLE_INDICES = [1, 3, 5, 7, 2, 0, 13, 15, 17, 4];
const COPIES = 6;
const SCALE = 2;

export const AUGMENTATION_HTML = `
  <fieldset class="card train-augmentation">
    <legend>Augmentation</legend>
    <div class="train-fields">
      ${FIELDS.map(([name, label, step, max, title]) =>
        `<label class="field" title="${title}"><span class="field-label">${label}</span><input id="${fieldId(name)}" name="${fieldName(name)}" type="number" min="0" max="${max}" step="${step}"></label>`).join('')}
    </div>
    <div class="augment-examples">
      <canvas id="augment-grid" role="img" aria-label="Training digits as augmentation distorts them: one row per digit"></canvas>
      <p class="train-hint muted" id="augment-grid-note">Each row: a training digit, then ${COPIES} distorted copies as training sees them.</p>
      <button id="augment-again" type="button" class="btn btn-quiet">Other examples</button>
    </div>
  </fieldset>`;

/** The form's augmentation settings ({shift, rotation, ...}); `number(name, label)` reads one. */
export function readAugmentation(number) {
  return Object.fromEntries(FIELDS.map(([name, label]) => [name, number(fieldName(name), label)]));
}

export function writeAugmentation(form, augmentation = {}) {
  for (const [name] of FIELDS) {
    if (name in augmentation) form.elements[fieldName(name)].value = String(augmentation[name]);
  }
}

/** Draws the grid of augmented examples whenever the settings change (and on "Other examples").
 *  `settings()` returns {augment, augmentation} or throws for a bad field. */
export function mountAugmentationGrid(root, client, settings) {
  addRobustStylesheet();
  const canvas = root.querySelector('#augment-grid');
  const note = root.querySelector('#augment-grid-note');
  canvas.width = (COPIES + 1) * 28 * SCALE + COPIES;
  canvas.height = EXAMPLE_INDICES.length * 28 * SCALE + EXAMPLE_INDICES.length;
  let seed = 1;
  let latest = 0;
  async function refresh() {
    const request = ++latest;
    let chosen;
    try {
      chosen = settings();
    } catch {
      return; // the form reports bad fields when training starts
    }
    const augmentation = chosen.augment ? chosen.augmentation : Object.fromEntries(FIELDS.map(([name]) => [name, 0]));
    try {
      const images = await client.augmentExamples({ indices: EXAMPLE_INDICES, augmentation, copies: COPIES, seed });
      if (request !== latest) return;
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      EXAMPLE_INDICES.forEach((_, row) => {
        paintDigit(ctx, images.originals[row], 0, row * (28 * SCALE + 1), SCALE);
        for (let c = 0; c < COPIES; c++) {
          const at = (row * COPIES + c) * 784;
          paintDigit(ctx, images.augmented.subarray(at, at + 784), (c + 1) * (28 * SCALE + 1), row * (28 * SCALE + 1), SCALE);
        }
      });
      canvas.dataset.shown = String(EXAMPLE_INDICES.length * COPIES);
      note.textContent = chosen.augment
        ? `Each row: a training digit, then ${COPIES} distorted copies as training sees them.`
        : 'Augmentation is off: training sees the digits as they are.';
    } catch (error) {
      if (request === latest) note.textContent = `No examples: ${error.message}`;
    }
  }
  root.querySelector('#augment-again').addEventListener('click', () => {
    seed += 1;
    refresh();
  });
  root.querySelector('.train-settings').addEventListener('change', refresh);
  return refresh;
}
