//! Data-parallel training: a batch is cut into shards, each shard's gradients are computed on
//! its own core (a thread natively, a Web Worker in the page), the gradients are summed, and
//! one update is applied with the sum, so every replica holds the same weights.
//!
//! What makes N shards give the same step as one batch: each shard's loss is its images' share
//! of the batch mean (`mean over shard × shard/batch`), so the shard gradients add up to the
//! batch gradient; augmentation is done once for the whole batch before it is cut; and dropout
//! draws each image's mask from that image's own seed (`Dropout`), not from a stream that
//! would depend on where the shard starts. What is left is float rounding: a sum of shard
//! sums is added in another order than one big sum.

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::network::{argmax_rows, cross_entropy, device, Network};
use crate::rng::Rng;
use candle_core::{backprop::GradStore, Tensor};
use std::ops::Range;

/// The dropout masks of a batch: image `i` of the batch draws its mask from
/// `Rng::new(seed ^ mix(i))`, wherever a shard containing it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropout {
    pub seed: u64,
    /// The position in the batch of the first image the forward pass sees.
    pub first: usize,
}

impl Dropout {
    /// The random source of the batch's image `index` (its position in the whole batch).
    pub fn rng(&self, index: usize) -> Rng {
        Rng::new(self.seed ^ (index as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }
}

/// One training batch, augmented and normalised, ready to be cut into shards.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Normalised pixels, `len() × 784`.
    pub pixels: Vec<f32>,
    pub labels: Vec<u32>,
    /// Below 2⁵³, so it crosses to JavaScript as an exact number.
    pub dropout_seed: u64,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images of `range` as a batch of their own (what a worker is sent).
    pub fn shard(&self, range: Range<usize>) -> Batch {
        Batch {
            pixels: self.pixels[range.start * PIXELS..range.end * PIXELS].to_vec(),
            labels: self.labels[range].to_vec(),
            dropout_seed: self.dropout_seed,
        }
    }
}

/// `shards` contiguous ranges covering `0..len`, the first `len % shards` one image longer.
/// Never an empty range: fewer images than shards give fewer shards.
pub fn shard_ranges(len: usize, shards: usize) -> Vec<Range<usize>> {
    let shards = shards.clamp(1, len.max(1));
    let (size, longer) = (len / shards, len % shards);
    let mut start = 0;
    (0..shards)
        .map(|k| {
            let end = start + size + (k < longer) as usize;
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// One shard's contribution to a step: its gradients (every parameter's, flattened one after
/// another in `Network::parameters` order) and its images' loss and hits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardGradients {
    pub gradients: Vec<f32>,
    /// Σ over the shard's images of their cross-entropy.
    pub loss_sum: f64,
    pub correct: usize,
    pub count: usize,
}

impl ShardGradients {
    /// Adds another shard's contribution (gradients elementwise).
    pub fn add(&mut self, other: &ShardGradients) -> Result<()> {
        if self.gradients.is_empty() {
            self.gradients = vec![0.0; other.gradients.len()];
        }
        if other.gradients.len() != self.gradients.len() {
            return Err(Error::Config(format!(
                "a worker sent {} gradient values where the model has {}",
                other.gradients.len(),
                self.gradients.len()
            )));
        }
        self.gradients.iter_mut().zip(&other.gradients).for_each(|(sum, g)| *sum += g);
        self.loss_sum += other.loss_sum;
        self.correct += other.correct;
        self.count += other.count;
        Ok(())
    }

    /// The sum of several contributions, added in the order given.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a ShardGradients>) -> Result<ShardGradients> {
        let mut total = ShardGradients::default();
        for part in parts {
            total.add(part)?;
        }
        Ok(total)
    }
}

/// How many values all of `network`'s parameters hold: the length of a flat gradient.
pub fn parameter_count(network: &Network) -> usize {
    network.parameters().iter().map(|(_, var)| var.elem_count()).sum()
}

/// The gradients of the shard `range` of `batch` (`first` = where `range` starts in the whole
/// batch of `batch_len` images), scaled so that the shards of a batch sum to its gradient.
/// `batch` may hold the whole batch or just the shard (then `range` is `0..shard len`).
pub fn shard_gradients(network: &Network, batch: &Batch, range: Range<usize>, first: usize, batch_len: usize) -> Result<ShardGradients> {
    let count = range.len();
    if count == 0 || range.end > batch.len() || first + count > batch_len {
        return Err(Error::Config(format!("shard {range:?} (from image {first}) lies outside a batch of {batch_len}")));
    }
    let pixels = batch.pixels[range.start * PIXELS..range.end * PIXELS].to_vec();
    let labels = &batch.labels[range];
    let dropout = Dropout { seed: batch.dropout_seed, first };
    let logits = network.forward(&Network::input_normalized(pixels)?, Some(dropout))?;
    let target = Tensor::from_vec(labels.to_vec(), count, &device())?;
    let mean = cross_entropy(&logits, &target)?;
    let loss_sum = mean.to_scalar::<f32>()? as f64 * count as f64;
    let store = (mean * (count as f64 / batch_len as f64))?.backward()?;
    let mut gradients = Vec::with_capacity(parameter_count(network));
    for (_, var) in network.parameters() {
        match store.get(var) {
            Some(grad) => gradients.extend(grad.flatten_all()?.to_vec1::<f32>()?),
            // A parameter the loss does not reach (e.g. behind a dead ReLU everywhere).
            None => gradients.extend(std::iter::repeat_n(0.0, var.elem_count())),
        }
    }
    let correct = argmax_rows(&logits)?.iter().zip(labels).filter(|(p, t)| p == t).count();
    Ok(ShardGradients { gradients, loss_sum, correct, count })
}

/// A flat gradient (as `shard_gradients` gives) as candle's gradient store for `network`.
pub fn grad_store(network: &Network, gradients: &[f32]) -> Result<GradStore> {
    let expected = parameter_count(network);
    if gradients.len() != expected {
        return Err(Error::Config(format!("{} gradient values for a model of {expected} parameters", gradients.len())));
    }
    let mut store = GradStore::default();
    let mut offset = 0;
    for (_, var) in network.parameters() {
        let n = var.elem_count();
        store.insert(var.as_tensor(), Tensor::from_slice(&gradients[offset..offset + n], var.shape(), &device())?);
        offset += n;
    }
    Ok(store)
}

/// Every parameter's values, flattened in `Network::parameters` order (what a gradient
/// worker is sent each step).
pub fn flat_weights(network: &Network) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(parameter_count(network));
    for (_, var) in network.parameters() {
        out.extend(var.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// Sets every parameter from flat values (the inverse of `flat_weights`).
pub fn set_flat_weights(network: &Network, values: &[f32]) -> Result<()> {
    let expected = parameter_count(network);
    if values.len() != expected {
        return Err(Error::Config(format!("{} weight values for a model of {expected} parameters", values.len())));
    }
    let mut offset = 0;
    for (_, var) in network.parameters() {
        let n = var.elem_count();
        var.set(&Tensor::from_slice(&values[offset..offset + n], var.shape(), &device())?)?;
        offset += n;
    }
    Ok(())
}

/// The batch's gradients computed on `threads` threads at once, one shard each, summed in
/// shard order (natively; the page does the same with Web Workers). The threads are rayon's,
/// alive across steps: a thread spawned per step made each shard about a quarter slower than
/// the same work on a thread that had run before (fresh allocator arenas fault their pages in
/// again every step).
#[cfg(not(target_arch = "wasm32"))]
pub fn batch_gradients_threaded(network: &Network, batch: &Batch, threads: usize) -> Result<ShardGradients> {
    let ranges = shard_ranges(batch.len(), threads);
    let parts = on_threads(ranges.len(), &ranges, |range| shard_gradients(network, batch, range.clone(), range.start, batch.len()))?;
    ShardGradients::sum(&parts)
}

/// `work` applied to every item on `threads` threads at once, the results in the items' order.
#[cfg(not(target_arch = "wasm32"))]
pub fn on_threads<T: Sync, R: Send>(threads: usize, items: &[T], work: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    use rayon::prelude::*;
    pool(threads.max(1))?.install(|| items.par_iter().map(&work).collect())
}

/// A pool of `threads` threads, built once per count and kept.
#[cfg(not(target_arch = "wasm32"))]
fn pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Ok(pool.clone());
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("digitlens-train-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start {threads} training threads: {e}")))?,
    );
    pools.insert(threads, pool.clone());
    Ok(pool)
}
