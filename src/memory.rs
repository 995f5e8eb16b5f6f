//! How much memory a network needs to train or run a batch, estimated from the layer shapes of
//! `spec`, and the budget it must fit in. A stack whose every layer is within its limits can
//! still need more than wasm32 can address once a batch multiplies it (and Rust then panics
//! with "capacity overflow", or the allocator aborts): training and inference refuse such a
//! configuration up front, saying how much it would need and what to reduce.
//!
//! The estimate counts f32 values and is meant as an upper bound of the peak (checked in the
//! browser, where wasm memory only grows: `tests/web_memory.rs`). Bytes are u64: on wasm32 a
//! `usize` cannot even state how much an oversized configuration would need.

use crate::error::{Error, Result};
use crate::spec::{LayerInfo, LayerSpec, Shape, CLASSES, INPUT_SIZE};

/// What one training step or one forward pass may use. wasm32 addresses 4.3 GB (4 GiB) in
/// all; the rest is margin for the datasets (tens of MB, with the copies a split makes), the
/// module itself, the allocator's slack and the estimate's own error. It also keeps every
/// single tensor below the 2.1 GB (`isize::MAX` on wasm32) that one allocation can have.
pub const BUDGET_BYTES: u64 = 1_500_000_000;

const F32: u64 = 4;
/// Values per image the loss adds on the logits (log-softmax and its intermediates).
const LOSS_VALUES: usize = 8 * CLASSES;
/// Parameter-sized tensors a training run holds: the weights, their gradients, Adam's two
/// moments, the best epoch's snapshot and the weights training started from; and, for a
/// while, the gradients' accumulators and transposes and the optimiser's temporaries (about
/// ten of a tensor's size per update). Natively a stack of large Dense layers peaked at 14.
const TRAINING_PARAM_COPIES: usize = 16;
/// While the backward pass is at a layer, besides everything the forward pass kept: the
/// gradient of its output and a copy (masked by a fused ReLU), and three of its input's size
/// (the gradient, and candle's zero-initialised accumulator and their sum).
const GRADIENT_OUTPUTS: usize = 2;
const GRADIENT_INPUTS: usize = 3;
/// Per convolution, independent of the batch: the patches of one image and their packed copy
/// (forward), and the same for the input gradient (backward).
const CONV_WORKSPACES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// One optimiser step: forward, backward and update.
    Training,
    /// A forward pass (with every layer's output kept for the activation maps).
    Inference,
}

/// Bytes = `fixed + batch × per_image`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub per_image: u64,
    pub fixed: u64,
    /// Index of the layer with the most values per image: the one to make smaller.
    pub heaviest: usize,
}

