// The model lab (issue 5) in the served page: the editor shows Rust's message at the offending
// layer and blocks training, a fixed stack trains for one epoch through the Train area and shows
// up in the comparison; weights go out as a file and come back (bad files leave the model
// alone); the last trained model survives a reload; a confusion-matrix cell opens its test
// images, which agree with the model in the page; labelled drawings fine-tune the model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath, ARTIFACTS, waitForEnd } from './harness.mjs';

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});

const VIEWPORT = { viewport: { width: 1440, height: 1000 }, acceptDownloads: true };

async function openLab(contextOptions = VIEWPORT) {
  const opened = await openPage(env.browser, env.url, contextOptions);
  await opened.page.waitForSelector('.lab-editor .lab-layer');
  return opened;
}

/** The page's banner text, or '' when hidden. */
async function banner(page) {
  return (await page.locator('#error-banner').isVisible()) ? (await page.textContent('#error-banner')).trim() : '';
}

/** A safetensors file's JSON header and its tensor bytes. (The header's metadata is a map whose
 *  key order may differ between two saves of the same model, so files are compared by parts.) */
function safetensorsParts(bytes) {
  const buffer = Buffer.from(bytes);
  const headerLength = Number(buffer.readBigUInt64LE(0));
  const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8'));
  return { header, metadata: header.__metadata__, data: buffer.subarray(8 + headerLength) };
}

function assertSameModel(actual, expected, message) {
  const [a, b] = [safetensorsParts(actual), safetensorsParts(expected)];
  assert.deepEqual(a.metadata, b.metadata, message);
  assert.ok(a.data.equals(b.data), `${message}: the tensors differ`);
}

const layer = (page, n) => page.locator(`.lab-editor .lab-layer[data-index="${n}"]`);
const modelInfo = (page) => page.evaluate(() => ({ ...window.digitlens.hub.info }));

async function editorState(page) {
  return page.evaluate(() => {
    const section = document.querySelector('.lab-editor');
    return {
      valid: section.dataset.valid,
      kinds: [...section.querySelectorAll('.lab-layer-kind')].map((n) => n.textContent),
      errors: [...section.querySelectorAll('.lab-layer')].map((row) => (row.classList.contains('is-error') ? row.querySelector('.lab-layer-error').textContent : null)),
      outputs: [...section.querySelectorAll('.lab-layer-out')].map((n) => n.textContent),
      trainDisabled: section.querySelector('.lab-train-this').disabled,
      totalParams: section.querySelector('.lab-editor-summary [data-total-params]')?.dataset.totalParams ?? null,
    };
  });
}

