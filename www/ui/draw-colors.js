// The page's one colour language for numbers:
//   • values that cannot be negative (ReLU outputs, pooling of them, pixels) → viridis,
//     dark purple = 0, yellow = the largest value on the scale (perceptually uniform,
//     readable by colour-blind people and in greyscale);
//   • signed values (a convolution before its ReLU, logits, filter weights) → a diverging
//     blue–white–red scale centred on 0 (blue negative, red positive; ColorBrewer RdBu).
// Both are 256-entry lookup tables of packed RGBA (little-endian Uint32), so painting a map is
// one table look-up per pixel.

const LUT_SIZE = 256;

function clamp01(x) {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** viridis(t) as [r, g, b] in 0..255 (polynomial fit of matplotlib's table). */
export function viridis(t) {
  t = clamp01(t);
  const c = [
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516634259456],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
  ];
  const out = [0, 0, 0];
  for (let k = 0; k < 3; k++) {
    let v = c[6][k];
    for (let i = 5; i >= 0; i--) v = v * t + c[i][k];
    out[k] = Math.round(clamp01(v) * 255);
  }
  return out;
}

// ColorBrewer RdBu (9 classes), from strong blue (−) through near-white (0) to strong red (+).
const RDBU = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'].map((h) => [
  parseInt(h.slice(1, 3), 16),
  parseInt(h.slice(3, 5), 16),
  parseInt(h.slice(5, 7), 16),
]);

/** diverging(t) for t in 0..1 (0.5 = zero) as [r, g, b]. */
export function diverging(t) {
  const x = clamp01(t) * (RDBU.length - 1);
  const i = Math.min(RDBU.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((k) => Math.round(RDBU[i][k] + (RDBU[i + 1][k] - RDBU[i][k]) * f));
}

function pack([r, g, b]) {
  // ImageData is RGBA in memory; on little-endian machines (all browsers in practice) a
  // Uint32 view reads it as ABGR.
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function makeLut(fn) {
  const lut = new Uint32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) lut[i] = pack(fn(i / (LUT_SIZE - 1)));
  return lut;
}

export const SCALES = {
  viridis: { name: 'viridis', lut: makeLut(viridis), css: cssGradient(viridis) },
  diverging: { name: 'diverging', lut: makeLut(diverging), css: cssGradient(diverging) },
};

function cssGradient(fn) {
  const stops = [];
  for (let i = 0; i <= 8; i++) {
    const [r, g, b] = fn(i / 8);
    stops.push(`rgb(${r} ${g} ${b}) ${(i / 8) * 100}%`);
  }
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** CSS colour of value `t` (0..1) on a scale, for bars and swatches. */
export function cssColor(scale, t) {
  const [r, g, b] = (scale === 'diverging' ? diverging : viridis)(t);
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Paints `count` values starting at `offset` of `values` into `pixels` (a Uint32Array view of
 * an ImageData) with `scale`; `lo..hi` is the range for viridis, `-hi..hi` for diverging.
 */
export function paintValues(pixels, values, offset, count, scale, hi) {
  const lut = SCALES[scale].lut;
  const top = LUT_SIZE - 1;
  if (scale === 'diverging') {
    const k = hi > 0 ? top / (2 * hi) : 0;
    for (let i = 0; i < count; i++) {
      let j = ((values[offset + i] + hi) * k) | 0;
      if (j < 0) j = 0;
      else if (j > top) j = top;
      pixels[i] = lut[hi > 0 ? j : top >> 1];
    }
  } else {
    const k = hi > 0 ? top / hi : 0;
    for (let i = 0; i < count; i++) {
      let j = (values[offset + i] * k) | 0;
      if (j < 0) j = 0;
      else if (j > top) j = top;
      pixels[i] = lut[j];
    }
  }
}

/** The largest |value| of a range of an array. */
export function maxAbs(values, offset = 0, count = values.length - offset) {
  let m = 0;
  for (let i = offset, end = offset + count; i < end; i++) {
    const v = values[i] < 0 ? -values[i] : values[i];
    if (v > m) m = v;
  }
  return m;
}

/** Whether any value of a range is negative (beyond rounding). */
export function hasNegative(values, offset = 0, count = values.length - offset) {
  for (let i = offset, end = offset + count; i < end; i++) if (values[i] < -1e-6) return true;
  return false;
}

/** A short, readable number: 0.0123 → "0.012", 12.34 → "12.3". */
export function fmt(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a >= 0.01) return v.toFixed(3);
  return v.toExponential(1);
}
