// For the classroom (issue 18): lesson links opened in a fresh browser context, projector mode
// at 1920 × 1080, and a class's handwriting as a dataset (export → import, the CLI reads it).
// Screenshots in tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, openPage, drawStrokes, DIGIT_STROKES, screenshotPath } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  if (env) await env.close();
});

const prediction = (page) => page.evaluate(() => ({ ...document.querySelector('#prediction').dataset }));
const strokes = (page) => page.evaluate(() => window.digitlens.draw.pad.strokes);

/** Opens a link in a new browser context and waits until its lesson is restored. */
async function openLink(link, viewport = { width: 1280, height: 900 }) {
  const opened = await openPage(env.browser, link, { viewport });
  await opened.page.waitForSelector('body[data-lesson="restored"], #lesson-notice:not([hidden])', { timeout: 30_000 });
  return opened;
}

/** The link #share-link holds once it differs from `before` and is finished: each change
 *  re-encodes it, and the field is aria-busy until the latest encoding is written. */
async function nextLink(page, before) {
  await page.waitForFunction((old) => {
    const field = document.querySelector('#share-link');
    return field.value.includes('#lesson=') && field.value !== old && !field.hasAttribute('aria-busy');
  }, before);
  return page.inputValue('#share-link');
}

/** Clicks Share and returns the link once #share-link holds one. */
async function share(page) {
  await page.click('#share');
  return nextLink(page, '');
}

test('a shared link opened in a new browser context shows the same drawing, prediction, parts and settings', async () => {
  const a = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 900 } });
  await a.page.waitForSelector('#train-epochs');
  await a.page.waitForSelector('.lab-editor, [data-lab="editor"]');
  // A 3 drawn a little off-centre, so the link must carry the exact strokes.
  await drawStrokes(a.page, DIGIT_STROKES[3].map((s) => s.map(([x, y]) => [x * 0.9 + 0.08, y * 0.85 + 0.1])));
  const sent = await prediction(a.page);
  assert.equal(sent.digit, '3');
  const settings = { '#train-epochs': '3', '#train-lr': '0.002', '#train-size': '5000', '#train-seed': '11' };
  for (const [selector, value] of Object.entries(settings)) await a.page.fill(selector, value);
  await a.page.selectOption('#train-optimizer', 'sgd');
  await a.page.locator('#train-augment').setChecked(false);
  await a.page.check('input[name="scale-mode"][value="channel"]');

  const full = await share(a.page);
  assert.ok((await a.page.locator('#share-panel').isVisible()), 'Share opens its panel');
  // The class sees only Draw and Look inside.
  for (const part of ['train', 'model']) await a.page.uncheck(`input[name="share-part"][value="${part}"]`);
  const link = await nextLink(a.page, full);
  assert.ok(link.length < 4000, `a link with a drawing is ${link.length} characters`);
  const sentStrokes = await strokes(a.page);
  await a.page.screenshot({ path: screenshotPath('classroom-share.png') });
  await a.context.close();

  const b = await openLink(link);
  try {
    assert.equal(await b.page.locator('#lesson-notice').isVisible(), false, 'nothing failed to restore');
    const got = await strokes(b.page);
    assert.equal(got.length, sentStrokes.length);
    got.forEach((stroke, i) => {
      assert.equal(stroke.length, sentStrokes[i].length);
      stroke.forEach(([x, y], j) => assert.ok(Math.abs(x - sentStrokes[i][j][0]) < 1e-3 && Math.abs(y - sentStrokes[i][j][1]) < 1e-3, `stroke ${i} point ${j}`));
    });
    const shown = await prediction(b.page);
    assert.equal(shown.digit, sent.digit);
    assert.ok(Math.abs(Number(shown.confidence) - Number(sent.confidence)) < 0.005, `confidence ${shown.confidence} vs ${sent.confidence}`);
    assert.equal(await b.page.locator('#area-train').isHidden(), true);
    assert.equal(await b.page.locator('#area-model').isHidden(), true);
    assert.equal(await b.page.locator('#area-draw').isVisible(), true);
    assert.equal(await b.page.locator('#area-inside').isVisible(), true);
    for (const [selector, value] of Object.entries(settings)) assert.equal(await b.page.inputValue(selector), value, selector);
    assert.equal(await b.page.inputValue('#train-optimizer'), 'sgd');
    assert.equal(await b.page.locator('#train-augment').isChecked(), false);
    assert.equal(await b.page.locator('input[name="scale-mode"][value="channel"]').isChecked(), true);
    await b.page.screenshot({ path: screenshotPath('classroom-opened-link.png') });
    // The hidden parts come back on request.
    await b.page.click('#lesson-show-all');
    assert.equal(await b.page.locator('#area-train').isVisible(), true);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.context.close();
  }
});

