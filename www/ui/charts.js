// Live training charts on a plain <canvas> (no library): the x axis is epochs (a batch sits at
// epoch − 1 + batch/batches), training is drawn per batch (raw, faint, and smoothed), validation
// per epoch (dots). Epoch grid lines, the best epoch and the overfitting stretch are marked,
// and earlier runs' validation curves are drawn dashed for comparison.
// The pure helpers (niceTicks, smooth, overfittingSpan) are exported for reuse and testing.

/** Colours come from CSS variables so the legend, the numbers and the charts agree. */
const COLOR_VARIABLES = {
  train: '--train-color',
  val: '--val-color',
  grid: '--chart-grid',
  text: '--chart-text',
  overfit: '--overfit-color',
  best: '--best-color',
};
const FALLBACK_COLORS = {
  train: '#0072b2', val: '#d55e00', grid: '#d8d8e0', text: '#333', overfit: '#cc79a7', best: '#009e73',
};
const PAD = { left: 52, right: 14, top: 22, bottom: 34 };
const FONT = '12px system-ui, sans-serif';

/** About `count` round tick values covering [min, max] (1, 2, 2.5 or 5 × 10ⁿ apart). */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toFixed(10)));
  return { min: lo, max: hi, step, ticks };
}

/** Exponential moving average with TensorBoard's debiasing (the start is not pulled to 0). */
export function smooth(values, weight) {
  let average = 0;
  return values.map((v, i) => {
    average = weight * average + (1 - weight) * v;
    return average / (1 - weight ** (i + 1));
  });
}

/** Relative rise of validation loss over its minimum that counts as real, not noise. */
const OVERFIT_TOLERANCE = 0.02;

/** The stretch [from, to] of epochs after the lowest validation loss in which validation loss
 *  stays clearly above that minimum while training loss is below its value there: the network
 *  keeps fitting the training images but gets worse on new ones. null when there is none.
 *  `history`: the epoch records. */
export function overfittingSpan(history, tolerance = OVERFIT_TOLERANCE) {
  const validated = history.filter((h) => h.valLoss != null);
  if (validated.length < 2) return null;
  const best = validated.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  const worse = validated.filter((h) => h.epoch > best.epoch
    && h.valLoss > best.valLoss * (1 + tolerance) && h.trainLoss < best.trainLoss);
  return worse.length ? [best.epoch, worse[worse.length - 1].epoch] : null;
}

export function chartColors(element) {
  const style = getComputedStyle(element);
  return Object.fromEntries(Object.entries(COLOR_VARIABLES).map(([key, variable]) => [
    key, style.getPropertyValue(variable).trim() || FALLBACK_COLORS[key],
  ]));
}

/** Sizes the canvas backing store to its CSS box × devicePixelRatio; returns the CSS size. */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

/** Round values on a log axis covering [min, max]: 1-2-5 steps, or only powers of ten when
 *  the range spans many decades. `fraction(v)` places a value on the axis (0 = bottom). */
export function logTicks(min, max) {
  const steps = (k) => [1, 2, 5].map((m) => Number((m * 10 ** k).toPrecision(1)));
  const low = Math.max(min, 1e-4);
  const high = Math.max(max, low * 2);
  const all = [];
  for (let k = Math.floor(Math.log10(low)) - 1; k <= Math.ceil(Math.log10(high)); k++) all.push(...steps(k));
  const lo = all.filter((v) => v <= low).at(-1);
  const hi = all.find((v) => v >= high);
  let ticks = all.filter((v) => v >= lo && v <= hi);
  if (ticks.length > 8) {
    // Powers of ten only; over very many decades (a diverging run's loss) every n-th of them.
    const decades = ticks.filter((v) => Number.isInteger(Math.log10(v))).length;
    const every = Math.ceil(decades / 6);
    ticks = ticks.filter((v) => v === lo || v === hi || (Number.isInteger(Math.log10(v)) && Math.log10(v) % every === 0));
  }
  const [a, b] = [Math.log10(lo), Math.log10(hi)];
  return { min: lo, max: hi, ticks, fraction: (v) => (Math.log10(Math.max(v, lo)) - a) / (b - a) };
}