test('the editor explains a broken stack at its layer, and a fixed one trains for an epoch', async () => {
  const { context, page, errors } = await openLab();
  try {
    await page.click('.lab-starts [data-start="cnn"]');
    let state = await editorState(page);
    assert.deepEqual(state.kinds, ['Conv2D', 'MaxPool2D', 'Conv2D', 'MaxPool2D', 'Flatten', 'Dense', 'Dense']);
    assert.equal(state.valid, 'true');
    assert.equal(state.totalParams, '225034', 'Keras counts 225,034 parameters for this CNN');
    assert.match(state.outputs[0], /\(None, 26, 26, 32\)/);

    // The lecture's bug, one click away: remove Flatten.
    await page.click('.lab-editor .lab-layer[data-index="4"] button[aria-label^="Remove"]');
    state = await editorState(page);
    assert.equal(state.valid, 'false');
    assert.deepEqual(state.kinds, ['Conv2D', 'MaxPool2D', 'Conv2D', 'MaxPool2D', 'Dense', 'Dense']);
    assert.equal(state.errors[4], 'Dense expects a flat vector but gets 64×5×5 from MaxPool2D: add Flatten before it');
    assert.deepEqual(state.errors.filter((e) => e !== null).length, 1, 'only the offending layer carries the message');
    assert.equal(state.trainDisabled, true, 'an invalid stack cannot be trained');
    assert.equal(state.totalParams, null, 'no summary for an invalid stack');
    await page.locator('.lab-editor').screenshot({ path: screenshotPath('lab-editor-error.png') });

    // A kernel too large for its input, typed into a field.
    await layer(page, 2).locator('input[data-key="kernel"]').fill('15');
    state = await editorState(page);
    assert.match(state.errors[2], /kernel 15×15 is larger than its 13×13 input/);
    await layer(page, 2).locator('input[data-key="kernel"]').fill('3');

    // Fix it: select pool2 and add a Flatten after it; make it small so an epoch is quick.
    await layer(page, 3).focus();
    await page.selectOption('.lab-add-type', 'flatten');
    assert.equal(await page.textContent('.lab-add'), 'Add after layer 4');
    await page.click('.lab-add');
    await layer(page, 0).locator('input[data-key="filters"]').fill('8');
    await layer(page, 2).locator('input[data-key="filters"]').fill('16');
    await layer(page, 5).locator('input[data-key="units"]').fill('32');
    state = await editorState(page);
    assert.equal(state.valid, 'true', JSON.stringify(state.errors));
    assert.deepEqual(state.kinds, ['Conv2D', 'MaxPool2D', 'Conv2D', 'MaxPool2D', 'Flatten', 'Dense', 'Dense']);
    // 3·3·1·8+8, 3·3·8·16+16, 5·5·16·32+32, 32·10+10 (Keras' formulas).
    assert.equal(state.totalParams, String(80 + 1168 + 12832 + 330));
    assert.match(state.outputs[4], /\(None, 400\)/);

    // Keyboard: Alt+↑ moves the focused layer, Delete on it removes it (and does not clear the pad).
    await drawStrokes(page, DIGIT_STROKES[1]);
    await page.waitForFunction(() => document.querySelector('#prediction').dataset.digit !== '');
    await layer(page, 4).focus();
    await page.selectOption('.lab-add-type', 'dropout');
    await page.click('.lab-add');
    const dropoutAt = (await editorState(page)).kinds.indexOf('Dropout');
    assert.equal(dropoutAt, 5, 'added after the selected layer (Flatten)');
    await layer(page, dropoutAt).focus();
    await page.keyboard.press('Alt+ArrowUp');
    assert.equal((await editorState(page)).kinds.indexOf('Dropout'), dropoutAt - 1);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.index), String(dropoutAt - 1), 'focus follows the moved layer');
    await page.keyboard.press('Delete');
    assert.equal((await editorState(page)).kinds.includes('Dropout'), false);
    assert.notEqual(await page.getAttribute('#prediction', 'data-digit'), '', 'Delete in the editor left the drawing alone');

    // Train this → the Train area's "custom" preset, one epoch on a few images.
    await page.click('.lab-train-this');
    const offered = await page.evaluate(() => window.digitlens.hub.customArchitecture);
    assert.equal(offered.name, 'my-cnn');
    assert.equal(offered.layers.length, 7);
    assert.deepEqual(await page.evaluate(() => [document.activeElement.id, document.querySelector('#preset').value]), ['preset', 'custom'],
      'Train this focuses the Train area with the custom stack chosen');
    await page.fill('#train-size', '600');
    await page.fill('#train-epochs', '1');
    await page.click('#train-start');
    assert.equal((await waitForEnd(page)).state, 'done', await page.textContent('#train-status'));

    // The trained model is in use: the summary follows, and the comparison lists the run.
    assert.equal((await modelInfo(page)).source, 'trained');
    await page.waitForSelector('.lab-runs tbody tr');
    const run = await page.evaluate(() => [...document.querySelectorAll('.lab-runs tbody tr:last-child td')].map((td) => td.textContent));
    assert.match(run[0], /my-cnn/);
    assert.equal(run[1], '14,410');
    assert.match(run[4], /^\d+\.\d\d %$/, `best validation accuracy shown: ${run[4]}`);
    assert.match(run[5], /^\d+\.\d\d %$/, `test accuracy shown: ${run[5]}`);
    const summaryParams = await page.getAttribute('.lab-summary [data-total-params]', 'data-total-params');
    assert.equal(summaryParams, '14410', 'the summary shows the model in use');
    const chartInk = await page.evaluate(() => {
      const canvas = document.querySelector('.lab-compare-chart');
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let coloured = 0;
      // The first run's colour, #0072b2.
      for (let i = 0; i < data.length; i += 4) coloured += data[i] < 40 && Math.abs(data[i + 1] - 114) < 30 && data[i + 2] > 150;
      return coloured;
    });
    assert.ok(chartInk > 0, 'the run is drawn on the comparison chart');
    await page.locator('.lab-compare').screenshot({ path: screenshotPath('lab-compare.png') });
    assert.equal(await banner(page), '');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('weights go out as a file and come back; bad files leave the model alone; the model survives a reload', async () => {
  const { context, page, errors } = await openLab();
  try {
    // Out: the pretrained model as digitlens-cnn.safetensors, architecture in its metadata.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.lab-download')]);
    assert.equal(download.suggestedFilename(), 'digitlens-cnn.safetensors');
    const file = path.join(ARTIFACTS, 'lab-download.safetensors');
    await download.saveAs(file);
    const bytes = fs.readFileSync(file);
    const { header, metadata } = safetensorsParts(bytes);
    assert.equal(JSON.parse(metadata['digitlens.architecture']).name, 'cnn');
    assert.deepEqual(header['conv1.weight'].shape, [32, 1, 3, 3]);
    const inUse = await page.evaluate(() => Array.from(window.digitlens.hub.recognizer.toSafetensors()));
    assertSameModel(bytes, inUse, 'the file holds the model in use');

    // Bad files: truncated, not safetensors, empty. Each is refused with a reason; the model stays.
    const before = await modelInfo(page);
    const bad = {
      'truncated.safetensors': bytes.subarray(0, Math.floor(bytes.length / 2)),
      'photo.safetensors': Buffer.from('\x89PNG\r\n\x1a\n definitely not weights'),
      'empty.safetensors': Buffer.alloc(0),
    };
    for (const [name, content] of Object.entries(bad)) {
      await page.setInputFiles('#lab-weights-file', { name, mimeType: 'application/octet-stream', buffer: content });
      await page.waitForFunction((n) => document.querySelector('.lab-weights .lab-message').textContent.includes(n), name);
      const inline = await page.textContent('.lab-weights .lab-message');
      assert.match(inline, /was not loaded: [a-z].+\. The model in use is unchanged\./, inline);
      assert.match(await banner(page), new RegExp(name.replace('.', '\\.')));
      assert.deepEqual(await modelInfo(page), before, `${name} left the model in use alone`);
      await page.click('#error-dismiss');
    }
    await page.locator('.lab-weights').screenshot({ path: screenshotPath('lab-weights-bad-file.png') });

    // Back in: a dense model saved by the page, loaded from its file.
    const denseBytes = await page.evaluate(() => {
      const { wasm } = window.digitlens;
      const model = wasm.Recognizer.fromArchitecture(JSON.stringify(wasm.presetArchitecture('dense')), 3);
      try {
        return Array.from(model.toSafetensors());
      } finally {
        model.free();
      }
    });
    await page.setInputFiles('#lab-weights-file', { name: 'mine.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(denseBytes) });
    await page.waitForFunction(() => window.digitlens.hub.info?.source === 'file');
    assert.equal((await modelInfo(page)).label, 'mine.safetensors');
    assert.equal(await page.getAttribute('.lab-summary [data-total-params]', 'data-total-params'), '101770');
    const roundTrip = await page.evaluate(() => Array.from(window.digitlens.hub.recognizer.toSafetensors()));
    assertSameModel(roundTrip, denseBytes, 'loading and saving again gives the same model');

    // Remembered across a reload (IndexedDB), with a way back to the pretrained model.
    await page.waitForFunction(() => /kept in this browser/.test(document.querySelector('.lab-saved-note').textContent));
    await page.reload();
    await page.waitForSelector('#status[data-ready="true"]');
    await page.waitForFunction(() => window.digitlens.hub.info?.source === 'saved', null, { timeout: 20_000 });
    assert.equal(await page.getAttribute('.lab-summary [data-total-params]', 'data-total-params'), '101770');
    assert.match(await page.textContent('.lab-saved-note'), /Restored the model you last trained or loaded: “mine\.safetensors”/);
    await page.locator('.lab-weights').screenshot({ path: screenshotPath('lab-weights-restored.png') });
    await page.click('.lab-back');
    assert.equal((await modelInfo(page)).source, 'pretrained');
    assert.equal(await page.getAttribute('.lab-summary [data-total-params]', 'data-total-params'), '225034');
    await page.reload();
    await page.waitForSelector('#status[data-ready="true"]');
    await page.waitForSelector('.lab-restore:not([hidden])');
    assert.equal((await modelInfo(page)).source, 'pretrained', 'after "Back to pretrained" a reload keeps the pretrained model');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a confusion-matrix cell opens its test images, and the page model agrees with the worker', async () => {
  const { context, page, errors } = await openLab();
  try {
    await page.click('.lab-confusion-compute');
    await page.waitForSelector('.lab-confusion .lab-cell', { timeout: 120_000 });
    const cells = await page.evaluate(() => [...document.querySelectorAll('.lab-cell')].map((c) => ({
      truth: Number(c.dataset.truth), predicted: Number(c.dataset.predicted), count: Number(c.dataset.count),
    })));
    assert.equal(cells.length, 100);
    assert.equal(cells.reduce((sum, c) => sum + c.count, 0), 10_000, 'every test image is counted once');
    const rowTotals = Array.from({ length: 10 }, (_, t) => cells.filter((c) => c.truth === t).reduce((s, c) => s + c.count, 0));
    assert.ok(rowTotals.every((n) => n > 800), `every digit is in the test set: ${rowTotals}`);
    const correct = cells.filter((c) => c.truth === c.predicted).reduce((s, c) => s + c.count, 0);
    assert.ok(correct > 5_000, `the diagonal holds most images (${correct})`);
    assert.match(await page.textContent('.lab-confusion-status'), new RegExp(`${(correct / 100).toFixed(2)} % of 10,000`));

    // The largest mistake: its images, each one read that way by the page's own model.
    const mistake = cells.filter((c) => c.truth !== c.predicted).sort((a, b) => b.count - a.count)[0];
    await page.click(`.lab-cell[data-truth="${mistake.truth}"][data-predicted="${mistake.predicted}"]`);
    await page.waitForSelector('.lab-thumb-button');
    const shown = await page.locator('.lab-thumb-button').count();
    assert.equal(shown, Math.min(mistake.count, 60));
    await page.evaluate(() => {
      window.shownInputs = [];
      window.digitlens.hub.addEventListener('show-input', ({ detail }) => window.shownInputs.push(detail));
    });
    await page.click('.lab-thumb-button >> nth=0');
    const input = await page.evaluate(() => {
      const { pixels, label } = window.shownInputs[0];
      const probabilities = window.digitlens.hub.recognizer.probabilities28(pixels);
      return { label, length: pixels.length, ink: pixels.reduce((a, b) => a + b, 0), read: probabilities.indexOf(Math.max(...probabilities)) };
    });
    assert.equal(input.length, 784);
    assert.equal(input.label, mistake.truth, 'the test image has the row’s label');
    assert.equal(input.read, mistake.predicted, 'the page’s model reads it as the column says');
    assert.ok(input.ink > 20, 'a real digit, not a blank image');
    assert.match(await page.textContent('.lab-gallery-detail'), new RegExp(`labelled ${mistake.truth}\\..* reads ${mistake.predicted} `));
    await page.locator('.lab-confusion').screenshot({ path: screenshotPath('lab-confusion.png') });
    assert.equal(await banner(page), '');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('labelled drawings are kept across a reload and fine-tune the model', async () => {
  const { context, page, errors } = await openLab();
  try {
    const digits = [7, 1, 4, 0];
    await page.evaluate(() => {
      window.recognitions = 0;
      window.digitlens.hub.addEventListener('recognition', () => { window.recognitions += 1; });
    });
    for (const digit of digits) {
      await page.click('#clear');
      await drawStrokes(page, DIGIT_STROKES[digit]);
      await page.waitForFunction(() => window.recognitions > 0, null, { timeout: 10_000 }).catch(() => {
        assert.fail("the Draw area dispatched no hub 'recognition' event after a drawing: the lab cannot see it (wire it in draw-panel.js)");
      });
      await page.waitForSelector('.lab-digit:not([disabled])');
      await page.click(`.lab-digit[data-digit="${digit}"]`);
      await page.waitForFunction((n) => document.querySelector('.lab-teach').dataset.drawings === String(n), digits.indexOf(digit) + 1);
    }
    assert.equal(await page.isDisabled('.lab-digit[data-digit="3"]'), true, 'one label per drawing');
    await page.reload();
    await page.waitForSelector('#status[data-ready="true"]');
    await page.waitForFunction(() => document.querySelector('.lab-teach')?.dataset.drawings === '4');
    const kept = await page.evaluate(() => [...document.querySelectorAll('.lab-drawing')].map((d) => Number(d.dataset.label)));
    assert.deepEqual(kept, digits);

    await page.click('.lab-fine-tune');
    await page.waitForSelector('.lab-tune-score', { timeout: 180_000 });
    const score = await page.evaluate(() => ({ ...document.querySelector('.lab-tune-score').dataset }));
    assert.equal(score.total, '4');
    assert.ok(Number(score.after) >= Number(score.before), `fine-tuning did not make things worse: ${JSON.stringify(score)}`);
    const info = await modelInfo(page);
    assert.equal(info.source, 'trained');
    assert.match(info.label, /your handwriting/);
    assert.ok(info.testAccuracy > 0.5, `still reads the test set: ${info.testAccuracy}`);
    await page.locator('.lab-teach').screenshot({ path: screenshotPath('lab-teach.png') });

    // Delete one drawing: gone after a reload too.
    await page.click('.lab-drawing >> nth=0 >> .lab-drawing-delete');
    // The list changes once the browser store has deleted it: only then is a reload fair.
    await page.waitForFunction(() => document.querySelector('.lab-teach').dataset.drawings === '3');
    await page.reload();
    await page.waitForSelector('#status[data-ready="true"]');
    await page.waitForFunction(() => document.querySelector('.lab-teach')?.dataset.drawings === '3');
    assert.equal(await banner(page), '');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('pure helpers: typed numbers, cell colours, file names, cell look-up (no browser)', async () => {
  const { parseField } = await import('../../www/ui/lab-editor.js');
  const { cellColor, cellIndices } = await import('../../www/ui/lab-confusion.js');
  const { weightsFileName } = await import('../../www/ui/lab-weights.js');
  const filters = { label: 'filters', min: 1 };
  assert.deepEqual(parseField(filters, '16'), { value: 16 });
  assert.match(parseField(filters, '').error, /filters must be a number/);
  assert.match(parseField(filters, '2.5').error, /whole number/);
  assert.match(parseField(filters, '0').error, /at least 1/);
  assert.deepEqual(parseField({ label: 'rate', min: 0, decimal: true }, '0.3'), { value: 0.3 });

  // Every count gets a colour whose text (white or ink) is readable: WCAG ≥ 4.5:1.
  const luminance = (rgb) => rgb.map((c) => c / 255).map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => (Math.max(luminance(a), luminance(b)) + 0.05) / (Math.min(luminance(a), luminance(b)) + 0.05);
  for (const diagonal of [true, false]) {
    for (let count = 1; count <= 1000; count += 7) {
      const [css, white] = cellColor(count, 1000, 1000, diagonal);
      const rgb = css.match(/\d+/g).map(Number);
      const contrast = ratio(rgb, white ? [255, 255, 255] : [27, 29, 41]);
      assert.ok(contrast >= 4.5, `${css} with ${white ? 'white' : 'ink'} text: ${contrast.toFixed(2)}`);
    }
  }
  assert.deepEqual(cellColor(0, 10, 10, false), ['transparent', false]);

  assert.equal(weightsFileName('cnn'), 'digitlens-cnn.safetensors');
  assert.equal(weightsFileName('My CNN/v2'), 'digitlens-my-cnn-v2.safetensors');
  assert.equal(weightsFileName(''), 'digitlens-model.safetensors');

  assert.deepEqual(cellIndices([4, 9, 4, 4], [9, 9, 4, 9], 4, 9), [0, 3]);
});
