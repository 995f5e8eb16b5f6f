// "Draw a digit and look inside" (issue 4) and the page shell's layout (issue 8), in Debian's
// Chromium: drawing with the mouse and with touch, live prediction, activation tiles per
// channel, receptive fields, filters, undo/clear, the error banner, following model changes,
// the update time per drawing, and the layout at 360, 768 and 1440 px (screenshots in
// tests/e2e/artifacts/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath } from './harness.mjs';

let env;
let page;
let errors;

before(async () => {
  env = await launch();
  ({ page, errors } = await openPage(env.browser, env.url, { viewport: { width: 1440, height: 900 } }));
});

after(async () => {
  if (env) await env.close();
});

const prediction = () => page.locator('#prediction');

async function clearPad() {
  await page.click('#clear');
  assert.equal(await prediction().getAttribute('data-digit'), '');
}

/** The model's summary and its spatial layers, read in the page. */
async function modelLayers() {
  return page.evaluate(() => {
    const s = window.digitlens.hub.recognizer.summary();
    return s.layers.map((l) => ({ name: l.name, output: l.output, rf: l.receptive_field }));
  });
}

/** Moves the mouse over cell (row, col) of channel `channel` of a layer's tiles. */
async function hoverCell(layer, channel, row, col) {
  const tile = page.locator(`[data-layer="${layer}"] canvas.tile`).nth(channel);
  await tile.scrollIntoViewIfNeeded();
  const [h, w] = await tile.evaluate((c) => [c.height, c.width]);
  const box = await tile.boundingBox();
  await page.mouse.move(box.x + ((col + 0.5) * box.width) / w, box.y + ((row + 0.5) * box.height) / h);
}

test('an empty pad gives no prediction, a speck of ink neither', async () => {
  assert.equal(await prediction().getAttribute('data-digit'), '');
  assert.match(await prediction().textContent(), /draw a digit/i);
  // A single dot is not a digit.
  const box = await page.locator('#pad').boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  assert.equal(await prediction().getAttribute('data-digit'), '');
  await clearPad();
});

test('drawn digits are read correctly', async () => {
  for (const digit of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
    await clearPad();
    await drawStrokes(page, DIGIT_STROKES[digit]);
    await page.waitForFunction((d) => document.querySelector('#prediction').dataset.digit === String(d), digit, { timeout: 3000 }).catch(() => {});
    const got = await prediction().getAttribute('data-digit');
    const confidence = Number(await prediction().getAttribute('data-confidence'));
    assert.equal(got, String(digit), `drew ${digit}, the page read ${got}`);
    assert.ok(confidence > 0.5 && confidence <= 1, `confidence ${confidence}`);
    // The big digit and the top bar agree with the hook.
    assert.equal((await page.locator('#pred-digit').textContent()).trim(), String(digit));
    assert.equal(await page.locator('#probabilities li.top').getAttribute('data-digit'), String(digit));
  }
  await page.screenshot({ path: screenshotPath('draw-9-1440.png') });
});

test('the prediction is live while drawing, before the stroke ends', async () => {
  await clearPad();
  const box = await page.locator('#pad').boundingBox();
  const at = (x, y) => [box.x + x * box.width, box.y + y * box.height];
  await page.mouse.move(...at(0.5, 0.12));
  await page.mouse.down();
  for (let i = 1; i <= 30; i++) await page.mouse.move(...at(0.5, 0.12 + (0.76 * i) / 30));
  await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '', null, { timeout: 2000 });
  const during = await prediction().getAttribute('data-digit');
  await page.mouse.up();
  assert.equal(during, '1');
  assert.equal(await prediction().getAttribute('data-digit'), '1');
});

test('the 28×28 input the model saw is shown', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[7]);
  const ink = await page.locator('#input28').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
    let dark = 0;
    let rows = new Set();
    for (let i = 0; i < 784; i++) if (d[i * 4] < 128) { dark++; rows.add(Math.floor(i / 28)); }
    return { dark, top: Math.min(...rows), bottom: Math.max(...rows) };
  });
  // MNIST style: the digit's longer side is fitted into 20 px (then centred by its mass).
  assert.ok(ink.dark > 20, `dark pixels: ${ink.dark}`);
  const rows = ink.bottom - ink.top + 1;
  assert.ok(rows >= 17 && rows <= 21, `ink rows ${ink.top}..${ink.bottom}`);
});

