//! What each unit looks for, for JS: feature visualisation (`Recognizer.visualize`,
//! `Recognizer.featureAscent`), the dataset examples of every channel (`TopK`) and the map of
//! all digits (`TopK.projection`). Shims over `crate::visualize`, `crate::topk`, `crate::projection`.

use super::recognizer::{Dataset, Recognizer};
use super::{js_error, to_js};
use crate::{projection, topk, visualize};
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// A whole number in `0..=max` from JS, or a clear error naming it.
fn whole(value: f64, what: &str, max: f64) -> Result<f64, JsError> {
    if value.fract() != 0.0 || !(0.0..=max).contains(&value) {
        return Err(JsError::new(&format!("{what} must be a whole number from 0 to {max}, got {value}")));
    }
    Ok(value)
}

/// `{steps, seed}` (both optional) into the ascent's options.
fn ascent_options(options: &JsValue) -> Result<visualize::AscentOptions, JsError> {
    let mut out = visualize::AscentOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok(out);
    }
    if !options.is_object() {
        return Err(JsError::new("the options must be an object like {steps: 128, seed: 1}"));
    }
    let field = |name: &str| Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED);
    for (name, max) in [("steps", 10_000.0), ("seed", u32::MAX as f64)] {
        let value = field(name);
        if value.is_undefined() {
            continue;
        }
        let number = value.as_f64().ok_or_else(|| JsError::new(&format!("options.{name} must be a number")))?;
        let number = whole(number, &format!("options.{name}"), max)?;
        if name == "steps" {
            out.steps = number as usize;
        } else {
            out.seed = number as u64;
        }
    }
    Ok(out)
}

/// `{image: Float32Array(784), activation}`, plus `steps` done when given.
fn visualization_to_js(v: &visualize::Visualization, steps: Option<usize>) -> Result<JsValue, JsError> {
    let out = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&out, &key.into(), &value).map(|_| ()).map_err(|_| JsError::new("cannot build the result object"));
    set("image", Float32Array::from(&v.image[..]).into())?;
    set("activation", v.activation.into())?;
    if let Some(steps) = steps {
        set("steps", (steps as u32).into())?;
    }
    Ok(out.into())
}

#[wasm_bindgen]
impl Recognizer {
    /// The 28 × 28 input (0..1) that maximises one channel of a layer (`conv1`, `conv1.relu`,
    /// `pool1`, `conv2.relu`, `pool2`, `dense1`, ...), by gradient ascent from grey:
    /// `{image: Float32Array(784), activation}`, where `activation` is the channel's largest
    /// value on `image` (as `predict28(image)` gives it). `options`: `{steps, seed}`.
    pub fn visualize(&self, layer: &str, channel: f64, options: JsValue) -> Result<JsValue, JsError> {
        let channel = whole(channel, "channel", u32::MAX as f64)? as usize;
        let v = visualize::visualize(self.0.network(), layer, channel, ascent_options(&options)?).map_err(js_error)?;
        visualization_to_js(&v, None)
    }

    /// The same ascent, a few steps at a time (`FeatureAscent.advance`), to show it converge.
    #[wasm_bindgen(js_name = featureAscent)]
    pub fn feature_ascent(&self, layer: &str, channel: f64, options: JsValue) -> Result<FeatureAscent, JsError> {
        let channel = whole(channel, "channel", u32::MAX as f64)? as usize;
        let ascent = visualize::FeatureAscent::new(self.0.network(), layer, channel, ascent_options(&options)?).map_err(js_error)?;
        Ok(FeatureAscent(ascent))
    }
}

/// Gradient ascent in progress (from `Recognizer.featureAscent`).
#[wasm_bindgen]
pub struct FeatureAscent(visualize::FeatureAscent);

#[wasm_bindgen]
impl FeatureAscent {
    /// Up to `steps` more steps on `model` (the one it was made for); returns
    /// `{image, activation, steps}` so far.
    pub fn advance(&mut self, model: &Recognizer, steps: u32) -> Result<JsValue, JsError> {
        self.0.advance(model.0.network(), steps as usize).map_err(js_error)?;
        visualization_to_js(&self.0.result(model.0.network()).map_err(js_error)?, Some(self.0.steps_done()))
    }

    #[wasm_bindgen(getter, js_name = isFinished)]
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// Every channel's top and bottom 9 images, per-class means and histogram, and every image's
/// embedding and prediction, over a dataset taken a chunk at a time.
#[wasm_bindgen]
pub struct TopK(topk::TopK);

#[wasm_bindgen]
impl TopK {
    /// An empty pass for `model`'s layers.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &Recognizer) -> Result<TopK, JsError> {
        topk::TopK::new(model.0.network()).map(TopK).map_err(js_error)
    }

    /// Adds the images of `data` after those done, up to index `to` (exclusive); returns how
    /// many are done.
    pub fn add(&mut self, model: &Recognizer, data: &Dataset, to: usize) -> Result<usize, JsError> {
        self.0.add_until(model.0.network(), &data.0, to).map_err(js_error)?;
        Ok(self.0.count())
    }

    #[wasm_bindgen(getter)]
    pub fn count(&self) -> usize {
        self.0.count()
    }

    /// `{layer, channel, top: [{index, value, row, col}] (9, highest first), bottom (9, lowest
    /// first), classMeans: [10], histogram: {min, max, counts}}`; values are the channel's
    /// largest on each image, `row`/`col` where in its map that was.
    pub fn channel(&self, layer: &str, channel: f64) -> Result<JsValue, JsError> {
        let channel = whole(channel, "channel", u32::MAX as f64)? as usize;
        to_js(&self.0.channel(layer, channel).map_err(js_error)?)
    }

    /// Every image's largest value on one channel, in dataset order.
    pub fn peaks(&self, layer: &str, channel: f64) -> Result<Float32Array, JsError> {
        let channel = whole(channel, "channel", u32::MAX as f64)? as usize;
        Ok(Float32Array::from(&self.0.peaks(layer, channel).map_err(js_error)?[..]))
    }

    /// The predicted digit of every image done.
    pub fn predictions(&self) -> Uint8Array {
        Uint8Array::from(self.0.predictions())
    }

    /// The true digit of every image done.
    pub fn labels(&self) -> Uint8Array {
        Uint8Array::from(self.0.labels())
    }

    /// The name of the layer whose activations place each image on the map (`dense1`).
    #[wasm_bindgen(getter, js_name = embeddingLayer)]
    pub fn embedding_layer(&self) -> String {
        self.0.embeddings().0.to_string()
    }

    /// The map of all digits: principal components of every image's embedding,
    /// `{dims, mean, axes (components × dims), variances, points (images × components)}`;
    /// a new point (a drawing's `embeddingLayer` values `x`) lies at `axes · (x − mean)`.
    pub fn projection(&self, components: usize) -> Result<JsValue, JsError> {
        let (_, width, values) = self.0.embeddings();
        let p = projection::pca(values, width, components).map_err(js_error)?;
        let out = Object::new();
        let set = |key: &str, value: JsValue| Reflect::set(&out, &key.into(), &value).map(|_| ()).map_err(|_| JsError::new("cannot build the result object"));
        set("dims", (p.dims as u32).into())?;
        set("mean", Float32Array::from(&p.mean[..]).into())?;
        set("axes", Float32Array::from(&p.axes[..]).into())?;
        set("variances", Float32Array::from(&p.variances[..]).into())?;
        set("points", Float32Array::from(&p.points[..]).into())?;
        Ok(out.into())
    }
}
