// The class-data file: labelled 28×28 drawings in MNIST's own IDX format, so the CLI reads it
// like MNIST (src/class_file.rs; `digitlens eval --data FILE`, `train --data FILE`).
//
// One file = an IDX images file immediately followed by an IDX labels file, optionally
// gzipped as a whole (big-endian numbers, as in MNIST):
//   00 00 08 03   N (u32)   28 (u32)   28 (u32)   N × 784 pixel bytes, row by row, 0 = paper, 255 = ink
//   00 00 08 01   N (u32)   N label bytes, 0–9
// Split at 16 + 784·N bytes, the two halves are exactly MNIST's *-images-idx3-ubyte and
// *-labels-idx1-ubyte files.

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** Refused before allocating: a class of 40 students × 1,000 drawings is 31 MB. */
const MAX_SAMPLES = 100_000;

/** Samples [{label, pixels: Uint8Array(784)}] → the file's bytes (not gzipped). */
export function encodeClassFile(samples) {
  const n = samples.length;
  const bytes = new Uint8Array(16 + n * PIXELS + 8 + n);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x0803);
  view.setUint32(4, n);
  view.setUint32(8, SIDE);
  view.setUint32(12, SIDE);
  const labelsAt = 16 + n * PIXELS;
  view.setUint32(labelsAt, 0x0801);
  view.setUint32(labelsAt + 4, n);
  samples.forEach(({ label, pixels }, i) => {
    if (!(pixels instanceof Uint8Array) || pixels.length !== PIXELS) throw new Error(`drawing ${i + 1} is not 28 × 28 pixels`);
    if (!Number.isInteger(label) || label < 0 || label > 9) throw new Error(`drawing ${i + 1} has no digit 0–9 as its label`);
    bytes.set(pixels, 16 + i * PIXELS);
    bytes[labelsAt + 8 + i] = label;
  });
  return bytes;
}

async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The file's bytes (gzipped or not) → samples; throws an Error saying what is wrong. */
export async function decodeClassFile(input) {
  let bytes = input;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await gunzip(bytes);
    } catch {
      throw new Error('it is gzip-compressed but damaged');
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (at) => (at + 4 <= bytes.length ? view.getUint32(at) : null);
  if (word(0) !== 0x0803) throw new Error('it does not start like an IDX file of images (00 00 08 03)');
  const n = word(4);
  if (word(8) !== SIDE || word(12) !== SIDE) throw new Error(`its images are ${word(8)} × ${word(12)}, not 28 × 28`);
  if (n > MAX_SAMPLES) throw new Error(`it claims ${n} images, more than ${MAX_SAMPLES}`);
  const labelsAt = 16 + n * PIXELS;
  if (word(labelsAt) !== 0x0801) {
    throw new Error(bytes.length < labelsAt ? `it is cut short: ${n} images need ${labelsAt} bytes, it has ${bytes.length}` : 'the labels (00 00 08 01) do not follow the images');
  }
  if (word(labelsAt + 4) !== n) throw new Error(`it has ${n} images but ${word(labelsAt + 4)} labels`);
  if (bytes.length !== labelsAt + 8 + n) throw new Error(`its length is ${bytes.length} bytes; ${n} drawings take ${labelsAt + 8 + n}`);
  const samples = [];
  for (let i = 0; i < n; i++) {
    const label = bytes[labelsAt + 8 + i];
    if (label > 9) throw new Error(`drawing ${i + 1} is labelled ${label}, not a digit 0–9`);
    samples.push({ label, pixels: bytes.slice(16 + i * PIXELS, 16 + (i + 1) * PIXELS) });
  }
  return samples;
}
