// Data-parallel training and evaluation across Web Workers (see src/parallel.rs for why the
// result equals one worker's). The training worker (www/worker.js) owns the Trainer and is
// worker 0; this pool adds the other N − 1, each a gradient worker (gradient-worker.js) holding
// a replica of the model. Each step they are sent the weights and their shard of the batch
// (transferred buffers: no SharedArrayBuffer, so no cross-origin isolation is needed) and answer
// with the shard's gradients; worker 0 computes its own shard meanwhile, sums the parts in shard
// order and applies one update. A worker that fails is replaced, and its shard is computed here
// instead, so a run goes on with the same numbers.
//
// Imported by worker.js and bench-worker.js after their wasm `init()`.
import * as wasm from '../pkg/digitlens.js';

const PIXELS = 784;
/** Images per evaluation part: progress granularity for the 10,000-image test evaluation. */
const EVAL_PART = 500;

/** One gradient worker: requests with promises, a replacement after a crash. */
class Helper {
  constructor(url, onLost) {
    this.url = url;
    this.onLost = onLost;
    this.seq = 0;
    this.pending = new Map();
    this.architecture = null;
    this.spawn();
  }

  spawn() {
    this.answered = false;
    this.worker = new Worker(this.url, { type: 'module' });
    this.worker.onmessage = ({ data }) => {
      this.answered = true;
      const request = this.pending.get(data.seq);
      if (!request) return;
      this.pending.delete(data.seq);
      if (data.type === 'error') {
        request.reject(new Error(data.message));
        if (data.fatal) this.replace(data.message);
      } else {
        request.resolve(data);
      }
    };
    // A worker that could not load, or whose instance died (e.g. out of memory). One that
    // never answered is not started again (offline without its script, say): its shards are
    // computed by worker 0 from then on.
    this.worker.onerror = (event) => {
      event.preventDefault();
      const why = event.message || 'the gradient worker stopped';
      if (this.answered) this.replace(why);
      else this.retire(why);
    };
    this.ready = this.architecture ? this.request({ type: 'init', architecture: this.architecture }) : Promise.resolve();
  }

  /** Ends this worker, fails what it was asked, and starts a fresh one with the same model. */
  replace(why) {
    this.terminate(why);
    this.onLost(why, true);
    this.spawn();
  }

  /** Ends this worker for good: its requests fail (and are done elsewhere). */
  retire(why) {
    this.retired = true;
    this.terminate(why);
    this.onLost(why, false);
  }

  request(message, transfer = []) {
    if (this.retired) return Promise.reject(new Error('this worker was retired'));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...message, seq }, transfer);
    });
  }

  configure(architecture) {
    if (architecture === this.architecture) return this.ready;
    this.architecture = architecture;
    this.ready = this.request({ type: 'init', architecture });
    return this.ready;
  }

  terminate(why = 'the pool was closed') {
    this.worker.terminate();
    for (const request of this.pending.values()) request.reject(new Error(why));
    this.pending.clear();
  }
}

/** [[from, to], …]: the shards of `len` images over `count` workers, as Rust cuts them. */
function shards(len, count) {
  const bounds = wasm.shardBounds(len, count);
  return Array.from({ length: bounds.length - 1 }, (_, k) => [bounds[k], bounds[k + 1]]);
}

export class GradientPool {
  /** `onLost(why, replaced)`: a worker failed and was replaced, or (`replaced` false) could not
   *  start at all; either way worker 0 did its work. */
  constructor(helperUrl, onLost = () => {}) {
    this.helperUrl = helperUrl;
    this.onLost = onLost;
    this.helpers = [];
    this.local = null;
    this.architecture = null;
  }

  /** Workers in all, this one included. */
  get size() {
    return this.helpers.length + 1;
  }

  /** Gets `workers` workers (this one included) ready for `architecture` (JSON string). */
  async configure(workers, architecture) {
    const wanted = Math.max(1, Math.floor(workers)) - 1;
    while (this.helpers.length > wanted) this.helpers.pop().terminate();
    while (this.helpers.length < wanted) this.helpers.push(new Helper(this.helperUrl, this.onLost));
    if (architecture !== this.architecture) {
      this.local?.free();
      this.local = new wasm.GradientWorker(architecture);
      this.architecture = architecture;
    }
    await Promise.all(this.helpers.map((helper) => helper.configure(architecture)));
  }

  /** Asks helper `k` (a worker's index minus one) for something; if it fails, `fallback()`
   *  does the same work here. The request is posted at once, not after an await, so the
   *  helper works while the caller goes on to its own share. */
  ask(k, message, transfer, fallback) {
    const helper = this.helpers[k];
    return Promise.all([helper.ready, helper.request(message, transfer)]).then(([, reply]) => reply, () => fallback());
  }

