// The pad in a classroom (issue 18): it never moves under the pen once it takes strokes, and
// no gesture around it (a stroke begun on a neighbour's label, a text selection, a drag) stops
// it from taking the next ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath } from './harness.mjs';

let env;

before(async () => {
  env = await launch();
});

after(async () => {
  if (env) await env.close();
});

/** Installed before the page's scripts: from the moment the pad takes strokes (#status
 *  ready) it samples the pad's box every frame and keeps the layout shifts that moved it. */
function watchPad() {
  const log = { boxes: [], shifts: [] };
  window.padWatch = log;
  const isReady = () => document.getElementById('status')?.dataset.ready === 'true';
  // Entries arrive after the frame they describe: compare their time with the first ready frame's.
  new PerformanceObserver((list) => {
    const pad = document.getElementById('pad');
    for (const entry of list.getEntries()) {
      if (log.readyAt === undefined || entry.startTime < log.readyAt) continue;
      const nodes = entry.sources.map((s) => s.node).filter(Boolean);
      if (nodes.some((node) => node === pad || node.contains(pad))) {
        log.shifts.push({ value: entry.value, nodes: nodes.map((n) => n.id || n.className || n.nodeName) });
      }
    }
  }).observe({ type: 'layout-shift', buffered: true });
  const sample = () => {
    const pad = document.getElementById('pad');
    if (pad && isReady()) {
      log.readyAt ??= performance.now();
      const r = pad.getBoundingClientRect();
      log.boxes.push([r.left, r.top, r.width, r.height].map((v) => Math.round(v * 100) / 100).join(' '));
    }
    requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
}

for (const [width, height] of [[1440, 900], [1280, 800], [1100, 800], [900, 900], [768, 1024], [390, 844]]) {
  test(`at ${width} × ${height} the pad does not move from "ready" until the training data has loaded`, async () => {
    const context = await env.browser.newContext({ viewport: { width, height } });
    try {
      await context.addInitScript(watchPad);
      const page = await context.newPage();
      await page.goto(env.url);
      // The status ends at "Ready" (or "Ready · no training"): all the loading that changes it is over.
      await page.waitForFunction(() => /^Ready( · no training)?$/.test(document.getElementById('status-text').textContent), null, { timeout: 60_000 });
      await page.waitForTimeout(1000);
      const { boxes, shifts } = await page.evaluate(() => window.padWatch);
      assert.ok(boxes.length > 10, `the pad was sampled ${boxes.length} times`);
      const moves = [...new Set(boxes)];
      assert.deepEqual(moves, [boxes[0]], `the pad's box (left top width height) changed after ready: ${moves.join(' → ')}`);
      assert.deepEqual(shifts, [], 'layout shifts that moved the pad');
    } finally {
      await context.close();
    }
  });
}

test('strokes begun on every element next to the pad, dragged in and out, never stop it: 20 digits are read after', async () => {
  const { context, page, errors } = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 900 } });
  try {
    const pad = await page.locator('#pad').boundingBox();
    const centre = [pad.x + pad.width / 2, pad.y + pad.height / 2];
    // Points just outside the pad on all four sides: whatever element is there is a neighbour.
    const points = [];
    for (const away of [6, 20, 40]) {
      for (const t of [0.1, 0.5, 0.9]) {
        points.push([pad.x + t * pad.width, pad.y - away], [pad.x + t * pad.width, pad.y + pad.height + away]);
        points.push([pad.x - away, pad.y + t * pad.height], [pad.x + pad.width + away, pad.y + t * pad.height]);
      }
    }
    const neighbours = await page.evaluate((pts) => {
      const seen = new Map();
      for (const [x, y] of pts) {
        const node = document.elementFromPoint(x, y);
        if (!node || node.id === 'pad' || seen.has(node)) continue;
        // Where its text is, if any (where the original fault began: the Clear button's label).
        const range = document.createRange();
        range.selectNodeContents(node);
        const text = [...range.getClientRects()].find((r) => r.width > 2 && r.height > 2);
        const at = text ? [text.left + text.width / 2, text.top + text.height / 2] : [x, y];
        const acts = !!node.closest('button, a, input, select, summary, label, [role="button"]');
        seen.set(node, { name: `${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ''}.${node.className}`, at, acts });
      }
      return [...seen.values()];
    }, points);
    const names = neighbours.map((n) => n.name);
    assert.ok(names.some((n) => n.includes('#clear')), `the Clear button is among the neighbours: ${names.join(', ')}`);
    assert.ok(neighbours.length >= 5, `neighbours found: ${names.join(', ')}`);

    const outside = [pad.x + pad.width + 60, pad.y - 30];
    for (const { at, acts } of neighbours) {
      // In, out across the far side, back in; released on the pad.
      await page.mouse.move(...at);
      await page.mouse.down();
      for (const [x, y] of [centre, [pad.x + 10, pad.y + 10], outside, centre]) await page.mouse.move(x, y, { steps: 6 });
      await page.mouse.up();
      // No text around the pad may end up selected (a selection over the pad turns the next
      // press on it into a drag of that selection).
      const selected = await page.evaluate(() => String(document.getSelection()));
      for (const word of ['Draw a digit here', 'Undo', 'Clear', 'Example', 'Prediction']) {
        assert.ok(!selected.toLowerCase().includes(word.toLowerCase()), `"${word}" selected by a stroke from ${JSON.stringify(at)}: ${JSON.stringify(selected)}`);
      }
      // In, then released back outside.
      await page.mouse.move(...at);
      await page.mouse.down();
      await page.mouse.move(...centre, { steps: 6 });
      await page.mouse.move(...at, { steps: 6 });
      await page.mouse.up();
      if (!acts) {
        // Select its text (a word, then the whole block), then press on the pad and draw.
        await page.mouse.dblclick(...at);
        await page.mouse.click(...at, { clickCount: 3 });
        await drawStrokes(page, [[[0.2, 0.2], [0.8, 0.8]]]);
      }
      // A stroke begun on the pad and carried out over the neighbour, released there.
      await page.mouse.move(...centre);
      await page.mouse.down();
      await page.mouse.move(...at, { steps: 8 });
      await page.mouse.up();
    }
    await page.screenshot({ path: screenshotPath('pad-after-drags.png') });

    const read = [];
    for (let i = 0; i < 20; i++) {
      const digit = i % 10;
      await page.keyboard.press('Delete'); // the pad has the focus after a stroke on it
      await page.click('#clear');
      assert.equal(await page.locator('#prediction').getAttribute('data-digit'), '');
      await drawStrokes(page, DIGIT_STROKES[digit]);
      await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '', null, { timeout: 5000 })
        .catch(() => {});
      read.push(await page.locator('#prediction').getAttribute('data-digit'));
    }
    assert.deepEqual(read, Array.from({ length: 20 }, (_, i) => String(i % 10)), 'each of the 20 digits drawn after the gestures');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
