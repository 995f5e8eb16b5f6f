//! The walking skeleton, natively: presets, summaries, shape errors, weights, training, and
//! the shipped pretrained model.
#![cfg(not(target_arch = "wasm32"))]

use digitlens::data::{Dataset, PIXELS};
use digitlens::network::Network;
use digitlens::recognizer::{Recognizer, PRETRAINED};
use digitlens::spec::{Architecture, LayerSpec};
use digitlens::train::{evaluate, EarlyStopping, Event, FinishReason, TrainConfig, Trainer, Verdict};
use digitlens::weights;

fn bundled(prefix: &str) -> Dataset {
    Dataset::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data")), prefix).unwrap()
}

#[test]
fn preset_parameter_counts_match_keras() {
    // The counts Keras' model.summary() prints for the same stacks.
    let expect = [("dense", vec![0, 100_480, 1_290], 101_770), ("cnn", vec![320, 0, 18_496, 0, 0, 204_928, 1_290], 225_034)];
    for (name, per_layer, total) in expect {
        let summary = Architecture::preset(name).unwrap().summary().unwrap();
        let params: Vec<usize> = summary.layers.iter().map(|l| l.params).collect();
        assert_eq!(params, per_layer, "{name}");
        assert_eq!(summary.total_params, total, "{name}");
        // And the candle model really has that many numbers.
        let network = Network::new(&Architecture::preset(name).unwrap(), 0).unwrap();
        assert_eq!(network.parameters().iter().map(|(_, v)| v.elem_count()).sum::<usize>(), total);
    }
}

#[test]
fn cnn_summary_shapes_and_receptive_fields() {
    let summary = Architecture::preset("cnn").unwrap().summary().unwrap();
    let shapes: Vec<String> = summary.layers.iter().map(|l| l.output.keras()).collect();
    assert_eq!(
        shapes,
        ["(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)", "(None, 1600)", "(None, 128)", "(None, 10)"]
    );
    let fields: Vec<Option<usize>> = summary.layers.iter().map(|l| l.receptive_field.map(|r| r.size)).collect();
    assert_eq!(fields, [Some(3), Some(4), Some(8), Some(10), None, None, None]);
    // Cell (1, 1) of conv2 sees input pixels 2..10 (stride 2 after pool1).
    assert_eq!(summary.layers[2].receptive_field.unwrap().window(1), (2, 10));
    let text = summary.to_string();
    assert!(text.contains("conv1 (Conv2D)") && text.contains("225,034"), "{text}");
}

#[test]
fn shape_errors_name_the_layer_what_it_got_and_the_fix() {
    let mut no_flatten = Architecture::preset("cnn").unwrap();
    no_flatten.layers.remove(4);
    let err = Network::new(&no_flatten, 0).unwrap_err().to_string();
    assert!(err.contains("dense1") && err.contains("64×5×5") && err.contains("add Flatten"), "{err}");

    let big_kernel = Architecture::new("k", vec![LayerSpec::pool(2), LayerSpec::pool(2), LayerSpec::pool(2), LayerSpec::conv(8, 5)]);
    let err = big_kernel.analyze().unwrap_err().to_string();
    assert!(err.contains("conv1") && err.contains("5×5 is larger than its 3×3 input"), "{err}");
}

#[test]
fn safetensors_round_trip_keeps_architecture_and_outputs() {
    let arch = Architecture::preset("cnn3").unwrap();
    let network = Network::new(&arch, 9).unwrap();
    let bytes = weights::save(&network, &[]).unwrap();
    let loaded = weights::load(&bytes).unwrap();
    assert_eq!(loaded.architecture(), &arch);
    let input = Network::input_normalized(bundled("t10k").batch(&[0, 1, 2], None).0).unwrap();
    let a: Vec<f32> = network.forward(&input, None).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = loaded.forward(&input, None).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a, b);
}

#[test]
fn training_on_a_thousand_images_lowers_the_loss_and_beats_chance() {
    let data = bundled("train").balanced(100);
    let config = TrainConfig { epochs: 2, train_size: 1000, validation_split: 0.2, seed: 3, ..TrainConfig::default() };
    let network = Network::new(&Architecture::preset("cnn").unwrap(), 3).unwrap();
    let mut trainer = Trainer::new(network, &data, config).unwrap();
    let mut losses = Vec::new();
    let finish = trainer
        .run(|e| {
            if let Event::Batch { loss, .. } = e {
                losses.push(*loss)
            }
        })
        .unwrap();
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.6, "loss went from {first} to {last}");
    let Event::Finished { val_accuracy: Some(val), .. } = finish else { panic!("{finish:?}") };
    assert!(val > 0.6, "validation accuracy {val}");
    let test = evaluate(trainer.network(), &bundled("t10k").subset(&(0..1000).collect::<Vec<_>>())).unwrap();
    assert!(test.accuracy > 0.6, "test accuracy {}", test.accuracy);
}

