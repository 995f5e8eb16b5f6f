// Training you can scrub through: every epoch of an in-page run keeps a snapshot — the first
// convolution's filters, one fixed probe digit's maps and what the network read, and the map
// of the first 1,000 test digits — and a slider next to the curves replays them, so one sees
// the filters and the clusters form epoch by epoch. Earlier runs stay selectable (same probe,
// same digits, so they compare).
//
// Hooks for tests: #train-scrubber[data-snapshots][data-run], #scrub-epoch (range input),
// #scrub-run (select), .scrub-filters canvases, #scrub-map, #scrub-probe[data-digit].

import { el } from '../lab-common.js';
import { paintValues, maxAbs } from '../draw-colors.js';
import { paintMap } from './digit-map.js';
import { paintDigit } from './card.js';

/** The probe: test digit #0 (a 7), the same for every run. */
const PROBE_INDEX = 0;
/** Test digits on each snapshot's map. */
const MAP_IMAGES = 1000;

/** A small canvas of `count` values painted on a colour scale. */
function tile(values, offset, w, h, scale, hi, className) {
  const canvas = el('canvas', { width: w, height: h, className });
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(w, h);
  paintValues(new Uint32Array(image.data.buffer), values, offset, w * h, scale, hi);
  ctx.putImageData(image, 0, 0);
  return canvas;
}

export class TrainingScrubber {
  constructor(hub, client, anchor) {
    this.hub = hub;
    this.client = client;
    this.runs = []; // [{id, label, snapshots: [{epoch, filters, probe, map}]}]
    this.shown = null;
    this.slider = el('input', { type: 'range', id: 'scrub-epoch', min: 1, max: 1, value: 1, step: 1, disabled: true, 'aria-label': 'Epoch to replay' });
    this.epochText = el('span', { className: 'scrub-epoch-text' }, 'No run yet');
    this.runSelect = el('select', { id: 'scrub-run', 'aria-label': 'Run to replay', hidden: true });
    this.filters = el('div', { className: 'scrub-filters' });
    this.probe = el('div', { id: 'scrub-probe', className: 'scrub-probe' });
    this.map = el('canvas', { id: 'scrub-map', className: 'scrub-map', role: 'img', 'aria-label': 'The map of 1,000 test digits at this epoch' });
    this.root = el('section', { id: 'train-scrubber', className: 'train-scrubber card', dataset: { snapshots: '0' }, 'aria-labelledby': 'scrub-title' },
      el('h3', { id: 'scrub-title' }, 'Replay training, epoch by epoch'),
      el('p', { className: 'muted' }, 'Each epoch of a run in this page keeps a snapshot: the first layer’s filters, what the network makes of one test digit, and where 1,000 test digits lie on the map of all digits. Slide to watch them form.'),
      el('div', { className: 'scrub-controls' }, this.slider, this.epochText, this.runSelect),
      el('div', { className: 'scrub-grid' },
        el('figure', {}, el('figcaption', {}, 'Filters of the first convolution'), this.filters),
        el('figure', {}, el('figcaption', {}, 'One test digit, read at this epoch'), this.probe),
        el('figure', {}, el('figcaption', {}, '1,000 test digits on the map'), this.map)));
    anchor.after(this.root);
    this.slider.addEventListener('input', () => this.#show(this.shown, Number(this.slider.value) - 1));
    this.runSelect.addEventListener('change', () => this.#show(this.runs[Number(this.runSelect.value)], Infinity));
    this.#follow(hub.trainer);
    hub.addEventListener('trainer', ({ detail }) => this.#follow(detail.trainer));
  }

  #follow(trainer) {
    if (!trainer || trainer === this.trainer) return;
    this.trainer = trainer;
    trainer.addEventListener('start', ({ detail }) => {
      if (detail.job !== 'train') return;
      const run = { id: detail.id, label: `run ${this.runs.length + 1}`, snapshots: [] };
      this.runs.push(run);
      this.runSelect.append(el('option', { value: String(this.runs.length - 1) }, run.label));
      this.runSelect.hidden = this.runs.length < 2;
      this.runSelect.value = String(this.runs.length - 1);
      this.#show(run, 0);
    });
    trainer.addEventListener('epoch', ({ detail }) => {
      const run = this.runs.find((r) => r.id === detail.id);
      if (run && detail.weights) this.#snapshot(run, detail.epoch, detail.weights);
    });
  }

  async #probePixels() {
    this.probePixels ??= this.client.digit(PROBE_INDEX).then((d) => d.pixels);
    return this.probePixels;
  }

  async #snapshot(run, epoch, weights) {
    const bytes = weights.slice();
    const snapshot = { epoch, filters: null, probe: null, map: null };
    // Kept in epoch order even though the map arrives later.
    run.snapshots.push(snapshot);
    const recognizer = this.hub.wasm.Recognizer.fromSafetensors(bytes);
    try {
      const firstConv = recognizer.summary().layers.find((l) => l.spec?.type === 'conv2d');
      if (firstConv) {
        const k = recognizer.kernels(firstConv.name);
        snapshot.filters = { shape: k.shape, values: Float32Array.from(k.values) };
      }
      const pixels = await this.#probePixels();
      const r = recognizer.predict28(pixels);
      // The convolutions' maps after ReLU (conv1.relu, conv2.relu), else any maps there are.
      const maps = r.layers.filter((l) => l.shape.length === 3);
      const relu = maps.filter((l) => l.name.endsWith('.relu'));
      const spatial = relu.length ? relu : maps;
      snapshot.probe = {
        pixels,
        digit: r.digit,
        confidence: r.confidence,
        maps: spatial.slice(0, 2).map((l) => ({ name: l.name, shape: l.shape, values: Float32Array.from(l.activations) })),
      };
    } finally {
      recognizer.free();
    }
    this.#refresh(run);
    try {
      snapshot.map = await this.client.snapshot(bytes, MAP_IMAGES);
    } catch (error) {
      snapshot.mapError = error.message;
    }
    this.#refresh(run);
  }

