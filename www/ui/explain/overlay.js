// Paints an attribution map (784 signed values) as a see-through layer: the page's
// blue–white–red scale (draw-colors.js), red = towards the target, blue = away, more opaque
// the stronger the value; zero is fully transparent so the drawing shows through.

import { SCALES } from '../draw-colors.js';

const TOP = 255;

/** Paints `map` into a 28×28 canvas, the colours spanning ±`scale` (beyond: full colour). */
export function paintMap(canvas, map, scale) {
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(28, 28);
  const pixels = new Uint32Array(image.data.buffer);
  const lut = SCALES.diverging.lut;
  if (scale > 0) {
    for (let i = 0; i < 784; i++) {
      const t = Math.max(-1, Math.min(1, map[i] / scale));
      const j = Math.max(0, Math.min(TOP, Math.round((t + 1) * 0.5 * TOP)));
      // Alpha rises with √|t| so weak but real evidence stays visible.
      const alpha = Math.round(Math.min(1, Math.sqrt(Math.abs(t))) * 0.85 * 255);
      pixels[i] = ((lut[j] & 0x00ffffff) | (alpha << 24)) >>> 0;
    }
  }
  ctx.putImageData(image, 0, 0);
}

/** Draws the 28×28 map canvas over the pad where the input lay on the drawing (`placement`
 *  in the pad's model pixels, `side` of them across the pad). */
export function paintOnPad(padCanvas, mapCanvas, placement, side) {
  const ctx = padCanvas.getContext('2d');
  const px = padCanvas.width;
  ctx.clearRect(0, 0, px, px);
  if (!placement) return;
  const k = px / side;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(mapCanvas, placement.left * k, placement.top * k, 28 * placement.scaleX * k, 28 * placement.scaleY * k);
}
