// "Use every core" (issue 17): data-parallel training across Web Workers gives the weights one
// worker gives; a 2-worker run in the Train area trains, pauses, resumes, survives losing a
// worker, stops keeping the best epoch and evaluates on the test set; evaluation is shared out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, openTrainPage, setFields, trainStatus, waitForEnd, screenshotPath } from './harness.mjs';

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});

test('N gradient workers train to the same weights as one, with uneven shards', async () => {
  const { context, page, errors } = await openPage(env.browser, env.url);
  try {
    const result = await page.evaluate(async () => {
      const wasm = await import('./pkg/digitlens.js');
      await wasm.default();
      const { GradientPool } = await import('./parallel/pool.js');
      const fetchBytes = async (f) => new Uint8Array(await (await fetch(`./data/${f}`)).arrayBuffer());
      const data = wasm.Dataset.fromIdx(await fetchBytes('t10k-images-idx3-ubyte.gz'), await fetchBytes('t10k-labels-idx1-ubyte.gz'));
      // A conv net with dropout; batches of 10 split 4/3/3 over three workers.
      const architecture = JSON.stringify({ name: 't', layers: [
        { type: 'conv2d', filters: 4, kernel: 3, activation: 'relu' }, { type: 'maxpool2d', size: 2 }, { type: 'flatten' },
        { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 10 }] });
      const config = JSON.stringify({ epochs: 1, batchSize: 10, trainSize: 200, validationSplit: 0.1, augment: true, seed: 5 });
      const one = wasm.Trainer.fromScratch(architecture, data, config);
      const three = wasm.Trainer.fromScratch(architecture, data, config);
      const pool = new GradientPool(new URL('./parallel/gradient-worker.js', location.href));
      await pool.configure(3, architecture);
      const losses = [];
      for (let step = 0; step < 5; step++) {
        const a = one.step();
        const b = await pool.step(three);
        losses.push([a.loss, b.loss]);
      }
      const [wa, wb] = [one.flatWeights(), three.flatWeights()];
      let worst = 0;
      let largest = 0;
      for (let i = 0; i < wa.length; i++) {
        worst = Math.max(worst, Math.abs(wa[i] - wb[i]));
        largest = Math.max(largest, Math.abs(wa[i]));
      }
      // The shards were really computed elsewhere: a pool of 3 has 2 helper workers.
      const helpers = pool.helpers.length;
      // Parallel test evaluation equals one worker's.
      const model = wasm.Recognizer.pretrained();
      const read = (from, to) => data.range(from, to);
      await pool.configure(3, JSON.stringify(model.architecture()));
      const shared = await pool.evaluate(model.flatWeights(), 3000, read);
      const single = new GradientPool(null);
      await single.configure(1, JSON.stringify(model.architecture()));
      const alone = await single.evaluate(model.flatWeights(), 3000, read);
      const evaluations = [shared.result(), alone.result()];
      pool.close();
      single.close();
      return { losses, worst, largest, helpers, count: wa.length, evaluations };
    });
    assert.equal(result.helpers, 2);
    for (const [a, b] of result.losses) assert.ok(Math.abs(a - b) < 1e-5, `losses ${a} vs ${b}`);
    assert.ok(result.worst <= 1e-5 * result.largest, `weights differ by ${result.worst} (largest ${result.largest})`);
    const [shared, alone] = result.evaluations;
    assert.equal(shared.count, 3000);
    assert.deepEqual(shared.confusion, alone.confusion);
    assert.deepEqual(shared.predictions, alone.predictions);
    assert.ok(Math.abs(shared.loss - alone.loss) < 1e-9);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a 2-worker run trains, pauses, resumes, survives losing a worker, stops with the best epoch and tests', async () => {
  const { context, page, errors } = await openTrainPage(env);
  try {
    await setFields(page, { '#preset': 'cnn', '#train-size': 3000, '#train-epochs': 5, '#train-workers': 2 });
    await page.evaluate(() => {
      window.seen = {};
      for (const type of ['batch', 'epoch', 'worker-restarted', 'eval-progress']) {
        window.digitlens.hub.trainer.addEventListener(type, () => { window.seen[type] = (window.seen[type] ?? 0) + 1; });
      }
    });
    await page.click('#train-start');
    await page.waitForFunction(() => document.querySelector('#train-status').dataset.workers === '2', null, { timeout: 60_000 });
    assert.match(await page.textContent('#train-status'), /with 2 workers/);

    // Pause holds every worker between batches; Resume goes on.
    await page.waitForFunction(() => (window.seen.batch ?? 0) >= 3, null, { timeout: 60_000 });
    await page.click('#train-pause');
    await page.waitForSelector('#train-status[data-paused="true"]');
    const atPause = await page.evaluate(() => window.seen.batch);
    await page.waitForTimeout(1000);
    assert.equal(await page.evaluate(() => window.seen.batch), atPause, 'no batch ran while paused');
    await page.click('#train-pause');
    await page.waitForFunction((n) => window.seen.batch > n, atPause);

    // One gradient worker crashes mid-run (its wasm panics): it is replaced and the run goes on.
    const restarted = page.evaluate(() => new Promise((resolve, reject) => {
      window.digitlens.hub.trainer.addEventListener('worker-restarted', ({ detail }) => resolve(detail.message), { once: true });
      setTimeout(() => reject(new Error('no worker-restarted event within 60 s')), 60_000);
    }));
    // The test-only request goes straight into the training worker (www/worker.js, not the
    // explanation's or the insight's), as reliability.test.mjs does.
    const training = page.workers().find((w) => new URL(w.url()).pathname === '/worker.js');
    await training.evaluate(() => self.dispatchEvent(new MessageEvent('message', { data: { type: 'test-only-crash-helper', id: 'test' } })));
    const crashed = await restarted;
    assert.match(crashed, /a training worker failed \(.*deliberate panic.*\) and was replaced/);
    const afterCrash = await page.evaluate(() => window.seen.batch);
    await page.waitForFunction((n) => window.seen.batch > n + 3, afterCrash, { timeout: 60_000 });
    assert.equal((await trainStatus(page)).state, 'running');

    // Epoch 2 validated (shared out too), then Stop: the best epoch's weights stay and are tested.
    await page.waitForFunction(() => (window.seen.epoch ?? 0) >= 2, null, { timeout: 120_000 });
    await page.click('#train-stop');
    const end = await waitForEnd(page);
    assert.equal(end.state, 'stopped');
    assert.ok(Number(end.weightsEpoch) >= 1);
    assert.ok(Number(end.valAccuracy) > 0.8, `validation accuracy ${end.valAccuracy}`);
    assert.match(await page.textContent('#train-result'), /./);
    await page.screenshot({ path: screenshotPath('cores-2-workers-stopped.png'), fullPage: true });

    // The test evaluation of the model in use, shared by both workers.
    await page.click('#train-evaluate');
    await page.waitForFunction(() => document.querySelector('#train-status').dataset.testAccuracy !== '', null, { timeout: 60_000 });
    assert.ok(Number((await trainStatus(page)).testAccuracy) > 0.8);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the Train area says how many workers it uses, and one worker is today\'s run', async () => {
  const { context, page } = await openTrainPage(env);
  try {
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(Number(await page.inputValue('#train-workers')), Math.min(8, cores));
    await setFields(page, { '#train-workers': 2 });
    await page.dispatchEvent('#train-workers', 'change');
    assert.match(await page.textContent('#train-workers-note'), /2 Web Workers share each batch.*no cross-origin isolation/);
    await setFields(page, { '#train-workers': 1, '#preset': 'dense', '#train-size': 1000, '#train-epochs': 1 });
    await page.dispatchEvent('#train-workers', 'change');
    assert.match(await page.textContent('#train-workers-note'), /One Web Worker/);
    await page.click('#train-start');
    const end = await waitForEnd(page);
    assert.equal(end.state, 'done');
    assert.equal(end.workers, '1');
  } finally {
    await context.close();
  }
});

test('"Train on all 60,000" downloads the full set once, with progress, and trains on all of it', async () => {
  const { context, page } = await openTrainPage(env);
  try {
    await page.evaluate(async () => {
      const { sharedTrainerClient } = await import('./ui/trainer-client.js');
      const client = sharedTrainerClient();
      window.fullRuns = [];
      client.addEventListener('start', ({ detail }) => window.fullRuns.push({ start: detail, progress: [] }));
      client.addEventListener('data-progress', ({ detail }) => window.fullRuns.push({ progress: [detail] }));
      // Stop each run after its third batch: what is checked is which images it trains on.
      client.addEventListener('batch', ({ detail }) => { if (detail.batch === 3) client.stop(); });
    });
    await setFields(page, { '#preset': 'dense', '#train-epochs': 1 });
    await page.check('#train-full-mnist');
    assert.equal(await page.isDisabled('#train-size'), true, 'the bundled subset\'s size does not apply');
    for (let run = 0; run < 2; run++) {
      await page.click('#train-start');
      assert.equal((await waitForEnd(page, 120_000)).state, 'stopped');
    }
    const events = await page.evaluate(() => window.fullRuns);
    const starts = events.filter((e) => e.start).map((e) => e.start);
    assert.equal(starts.length, 2);
    for (const start of starts) {
      assert.equal(start.trainSize + start.validationSize, 60_000);
      assert.equal(start.validationSize, 6_000);
    }
    // The download is reported as it goes, and only before the first run.
    const firstStart = events.findIndex((e) => e.start);
    const progress = events.filter((e) => !e.start).map((e) => e.progress[0]);
    assert.ok(progress.length >= 2, `${progress.length} progress events`);
    assert.ok(events.slice(firstStart).every((e) => e.start), 'the second run downloaded again');
    const last = progress.at(-1);
    assert.ok(last.total > 9e6 && last.loaded === last.total, `downloaded ${last.loaded} of ${last.total} bytes`);
    assert.ok(progress.every((p, i) => i === 0 || p.loaded >= progress[i - 1].loaded));
  } finally {
    await context.close();
  }
});
