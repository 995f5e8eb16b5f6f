// Side by side: the last few training runs (from the Train panel's hub.runs and 'run' events)
// in a table, and their validation-accuracy curves overlaid on one chart, so "dense ≈ 97–98 %
// vs CNN ≈ 99 %" is visible after two runs.
import { el, grouped, kilobytes, percent, duration } from './lab-common.js';
import { drawAxes, fitCanvas, niceTicks } from './charts.js';

/** Runs shown. */
const SHOWN = 5;
/** Okabe–Ito colours: distinguishable with every common colour-vision deficiency. */
const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00'];
const PAD = { left: 48, right: 12, top: 12, bottom: 30 };

/** [[epoch, validation accuracy]] of a run. */
export function validationCurve(run) {
  return (run.history ?? []).filter((h) => h.valAccuracy != null).map((h) => [h.epoch, h.valAccuracy]);
}

/** Draws every run's validation-accuracy curve on `canvas` (CSS-sized, sharp on HiDPI). */
export function drawComparison(canvas, runs) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  const style = getComputedStyle(canvas);
  const colors = { text: style.color, grid: style.getPropertyValue('--line').trim() || '#e1e3ec' };
  ctx.font = '12px system-ui, sans-serif';
  const curves = runs.map(validationCurve);
  const values = curves.flat().map(([, v]) => v);
  const y = niceTicks(values.length ? Math.min(0.9, ...values) : 0.9, 1, 4);
  const epochs = Math.max(1, ...curves.flat().map(([e]) => e));
  const x = niceTicks(0, epochs, Math.min(epochs, 8));
  const plot = { left: PAD.left, top: PAD.top, right: width - PAD.right, bottom: height - PAD.bottom };
  const toX = (v) => plot.left + (v / x.max) * (plot.right - plot.left);
  const toY = (v) => plot.bottom - ((Math.max(v, y.min) - y.min) / (y.max - y.min)) * (plot.bottom - plot.top);
  drawAxes(ctx, { plot, x, y, toX, toY, colors, formatY: (t) => `${+(t * 100).toFixed(1)}%` });
  if (!values.length) {
    ctx.textBaseline = 'middle';
    ctx.fillText('Validation accuracy of each run appears here', (plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2);
    return;
  }
  curves.forEach((points, i) => {
    ctx.strokeStyle = ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(([e, v], k) => (k ? ctx.lineTo(toX(e), toY(v)) : ctx.moveTo(toX(e), toY(v))));
    ctx.stroke();
    for (const [e, v] of points) {
      ctx.beginPath();
      ctx.arc(toX(e), toY(v), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  });
}

export function mountCompare(section, hub) {
  const body = el('tbody');
  const table = el('table', { className: 'data lab-runs' },
    el('thead', {}, el('tr', {}, ['Run', 'Params', 'Size', 'Train time', 'Best val. accuracy', 'Test accuracy'].map((h) => el('th', { scope: 'col' }, h)))),
    body);
  const empty = el('p', { className: 'muted lab-runs-empty' }, 'No runs yet. Train two models in the Train area (for example dense, then cnn) to compare them here.');
  const canvas = el('canvas', { className: 'lab-compare-chart', role: 'img', 'aria-label': 'Validation accuracy per epoch of the runs in the table' });
  section.append(
    el('h3', {}, 'Compare runs'),
    empty,
    el('div', { className: 'lab-compare-body' }, el('div', { className: 'table-scroll' }, table), canvas),
  );

  const shown = () => (hub.runs ?? []).slice(-SHOWN);

  function render() {
    const runs = shown();
    empty.hidden = runs.length > 0;
    table.hidden = runs.length === 0;
    body.replaceChildren(...runs.map((run, i) => el('tr', { dataset: { run: String(i) } },
      el('td', {}, el('span', { className: 'lab-swatch', 'aria-hidden': 'true' }), run.label ?? run.architecture?.name ?? 'run'),
      el('td', {}, run.params != null ? grouped(run.params) : '–'),
      el('td', {}, run.weightBytes != null ? kilobytes(run.weightBytes) : '–'),
      el('td', {}, duration(run.trainSeconds)),
      el('td', {}, percent(run.bestValAccuracy)),
      el('td', {}, percent(run.testAccuracy)))));
    // Swatches share the chart's colours; set from JS because the page's CSP forbids style="".
    body.querySelectorAll('.lab-swatch').forEach((swatch, i) => { swatch.style.background = COLORS[i % COLORS.length]; });
    drawComparison(canvas, runs);
  }

  hub.addEventListener('run', render);
  new ResizeObserver(() => drawComparison(canvas, shown())).observe(canvas);
  render();
}
