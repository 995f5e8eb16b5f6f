// The filters (convolution kernels) of the model in use: the first layer's filters as small
// k×k images; deeper layers one input channel at a time (a select), since each of their
// filters has one k×k slice per map of the layer before.

import { SCALES, paintValues, maxAbs, fmt } from './draw-colors.js';

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class FilterView {
  constructor(root) {
    this.root = root;
    this.recognizer = null;
    this.convs = [];
    root.classList.add('filters');
    root.hidden = true; // until a model is in use
    const controls = el('div', 'filter-controls');
    const layerLabel = el('label', 'field');
    layerLabel.append(el('span', 'field-label', 'Layer'));
    this.layerSelect = el('select');
    this.layerSelect.id = 'filter-layer';
    layerLabel.append(this.layerSelect);
    const channelLabel = el('label', 'field');
    channelLabel.append(el('span', 'field-label', 'Input map'));
    this.channelSelect = el('select');
    this.channelSelect.id = 'filter-channel';
    channelLabel.append(this.channelSelect);
    this.channelLabel = channelLabel;
    const legend = el('div', 'legend');
    legend.dataset.scale = 'diverging';
    this.lo = el('span', 'legend-lo');
    const bar = el('span', 'legend-bar');
    bar.style.backgroundImage = SCALES.diverging.css;
    bar.append(el('span', 'legend-mid'));
    this.hi = el('span', 'legend-hi');
    legend.append(this.lo, bar, this.hi, el('span', 'legend-note', 'weights: blue negative, white 0, red positive'));
    controls.append(layerLabel, channelLabel, legend);
    this.note = el('p', 'filter-note');
    this.grid = el('div', 'filter-grid');
    this.grid.id = 'filter-grid';
    this.readout = el('p', 'filter-readout', '');
    root.append(controls, this.note, this.grid, this.readout);
    this.layerSelect.addEventListener('change', () => {
      this.#fillChannels();
      this.render();
    });
    this.channelSelect.addEventListener('change', () => this.render());
    this.grid.addEventListener('pointermove', (e) => this.#hover(e));
    this.grid.addEventListener('pointerleave', () => (this.readout.textContent = ''));
    // New weights arrive every few seconds while training; off screen they wait until seen.
    this.visible = false;
    this.stale = false;
    // The last entry is the state now (see ActivationMaps).
    new IntersectionObserver((entries) => {
      this.visible = entries.at(-1).isIntersecting;
      if (this.visible && this.stale) this.render();
    }).observe(root);
  }

  /** Uses the model's conv layers (summary entries) and re-renders. */
  setModel(recognizer, summary) {
    this.recognizer = recognizer;
    this.convs = summary.layers.filter((l) => l.spec?.type === 'conv2d');
    const keep = this.layerSelect.value;
    this.layerSelect.replaceChildren(
      ...this.convs.map((l) => {
        const o = el('option', '', `${l.name} · ${l.spec.filters} filters of ${l.spec.kernel} × ${l.spec.kernel}`);
        o.value = l.name;
        return o;
      }),
    );
    if (this.convs.some((l) => l.name === keep)) this.layerSelect.value = keep;
    this.root.hidden = false;
    if (!this.convs.length) {
      this.grid.replaceChildren();
      this.note.textContent = 'This model has no convolution layers, so it has no filters to show.';
      this.layerSelect.disabled = true;
      this.channelLabel.hidden = true;
      return;
    }
    this.layerSelect.disabled = false;
    this.#fillChannels();
    this.render();
  }

  /** New weights for the same layers: repaints now if on screen, otherwise once it comes into view. */
  setWeights(recognizer) {
    this.recognizer = recognizer;
    if (this.visible) this.render();
    else this.stale = true;
  }

  #fillChannels() {
    const layer = this.convs.find((l) => l.name === this.layerSelect.value);
    const cin = layer ? layer.input.channels : 1;
    const keep = Number(this.channelSelect.value) || 0;
    this.channelSelect.replaceChildren(
      ...Array.from({ length: cin }, (_, i) => {
        const o = el('option', '', `map ${i + 1} of ${cin}`);
        o.value = String(i);
        return o;
      }),
    );
    this.channelSelect.value = String(Math.min(keep, cin - 1));
    this.channelLabel.hidden = cin <= 1;
  }

  render() {
    this.stale = false;
    const layer = this.convs.find((l) => l.name === this.layerSelect.value);
    if (!layer || !this.recognizer) return;
    let k;
    try {
      k = this.recognizer.kernels(layer.name);
    } catch (e) {
      this.note.textContent = `Cannot read the filters: ${e.message || e}`;
      return;
    }
    const [f, cin, kh, kw] = k.shape;
    const ci = Math.min(cin - 1, Number(this.channelSelect.value) || 0);
    const per = kh * kw;
    // One symmetric scale for all filters shown, so their weights compare.
    let hi = 0;
    for (let i = 0; i < f; i++) hi = Math.max(hi, maxAbs(k.values, (i * cin + ci) * per, per));
    this.lo.textContent = `−${fmt(hi)}`;
    this.hi.textContent = `+${fmt(hi)}`;
    this.note.textContent =
      cin === 1
        ? `Each square is one ${kh} × ${kw} filter of ${layer.name}: the pattern it multiplies with every ${kh} × ${kw} patch of the image. A map is bright where the patch looks like its filter.`
        : `Each filter of ${layer.name} has ${cin} slices of ${kh} × ${kw}, one per map of the layer before; shown here: the slice for input map ${ci + 1}. Pick another map above.`;
    this.shown = { k, ci, cin, per, f, kh, kw, name: layer.name };
    if (this.grid.children.length !== f || this.grid.dataset.k !== `${kh}x${kw}`) {
      this.grid.replaceChildren();
      this.grid.dataset.k = `${kh}x${kw}`;
      for (let i = 0; i < f; i++) {
        const cv = document.createElement('canvas');
        cv.width = kw;
        cv.height = kh;
        cv.className = 'kernel';
        cv.dataset.filter = String(i);
        cv.setAttribute('role', 'img');
        cv.setAttribute('aria-label', `filter ${i + 1}`);
        this.grid.append(cv);
      }
    }
    [...this.grid.children].forEach((cv, i) => {
      const ctx = cv.getContext('2d');
      const img = ctx.createImageData(kw, kh);
      paintValues(new Uint32Array(img.data.buffer), k.values, (i * cin + ci) * per, per, 'diverging', hi);
      ctx.putImageData(img, 0, 0);
      cv.setAttribute('aria-label', `${layer.name} filter ${i + 1}`);
    });
  }

  #hover(e) {
    const cv = e.target.closest('canvas.kernel');
    if (!cv || !this.shown) return;
    const { k, ci, cin, per, kh, kw, name } = this.shown;
    const i = Number(cv.dataset.filter);
    const r = cv.getBoundingClientRect();
    const col = Math.min(kw - 1, Math.floor(((e.clientX - r.left) / r.width) * kw));
    const row = Math.min(kh - 1, Math.floor(((e.clientY - r.top) / r.height) * kh));
    const v = k.values[(i * cin + ci) * per + row * kw + col];
    this.readout.textContent = `${name} filter ${i + 1}, weight at row ${row}, col ${col}: ${fmt(v)}`;
  }
}
