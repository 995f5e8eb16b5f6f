// A gradient worker: one extra core for data-parallel training (see src/parallel.rs). It holds
// a replica of the model in training, without optimiser or data: each step the training worker
// (www/worker.js, through pool.js) sends it the current weights and its shard of the batch, and
// it answers with the shard's gradients; for validation and test evaluation, with its part.
//
// Protocol (every request carries a `seq` the reply repeats):
//   → {type:'init', seq, architecture: JSON string}          → {type:'ready', seq}
//   → {type:'gradients', seq, weights: Float32Array, pixels: Float32Array, labels: Uint32Array,
//      dropoutSeed, first, batchSize}                        → {type:'gradients', seq, gradients, lossSum, correct, count}
//   → {type:'evaluate', seq, weights, images: Uint8Array, labels: Uint8Array}
//                                                            → {type:'evaluation', seq, result}
//   → {type:'test-only-panic', seq}   TEST ONLY: the wasm panics (a crash, for the e2e tests)
//   any failure                                              → {type:'error', seq, message, fatal}
import init, * as wasm from '../pkg/digitlens.js';
import { describe } from '../wasm-errors.js';

const ready = init();
let replica = null;

const HANDLERS = {
  init({ architecture }) {
    replica?.free();
    replica = new wasm.GradientWorker(architecture);
    return [{ type: 'ready' }, []];
  },
  gradients({ weights, pixels, labels, dropoutSeed, first, batchSize }) {
    replica.setWeights(weights);
    const { gradients, lossSum, correct, count } = replica.gradients(pixels, labels, dropoutSeed, first, batchSize);
    return [{ type: 'gradients', gradients, lossSum, correct, count }, [gradients.buffer]];
  },
  // TEST ONLY: a crash mid-run (the training worker's 'test-only-crash-helper').
  'test-only-panic': () => wasm.testOnlyPanic(),
  evaluate({ weights, images, labels }) {
    replica.setWeights(weights);
    const evaluation = replica.evaluate(images, labels);
    try {
      return [{ type: 'evaluation', result: evaluation.result() }, []];
    } finally {
      evaluation.free();
    }
  },
};

self.onmessage = async ({ data: message }) => {
  try {
    await ready;
    const [reply, transfer] = HANDLERS[message.type](message);
    self.postMessage({ ...reply, seq: message.seq }, transfer);
  } catch (error) {
    // A trap leaves this instance unusable (fatal): the pool replaces the worker.
    self.postMessage({ type: 'error', seq: message.seq, ...describe(error) });
  }
};