test('a link carries the editor\'s architecture, the one offered to Train, and a tour step to open at', async () => {
  const a = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 900 } });
  await a.page.waitForSelector('#train-start');
  await a.page.waitForFunction(() => window.digitlens.areas.lab?.editor);
  const dense = await a.page.evaluate(() => {
    const { hub, areas } = window.digitlens;
    const architecture = hub.wasm.presetArchitecture('dense');
    areas.lab.editor.load(architecture);
    hub.customArchitecture = areas.lab.editor.architecture();
    hub.dispatchEvent(new CustomEvent('custom-architecture', { detail: { architecture: hub.customArchitecture } }));
    return areas.lab.editor.architecture();
  });
  await a.page.selectOption('#preset', 'custom');
  await share(a.page);
  const before = await a.page.inputValue('#share-link');
  await a.page.selectOption('#share-tour', '3');
  const link = await nextLink(a.page, before);
  await a.context.close();

  const b = await openLink(link);
  try {
    await b.page.waitForSelector('#tour[open]');
    assert.match(await b.page.locator('#tour-count').textContent(), /Step 3 of/);
    const editor = await b.page.evaluate(() => window.digitlens.areas.lab.editor.architecture());
    assert.deepEqual(editor.layers, dense.layers);
    assert.equal(await b.page.inputValue('#preset'), 'custom');
    assert.equal(await b.page.locator('#lesson-notice').isVisible(), false);
  } finally {
    await b.context.close();
  }
});

test('a damaged link, a link from a newer version and a trained model say what they could not restore', async () => {
  const a = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 900 } });
  // A model trained in the sender's browser is named, not sent.
  await a.page.evaluate(() => {
    const { hub } = window.digitlens;
    hub.setModel(hub.wasm.Recognizer.pretrained(), { source: 'trained', label: 'cnn (3 epochs)' });
  });
  const named = await share(a.page);
  await a.context.close();

  const cases = [
    [named, /cnn \(3 epochs\).*weights are too large for a link/],
    [`${env.url}#lesson=1.${'x'.repeat(40)}`, /damaged or cut short/],
    [`${env.url}#lesson=9.abc`, /newer digitlens.*version 9/],
  ];
  for (const [link, message] of cases) {
    const b = await openLink(link);
    try {
      await b.page.waitForSelector('#lesson-notice:not([hidden])');
      assert.match(await b.page.locator('#lesson-notice').textContent(), message);
      // The page works as usual.
      await drawStrokes(b.page, DIGIT_STROKES[7]);
      assert.equal((await prediction(b.page)).digit, '7');
    } finally {
      await b.context.close();
    }
  }
});

/** Visible text smaller than 24 px, and anything sticking out of the window. */
function projectorProblems() {
  const view = { width: document.documentElement.clientWidth, height: document.documentElement.clientHeight };
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.textContent.trim() || !parent || !parent.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 1 && r.height > 1 && r.right > 0 && r.bottom > 0 && r.left < view.width && r.top < view.height);
    if (!rects.length) continue;
    const size = parseFloat(getComputedStyle(parent).fontSize);
    if (size < 24) small.push(`${size}px "${node.textContent.trim().slice(0, 40)}" in ${parent.tagName}.${parent.className}`);
  }
  const out = [...document.querySelectorAll('body *')].filter((e) => {
    if (!e.checkVisibility() || e.closest('.sr-only, dialog:not([open])')) return false;
    const r = e.getBoundingClientRect();
    return r.width > 0 && (r.right > view.width + 0.5 || r.bottom > view.height + 0.5);
  }).map((e) => `${e.tagName}.${e.className}#${e.id}`);
  const root = document.documentElement;
  return { small, out, scroll: [Math.max(0, root.scrollWidth - root.clientWidth), Math.max(0, root.scrollHeight - root.clientHeight)] };
}

