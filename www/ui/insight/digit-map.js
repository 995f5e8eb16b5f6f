// The map of all digits: the 10,000 test digits placed by the first two principal components
// of their dense1 activations (computed in Rust by the insight worker), one dot per digit in
// its label's colour, misclassified ones ringed. The current drawing is a live dot that moves
// as you draw; your "teach it my handwriting" drawings are diamonds; pointing at a dot shows
// its digit, clicking it opens that digit in the Draw area. Recomputed for every model the
// page settles on, so after training one sees the clusters the new weights make.
//
// Hooks for tests: #digit-map[data-points][data-live-x][data-live-y] (the live dot in CSS px
// of the canvas), #digit-map-status; the returned object's screenPoint(index) → {x, y}
// (client coordinates of a test digit's dot).

import { el } from '../lab-common.js';
import { paintDigit } from './card.js';

/** Ten colours that stay apart (Tableau 10), one per digit. */
export const DIGIT_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#5f5f5f'];

/** A drawing's place on a map: `axes · (x − mean)` for its embedding `x`. */
export function project(projection, values) {
  const { dims, mean, axes } = projection;
  const out = [0, 0];
  for (let k = 0; k < 2; k++) for (let i = 0; i < dims; i++) out[k] += axes[k * dims + i] * (values[i] - mean[i]);
  return out;
}

/** The box a map shows: the points' range (1st to 99th percentile, padded), per axis. */
function bounds(points) {
  const axis = (k) => {
    const v = [];
    for (let i = k; i < points.length; i += 2) v.push(points[i]);
    v.sort((a, b) => a - b);
    const lo = v[Math.floor(v.length * 0.005)];
    const hi = v[Math.ceil(v.length * 0.995) - 1];
    const pad = (hi - lo) * 0.06 || 1;
    return [lo - pad, hi + pad];
  };
  return { x: axis(0), y: axis(1) };
}

/** Paints a map of `points` (n × 2) with `labels`/`predictions` into a canvas of CSS size w × h;
 *  returns the mapping from map to CSS pixels. Used by the live map and the training snapshots. */
export function paintMap(canvas, { points, labels, predictions }, w, h, radius = 1.6) {
  const dpr = Math.max(1, window.devicePixelRatio || 1);
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, w, h);
  const box = bounds(points);
  const toX = (x) => ((x - box.x[0]) / (box.x[1] - box.x[0])) * w;
  // The second axis upwards, as on paper.
  const toY = (y) => h - ((y - box.y[0]) / (box.y[1] - box.y[0])) * h;
  const n = labels.length;
  ctx.globalAlpha = 0.75;
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = DIGIT_COLORS[labels[i]];
    ctx.fillRect(toX(points[2 * i]) - radius, toY(points[2 * i + 1]) - radius, 2 * radius, 2 * radius);
  }
  ctx.globalAlpha = 1;
  ctx.lineWidth = radius > 1.5 ? 1.2 : 0.7;
  for (let i = 0; i < n; i++) {
    if (labels[i] === predictions[i]) continue;
    ctx.strokeStyle = '#111';
    ctx.beginPath();
    ctx.arc(toX(points[2 * i]), toY(points[2 * i + 1]), radius + (radius > 1.5 ? 2.5 : 1.2), 0, 2 * Math.PI);
    ctx.stroke();
  }
  return { toX, toY };
}