test('a reading fills a reused activations buffer with exactly what a fresh one holds', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[3]);
  const r = await page.evaluate(() => {
    const { hub, draw } = window.digitlens;
    const recognizer = hub.recognizer;
    const img = draw.pad.imageData();
    const buffer = new Float32Array(recognizer.activationCount).fill(NaN);
    const fresh = recognizer.predictImage(img.data, img.width, img.height);
    const into = recognizer.predictImage(img.data, img.width, img.height, buffer);
    const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    const sameLayers = (a, b) => a.layers.length === b.layers.length &&
      a.layers.every((l, i) => l.name === b.layers[i].name && same(l.activations, b.layers[i].activations));
    const sameValues = sameLayers(fresh, into);
    const before = [...into.layers.at(-1).activations];
    // Another image into the same buffer: the earlier result's views now show the new values.
    const other = recognizer.predict28(new Float32Array(784).fill(0.3), buffer);
    let wrongSize = '';
    try { recognizer.predictImage(img.data, img.width, img.height, new Float32Array(7)); } catch (e) { wrongSize = e.message; }
    return {
      count: recognizer.activationCount,
      total: fresh.layers.reduce((n, l) => n + l.activations.length, 0),
      digits: [fresh.digit, into.digit],
      sameValues,
      views: into.layers.every((l) => l.activations.buffer === buffer.buffer),
      refilled: same(into.layers.at(-1).activations, other.layers.at(-1).activations) && !same(before, other.layers.at(-1).activations),
      wrongSize,
    };
  });
  assert.equal(r.total, r.count, 'activationCount is the size of every layer together');
  assert.equal(r.digits[0], 3);
  assert.equal(r.digits[1], 3);
  assert.ok(r.sameValues, 'the buffer holds the fresh reading\'s values, layer by layer');
  assert.ok(r.views, 'every layer is a view into the given buffer');
  assert.ok(r.refilled, 'the next reading refills the buffer');
  assert.match(r.wrongSize, /activations buffer holds 7 values; this model's layers give \d+ \(see activationCount\)/);
});

test('one activation tile per channel for every spatial layer, bars for dense layers', async () => {
  const layers = await modelLayers();
  const spatial = layers.filter((l) => typeof l.output === 'object');
  const groups = await page.$$eval('[data-layer]', (els) =>
    els.map((e) => ({ name: e.dataset.layer, tiles: e.querySelectorAll('canvas.tile').length, title: e.querySelector('.layer-title')?.textContent })),
  );
  const names = groups.map((g) => g.name);
  assert.deepEqual(names, ['conv1', 'conv1.relu', 'pool1', 'conv2', 'conv2.relu', 'pool2', 'dense1', 'dense2']);
  for (const g of groups) {
    const base = layers.find((l) => l.name === g.name.split('.')[0]);
    if (typeof base.output === 'object') {
      const { channels, height, width } = base.output;
      assert.equal(g.tiles, channels, `${g.name}: ${g.tiles} tiles for ${channels} channels`);
      assert.equal(g.title.replace(/\s+/g, ' ').trim(), `${g.name} · ${channels} × ${height} × ${width}`);
    } else {
      assert.equal(g.tiles, 0);
      assert.equal(await page.locator(`[data-layer="${g.name}"] canvas.bars`).count(), 1);
    }
  }
  assert.equal(spatial.length, 4); // conv1, pool1, conv2, pool2
  // The maps are painted: a conv1.relu tile is not blank after drawing.
  await drawStrokes(page, DIGIT_STROKES[3]);
  const colours = await page.locator('[data-layer="conv1.relu"] canvas.tile').first().evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const set = new Set();
    for (let i = 0; i < d.length; i += 4) set.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return set.size;
  });
  assert.ok(colours > 5, `a painted map has many colours, got ${colours}`);
});

