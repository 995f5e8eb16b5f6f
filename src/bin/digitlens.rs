//! The native CLI: train, eval, predict, summary and bench, on the same code as the page.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use digitlens::augment::Augmentation;
use digitlens::class_file;
use digitlens::data::Dataset;
use digitlens::network::Network;
use digitlens::preprocess::Steps;
use digitlens::recognizer::Recognizer;
use digitlens::robustness::{Collection, RobustnessRun};
use digitlens::spec::Architecture;
use digitlens::projection::pca;
use digitlens::topk::TopK;
use digitlens::train::{evaluate, evaluate_threaded, Event, OptimizerKind, Schedule, TrainConfig, Trainer};
use digitlens::visualize::{visualize, AscentOptions};
use digitlens::weights;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "digitlens/explain.rs"]
mod explain;

#[derive(Parser)]
#[command(name = "digitlens", version, about = "Train, evaluate and inspect the digitlens CNN")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ModelChoice {
    /// Preset architecture: dense, cnn, cnn3.
    #[arg(long, default_value = "cnn")]
    preset: String,
    /// A JSON file with a custom architecture ({"name": ..., "layers": [...]}); overrides --preset.
    #[arg(long)]
    layers: Option<PathBuf>,
}

impl ModelChoice {
    fn architecture(&self) -> Result<Architecture> {
        Ok(match &self.layers {
            Some(path) => Architecture::from_json(&std::fs::read_to_string(path)?)?,
            None => Architecture::preset(&self.preset)?,
        })
    }
}

/// The distortions of `--augment`; the defaults are the page's.
#[derive(clap::Args)]
struct AugmentationArgs {
    /// Largest random shift in whole pixels.
    #[arg(long, default_value_t = Augmentation::default().shift)]
    shift: u32,
    /// Largest random rotation in degrees.
    #[arg(long, default_value_t = Augmentation::default().rotation)]
    rotation: f32,
    /// Largest relative change of size (0.2: 0.8–1.2).
    #[arg(long, default_value_t = Augmentation::default().scale)]
    scale: f32,
    /// Largest horizontal shear.
    #[arg(long, default_value_t = Augmentation::default().shear)]
    shear: f32,
    /// Elastic distortion strength α in pixels (σ = 4).
    #[arg(long, default_value_t = Augmentation::default().elastic)]
    elastic: f32,
    /// Probability of one pixel thicker or thinner strokes.
    #[arg(long, default_value_t = Augmentation::default().thickness)]
    thickness: f32,
    /// Probability of a blur.
    #[arg(long, default_value_t = Augmentation::default().blur)]
    blur: f32,
    /// Probability of a low-resolution source (an 8- to 16-pixel digit).
    #[arg(long, default_value_t = Augmentation::default().low_res)]
    low_res: f32,
}

