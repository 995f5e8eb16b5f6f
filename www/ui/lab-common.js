// Small helpers shared by the model lab's panels: building DOM, formatting numbers the way the
// lab shows them, and 28×28 digit thumbnails.

/** el('button', {className: 'btn', onclick, 'aria-label': …}, 'text', child…): an element
 *  with properties set; keys with a dash (and `role`) are set as attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.includes('-') || key === 'role') node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** 225034 → "225,034", as Keras prints parameter counts. */
export const grouped = (n) => Math.round(n).toLocaleString('en-US');

/** 0.98765 → "98.77 %"; missing → "–". */
export const percent = (x, digits = 2) => (x == null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)} %`);

/** Bytes → "879.04 KB" (1 KB = 1024 bytes, as Keras 3's summary reports sizes). */
export const kilobytes = (bytes) => `${(bytes / 1024).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} KB`;

/** Seconds → "42 s" or "3 min 5 s". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** Index of the largest value. */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** 784 pixels (bytes 0..255 or floats 0..1, 1 = ink) as 0..1 floats, the model's input. */
export function toUnit(pixels) {
  return pixels instanceof Uint8Array ? Float32Array.from(pixels, (v) => v / 255) : Float32Array.from(pixels);
}

/** 784 floats in 0..1 as bytes, to store drawings compactly. */
export function toBytes(pixels01) {
  return Uint8Array.from(pixels01, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}

/** A 28×28 canvas of a digit: dark ink on paper, like the drawing pad. */
export function thumbnail(pixels, label = 'a digit') {
  const canvas = el('canvas', { width: 28, height: 28, className: 'lab-thumb', role: 'img', 'aria-label': label });
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(28, 28);
  const unit = toUnit(pixels);
  for (let i = 0; i < 784; i++) {
    const paper = Math.round(255 - 230 * unit[i]);
    image.data.set([paper, paper, Math.min(255, paper + 14), 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** The hub's training client; created on first use when the Train panel has not set one.
 *  Lazy import, so the lab's summary and editor never wait for the worker module. */
export async function trainerOf(hub) {
  if (!hub.trainer) {
    const { sharedTrainerClient } = await import('./trainer-client.js');
    hub.trainer ??= sharedTrainerClient();
    hub.dispatchEvent(new CustomEvent('trainer', { detail: { trainer: hub.trainer } }));
  }
  return hub.trainer;
}

/** Rust's messages have no final full stop; a sentence in the page does. */
export const sentence = (text) => (/[.!?…]$/.test(text) ? text : `${text}.`);

/** A message shown inside a panel (next to the action that failed), besides the banner. */
export function inlineMessage(node, text, kind = 'error') {
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = !text;
}
