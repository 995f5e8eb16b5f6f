// The page as a product (issue 8), in Debian's Chromium: the whole page at 360, 768 and 1440 px
// (nothing sideways, clipped or overlapping; screenshots in tests/e2e/artifacts/ and the
// README's docs/screenshot.png), a phone with touch, the pad usable before the training data
// has arrived, the offline reload, a keyboard-only flow, the guided tour, the Draw area's
// hub events, the banner when the wasm cannot load, and an axe-core audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath } from './harness.mjs';
import { startServer } from '../../scripts/serve.mjs';
import { STEPS, SEEN_KEY, placeCard, unionRect, modelFacts, mergeFacts, fieldList } from '../../www/ui/tour.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const AXE = path.join(here, 'node_modules', 'axe-core', 'axe.min.js');
const README_SCREENSHOT = path.join(here, '..', '..', 'docs', 'screenshot.png');

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});

/** Opens the page and waits until all three areas are mounted. */
async function openAll(contextOptions) {
  const opened = await openPage(env.browser, env.url, contextOptions);
  await opened.page.waitForSelector('#train-start');
  await opened.page.waitForSelector('.lab-editor .lab-layer');
  return opened;
}

/** Waits until the pad's prediction is `digit` (a string) or fails with what it is. */
async function expectDigit(page, digit, why) {
  await page.waitForFunction((d) => document.querySelector('#prediction').dataset.digit === d, digit, { timeout: 10_000 }).catch(() => {});
  assert.equal(await page.locator('#prediction').getAttribute('data-digit'), digit, why);
}

/** The banner's text, or '' when it is hidden. */
async function banner(page) {
  return (await page.locator('#error-banner').isVisible()) ? (await page.textContent('#error-banner')).replace(/\s+/g, ' ').trim() : '';
}

/** Everything visible that sticks out of the viewport sideways (scroll containers excepted),
 *  buttons whose text does not fit, and overlapping pairs among controls that sit side by side. */
