//! Data-parallel training in the page (see `crate::parallel`): the training worker's `Trainer`
//! hands out each batch and takes the summed gradients back; `GradientWorker`, one per extra
//! Web Worker, is a replica that is sent the weights and a shard and answers with its gradients
//! (or with its part of an evaluation).

use super::recognizer::{Dataset, Evaluation, Recognizer};
use super::trainer::Trainer;
use super::{js_error, to_js};
use crate::parallel::{self, Batch, ShardGradients};
use crate::{data, network::Network, spec::Architecture, train};
use js_sys::{Float32Array, Object, Reflect, Uint32Array};
use wasm_bindgen::prelude::*;

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, &key.into(), value).map(|_| ()).map_err(|_| JsError::new("cannot build the result object"))
}

/// `{gradients: Float32Array, lossSum, correct, count}`
fn gradients_to_js(g: &ShardGradients) -> Result<JsValue, JsError> {
    let out = Object::new();
    set(&out, "gradients", &Float32Array::from(&g.gradients[..]).into())?;
    set(&out, "lossSum", &g.loss_sum.into())?;
    set(&out, "correct", &(g.correct as u32).into())?;
    set(&out, "count", &(g.count as u32).into())?;
    Ok(out.into())
}

/// A seed that crossed to JS as a number (exact below 2⁵³).
fn seed_from_js(seed: f64) -> Result<u64, JsError> {
    if seed.is_finite() && seed >= 0.0 && seed < 9_007_199_254_740_992.0 && seed.fract() == 0.0 {
        Ok(seed as u64)
    } else {
        Err(JsError::new(&format!("{seed} is not a dropout seed (a whole number below 2^53)")))
    }
}

#[wasm_bindgen]
impl Trainer {
    /// The next training batch, to be cut into shards: `{pixels: Float32Array (normalised,
    /// size·784), labels: Uint32Array, dropoutSeed, size}`, or undefined when the next step is
    /// not a batch (then call `step()`). Until `finishBatch`, the same batch.
    #[wasm_bindgen(js_name = beginBatch)]
    pub fn begin_batch(&mut self) -> Result<JsValue, JsError> {
        let Some(batch) = self.0.begin_batch() else { return Ok(JsValue::UNDEFINED) };
        let out = Object::new();
        set(&out, "pixels", &Float32Array::from(&batch.pixels[..]).into())?;
        set(&out, "labels", &Uint32Array::from(&batch.labels[..]).into())?;
        set(&out, "dropoutSeed", &(batch.dropout_seed as f64).into())?;
        set(&out, "size", &(batch.len() as u32).into())?;
        Ok(out.into())
    }

    /// The gradients of images `from..to` of the batch `beginBatch` gave, computed here.
    #[wasm_bindgen(js_name = shardGradients)]
    pub fn shard_gradients(&self, from: usize, to: usize) -> Result<JsValue, JsError> {
        gradients_to_js(&self.0.shard_gradients(from..to).map_err(js_error)?)
    }

    /// Ends the batch with every shard's `{gradients, lossSum, correct, count}`, in shard
    /// order (added in that order, so every run sums alike); returns the `batch` event, as
    /// `step()` would.
    #[wasm_bindgen(js_name = finishBatch)]
    pub fn finish_batch(&mut self, parts: Vec<JsValue>) -> Result<JsValue, JsError> {
        let summed = sum_shards(parts, parallel::parameter_count(self.0.network()))?;
        to_js(&self.0.finish_batch(&summed).map_err(js_error)?)
    }

    /// Every weight, flattened in parameter order: what the gradient workers are sent.
    #[wasm_bindgen(js_name = flatWeights)]
    pub fn flat_weights(&self) -> Result<Float32Array, JsError> {
        Ok(Float32Array::from(&parallel::flat_weights(self.0.network()).map_err(js_error)?[..]))
    }

    /// Whether the next step validates, none of it done yet (then workers may share it).
    #[wasm_bindgen(getter, js_name = validationIsNext)]
    pub fn validation_is_next(&self) -> bool {
        self.0.validation_is_next()
    }

    /// Validation images `from..to` as `{images: Uint8Array (784 bytes each), labels: Uint8Array}`.
    #[wasm_bindgen(js_name = validationImages)]
    pub fn validation_images(&self, from: usize, to: usize) -> Result<JsValue, JsError> {
        images_to_js(&self.0.validation_images(from..to).map_err(js_error)?)
    }

    /// Ends the epoch with the validation evaluated in parts (merged, in order, into
    /// `evaluation`); returns the `epoch` event, as the validation steps would.
    #[wasm_bindgen(js_name = finishValidation)]
    pub fn finish_validation(&mut self, evaluation: &Evaluation) -> Result<JsValue, JsError> {
        to_js(&self.0.finish_validation(evaluation.0.clone()).map_err(js_error)?)
    }
}

#[wasm_bindgen]
impl Evaluation {
    /// Appends another worker's part (its `result()`), for the images that follow.
    #[wasm_bindgen(js_name = mergeResult)]
    pub fn merge_result(&mut self, result: JsValue) -> Result<usize, JsError> {
        let json: String = js_sys::JSON::stringify(&result).map_err(|_| JsError::new("an evaluation part is not JSON"))?.into();
        let part: train::Evaluation = serde_json::from_str(&json).map_err(|e| JsError::new(&format!("not an evaluation part: {e}")))?;
        self.0.merge(&part);
        Ok(self.0.count)
    }
}