test('hovering a cell shows its exact receptive field on the input', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[8]);
  const layers = await modelLayers();
  const view = await page.locator('#input-view').boundingBox();
  const cases = [
    ['conv1', 3, 10, 12],
    ['conv1.relu', 3, 0, 0],
    ['pool1', 4, 6, 5],
    ['conv2', 8, 4, 7],
    ['pool2', 10, 2, 3],
  ];
  for (const [layer, size, row, col] of cases) {
    await hoverCell(layer, 2, row, col);
    const rf = page.locator('#receptive-field');
    assert.equal(await rf.getAttribute('data-cell-layer'), layer);
    assert.equal(await rf.getAttribute('data-size'), String(size), `${layer} receptive field`);
    const field = layers.find((l) => l.name === layer.split('.')[0]).rf;
    const from = (i) => Math.max(0, field.start + i * field.jump);
    const to = (i) => Math.min(28, field.start + i * field.jump + field.size) - 1;
    assert.equal(await rf.getAttribute('data-rows'), `${from(row)}-${to(row)}`);
    assert.equal(await rf.getAttribute('data-cols'), `${from(col)}-${to(col)}`);
    assert.match(await rf.textContent(), new RegExp(`${layer.replace('.', '\\.')} cell \\(${row}, ${col}\\) sees input rows ${from(row)}–${to(row)}, cols ${from(col)}–${to(col)}: ${size} × ${size} px`));
    // The highlight box covers exactly those pixels of the enlarged input.
    const box = await page.locator('#rf-box').boundingBox();
    const px = view.width / 28;
    assert.ok(Math.abs(box.width - size * px) < 1.5, `${layer}: box ${box.width} px for ${size} cells of ${px}`);
    assert.ok(Math.abs(box.x - (view.x + from(col) * px)) < 1.5, `${layer}: box starts at column ${from(col)}`);
    if (layer === 'conv2') await page.screenshot({ path: screenshotPath('receptive-field-conv2.png') });
  }
});

test('clicking a channel enlarges it with values on hover', async () => {
  const tile = page.locator('[data-layer="conv2.relu"] canvas.tile').nth(5);
  await tile.scrollIntoViewIfNeeded();
  await tile.click();
  const detail = page.locator('#channel-detail');
  assert.ok(await detail.isVisible());
  assert.match(await detail.locator('.detail-title').textContent(), /conv2\.relu · channel 6 of 64 · 11 × 11/);
  const canvas = detail.locator('canvas.detail-canvas');
  const box = await canvas.boundingBox();
  assert.ok(box.width >= 150, `enlarged to ${box.width} px`);
  await page.mouse.move(box.x + box.width * (7.5 / 11), box.y + box.height * (4.5 / 11));
  assert.match(await page.locator('#detail-readout').textContent(), /^row 4, col 7: -?[\d.e+-]+$/);
  assert.equal(await page.locator('#receptive-field').getAttribute('data-size'), '8');
  // The filter that made it: one 3×3 slice per input map of conv2 (32).
  assert.equal(await detail.locator('.kernel-strip canvas').count(), 32);
  await page.screenshot({ path: screenshotPath('channel-detail.png') });
  await detail.getByRole('button', { name: 'Close the enlarged channel' }).click();
  assert.ok(!(await detail.isVisible()));
});

test('keyboard: one tab stop per layer, arrows move between channels, Enter enlarges', async () => {
  const tiles = page.locator('[data-layer="pool1"] canvas.tile');
  assert.equal(await page.locator('[data-layer="pool1"] canvas.tile[tabindex="0"]').count(), 1);
  await tiles.first().focus();
  // Focus shows the receptive field of the map's centre cell.
  assert.equal(await page.locator('#receptive-field').getAttribute('data-size'), '4');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.channel), '1');
  await page.keyboard.press('Enter');
  assert.match(await page.locator('#channel-detail .detail-title').textContent(), /pool1 · channel 2 of 32/);
  await page.locator('#channel-detail').getByRole('button', { name: 'Next channel' }).focus();
  await page.keyboard.press('Escape');
  assert.ok(!(await page.locator('#channel-detail').isVisible()));
  assert.equal(await page.evaluate(() => document.activeElement.dataset.channel), '1');
});

test('filters: the first layer as 3×3 images, deeper layers per input map', async () => {
  const grid = page.locator('#filter-grid');
  assert.equal(await grid.locator('canvas').count(), 32);
  assert.deepEqual(await grid.locator('canvas').first().evaluate((c) => [c.width, c.height]), [3, 3]);
  assert.ok(!(await page.locator('#filter-channel').isVisible()));
  await page.selectOption('#filter-layer', 'conv2');
  assert.equal(await grid.locator('canvas').count(), 64);
  assert.ok(await page.locator('#filter-channel').isVisible());
  const before = await grid.locator('canvas').first().evaluate((c) => c.toDataURL());
  await page.selectOption('#filter-channel', '3');
  const after = await grid.locator('canvas').first().evaluate((c) => c.toDataURL());
  assert.notEqual(before, after, 'another input map shows other weights');
  await page.selectOption('#filter-layer', 'conv1');
});