impl From<AugmentationArgs> for Augmentation {
    fn from(a: AugmentationArgs) -> Self {
        Augmentation {
            shift: a.shift,
            rotation: a.rotation,
            scale: a.scale,
            shear: a.shear,
            elastic: a.elastic,
            thickness: a.thickness,
            blur: a.blur,
            low_res: a.low_res,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on IDX files and write safetensors plus a model card. The defaults are the
    /// page's (`TrainConfig::default()`), so both front ends give the same run.
    Train {
        #[command(flatten)]
        model: ModelChoice,
        /// Folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and the t10k files,
        /// or a class-data file exported by the page (then the test set is www/data's t10k files).
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        #[arg(long, default_value_t = TrainConfig::default().epochs)]
        epochs: usize,
        #[arg(long, default_value_t = TrainConfig::default().batch_size)]
        batch: usize,
        #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
        lr: f64,
        #[arg(long, value_parser = ["adam", "adamw", "sgd"], default_value = "adam")]
        optimizer: String,
        #[arg(long, value_parser = ["cosine", "constant"], default_value = "cosine")]
        schedule: String,
        /// Images to use (0 = all).
        #[arg(long, default_value_t = 0)]
        train_size: usize,
        #[arg(long, default_value_t = TrainConfig::default().validation_split)]
        val_split: f32,
        /// Early-stopping patience in epochs (0 = off).
        #[arg(long, default_value_t = TrainConfig::default().patience)]
        patience: usize,
        /// Distort the training images (`--augment false` turns every distortion off).
        #[arg(long, default_value_t = TrainConfig::default().augment, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        augment: bool,
        #[command(flatten)]
        augmentation: AugmentationArgs,
        #[arg(long, default_value_t = TrainConfig::default().seed)]
        seed: u64,
        /// Start from these weights instead of a fresh model.
        #[arg(long)]
        init: Option<PathBuf>,
        #[arg(long, default_value = "model.safetensors")]
        out: PathBuf,
        /// Cores to train on: each batch is split into this many shards whose gradients are
        /// computed at once and summed (the same result as 1, up to float rounding).
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
    },
    /// Accuracy and confusion matrix of a weights file on IDX images and labels.
    Eval {
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
        /// A folder of IDX files, or a class-data file exported by the page.
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        /// Which files of a folder: t10k (test) or train.
        #[arg(long, default_value = "t10k")]
        split: String,
    },
    /// Accuracy on the MNIST test digits under each transformation, drawn into the pad and read
    /// through the page's preprocessing, and on another collection of handwritten digits.
    Robustness {
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        /// Test images per digit (0 = all 10,000).
        #[arg(long, default_value_t = 0)]
        per_digit: usize,
        /// Folder of the other collection (optdigits: 8×8 images).
        #[arg(long, default_value = "www/data/optdigits")]
        other: PathBuf,
        /// Preprocessing: shear digits upright.
        #[arg(long, default_value_t = Steps::default().deslant, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        deslant: bool,
        /// Preprocessing: bring stroke widths into MNIST's range.
        #[arg(long, default_value_t = Steps::default().stroke, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        stroke: bool,
        /// Print the results as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read a digit from a PNG (any size, dark-on-light or light-on-dark).
    Predict {
        image: PathBuf,
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
    },
    /// Why the model reads a PNG digit as it does: the attribution map as a picture over the
    /// digit (red: towards the target, blue: away) and its top-3 regions.
    Explain {
        image: PathBuf,
        /// gradient, integrated, occlusion or gradcam.
        #[arg(long, default_value = "gradient")]
        method: String,
        /// The digit to explain (default: the predicted one).
        #[arg(long)]
        target: Option<u8>,
        /// Explain the target rather than this digit (target's logit minus this one's).
        #[arg(long)]
        versus: Option<u8>,
        /// Write the map over the digit to this PNG (280 × 280).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
    },
    /// The deletion test of every attribution method on MNIST test digits: the per-method
    /// ratios to random erasure and the deletion curve at 1/2/5/10 %.
    Faithfulness {
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        /// How many test digits (the first ones of the test set).
        #[arg(long, default_value_t = 500)]
        count: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// The Keras-style summary of an architecture.
    Summary {
        #[command(flatten)]
        model: ModelChoice,
    },
    /// Native speed of the canonical model as JSON lines, named like the browser benchmark's.
    Bench {
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        /// Training batches to time after the warm-up.
        #[arg(long, default_value_t = 30)]
        batches: usize,
        /// Skip timing a whole epoch (about half a minute).
        #[arg(long)]
        no_epoch: bool,
        /// Skip the per-layer forward/backward profile.
        #[arg(long)]
        no_ops: bool,
    },
    /// Feature visualisation as real maximisation: per layer, how the activation gradient ascent
    /// reaches compares with the largest any of the first `--images` test digits reaches.
    Units {
        #[arg(long, default_value = "model/cnn.safetensors")]
        weights: PathBuf,
        #[arg(long, default_value = "www/data")]
        data: PathBuf,
        #[arg(long, default_value_t = 500)]
        images: usize,
        #[arg(long, default_value_t = AscentOptions::default().steps)]
        steps: usize,
        /// Layers to report (all of them when none is given).
        layers: Vec<String>,
    },
}

fn main() -> Result<()> {
    // One core per shard, as one Web Worker per shard in the page: candle would otherwise split
    // each matmul over every core, and the shards' matmuls would fight for the same cores
    // (2 threads then trained 1.1× faster than 1, against 1.5× with this). Set before any
    // thread starts; RAYON_NUM_THREADS given by the caller still wins.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    match Cli::parse().command {
        Command::Train {
            model, data, epochs, batch, lr, optimizer, schedule, train_size, val_split, patience, augment, augmentation, seed, init, out, threads,
        } => {
            let config = TrainConfig {
                epochs,
                batch_size: batch,
                learning_rate: lr,
                optimizer: match optimizer.as_str() {
                    "adamw" => OptimizerKind::AdamW,
                    "sgd" => OptimizerKind::Sgd,
                    _ => OptimizerKind::Adam,
                },
                schedule: if schedule == "constant" { Schedule::Constant } else { Schedule::Cosine },
                train_size,
                validation_split: val_split,
                early_stopping: patience > 0,
                patience,
                augment,
                augmentation: augmentation.into(),
                seed,
                ..TrainConfig::default()
            };
            let network = match &init {
                Some(path) => weights::load(&std::fs::read(path)?)?,
                None => Network::new(&model.architecture()?, seed)?,
            };
            train(network, &data, config, &out, threads)
        }
        Command::Eval { weights: path, data, split } => {
            let network = weights::load(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
            let set = load_data(&data, &split)?;
            let start = Instant::now();
            let result = evaluate_threaded(&network, &set, default_threads())?;
            println!("{} images in {:.1} s", result.count, start.elapsed().as_secs_f64());
            println!("loss {:.4}  accuracy {:.2}%", result.loss, result.accuracy * 100.0);
            println!("confusion matrix (rows: true digit, columns: predicted)");
            println!("     {}", (0..10).map(|d| format!("{d:>6}")).collect::<String>());
            for (digit, row) in result.confusion.iter().enumerate() {
                println!("{digit:>4} {}", row.iter().map(|n| format!("{n:>6}")).collect::<String>());
            }
            Ok(())
        }
        Command::Predict { image, weights: path } => {
            let recognizer = Recognizer::from_safetensors(&std::fs::read(&path)?)?;
            let (rgba, width, height) = read_png(&image)?;
            let result = recognizer.predict_image(&rgba, width, height)?;
            match result.digit {
                Some(d) => println!("digit {d} ({:.1}%)", result.confidence() * 100.0),
                None => println!("no digit: the image has no ink"),
            }
            for (d, p) in result.probabilities.iter().enumerate() {
                println!("  {d}: {:6.2}% {}", p * 100.0, "#".repeat((p * 40.0).round() as usize));
            }
            Ok(())
        }
        Command::Explain { image, method, target, versus, out, weights: path } => {
            let network = weights::load(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
            let question = digitlens::explain::Question { method: digitlens::explain::Method::parse(&method)?, target, versus };
            explain::explain(&network, read_png(&image)?, question, out.as_deref())
        }
        Command::Faithfulness { weights: path, data, count, seed } => {
            let network = weights::load(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
            explain::faithfulness(&network, &data, count, seed)
        }
        Command::Robustness { weights: path, data, per_digit, other, deslant, stroke, json } => {
            let network = weights::load(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)?;
            let steps = Steps { deslant, stroke };
            let test = Collection::mnist(&Dataset::load_dir(&data, "t10k")?).balanced(per_digit);
            let start = Instant::now();
            let mut results = RobustnessRun::transformed(test, steps.clone()).run(&network)?;
            let read = |kind: &str| std::fs::read(other.join(format!("{kind}-idx{}-ubyte.gz", if kind == "images" { 3 } else { 1 })));
            match (read("images"), read("labels")) {
                (Ok(images), Ok(labels)) => {
                    let collection = Collection::optdigits(&images, &labels)?.balanced(per_digit);
                    results.extend(RobustnessRun::plain(collection, steps, digitlens::robustness::OPTDIGITS).run(&network)?);
                }
                _ => eprintln!("no other collection in {} (skipped)", other.display()),
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
                return Ok(());
            }
            println!("{} in {:.0} s; accuracy in %, per digit 0-9", path.display(), start.elapsed().as_secs_f64());
            let clean = results[0].accuracy;
            for r in &results {
                let digits: String = r.per_digit.iter().map(|&(right, of)| format!("{:>6.1}", 100.0 * right as f64 / of.max(1) as f64)).collect();
                println!("{:<22} {:>6} {:>7.2} {:>+6.2} |{digits}", r.name, r.count, r.accuracy * 100.0, (r.accuracy - clean) * 100.0);
            }
            Ok(())
        }
        Command::Summary { model } => {
            println!("{}", model.architecture()?.summary()?);
            Ok(())
        }
        Command::Bench { data, batches, no_epoch, no_ops } => bench(&data, batches, !no_epoch, !no_ops),
        Command::Units { weights: path, data, images, steps, layers } => units(&path, &data, images, steps, layers),
    }
}

fn units(path: &Path, data: &Path, images: usize, steps: usize, layers: Vec<String>) -> Result<()> {
    let network = weights::load(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?;
    let test = Dataset::load_dir(data, "t10k")?;
    let mut pass = TopK::new(&network)?;
    pass.add_until(&network, &test, images)?;
    let all: Vec<(String, Vec<usize>)> = pass.layers();
    let chosen: Vec<&(String, Vec<usize>)> = all.iter().filter(|(name, _)| layers.is_empty() || layers.contains(name)).collect();
    if chosen.is_empty() {
        bail!("no such layer; this model has {}", all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "));
    }
    println!("feature visualisation ({steps} steps) vs the largest value any of {} test digits reaches", pass.count());
    println!("(reached: channels where it is at least as large; dead: channels that stay 0 on every digit and on the visualisation)");
    println!("{:<12}{:>9}{:>14}{:>6}{:>11}{:>9}{:>9}", "layer", "channels", "reached", "dead", "min ratio", "median", "ms/unit");
    for (name, shape) in chosen {
        let start = Instant::now();
        let results = (0..shape[0])
            .map(|c| {
                let best = pass.channel(name, c)?.top[0].value;
                let v = visualize(&network, name, c, AscentOptions { steps, ..AscentOptions::default() })?;
                Ok((v.activation, best))
            })
            .collect::<Result<Vec<(f32, f32)>>>()?;
        let ms = start.elapsed().as_secs_f64() * 1000.0 / shape[0] as f64;
        let reached = results.iter().filter(|(v, best)| v >= best).count();
        let dead = results.iter().filter(|(v, best)| *v <= 0.0 && *best <= 0.0).count();
        // Ratios only where a test digit opens the channel (a logit or pre-activation may be negative).
        let mut ratios: Vec<f32> = results.iter().filter(|(_, best)| *best > 0.0).map(|(v, best)| v / best).collect();
        ratios.sort_by(f32::total_cmp);
        let (min, median) = (ratios.first().copied().unwrap_or(f32::NAN), ratios.get(ratios.len() / 2).copied().unwrap_or(f32::NAN));
        let share = format!("{reached} ({:.0}%)", 100.0 * reached as f64 / shape[0] as f64);
        println!("{name:<12}{:>9}{share:>14}{dead:>6}{min:>11.2}{median:>9.2}{ms:>9.0}", shape[0]);
    }
    Ok(())
}

/// Every core the machine has.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn train(network: Network, data: &Path, config: TrainConfig, out: &Path, threads: usize) -> Result<()> {
    let train_set = load_data(data, "train")?;
    // A class's own drawings are too few to test on as well: MNIST's test set then.
    let test_set = Dataset::load_dir(if data.is_file() { Path::new("www/data") } else { data }, "t10k")?;
    let architecture = network.architecture().clone();
    println!("{}", architecture.summary()?);
    let mut trainer = Trainer::new(network, &train_set, config.clone())?.with_threads(threads);
    println!(
        "training on {} images, validating on {}, {} batches per epoch, on {threads} thread{}",
        trainer.train_len(),
        trainer.validation_len(),
        trainer.batches_per_epoch(),
        if threads == 1 { "" } else { "s" }
    );
    let start = Instant::now();
    let mut epoch_start = Instant::now();
    let finish = trainer.run(|event| match event {
        Event::Batch { epoch, batch, batches, loss, .. } if batch % 100 == 0 || batch == batches => {
            let rate = (batch * config.batch_size) as f64 / epoch_start.elapsed().as_secs_f64();
            eprintln!("epoch {epoch} batch {batch}/{batches} loss {loss:.4} ({rate:.0} images/s)");
        }
        Event::Epoch(r) => {
            println!(
                "epoch {:>2}: train loss {:.4} acc {:.2}% | val loss {} acc {} | {:.0} s",
                r.epoch,
                r.train_loss,
                r.train_accuracy * 100.0,
                r.val_loss.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
                r.val_accuracy.map(|a| format!("{:.2}%", a * 100.0)).unwrap_or("-".into()),
                epoch_start.elapsed().as_secs_f64()
            );
            epoch_start = Instant::now();
        }
        _ => {}
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let Event::Finished { message, weights_from_epoch, reason, .. } = finish else { bail!("training did not finish") };
    println!("{message}");
    let network = trainer.network();
    let test = evaluate_threaded(network, &test_set, threads)?;
    println!("test accuracy on {} images: {:.2}%", test.count, test.accuracy * 100.0);
    let card = serde_json::json!({
        "architecture": architecture,
        "params": architecture.summary()?.total_params,
        "training": config,
        "train_images": trainer.train_len(),
        "validation_images": trainer.validation_len(),
        "epochs_run": trainer.history().len(),
        "weights_from_epoch": weights_from_epoch,
        "finish": reason,
        "history": trainer.history(),
        "test_images": test.count,
        "test_accuracy": test.accuracy,
        "test_loss": test.loss,
        "train_seconds": seconds,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    let bytes = weights::save(network, &[("digitlens.card", card.to_string())])?;
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    let card_path = out.with_extension("json");
    std::fs::write(&card_path, serde_json::to_string_pretty(&card)? + "\n")?;
    println!("wrote {} and {}", out.display(), card_path.display());
    Ok(())
}

/// A class-data file (`class_file`), or the `<split>-…` IDX files of a folder.
fn load_data(data: &Path, split: &str) -> Result<Dataset> {
    if data.is_file() {
        let bytes = std::fs::read(data).with_context(|| format!("reading {}", data.display()))?;
        return class_file::read(&bytes).with_context(|| format!("reading the class-data file {}", data.display()));
    }
    Ok(Dataset::load_dir(data, split)?)
}

fn read_png(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let mut decoder = decoder;
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("not a PNG file")?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let bytes = &buf[..info.buffer_size()];
    let rgba: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => bytes.to_vec(),
        png::ColorType::Rgb => bytes.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => bytes.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        png::ColorType::Grayscale => bytes.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        other => bail!("unsupported PNG colour type {other:?}"),
    };
    Ok((rgba, w, h))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median milliseconds of `repeats` calls of `f`, after a few unmeasured ones.
fn time_each(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..5 {
        f()?;
    }
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(times))
}

/// The channel cards' and the digit map's computations, as the page's insight worker runs them.
fn insight_bench(recognizer: &Recognizer, test_set: &Dataset) -> Result<()> {
    let network = recognizer.network();
    let start = Instant::now();
    let mut pass = TopK::new(network)?;
    pass.add_until(network, test_set, test_set.len())?;
    let note = format!("one pass over {} test digits keeping every channel's top and bottom 9, peaks and dense1", pass.count());
    bench_line("topk_pass_s", start.elapsed().as_secs_f64(), &note);
    let units = [("conv1.relu", 5), ("conv2.relu", 17), ("dense1", 40)];
    let mut i = 0;
    let ms = time_each(6, || {
        let (layer, channel) = units[i % units.len()];
        i += 1;
        Ok(visualize(network, layer, channel, AscentOptions::default()).map(drop)?)
    })?;
    bench_line("visualize_ms", ms, "feature visualisation of one channel (128 steps; conv1.relu, conv2.relu, dense1), median of 6");
    let (_, width, embeddings) = pass.embeddings();
    let start = Instant::now();
    pca(embeddings, width, 2)?;
    bench_line("projection_s", start.elapsed().as_secs_f64(), "PCA of the test digits' dense1 activations to 2-D");
    Ok(())
}

fn bench_line(name: &str, value: f64, note: &str) {
    println!("{}", serde_json::json!({ "target": "native", "name": name, "value": (value * 1000.0).round() / 1000.0, "note": note }));
}

/// A 28×28 digit scaled ×10 into a 280×280 RGBA image, dark ink on white, as a pad hands it over.
fn as_drawing(image: &[u8]) -> Vec<u8> {
    (0..280 * 280)
        .flat_map(|i| {
            let ink = image[(i / 280 / 10) * 28 + (i % 280) / 10];
            [255 - ink, 255 - ink, 255 - ink, 255]
        })
        .collect()
}

/// The same measurements as www/bench.html (see tests/e2e/bench.mjs), on one native thread
/// (`main` sets RAYON_NUM_THREADS=1) except the lines that say how many threads they use.
fn bench(data: &Path, batches: usize, epoch: bool, ops: bool) -> Result<()> {
    const BATCH: usize = 64;
    const WARMUP: usize = 3;
    let train_set = Dataset::load_dir(data, "train")?;
    let test_set = Dataset::load_dir(data, "t10k")?;

    let recognizer = Recognizer::pretrained()?;
    let pixels: Vec<f32> = test_set.image(0).iter().map(|&p| p as f32 / 255.0).collect();
    let ms = time_each(200, || Ok(recognizer.predict28(&pixels, false).map(drop)?))?;
    bench_line("infer_ms", ms, "one preprocessed 28×28 digit → 10 probabilities, median of 200");
    let drawing = as_drawing(test_set.image(0));
    let ms = time_each(200, || Ok(recognizer.predict_image(&drawing, 280, 280).map(drop)?))?;
    bench_line("infer_with_maps_ms", ms, "one 280×280 RGBA drawing → preprocessing, probabilities and every layer's activations, median of 200");
    explain::bench(recognizer.network(), &drawing, |repeats, f| time_each(repeats, f))?;
    let subset = test_set.subset(&(0..1000).collect::<Vec<_>>());
    let ms = time_each(3, || Ok(evaluate(recognizer.network(), &subset).map(drop)?))?;
    bench_line("batch_infer_img_per_s", 1000.0 / ms * 1000.0, "1000 test images in chunks of 500, median of 3 runs");
    insight_bench(&recognizer, &test_set)?;

    if ops {
        for t in digitlens::kernels::profile::profile(5, &{
            let origin = Instant::now();
            move || origin.elapsed().as_secs_f64() * 1000.0
        })? {
            let suffix = if t.implementation == "candle" { "_candle" } else { "" };
            let how = if t.implementation == "candle" { "candle's built-in ops instead of the custom kernel" } else { "as the network runs it" };
            bench_line(&format!("op_{}_{}_ms{suffix}", t.op, t.pass), t.ms, &format!("{} {}, batch 64, {how} (median)", t.op, t.pass));
        }
    }

    // The page's training: default settings (Adam, 10% validation), one real epoch.
    let config = TrainConfig { epochs: 1, batch_size: BATCH, ..TrainConfig::default() };
    let mut trainer = Trainer::new(Network::new(&Architecture::preset("cnn")?, 1)?, &train_set, config)?;
    let (train_size, validation_size) = (trainer.train_len(), trainer.validation_len());
    let mut times = Vec::new();
    let start = Instant::now();
    for step in 0.. {
        let before = Instant::now();
        let event = trainer.step()?;
        if matches!(event, Event::Batch { images: BATCH, .. }) && step >= WARMUP && times.len() < batches {
            times.push(before.elapsed().as_secs_f64());
            if times.len() == batches {
                let note = format!("cnn, batch {BATCH}, Adam: median step of {batches} batches after {WARMUP} warm-up");
                bench_line("train_img_per_s", BATCH as f64 / median(times.clone()), &note);
                if !epoch {
                    break;
                }
            }
        }
        if matches!(event, Event::Epoch(_) | Event::Finished { .. }) {
            let note = format!("one real epoch, timed: {train_size} training images + validation on {validation_size}");
            bench_line("epoch_s", start.elapsed().as_secs_f64(), &note);
            break;
        }
    }
    threads_scaling(&train_set, &test_set, batches)
}

/// Images/s of `threads` independent one-thread trainers (`trainer(1)`) running `batches`
/// steps each at once, over the wall time from a common start until the last is done.
fn independent_rate(trainer: &(dyn Fn(usize) -> Result<Trainer> + Sync), threads: usize, batches: usize, batch: usize) -> Result<f64> {
    // Made here, so that a failure cannot leave the others waiting at the start.
    let trainers = (0..threads).map(|_| trainer(1)).collect::<Result<Vec<_>>>()?;
    let start = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = trainers
            .into_iter()
            .map(|mut trainer| {
                let start = &start;
                scope.spawn(move || -> Result<()> {
                    let warm = (0..3).try_for_each(|_| trainer.step().map(drop));
                    start.wait();
                    warm?;
                    for _ in 0..batches {
                        trainer.step()?;
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for handle in handles {
            handle.join().unwrap_or_else(|_| bail!("a bench thread panicked"))?;
        }
        Ok((threads * batches * batch) as f64 / began.elapsed().as_secs_f64())
    })
}

/// Training images/s with each batch's gradients on 1, 2, … threads (`train --threads`): the
/// counts take turns for three rounds, so a busy spell of the machine hits them alike. Beside
/// each count, the machine's own ceiling in the same rounds: that many independent trainers
/// stepping at once, with nothing exchanged (on a shared or hyperthreaded host two cores do
/// not give twice one core's speed, whatever the scheme).
/// Then the test set's evaluation on 1, 2, … threads (`evaluate_threaded`, as `eval` and the
/// end of `train` run it).
fn threads_scaling(train_set: &Dataset, test_set: &Dataset, batches: usize) -> Result<()> {
    const BATCH: usize = 64;
    const ROUNDS: usize = 3;
    let counts: Vec<usize> = [1, 2, default_threads()].into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let trainer = |threads: usize| -> Result<Trainer> {
        let config = TrainConfig { epochs: 1, batch_size: BATCH, ..TrainConfig::default() };
        Ok(Trainer::new(Network::new(&Architecture::preset("cnn")?, 1)?, train_set, config)?.with_threads(threads))
    };
    // Images/s of a trainer's median step over `batches` full batches after a warm-up.
    let rate = |mut trainer: Trainer| -> Result<f64> {
        let mut times = Vec::new();
        for step in 0.. {
            let before = Instant::now();
            if matches!(trainer.step()?, Event::Batch { images: BATCH, .. }) && step >= 3 {
                times.push(before.elapsed().as_secs_f64());
            }
            if times.len() == batches {
                break;
            }
        }
        Ok(BATCH as f64 / median(times))
    };
    let mut rates = vec![Vec::new(); counts.len()];
    let mut ceilings = vec![Vec::new(); counts.len()];
    for _ in 0..ROUNDS {
        for (k, &threads) in counts.iter().enumerate() {
            rates[k].push(rate(trainer(threads)?)?);
            ceilings[k].push(independent_rate(&trainer, threads, batches, BATCH)?);
        }
    }
    let rounded = |rates: &[f64]| (median(rates.to_vec()) * 1000.0).round() / 1000.0;
    for (k, threads) in counts.iter().enumerate() {
        let line = serde_json::json!({
            "target": "native", "name": "train_img_per_s_threads", "threads": threads, "value": rounded(&rates[k]),
            "note": format!("cnn, batch {BATCH}, Adam, each batch's gradients on {threads} thread(s) (train --threads): median of {ROUNDS} interleaved rounds of {batches} batches"),
        });
        println!("{line}");
        let line = serde_json::json!({
            "target": "native", "name": "train_img_per_s_independent", "threads": threads, "value": rounded(&ceilings[k]),
            "note": format!("the machine's ceiling in the same rounds: {threads} independent one-thread trainers stepping at once, their images over the wall time until all are done"),
        });
        println!("{line}");
    }
    let network = Network::new(&Architecture::preset("cnn")?, 1)?;
    for &threads in &counts {
        let ms = time_each(ROUNDS, || Ok(evaluate_threaded(&network, test_set, threads).map(drop)?))?;
        let line = serde_json::json!({
            "target": "native", "name": "eval_img_per_s_threads", "threads": threads, "value": (test_set.len() as f64 / ms * 1e6).round() / 1000.0,
            "note": format!("the {} test images evaluated in parts of 500 on {threads} thread(s), median of {ROUNDS}", test_set.len()),
        });
        println!("{line}");
    }
    Ok(())
}
