//! Data-parallel training, natively: shards of a batch sum to the batch's gradient, N shards
//! (or N threads) train to the same weights as one, and a gradient worker's replica computes
//! the same shard as the trainer itself.
#![cfg(not(target_arch = "wasm32"))]

use digitlens::data::Dataset;
use digitlens::network::Network;
use digitlens::parallel::{self, shard_ranges, ShardGradients};
use digitlens::spec::Architecture;
use digitlens::train::{evaluate, evaluate_threaded, Event, OptimizerKind, TrainConfig, Trainer};

fn bundled(prefix: &str) -> Dataset {
    Dataset::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data")), prefix).unwrap()
}

/// A small conv net with dropout, so the per-image dropout masks are exercised too.
fn conv_with_dropout() -> Architecture {
    Architecture::from_json(
        r#"{"name":"t","layers":[{"type":"conv2d","filters":4,"kernel":3},{"type":"maxpool2d","size":2},
        {"type":"flatten"},{"type":"dropout","rate":0.3},{"type":"dense","units":16,"activation":"relu"},{"type":"dense","units":10}]}"#,
    )
    .unwrap()
}

/// Batches of 10 do not split evenly into 3 or 4 shards. SGD, because its update is linear in
/// the gradient: the shards' rounding stays rounding. (Adam divides each gradient by its own
/// running magnitude, so a weight whose gradient is ~0 can move by up to the learning rate on
/// a last-bit difference; `adam_amplifies_only_rounding` bounds that separately.)
fn trainer(architecture: &Architecture) -> Trainer {
    trainer_with(architecture, OptimizerKind::Sgd)
}

fn trainer_with(architecture: &Architecture, optimizer: OptimizerKind) -> Trainer {
    let data = bundled("train").balanced(12);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 10,
        validation_split: 0.2,
        augment: true,
        seed: 11,
        optimizer,
        learning_rate: if optimizer == OptimizerKind::Sgd { 0.05 } else { 0.002 },
        ..TrainConfig::default()
    };
    Trainer::new(Network::new(architecture, 11).unwrap(), &data, config).unwrap()
}

fn weights(trainer: &Trainer) -> Vec<f32> {
    parallel::flat_weights(trainer.network()).unwrap()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst <= 1e-5 * scale, "{what}: differ by {worst} (largest value {scale})");
}

/// One step with the batch's gradients computed in `shards` shards and summed.
fn sharded_step(trainer: &mut Trainer, shards: usize) -> Event {
    let len = trainer.begin_batch().expect("a batch is next").len();
    let parts: Vec<ShardGradients> = shard_ranges(len, shards).into_iter().map(|r| trainer.shard_gradients(r).unwrap()).collect();
    trainer.finish_batch(&ShardGradients::sum(&parts).unwrap()).unwrap()
}

#[test]
fn shards_cover_the_batch_without_gaps_and_differ_by_at_most_one() {
    for (len, shards) in [(64, 2), (10, 3), (10, 4), (7, 7), (3, 8), (1, 2), (65, 4)] {
        let ranges = shard_ranges(len, shards);
        assert_eq!(ranges.len(), shards.min(len), "{len}/{shards}");
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges.last().unwrap().end, len);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "{ranges:?}");
        let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
        assert!(sizes.iter().all(|&s| s >= 1), "{sizes:?}");
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
    }
}

#[test]
fn uneven_shards_sum_to_the_whole_batch_gradient() {
    for architecture in [Architecture::preset("cnn").unwrap(), conv_with_dropout()] {
        let mut trainer = trainer(&architecture);
        let len = trainer.begin_batch().unwrap().len();
        let whole = trainer.shard_gradients(0..len).unwrap();
        for shards in [3, 4] {
            let parts: Vec<ShardGradients> = shard_ranges(len, shards).into_iter().map(|r| trainer.shard_gradients(r).unwrap()).collect();
            let sum = ShardGradients::sum(&parts).unwrap();
            assert_eq!((sum.count, sum.correct), (whole.count, whole.correct));
            assert!((sum.loss_sum - whole.loss_sum).abs() < 1e-4 * whole.loss_sum, "{} vs {}", sum.loss_sum, whole.loss_sum);
            assert_close(&sum.gradients, &whole.gradients, &format!("{} in {shards} shards", architecture.name));
        }
    }
}

#[test]
fn n_shards_train_to_the_same_weights_as_one() {
    let architecture = conv_with_dropout();
    let (mut one, mut three) = (trainer(&architecture), trainer(&architecture));
    for _ in 0..4 {
        let a = one.step().unwrap();
        let b = sharded_step(&mut three, 3);
        let (Event::Batch { loss: la, .. }, Event::Batch { loss: lb, .. }) = (&a, &b) else { panic!("{a:?} {b:?}") };
        assert!((la - lb).abs() < 1e-5, "losses {la} vs {lb}");
    }
    assert_close(&weights(&one), &weights(&three), "after 4 steps");
    // And the runs go on identically: validation, epochs, the end.
    let rest = |t: &mut Trainer| {
        let mut events = 0;
        while !t.is_finished() {
            t.step().unwrap();
            events += 1;
        }
        events
    };
    assert_eq!(rest(&mut one), rest(&mut three));
    assert_close(&weights(&one), &weights(&three), "at the end");
}