/** The y axis. Loss is drawn on a log scale, so that the early fall from ~2.3 and the late
 *  gap between training and validation (0.03 against 0.05) are both visible. Accuracy zooms
 *  in on the data (but always shows at least 90–100 %). */
function yAxis(metric, values) {
  const finite = values.filter(Number.isFinite);
  if (metric === 'loss') {
    const positive = finite.filter((v) => v > 0);
    return logTicks(positive.length ? Math.min(...positive) : 0.1, positive.length ? Math.max(...positive) : 1);
  }
  const low = finite.length ? Math.min(...finite) : 0;
  const ticks = niceTicks(Math.max(0, Math.min(low, 0.9)), 1, 5);
  return { ...ticks, fraction: (v) => (v - ticks.min) / (ticks.max - ticks.min) };
}

function formatY(metric, value) {
  if (metric === 'accuracy') return `${(value * 100).toFixed(value * 100 % 1 ? 1 : 0)}%`;
  return value >= 1e4 ? value.toExponential(0).replace('+', '') : String(value);
}

/** The values that set the y range: the smoothed training curve after its first quarter
 *  epoch (the first batches of a fresh network would squash the rest), validation, and the
 *  earlier runs. Everything is still drawn; what falls outside is clipped. */
function rangeValues(view, smoothed) {
  const settled = view.train.map(([x], i) => [x, smoothed[i]]).filter(([x]) => x >= 0.25);
  const train = (settled.length ? settled : view.train.map(([x], i) => [x, smoothed[i]])).map(([, v]) => v);
  return [...train, ...view.val.map(([, v]) => v), ...view.compare.flatMap((c) => c.points.map(([, v]) => v))];
}

/** Text with a white outline, readable on top of curves. */
function haloText(ctx, text, x, y, color) {
  ctx.save();
  ctx.lineJoin = 'round';
  ctx.lineWidth = 3;
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.9)';
  ctx.strokeText(text, x, y);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
  ctx.restore();
}

/** At most about `most` evenly spaced points (and always the last): long runs have far more
 *  batches than the chart has pixels, and drawing them all costs main-thread time. */
function thin(points, most) {
  const stride = Math.ceil(points.length / Math.max(1, most));
  return stride <= 1 ? points : points.filter((_, i) => i % stride === 0 || i === points.length - 1);
}

function polyline(ctx, points, toX, toY) {
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(toX(x), toY(y)) : ctx.moveTo(toX(x), toY(y))));
  ctx.stroke();
}

/** Horizontal grid lines with y tick labels, x tick labels under an "epoch" title, and the
 *  y axis title; `epochLines` also draws a vertical line at every x tick. */
