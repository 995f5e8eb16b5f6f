//! `Recognizer` (drawing → prediction and activations), `Dataset` and `Evaluation` for JS.

use super::{js_error, to_js};
use crate::recognizer::Recognition;
use crate::{data, network::Network, recognizer, spec::Architecture, train, weights};
use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// A model ready to read digits.
#[wasm_bindgen]
pub struct Recognizer(pub(crate) recognizer::Recognizer);

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    set_key(target, &key.into(), value)
}

/// `set` with the key already a JS string, for keys set on many objects (each `&str` key is
/// decoded into a new JS string on every call).
fn set_key(target: &Object, key: &JsValue, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, key, value).map(|_| ()).map_err(|_| JsError::new("cannot build the result object"))
}

/// `{digit, confidence, probabilities, input, layers: [{name, shape, activations}]}`; all
/// activations share one Float32Array buffer so read-back is a single copy.
fn recognition_to_js(r: &Recognition) -> Result<JsValue, JsError> {
    let out = Object::new();
    set(&out, "digit", &r.digit.map(|d| JsValue::from(d as u32)).unwrap_or(JsValue::UNDEFINED))?;
    set(&out, "confidence", &r.confidence().into())?;
    set(&out, "probabilities", &Float32Array::from(&r.probabilities[..]).into())?;
    set(&out, "input", &Float32Array::from(&r.input[..]).into())?;
    let buffer = Float32Array::from(&r.activations[..]);
    let layers = Array::new();
    let keys = ["name", "shape", "activations"].map(JsValue::from_str);
    for layer in &r.layers {
        let entry = Object::new();
        set_key(&entry, &keys[0], &layer.name.as_str().into())?;
        let shape: Array = layer.shape.iter().map(|&d| JsValue::from(d as u32)).collect();
        set_key(&entry, &keys[1], &shape.into())?;
        set_key(&entry, &keys[2], &buffer.subarray(layer.range.start as u32, layer.range.end as u32).into())?;
        layers.push(&entry);
    }
    set(&out, "layers", &layers.into())?;
    Ok(out.into())
}

#[wasm_bindgen]
impl Recognizer {
    /// The weights shipped in `model/` (embedded in the module).
    pub fn pretrained() -> Result<Recognizer, JsError> {
        recognizer::Recognizer::pretrained().map(Recognizer).map_err(js_error)
    }