  /** One training step with the batch's gradients computed by every worker; null when the
   *  trainer's next step is not a batch (then call `trainer.step()`). */
  async step(trainer) {
    const batch = trainer.beginBatch();
    if (!batch) return null;
    const parts = shards(batch.size, this.size);
    const weights = trainer.flatWeights();
    const asked = parts.slice(1).map(([from, to], k) => {
      // Each worker needs its own copy of the weights; the last one can have the original.
      const own = k === parts.length - 2 ? weights : weights.slice();
      const pixels = batch.pixels.slice(from * PIXELS, to * PIXELS);
      const labels = batch.labels.slice(from, to);
      const message = { type: 'gradients', weights: own, pixels, labels, dropoutSeed: batch.dropoutSeed, first: from, batchSize: batch.size };
      return this.ask(k, message, [own.buffer, pixels.buffer, labels.buffer], () => trainer.shardGradients(from, to));
    });
    const mine = trainer.shardGradients(...parts[0]);
    return trainer.finishBatch([mine, ...(await Promise.all(asked))]);
  }

  /** Evaluates the images `read(from, to)` → {images, labels} of a set of `total` with the
   *  flat `weights`, in parts spread over every worker; `onProgress(done, total)` after each
   *  part. Returns a wasm Evaluation (the caller frees it), or null if `cancelled()`. */
  async evaluate(weights, total, read, { onProgress = () => {}, cancelled = () => false, yieldToEvents = async () => {} } = {}) {
    const parts = [];
    for (let from = 0; from < total; from += EVAL_PART) parts.push([from, Math.min(total, from + EVAL_PART)]);
    const results = new Array(parts.length);
    let done = 0;
    const finished = (index, result) => {
      results[index] = result;
      const [from, to] = parts[index];
      done += to - from;
      onProgress(done, total);
    };
    const evaluateHere = (index) => {
      const { images, labels } = read(...parts[index]);
      this.local.setWeights(weights);
      const evaluation = this.local.evaluate(images, labels);
      try {
        finished(index, evaluation.result());
      } finally {
        evaluation.free();
      }
    };
    // Parts go to whichever worker is free next, so a slower one does fewer.
    let next = 0;
    const take = () => (next < parts.length && !cancelled() ? next++ : null);
    const here = async () => {
      for (let index = take(); index !== null; index = take()) {
        evaluateHere(index);
        await yieldToEvents();
      }
    };
    // A helper keeps two parts in flight: its replies are only read between worker 0's
    // parts, and it should not sit idle until then.
    const helper = async (k) => {
      const send = (index) => {
        const { images, labels } = read(...parts[index]);
        const copy = weights.slice();
        const message = { type: 'evaluate', weights: copy, images, labels };
        return this.ask(k, message, [copy.buffer, images.buffer, labels.buffer], () => ({ result: null }))
          // The part's buffers went to the worker: a fallback reads them again.
          .then(({ result }) => (result ? finished(index, result) : evaluateHere(index)));
      };
      const inFlight = [];
      for (let index = take(); index !== null; index = take()) {
        inFlight.push(send(index));
        if (inFlight.length === 2) await inFlight.shift();
      }
      await Promise.all(inFlight);
    };
    // The helpers start first: worker 0's first part runs synchronously.
    await Promise.all([...this.helpers.keys()].map(helper).concat(here()));
    if (cancelled()) return null;
    const merged = new wasm.Evaluation();
    for (const result of results) merged.mergeResult(result);
    return merged;
  }

  /** The epoch's validation spread over every worker, ending the epoch; null when the
   *  trainer's next step is not a validation (then call `trainer.step()`). */
  async validate(trainer, options) {
    if (!trainer.validationIsNext) return null;
    const read = (from, to) => trainer.validationImages(from, to);
    const evaluation = await this.evaluate(trainer.flatWeights(), trainer.validationSize, read, options);
    if (!evaluation) return null;
    try {
      return trainer.finishValidation(evaluation);
    } finally {
      evaluation.free();
    }
  }

  /** TEST ONLY (the worker's 'test-only-crash-helper'): makes the first helper's wasm panic. */
  crashForTests() {
    this.helpers[0]?.request({ type: 'test-only-panic' }).catch(() => {});
  }

  /** Ends every helper and frees the local replica. */
  close() {
    for (const helper of this.helpers) helper.terminate();
    this.helpers = [];
    this.local?.free();
    this.local = null;
    this.architecture = null;
  }
}