export function drawAxes(ctx, { plot, x, y, toX, toY, colors, formatY, yLabel, epochLines = false }) {
  ctx.strokeStyle = colors.grid;
  ctx.fillStyle = colors.text;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of y.ticks) {
    ctx.beginPath();
    ctx.moveTo(plot.left, Math.round(toY(t)) + 0.5);
    ctx.lineTo(plot.right, Math.round(toY(t)) + 0.5);
    ctx.stroke();
    ctx.fillText(formatY(t), plot.left - 6, toY(t));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of x.ticks) {
    if (epochLines) {
      ctx.beginPath();
      ctx.moveTo(Math.round(toX(t)) + 0.5, plot.top);
      ctx.lineTo(Math.round(toX(t)) + 0.5, plot.bottom);
      ctx.stroke();
    }
    ctx.fillText(String(t), toX(t), plot.bottom + 4);
  }
  ctx.fillText('epoch', (plot.left + plot.right) / 2, plot.bottom + 18);
  if (!yLabel) return;
  ctx.save();
  ctx.translate(12, (plot.top + plot.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
}

/**
 * Draws one chart.
 * view = {
 *   metric: 'loss' | 'accuracy',
 *   epochs: planned epochs (x axis length),
 *   train: [[x, value]] per batch (raw), smoothing: 0..1 (EMA weight),
 *   val: [[epoch, value]],
 *   best: epoch | null, overfit: [from, to] | null,
 *   compare: [{label, points: [[epoch, value]]}],
 *   empty: text shown when there is nothing to draw,
 * }
 */
export function drawTrainingChart(canvas, view) {
  const { ctx, width, height } = fitCanvas(canvas);
  const colors = chartColors(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  if (width < PAD.left + PAD.right + 10 || height < PAD.top + PAD.bottom + 10) return;

  const smoothed = smooth(view.train.map(([, v]) => v), view.smoothing);
  const y = yAxis(view.metric, rangeValues(view, smoothed));
  const xMax = Math.max(1, view.epochs, ...view.compare.map((c) => c.points.at(-1)?.[0] ?? 0));
  const x = niceTicks(0, xMax, Math.min(xMax, 10));
  const plot = { left: PAD.left, top: PAD.top, right: width - PAD.right, bottom: height - PAD.bottom };
  const toX = (v) => plot.left + (v / x.max) * (plot.right - plot.left);
  const toY = (v) => plot.bottom - y.fraction(v) * (plot.bottom - plot.top);

  // The overfitting stretch, shaded behind everything.
  if (view.overfit) {
    const [from, to] = view.overfit;
    ctx.fillStyle = colors.overfit;
    ctx.globalAlpha = 0.16;
    ctx.fillRect(toX(from), plot.top, toX(to) - toX(from), plot.bottom - plot.top);
    ctx.globalAlpha = 1;
    // Away from where the validation curve ends up: low on the loss chart, high on accuracy.
    const atTop = view.metric === 'loss';
    ctx.textAlign = 'center';
    ctx.textBaseline = atTop ? 'top' : 'bottom';
    haloText(ctx, 'overfitting', (toX(from) + toX(to)) / 2, atTop ? plot.top + 3 : plot.bottom - 3, colors.text);
  }

  drawAxes(ctx, {
    plot, x, y, toX, toY, colors, epochLines: true,
    formatY: (t) => formatY(view.metric, t),
    yLabel: view.metric === 'loss' ? 'loss (log scale)' : view.metric,
  });

  if (!view.train.length && !view.val.length && !view.compare.length) {
    ctx.textBaseline = 'middle';
    ctx.fillText(view.empty, (plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2);
    return;
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.left, plot.top - 4, plot.right - plot.left, plot.bottom - plot.top + 8);
  ctx.clip();

  // Earlier runs: faint dashed validation curves, labelled at their last point.
  ctx.setLineDash([5, 4]);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = colors.val;
  ctx.globalAlpha = 0.45;
  for (const { points } of view.compare) polyline(ctx, points, toX, toY);
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);

  // Training: every batch faintly, the smoothed curve solid.
  ctx.strokeStyle = colors.train;
  ctx.lineWidth = 1;
  const most = 2 * (plot.right - plot.left);
  ctx.globalAlpha = 0.25;
  polyline(ctx, thin(view.train, most), toX, toY);
  ctx.globalAlpha = 1;
  ctx.lineWidth = 2;
  polyline(ctx, thin(view.train.map(([bx], i) => [bx, smoothed[i]]), most), toX, toY);

  // Validation: one dot per epoch, joined.
  ctx.strokeStyle = ctx.fillStyle = colors.val;
  polyline(ctx, view.val, toX, toY);
  for (const [ex, ev] of view.val) {
    ctx.beginPath();
    ctx.arc(toX(ex), toY(ev), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  // The earlier runs' names, on top of the curves.
  ctx.textAlign = 'right';
  ctx.textBaseline = 'bottom';
  for (const { label, points } of view.compare) {
    const [lx, ly] = points.at(-1) ?? [];
    if (lx !== undefined) haloText(ctx, label, toX(lx) - 3, toY(ly) - 3, colors.text);
  }
  ctx.restore();

  // The best epoch: a ring on its validation point and a labelled line.
  const best = view.val.find(([ex]) => ex === view.best);
  if (best) {
    ctx.strokeStyle = ctx.fillStyle = colors.best;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(toX(best[0]), plot.top);
    ctx.lineTo(toX(best[0]), plot.bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(toX(best[0]), toY(best[1]), 7, 0, 2 * Math.PI);
    ctx.stroke();
    const right = toX(best[0]) > (plot.left + plot.right) / 2;
    ctx.textAlign = right ? 'right' : 'left';
    ctx.textBaseline = 'bottom';
    haloText(ctx, `best: epoch ${best[0]}`, toX(best[0]) + (right ? -4 : 4), plot.top - 3, colors.best);
  }
}