#[test]
fn threads_train_to_the_same_weights_as_one_thread() {
    let architecture = Architecture::preset("cnn").unwrap();
    let mut one = trainer(&architecture);
    let mut two = trainer(&architecture).with_threads(2);
    for _ in 0..3 {
        one.step().unwrap();
        two.step().unwrap();
    }
    assert_close(&weights(&one), &weights(&two), "2 threads");
}

#[test]
fn threads_evaluate_and_validate_as_one_thread_does() {
    // 1,200 images: parts of 500, 500 and 200 over two threads, merged in order.
    let data = bundled("t10k");
    let data = data.subset(&(0..1200).collect::<Vec<_>>());
    let network = Network::new(&Architecture::preset("cnn").unwrap(), 5).unwrap();
    let (one, two) = (evaluate(&network, &data).unwrap(), evaluate_threaded(&network, &data, 2).unwrap());
    assert_eq!((one.count, &one.confusion, &one.predictions), (two.count, &two.confusion, &two.predictions));
    assert!((one.loss - two.loss).abs() < 1e-9 * one.loss.max(1.0), "loss {} vs {}", one.loss, two.loss);
    // A trainer on two threads validates its epoch in one threaded pass: the same record.
    let architecture = Architecture::preset("dense").unwrap();
    let epoch = |mut trainer: Trainer| loop {
        if let Event::Epoch(record) = trainer.step().unwrap() {
            return record;
        }
    };
    let (a, b) = (epoch(trainer(&architecture)), epoch(trainer(&architecture).with_threads(2)));
    assert_eq!(a.val_accuracy, b.val_accuracy);
    let (la, lb) = (a.val_loss.unwrap(), b.val_loss.unwrap());
    assert!((la - lb).abs() < 1e-5 * la, "validation loss {la} vs {lb}");
}

#[test]
fn adam_amplifies_only_rounding() {
    // With Adam every weight moves by about the learning rate per step whatever its gradient's
    // size: the shards may differ from the whole batch by a fraction of that, never by more.
    let architecture = Architecture::preset("cnn").unwrap();
    let mut one = trainer_with(&architecture, OptimizerKind::Adam);
    let mut two = trainer_with(&architecture, OptimizerKind::Adam).with_threads(2);
    let steps = 3;
    for _ in 0..steps {
        assert!(matches!(one.step().unwrap(), Event::Batch { .. }));
        assert!(matches!(two.step().unwrap(), Event::Batch { .. }));
    }
    let (a, b) = (weights(&one), weights(&two));
    let worst = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    let lr = one.config().learning_rate as f32;
    assert!(worst < 0.1 * lr * steps as f32, "Adam runs parted by {worst}");
}

#[test]
fn a_gradient_worker_replica_computes_the_same_shard() {
    let architecture = conv_with_dropout();
    let mut trainer = trainer(&architecture);
    trainer.step().unwrap();
    let batch = trainer.begin_batch().unwrap().clone();
    let ranges = shard_ranges(batch.len(), 3);
    // The replica starts from other weights and is sent the trainer's, as a worker would be.
    let replica = Network::new(&architecture, 99).unwrap();
    parallel::set_flat_weights(&replica, &weights(&trainer)).unwrap();
    let range = ranges[1].clone();
    let on_replica = parallel::shard_gradients(&replica, &batch.shard(range.clone()), 0..range.len(), range.start, batch.len()).unwrap();
    let on_trainer = trainer.shard_gradients(range).unwrap();
    assert_eq!(on_replica, on_trainer);
}

#[test]
fn a_missing_shard_is_refused_and_the_batch_can_still_finish() {
    let mut trainer = trainer(&Architecture::preset("dense").unwrap());
    let len = trainer.begin_batch().unwrap().len();
    let ranges = shard_ranges(len, 2);
    let first = trainer.shard_gradients(ranges[0].clone()).unwrap();
    let error = trainer.finish_batch(&first).unwrap_err().to_string();
    assert!(error.contains("a shard is missing"), "{error}");
    let second = trainer.shard_gradients(ranges[1].clone()).unwrap();
    let event = trainer.finish_batch(&ShardGradients::sum([&first, &second]).unwrap()).unwrap();
    assert!(matches!(event, Event::Batch { batch: 1, images: 10, .. }), "{event:?}");
    // Gradients of another model's size are refused too.
    let mut short = first.clone();
    short.gradients.pop();
    assert!(ShardGradients::sum([&first, &short]).is_err());
}