export class DigitMap {
  constructor(root, hub, client) {
    this.hub = hub;
    this.client = client;
    this.pass = null;
    this.live = null;
    this.canvas = el('canvas', { id: 'digit-map', className: 'digit-map', tabIndex: 0, role: 'img',
      'aria-label': 'The map of all 10,000 test digits: each dot a digit, coloured by its label. Point at a dot to see it; click to open it in the Draw area.' });
    this.overlay = el('canvas', { className: 'digit-map-overlay', 'aria-hidden': 'true' });
    this.tip = el('div', { className: 'digit-map-tip', hidden: true });
    this.tipCanvas = el('canvas', { width: 28, height: 28 });
    this.tipText = el('span');
    this.tip.append(this.tipCanvas, this.tipText);
    this.status = el('p', { id: 'digit-map-status', className: 'muted', role: 'status' }, 'The map appears once the test digits have been looked through.');
    const legend = el('ul', { className: 'digit-map-legend', 'aria-label': 'Colours' },
      DIGIT_COLORS.map((c, d) => {
        const swatch = el('span', { className: 'swatch' });
        swatch.style.background = c;
        return el('li', {}, swatch, String(d));
      }),
      el('li', {}, el('span', { className: 'swatch swatch-ring' }), 'read wrongly'),
      el('li', {}, el('span', { className: 'swatch swatch-live' }), 'your drawing'),
      el('li', {}, el('span', { className: 'swatch swatch-taught' }), 'your labelled drawings'));
    this.root = el('section', { className: 'digit-map-panel', id: 'digit-map-panel', 'aria-labelledby': 'digit-map-title' },
      el('h3', { id: 'digit-map-title' }, 'The map of all digits'),
      el('p', { className: 'layer-note' },
        'Each dot is one of the 10,000 test digits, placed by what dense1 makes of it (its 128 values, squeezed to the two directions in which they vary most: principal components). Digits the network finds alike lie close together; the black dot is your drawing.'),
      this.status,
      el('div', { className: 'digit-map-frame' }, this.canvas, this.overlay, this.tip),
      legend);
    root.append(this.root);
    client.addEventListener('progress', ({ detail }) => {
      this.status.textContent = `Looking through the test digits for this model… ${Math.round((100 * detail.done) / detail.total)} %`;
    });
    client.addEventListener('pass', ({ detail }) => this.#usePass(detail));
    if (client.pass) this.#usePass(client.pass);
    hub.addEventListener('recognition', ({ detail }) => this.#showLive(detail.result));
    hub.addEventListener('drawings', () => {
      this.#placeDrawings();
      this.#paintOverlay();
    });
    new ResizeObserver(() => this.pass && this.#paint()).observe(this.root);
    new IntersectionObserver((entries) => entries.at(-1).isIntersecting && client.activate()).observe(this.root);
    this.#wirePointer();
  }

  #usePass(pass) {
    this.pass = pass;
    const wrong = pass.labels.reduce((n, l, i) => n + (l !== pass.predictions[i]), 0);
    this.status.textContent = `${pass.labels.length.toLocaleString('en')} test digits, ${wrong} read wrongly (ringed), looked through in ${pass.seconds.toFixed(1)} s.`;
    this.#placeDrawings();
    this.#paint();
  }

  #size() {
    const w = Math.min(560, Math.max(240, Math.round(this.root.clientWidth || 400)));
    return { w, h: Math.round(w * 0.75) };
  }

  #paint() {
    const { w, h } = this.#size();
    const { labels, predictions, projection } = this.pass;
    this.view = paintMap(this.canvas, { points: projection.points, labels, predictions }, w, h);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.overlay.style.width = `${w}px`;
    this.overlay.style.height = `${h}px`;
    this.canvas.dataset.points = String(this.pass.labels.length);
    this.#paintOverlay();
  }