  /** Follows a run as it grows: the slider's range, and the newest epoch unless the user scrubbed back. */
  #refresh(run) {
    if (this.shown !== run) return;
    const atEnd = Number(this.slider.value) >= Number(this.slider.max) || this.slider.disabled;
    this.#show(run, atEnd ? Infinity : Number(this.slider.value) - 1);
  }

  #show(run, index) {
    this.shown = run;
    const n = run?.snapshots.length ?? 0;
    this.root.dataset.snapshots = String(n);
    this.root.dataset.run = run?.label ?? '';
    this.slider.max = String(Math.max(1, n));
    this.slider.disabled = n < 1;
    if (!n) {
      this.epochText.textContent = run ? 'Waiting for the first epoch…' : 'No run yet';
      return;
    }
    const i = Math.min(n - 1, Math.max(0, index));
    this.slider.value = String(i + 1);
    const s = run.snapshots[i];
    this.epochText.textContent = `Epoch ${s.epoch} of ${n} kept`;
    this.#paintFilters(s.filters);
    this.#paintProbe(s.probe);
    if (s.map) {
      const w = Math.min(320, Math.max(200, this.map.parentElement.clientWidth || 260));
      paintMap(this.map, { points: s.map.projection.points, labels: s.map.labels, predictions: s.map.predictions }, w, Math.round(w * 0.75), 1.4);
      this.map.style.width = `${w}px`;
      this.map.style.height = `${Math.round(w * 0.75)}px`;
    }
  }

  #paintFilters(filters) {
    this.filters.replaceChildren();
    if (!filters) {
      this.filters.append(el('p', { className: 'muted' }, 'This model has no convolution.'));
      return;
    }
    const [count, channels, kh, kw] = filters.shape;
    const per = channels * kh * kw;
    // One scale for all filters of the epoch, so strong and weak filters can be told apart.
    const hi = maxAbs(filters.values);
    for (let f = 0; f < count; f++) this.filters.append(tile(filters.values, f * per, kw, kh, 'diverging', hi, 'scrub-filter'));
  }

  #paintProbe(probe) {
    this.probe.replaceChildren();
    if (!probe) return;
    const digit = el('canvas', { width: 28, height: 28, className: 'scrub-digit' });
    paintDigit(digit, probe.pixels);
    this.probe.dataset.digit = String(probe.digit ?? '');
    this.probe.append(el('div', { className: 'scrub-probe-head' }, digit,
      el('span', {}, `read as ${probe.digit ?? '–'} (${Math.round(100 * probe.confidence)} %)`)));
    for (const map of probe.maps) {
      const [c, h, w] = map.shape;
      const row = el('div', { className: 'scrub-maps', 'aria-label': `${map.name}: ${c} maps` });
      const hi = maxAbs(map.values);
      for (let ch = 0; ch < Math.min(c, 32); ch++) row.append(tile(map.values, ch * h * w, w, h, 'viridis', hi, 'scrub-map-tile'));
      this.probe.append(el('span', { className: 'scrub-maps-name' }, map.name), row);
    }
  }
}
