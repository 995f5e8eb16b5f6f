// What each unit looks for (issue 16) in the served page: a channel card opens from a conv1, a
// conv2 and a dense1 unit with 9 + 9 thumbnails and a feature visualisation; the live dot of
// the map of all digits moves when the drawing changes; clicking a dot puts that digit on the
// pad; a short run leaves one snapshot per epoch to scrub through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath, setFields, waitForEnd } from './harness.mjs';

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});

const VIEWPORT = { viewport: { width: 1440, height: 1000 } };

/** The open card's state once its examples and its feature visualisation are done. */
async function cardReady(page, layer, channel) {
  await page.waitForFunction(([l, c]) => {
    const card = document.querySelector('#channel-card');
    return card && !card.hidden && card.dataset.layer === l && card.dataset.channel === String(c)
      && card.dataset.state === 'ready' && card.querySelector('.card-visual').dataset.steps === '128';
  }, [layer, channel], { timeout: 60_000 });
  return page.evaluate(() => {
    const card = document.querySelector('#channel-card');
    const values = (kind) => [...card.querySelectorAll(`.card-${kind} .card-thumb`)].map((c) => Number(c.dataset.value));
    return {
      top: values('top'),
      bottom: values('bottom'),
      activation: Number(card.querySelector('.card-visual').dataset.activation),
      text: card.querySelector('.card-visual-text').textContent,
      means: card.querySelector('.card-means').dataset.top,
    };
  });
}

test('channel cards open from conv1, conv2 and dense1 with the top and bottom 9 digits', async () => {
  const { page, errors, context } = await openPage(env.browser, env.url, VIEWPORT);
  await drawStrokes(page, DIGIT_STROKES[3]);
  await page.waitForSelector('#prediction[data-digit="3"]');

  // conv1: click a tile.
  await page.locator('[data-layer="conv1"] canvas.tile[data-channel="4"]').click();
  const conv1 = await cardReady(page, 'conv1', 4);
  // conv2: Enter on a tile.
  await page.locator('[data-layer="conv2.relu"] canvas.tile[data-channel="0"]').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  const conv2 = await cardReady(page, 'conv2.relu', 1);
  await page.screenshot({ path: screenshotPath('insight-card-conv2.png'), fullPage: false });
  // dense1: click a bar.
  const bars = page.locator('[data-layer="dense1"] canvas.bars');
  const box = await bars.boundingBox();
  await bars.click({ position: { x: (10.5 / 128) * box.width, y: box.height / 2 } });
  const dense = await cardReady(page, 'dense1', 10);

  for (const [name, card] of Object.entries({ conv1, conv2, dense })) {
    assert.equal(card.top.length, 9, `${name}: 9 top digits`);
    assert.equal(card.bottom.length, 9, `${name}: 9 bottom digits`);
    assert.deepEqual(card.top, [...card.top].sort((a, b) => b - a), `${name}: top digits highest first`);
    assert.ok(card.top.at(-1) >= card.bottom.at(-1), `${name}: the top beat the bottom`);
    assert.ok(Number.isFinite(card.activation) && card.activation > 0, `${name}: feature visualisation ${card.text}`);
    assert.match(card.means, /^\d,\d$/, `${name}: the class means name two digits`);
  }
  // The feature visualisation of conv2 reaches at least what its best test digit reaches.
  assert.ok(conv2.activation >= conv2.top[0] * 0.9, `conv2.relu 1: ${conv2.text}`);
  // The live response follows the drawing.
  const live = await page.getAttribute('#channel-card .card-live', 'data-value');
  assert.ok(live !== null && Number.isFinite(Number(live)), 'the card shows the drawing\'s value');
  // A thumbnail opens its digit on the pad.
  await page.locator('#channel-card .card-top .card-thumb').first().click();
  await page.waitForFunction(() => document.querySelector('#prediction').dataset.source.startsWith('test image #'));
  assert.deepEqual(errors, []);
  await context.close();
});

test('the map of all digits: a live dot that follows the drawing, dots that open their digit', async () => {
  const { page, errors, context } = await openPage(env.browser, env.url, VIEWPORT);
  await page.locator('#digit-map-panel').scrollIntoViewIfNeeded();
  await page.waitForSelector('#digit-map[data-points="10000"]', { timeout: 60_000 });
  await drawStrokes(page, DIGIT_STROKES[1]);
  await page.waitForSelector('#prediction[data-digit="1"]');
  await page.waitForSelector('#digit-map[data-live-x]');
  const first = await page.evaluate(() => ({ ...document.querySelector('#digit-map').dataset }));
  await page.click('#clear');
  await drawStrokes(page, DIGIT_STROKES[0]);
  await page.waitForSelector('#prediction[data-digit="0"]');
  const second = await page.evaluate(() => ({ ...document.querySelector('#digit-map').dataset }));
  const moved = Math.hypot(second.liveX - first.liveX, second.liveY - first.liveY);
  assert.ok(moved > 10, `the live dot moved ${moved.toFixed(1)} px from a 1 to a 0`);
  await page.locator('#digit-map-panel').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('insight-digit-map.png') });

  // Click test digit #3's dot: that digit (or one lying on top of it) goes to the pad.
  const point = await page.evaluate(() => window.digitlens.areas.insight.map.screenPoint(3));
  await page.mouse.click(point.x, point.y);
  await page.waitForFunction(() => document.querySelector('#prediction').dataset.source.startsWith('test image #'));
  const source = await page.getAttribute('#prediction', 'data-source');
  const index = Number(source.replace('test image #', ''));
  const near = await page.evaluate(([i, p]) => {
    const q = window.digitlens.areas.insight.map.screenPoint(i);
    return Math.hypot(q.x - p.x, q.y - p.y);
  }, [index, point]);
  assert.ok(near <= 10, `the digit opened (#${index}) lies under the click (${near.toFixed(1)} px away)`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a short run leaves one snapshot per epoch to scrub through', async () => {
  const { page, errors, context } = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 1000 } });
  await page.waitForSelector('#train-start');
  await page.waitForSelector('#train-scrubber');
  await setFields(page, { '#preset': 'cnn', '#train-size': 600, '#train-epochs': 2 });
  await page.click('#train-start');
  const end = await waitForEnd(page);
  assert.equal(end.state, 'done');
  await page.waitForFunction(() => document.querySelector('#train-scrubber').dataset.snapshots === '2'
    && document.querySelector('#scrub-map').width > 0, null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('#scrub-epoch', 'max'), '2');
  const filters = async () => page.evaluate(() => [...document.querySelectorAll('.scrub-filters canvas')].map((c) => c.toDataURL()).join());
  const last = await filters();
  await page.locator('#scrub-epoch').fill('1');
  await page.waitForFunction(() => document.querySelector('.scrub-epoch-text').textContent.startsWith('Epoch 1 '));
  const firstEpoch = await filters();
  assert.equal(await page.locator('.scrub-filters canvas').count(), 32, 'conv1\'s 32 filters');
  assert.notEqual(firstEpoch, last, 'the filters differ between epochs');
  await page.locator('#train-scrubber').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('insight-scrubber.png') });
  assert.deepEqual(errors, []);
  await context.close();
});