  /** The live dot and the user's labelled drawings, over the map. */
  #paintOverlay() {
    if (!this.pass) return;
    const { w, h } = this.#size();
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    this.overlay.width = Math.round(w * dpr);
    this.overlay.height = Math.round(h * dpr);
    const ctx = this.overlay.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const { x, y, label } of this.taught ?? []) {
      const [cx, cy] = [this.#clampX(this.view.toX(x), w), this.#clampY(this.view.toY(y), h)];
      ctx.fillStyle = DIGIT_COLORS[label];
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      ctx.moveTo(cx, cy - 7);
      ctx.lineTo(cx + 7, cy);
      ctx.lineTo(cx, cy + 7);
      ctx.lineTo(cx - 7, cy);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    if (this.live) {
      const [cx, cy] = [this.#clampX(this.view.toX(this.live[0]), w), this.#clampY(this.view.toY(this.live[1]), h)];
      ctx.fillStyle = '#111';
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      ctx.arc(cx, cy, 7, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
      this.canvas.dataset.liveX = cx.toFixed(1);
      this.canvas.dataset.liveY = cy.toFixed(1);
    } else {
      delete this.canvas.dataset.liveX;
      delete this.canvas.dataset.liveY;
    }
  }

  /** Where the user's labelled drawings lie on the map of the model in use. */
  #placeDrawings() {
    this.taught = [];
    const recognizer = this.hub.recognizer;
    if (!this.pass || !recognizer) return;
    const { projection, embeddingLayer } = this.pass;
    for (const drawing of this.hub.drawings ?? []) {
      try {
        const layer = recognizer.predict28(Float32Array.from(drawing.pixels, (p) => p / 255)).layers.find((l) => l.name === embeddingLayer);
        if (layer?.activations.length !== projection.dims) continue;
        const [x, y] = project(projection, layer.activations);
        this.taught.push({ label: drawing.label, x, y });
      } catch {
        // A drawing that cannot be read is left off the map.
      }
    }
  }

  #clampX(x, w) {
    return Math.min(w - 4, Math.max(4, x));
  }

  #clampY(y, h) {
    return Math.min(h - 4, Math.max(4, y));
  }

  #showLive(result) {
    if (!this.pass) return;
    const layer = result?.layers.find((l) => l.name === this.pass.embeddingLayer);
    this.live = layer && layer.activations.length === this.pass.projection.dims ? project(this.pass.projection, layer.activations) : null;
    this.#paintOverlay();
  }

  /** The test digit whose dot is nearest to CSS point (x, y) of the canvas, within `reach` px. */
  #nearest(x, y, reach = 10) {
    const { points } = this.pass.projection;
    let best = -1;
    let bestD = reach * reach;
    for (let i = 0; i < this.pass.labels.length; i++) {
      const dx = this.view.toX(points[2 * i]) - x;
      const dy = this.view.toY(points[2 * i + 1]) - y;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Client coordinates of test digit `index`'s dot (for tests and the tour). */
  screenPoint(index) {
    const r = this.canvas.getBoundingClientRect();
    const { points } = this.pass.projection;
    return { x: r.left + this.view.toX(points[2 * index]), y: r.top + this.view.toY(points[2 * index + 1]) };
  }

  #wirePointer() {
    const at = (e) => {
      const r = this.canvas.getBoundingClientRect();
      return this.#nearest(e.clientX - r.left, e.clientY - r.top);
    };
    let shown = -1;
    this.canvas.addEventListener('pointermove', async (e) => {
      if (!this.pass) return;
      const i = at(e);
      if (i < 0) {
        this.tip.hidden = true;
        shown = -1;
        return;
      }
      const r = this.canvas.getBoundingClientRect();
      this.tip.style.left = `${e.clientX - r.left + 12}px`;
      this.tip.style.top = `${e.clientY - r.top + 12}px`;
      if (i === shown) return;
      shown = i;
      const d = await this.client.digit(i);
      if (shown !== i) return;
      paintDigit(this.tipCanvas, d.pixels);
      const read = this.pass.predictions[i];
      this.tipText.textContent = `test #${i}: a ${d.label}${read === d.label ? '' : `, read as ${read}`}`;
      this.tip.hidden = false;
    });
    this.canvas.addEventListener('pointerleave', () => {
      this.tip.hidden = true;
      shown = -1;
    });
    this.canvas.addEventListener('click', async (e) => {
      if (!this.pass) return;
      const i = at(e);
      if (i >= 0) this.open(i);
    });
  }

  /** Opens test digit `index` in the Draw area. */
  async open(index) {
    const d = await this.client.digit(index);
    this.hub.dispatchEvent(new CustomEvent('show-input', { detail: { pixels: d.pixels, label: d.label, source: `test image #${index}` } }));
  }
}