/// Where the shards of a batch of `len` images over `count` workers begin and end:
/// `[0, b1, …, len]` (see `parallel::shard_ranges`).
#[wasm_bindgen(js_name = shardBounds)]
pub fn shard_bounds(len: usize, count: usize) -> Uint32Array {
    let ranges = parallel::shard_ranges(len, count);
    let bounds: Vec<u32> = std::iter::once(0).chain(ranges.iter().map(|r| r.end as u32)).collect();
    Uint32Array::from(&bounds[..])
}

#[wasm_bindgen]
impl Dataset {
    /// Images `from..to` as `{images: Uint8Array (784 bytes each), labels: Uint8Array}`.
    pub fn range(&self, from: usize, to: usize) -> Result<JsValue, JsError> {
        if from > to || to > self.0.len() {
            return Err(JsError::new(&format!("images {from}..{to} of {}", self.0.len())));
        }
        images_to_js(&self.0.subset(&(from..to).collect::<Vec<_>>()))
    }
}

#[wasm_bindgen]
impl Recognizer {
    /// Every weight, flattened in parameter order (what gradient workers are sent).
    #[wasm_bindgen(js_name = flatWeights)]
    pub fn flat_weights(&self) -> Result<Float32Array, JsError> {
        Ok(Float32Array::from(&parallel::flat_weights(self.0.network()).map_err(js_error)?[..]))
    }
}

/// `{images, labels}` of a dataset, as Uint8Arrays.
fn images_to_js(data: &data::Dataset) -> Result<JsValue, JsError> {
    let out = Object::new();
    set(&out, "images", &js_sys::Uint8Array::from(&data.images[..]).into())?;
    set(&out, "labels", &js_sys::Uint8Array::from(&data.labels[..]).into())?;
    Ok(out.into())
}

/// The sum of shards' `{gradients, lossSum, correct, count}` (`parameters` gradient values
/// each), added in the order given. Each part is copied once, straight into wasm memory.
fn sum_shards(parts: Vec<JsValue>, parameters: usize) -> Result<ShardGradients, JsError> {
    let mut total = ShardGradients::default();
    let mut part = ShardGradients { gradients: vec![0.0; parameters], ..Default::default() };
    for value in parts {
        let get = |key: &str| Reflect::get(&value, &key.into()).map_err(|_| JsError::new("a shard's result is not an object"));
        let number = |key: &str| -> Result<f64, JsError> {
            get(key)?.as_f64().ok_or_else(|| JsError::new(&format!("a shard's result has no number {key}")))
        };
        let gradients = Float32Array::from(get("gradients")?);
        if gradients.length() as usize != parameters {
            return Err(JsError::new(&format!("a worker sent {} gradient values where the model has {parameters}", gradients.length())));
        }
        gradients.copy_to(&mut part.gradients);
        part.loss_sum = number("lossSum")?;
        part.correct = number("correct")? as usize;
        part.count = number("count")? as usize;
        total.add(&part).map_err(js_error)?;
    }
    Ok(total)
}

/// A replica in a gradient worker: it is sent the weights and a shard each step, so it needs
/// no optimiser and keeps no state between steps but the model's shape.
#[wasm_bindgen]
pub struct GradientWorker(Network);

#[wasm_bindgen]
impl GradientWorker {
    /// A replica of the architecture `{name, layers}` (JSON); its weights come with each step.
    #[wasm_bindgen(constructor)]
    pub fn new(architecture: &str) -> Result<GradientWorker, JsError> {
        let architecture = Architecture::from_json(architecture).map_err(js_error)?;
        Network::new(&architecture, 0).map(GradientWorker).map_err(js_error)
    }

    /// Sets every weight (as `Trainer.flatWeights` gives them).
    #[wasm_bindgen(js_name = setWeights)]
    pub fn set_weights(&self, weights: &[f32]) -> Result<(), JsError> {
        parallel::set_flat_weights(&self.0, weights).map_err(js_error)
    }

    /// The gradients of a shard: its normalised `pixels` and `labels`, which start at image
    /// `first` of a batch of `batchSize` whose dropout seed is `dropoutSeed`.
    pub fn gradients(&self, pixels: Vec<f32>, labels: Vec<u32>, dropout_seed: f64, first: usize, batch_size: usize) -> Result<JsValue, JsError> {
        let shard = Batch { pixels, labels, dropout_seed: seed_from_js(dropout_seed)? };
        if shard.pixels.len() != shard.len() * data::PIXELS {
            return Err(JsError::new(&format!("{} labels need {} pixels, got {}", shard.len(), shard.len() * data::PIXELS, shard.pixels.len())));
        }
        let g = parallel::shard_gradients(&self.0, &shard, 0..shard.len(), first, batch_size).map_err(js_error)?;
        gradients_to_js(&g)
    }

    /// This worker's part of an evaluation: `images` (784 bytes each) and `labels`, read with
    /// the weights last set; merge the parts in order with `Evaluation.merge`.
    pub fn evaluate(&self, images: Vec<u8>, labels: Vec<u8>) -> Result<Evaluation, JsError> {
        let part = data::Dataset::from_bytes(images, labels).map_err(js_error)?;
        let mut evaluation = train::Evaluation::default();
        evaluation.add_range(&self.0, &part, 0, part.len()).map_err(js_error)?;
        Ok(Evaluation(evaluation))
    }
}
