// "Why this digit?" (issue 14) in Debian's Chromium: the map appears over the 28 × 28 input
// and the pad, follows the target and contrast pickers, the slow methods run in a worker
// without long tasks on the main thread while drawing, and Grad-CAM says so for a stack
// without conv layers. Screenshots in tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath } from './harness.mjs';

let env;
let page;
let errors;

before(async () => {
  env = await launch();
  ({ page, errors } = await openPage(env.browser, env.url, { viewport: { width: 1440, height: 1000 } }));
});

after(async () => {
  if (env) await env.close();
});

const status = () => page.evaluate(() => ({ ...document.querySelector('#why-status').dataset, text: document.querySelector('#why-status').textContent }));

/** The overlay's pixels (RGBA of the 28×28 canvas) and how many are not transparent. */
const overlay = () => page.evaluate(() => {
  const c = document.querySelector('#why-map-input');
  const data = Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data);
  let red = 0;
  let blue = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 40 && data[i] > data[i + 2]) red++;
    if (data[i + 3] > 40 && data[i + 2] > data[i]) blue++;
  }
  return { data, red, blue };
});

const padOverlayInk = () => page.evaluate(() => {
  const c = document.querySelector('#why-map-pad');
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let shown = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 40) shown++;
  return shown;
});

async function setMethod(name) {
  await page.check(`input[name="why-method"][value="${name}"]`);
}

async function waitReady(method, extra = {}) {
  await page.waitForFunction(
    ({ method, extra }) => {
      const d = document.querySelector('#why-status').dataset;
      return d.state === 'ready' && d.method === method && Object.entries(extra).every(([k, v]) => d[k] === String(v));
    },
    { method, extra },
    { timeout: 20_000 },
  );
}

test('the map appears over the input and the pad, and follows the target and contrast pickers', async () => {
  await page.click('#clear');
  await drawStrokes(page, DIGIT_STROKES[7]);
  await waitReady('gradient', { target: 7 });
  const seven = await overlay();
  assert.ok(seven.red > 10, `red pixels for 7: ${seven.red}`);
  assert.ok(await padOverlayInk() > 1000, 'the map is painted over the pad');
  assert.match(await page.textContent('#why-sentence'), /towards 7/);
  assert.ok(Number(await page.textContent('#why-range')) > 0 || /e/.test(await page.textContent('#why-range')));
  await page.locator('#area-why').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('explain-gradient-7.png') });

  // Another target: a different map, and the sentence names it.
  await page.selectOption('#why-target', '1');
  await waitReady('gradient', { target: 1 });
  const one = await overlay();
  assert.notDeepEqual(one.data, seven.data, 'the map changes with the target');
  assert.match(await page.textContent('#why-sentence'), /towards 1|No part/);

  // A contrast: why 7 rather than 1 — the map is the target's minus the other's.
  await page.selectOption('#why-target', '7');
  await page.selectOption('#why-versus', '1');
  await waitReady('gradient', { target: 7, versus: 1 });
  const contrast = await overlay();
  assert.notDeepEqual(contrast.data, seven.data, 'the contrast changes the map');
  assert.match(await page.textContent('#why-away'), /towards 1/);
  const consistent = await page.evaluate(() => {
    const m = window.digitlens.hub.recognizer;
    const img = window.digitlens.draw.pad.imageData();
    const map = (o) => m.explain(img.data, img.width, img.height, o).map;
    const [both, t, v] = [map({ method: 'gradient', target: 7, versus: 1 }), map({ method: 'gradient', target: 7 }), map({ method: 'gradient', target: 1 })];
    let worst = 0;
    let range = 0;
    for (let i = 0; i < 784; i++) {
      worst = Math.max(worst, Math.abs(both[i] - (t[i] - v[i])));
      range = Math.max(range, Math.abs(both[i]));
    }
    return worst <= 1e-4 * range;
  });
  assert.ok(consistent, 'map(7 vs 1) = map(7) − map(1)');
  await page.screenshot({ path: screenshotPath('explain-contrast-7-vs-1.png') });

  // Contrast with itself is refused with a clear message, not a crash.
  await page.selectOption('#why-versus', '7');
  await page.waitForFunction(() => document.querySelector('#why-status').dataset.state === 'error');
  assert.match((await status()).text, /another digit/);
  await page.selectOption('#why-versus', '');
  await page.selectOption('#why-target', '');
  await waitReady('gradient', { target: 7, versus: '' });

  // Every method gives a map over this drawing.
  for (const method of ['gradcam', 'integrated', 'occlusion']) {
    await setMethod(method);
    await waitReady(method, { target: 7 });
    const o = await overlay();
    assert.ok(o.red + o.blue > 10, `${method}: ${o.red} red, ${o.blue} blue`);
    await page.screenshot({ path: screenshotPath(`explain-${method}-7.png`) });
  }
  assert.match((await status()).text, /Occlusion/);
  assert.deepEqual(errors, []);
});

