// "What it sees", step by step: the drawing after MNIST's own normalisation (ink box into
// 20 × 20, centre of mass in the middle) and after each extra step (deslant, stroke width),
// each switchable. The choice changes how the page reads drawings: hub.preprocessing holds it
// (JSON for Recognizer.predictImageWith, null for the default) and a hub 'preprocessing' event
// makes the Draw area read the drawing again.
import { paintDigit } from './paint.js';
import { addRobustStylesheet } from './style.js';

const STEPS = [
  ['centred', 'centred'],
  ['deslanted', 'deslanted'],
  ['stroke', 'stroke'],
];
const SCALE = 3;

/** Adds the view after `anchor`. */
export function mountPreprocessingSteps(anchor, hub) {
  addRobustStylesheet();
  // The page's default steps come from Rust once the wasm module is ready (the first reading).
  let defaults = null;
  const figure = document.createElement('figure');
  figure.className = 'preprocess-steps';
  figure.id = 'preprocess-steps';
  figure.innerHTML = `
    <div class="preprocess-step-images">
      ${STEPS.map(([step, label]) => `<div class="preprocess-step" data-step="${step}" hidden>
        <canvas width="${28 * SCALE}" height="${28 * SCALE}" role="img" aria-label="The drawing ${label}"></canvas>
        <span>${label}</span></div>`).join('')}
    </div>
    <div class="preprocess-switches">
      <label><input type="checkbox" id="step-deslant" name="deslant"> deslant</label>
      <label><input type="checkbox" id="step-stroke" name="stroke"> stroke width</label>
    </div>
    <figcaption>Preprocessing step by step: box into 20 × 20, centre of mass (MNIST's), then the steps switched on</figcaption>`;
  anchor.after(figure);
  const boxes = { deslant: figure.querySelector('#step-deslant'), stroke: figure.querySelector('#step-stroke') };
  let lastImage = null;
  function loadDefaults() {
    if (defaults) return;
    defaults = hub.wasm.defaultPreprocessing();
    boxes.deslant.checked = defaults.deslant;
    boxes.stroke.checked = defaults.stroke;
  }

  const chosen = () => ({ deslant: boxes.deslant.checked, stroke: boxes.stroke.checked });
  function paint() {
    const steps = lastImage ? hub.wasm.preprocessingSteps(lastImage.data, lastImage.width, lastImage.height, JSON.stringify(chosen())) : [];
    for (const view of figure.querySelectorAll('.preprocess-step')) {
      const shown = steps.find((s) => s.step === view.dataset.step);
      view.hidden = !shown;
      if (shown) paintDigit(view.querySelector('canvas').getContext('2d'), shown.image, 0, 0, SCALE);
    }
    figure.dataset.steps = steps.map((s) => s.step).join(' ');
  }
  for (const box of Object.values(boxes)) {
    box.addEventListener('change', () => {
      if (!hub.recognizer) return;
      const steps = chosen();
      defaults ??= hub.wasm.defaultPreprocessing();
      const isDefault = steps.deslant === defaults.deslant && steps.stroke === defaults.stroke;
      hub.preprocessing = isDefault ? null : JSON.stringify(steps);
      hub.dispatchEvent(new CustomEvent('preprocessing', { detail: steps }));
      paint();
    });
  }
  hub.addEventListener('recognition', ({ detail }) => {
    loadDefaults();
    lastImage = detail?.image ?? null;
    paint();
  });
}