test('undo removes the last stroke; clear and the keyboard shortcuts empty the pad', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[4]);
  assert.equal(await prediction().getAttribute('data-digit'), '4');
  await page.click('#undo');
  const strokes = await page.evaluate(() => window.digitlens.draw.pad.strokes.length);
  assert.equal(strokes, 1);
  await drawStrokes(page, [DIGIT_STROKES[4][1]]);
  assert.equal(await prediction().getAttribute('data-digit'), '4');
  await page.keyboard.press('Control+z');
  assert.equal(await page.evaluate(() => window.digitlens.draw.pad.strokes.length), 1);
  await page.keyboard.press('Delete');
  assert.equal(await prediction().getAttribute('data-digit'), '');
  assert.equal(await page.evaluate(() => window.digitlens.draw.pad.strokes.length), 0);
  // The pad's pixels are really cleared.
  const inked = await page.locator('#pad').evaluate((c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0));
  assert.equal(inked, false);
  await drawStrokes(page, DIGIT_STROKES[7]);
  await page.click('#clear');
  assert.equal(await prediction().getAttribute('data-digit'), '');
  assert.equal(await prediction().getAttribute('data-confidence'), '0');
});

test('an update (prediction + every map) fits in an animation frame', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[5]);
  await page.waitForTimeout(500);
  // One update per animation frame, as while drawing fast; read back what each one took.
  const rows = await page.evaluate(async () => {
    const { draw } = window.digitlens;
    const el = document.getElementById('update-time');
    const out = [];
    let last = performance.now();
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      draw.recognize();
      out.push({ total: +el.dataset.ms, predict: +el.dataset.predict, render: +el.dataset.render, frame: now - last });
      last = now;
    }
    return out.slice(1);
  });
  const median = (k) => rows.map((r) => r[k]).sort((x, y) => x - y)[rows.length >> 1];
  const m = { predict: median('predict'), render: median('render'), total: median('total'), frame: median('frame') };
  console.log(
    `# update ms (median of ${rows.length}): read ${m.predict.toFixed(2)} + draw ${m.render.toFixed(2)} = ${m.total.toFixed(2)};` +
      ` frame interval ${m.frame.toFixed(1)} ms`,
  );
  assert.ok(m.total < 16.7, `median update ${m.total} ms exceeds a 60 Hz frame`);
  assert.match(await page.locator('#update-time').textContent(), /^update [\d.]+ ms$/);
});

test('the views follow the model in use: dense has no maps, cnn3 has three conv layers', async () => {
  await clearPad();
  await drawStrokes(page, DIGIT_STROKES[2]);
  await page.evaluate(() => {
    const { hub, wasm } = window.digitlens;
    const arch = JSON.stringify(wasm.presetArchitecture('dense'));
    hub.setModel(wasm.Recognizer.fromArchitecture(arch, 7), { source: 'trained', label: 'untrained dense (test)' });
  });
  assert.ok(await page.locator('#maps-empty').isVisible());
  assert.match(await page.locator('#maps-empty').textContent(), /no convolution layers, so there are no maps to show/);
  assert.equal(await page.locator('[data-layer] canvas.tile').count(), 0);
  assert.deepEqual(await page.$$eval('[data-layer]', (e) => e.map((x) => x.dataset.layer)), ['dense1', 'dense2']);
  assert.notEqual(await prediction().getAttribute('data-digit'), '', 're-predicted the drawing with the new model');
  assert.match(await page.locator('#filters').textContent(), /no convolution layers/);
  await page.screenshot({ path: screenshotPath('dense-preset.png') });

  await page.evaluate(() => {
    const { hub, wasm } = window.digitlens;
    const arch = JSON.stringify(wasm.presetArchitecture('cnn3'));
    hub.setModel(wasm.Recognizer.fromArchitecture(arch, 7), { source: 'trained', label: 'untrained cnn3 (test)' });
  });
  assert.equal(await page.locator('[data-layer="conv3"] canvas.tile').count(), 64);
  assert.equal(await page.locator('[data-layer="pool3"] canvas.tile').count(), 64);
  await hoverCell('conv3', 0, 1, 1);
  assert.equal(await page.locator('#receptive-field').getAttribute('data-size'), '18');
  assert.equal(await page.locator('#filter-layer option').count(), 3);

  await page.evaluate(() => {
    const { hub, wasm } = window.digitlens;
    hub.setModel(wasm.Recognizer.pretrained(), { source: 'pretrained', label: 'pretrained (model/)' });
  });
  assert.equal(await page.locator('[data-layer="conv3"]').count(), 0);
  assert.equal(await prediction().getAttribute('data-digit'), '2');
});

