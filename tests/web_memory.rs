//! The memory estimate of src/memory.rs against what a training step really takes in wasm,
//! in its own test binary so that the heap starts small (`wasm-pack test --headless --chrome`).
#![cfg(target_arch = "wasm32")]

use digitlens::data::Dataset;
use digitlens::memory::{Footprint, Use};
use digitlens::network::Network;
use digitlens::spec::Architecture;
use digitlens::train::{TrainConfig, Trainer};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TRAIN_IMAGES: &[u8] = include_bytes!("../www/data/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../www/data/train-labels-idx1-ubyte.gz");

/// The wasm heap: it only grows, so its growth over a step is that step's peak beyond it.
fn heap_bytes() -> u64 {
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

#[wasm_bindgen_test]
fn a_training_step_stays_within_its_memory_estimate() {
    let data = Dataset::from_idx(TRAIN_IMAGES, TRAIN_LABELS).unwrap().balanced(60);
    let batch = 512;
    let network = Network::new(&Architecture::preset("cnn").unwrap(), 1).unwrap();
    let estimate = Footprint::of(network.layers(), Use::Training).unwrap().bytes(batch).unwrap();
    let config = TrainConfig { batch_size: batch, validation_split: 0.0, ..TrainConfig::default() };
    let before = heap_bytes();
    let mut trainer = Trainer::new(network, &data, config).unwrap();
    trainer.step().unwrap();
    let grown = heap_bytes() - before;
    assert!(grown <= estimate, "one step grew the heap by {grown} bytes, more than the estimated {estimate}");
    // The heap started small, so the step's peak shows: the estimate is not wildly loose.
    assert!(grown >= estimate / 3, "one step grew the heap by only {grown} bytes of the estimated {estimate}");
}
