// Reading real handwriting (issue 15) in Debian's Chromium: the grid of augmented training
// examples, thick-marker and thin-pen drawings, carefully drawn digits in several styles turned
// and resized, the preprocessing steps view, and the robustness report computed in the worker.
// Drawings with another pen than the pad's are drawn on a canvas in the page exactly as the pad
// draws (transparent paper, round dark strokes) and read by the model in use (predictImage),
// the pad's own path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openTrainPage, drawStrokes, setFields, DIGIT_STROKES, screenshotPath } from './harness.mjs';

let env;
let page;
let errors;

before(async () => {
  env = await launch();
  ({ page, errors } = await openTrainPage(env));
});

after(async () => {
  if (env) await env.close();
});

/** Second ways of writing some digits: a 1 with a flag and a base, a 7 with a crossbar, an
 *  open-topped 4, a 9 with a straight stem, a 2 with a loop, a 0 narrower. */
const OTHER_STYLES = {
  0: [[[0.5, 0.12], [0.38, 0.25], [0.36, 0.5], [0.4, 0.78], [0.5, 0.88], [0.6, 0.78], [0.64, 0.5], [0.62, 0.25], [0.5, 0.12]]],
  1: [[[0.38, 0.26], [0.52, 0.12], [0.52, 0.86]], [[0.38, 0.86], [0.66, 0.86]]],
  2: [[[0.28, 0.3], [0.4, 0.16], [0.58, 0.16], [0.68, 0.3], [0.6, 0.48], [0.3, 0.82], [0.44, 0.78], [0.56, 0.86], [0.72, 0.82]]],
  4: [[[0.6, 0.12], [0.28, 0.6], [0.74, 0.6]], [[0.6, 0.12], [0.6, 0.88]]],
  7: [[[0.28, 0.16], [0.72, 0.16], [0.42, 0.88]], [[0.38, 0.52], [0.66, 0.52]]],
  9: [[[0.68, 0.3], [0.56, 0.14], [0.38, 0.18], [0.32, 0.34], [0.44, 0.46], [0.62, 0.42], [0.68, 0.3], [0.68, 0.88]]],
};

/** Reads `strokes` drawn in the page with a pen `width` pad pixels wide (the pad's: 20 of
 *  280), turned by `degrees` and scaled by `scale` about the pad's centre; the digit read. */
function readDrawn(strokes, { width = 20, degrees = 0, scale = 1 } = {}) {
  return page.evaluate(({ strokes, width, degrees, scale }) => {
    const side = 280;
    const canvas = new OffscreenCanvas(side, side);
    const ctx = canvas.getContext('2d');
    const [cos, sin] = [Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180)];
    const at = ([x, y]) => {
      const [dx, dy] = [(x - 0.5) * scale, (y - 0.5) * scale];
      return [(0.5 + cos * dx - sin * dy) * side, (0.5 + sin * dx + cos * dy) * side];
    };
    Object.assign(ctx, { lineCap: 'round', lineJoin: 'round', lineWidth: width, strokeStyle: '#1b1d29' });
    for (const stroke of strokes) {
      ctx.beginPath();
      stroke.forEach((p, i) => (i ? ctx.lineTo(...at(p)) : ctx.moveTo(...at(p))));
      ctx.stroke();
    }
    const image = ctx.getImageData(0, 0, side, side);
    return window.digitlens.hub.recognizer.predictImage(image.data, side, side).digit;
  }, { strokes, width, degrees, scale });
}

