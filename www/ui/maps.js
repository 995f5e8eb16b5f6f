// Activation maps: every layer with spatial output as one heat-map tile per channel, dense
// layers as bars. The DOM is built once per architecture; each update only repaints pixels
// (one ImageData per tile, filled through a Uint32 view from a colour lookup table).
//
// Hooks kept for tests: each group has data-layer="<tap name>" and one <canvas> per channel.

import { SCALES, paintValues, maxAbs, hasNegative, fmt, cssColor } from './draw-colors.js';

/** CSS size of a tile: the map enlarged by a whole number, about `target` px. */
function tileScale(side, target = 48) {
  return Math.max(1, Math.round(target / side));
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The summary entry of a tap: "conv1.relu" has the receptive field of "conv1". */
export function summaryEntry(summary, tapName) {
  const byName = new Map(summary.layers.map((l) => [l.name, l]));
  return byName.get(tapName) || byName.get(tapName.split('.')[0]) || null;
}

/** Input window [from, to) along one axis of cell `index` (clipped to the 28-pixel image). */
export function window1d(rf, index, side = 28) {
  const from = rf.start + index * rf.jump;
  const to = from + rf.size;
  return [Math.max(0, from), Math.min(side, Math.max(0, to))];
}

/** A plain-language line about what a layer is and how its colours read. */
function describe(tap, entry, signed) {
  const spec = entry?.spec || {};
  const isRelu = tap.name.endsWith('.relu') || spec.type === 'relu';
  const [c, h, w] = tap.shape;
  if (isRelu) {
    return 'After ReLU: every negative value becomes 0. A bright cell means this filter found its pattern there.';
  }
  if (spec.type === 'conv2d') {
    const input = entry.input.channels === 1 ? 'the image' : `all ${entry.input.channels} maps of the layer before`;
    return `Convolution: ${c} filters of ${spec.kernel} × ${spec.kernel}, each slid over ${input}${
      spec.activation === 'relu' ? ', shown before its ReLU' : ''
    }. ${signed ? 'Red = the pattern matches, blue = the opposite of it.' : ''}`;
  }
  if (spec.type === 'maxpool2d') {
    const s = spec.size;
    return `Max pooling ${s} × ${s}: keeps only the strongest response of each ${s} × ${s} block, so the map shrinks from ${entry.input.height} × ${entry.input.width} to ${h} × ${w} and each cell sees a wider patch of the input.`;
  }
  if (spec.type === 'dropout') return 'Dropout: during training some values are switched off at random; when reading a digit it passes everything through.';
  return `${c} maps of ${h} × ${w}.`;
}

function describeDense(tap, entry, isLast) {
  if (isLast) return 'The 10 output scores (logits), one per digit. Softmax turns them into the probabilities shown under the pad.';
  const spec = entry?.spec || {};
  const n = tap.shape[0];
  const inputs = entry?.input ? (typeof entry.input === 'number' ? entry.input : entry.input.channels * entry.input.height * entry.input.width) : '';
  return `Dense: ${n} units, each connected to all ${Number(inputs).toLocaleString('en')} values before it${
    spec.activation === 'relu' ? ' (after ReLU, so none is negative)' : ''
  }.`;
}

export class ActivationMaps {
  /**
   * @param {HTMLElement} root  where the layer groups go
   * @param {object} opts
   *   onCell(info|null)  a cell is hovered/focused: {layer, channel, row, col, rf, value} (null: left)
   *   kernels(layerName) → {shape, values} | null   the conv kernels that made a map
   *   onChannel({layer, channel, anchor}|null)  a channel or dense unit was opened (click or
   *     Enter) / closed; `anchor` is the element its channel card goes after
   */
  constructor(root, { onCell = () => {}, kernels = () => null, onChannel = () => {} } = {}) {
    this.root = root;
    this.onCell = onCell;
    this.onChannel = onChannel;
    this.kernels = kernels;
    this.mode = 'layer'; // or 'channel'
    this.signature = '';
    this.groups = [];
    this.signed = new Map(); // tap name → has shown negative values (sticky per model)
    this.result = null;
    this.summary = null;
    this.detail = null; // {group, channel}
    this.pending = null; // {result}: what show({lazy}) left to paint until the maps are seen
    this.visible = false;
    this.#buildDetail();
    // Entries come in order, several per callback when the maps leave and come back within
    // one frame (a jump through the page's links): the last one is the state now.
    new IntersectionObserver((entries) => {
      this.visible = entries.at(-1).isIntersecting;
      if (this.visible && this.pending) this.show(this.pending.result);
    }).observe(root);
  }

  setMode(mode) {
    this.mode = mode;
    if (this.result) this.update(this.result);
  }

  /** Forgets per-model state (call when a new model is in use). */
  reset(summary) {
    this.summary = summary;
    this.signed.clear();
  }

  /** Builds the DOM for these layers (from a recognition) unless it already matches. */
  build(layers, summary) {
    this.summary = summary;
    const signature = layers.map((l) => `${l.name}:${l.shape.join('x')}`).join('|');
    if (signature === this.signature) return false;
    this.signature = signature;
    this.closeDetail();
    this.root.replaceChildren();
    this.groups = [];
    const spatial = layers.filter((l) => l.shape.length === 3);
    const dense = layers.filter((l) => l.shape.length === 1);
    if (!spatial.length) {
      const note = el('p', 'maps-empty', 'This model has no convolution layers, so there are no maps to show: its first Dense layer looks at all 784 pixels at once, with no notion of neighbouring pixels.');
      note.id = 'maps-empty';
      this.root.append(note);
    }
    for (const tap of spatial) this.groups.push(this.#buildSpatial(tap));
    dense.forEach((tap, i) => this.groups.push(this.#buildDense(tap, i === dense.length - 1)));
    return true;
  }

  #buildSpatial(tap) {
    const [c, h, w] = tap.shape;
    const entry = summaryEntry(this.summary, tap.name);
    const scale = tileScale(Math.max(h, w));
    const small = tileScale(Math.max(h, w), 28); // phones (see style.css)
    const details = el('details', 'layer-group');
    details.open = true;
    details.dataset.layer = tap.name;
    details.dataset.channels = String(c);
    const summaryEl = el('summary', 'layer-head');
    const title = el('h3', 'layer-title');
    title.append(el('span', 'layer-name', tap.name), el('span', 'layer-shape', ` · ${c} × ${h} × ${w}`));
    const rf = entry?.receptive_field;
    const badge = rf ? el('span', 'rf-badge', `each cell sees ${rf.size} × ${rf.size} px`) : null;
    summaryEl.append(title);
    if (badge) summaryEl.append(badge);
    const note = el('p', 'layer-note');
    const legend = el('div', 'legend');
    legend.setAttribute('aria-hidden', 'true');
    const bar = el('span', 'legend-bar');
    const lo = el('span', 'legend-lo');
    const mid = el('span', 'legend-mid');
    const hi = el('span', 'legend-hi');
    const scaleNote = el('span', 'legend-note');
    legend.append(lo, bar, hi, scaleNote);
    bar.append(mid);
    const tiles = el('div', 'tiles');
    tiles.setAttribute('role', 'group');
    tiles.setAttribute('aria-label', `${tap.name}: ${c} channels; arrow keys move, Enter enlarges a channel`);
    tiles.style.setProperty('--tile-lg', `${w * scale}px`);
    tiles.style.setProperty('--tile-lg-h', `${h * scale}px`);
    tiles.style.setProperty('--tile-sm', `${w * small}px`);
    tiles.style.setProperty('--tile-sm-h', `${h * small}px`);
    const marker = el('div', 'cell-marker');
    marker.hidden = true;
    const canvases = [];
    const images = [];
    for (let ch = 0; ch < c; ch++) {
      const cv = document.createElement('canvas');
      cv.width = w;
      cv.height = h;
      cv.className = 'tile';
      cv.dataset.channel = String(ch);
      cv.tabIndex = ch === 0 ? 0 : -1;
      cv.setAttribute('role', 'button');
      cv.setAttribute('aria-label', `${tap.name} channel ${ch + 1} of ${c}: enlarge`);
      const ctx = cv.getContext('2d');
      const image = ctx.createImageData(w, h);
      canvases.push(cv);
      images.push({ ctx, image, pixels: new Uint32Array(image.data.buffer) });
      tiles.append(cv);
    }
    tiles.append(marker);
    const likelySigned = !tap.name.includes('.') && entry?.spec?.type === 'conv2d';
    note.textContent = describe(tap, entry, likelySigned);
    bar.style.backgroundImage = SCALES[likelySigned ? 'diverging' : 'viridis'].css;
    details.append(summaryEl, note, legend, tiles);
    this.root.append(details);
    const group = { kind: 'spatial', tap: { name: tap.name, shape: tap.shape }, entry, details, note, legend, bar, lo, hi, scaleNote, tiles, marker, canvases, images, values: null, offset: 0 };
    this.#wireTiles(group);
    return group;
  }

  #wireTiles(group) {
    const [, h, w] = group.tap.shape;
    const cellAt = (cv, clientX, clientY) => {
      const r = cv.getBoundingClientRect();
      const col = Math.min(w - 1, Math.max(0, Math.floor(((clientX - r.left) / r.width) * w)));
      const row = Math.min(h - 1, Math.max(0, Math.floor(((clientY - r.top) / r.height) * h)));
      return { row, col };
    };
    const hover = (cv, row, col) => {
      const channel = Number(cv.dataset.channel);
      this.#markCell(group, cv, row, col);
      this.onCell(this.#cellInfo(group, channel, row, col));
    };
    group.tiles.addEventListener('pointermove', (e) => {
      const cv = e.target.closest('canvas.tile');
      if (!cv) return;
      const { row, col } = cellAt(cv, e.clientX, e.clientY);
      hover(cv, row, col);
    });
    group.tiles.addEventListener('pointerdown', (e) => {
      const cv = e.target.closest('canvas.tile');
      if (!cv) return;
      const { row, col } = cellAt(cv, e.clientX, e.clientY);
      hover(cv, row, col);
    });
    group.tiles.addEventListener('pointerleave', () => {
      group.marker.hidden = true;
      this.onCell(null);
    });
    group.tiles.addEventListener('click', (e) => {
      const cv = e.target.closest('canvas.tile');
      if (cv) this.openDetail(group, Number(cv.dataset.channel));
    });
    // Keyboard: one tab stop per layer, arrows move between channels (roving tabindex).
    group.tiles.addEventListener('keydown', (e) => {
      const cv = e.target.closest('canvas.tile');
      if (!cv) return;
      const i = Number(cv.dataset.channel);
      const n = group.canvases.length;
      const perRow = Math.max(1, Math.round(group.tiles.clientWidth / (cv.offsetWidth + 4)));
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow, Home: -i, End: n - 1 - i };
      if (e.key in moves) {
        e.preventDefault();
        const j = Math.min(n - 1, Math.max(0, i + moves[e.key]));
        cv.tabIndex = -1;
        group.canvases[j].tabIndex = 0;
        group.canvases[j].focus();
      } else if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.openDetail(group, i);
      }
    });
    group.tiles.addEventListener('focusin', (e) => {
      const cv = e.target.closest('canvas.tile');
      if (cv) hover(cv, h >> 1, w >> 1);
    });
    group.tiles.addEventListener('focusout', () => {
      group.marker.hidden = true;
      this.onCell(null);
    });
  }

  #markCell(group, cv, row, col) {
    const [, h, w] = group.tap.shape;
    const m = group.marker;
    const cw = cv.offsetWidth / w;
    const chh = cv.offsetHeight / h;
    m.style.left = `${cv.offsetLeft + col * cw}px`;
    m.style.top = `${cv.offsetTop + row * chh}px`;
    m.style.width = `${cw}px`;
    m.style.height = `${chh}px`;
    m.hidden = false;
  }

  #cellInfo(group, channel, row, col) {
    const [, h, w] = group.tap.shape;
    const value = group.values ? group.values[group.offset + channel * h * w + row * w + col] : undefined;
    return { layer: group.tap.name, channel, row, col, rf: group.entry?.receptive_field || null, value };
  }

  #buildDense(tap, isLast) {
    const n = tap.shape[0];
    const entry = summaryEntry(this.summary, tap.name);
    const box = el('div', 'layer-group dense-group');
    box.dataset.layer = tap.name;
    box.dataset.units = String(n);
    const head = el('div', 'layer-head');
    const title = el('h3', 'layer-title');
    title.append(el('span', 'layer-name', tap.name), el('span', 'layer-shape', ` · ${n} ${isLast ? 'logits' : 'units'}`));
    head.append(title);
    const note = el('p', 'layer-note', describeDense(tap, entry, isLast));
    const cv = document.createElement('canvas');
    cv.className = 'bars';
    cv.tabIndex = 0;
    cv.setAttribute('role', 'button');
    cv.setAttribute('aria-label', `${tap.name}: ${n} values as bars; arrow keys choose a ${isLast ? 'digit' : 'unit'}, Enter opens its card`);
    const readout = el('p', 'bars-readout', 'Point at a bar to read its value.');
    box.append(head, note, cv);
    let labels = null;
    if (n <= 16) {
      labels = el('div', 'bar-labels');
      for (let i = 0; i < n; i++) labels.append(el('span', '', String(i)));
      labels.style.setProperty('--n', n);
      box.append(labels);
    }
    box.append(readout);
    this.root.append(box);
    const group = { kind: 'dense', tap: { name: tap.name, shape: tap.shape }, entry, box, canvas: cv, ctx: cv.getContext('2d'), readout, values: null, offset: 0, isLast };
    cv.addEventListener('pointermove', (e) => {
      if (!group.values) return;
      const r = cv.getBoundingClientRect();
      const i = Math.min(n - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * n)));
      const label = isLast ? `digit ${i}` : `unit ${i + 1}`;
      readout.textContent = `${tap.name} ${label}: ${fmt(group.values[group.offset + i])}`;
    });
    // A unit's card: click its bar, or choose it with the arrow keys and press Enter.
    const unitAt = (e) => {
      const r = cv.getBoundingClientRect();
      return Math.min(n - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * n)));
    };
    group.unit = 0;
    cv.addEventListener('click', (e) => this.onChannel({ layer: tap.name, channel: (group.unit = unitAt(e)), anchor: box }));
    cv.addEventListener('keydown', (e) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -n, End: n };
      if (e.key in moves) {
        e.preventDefault();
        group.unit = Math.min(n - 1, Math.max(0, group.unit + moves[e.key]));
        const value = group.values ? `: ${fmt(group.values[group.offset + group.unit])}` : '';
        readout.textContent = `${tap.name} ${isLast ? `digit ${group.unit}` : `unit ${group.unit + 1}`}${value} · Enter opens its card`;
      } else if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.onChannel({ layer: tap.name, channel: group.unit, anchor: box });
      }
    });
    return group;
  }

  /** Shows a recognition, or blank maps for null. `lazy`: while the maps are off screen the
   *  painting waits until they come into view (during training new weights arrive every few
   *  seconds while the user watches the curves, and repainting every map costs ~10 ms). */
  show(result, { lazy = false } = {}) {
    if (lazy && !this.visible) {
      this.pending = { result };
      return;
    }
    if (result) this.update(result);
    else this.clear();
  }

  /** Repaints every map and bar chart for a recognition `{layers: [{name, shape, activations}]}`. */
  update(result) {
    this.pending = null;
    this.result = result;
    const byName = new Map(result.layers.map((l) => [l.name, l]));
    for (const g of this.groups) {
      const layer = byName.get(g.tap.name);
      if (!layer) continue;
      // Activations of all layers share one Float32Array buffer; keep the view, not a copy.
      g.values = layer.activations;
      g.offset = 0;
      if (g.kind === 'spatial') this.#paintSpatial(g);
      else this.#paintDense(g);
    }
    if (this.detail) this.#paintDetail();
  }

  /** Blank tiles and bars (nothing drawn on the pad). */
  clear() {
    this.pending = null;
    this.result = null;
    const blank = 0xfff4eeec; // #eceef4 as ABGR
    for (const g of this.groups) {
      g.values = null;
      if (g.kind === 'spatial') {
        for (const t of g.images) {
          t.pixels.fill(blank);
          t.ctx.putImageData(t.image, 0, 0);
        }
        g.lo.textContent = '';
        g.hi.textContent = '';
      } else {
        g.ctx.setTransform(1, 0, 0, 1, 0, 0);
        g.ctx.clearRect(0, 0, g.canvas.width, g.canvas.height);
      }
    }
    if (this.detail) {
      const D = this.detailEl;
      D.pixels.fill(blank);
      D.ctx.putImageData(D.image, 0, 0);
    }
  }

  #isSigned(g) {
    const name = g.tap.name;
    if (!this.signed.get(name) && hasNegative(g.values, g.offset, g.values.length - g.offset)) this.signed.set(name, true);
    return !!this.signed.get(name);
  }

  #paintSpatial(g) {
    const [c, h, w] = g.tap.shape;
    const plane = h * w;
    const signed = this.#isSigned(g);
    const scale = signed ? 'diverging' : 'viridis';
    const layerHi = maxAbs(g.values, g.offset, c * plane);
    for (let ch = 0; ch < c; ch++) {
      const off = g.offset + ch * plane;
      const hi = this.mode === 'channel' ? maxAbs(g.values, off, plane) : layerHi;
      const t = g.images[ch];
      paintValues(t.pixels, g.values, off, plane, scale, hi);
      t.ctx.putImageData(t.image, 0, 0);
    }
    if (g.scale !== scale || g.mode !== this.mode) {
      g.scale = scale;
      g.mode = this.mode;
      g.bar.style.backgroundImage = SCALES[scale].css;
      g.legend.dataset.scale = scale;
      g.note.textContent = describe(g.tap, g.entry, signed);
      g.scaleNote.textContent =
        this.mode === 'channel' ? 'each tile scaled to its own largest value' : 'one scale for the whole layer';
    }
    if (this.mode === 'channel') {
      g.lo.textContent = signed ? '− max' : '0';
      g.hi.textContent = signed ? '+ max' : 'max';
    } else {
      g.lo.textContent = signed ? `−${fmt(layerHi)}` : '0';
      g.hi.textContent = signed ? `+${fmt(layerHi)}` : fmt(layerHi);
    }
  }

  #paintDense(g) {
    const n = g.tap.shape[0];
    const cv = g.canvas;
    const cssW = Math.max(100, Math.round(cv.clientWidth || 300));
    const cssH = Math.round(cv.clientHeight || 64);
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    if (cv.width !== Math.round(cssW * dpr) || cv.height !== Math.round(cssH * dpr)) {
      cv.width = Math.round(cssW * dpr);
      cv.height = Math.round(cssH * dpr);
    }
    const ctx = g.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const values = g.values;
    const signed = this.#isSigned(g);
    const hi = maxAbs(values, g.offset, n) || 1;
    const bw = cssW / n;
    const gap = bw > 6 ? Math.min(4, bw * 0.2) : 0;
    const base = signed ? cssH / 2 : cssH;
    const span = signed ? cssH / 2 - 1 : cssH - 1;
    ctx.fillStyle = '#c9cbd6';
    ctx.fillRect(0, Math.round(base) - (signed ? 0.5 : 1), cssW, 1);
    for (let i = 0; i < n; i++) {
      const v = values[g.offset + i];
      const t = signed ? 0.5 + v / (2 * hi) : v / hi;
      ctx.fillStyle = cssColor(signed ? 'diverging' : 'viridis', signed ? t : 0.15 + 0.85 * t);
      const len = (Math.abs(v) / hi) * span;
      const y = v >= 0 ? base - len : base;
      ctx.fillRect(i * bw + gap / 2, y, Math.max(1, bw - gap), Math.max(v === 0 ? 0 : 1, len));
    }
  }

  // ---- the enlarged view of one channel -------------------------------------------------

  #buildDetail() {
    const d = el('div', 'channel-detail');
    d.id = 'channel-detail';
    d.hidden = true;
    d.setAttribute('role', 'region');
    d.setAttribute('aria-label', 'Enlarged channel');
    const head = el('div', 'detail-head');
    const title = el('h4', 'detail-title');
    const prev = el('button', 'btn btn-small', '‹');
    prev.type = 'button';
    prev.setAttribute('aria-label', 'Previous channel');
    const next = el('button', 'btn btn-small', '›');
    next.type = 'button';
    next.setAttribute('aria-label', 'Next channel');
    const close = el('button', 'btn btn-small', 'Close');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close the enlarged channel');
    head.append(title, prev, next, close);
    const body = el('div', 'detail-body');
    const wrap = el('div', 'detail-canvas-wrap');
    const canvas = document.createElement('canvas');
    canvas.className = 'detail-canvas';
    const marker = el('div', 'cell-marker');
    marker.hidden = true;
    wrap.append(canvas, marker);
    const side = el('div', 'detail-side');
    const readout = el('p', 'detail-readout', 'Point at a cell to read its value.');
    readout.id = 'detail-readout';
    readout.setAttribute('aria-live', 'polite');
    const kernelBox = el('div', 'detail-kernels');
    side.append(readout, kernelBox);
    body.append(wrap, side);
    d.append(head, body);
    this.detailEl = { root: d, title, canvas, ctx: canvas.getContext('2d'), marker, readout, kernelBox, wrap };
    prev.addEventListener('click', () => this.detail && this.openDetail(this.detail.group, this.detail.channel - 1));
    next.addEventListener('click', () => this.detail && this.openDetail(this.detail.group, this.detail.channel + 1));
    close.addEventListener('click', () => this.closeDetail(true));
    d.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.closeDetail(true);
    });
    const onPoint = (e) => {
      if (!this.detail) return;
      const { group } = this.detail;
      const [, h, w] = group.tap.shape;
      const r = canvas.getBoundingClientRect();
      const col = Math.min(w - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * w)));
      const row = Math.min(h - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * h)));
      const info = this.#cellInfo(group, this.detail.channel, row, col);
      const cw = canvas.offsetWidth / w;
      marker.style.left = `${canvas.offsetLeft + col * cw}px`;
      marker.style.top = `${canvas.offsetTop + row * (canvas.offsetHeight / h)}px`;
      marker.style.width = `${cw}px`;
      marker.style.height = `${canvas.offsetHeight / h}px`;
      marker.hidden = false;
      readout.textContent = `row ${row}, col ${col}: ${info.value === undefined ? '–' : fmt(info.value)}`;
      this.onCell(info);
    };
    canvas.addEventListener('pointermove', onPoint);
    canvas.addEventListener('pointerdown', onPoint);
    canvas.addEventListener('pointerleave', () => {
      marker.hidden = true;
      this.onCell(null);
    });
  }

  openDetail(group, channel) {
    const c = group.tap.shape[0];
    channel = (channel + c) % c;
    const [, h, w] = group.tap.shape;
    const D = this.detailEl;
    const first = !this.detail || this.detail.group !== group;
    this.detail = { group, channel };
    for (const cv of group.canvases) cv.classList.toggle('selected', Number(cv.dataset.channel) === channel);
    if (first) {
      for (const g of this.groups) if (g.canvases) for (const cv of g.canvases) if (g !== group) cv.classList.remove('selected');
      group.details.append(D.root);
      D.canvas.width = w;
      D.canvas.height = h;
      const scale = Math.max(1, Math.floor(Math.min(280, Math.max(160, group.tiles.clientWidth * 0.5)) / Math.max(h, w)));
      D.canvas.style.width = `${w * scale}px`;
      D.canvas.style.height = `${h * scale}px`;
      D.wrap.style.setProperty('--cells', w);
      D.image = D.ctx.createImageData(w, h);
      D.pixels = new Uint32Array(D.image.data.buffer);
    }
    D.title.textContent = `${group.tap.name} · channel ${channel + 1} of ${c} · ${h} × ${w}`;
    D.readout.textContent = 'Point at a cell to read its value.';
    D.marker.hidden = true;
    D.root.hidden = false;
    this.#paintKernels();
    this.#paintDetail();
    this.onChannel({ layer: group.tap.name, channel, anchor: D.root.querySelector('.detail-body') });
  }

  closeDetail(focusTile = false) {
    if (!this.detail) return;
    const { group, channel } = this.detail;
    this.detail = null;
    this.detailEl.root.hidden = true;
    this.onChannel(null);
    for (const cv of group.canvases) cv.classList.remove('selected');
    if (focusTile && group.canvases[channel]) group.canvases[channel].focus();
  }

  #paintDetail() {
    const { group, channel } = this.detail;
    if (!group.values) return;
    const [c, h, w] = group.tap.shape;
    const plane = h * w;
    const off = group.offset + channel * plane;
    const signed = !!this.signed.get(group.tap.name);
    const hi = this.mode === 'channel' ? maxAbs(group.values, off, plane) : maxAbs(group.values, group.offset, c * plane);
    const D = this.detailEl;
    paintValues(D.pixels, group.values, off, plane, signed ? 'diverging' : 'viridis', hi);
    D.ctx.putImageData(D.image, 0, 0);
  }

  /** The filter that produced the enlarged channel (conv layers): one k×k image per input channel. */
  #paintKernels() {
    const D = this.detailEl;
    D.kernelBox.replaceChildren();
    const { group, channel } = this.detail;
    const entry = group.entry;
    if (!entry || entry.spec?.type !== 'conv2d') return;
    let k;
    try {
      k = this.kernels(entry.name);
    } catch {
      k = null;
    }
    if (!k) return;
    const [, cin, kh, kw] = k.shape;
    const per = cin * kh * kw;
    const off = channel * per;
    const hi = maxAbs(k.values, off, per);
    const caption = el(
      'p',
      'detail-kernel-caption',
      cin === 1
        ? `The ${kh} × ${kw} filter that made this map (red = positive weight, blue = negative):`
        : `The filter that made this map has one ${kh} × ${kw} slice per input map (${cin}):`,
    );
    const strip = el('div', 'kernel-strip');
    for (let i = 0; i < Math.min(cin, 64); i++) {
      const cv = document.createElement('canvas');
      cv.width = kw;
      cv.height = kh;
      cv.className = 'kernel';
      cv.setAttribute('aria-hidden', 'true');
      const ctx = cv.getContext('2d');
      const img = ctx.createImageData(kw, kh);
      paintValues(new Uint32Array(img.data.buffer), k.values, off + i * kh * kw, kh * kw, 'diverging', hi);
      ctx.putImageData(img, 0, 0);
      strip.append(cv);
    }
    D.kernelBox.append(caption, strip);
  }
}