impl Footprint {
    /// The footprint of a valid stack (see `Architecture::analyze`); `None` when it is beyond
    /// counting.
    pub fn of(layers: &[LayerInfo], use_: Use) -> Option<Footprint> {
        let input = INPUT_SIZE * INPUT_SIZE;
        // The batch's pixels and their normalised copy exist at once.
        let mut values = 2 * input + LOSS_VALUES;
        let mut backward = 0usize;
        let mut heaviest = (0, 0);
        let mut workspace = 0usize;
        let mut params = 0usize;
        for (index, layer) in layers.iter().enumerate() {
            let out = layer.output.len();
            // Tensors the forward pass creates and the graph keeps until the step ends.
            let kept = match layer.spec {
                // Training fuses the ReLU into the convolution; the activation maps keep both.
                LayerSpec::Conv2d { .. } if use_ == Use::Training => 1,
                LayerSpec::Conv2d { .. } => 2,
                // The product, the bias added, the ReLU.
                LayerSpec::Dense { .. } => 3,
                // The mask and the masked values (training only, but counted always).
                LayerSpec::Dropout { .. } => 2,
                // A reshape of a contiguous tensor shares its storage.
                LayerSpec::Flatten => 0,
                LayerSpec::MaxPool2d { .. } | LayerSpec::Relu => 1,
            };
            let layer_values = out.checked_mul(kept)?;
            values = values.checked_add(layer_values)?;
            let gradients = out.checked_mul(GRADIENT_OUTPUTS)?.checked_add(layer.input.len().checked_mul(GRADIENT_INPUTS)?)?;
            backward = backward.max(gradients);
            if layer_values > heaviest.1 {
                heaviest = (index, layer_values);
            }
            if let (LayerSpec::Conv2d { kernel, .. }, Shape::Spatial { channels, .. }, Shape::Spatial { height, width, .. }) =
                (&layer.spec, layer.input, layer.output)
            {
                let patches = [*kernel, *kernel, channels, height * width, CONV_WORKSPACES].iter().try_fold(1usize, |a, &f| a.checked_mul(f))?;
                workspace = workspace.checked_add(patches)?;
            }
            params = params.checked_add(layer.params)?;
        }
        let (per_image, param_copies) = match use_ {
            Use::Training => (values.checked_add(backward)?, TRAINING_PARAM_COPIES),
            // The weights, and the copy a safetensors export makes.
            Use::Inference => (values, 2),
        };
        let fixed = params.checked_mul(param_copies)?.checked_add(workspace)?;
        let bytes = |values: usize| (values as u64).checked_mul(F32);
        Some(Footprint { per_image: bytes(per_image)?, fixed: bytes(fixed)?, heaviest: heaviest.0 })
    }

    /// Bytes for a batch of `batch` images, or `None` when that overflows a `u64`.
    pub fn bytes(&self, batch: usize) -> Option<u64> {
        (batch as u64).checked_mul(self.per_image)?.checked_add(self.fixed)
    }

    /// The largest batch within the budget (0: not even one image).
    pub fn max_batch(&self) -> usize {
        // At most the budget over 4 bytes a value: it fits a usize even on wasm32.
        (BUDGET_BYTES.saturating_sub(self.fixed) / self.per_image.max(1)) as usize
    }
}

/// Refuses to `use_` the stack `layers` in batches of `batch` when that needs more than
/// `BUDGET_BYTES`, blaming the layer with the most values per image.
pub fn check(layers: &[LayerInfo], use_: Use, batch: usize) -> Result<()> {
    let footprint = Footprint::of(layers, use_);
    let needed = footprint.and_then(|f| f.bytes(batch));
    if needed.is_some_and(|bytes| bytes <= BUDGET_BYTES) {
        return Ok(());
    }
    let what = match (use_, batch) {
        (Use::Training, 1) => "training on one image".to_string(),
        (Use::Training, n) => format!("training in batches of {n}"),
        (Use::Inference, 1) => "reading one image".to_string(),
        (Use::Inference, n) => format!("reading {n} images at once"),
    };
    let amount = needed.map_or("more memory than can be counted".into(), |b| format!("about {}", human_bytes(b)));
    let max_batch = footprint.map_or(0, |f| f.max_batch());
    let fix = if max_batch >= 1 {
        format!("use batches of at most {max_batch}, or ")
    } else {
        String::new()
    };
    let heaviest = footprint.map_or(0, |f| f.heaviest).min(layers.len().saturating_sub(1));
    let message = format!(
        "{what} needs {amount} of memory, more than the {} a browser tab can safely give it (wasm has \
         4.3 GB in all); this layer's {} outputs per image take the most: {fix}make it smaller (fewer \
         filters or units, a larger stride, or pooling before it)",
        human_bytes(BUDGET_BYTES),
        layers.get(heaviest).map_or("".into(), |l| l.output.to_string()),
    );
    Err(match layers.get(heaviest) {
        Some(layer) => Error::Spec { layer: heaviest, name: layer.name.clone(), message },
        None => Error::Stack(message),
    })
}