test('the Train area shows a grid of augmented training examples that follows the settings', async () => {
  const grid = page.locator('#augment-grid');
  await grid.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.querySelector('#augment-grid').dataset.shown === '60', null, { timeout: 30_000 });
  const pixels = () => grid.evaluate((c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)));
  const shiftsOnly = await pixels();
  const ink = shiftsOnly.filter((v) => v < 128).length;
  assert.ok(ink > 0.05 * shiftsOnly.length, `the grid shows digits (${ink} dark pixels)`);
  // Stronger distortions change what the grid shows.
  await setFields(page, { '#train-aug-rotation': 15, '#train-aug-scale': 0.2, '#train-aug-thickness': 1 });
  await page.locator('#train-aug-thickness').dispatchEvent('change');
  await page.waitForFunction((before) => {
    const c = document.querySelector('#augment-grid');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let differ = 0;
    for (let i = 0; i < data.length; i += 4) differ += data[i] !== before[i / 4];
    return differ > 1000;
  }, shiftsOnly, { timeout: 10_000 });
  await grid.screenshot({ path: screenshotPath('augment-grid.png') });
  // The form hands the settings to training.
  const config = await page.evaluate(async () => (await import('./ui/train.js')).readSettings(document.querySelector('.train-settings')).config);
  assert.deepEqual({ rotation: config.augmentation.rotation, thickness: config.augmentation.thickness }, { rotation: 15, thickness: 1 });
  await page.click('#train-defaults');
  assert.equal(await page.inputValue('#train-aug-rotation'), '0');
});

test('a thick-marker and a thin-pen drawing of the same digit are both read correctly', async () => {
  const misread = [];
  for (const [digit, strokes] of Object.entries(DIGIT_STROKES)) {
    for (const width of [6, 38]) {
      const read = await readDrawn(strokes, { width });
      if (String(read) !== digit) misread.push(`${digit} with a ${width}-px pen read as ${read}`);
    }
  }
  assert.deepEqual(misread, []);
});

test('carefully drawn digits in several styles, turned ±12° and 0.6–0.95 of the pad, are read correctly', async () => {
  const styles = Object.entries(DIGIT_STROKES).flatMap(([digit, strokes]) => [[digit, strokes], ...(OTHER_STYLES[digit] ? [[digit, OTHER_STYLES[digit]]] : [])]);
  const misread = [];
  for (const [digit, strokes] of styles) {
    for (const degrees of [-12, 0, 12]) {
      for (const scale of [0.6, 0.8, 0.95]) {
        const read = await readDrawn(strokes, { degrees, scale: scale / 0.76 });
        if (String(read) !== digit) misread.push(`${digit} turned ${degrees}°, ${scale} of the pad: ${read}`);
      }
    }
  }
  assert.deepEqual(misread, [], `${misread.length} of ${styles.length * 9} misread`);
});

test('the pad draws a digit and "what it sees" shows each preprocessing step, switchable', async () => {
  await page.locator('#pad').scrollIntoViewIfNeeded();
  await page.click('#clear');
  await drawStrokes(page, OTHER_STYLES[1]);
  await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit === '1', null, { timeout: 15_000 });
  const steps = page.locator('#preprocess-steps');
  assert.equal(await steps.getAttribute('data-steps'), 'centred');
  await page.check('#step-deslant');
  await page.check('#step-stroke');
  await page.waitForFunction(() => document.querySelector('#preprocess-steps').dataset.steps === 'centred deslanted stroke');
  assert.equal(await page.locator('#prediction').getAttribute('data-digit'), '1');
  await steps.screenshot({ path: screenshotPath('preprocess-steps.png') });
  await page.uncheck('#step-deslant');
  await page.uncheck('#step-stroke');
  assert.equal(await page.evaluate(() => window.digitlens.hub.preprocessing), null);
});

test('the robustness report of the model in use is computed in the worker, with progress', async () => {
  const card = page.locator('#robustness');
  await card.scrollIntoViewIfNeeded();
  await page.click('#robustness-run');
  await page.waitForFunction(() => document.querySelector('#robustness').dataset.state === 'done', null, { timeout: 120_000 });
  const rows = await page.locator('#robustness-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({ name: tr.dataset.name, accuracy: Number(tr.dataset.accuracy) })));
  assert.equal(rows.length, 13, JSON.stringify(rows));
  assert.equal(rows[0].name, 'clean');
  assert.ok(rows.every((r) => r.accuracy >= 0 && r.accuracy <= 1));
  // 20 test digits per digit of each condition: the shipped model reads nearly all clean ones.
  assert.ok(rows[0].accuracy >= 0.95, `clean ${rows[0].accuracy}`);
  assert.match(await page.locator('#robustness-status').textContent(), /first 20 test digits/);
  await card.screenshot({ path: screenshotPath('robustness-report.png') });
  assert.deepEqual(errors, []);
});
