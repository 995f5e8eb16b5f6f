//! Browser tests (`wasm-pack test --headless --chrome`): the wasm build predicts, exposes
//! activations and trains, in real Chromium.
#![cfg(target_arch = "wasm32")]

use digitlens::data::Dataset;
use digitlens::network::Network;
use digitlens::recognizer::Recognizer;
use digitlens::spec::Architecture;
use digitlens::train::{evaluate, Event, TrainConfig, Trainer};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod preprocess_cases;

const TEST_IMAGES: &[u8] = include_bytes!("../www/data/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../www/data/t10k-labels-idx1-ubyte.gz");
const TRAIN_IMAGES: &[u8] = include_bytes!("../www/data/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../www/data/train-labels-idx1-ubyte.gz");

/// Lets the browser breathe between long steps (chromedriver kills long synchronous stretches).
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().expect("a browser window").set_timeout_with_callback(&resolve).expect("setTimeout");
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.expect("the timeout resolves");
}

#[wasm_bindgen_test]
fn pretrained_model_reads_bundled_test_digits() {
    let test = Dataset::from_idx(TEST_IMAGES, TEST_LABELS).unwrap();
    let first: Vec<usize> = (0..300).collect();
    let evaluation = evaluate(Recognizer::pretrained().unwrap().network(), &test.subset(&first)).unwrap();
    assert!(evaluation.accuracy >= 0.99, "accuracy on 300 test digits: {}", evaluation.accuracy);
}

#[wasm_bindgen_test]
fn activations_have_the_analyzed_shapes() {
    let test = Dataset::from_idx(TEST_IMAGES, TEST_LABELS).unwrap();
    let recognizer = Recognizer::pretrained().unwrap();
    let pixels: Vec<f32> = test.image(0).iter().map(|&p| p as f32 / 255.0).collect();
    let result = recognizer.predict28(&pixels, true).unwrap();
    assert_eq!(result.digit, Some(test.labels[0]));
    let summary = recognizer.network().architecture().summary().unwrap();
    let mut end = 0;
    for layer in &result.layers {
        let base = layer.name.trim_end_matches(".relu");
        let info = summary.layers.iter().find(|l| l.name == base).expect("tap of a known layer");
        assert_eq!(layer.shape, info.output.dims(), "{}", layer.name);
        // The layers lie one after another in the shared buffer.
        assert_eq!((layer.range.start, layer.range.len()), (end, info.output.len()), "{}", layer.name);
        end = layer.range.end;
    }
    let activations = result.activations().unwrap();
    assert_eq!(end, activations.len());
    // The last layer's values are the logits the probabilities came from.
    let logits = &activations[result.layers.last().unwrap().range.clone()];
    let total: f32 = logits.iter().map(|l| l.exp()).sum();
    for (logit, p) in logits.iter().zip(&result.probabilities) {
        assert!((logit.exp() / total - p).abs() < 1e-5, "{logit} → {p}");
    }
    let names: Vec<&str> = result.layers.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"conv1") && names.contains(&"pool2") && names.contains(&"dense2"), "{names:?}");
}

#[wasm_bindgen_test]
async fn training_steps_lower_the_loss_in_the_browser() {
    let data = Dataset::from_idx(TRAIN_IMAGES, TRAIN_LABELS).unwrap().balanced(40);
    let config = TrainConfig { epochs: 1, validation_split: 0.0, seed: 4, ..TrainConfig::default() };
    let network = Network::new(&Architecture::preset("cnn").unwrap(), 4).unwrap();
    let mut trainer = Trainer::new(network, &data, config).unwrap();
    let mut losses = Vec::new();
    while !trainer.is_finished() {
        if let Event::Batch { loss, .. } = trainer.step().unwrap() {
            losses.push(loss);
        }
        yield_now().await;
    }
    assert!(losses.len() >= 6, "{} batches", losses.len());
    let first = (losses[0] + losses[1]) / 2.0;
    let last = (losses[losses.len() - 1] + losses[losses.len() - 2]) / 2.0;
    assert!(last < first * 0.8, "loss went from {first} to {last}");
}

#[wasm_bindgen_test]
fn the_same_digit_preprocesses_the_same_wherever_it_is_drawn_in_wasm() {
    preprocess_cases::check_same_digit_wherever_drawn();
}

#[wasm_bindgen_test]
fn every_colour_channel_weighs_its_share_of_the_ink_in_wasm() {
    preprocess_cases::check_every_channel_weighs_its_share();
}