function layoutProblems() {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`;
  const scrolls = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.sr-only, .skip-link, dialog:not([open]), [hidden]')) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || scrolls(el)) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) problems.push(`outside: ${name(el)} ${r.left.toFixed(0)}..${r.right.toFixed(0)} of ${vw}`);
  }
  for (const b of document.querySelectorAll('button, .btn, select')) {
    const r = b.getBoundingClientRect();
    if (r.width && b.scrollWidth > b.clientWidth + 1) problems.push(`clipped text: ${name(b)} (${b.scrollWidth} > ${b.clientWidth})`);
  }
  const groups = [
    ['#pad', '#undo', '#clear', '#example', '#prediction', '#input28', '#probabilities'],
    ['.brand', '#status', '#model-badge', '#help', '.area-nav'],
    ['#train-start', '#train-pause', '#train-stop', '#train-evaluate', '#train-defaults'],
    ['#tour-start', '#tour-decline', '.tour-invite-text'],
  ];
  for (const group of groups) {
    const boxes = group.map((s) => [s, document.querySelector(s)]).filter(([, e]) => e && e.getClientRects().length).map(([s, e]) => [s, e.getBoundingClientRect()]);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, ra] = boxes[i];
        const [b, rb] = boxes[j];
        const overlap = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left) > 1 && Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top) > 1;
        if (overlap) problems.push(`overlap: ${a} and ${b}`);
      }
    }
  }
  return { problems, sideways: document.documentElement.scrollWidth - vw };
}

test('the whole page at 360, 768 and 1440 px: nothing sideways, clipped or overlapping', async () => {
  for (const [width, height] of [[360, 740], [768, 1024], [1440, 900]]) {
    const { context, page, errors } = await openAll({ viewport: { width, height } });
    await drawStrokes(page, DIGIT_STROKES[4]);
    await expectDigit(page, '4', `a drawn 4 at ${width}px`);
    const { problems, sideways } = await page.evaluate(layoutProblems);
    assert.equal(sideways, 0, `the page scrolls sideways at ${width}px`);
    assert.deepEqual(problems, [], `layout at ${width}px`);
    await page.screenshot({ path: screenshotPath(`product-${width}.png`) });
    await page.screenshot({ path: screenshotPath(`product-${width}-full.png`), fullPage: true });
    if (width === 1440) {
      // The README's picture: a returning visitor's page (no invitation) with a digit drawn.
      await page.click('#tour-decline');
      await page.evaluate(() => window.scrollTo(0, 0));
      fs.mkdirSync(path.dirname(README_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: README_SCREENSHOT });
    }
    assert.deepEqual(errors, [], `uncaught errors at ${width}px`);
    assert.equal(await banner(page), '', `banner at ${width}px`);
    await context.close();
  }
});

test('a phone with touch: draw with a finger, tap the buttons, the page does not scroll', async () => {
  const { context, page } = await openAll({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const pad = page.locator('#pad');
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  const scrolled = await page.evaluate(() => window.scrollY);
  const cdp = await context.newCDPSession(page);
  const touch = (type, [x, y] = []) => cdp.send('Input.dispatchTouchEvent', {
    type, touchPoints: type === 'touchEnd' ? [] : [{ x: box.x + x * box.width, y: box.y + y * box.height }],
  });
  for (const stroke of DIGIT_STROKES[2]) {
    await touch('touchStart', stroke[0]);
    for (let i = 1; i < stroke.length; i++) {
      const [x0, y0] = stroke[i - 1];
      const [x1, y1] = stroke[i];
      for (let s = 1; s <= 8; s++) await touch('touchMove', [x0 + ((x1 - x0) * s) / 8, y0 + ((y1 - y0) * s) / 8]);
    }
    await touch('touchEnd');
  }
  await expectDigit(page, '2', 'a 2 drawn with a finger');
  assert.equal(await page.evaluate(() => window.scrollY), scrolled, 'drawing must not scroll the page');
  await page.screenshot({ path: screenshotPath('product-touch-360.png') });
  // Scrolled down to the training curves, the prediction follows as a chip that leads back.
  await page.locator('#area-train').evaluate((e) => e.scrollIntoView({ block: 'start', behavior: 'instant' }));
  const chip = page.locator('#mini-prediction');
  await chip.waitFor({ state: 'visible' });
  assert.equal((await page.textContent('#mini-digit')).trim(), '2');
  await page.screenshot({ path: screenshotPath('product-touch-chip-360.png') });
  await chip.tap();
  await page.waitForFunction(() => {
    const r = document.getElementById('prediction').getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight;
  });
  await chip.waitFor({ state: 'hidden' });
  await page.tap('#clear');
  await expectDigit(page, '', 'Clear tapped');
  await page.tap('#help');
  await page.waitForSelector('#tour[open]');
  await page.screenshot({ path: screenshotPath('product-touch-tour-360.png') });
  const card = await page.locator('.tour-card').boundingBox();
  assert.ok(card.x >= 0 && card.x + card.width <= 360 && card.y >= 0 && card.y + card.height <= 740, `the tour card fits the phone: ${JSON.stringify(card)}`);
  await page.tap('.tour-close');
  assert.equal(await page.locator('#tour[open]').count(), 0);
  await context.close();
});

test('the pad reads digits before the training data has arrived, and the status says so', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1440, height: 900 }, serviceWorkers: 'block' });
  // Hold the bundled data (fetched by the training worker) until the pad has been used.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let heldRequests = 0;
  await context.route('**/data/*.gz', async (route) => {
    if (route.request().method() === 'GET') {
      heldRequests += 1;
      await held;
    }
    await route.continue();
  });
  const page = await context.newPage();
  await page.goto(env.url);
  await page.waitForSelector('#status[data-ready="true"]');
  await page.waitForFunction(() => /training data .*MB/.test(document.getElementById('status-text').textContent), null, { timeout: 10_000 });
  assert.ok(heldRequests > 0, 'the worker asked for the data (and is being held)');
  await drawStrokes(page, DIGIT_STROKES[7]);
  await expectDigit(page, '7', 'the pad works while the data loads');
  assert.ok(await page.locator('#load-progress').isVisible(), 'a progress bar shows while the data loads');
  await page.screenshot({ path: screenshotPath('product-loading-data.png'), clip: { x: 0, y: 0, width: 1440, height: 120 } });
  release();
  await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Ready', null, { timeout: 30_000 });
  assert.ok(!(await page.locator('#load-progress').isVisible()), 'no progress bar once everything has loaded');
  await context.close();
});

test('offline: after one visit the page loads and reads digits with the network gone', async () => {
  // A server of its own, to be shut down: the reload below cannot reach any network.
  const { server, url } = await startServer({ port: 0 });
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#offline-status[data-state="ready"]', { timeout: 60_000 });
    assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls the page');
    await context.setOffline(true);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    const fromWorker = [];
    page.on('response', (r) => fromWorker.push(r.fromServiceWorker()));
    await page.reload();
    await page.waitForSelector('#status[data-ready="true"]', { timeout: 30_000 });
    assert.ok(fromWorker.length > 0 && fromWorker.every(Boolean), 'every response came from the service worker');
    await drawStrokes(page, DIGIT_STROKES[3]);
    await expectDigit(page, '3', 'a drawn 3, offline');
    // The training worker found its data offline too.
    await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Ready', null, { timeout: 30_000 });
    await page.waitForSelector('.lab-editor .lab-layer');
    assert.equal(await banner(page), '', 'no failure offline');
    assert.deepEqual(errors, []);
    await page.screenshot({ path: screenshotPath('product-offline.png') });
  } finally {
    await context.close();
    server.closeAllConnections();
    server.close();
  }
});

/** Presses Tab until `selector` has the focus; returns how many presses it took. */
async function tabTo(page, selector, limit = 400) {
  for (let presses = 1; presses <= limit; presses++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return presses;
  }
  assert.fail(`${selector} cannot be reached with Tab`);
}

/** The focused element shows a focus ring (an outline of some width). */
async function assertVisibleFocus(page, selector) {
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  assert.ok(ring.style !== 'none' && ring.width >= 2, `${selector} has no visible focus: ${JSON.stringify(ring)}`);
}

test('keyboard only: change the preset, start and stop training, clear, open help', async () => {
  const { context, page } = await openAll({ viewport: { width: 1280, height: 900 } });
  await drawStrokes(page, DIGIT_STROKES[0]);
  await expectDigit(page, '0', 'a drawn 0 (with the pointer)');
  await page.evaluate(() => document.activeElement?.blur());

  await tabTo(page, '#preset');
  await assertVisibleFocus(page, '#preset');
  const before = await page.inputValue('#preset');
  await page.keyboard.press('ArrowDown');
  const after = await page.inputValue('#preset');
  assert.notEqual(after, before, 'ArrowDown on the focused preset list picks another preset');

  await tabTo(page, '#train-start');
  await assertVisibleFocus(page, '#train-start');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#train-status[data-state="running"]', { timeout: 30_000 });
  await tabTo(page, '#train-stop');
  await assertVisibleFocus(page, '#train-stop');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => ['stopped', 'done'].includes(document.getElementById('train-status').dataset.state), null, { timeout: 120_000 });

  await page.evaluate(() => window.scrollTo(0, 0));
  await tabTo(page, '#clear');
  await assertVisibleFocus(page, '#clear');
  await page.keyboard.press('Space');
  await expectDigit(page, '', 'Clear by keyboard');

  await tabTo(page, '#help');
  await assertVisibleFocus(page, '#help');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#tour[open]');
  assert.ok(await page.evaluate(() => document.getElementById('tour').contains(document.activeElement)), 'focus moves into the tour');
  await page.screenshot({ path: screenshotPath('product-keyboard-help.png') });
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#tour[open]').count(), 0, 'Esc closes the tour');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'help', 'focus returns to the Help button');
  assert.equal(await banner(page), '');
  await context.close();
});

test('the guided tour: offered once, keyboard operable, acts on the live views, back from Help', async () => {
  const { context, page } = await openAll({ viewport: { width: 1440, height: 900 } });
  assert.ok(await page.locator('#tour-invite').isVisible(), 'a first visit is invited to the tour');
  await page.click('#tour-start');
  const dialog = page.locator('#tour');
  await page.waitForSelector('#tour[open]');
  assert.equal(await page.textContent('.tour-count'), `Step 1 of ${STEPS.length}`);
  assert.equal(await page.evaluate(() => document.querySelector('#tour').getAttribute('aria-labelledby')), 'tour-title');
  // The first step draws an example when the pad is empty, so the views have something to show.
  await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '');

  // Tab stays inside the dialog.
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), `Tab ${i + 1} left the tour`);
  }

  // Every step points at something on the screen, and the card does not cover it.
  const titles = [];
  for (let i = 0; i < STEPS.length; i++) {
    if (i > 0) await page.keyboard.press('ArrowRight');
    await page.waitForFunction((n) => document.querySelector('.tour-count').textContent.startsWith(`Step ${n} `), i + 1);
    titles.push(await page.textContent('.tour-title'));
    const [spot, card] = await Promise.all([page.locator('.tour-spot').boundingBox(), page.locator('.tour-card').boundingBox()]);
    assert.ok(spot && spot.width > 20 && spot.height > 20, `step ${i + 1} points at something`);
    assert.ok(spot.y < 900 && spot.y + spot.height > 0, `step ${i + 1}'s target is on the screen`);
    const covered = Math.min(spot.x + spot.width, card.x + card.width) - Math.max(spot.x, card.x) > 0
      && Math.min(spot.y + spot.height, card.y + card.height) - Math.max(spot.y, card.y) > 0;
    assert.ok(!covered, `step ${i + 1}: the card covers its target`);
    await page.screenshot({ path: screenshotPath(`product-tour-${STEPS[i].id}.png`) });
    if (STEPS[i].id === 'flatten') {
      await page.click('.tour-action');
      const shown = await page.evaluate(() => ({
        result: document.querySelector('.tour-result').textContent,
        error: document.querySelector('.lab-editor .lab-layer.is-error .lab-layer-error')?.textContent ?? null,
        expected: (() => {
          const cnn = window.digitlens.wasm.presetArchitecture('cnn');
          cnn.layers = cnn.layers.filter((l) => l.type !== 'flatten');
          return window.digitlens.wasm.analyzeArchitecture(JSON.stringify(cnn)).message;
        })(),
      }));
      assert.ok(shown.expected, 'Rust rejects cnn without Flatten');
      assert.equal(shown.error, shown.expected, "the editor shows Rust's message at the layer");
      assert.ok(shown.result.includes(shown.expected), 'the step quotes it');
      await page.screenshot({ path: screenshotPath('product-tour-flatten-removed.png') });
      await page.click('.tour-action');
      assert.equal(await page.locator('.lab-editor .lab-layer.is-error').count(), 0, 'Put Flatten back repairs the stack');
    }
    if (STEPS[i].id === 'receptive-field') {
      await page.click('.tour-action');
      const sizes = await page.evaluate(() => window.digitlens.hub.recognizer.summary().layers.filter((l) => l.receptive_field).map((l) => [l.name, l.receptive_field.size]));
      assert.equal(await page.getAttribute('#receptive-field', 'data-cell-layer'), sizes[0][0]);
      assert.equal(await page.getAttribute('#receptive-field', 'data-size'), String(sizes[0][1]));
      await page.click('.tour-action');
      assert.equal(await page.getAttribute('#receptive-field', 'data-size'), String(sizes[1][1]), 'the next press shows the next layer');
    }
  }
  assert.equal(new Set(titles).size, STEPS.length, 'every step has its own title');
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#tour[open]').count(), 0);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'help', 'focus returns to Help (the invitation is gone)');
  assert.ok(await page.evaluate((key) => localStorage.getItem(key) !== null, SEEN_KEY), 'remembered');

  await page.reload();
  await page.waitForSelector('#status[data-ready="true"]');
  assert.ok(!(await page.locator('#tour-invite').isVisible()), 'not offered again after a reload');
  await page.click('#help');
  await page.waitForSelector('#tour[open]');
  assert.equal(await page.textContent('.tour-count'), `Step 1 of ${STEPS.length}`);
  await page.click('[data-nav="skip"]');
  assert.equal(await page.locator('#tour[open]').count(), 0);
  await context.close();
});

