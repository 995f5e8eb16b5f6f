// Strokes in a lesson link: each stroke's points (pad units, 0..1) on a grid of 1/4096 of the
// pad (0.07 px on a 280 px pad: the same pixels and the same prediction), as a flat list
// [x0, y0, dx1, dy1, …] of whole numbers: small deltas keep the compressed link short.

const GRID = 4096;
const MAX_STROKES = 200;
const MAX_POINTS = 20_000;

/** [[[x, y], …], …] → [[x0, y0, dx1, dy1, …], …] */
export function encodeStrokes(strokes) {
  return strokes.map((stroke) => {
    const out = [];
    let [px, py] = [0, 0];
    for (const [x, y] of stroke) {
      const [qx, qy] = [Math.round(x * GRID), Math.round(y * GRID)];
      out.push(qx - px, qy - py);
      [px, py] = [qx, qy];
    }
    return out;
  });
}

/** The inverse of encodeStrokes; throws an Error for anything that is not such a list. */
export function decodeStrokes(code) {
  if (!Array.isArray(code) || code.length > MAX_STROKES) throw new Error(`the drawing must be a list of at most ${MAX_STROKES} strokes`);
  let points = 0;
  return code.map((flat) => {
    if (!Array.isArray(flat) || flat.length < 2 || flat.length % 2 || !flat.every(Number.isInteger)) {
      throw new Error('a stroke of the drawing is not a list of whole-number x, y pairs');
    }
    points += flat.length / 2;
    if (points > MAX_POINTS) throw new Error(`the drawing has more than ${MAX_POINTS} points`);
    const stroke = [];
    let [x, y] = [0, 0];
    for (let i = 0; i < flat.length; i += 2) {
      x += flat[i];
      y += flat[i + 1];
      // Strokes may leave the pad a little (the pen carried past its edge), never far.
      stroke.push([Math.min(2, Math.max(-1, x / GRID)), Math.min(2, Math.max(-1, y / GRID))]);
    }
    return stroke;
  });
}