test('drawing stays smooth while occlusion runs: it never blocks the main thread', async () => {
  await setMethod('occlusion');
  await page.click('#clear');
  await page.evaluate(() => {
    performance.clearMeasures();
    window.longTasks = [];
    new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => ({ start: e.startTime, end: e.startTime + e.duration })))).observe({ type: 'longtask' });
  });
  // Strokes one after another: each end starts an occlusion in the worker while the next stroke is drawn.
  for (const digit of [4, 9, 4, 9]) {
    await page.click('#clear');
    await drawStrokes(page, DIGIT_STROKES[digit]);
  }
  await waitReady('occlusion', { target: 9 });
  const { work, longTasks } = await page.evaluate(() => ({
    work: performance.getEntriesByType('measure').filter((m) => m.name.startsWith('explain:')).map((m) => ({ name: m.name, start: m.startTime, end: m.startTime + m.duration })),
    longTasks: window.longTasks,
  }));
  // The occlusions were asked for (once per stroke end at most) and shown, never computed here.
  assert.ok(work.some((w) => w.name === 'explain:occlusion:ask') && work.some((w) => w.name === 'explain:occlusion:show'));
  assert.ok(!work.some((w) => w.name === 'explain:occlusion:compute'));
  // No long task (> 50 ms) of the main thread had explaining in it. (Long tasks of a busy host
  // that merely coincide with drawing are not ours: the page's own reading of the pad is timed
  // by the draw tests.)
  const ours = longTasks.filter((t) => work.some((w) => w.start < t.end && w.end > t.start));
  assert.deepEqual(ours, [], `long tasks with explaining in them: ${JSON.stringify(ours)}; all: ${JSON.stringify(longTasks)}`);
  const slowest = Math.max(...work.map((w) => w.end - w.start));
  assert.ok(slowest < 50, `the main thread's longest explaining step took ${slowest} ms`);
  assert.equal(await page.getAttribute('#prediction', 'data-digit'), '9');
});

test("the tour's step explains the person's drawing", async () => {
  await page.click('#clear');
  await drawStrokes(page, DIGIT_STROKES[2]);
  await page.click('#help');
  await page.waitForSelector('#tour[open]');
  for (let i = 0; i < 20 && !/Why this digit/.test(await page.textContent('.tour-title')); i++) await page.keyboard.press('ArrowRight');
  assert.match(await page.textContent('.tour-title'), /Why this digit/);
  await page.click('.tour-action');
  const said = await page.textContent('.tour-result');
  assert.match(said, /It reads 2\. /);
  assert.ok(said.includes(await page.textContent('#why-sentence')), `the step quotes the map's sentence: ${said}`);
  await page.screenshot({ path: screenshotPath('explain-tour.png') });
  await page.keyboard.press('Escape');
});

test('models replaced while occlusion runs (as training does): the worker follows the model in use', async () => {
  await setMethod('occlusion');
  await page.click('#clear');
  await drawStrokes(page, DIGIT_STROKES[5]);
  // Two new models in quick succession, the last one an untrained editor stack loaded from its file.
  await page.evaluate(() => {
    const { hub, wasm } = window.digitlens;
    hub.setModel(wasm.Recognizer.fromSafetensors(hub.recognizer.toSafetensors()), { source: 'file', label: 'copy' });
    const stack = { name: 'editor', layers: [{ type: 'conv2d', filters: 4, kernel: 5, stride: 2 }, { type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10 }] };
    const untrained = wasm.Recognizer.fromArchitecture(JSON.stringify(stack), 9);
    hub.setModel(wasm.Recognizer.fromSafetensors(untrained.toSafetensors()), { source: 'file', label: 'editor stack' });
    untrained.free();
  });
  await page.waitForFunction(() => document.querySelector('#why-status').dataset.state === 'ready' && document.querySelector('#why-status').dataset.method === 'occlusion');
  // The map on show is the one the page's own model gives for this drawing.
  const same = await page.evaluate(() => {
    const m = window.digitlens.hub.recognizer;
    const img = window.digitlens.draw.pad.imageData();
    const e = m.explain(img.data, img.width, img.height, { method: 'occlusion' });
    const shown = window.digitlens.areas.explain.current();
    let worst = 0;
    for (let i = 0; i < 784; i++) worst = Math.max(worst, Math.abs(e.map[i] - shown.map[i]));
    return { worst, range: e.range, target: e.target, shownTarget: shown.target };
  });
  assert.equal(same.shownTarget, same.target);
  assert.ok(same.worst <= 1e-5 + 1e-4 * same.range, `worker and page maps differ by ${same.worst}`);
  // Grad-CAM works on this stack's ReLU after its conv.
  await setMethod('gradcam');
  await waitReady('gradcam');
  assert.match((await status()).text, /Grad-CAM at relu1/);
});

test('a stack without conv layers says so for Grad-CAM; the other methods work on it', async () => {
  await page.evaluate(() => {
    const { hub, wasm } = window.digitlens;
    hub.setModel(wasm.Recognizer.fromArchitecture(JSON.stringify(wasm.presetArchitecture('dense')), 3), { source: 'file', label: 'dense (test)' });
  });
  await page.click('#clear');
  await drawStrokes(page, DIGIT_STROKES[3]);
  await setMethod('gradcam');
  await page.waitForFunction(() => document.querySelector('#why-status').dataset.state === 'error');
  assert.match((await status()).text, /Grad-CAM needs a conv layer/);
  await page.screenshot({ path: screenshotPath('explain-gradcam-dense.png') });
  // Integrated gradients run in the worker on this model too (its weights were sent there).
  await setMethod('integrated');
  await waitReady('integrated');
  assert.ok((await overlay()).red > 0);
});