test("the Draw area: 'recognition' after each reading, 'show-input' shows a test image", async () => {
  const { context, page } = await openAll({ viewport: { width: 1440, height: 900 } });
  await page.evaluate(() => {
    window.recognitions = [];
    window.digitlens.hub.addEventListener('recognition', ({ detail }) => window.recognitions.push(detail.result ? detail.result.digit : null));
  });
  await drawStrokes(page, DIGIT_STROKES[5]);
  await expectDigit(page, '5', 'a drawn 5');
  const seen = await page.evaluate(() => window.recognitions);
  assert.ok(seen.length > 0, 'recognition events while drawing');
  assert.equal(seen[seen.length - 1], 5, 'the last one carries the prediction');

  // A real test image, read in the page the same way the lab's thumbnails send it.
  const shown = await page.evaluate(async () => {
    const { wasm, hub } = window.digitlens;
    const get = async (f) => new Uint8Array(await (await fetch(`data/${f}`)).arrayBuffer());
    const test = wasm.Dataset.fromIdx(await get('t10k-images-idx3-ubyte.gz'), await get('t10k-labels-idx1-ubyte.gz'));
    const index = 123;
    const pixels = Float32Array.from(test.image(index), (v) => v / 255);
    const label = test.label(index);
    const expected = hub.recognizer.predict28(pixels).digit;
    window.recognitions.length = 0;
    hub.dispatchEvent(new CustomEvent('show-input', { detail: { pixels, label, source: `test image #${index}` } }));
    const input = document.getElementById('input28').getContext('2d').getImageData(0, 0, 28, 28).data;
    let inked = 0;
    for (let i = 0; i < 784; i++) if (input[4 * i] < 128) inked += 1;
    const prediction = document.getElementById('prediction').dataset;
    return {
      label, expected, inked, ink: pixels.filter((v) => v > 0.5).length,
      digit: prediction.digit, source: prediction.source,
      hint: document.getElementById('pad-hint').textContent, hintShown: !document.getElementById('pad-hint').hidden,
      recognitions: [...window.recognitions],
      padEmpty: window.digitlens.areas.draw.pad.isEmpty,
      maps: document.getElementById('maps-hint').hidden,
    };
  });
  assert.equal(shown.digit, String(shown.expected), 'the prediction is the model’s reading of the image');
  assert.equal(shown.source, 'test image #123');
  assert.ok(shown.hintShown && shown.hint.includes('test image #123') && shown.hint.includes(`label ${shown.label}`), `the note: ${shown.hint}`);
  assert.ok(shown.padEmpty, 'the pad is cleared');
  assert.ok(Math.abs(shown.inked - shown.ink) <= shown.ink * 0.2, `the 28×28 view shows the image (${shown.inked} dark pixels for ${shown.ink} inked)`);
  assert.deepEqual(shown.recognitions, [null], 'the lab hears only that the pad was cleared, not the test image');
  await page.screenshot({ path: screenshotPath('product-show-input.png') });
  // Drawing replaces it.
  await drawStrokes(page, DIGIT_STROKES[1]);
  await expectDigit(page, '1', 'a drawn 1 after the test image');
  assert.equal(await page.getAttribute('#prediction', 'data-source'), 'pad');
  await context.close();
});

