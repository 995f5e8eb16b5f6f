//! Reliability, natively (issue 7). Every bad input a user can hand the core (weight files,
//! data files, training settings, canvas images, layer stacks) is refused with a message that
//! says what is wrong, never a panic; training faults leave good weights in use; a long
//! session does not grow memory. The wasm API is a thin shim over these same functions.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/harness.rs"]
mod harness;

use digitlens::data::{write_idx, Dataset, PIXELS};
use digitlens::memory::{Footprint, Use, BUDGET_BYTES};
use digitlens::network::Network;
use digitlens::preprocess::preprocess_rgba;
use digitlens::recognizer::Recognizer;
use digitlens::rng::Rng;
use digitlens::spec::Architecture;
use digitlens::train::{evaluate, Evaluation, Event, FinishReason, OptimizerKind, Schedule, TrainConfig, Trainer, ABSURD_LOSS};
use digitlens::weights;
use proptest::prelude::*;
use safetensors::{tensor::TensorView, Dtype};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

// ---------------------------------------------------------------------------------------
// Helpers

/// The error `attempt` ends with; fails the test if it panics or succeeds.
fn refusal<T>(case: &str, attempt: impl FnOnce() -> digitlens::Result<T>) -> String {
    match catch_unwind(AssertUnwindSafe(attempt)) {
        Err(_) => panic!("{case}: panicked instead of returning an error"),
        Ok(Ok(_)) => panic!("{case}: was accepted"),
        Ok(Err(error)) => error.to_string(),
    }
}

fn assert_mentions(case: &str, message: &str, words: &[&str]) {
    for word in words {
        assert!(message.to_lowercase().contains(&word.to_lowercase()), "{case}: '{word}' missing from: {message}");
    }
}

fn bundled(prefix: &str) -> Dataset {
    Dataset::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("www/data"), prefix).unwrap()
}

/// Test image `index` as 784 pixels in 0..1.
fn test_digit(index: usize) -> Vec<f32> {
    bundled("t10k").image(index).iter().map(|&p| p as f32 / 255.0).collect()
}

fn weights_of(network: &Network) -> Vec<Vec<f32>> {
    network.parameters().iter().map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap()).collect()
}

fn preset(name: &str) -> Network {
    Network::new(&Architecture::preset(name).unwrap(), 1).unwrap()
}

// ---------------------------------------------------------------------------------------
// Weight files

/// A tensor as a safetensors file holds it.
#[derive(Clone)]
struct RawTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn raw_tensors(network: &Network) -> Vec<RawTensor> {
    network
        .parameters()
        .into_iter()
        .map(|(name, var)| {
            let values: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
            RawTensor { name, dtype: Dtype::F32, shape: var.dims().to_vec(), bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
        })
        .collect()
}

/// A well-formed safetensors file with these tensors and (optionally) a digitlens architecture.
fn safetensors_file(tensors: &[RawTensor], architecture: Option<&str>) -> Vec<u8> {
    let views = tensors.iter().map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap()));
    let metadata = architecture.map(|json| HashMap::from([("digitlens.architecture".to_string(), json.to_string())]));
    safetensors::serialize(views, metadata).unwrap()
}

/// `tensors` changed by `edit`.
fn edited(tensors: &[RawTensor], edit: impl FnOnce(&mut Vec<RawTensor>)) -> Vec<RawTensor> {
    let mut out = tensors.to_vec();
    edit(&mut out);
    out
}

fn tensor<'a>(tensors: &'a mut [RawTensor], name: &str) -> &'a mut RawTensor {
    tensors.iter_mut().find(|t| t.name == name).unwrap()
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// 8-byte little-endian header length followed by `rest`: the start of a safetensors file.
fn with_header_length(length: u64, rest: &[u8]) -> Vec<u8> {
    [&length.to_le_bytes()[..], rest].concat()
}