/// What all the workers of a data-parallel run (see `parallel`) may use together: each is a
/// wasm instance with an address space of its own, but they share the device's memory.
pub const ALL_WORKERS_BUDGET_BYTES: u64 = 3_000_000_000;

/// The most workers, up to `wanted` (and at least 1), whose replicas fit in
/// `ALL_WORKERS_BUDGET_BYTES` together when each trains its shard of a batch of `batch`.
pub fn max_workers(layers: &[LayerInfo], batch: usize, wanted: usize) -> usize {
    let Some(footprint) = Footprint::of(layers, Use::Training) else { return 1 };
    let fits = |n: usize| {
        let shard = batch.div_ceil(n).max(1);
        footprint.bytes(shard).and_then(|b| b.checked_mul(n as u64)).is_some_and(|total| total <= ALL_WORKERS_BUDGET_BYTES)
    };
    (2..=wanted).take_while(|&n| fits(n)).last().unwrap_or(1)
}

/// "4.3 GB", "512 MB": decimal units, one decimal below 10.
pub fn human_bytes(bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b >= 1_000_000_000 => (b as f64 / 1e9, "GB"),
        b if b >= 1_000_000 => (b as f64 / 1e6, "MB"),
        b => (b as f64 / 1e3, "KB"),
    };
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Architecture;

    fn layers(name: &str) -> Vec<LayerInfo> {
        Architecture::preset(name).unwrap().analyze().unwrap()
    }

    #[test]
    fn the_largest_batch_is_the_last_within_the_budget() {
        for name in ["dense", "cnn", "cnn3"] {
            let footprint = Footprint::of(&layers(name), Use::Training).unwrap();
            let max = footprint.max_batch();
            assert!(footprint.bytes(max).unwrap() <= BUDGET_BYTES, "{name}");
            assert!(footprint.bytes(max + 1).unwrap() > BUDGET_BYTES, "{name}");
            // The page's presets train with any batch a teacher would pick.
            assert!(max >= 1024, "{name}: batches of at most {max}");
            assert!(check(&layers(name), Use::Training, max).is_ok());
            assert!(check(&layers(name), Use::Training, max + 1).is_err());
        }
    }

    #[test]
    fn training_needs_more_than_inference_and_more_images_more_memory() {
        let cnn = layers("cnn");
        let training = Footprint::of(&cnn, Use::Training).unwrap();
        let inference = Footprint::of(&cnn, Use::Inference).unwrap();
        assert!(training.per_image > inference.per_image && training.fixed > inference.fixed);
        assert!(training.bytes(64).unwrap() > training.bytes(32).unwrap());
        assert_eq!(training.bytes(usize::MAX), None, "overflow is detected, not wrapped");
        assert_eq!(training.heaviest, 0, "conv1's 32×26×26 outputs are the cnn's largest");
    }

    #[test]
    fn workers_are_limited_by_what_their_replicas_need_together() {
        let cnn = layers("cnn");
        assert_eq!(max_workers(&cnn, 64, 8), 8, "the lecture's cnn trains on 8 workers");
        assert_eq!(max_workers(&cnn, 64, 1), 1);
        // A stack whose one worker takes most of the budget gets fewer replicas.
        let footprint = Footprint::of(&cnn, Use::Training).unwrap();
        let big_batch = footprint.max_batch();
        let n = max_workers(&cnn, big_batch, 10_000);
        assert!(n >= 2 && n < 10_000, "{n} workers for batches of {big_batch}");
        let total = |n: usize| footprint.bytes(big_batch.div_ceil(n)).unwrap() * n as u64;
        assert!(total(n) <= ALL_WORKERS_BUDGET_BYTES && total(n + 1) > ALL_WORKERS_BUDGET_BYTES);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(4_300_000_000), "4.3 GB");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
        assert_eq!(human_bytes(19_400_000_000), "19 GB");
        assert_eq!(human_bytes(12_300_000), "12 MB");
        assert_eq!(human_bytes(512_000_000), "512 MB");
    }
}