    /// A model from a `.safetensors` file saved by digitlens (page or CLI).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(bytes: &[u8]) -> Result<Recognizer, JsError> {
        recognizer::Recognizer::from_safetensors(bytes).map(Recognizer).map_err(js_error)
    }

    /// A freshly initialised (untrained) model of an architecture given as JSON.
    #[wasm_bindgen(js_name = fromArchitecture)]
    pub fn from_architecture(json: &str, seed: u32) -> Result<Recognizer, JsError> {
        let architecture = Architecture::from_json(json).map_err(js_error)?;
        let network = Network::new(&architecture, seed as u64).map_err(js_error)?;
        Ok(Recognizer(recognizer::Recognizer::new(network)))
    }

    /// Reads an RGBA canvas image of any size (either polarity); `digit` is undefined without ink.
    #[wasm_bindgen(js_name = predictImage)]
    pub fn predict_image(&self, rgba: &[u8], width: u32, height: u32) -> Result<JsValue, JsError> {
        let r = self.0.predict_image(rgba, width as usize, height as usize).map_err(js_error)?;
        recognition_to_js(&r)
    }

    /// Reads an already preprocessed 28×28 image (784 values in 0..1), with activations.
    #[wasm_bindgen(js_name = predict28)]
    pub fn predict28(&self, pixels: &[f32]) -> Result<JsValue, JsError> {
        recognition_to_js(&self.0.predict28(pixels, true).map_err(js_error)?)
    }

    /// Only the 10 probabilities of a preprocessed 28×28 image (the fast path).
    #[wasm_bindgen(js_name = probabilities28)]
    pub fn probabilities28(&self, pixels: &[f32]) -> Result<Float32Array, JsError> {
        let r = self.0.predict28(pixels, false).map_err(js_error)?;
        Ok(Float32Array::from(&r.probabilities[..]))
    }

    /// The architecture as `{name, layers}`.
    pub fn architecture(&self) -> Result<JsValue, JsError> {
        to_js(self.0.network().architecture())
    }

    /// The Keras-style summary: layers with shapes, params, multiply-adds, receptive fields.
    pub fn summary(&self) -> Result<JsValue, JsError> {
        let summary = self.0.network().architecture().summary().map_err(js_error)?;
        to_js(&summary)
    }

    /// The summary as Keras prints it.
    #[wasm_bindgen(js_name = summaryText)]
    pub fn summary_text(&self) -> Result<String, JsError> {
        Ok(self.0.network().architecture().summary().map_err(js_error)?.to_string())
    }

    /// The kernels of a conv layer: `{shape: [filters, channels, k, k], values}`.
    pub fn kernels(&self, layer: &str) -> Result<JsValue, JsError> {
        let (shape, values) = self.0.network().kernels(layer).map_err(js_error)?;
        let out = Object::new();
        let dims: Array = shape.iter().map(|&d| JsValue::from(d as u32)).collect();
        set(&out, "shape", &dims.into())?;
        set(&out, "values", &Float32Array::from(&values[..]).into())?;
        Ok(out.into())
    }

    /// The weights and architecture as a `.safetensors` file.
    #[wasm_bindgen(js_name = toSafetensors)]
    pub fn to_safetensors(&self) -> Result<Uint8Array, JsError> {
        let bytes = weights::save(self.0.network(), &[]).map_err(js_error)?;
        Ok(Uint8Array::from(&bytes[..]))
    }
}

/// Labelled MNIST images held in wasm memory (from IDX files, gzipped or not).
#[wasm_bindgen]
pub struct Dataset(pub(crate) data::Dataset);

#[wasm_bindgen]
impl Dataset {
    #[wasm_bindgen(js_name = fromIdx)]
    pub fn from_idx(images: &[u8], labels: &[u8]) -> Result<Dataset, JsError> {
        data::Dataset::from_idx(images, labels).map(Dataset).map_err(js_error)
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.0.len()
    }

    /// Image `index` as 784 bytes (0 = background).
    pub fn image(&self, index: usize) -> Result<Uint8Array, JsError> {
        if index >= self.0.len() {
            return Err(JsError::new(&format!("image {index} is out of range (0..{})", self.0.len())));
        }
        Ok(Uint8Array::from(self.0.image(index)))
    }

    pub fn label(&self, index: usize) -> Result<u8, JsError> {
        self.0.labels.get(index).copied().ok_or_else(|| JsError::new("label index out of range"))
    }

    /// A new dataset with these images added (e.g. the user's own labelled drawings).
    #[wasm_bindgen(js_name = withExtra)]
    pub fn with_extra(&self, pixels01: &[f32], labels: &[u8]) -> Result<Dataset, JsError> {
        let mut out = self.0.clone();
        out.extend_from_pixels(pixels01, labels).map_err(js_error)?;
        Ok(Dataset(out))
    }
}

/// Accuracy, loss and confusion matrix, accumulated a chunk at a time.
#[wasm_bindgen]
#[derive(Default)]
pub struct Evaluation(train::Evaluation);

#[wasm_bindgen]
impl Evaluation {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Evaluation {
        Evaluation::default()
    }

    /// Adds images `from..to` of `data`, as predicted by `model`; returns how many are done.
    pub fn add(&mut self, model: &Recognizer, data: &Dataset, from: usize, to: usize) -> Result<usize, JsError> {
        self.0.add_range(model.0.network(), &data.0, from, to).map_err(js_error)?;
        Ok(self.0.count)
    }

    /// `{count, loss, accuracy, confusion: [[...]], predictions: [...]}`
    pub fn result(&self) -> Result<JsValue, JsError> {
        to_js(&self.0)
    }
}
