// The channel card: what one channel of a conv/pool layer, or one dense unit, looks for.
// Opened from the Look-inside maps (a hub 'channel' event {layer, channel, anchor}: click or
// Enter on a map tile or a dense bar), it shows the 9 test digits that excite it most and the
// 9 that excite it least (each with the receptive field where it peaked outlined), its feature
// visualisation converging in the insight worker, its mean activation per digit, a histogram
// over the 10,000 test digits and, live, what it makes of the current drawing.
// The filters themselves are in the enlarged channel the card sits in (maps.js).
//
// Hooks for tests: #channel-card[data-layer][data-channel][data-state], .card-top and
// .card-bottom (9 canvases each, data-index, data-value), .card-visual[data-activation]
// [data-steps], .card-live[data-value].

import { el } from '../lab-common.js';
import { summaryEntry, window1d } from '../maps.js';
import { cssColor, fmt } from '../draw-colors.js';

const THUMB = 56;
const PIXELS = 784;

/** A 28×28 digit (bytes or 0..1 floats, 1 = ink) painted into a canvas `side` px wide. */
export function paintDigit(canvas, pixels, offset = 0) {
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(28, 28);
  const scale = pixels instanceof Uint8Array ? 1 / 255 : 1;
  for (let i = 0; i < PIXELS; i++) {
    const paper = Math.round(255 - 230 * Math.min(1, Math.max(0, pixels[offset + i] * scale)));
    image.data.set([paper, paper, Math.min(255, paper + 14), 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

/** The largest value of one channel in a reading's layer (a dense unit's value). */
export function channelPeak(layer, channel) {
  const plane = layer.shape.length === 3 ? layer.shape[1] * layer.shape[2] : 1;
  let best = -Infinity;
  for (let i = channel * plane; i < (channel + 1) * plane; i++) if (layer.activations[i] > best) best = layer.activations[i];
  return best;
}

function crispCanvas(canvas, cssW, cssH) {
  const dpr = Math.max(1, window.devicePixelRatio || 1);
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  return ctx;
}

export class ChannelCard {
  constructor(hub, client) {
    this.hub = hub;
    this.client = client;
    this.open = null; // {layer, channel}
    this.stats = null;
    this.live = null;
    this.request = 0;
    this.#build();
    hub.addEventListener('channel', ({ detail }) => (detail ? this.show(detail) : this.close()));
    hub.addEventListener('recognition', ({ detail }) => this.#showLive(detail.result));
    hub.addEventListener('model', () => {
      this.summary = null;
      if (this.open && !hub.busy) this.#refresh();
    });
    client.addEventListener('progress', ({ detail }) => {
      if (this.open && !this.stats) this.status.textContent = `Looking through the test digits for this model… ${Math.round((100 * detail.done) / detail.total)} %`;
    });
    client.addEventListener('pass', () => this.open && this.#refresh());
  }

  #build() {
    const thumbs = (kind) => el('div', { className: `card-thumbs card-${kind}`, role: 'list' });
    this.title = el('h4', { className: 'card-title' });
    const close = el('button', { type: 'button', className: 'btn btn-small', textContent: 'Close card', 'aria-label': 'Close the channel card' });
    close.addEventListener('click', () => this.hub.dispatchEvent(new CustomEvent('channel', { detail: null })));
    this.status = el('p', { className: 'card-status muted', role: 'status' });
    this.visual = el('canvas', { width: 28, height: 28, className: 'card-visual', role: 'img', 'aria-label': 'The input that excites this channel most' });
    this.visualText = el('p', { className: 'card-visual-text' });
    this.live = el('p', { className: 'card-live', 'aria-live': 'polite' }, 'Draw a digit to see how this channel responds.');
    this.top = thumbs('top');
    this.bottom = thumbs('bottom');
    this.means = el('canvas', { className: 'card-means', role: 'img', 'aria-label': 'Mean activation per digit' });
    this.histogram = el('canvas', { className: 'card-histogram', role: 'img', 'aria-label': 'Histogram of its activation over the test digits' });
    this.root = el('section', { className: 'channel-card', id: 'channel-card', hidden: true, 'aria-label': 'Channel card' },
      el('div', { className: 'card-head' }, this.title, close),
      this.status,
      el('div', { className: 'card-grid' },
        el('figure', { className: 'card-figure' }, el('figcaption', {}, 'What excites it most (found by gradient ascent)'), this.visual, this.visualText, this.live),
        el('figure', { className: 'card-figure card-examples' }, el('figcaption', {}, 'The 9 test digits that excite it most (orange: the patch where it peaked)'), this.top,
          el('figcaption', {}, 'and the 9 that excite it least'), this.bottom),
        el('figure', { className: 'card-figure' }, el('figcaption', {}, 'Mean activation per digit'), this.means,
          el('figcaption', {}, 'Its activation over the 10,000 test digits'), this.histogram)));
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.hub.dispatchEvent(new CustomEvent('channel', { detail: null }));
    });
  }

  /** Opens the card for {layer, channel} next to `anchor` (the enlarged map, or the dense layer). */
  show({ layer, channel, anchor }) {
    if (anchor && anchor.nextElementSibling !== this.root) anchor.after(this.root);
    // The enlarged map re-opens for every new model while training: nothing new to show then.
    if (!this.root.hidden && this.open?.layer === layer && this.open?.channel === channel) return;
    this.open = { layer, channel };
    this.root.hidden = false;
    this.root.dataset.layer = layer;
    this.root.dataset.channel = String(channel);
    const dense = !!this.#layerShape(layer) && this.#layerShape(layer).length === 1;
    this.title.textContent = `${layer} · ${dense ? 'unit' : 'channel'} ${channel + 1}: what it looks for`;
    this.#refresh();
    this.#showLive(this.lastResult);
  }

  close() {
    this.open = null;
    this.request++;
    this.root.hidden = true;
  }

  #layerShape(layer) {
    return this.client.pass?.layers.find((l) => l.name === layer)?.shape ?? this.lastResult?.layers.find((l) => l.name === layer)?.shape;
  }

  async #refresh() {
    const { layer, channel } = this.open;
    const request = ++this.request;
    this.stats = null;
    this.root.dataset.state = 'loading';
    this.top.replaceChildren();
    this.bottom.replaceChildren();
    this.visualText.textContent = '';
    delete this.visual.dataset.activation;
    if (!this.client.pass) this.status.textContent = 'Looking through the test digits for this model…';
    const visual = this.client.visualize(layer, channel, { steps: 128, seed: 0 }, (v) => {
      if (request === this.request) this.#showVisual(v);
    });
    // Awaited below unless the examples fail first; never an unhandled rejection.
    visual.catch(() => {});
    try {
      const stats = await this.client.channel(layer, channel);
      if (request !== this.request) return;
      this.stats = stats;
      this.status.textContent = '';
      this.#showExamples(stats);
      this.#drawMeans(stats.classMeans);
      this.#drawHistogram();
      this.root.dataset.state = 'ready';
      const last = await visual;
      if (last && request === this.request) this.#showVisual(last);
    } catch (error) {
      if (request !== this.request) return;
      this.root.dataset.state = 'error';
      this.status.textContent = `This card could not be made: ${error.message}`;
    }
  }

  #showVisual(v) {
    paintDigit(this.visual, v.image);
    this.visual.dataset.activation = String(v.activation);
    this.visual.dataset.steps = String(v.steps);
    const best = this.stats?.top[0]?.value;
    const compare = best === undefined ? '' : ` · the best test digit reaches ${fmt(best)}${best > 0 ? ` (×${(v.activation / best).toFixed(2)})` : ''}`;
    this.visualText.textContent = `After ${v.steps} steps it reaches ${fmt(v.activation)}${compare}.`;
  }

  #outline(ctx, example) {
    // A map that is 0 everywhere peaks nowhere in particular.
    if (example.value === 0) return;
    const entry = this.summary && summaryEntry(this.summary, this.open.layer);
    const rf = entry?.receptive_field;
    if (!rf) return;
    const [y0, y1] = window1d(rf, example.row);
    const [x0, x1] = window1d(rf, example.col);
    const s = THUMB / 28;
    ctx.strokeStyle = '#f28e2b';
    ctx.lineWidth = 2;
    ctx.strokeRect(x0 * s + 1, y0 * s + 1, (x1 - x0) * s - 2, (y1 - y0) * s - 2);
  }

  #showExamples(stats) {
    if (!this.summary && this.hub.recognizer) this.summary = this.hub.recognizer.summary();
    const examples = [...stats.top, ...stats.bottom];
    examples.forEach((example, i) => {
      const digit = el('canvas', { width: 28, height: 28 });
      paintDigit(digit, stats.images, i * PIXELS);
      const canvas = el('canvas', { className: 'card-thumb', width: THUMB, height: THUMB, tabIndex: 0, role: 'button',
        'aria-label': `test digit #${example.index}, value ${fmt(example.value)}: show it on the pad`,
        dataset: { index: String(example.index), value: String(example.value) } });
      const ctx = canvas.getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(digit, 0, 0, THUMB, THUMB);
      this.#outline(ctx, example);
      const open = async () => {
        const d = await this.client.digit(example.index);
        this.hub.dispatchEvent(new CustomEvent('show-input', { detail: { pixels: d.pixels, label: d.label, source: `test image #${example.index}` } }));
      };
      canvas.addEventListener('click', open);
      canvas.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), open()));
      const item = el('div', { className: 'card-example', role: 'listitem' }, canvas, el('span', { className: 'card-value' }, fmt(example.value)));
      (i < stats.top.length ? this.top : this.bottom).append(item);
    });
  }

  #drawMeans(means) {
    const w = Math.max(160, this.means.clientWidth || 220);
    const h = 90;
    const ctx = crispCanvas(this.means, w, h);
    const hi = Math.max(...means.map(Math.abs)) || 1;
    const bw = w / 10;
    const base = means.some((m) => m < 0) ? (h - 14) / 2 : h - 14;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'center';
    means.forEach((m, d) => {
      const len = (Math.abs(m) / hi) * (base - 2);
      ctx.fillStyle = cssColor('viridis', 0.2 + (0.75 * Math.max(0, m)) / hi);
      ctx.fillRect(d * bw + 3, m >= 0 ? base - len : base, bw - 6, Math.max(1, len));
      ctx.fillStyle = '#555';
      ctx.fillText(String(d), d * bw + bw / 2, h - 2);
    });
    const order = means.map((m, d) => [m, d]).sort((a, b) => b[0] - a[0]);
    this.means.setAttribute('aria-label', `Mean activation per digit: highest for ${order[0][1]}s and ${order[1][1]}s`);
    this.means.dataset.top = `${order[0][1]},${order[1][1]}`;
  }

  #drawHistogram() {
    if (!this.stats) return;
    const { min, max, counts } = this.stats.histogram;
    const w = Math.max(160, this.histogram.clientWidth || 220);
    const h = 70;
    const ctx = crispCanvas(this.histogram, w, h);
    const hi = Math.max(...counts) || 1;
    const bw = w / counts.length;
    ctx.fillStyle = cssColor('viridis', 0.35);
    counts.forEach((c, i) => {
      const len = Math.sqrt(c / hi) * (h - 16);
      ctx.fillRect(i * bw + 1, h - 14 - len, bw - 2, Math.max(c ? 1 : 0, len));
    });
    ctx.fillStyle = '#555';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.fillText(fmt(min), 0, h - 2);
    ctx.textAlign = 'right';
    ctx.fillText(fmt(max), w, h - 2);
    const value = Number(this.live.dataset.value);
    if (this.live.dataset.value && Number.isFinite(value) && max > min) {
      const x = Math.min(w - 1, Math.max(1, ((value - min) / (max - min)) * w));
      ctx.fillStyle = '#d62728';
      ctx.fillRect(x - 1, 0, 2, h - 14);
    }
  }

  #showLive(result) {
    this.lastResult = result;
    if (!this.open) return;
    const layer = result?.layers.find((l) => l.name === this.open.layer);
    if (!layer || this.open.channel >= layer.shape[0]) {
      delete this.live.dataset.value;
      this.live.textContent = 'Draw a digit to see how this channel responds.';
    } else {
      const value = channelPeak(layer, this.open.channel);
      const best = this.stats?.top[0]?.value;
      this.live.dataset.value = String(value);
      this.live.textContent = `Your drawing: ${fmt(value)}${best ? ` (${Math.round((100 * value) / best)} % of the best test digit)` : ''} — the red line below.`;
    }
    this.#drawHistogram();
  }
}