#[test]
fn bad_weight_files_are_refused_with_the_reason_and_the_model_in_use_is_untouched() {
    let cnn = preset("cnn");
    let good = weights::save(&cnn, &[]).unwrap();
    let tensors = raw_tensors(&cnn);
    let cnn_json = cnn.architecture().to_json();
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;

    let in_use = Recognizer::from_safetensors(&good).unwrap();
    let digit = test_digit(0);
    let before = in_use.predict28(&digit, true).unwrap();

    let mut cases: Vec<(String, Vec<u8>, Vec<&str>)> = vec![("empty".into(), vec![], vec!["empty"])];
    for cut in [1, 7, 8, 9, header_end / 2, header_end - 1, header_end, header_end + 1000, good.len() - 1] {
        cases.push((format!("truncated to {cut} bytes"), good[..cut].to_vec(), vec!["truncated"]));
    }
    let mut rng = Rng::new(7);
    for len in [3, 100, 5000] {
        let noise = (0..len).map(|_| rng.below(256) as u8).collect();
        cases.push((format!("{len} random bytes"), noise, vec!["not a valid safetensors file"]));
    }
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\x18\0\0\x01\x18\x08\x06\0\0\0".to_vec();
    let zip = b"PK\x03\x04\x14\0\0\0\x08\0model.safetensors".to_vec();
    let idx_gz = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/data/t10k-labels-idx1-ubyte.gz")).unwrap();
    let more: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("a PNG renamed", png, vec!["not a valid safetensors file", "another format"]),
        ("a zip renamed", zip, vec!["not a valid safetensors file", "another format"]),
        ("a gzipped IDX file renamed", idx_gz, vec!["not a valid safetensors file", "another format"]),
        ("a header length of 2^64-1", with_header_length(u64::MAX, b"{}"), vec!["header", "100 MB"]),
        ("a header length beyond the file", with_header_length(1000, b"{}"), vec!["header", "past the end"]),
        ("a header that is not JSON", with_header_length(12, b"hello world!"), vec!["header", "JSON"]),
        ("a header that is not UTF-8", with_header_length(4, &[0xff, 0xfe, 0xfd, 0xfc]), vec!["header", "JSON"]),
        ("JSON that is not a tensor table", with_header_length(8, br#"{"a": 1}"#), vec!["header", "JSON"]),
        ("bytes appended", [&good[..], b"extra"].concat(), vec!["appended"]),
        ("no architecture in the metadata", safetensors_file(&tensors, None), vec!["not saved by digitlens"]),
        ("an architecture that is not JSON", safetensors_file(&tensors, Some("{not json")), vec!["architecture", "unreadable"]),
        (
            "a negative filter count",
            safetensors_file(&tensors, Some(r#"{"name":"x","layers":[{"type":"conv2d","filters":-1,"kernel":3}]}"#)),
            vec!["architecture", "unreadable"],
        ),
        (
            "an architecture without Flatten",
            safetensors_file(&tensors, Some(&cnn_json.replace(r#"{"type":"flatten"},"#, ""))),
            vec!["architecture in the file is invalid", "add Flatten"],
        ),
        (
            "10^12 filters",
            safetensors_file(&tensors, Some(&cnn_json.replacen(r#""filters":32"#, r#""filters":1000000000000"#, 1))),
            vec!["architecture in the file is invalid", "conv1"],
        ),
        (
            "a kernel of 0",
            safetensors_file(&tensors, Some(&cnn_json.replacen(r#""kernel":3"#, r#""kernel":0"#, 1))),
            vec!["architecture in the file is invalid", "at least 1"],
        ),
        (
            "the dense preset's architecture with cnn tensors",
            safetensors_file(&tensors, Some(&preset("dense").architecture().to_json())),
            vec!["unexpected tensor", "conv1.bias"],
        ),
        (
            "a missing tensor",
            safetensors_file(&edited(&tensors, |t| t.retain(|t| t.name != "dense2.bias")), Some(&cnn_json)),
            vec!["dense2.bias", "missing"],
        ),
        (
            "an extra tensor",
            safetensors_file(
                &edited(&tensors, |t| t.push(RawTensor { name: "conv9.weight".into(), ..t[0].clone() })),
                Some(&cnn_json),
            ),
            vec!["unexpected tensor", "conv9.weight"],
        ),
        (
            "a tensor of the wrong shape",
            safetensors_file(&edited(&tensors, |t| tensor(t, "conv1.weight").shape = vec![32, 1, 9, 1]), Some(&cnn_json)),
            vec!["conv1.weight", "shape [32, 1, 9, 1]", "needs [32, 1, 3, 3]"],
        ),
        (
            "an F16 tensor",
            safetensors_file(
                &edited(&tensors, |t| {
                    let bias = tensor(t, "conv1.bias");
                    (bias.dtype, bias.bytes) = (Dtype::F16, vec![0; 32 * 2]);
                }),
                Some(&cnn_json),
            ),
            vec!["conv1.bias", "F16", "expected F32"],
        ),
        (
            "an F64 tensor",
            safetensors_file(
                &edited(&tensors, |t| {
                    let bias = tensor(t, "conv2.bias");
                    (bias.dtype, bias.bytes) = (Dtype::F64, vec![0; 64 * 8]);
                }),
                Some(&cnn_json),
            ),
            vec!["conv2.bias", "F64", "expected F32"],
        ),
        (
            "NaN weights",
            safetensors_file(
                &edited(&tensors, |t| tensor(t, "dense1.weight").bytes[400..404].copy_from_slice(&f32::NAN.to_le_bytes())),
                Some(&cnn_json),
            ),
            vec!["dense1.weight", "NaN"],
        ),
        (
            "infinite weights",
            safetensors_file(&edited(&tensors, |t| tensor(t, "conv2.bias").bytes = f32_bytes([f32::INFINITY; 64])), Some(&cnn_json)),
            vec!["conv2.bias", "infinite"],
        ),
        (
            "weights so large the outputs overflow",
            safetensors_file(
                &edited(&tensors, |t| tensor(t, "dense1.weight").bytes = f32_bytes(vec![3e38; 128 * 1600])),
                Some(&cnn_json),
            ),
            vec!["overflow"],
        ),
    ];
    cases.extend(more.into_iter().map(|(case, bytes, words)| (case.to_string(), bytes, words)));

    for (case, bytes, words) in &cases {
        // The page's "load model" path: the same `weights::load` behind a Recognizer.
        let message = refusal(case, || Recognizer::from_safetensors(bytes));
        assert_mentions(case, &message, &["cannot load weights"]);
        assert_mentions(case, &message, words);
    }
    let after = in_use.predict28(&digit, true).unwrap();
    assert_eq!(before.probabilities, after.probabilities, "the model in use changed");
    assert_eq!(before.activations().unwrap(), after.activations().unwrap());
}

// ---------------------------------------------------------------------------------------
// Data files (src/data.rs has the basic cases)

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn malformed_idx_files_are_refused_with_the_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/data");
    let images_gz = std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels_gz = std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let train_labels_gz = std::fs::read(dir.join("train-labels-idx1-ubyte.gz")).unwrap();
    let images = |n: usize| write_idx(&[n, 28, 28], &vec![0; n * PIXELS]);
    let labels = |n: usize| write_idx(&[n], &vec![3; n]);
    // A gzip bomb: a few hundred KB that expand beyond what any MNIST file needs.
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        (0..300).for_each(|_| std::io::Write::write_all(&mut encoder, &zeros).unwrap());
        encoder.finish().unwrap()
    };
    // (case, image file, label file, words the refusal must contain)
    type Case<'a> = (&'a str, Vec<u8>, Vec<u8>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        ("images with 2 dimensions", write_idx(&[2, 784], &vec![0; 2 * PIXELS]), labels(2), vec!["N×28×28"]),
        ("4 dimensions", vec![0, 0, 8, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0], labels(1), vec!["4 dimensions"]),
        ("images and labels swapped", labels(3), images(3), vec!["N×28×28"]),
        ("bytes after the data", [images(2), vec![1, 2, 3]].concat(), labels(2), vec!["need 1568 data bytes", "1571"]),
        ("a gzip cut in half", images_gz[..images_gz.len() / 2].to_vec(), labels_gz.clone(), vec!["gzip"]),
        ("gzipped garbage", gzip(b"this is no IDX file"), labels_gz.clone(), vec!["magic"]),
        ("a gzip bomb", bomb, labels_gz.clone(), vec!["larger than 256 MB"]),
        ("test images with training labels", images_gz.clone(), train_labels_gz, vec!["10000 images but 20000 labels"]),
        ("label 255", images(2), write_idx(&[2], &[1, 255]), vec!["label 255 at position 1"]),
        ("a wrong data type", images(1), vec![0, 0, 0x0B, 1, 0, 0, 0, 1, 0, 0], vec!["data type 0x0b"]),
    ];
    for (case, images, labels, words) in cases {
        let message = refusal(case, || Dataset::from_idx(&images, &labels));
        assert_mentions(case, &message, &["bad IDX file"]);
        assert_mentions(case, &message, &words);
    }
    // The real files still read, gzipped or not.
    assert_eq!(Dataset::from_idx(&images_gz, &labels_gz).unwrap().len(), 10_000);
}

// ---------------------------------------------------------------------------------------
// Training faults

fn small_training_data() -> Dataset {
    bundled("train").balanced(30)
}

/// Steps until `stop_at` says so (returns that event) or training finishes.
fn step_until(trainer: &mut Trainer, mut stop_at: impl FnMut(&Event) -> bool) -> Event {
    loop {
        let event = trainer.step().unwrap();
        if stop_at(&event) || matches!(event, Event::Finished { .. }) {
            return event;
        }
    }
}

fn assert_predicts_finite(network: Network) {
    let recognition = Recognizer::new(network).predict28(&test_digit(1), true).unwrap();
    assert!(recognition.probabilities.iter().all(|p| p.is_finite()), "{:?}", recognition.probabilities);
    assert!((recognition.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
}

#[test]
fn a_huge_learning_rate_diverges_at_once_and_keeps_the_starting_weights() {
    let network = preset("dense");
    let start = weights_of(&network);
    let config = TrainConfig {
        optimizer: OptimizerKind::Sgd,
        learning_rate: 1e6,
        schedule: Schedule::Constant,
        batch_size: 16,
        epochs: 3,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(network, &small_training_data(), config).unwrap();
    let mut events = Vec::new();
    let finish = trainer.run(|e| events.push(e.clone())).unwrap();
    let Event::Finished { reason, weights_from_epoch, message, .. } = finish else { unreachable!() };
    assert_eq!(reason, FinishReason::Diverged);
    assert_eq!(weights_from_epoch, None);
    assert_mentions("divergence", &message, &["diverged", "smaller learning rate", "started from"]);
    let batches = events.iter().filter(|e| matches!(e, Event::Batch { .. })).count();
    assert!(batches < trainer.batches_per_epoch(), "took {batches} batches to notice");
    assert!(!events.iter().any(|e| matches!(e, Event::Epoch(_))), "an epoch of NaN finished");
    assert_eq!(weights_of(trainer.network()), start, "the starting weights were not restored");
    let message = refusal("a step after divergence", || trainer.step());
    assert_mentions("a step after divergence", &message, &["training has finished"]);
    assert_predicts_finite(trainer.into_network());
}

#[test]
fn an_absurd_but_finite_loss_is_divergence_too() {
    // Adam at 1e3 gives finite losses around 1e9 by the second batch: the run used to "complete".
    let network = preset("dense");
    let start = weights_of(&network);
    let config = TrainConfig { learning_rate: 1e3, schedule: Schedule::Constant, batch_size: 16, epochs: 3, ..TrainConfig::default() };
    let mut trainer = Trainer::new(network, &small_training_data(), config).unwrap();
    let mut losses = Vec::new();
    let finish = trainer.run(|e| if let Event::Batch { loss, .. } = e { losses.push(*loss) }).unwrap();
    let Event::Finished { reason, weights_from_epoch, message, divergence, .. } = finish else { unreachable!() };
    assert_eq!((reason, weights_from_epoch), (FinishReason::Diverged, None));
    assert!(losses.len() <= 2, "stopped after {} batches: {losses:?}", losses.len());
    assert!(losses.iter().all(|&l| l <= ABSURD_LOSS), "a batch with an absurd loss was reported as sane: {losses:?}");
    let divergence = divergence.expect("says what diverged");
    assert_mentions("absurd loss", &divergence, &["the loss reached an absurd", "too small for a float"]);
    assert_mentions("absurd loss", &message, &["diverged", "smaller learning rate", "started from"]);
    assert_eq!(weights_of(trainer.network()), start, "the starting weights were not restored");
    assert_predicts_finite(trainer.into_network());

    // A learning rate that is too high but still learns is not cut short.
    let config = TrainConfig { learning_rate: 0.01, batch_size: 16, epochs: 1, ..TrainConfig::default() };
    let mut trainer = Trainer::new(preset("dense"), &small_training_data(), config).unwrap();
    let Event::Finished { reason, divergence, .. } = trainer.run(|_| {}).unwrap() else { unreachable!() };
    assert_eq!((reason, divergence), (FinishReason::Completed, None));
}

#[test]
fn a_blow_up_after_a_good_epoch_keeps_that_epochs_weights() {
    let config = TrainConfig { batch_size: 32, epochs: 3, validation_split: 0.2, ..TrainConfig::default() };
    let mut trainer = Trainer::new(preset("dense"), &small_training_data(), config).unwrap();
    step_until(&mut trainer, |e| matches!(e, Event::Epoch(_)));
    let epoch1 = weights_of(trainer.network());
    // Inject the fault: weights overflow to NaN, as in a numeric blow-up. The ReLU after
    // dense1 turns the NaN into zeros, so the loss stays finite: the weights must be checked.
    let (_, weight) = &trainer.network().parameters()[0];
    weight.set(&(weight.as_tensor() * f64::NAN).unwrap()).unwrap();
    let finish = trainer.step().unwrap();
    let Event::Finished { reason, weights_from_epoch, message, .. } = finish else { panic!("{finish:?}") };
    assert_eq!((reason, weights_from_epoch), (FinishReason::Diverged, Some(1)));
    assert_mentions("blow-up", &message, &["diverged", "epoch 1"]);
    assert_eq!(weights_of(trainer.network()), epoch1);
    assert_predicts_finite(trainer.into_network());
}

#[test]
fn weights_that_are_not_finite_at_the_end_of_an_epoch_are_never_kept_as_best() {
    let network = preset("dense");
    let start = weights_of(&network);
    let config = TrainConfig { batch_size: 32, epochs: 2, validation_split: 0.0, ..TrainConfig::default() };
    let mut trainer = Trainer::new(network, &small_training_data(), config).unwrap();
    let batches = trainer.batches_per_epoch();
    step_until(&mut trainer, |e| matches!(e, Event::Batch { batch, .. } if *batch == batches));
    // Without validation no loss sees the weights between the last step and the snapshot.
    let (_, bias) = trainer.network().parameters().pop().unwrap();
    bias.set(&(bias.as_tensor() * f64::NAN).unwrap()).unwrap();
    let finish = trainer.step().unwrap();
    let Event::Finished { reason, weights_from_epoch, .. } = finish else { panic!("NaN weights were kept: {finish:?}") };
    assert_eq!((reason, weights_from_epoch), (FinishReason::Diverged, None));
    assert_eq!(weights_of(trainer.network()), start);
}

#[test]
fn stop_mid_epoch_keeps_the_best_weights_and_stepping_after_finish_is_an_error() {
    let config = TrainConfig { batch_size: 32, epochs: 3, validation_split: 0.2, ..TrainConfig::default() };
    let mut trainer = Trainer::new(preset("dense"), &small_training_data(), config).unwrap();
    step_until(&mut trainer, |e| matches!(e, Event::Epoch(_)));
    let epoch1 = weights_of(trainer.network());
    step_until(&mut trainer, |e| matches!(e, Event::Batch { batch: 2, .. }));
    assert_ne!(weights_of(trainer.network()), epoch1, "two batches changed nothing");
    let Event::Finished { reason, weights_from_epoch, .. } = trainer.stop().unwrap() else { panic!() };
    assert_eq!((reason, weights_from_epoch), (FinishReason::Stopped, Some(1)));
    assert_eq!(weights_of(trainer.network()), epoch1);
    assert!(trainer.is_finished());
    let message = refusal("a step after Stop", || trainer.step());
    assert_mentions("a step after Stop", &message, &["training has finished", "new run"]);
}

#[test]
fn stop_pressed_as_the_last_epoch_ends_finishes_once() {
    let config = TrainConfig { batch_size: 64, epochs: 1, validation_split: 0.2, ..TrainConfig::default() };
    let mut trainer = Trainer::new(preset("dense"), &small_training_data(), config).unwrap();
    step_until(&mut trainer, |e| matches!(e, Event::Epoch(_)));
    let Event::Finished { reason, .. } = trainer.stop().unwrap() else { panic!() };
    assert_eq!(reason, FinishReason::Stopped);
    // The pending "all epochs done" must not come out as a second finish.
    refusal("a step after Stop at the end of training", || trainer.step());
}

#[test]
fn bad_training_settings_are_refused_with_the_reason() {
    let data = small_training_data();
    let tiny = data.subset(&(0..10).collect::<Vec<_>>());
    let empty = Dataset::default();
    let base = TrainConfig::default();
    let cases: Vec<(&str, TrainConfig, &Dataset, Vec<&str>)> = vec![
        ("0 epochs", TrainConfig { epochs: 0, ..base.clone() }, &data, vec!["epochs"]),
        ("batch size 0", TrainConfig { batch_size: 0, ..base.clone() }, &data, vec!["batch size"]),
        ("batch size 10^6", TrainConfig { batch_size: 1_000_000, ..base.clone() }, &data, vec!["batch size"]),
        ("learning rate 0", TrainConfig { learning_rate: 0.0, ..base.clone() }, &data, vec!["learning rate"]),
        ("negative learning rate", TrainConfig { learning_rate: -0.1, ..base.clone() }, &data, vec!["learning rate"]),
        ("infinite learning rate", TrainConfig { learning_rate: f64::INFINITY, ..base.clone() }, &data, vec!["learning rate"]),
        ("NaN learning rate", TrainConfig { learning_rate: f64::NAN, ..base.clone() }, &data, vec!["learning rate"]),
        ("validation split 0.9", TrainConfig { validation_split: 0.9, ..base.clone() }, &data, vec!["validation split"]),
        ("NaN validation split", TrainConfig { validation_split: f32::NAN, ..base.clone() }, &data, vec!["validation split"]),
        ("momentum 1", TrainConfig { momentum: 1.0, ..base.clone() }, &data, vec!["momentum"]),
        ("NaN weight decay", TrainConfig { weight_decay: f64::NAN, ..base.clone() }, &data, vec!["weight decay"]),
        ("negative weight decay", TrainConfig { weight_decay: -1.0, ..base.clone() }, &data, vec!["weight decay"]),
        ("NaN min-delta", TrainConfig { min_delta: f32::NAN, ..base.clone() }, &data, vec!["min-delta"]),
        ("no images", base.clone(), &empty, vec!["0 training images", "at least 2"]),
        ("train size 1", TrainConfig { train_size: 1, ..base.clone() }, &data, vec!["1 training images", "of 1 images"]),
        (
            "validation split 0.89 of 10 images",
            TrainConfig { validation_split: 0.89, ..base.clone() },
            &tiny,
            vec!["1 training images", "smaller validation split"],
        ),
    ];
    for (case, config, data, words) in cases {
        let message = refusal(case, || Trainer::new(preset("dense"), data, config));
        assert_mentions(case, &message, &["bad training settings"]);
        assert_mentions(case, &message, &words);
    }
    let message = refusal("settings that are not JSON", || TrainConfig::from_json("{epochs: 3"));
    assert_mentions("settings that are not JSON", &message, &["bad training settings"]);
    let message = refusal("a negative epoch count", || TrainConfig::from_json(r#"{"epochs": -3}"#));
    assert_mentions("a negative epoch count", &message, &["bad training settings", "-3"]);
}

#[test]
fn odd_but_valid_training_settings_train() {
    let data = small_training_data();
    let cases = [
        ("a batch larger than the data", TrainConfig { batch_size: 4096, ..TrainConfig::default() }),
        ("a single image, batches of one", TrainConfig { train_size: 1, batch_size: 1, ..TrainConfig::default() }),
        ("no validation", TrainConfig { validation_split: 0.0, ..TrainConfig::default() }),
    ];
    for (case, config) in cases {
        let config = TrainConfig { epochs: 1, ..config };
        let mut trainer = Trainer::new(preset("dense"), &data, config).unwrap();
        let Event::Finished { reason, .. } = trainer.run(|_| {}).unwrap() else { unreachable!() };
        assert_eq!(reason, FinishReason::Completed, "{case}");
        assert_eq!(trainer.history().len(), 1, "{case}");
        assert_predicts_finite(trainer.into_network());
    }
}

// ---------------------------------------------------------------------------------------
// Canvas input

#[derive(Clone, Copy, Debug)]
enum Background {
    /// The page's pad: black strokes on a transparent canvas.
    Transparent,
    /// A photo or a screenshot: dark ink on opaque white.
    White,
}

/// A `width`×`height` RGBA image with the rectangles `[x0, x1) × [y0, y1)` inked.
fn canvas(width: usize, height: usize, background: Background, ink: &[(usize, usize, usize, usize)]) -> Vec<u8> {
    let mut rgba = vec![0u8; width * height * 4];
    for (i, pixel) in rgba.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % width, i / width);
        let inked = ink.iter().any(|&(x0, y0, x1, y1)| (x0..x1).contains(&x) && (y0..y1).contains(&y));
        pixel.copy_from_slice(match (background, inked) {
            (_, true) => &[0, 0, 0, 255],
            (Background::Transparent, false) => &[0, 0, 0, 0],
            (Background::White, false) => &[255, 255, 255, 255],
        });
    }
    rgba
}

#[derive(Debug)]
enum Expect {
    NoDigit,
    Digit,
    /// Either is sensible (e.g. a fully inked pad); what matters is no panic and no NaN.
    Either,
    Error(&'static str),
}

#[test]
fn odd_canvases_give_a_sensible_result_or_a_clear_error() {
    use Background::{Transparent, White};
    let pad = 280;
    let cases: Vec<(&str, Vec<u8>, usize, usize, Expect)> = vec![
        ("an empty pad", canvas(pad, pad, Transparent, &[]), pad, pad, Expect::NoDigit),
        ("an empty white image", canvas(pad, pad, White, &[]), pad, pad, Expect::NoDigit),
        ("a single dot", canvas(pad, pad, Transparent, &[(140, 140, 144, 144)]), pad, pad, Expect::NoDigit),
        ("one pixel of a 28×28 canvas", canvas(28, 28, Transparent, &[(5, 5, 6, 6)]), 28, 28, Expect::NoDigit),
        ("a line along the top border", canvas(pad, pad, Transparent, &[(0, 0, pad, 6)]), pad, pad, Expect::Digit),
        ("a line along the left border", canvas(pad, pad, White, &[(0, 0, 6, pad)]), pad, pad, Expect::Digit),
        (
            "a frame along all borders",
            canvas(pad, pad, White, &[(0, 0, pad, 4), (0, pad - 4, pad, pad), (0, 0, 4, pad), (pad - 4, 0, pad, pad)]),
            pad,
            pad,
            Expect::Either,
        ),
        ("the whole pad inked", canvas(pad, pad, Transparent, &[(0, 0, pad, pad)]), pad, pad, Expect::Either),
        ("a white image inked all over", canvas(pad, pad, White, &[(0, 0, pad, pad)]), pad, pad, Expect::Either),
        ("a very small digit", canvas(pad, pad, Transparent, &[(200, 30, 203, 55)]), pad, pad, Expect::Digit),
        ("a digit filling the pad", canvas(pad, pad, Transparent, &[(0, 0, pad, 20), (pad - 30, 0, pad, pad)]), pad, pad, Expect::Digit),
        ("an opaque 1×1 image", vec![0, 0, 0, 255], 1, 1, Expect::NoDigit),
        ("a half-transparent 1×1 image", vec![0, 0, 0, 200], 1, 1, Expect::Digit),
        ("a 4096×1 strip", canvas(4096, 1, Transparent, &[(1000, 0, 1400, 1)]), 4096, 1, Expect::Digit),
        ("a 4096×4096 image", canvas(4096, 4096, White, &[(1000, 500, 1300, 3500)]), 4096, 4096, Expect::Digit),
        ("a 4097×4096 image", vec![], 4097, 4096, Expect::Error("larger than 4096×4096")),
        ("an overflowing size", vec![], usize::MAX, 2, Expect::Error("larger than 4096×4096")),
        ("a 0×0 image", vec![], 0, 0, Expect::Error("no pixels")),
        ("a buffer one row short", canvas(pad, pad - 1, Transparent, &[]), pad, pad, Expect::Error("needs 313600 bytes, got 312480")),
        ("a buffer not of whole pixels", vec![0; 4 * 100 + 3], 10, 10, Expect::Error("needs 400 bytes")),
    ];
    let recognizer = Recognizer::pretrained().unwrap();
    for (case, rgba, width, height, expect) in cases {
        let result = catch_unwind(|| preprocess_rgba(&rgba, width, height)).unwrap_or_else(|_| panic!("{case}: panicked"));
        match (&expect, result) {
            (Expect::NoDigit | Expect::Either, Ok(None)) => {}
            (Expect::Digit | Expect::Either, Ok(Some(image))) => harness::assert_mnist_style(&image),
            (Expect::Error(words), Err(error)) => assert_mentions(case, &error.to_string(), &["bad image", words]),
            (expect, got) => panic!("{case}: expected {expect:?}, got {got:?}"),
        }
        // What the page calls: finite probabilities always, no digit claimed without one.
        if let Ok(recognition) = recognizer.predict_image(&rgba, width, height) {
            assert!(recognition.probabilities.iter().all(|p| p.is_finite()), "{case}");
            assert_eq!(recognition.digit.is_some(), matches!(preprocess_rgba(&rgba, width, height), Ok(Some(_))), "{case}");
        }
    }
}

/// Strokes (rectangles in relative coordinates, with an ink strength) on a background.
fn drawing() -> impl Strategy<Value = (Vec<u8>, usize, usize)> {
    let stroke = (0.0..1.0f32, 0.0..1.0f32, 0.0..1.0f32, 0.0..1.0f32, 1u8..=255);
    (1usize..=120, 1usize..=120, 0u8..3, prop::collection::vec(stroke, 0..6)).prop_map(|(w, h, background, strokes)| {
        let mut rgba = vec![0u8; w * h * 4];
        for (i, pixel) in rgba.chunks_exact_mut(4).enumerate() {
            let (x, y) = ((i % w) as f32 / w as f32, (i / w) as f32 / h as f32);
            let ink = strokes.iter().filter(|s| s.0.min(s.2) <= x && x <= s.0.max(s.2) && s.1.min(s.3) <= y && y <= s.1.max(s.3));
            let strength = ink.map(|s| s.4).max().unwrap_or(0);
            pixel.copy_from_slice(&match background {
                0 => [0, 0, 0, strength],                     // strokes on a transparent pad
                1 => [255 - strength, 255 - strength, 255 - strength, 255], // dark on white
                _ => [strength, strength, strength, 255],     // light on black
            });
        }
        (rgba, w, h)
    })
}

/// `cases` random cases; a failing one is saved to tests/reliability.proptest-regressions and
/// replayed first from then on.
fn proptest_config(cases: u32) -> ProptestConfig {
    let persistence = proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions");
    ProptestConfig { cases, failure_persistence: Some(Box::new(persistence)), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(proptest_config(512))]

    #[test]
    fn any_drawing_gives_no_digit_or_a_centred_mnist_style_one((rgba, width, height) in drawing()) {
        harness::check_preprocess(&rgba, width, height);
    }

    #[test]
    fn any_bytes_of_the_right_size_give_no_digit_or_a_centred_one(
        (rgba, width, height) in (1usize..=64, 1usize..=64)
            .prop_flat_map(|(w, h)| (prop::collection::vec(any::<u8>(), w * h * 4), Just(w), Just(h)))
    ) {
        harness::check_preprocess(&rgba, width, height);
    }

    #[test]
    fn any_buffer_with_any_claimed_size_is_refused_or_read(
        rgba in prop::collection::vec(any::<u8>(), 0..2000),
        width in prop_oneof![0usize..40, Just(usize::MAX), 4000usize..5000],
        height in prop_oneof![0usize..40, Just(usize::MAX / 3), 4000usize..5000],
    ) {
        harness::check_preprocess(&rgba, width, height);
    }
}

proptest! {
    #![proptest_config(proptest_config(64))]

    #[test]
    fn predict28_refuses_wrong_lengths_and_non_finite_values_and_reads_the_rest(
        pixels in prop_oneof![
            prop::collection::vec(any::<f32>(), 0..1600),
            prop::collection::vec(any::<f32>(), PIXELS),
            prop::collection::vec(-1e30f32..1e30, PIXELS),
        ]
    ) {
        static RECOGNIZER: std::sync::OnceLock<Recognizer> = std::sync::OnceLock::new();
        let recognizer = RECOGNIZER.get_or_init(|| Recognizer::pretrained().unwrap());
        let valid = pixels.len() == PIXELS && pixels.iter().all(|p| p.is_finite());
        match recognizer.predict28(&pixels, false) {
            Ok(recognition) => {
                prop_assert!(valid);
                prop_assert!(recognition.probabilities.iter().all(|p| p.is_finite()));
                prop_assert!(recognition.input.iter().all(|p| (0.0..=1.0).contains(p)));
            }
            Err(error) => {
                prop_assert!(!valid, "refused valid pixels: {}", error);
                let message = error.to_string();
                prop_assert!(message.contains("784") || message.contains("finite"), "{}", message);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// No panics from what JS can pass

#[test]
fn absurd_layer_stacks_are_refused_with_the_layer_and_reason() {
    // Each layer sits where it gets the input it expects: before Flatten or after it.
    let spatial = |layer: &str| format!(r#"{{"name":"absurd","layers":[{layer},{{"type":"flatten"}},{{"type":"dense","units":10}}]}}"#);
    let flat = |layer: &str| format!(r#"{{"name":"absurd","layers":[{{"type":"flatten"}},{layer},{{"type":"dense","units":10}}]}}"#);
    let cases = [
        (spatial(r#"{"type":"conv2d","filters":1000000000000,"kernel":3}"#), vec!["conv1", "values per image"]),
        (spatial(r#"{"type":"conv2d","filters":18446744073709551615,"kernel":3}"#), vec!["conv1", "impossibly many"]),
        (spatial(r#"{"type":"conv2d","filters":8,"kernel":0}"#), vec!["conv1", "at least 1"]),
        (spatial(r#"{"type":"conv2d","filters":8,"kernel":5000000001,"padding":"same"}"#), vec!["conv1", "smaller kernel"]),
        (spatial(r#"{"type":"conv2d","filters":1,"kernel":18446744073709551615,"padding":"same"}"#), vec!["conv1", "smaller kernel"]),
        (spatial(r#"{"type":"conv2d","filters":1,"kernel":4001,"padding":"same"}"#), vec!["conv1", "values per image"]),
        (spatial(r#"{"type":"conv2d","filters":2000000,"kernel":1}"#), vec!["conv1", "values per image"]),
        (spatial(r#"{"type":"conv2d","filters":8,"kernel":3,"stride":1000000000000000000}"#), vec!["conv1", "stride"]),
        (spatial(r#"{"type":"maxpool2d","size":2,"stride":1000000000000000000}"#), vec!["pool1", "stride"]),
        (spatial(r#"{"type":"maxpool2d","size":18446744073709551615}"#), vec!["pool1", "larger than its 28×28 input"]),
        (spatial(r#"{"type":"dropout","rate":1e30}"#), vec!["dropout1", "between 0 and 0.95"]),
        (flat(r#"{"type":"dense","units":1000000000000}"#), vec!["dense1", "values per image"]),
        (flat(r#"{"type":"dense","units":18446744073709551615}"#), vec!["dense1", "values per image"]),
    ];
    for (json, words) in cases {
        let message = refusal(&json, || Network::new(&Architecture::from_json(&json)?, 0));
        assert_mentions(&json, &message, &words);
        refusal(&json, || Architecture::from_json(&json)?.summary());
    }
    for json in [r#"{"name":"x","layers":[{"type":"conv2d","filters":-1,"kernel":3}]}"#, r#"{"name":"x","layers":7}"#, "", "null"] {
        let message = refusal(json, || Architecture::from_json(json));
        assert_mentions(json, &message, &["cannot read the layer list"]);
    }
}

/// conv1 alone has 2674×28×28 outputs per image (just within a layer's limit): batches of 512
/// would need about 19 GB, and used to make Rust panic ("capacity overflow") in wasm.
const OVERSIZED: &str = r#"{"name":"oversized","layers":[{"type":"conv2d","filters":2674,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","size":4},{"type":"flatten"},{"type":"dense","units":10}]}"#;

#[test]
fn a_batch_too_big_for_memory_is_refused_before_training_with_what_to_reduce() {
    let architecture = Architecture::from_json(OVERSIZED).unwrap();
    let footprint = Footprint::of(&architecture.analyze().unwrap(), Use::Training).unwrap();
    let max = footprint.max_batch();
    assert!((32..512).contains(&max), "batches of at most {max}");
    let data = bundled("train");
    let train = |batch_size| Trainer::new(Network::new(&architecture, 0)?, &data, TrainConfig { batch_size, ..TrainConfig::default() });
    let message = refusal("batches of 512", || train(512));
    assert_mentions(
        "batches of 512",
        &message,
        &["layer 1 (conv1)", "training in batches of 512 needs about", "GB of memory", "more than the 1.5 GB", &format!("batches of at most {max}"), "fewer filters"],
    );
    // Not only the page's limit: any batch beyond the budget, and none within it.
    refusal("one image too many", || train(max + 1));
    assert!(train(max).is_ok());
    assert!(footprint.bytes(512).unwrap() > BUDGET_BYTES);
    // A batch larger than the data only ever holds the data.
    let tiny = data.subset(&(0..20).collect::<Vec<_>>());
    assert!(Trainer::new(Network::new(&architecture, 0).unwrap(), &tiny, TrainConfig { batch_size: 4096, ..TrainConfig::default() }).is_ok());
}

#[test]
fn a_stack_too_big_for_even_one_image_is_refused_by_the_analysis() {
    // Each layer is within its limits (a ReLU has no parameters); 200 of them are not.
    let json = format!(
        r#"{{"name":"deep","layers":[{}{},{{"type":"maxpool2d","size":4}},{{"type":"flatten"}},{{"type":"dense","units":10}}]}}"#,
        r#"{"type":"conv2d","filters":2674,"kernel":3,"padding":"same"}"#,
        r#",{"type":"relu"}"#.repeat(200)
    );
    let architecture = Architecture::from_json(&json).unwrap();
    for (case, message) in [
        ("analysis", refusal("analysis", || architecture.summary())),
        ("network", refusal("network", || Network::new(&architecture, 0))),
    ] {
        assert_mentions(case, &message, &["training on one image needs about", "make it smaller"]);
        assert!(!message.contains("batches of at most"), "{case}: no batch fits, none is offered: {message}");
    }
    // One layer fewer than the oversized stack, the analysis accepts it.
    assert!(Architecture::from_json(OVERSIZED).unwrap().summary().is_ok());
}

#[test]
fn an_evaluation_of_any_range_runs_in_passes_that_fit() {
    let network = preset("cnn");
    let data = bundled("t10k").subset(&(0..1200).collect::<Vec<_>>());
    let mut all_at_once = Evaluation::default();
    all_at_once.add_range(&network, &data, 0, usize::MAX).unwrap();
    let chunked = evaluate(&network, &data).unwrap();
    assert_eq!(all_at_once.count, 1200);
    assert_eq!(all_at_once.predictions, chunked.predictions);
    assert!((all_at_once.loss - chunked.loss).abs() < 1e-6);
}

#[test]
fn evaluation_ranges_outside_the_data_are_harmless() {
    let network = preset("dense");
    let data = bundled("t10k").subset(&[0, 1, 2]);
    let mut evaluation = Evaluation::default();
    for (from, to) in [(5, 2), (3, 1000), (usize::MAX - 1, usize::MAX), (0, 0)] {
        evaluation.add_range(&network, &data, from, to).unwrap();
    }
    assert_eq!(evaluation.count, 0);
    evaluation.add_range(&network, &data, 1, usize::MAX).unwrap();
    assert_eq!(evaluation.count, 2);
    assert_eq!(evaluate(&network, &Dataset::default()).unwrap().count, 0);
}

#[test]
fn the_users_drawings_with_bad_lengths_or_labels_are_refused() {
    let mut data = Dataset::default();
    let cases: [(&str, Vec<f32>, Vec<u8>, &str); 3] = [
        ("pixels for half an image", vec![0.5; PIXELS / 2], vec![3], "1 labels need 784 pixels"),
        ("no pixels for two labels", vec![], vec![3, 4], "2 labels need 1568 pixels"),
        ("label 10", vec![0.5; PIXELS], vec![10], "label 10 is not a digit"),
    ];
    for (case, pixels, labels, words) in cases {
        let message = refusal(case, || data.extend_from_pixels(&pixels, &labels));
        assert_mentions(case, &message, &[words]);
    }
    assert!(data.is_empty(), "a refused drawing was added");
    data.extend_from_pixels(&[f32::NAN; PIXELS], &[1]).unwrap();
    assert!(data.image(0).iter().all(|&p| p == 0), "NaN pixels must become background");
}

// ---------------------------------------------------------------------------------------
// Long sessions

/// Resident memory of this process in bytes (/proc/self/statm counts 4 KiB pages on x86_64
/// and aarch64 Linux; the second field is the resident set).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[test]
fn a_long_session_does_not_grow_memory() {
    // In a process of its own: tests running in parallel here would move its memory.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["long_session_worker", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 passed"), "the worker did not run: {stdout}");
}

/// Trains a fresh cnn for `epochs`, handing the weights to a new recognizer after each
/// epoch as the page's worker does.
fn train_session(data: &Dataset, epochs: usize) {
    let config = TrainConfig { epochs, batch_size: 64, early_stopping: false, ..TrainConfig::default() };
    let mut trainer = Trainer::new(preset("cnn"), data, config).unwrap();
    loop {
        match trainer.step().unwrap() {
            Event::Epoch(_) => {
                let recognizer = Recognizer::from_safetensors(&weights::save(trainer.network(), &[]).unwrap()).unwrap();
                assert!(recognizer.predict28(&[0.0; PIXELS], true).unwrap().digit.is_some());
            }
            Event::Finished { reason, .. } => return assert_eq!(reason, FinishReason::Completed),
            _ => {}
        }
    }
}

#[test]
#[ignore = "run in its own process by a_long_session_does_not_grow_memory"]
fn long_session_worker() {
    const BOUND: u64 = 50 << 20;
    let mb = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let recognizer = Recognizer::pretrained().unwrap();
    let test = bundled("t10k");
    let digits: Vec<Vec<f32>> = (0..100).map(|i| test.image(i).iter().map(|&p| p as f32 / 255.0).collect()).collect();
    let predict = |count: usize| {
        for i in 0..count {
            // With every layer's activations, as the page asks for on each stroke.
            let recognition = recognizer.predict28(&digits[i % digits.len()], true).unwrap();
            assert!(recognition.probabilities.iter().all(|p| p.is_finite()));
        }
    };
    let data = bundled("train").balanced(60);
    // Warm up first: the allocator's pools and candle's buffers reach their working size.
    predict(200);
    train_session(&data, 1);
    let start = resident_bytes();
    predict(10_000);
    let after_predictions = resident_bytes();
    train_session(&data, 5);
    let after_training = resident_bytes();
    println!(
        "resident memory: {:.1} MB after warm-up, {:.1} MB after 10,000 predictions ({:+.1} MB), \
         {:.1} MB after 5 more epochs of training ({:+.1} MB)",
        mb(start),
        mb(after_predictions),
        mb(after_predictions) - mb(start),
        mb(after_training),
        mb(after_training) - mb(start)
    );
    assert!(after_predictions < start + BOUND, "10,000 predictions grew memory by more than 50 MB");
    assert!(after_training < start + BOUND, "training grew memory by more than 50 MB");
}
