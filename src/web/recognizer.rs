//! `Recognizer` (drawing → prediction and activations), `Dataset` and `Evaluation` for JS.

use super::{js_error, to_js};
use crate::recognizer::Recognition;
use crate::{data, network::Network, recognizer, spec::Architecture, train, weights};
use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{intern, prelude::*};

/// A model ready to read digits.
#[wasm_bindgen]
pub struct Recognizer(pub(crate) recognizer::Recognizer);

/// `target[key] = value`. Keys are interned: a live pad sets the same few keys many times a
/// second, and decoding each into a new JS string cost more than setting it.
pub(super) fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(target, &intern(key).into(), value).map(|_| ()).map_err(|_| JsError::new("cannot build the result object"))
}

/// `{digit, confidence, probabilities, input, layers: [{name, shape, activations}]}`; every
/// layer's activations are views into one Float32Array: `into` when given (see `predictImage`),
/// otherwise a new one.
pub(crate) fn recognition_to_js(r: &Recognition, into: Option<Float32Array>) -> Result<JsValue, JsError> {
    let out = Object::new();
    set(&out, "digit", &r.digit.map(|d| JsValue::from(d as u32)).unwrap_or(JsValue::UNDEFINED))?;
    set(&out, "confidence", &r.confidence().into())?;
    set(&out, "probabilities", &Float32Array::from(&r.probabilities[..]).into())?;
    set(&out, "input", &Float32Array::from(&r.input[..]).into())?;
    let count = r.activation_count();
    let buffer = match into {
        Some(buffer) if count == 0 || buffer.length() as usize == count => buffer,
        Some(buffer) => {
            return Err(JsError::new(&format!(
                "the activations buffer holds {} values; this model's layers give {count} (see activationCount)",
                buffer.length()
            )))
        }
        None => Float32Array::new_with_length(count as u32),
    };
    let mut views = Vec::with_capacity(r.layers.len());
    r.each_layer(|layer, values| {
        let view = buffer.subarray(layer.range.start as u32, layer.range.end as u32);
        view.copy_from(values);
        views.push(view);
    })
    .map_err(js_error)?;
    let layers = Array::new();
    for (layer, view) in r.layers.iter().zip(views) {
        let entry = Object::new();
        set(&entry, "name", &intern(&layer.name).into())?;
        let shape: Array = layer.shape.iter().map(|&d| JsValue::from(d as u32)).collect();
        set(&entry, "shape", &shape.into())?;
        set(&entry, "activations", &view.into())?;
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
    /// `activations`, optional: a Float32Array of `activationCount` values to receive every
    /// layer's activations, reused from call to call. A live pad reads many images a second, and
    /// a new buffer of this size costs more than the whole forward pass (the browser maps fresh
    /// memory page by page); without it each result gets its own buffer.
    #[wasm_bindgen(js_name = predictImage)]
    pub fn predict_image(&self, rgba: &[u8], width: u32, height: u32, activations: Option<Float32Array>) -> Result<JsValue, JsError> {
        let r = self.0.predict_image(rgba, width as usize, height as usize).map_err(js_error)?;
        recognition_to_js(&r, activations)
    }

    /// Reads an already preprocessed 28×28 image (784 values in 0..1), with activations
    /// (`activations` as in `predictImage`).
    #[wasm_bindgen(js_name = predict28)]
    pub fn predict28(&self, pixels: &[f32], activations: Option<Float32Array>) -> Result<JsValue, JsError> {
        recognition_to_js(&self.0.predict28(pixels, true).map_err(js_error)?, activations)
    }

    /// How many activation values a reading gives, all layers together: the size of the buffer
    /// `predictImage` and `predict28` can fill.
    #[wasm_bindgen(getter, js_name = activationCount)]
    pub fn activation_count(&self) -> usize {
        self.0.network().tapped_values()
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
pub struct Evaluation(pub(crate) train::Evaluation);

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