test('errors appear in one dismissible banner', async () => {
  const banner = page.locator('#error-banner');
  await page.evaluate(() => window.digitlens.hub.error('Training stopped: the worker crashed.', 'Press Train to start again.'));
  assert.ok(await banner.isVisible());
  assert.match(await banner.textContent(), /Training stopped: the worker crashed\.\s*Press Train to start again\./);
  await page.evaluate(() => {
    Promise.reject(new Error('an unhandled failure'));
  });
  await page.waitForFunction(() => /an unhandled failure/.test(document.getElementById('error-banner').textContent));
  await page.click('#error-dismiss');
  assert.ok(!(await banner.isVisible()));
});

test('layout: nothing clipped or overflowing at 360, 768 and 1440 px', async () => {
  for (const [width, height] of [[360, 740], [768, 1024], [1440, 900]]) {
    const { context, page: p, errors: errs } = await openPage(env.browser, env.url, { viewport: { width, height } });
    await drawStrokes(p, DIGIT_STROKES[3]);
    assert.equal(await p.locator('#prediction').getAttribute('data-digit'), '3');
    const report = await p.evaluate(() => {
      const vw = document.documentElement.clientWidth;
      const out = { overflow: document.documentElement.scrollWidth - vw, outside: [] };
      for (const el of document.querySelectorAll('#area-draw *, #area-inside .inside-controls *, .topbar *')) {
        const r = el.getBoundingClientRect();
        if (r.width && (r.right > vw + 0.5 || r.left < -0.5)) out.outside.push(`${el.tagName}.${el.className}#${el.id} ${r.left.toFixed(0)}..${r.right.toFixed(0)}`);
      }
      const pad = document.getElementById('pad').getBoundingClientRect();
      out.pad = [pad.width, pad.height];
      return out;
    });
    assert.equal(report.overflow, 0, `page scrolls sideways at ${width}px`);
    assert.deepEqual(report.outside, [], `elements outside the viewport at ${width}px`);
    assert.ok(report.pad[0] >= 280 && report.pad[0] === report.pad[1], `pad ${report.pad} at ${width}px`);
    await p.screenshot({ path: screenshotPath(`page-${width}.png`) });
    await p.screenshot({ path: screenshotPath(`page-${width}-full.png`), fullPage: true });
    assert.deepEqual(errs, []);
    await context.close();
  }
});

test('the pad stays in view while scrolling to Train on a wide screen', async () => {
  await page.locator('#area-train').scrollIntoViewIfNeeded();
  await page.waitForTimeout(100);
  const pad = await page.locator('#pad').boundingBox();
  const pred = await page.locator('#prediction').boundingBox();
  assert.ok(pad.y >= 0 && pad.y + pad.height <= 900, `pad at y=${pad.y}`);
  assert.ok(pred.y >= 0 && pred.y + pred.height <= 900, `prediction at y=${pred.y}`);
  await page.screenshot({ path: screenshotPath('train-with-pad-1440.png') });
  await page.evaluate(() => window.scrollTo(0, 0));
});

test('touch drawing on a phone: reads the digit and does not scroll the page', async () => {
  const { context, page: p } = await openPage(env.browser, env.url, {
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
  });
  const pad = p.locator('#pad');
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  const scrollBefore = await p.evaluate(() => window.scrollY);
  const cdp = await context.newCDPSession(p);
  const touch = (type, x, y) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x: box.x + x * box.width, y: box.y + y * box.height }] });
  for (const stroke of DIGIT_STROKES[7]) {
    await touch('touchStart', ...stroke[0]);
    for (let i = 1; i < stroke.length; i++) {
      const [x0, y0] = stroke[i - 1];
      const [x1, y1] = stroke[i];
      for (let s = 1; s <= 12; s++) await touch('touchMove', x0 + ((x1 - x0) * s) / 12, y0 + ((y1 - y0) * s) / 12);
    }
    await touch('touchEnd');
  }
  await p.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '');
  assert.equal(await p.locator('#prediction').getAttribute('data-digit'), '7');
  assert.equal(await p.evaluate(() => window.scrollY), scrollBefore, 'drawing must not scroll the page');
  // High-DPI: the backing store follows devicePixelRatio.
  const [cw, css] = await pad.evaluate((c) => [c.width, c.getBoundingClientRect().width]);
  assert.equal(cw, Math.round(css * 3));
  await p.screenshot({ path: screenshotPath('touch-360.png') });
  await context.close();
});

test('no uncaught errors on the page (besides the one the banner test provoked)', () => {
  assert.deepEqual(errors.filter((e) => !/an unhandled failure/.test(e)), []);
});