test('projector mode at 1920 × 1080: one screen, no overflow, all text at least 24 px; keys step through layers', async () => {
  const { context, page, errors } = await openPage(env.browser, env.url, { viewport: { width: 1920, height: 1080 } });
  try {
    await page.waitForSelector('#train-start');
    await drawStrokes(page, DIGIT_STROKES[4]);
    await page.screenshot({ path: screenshotPath('classroom-normal-1920.png') });
    await page.click('#projector');
    await page.waitForFunction(() => document.querySelector('.layer-group.is-projected'));
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshotPath('classroom-projector-1920.png') });
    const problems = await page.evaluate(projectorProblems);
    assert.deepEqual(problems.small, [], 'text under 24 px');
    assert.deepEqual(problems.out, [], 'elements outside the window');
    assert.deepEqual(problems.scroll, [0, 0], 'the page scrolls');
    assert.equal((await prediction(page)).digit, '4');
    // The pad is large and still takes strokes.
    const pad = await page.locator('#pad').boundingBox();
    assert.ok(pad.width >= 560, `the pad is ${pad.width} px wide`);
    await page.keyboard.press('Delete');
    await drawStrokes(page, DIGIT_STROKES[2]);
    assert.equal((await prediction(page)).digit, '2');
    // ← → choose the layer shown.
    const layers = await page.evaluate(() => [...document.querySelectorAll('.layer-group')].filter((g) => g.querySelector('.tiles')).map((g) => g.dataset.layer));
    const projected = () => page.evaluate(() => [...document.querySelectorAll('.layer-group.is-projected')].map((g) => g.dataset.layer));
    assert.deepEqual(await projected(), [layers[0]]);
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await projected(), [layers[1]]);
    assert.match(await page.locator('#projector-keys').textContent(), new RegExp(`Layer 2 of ${layers.length}`));
    const again = await page.evaluate(projectorProblems);
    assert.deepEqual([again.small, again.out, again.scroll], [[], [], [0, 0]], `layer ${layers[1]} fits too`);
    await page.keyboard.press('ArrowLeft');
    assert.deepEqual(await projected(), [layers[0]]);
    // PageDown (a presenter's clicker) opens the tour and steps through it.
    await page.keyboard.press('PageDown');
    await page.waitForSelector('#tour[open]');
    assert.match(await page.locator('#tour-count').textContent(), /Step 1 of/);
    await page.keyboard.press('PageDown');
    assert.match(await page.locator('#tour-count').textContent(), /Step 2 of/);
    await page.screenshot({ path: screenshotPath('classroom-projector-tour.png') });
    const inTour = await page.evaluate(projectorProblems);
    assert.deepEqual(inTour.small, [], 'text under 24 px with the tour open');
    await page.keyboard.press('Escape');
    // A link keeps projector mode and the chosen layer.
    await page.keyboard.press('ArrowRight');
    const link = await share(page);
    const b = await openLink(link, { width: 1920, height: 1080 });
    try {
      assert.equal(await b.page.evaluate(() => document.body.classList.contains('projector')), true);
      await b.page.waitForFunction((name) => document.querySelector(`.layer-group.is-projected[data-layer="${name}"]`), layers[1]);
      assert.equal((await prediction(b.page)).digit, '2');
    } finally {
      await b.context.close();
    }
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** Runs the CLI (built by cargo if needed); resolves with its stdout. */
function cli(args) {
  return new Promise((resolve, reject) => {
    execFile('cargo', ['run', '--quiet', '--bin', 'digitlens', '--', ...args], { cwd: ROOT, env: { ...process.env, RAYON_NUM_THREADS: '1' }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}

test('a class set: 30 drawings exported, imported from two students, read by the page and by the CLI alike', async () => {
  const { context, page, errors } = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 900 } });
  try {
    await page.waitForSelector('[data-lab="class"] #class-export');
    // 30 labelled drawings as "Teach it your handwriting" keeps them: example digits, moved and
    // scaled a little; the last three deliberately labelled wrong (a student's slip).
    const stored = await page.evaluate(async (examples) => {
      const { storage, DRAWINGS } = await import('./ui/lab-store.js');
      const { hub, draw } = window.digitlens;
      const drawings = [];
      for (let i = 0; i < 30; i++) {
        const digit = i % 10;
        const scale = 0.85 + 0.1 * ((i * 7) % 3);
        const [dx, dy] = [((i * 5) % 7 - 3) * 0.02, ((i * 3) % 5 - 2) * 0.02];
        let input = null;
        const keep = ({ detail }) => { input = detail.result?.input; };
        hub.addEventListener('recognition', keep);
        draw.pad.setStrokes(examples[digit].map((s) => s.map(([x, y]) => [0.5 + (x - 0.5) * scale + dx, 0.5 + (y - 0.5) * scale + dy])));
        hub.removeEventListener('recognition', keep);
        const pixels = Uint8Array.from(input, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
        const label = i >= 27 ? (digit + 1) % 10 : digit;
        await storage.put(DRAWINGS, { label, pixels, savedAt: Date.now() });
        drawings.push({ label, pixels: [...pixels] });
      }
      return drawings;
    }, DIGIT_STROKES);

    await page.locator('#class-export').scrollIntoViewIfNeeded();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#class-export')]);
    const file = screenshotPath('class-digits-30.idx');
    await download.saveAs(file);
    const bytes = fs.readFileSync(file);
    // The file is IDX images then IDX labels (see www/ui/classroom/class-file.js).
    assert.equal(bytes.length, 16 + 30 * 784 + 8 + 30);
    assert.deepEqual([bytes.readUInt32BE(0), bytes.readUInt32BE(4), bytes.readUInt32BE(8), bytes.readUInt32BE(12)], [0x803, 30, 28, 28]);
    const labelsAt = 16 + 30 * 784;
    assert.deepEqual([bytes.readUInt32BE(labelsAt), bytes.readUInt32BE(labelsAt + 4)], [0x801, 30]);
    stored.forEach((d, i) => {
      assert.deepEqual([...bytes.subarray(16 + i * 784, 16 + (i + 1) * 784)], d.pixels, `image ${i}`);
      assert.equal(bytes[labelsAt + 8 + i], d.label, `label ${i}`);
    });

    // Two students hand in files: the class set is both, merged.
    const second = screenshotPath('class-digits-30-b.idx');
    fs.copyFileSync(file, second);
    await page.setInputFiles('#class-import', [file, second]);
    await page.waitForSelector('#class-score[data-total="60"]');
    const imported = await page.evaluate(() => window.digitlens.areas.lab.classData.samples().map((s) => ({ label: s.label, pixels: [...s.pixels] })));
    assert.deepEqual(imported, [...stored, ...stored]);
    const right = Number(await page.getAttribute('#class-score', 'data-right'));
    assert.ok(right <= 54, `the three mislabelled drawings (twice) are misread: ${right} of 60 right`);
    assert.equal(await page.locator('.class-misread li').count(), 60 - right);
    const perDigit = await page.evaluate(() => [...document.querySelectorAll('.class-per-digit tbody tr')].map((r) => Number(r.dataset.total)));
    assert.deepEqual(perDigit, Array.from({ length: 10 }, (_, d) => stored.filter((s) => s.label === d).length * 2));

    // A file that is not class data is refused with a reason, and nothing is lost.
    const junk = screenshotPath('not-class-data.idx');
    fs.writeFileSync(junk, 'hello');
    await page.setInputFiles('#class-import', [junk]);
    await page.waitForSelector('[data-lab="class"] .lab-message:not([hidden])');
    assert.match(await page.locator('[data-lab="class"] .lab-message').textContent(), /not-class-data\.idx: .*IDX/);
    assert.equal(await page.getAttribute('[data-lab="class"]', 'data-count'), '60');
    await page.locator('[data-lab="class"]').screenshot({ path: screenshotPath('classroom-class-data.png') });

    // The CLI reads the same file and reads it as the page does (the pretrained model in both).
    const out = await cli(['eval', '--weights', 'model/cnn.safetensors', '--data', file]);
    assert.match(out, /^30 images/m);
    const accuracy = Number(out.match(/accuracy ([\d.]+)%/)[1]);
    assert.ok(Math.abs(accuracy - (100 * right) / 60) < 0.01, `CLI ${accuracy}% vs page ${right}/60`);

    // Fine-tune on 70 %, test on the other 30 %.
    await page.click('#class-tune');
    await page.waitForSelector('#class-split-score', { timeout: 240_000 });
    const split = await page.evaluate(() => ({ ...document.querySelector('#class-split-score').dataset }));
    assert.equal(split.total, '18');
    assert.ok(Number(split.after) >= 0 && Number(split.after) <= 18);
    assert.match(await page.locator('#model-badge').textContent(), /class data/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('link and file decoders refuse bad input with reasons (no browser)', async () => {
  const { encodeStrokes, decodeStrokes } = await import('../../www/ui/classroom/stroke-code.js');
  const { encodeLesson, decodeLesson, VERSION } = await import('../../www/ui/classroom/lesson-state.js');
  const { encodeClassFile, decodeClassFile } = await import('../../www/ui/classroom/class-file.js');
  const strokes = [[[0.1, 0.2], [0.5, 0.9], [1.2, -0.1]], [[0.5, 0.5]]];
  decodeStrokes(encodeStrokes(strokes)).flat().forEach(([x, y], i) => {
    const [ex, ey] = strokes.flat()[i];
    assert.ok(Math.abs(x - ex) <= 1 / 8192 && Math.abs(y - ey) <= 1 / 8192);
  });
  assert.throws(() => decodeStrokes([[1, 2, 3]]), /whole-number x, y pairs/);
  assert.throws(() => decodeStrokes([[0.5, 1]]), /whole-number/);
  assert.throws(() => decodeStrokes('x'), /list of at most/);
  assert.throws(() => decodeStrokes([Array(40002).fill(1)]), /more than 20000 points/);
  // Far-off points are held near the pad.
  assert.deepEqual(decodeStrokes([[1e9, -1e9]]), [[[2, -1]]]);

  const state = { drawing: encodeStrokes(strokes), train: { epochs: '4' } };
  const hash = await encodeLesson(state);
  assert.ok(hash.startsWith(`#lesson=${VERSION}.`));
  assert.deepEqual(await decodeLesson(hash), state);
  await assert.rejects(decodeLesson(`${hash.slice(0, -6)}`), /damaged or cut short/);
  await assert.rejects(decodeLesson(`#lesson=${VERSION + 1}.${hash.split('.')[1]}`), /newer digitlens/);
  await assert.rejects(decodeLesson('#lesson=1.ab$cd'), /damaged|characters/);

  const samples = [{ label: 4, pixels: new Uint8Array(784).fill(200) }, { label: 9, pixels: new Uint8Array(784) }];
  const bytes = encodeClassFile(samples);
  assert.deepEqual(await decodeClassFile(bytes), samples);
  const gz = new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
  assert.deepEqual(await decodeClassFile(gz), samples);
  await assert.rejects(decodeClassFile(bytes.slice(0, 900)), /cut short/);
  await assert.rejects(decodeClassFile(bytes.slice(0, -1)), /length/);
  const badLabel = bytes.slice();
  badLabel[badLabel.length - 1] = 11;
  await assert.rejects(decodeClassFile(badLabel), /labelled 11/);
  assert.throws(() => encodeClassFile([{ label: 10, pixels: new Uint8Array(784) }]), /digit 0–9/);
});