test('a wasm module that cannot load: the banner says so and what to do, and can be dismissed', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 768 }, serviceWorkers: 'block' });
  await context.route('**/digitlens_bg.wasm', (route) => route.abort('connectionfailed'));
  const page = await context.newPage();
  await page.goto(env.url);
  await page.waitForSelector('#status[data-ready="error"]', { timeout: 20_000 });
  const text = await banner(page);
  assert.match(text, /could not load/i);
  assert.ok((await page.textContent('#error-action')).trim().length > 10, 'the banner says what to do');
  assert.match(await page.textContent('#pad-hint'), /could not load/, 'the pad does not promise a network that will not come');
  await page.screenshot({ path: screenshotPath('product-wasm-failed.png') });
  await page.click('#error-dismiss');
  assert.equal(await banner(page), '');
  await context.close();
});

/** Runs axe-core on the page (evaluated through the DevTools protocol, so the page's CSP,
 *  which forbids inline scripts, needs no exception) and returns serious and critical findings. */
async function axeFindings(page, context = 'document') {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  return page.evaluate(async (selector) => {
    const target = selector === 'document' ? document : document.querySelector(selector);
    const { violations } = await window.axe.run(target, { resultTypes: ['violations'] });
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(', ')}`);
  }, context);
}

test('axe-core: no serious or critical accessibility violations', async () => {
  for (const width of [360, 1440]) {
    const { context, page } = await openAll({ viewport: { width, height: 900 } });
    await drawStrokes(page, DIGIT_STROKES[8]);
    await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '');
    await page.evaluate(() => window.digitlens.hub.error('A test message.', 'Nothing to do.'));
    assert.deepEqual(await axeFindings(page), [], `the page at ${width}px`);
    await page.click('#error-dismiss');
    await page.click('#help');
    await page.waitForSelector('#tour[open]');
    assert.deepEqual(await axeFindings(page, '#tour'), [], `the tour at ${width}px`);
    await context.close();
  }
});

test('tour helpers: card placement, rectangles, facts from a summary (no browser)', () => {
  const view = { width: 1440, height: 900 };
  const card = { width: 400, height: 300 };
  const inside = (p) => p.left >= 0 && p.top >= 0 && p.left + card.width <= view.width && p.top + card.height <= view.height;
  const disjoint = (p, t) => p.left >= t.right || p.left + card.width <= t.left || p.top >= t.bottom || p.top + card.height <= t.top;
  for (const target of [
    { left: 20, top: 100, right: 480, bottom: 500 }, { left: 1000, top: 100, right: 1420, bottom: 400 },
    { left: 20, top: 60, right: 1420, bottom: 300 }, { left: 20, top: 600, right: 1420, bottom: 880 },
  ]) {
    const p = placeCard(target, card, view);
    assert.ok(inside(p), `card inside the view for ${JSON.stringify(target)}: ${JSON.stringify(p)}`);
    assert.ok(disjoint(p, target), `card beside, not over, ${JSON.stringify(target)}: ${JSON.stringify(p)}`);
  }
  const phone = placeCard({ left: 10, top: 10, right: 350, bottom: 200 }, { width: 344, height: 300 }, { width: 360, height: 740 });
  assert.equal(phone.side, 'bottom');
  assert.equal(phone.top + 300, 740 - 8);
  assert.deepEqual(unionRect([{ left: 5, top: 9, right: 10, bottom: 20 }, null, { left: 1, top: 12, right: 8, bottom: 30 }]), { left: 1, top: 9, right: 10, bottom: 30 });
  assert.equal(unionRect([{ left: 5, top: 5, right: 5, bottom: 9 }]), null, 'empty rectangles do not count');

  const layer = (name, spec, input, output, size) => ({ name, spec, input, output, receptive_field: size ? { size, jump: 1, start: 0 } : null });
  const summary = {
    layers: [
      layer('conv1', { type: 'conv2d', filters: 8, kernel: 5 }, { channels: 1, height: 28, width: 28 }, { channels: 8, height: 24, width: 24 }, 5),
      layer('pool1', { type: 'maxpool2d', size: 3 }, { channels: 8, height: 24, width: 24 }, { channels: 8, height: 8, width: 8 }, 7),
      layer('flatten1', { type: 'flatten' }, { channels: 8, height: 8, width: 8 }, 512, 0),
      layer('dense1', { type: 'dense', units: 10 }, 512, 10, 0),
    ],
  };
  const facts = modelFacts(summary);
  assert.deepEqual(facts.conv, { name: 'conv1', filters: 8, kernel: 5, input: summary.layers[0].input, output: summary.layers[0].output });
  assert.deepEqual(facts.pool, { name: 'pool1', size: 3, input: summary.layers[1].input, output: summary.layers[1].output, after: 'conv1' });
  assert.deepEqual(facts.flatten, { name: 'flatten1', input: summary.layers[2].input, length: 512 });
  assert.deepEqual(facts.fields.map((f) => [f.name, f.size]), [['conv1', 5], ['pool1', 7]]);
  assert.equal(fieldList(facts.fields), 'conv1 5 × 5 and pool1 7 × 7');
  const dense = modelFacts({ layers: [layer('flatten1', { type: 'flatten' }, { channels: 1, height: 28, width: 28 }, 784, 0)] });
  assert.equal(dense.conv, null);
  const merged = mergeFacts(dense, facts);
  assert.equal(merged.conv.fromPreset, true, 'a missing layer comes from the preset, marked');
  assert.equal(merged.flatten.fromPreset, undefined, "the model's own Flatten stays");
  for (const step of STEPS) {
    const paragraphs = step.text(merged);
    assert.ok(paragraphs.length && paragraphs.every((p) => p.length > 20 && !p.includes('undefined')), `step ${step.id} reads well`);
    assert.ok(step.terms.length && step.terms.every(([w, m]) => w && m.length > 10), `step ${step.id} explains its words`);
  }
});