#[test]
fn same_seed_same_curve() {
    let data = bundled("train").balanced(30);
    let run = |seed| {
        let config = TrainConfig { epochs: 2, validation_split: 0.2, augment: true, seed, ..TrainConfig::default() };
        let network = Network::new(&Architecture::preset("cnn").unwrap(), seed).unwrap();
        let mut trainer = Trainer::new(network, &data, config).unwrap();
        let mut events = Vec::new();
        trainer.run(|e| events.push(e.clone())).unwrap();
        events
    };
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn early_stopping_follows_a_scripted_validation_loss() {
    // Keras semantics: improvement = at least min_delta below the best so far.
    let losses = [0.50, 0.40, 0.395, 0.41, 0.42];
    let mut stopper = EarlyStopping::new(Some(3), 0.01);
    let verdicts: Vec<Verdict> = losses.iter().enumerate().map(|(i, &l)| stopper.observe(i + 1, l)).collect();
    use Verdict::*;
    assert_eq!(verdicts, [Improved, Improved, NoImprovement, NoImprovement, Stop]);
    assert_eq!(stopper.best_epoch(), Some(2));
}

/// Every parameter value of a network, in order.
fn values(network: &Network) -> Vec<f32> {
    network.snapshot().unwrap().iter().flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
}

#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    // Overfit a tiny training set so validation loss rises, and check which weights remain.
    let data = bundled("train").balanced(6);
    let config = TrainConfig {
        epochs: 30,
        batch_size: 8,
        learning_rate: 0.003,
        schedule: digitlens::train::Schedule::Constant,
        validation_split: 0.5,
        patience: 2,
        min_delta: 0.0,
        seed: 1,
        ..TrainConfig::default()
    };
    let network = Network::new(&Architecture::preset("dense").unwrap(), 1).unwrap();
    let mut trainer = Trainer::new(network, &data, config).unwrap();
    let mut snapshots = Vec::new();
    let finish = loop {
        let event = trainer.step().unwrap();
        if let Event::Epoch(record) = &event {
            snapshots.push((record.epoch, record.val_loss.unwrap(), values(trainer.network())));
        }
        if let Event::Finished { .. } = event {
            break event;
        }
    };
    let Event::Finished { reason, weights_from_epoch: Some(best), val_loss: Some(best_loss), .. } = finish else {
        panic!("{finish:?}")
    };
    assert_eq!(reason, FinishReason::EarlyStopped);
    let (min_epoch, min_loss, best_bytes) =
        snapshots.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|(e, l, w)| (*e, *l, w.clone())).unwrap();
    assert_eq!(best, min_epoch);
    assert!((best_loss - min_loss).abs() < 1e-12);
    assert!(snapshots.len() == best + 2, "stopped {} epochs after the best", snapshots.len() - best);
    assert_eq!(values(trainer.network()), best_bytes, "weights in use are not the best epoch's");
}

#[test]
fn shipped_weights_decode_into_the_default_architecture() {
    let recognizer = Recognizer::pretrained().unwrap();
    assert_eq!(recognizer.network().architecture(), &Architecture::preset("cnn").unwrap());
    assert_eq!(weights::read_metadata(PRETRAINED).unwrap().0.name, "cnn");
}

#[test]
fn pretrained_model_reaches_99_2_percent_on_the_bundled_test_set() {
    let test = bundled("t10k");
    assert_eq!(test.len(), 10_000);
    let evaluation = evaluate(Recognizer::pretrained().unwrap().network(), &test).unwrap();
    assert!(evaluation.accuracy >= 0.992, "pretrained test accuracy {:.4}", evaluation.accuracy);
}

#[test]
fn recognizer_reads_a_test_digit_rendered_as_a_canvas() {
    // A test image drawn as a 280×280 dark-on-light RGBA canvas goes through the full pipeline.
    let test = bundled("t10k");
    let recognizer = Recognizer::pretrained().unwrap();
    let mut correct = 0;
    for i in 0..50 {
        let image = test.image(i);
        let rgba: Vec<u8> = (0..280 * 280)
            .flat_map(|p| {
                let v = 255 - image[(p / 280 / 10) * 28 + (p % 280) / 10];
                [v, v, v, 255]
            })
            .collect();
        let r = recognizer.predict_image(&rgba, 280, 280).unwrap();
        assert_eq!(r.input.len(), PIXELS);
        assert!(r.probabilities.iter().all(|p| p.is_finite()));
        correct += (r.digit == Some(test.labels[i])) as usize;
    }
    assert!(correct >= 47, "{correct}/50 canvas renderings read correctly");
}

mod preprocess_cases;

#[test]
fn the_same_digit_preprocesses_the_same_wherever_it_is_drawn() {
    preprocess_cases::check_same_digit_wherever_drawn();
}

#[test]
fn every_colour_channel_weighs_its_share_of_the_ink() {
    preprocess_cases::check_every_channel_weighs_its_share();
}
