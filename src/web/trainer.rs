//! `Trainer`: the core training loop, one step per call, for the Web Worker.

use super::recognizer::{Dataset, Recognizer};
use super::{js_error, to_js};
use crate::{network::Network, recognizer, spec::Architecture, train, weights};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct Trainer(pub(crate) train::Trainer);

#[wasm_bindgen]
impl Trainer {
    /// Trains a fresh model of `architecture` (JSON `{name, layers}`) with `config` (JSON,
    /// see `TrainConfig`; missing fields take the defaults) on `data`.
    #[wasm_bindgen(js_name = fromScratch)]
    pub fn from_scratch(architecture: &str, data: &Dataset, config: &str) -> Result<Trainer, JsError> {
        let config = train::TrainConfig::from_json(config).map_err(js_error)?;
        let architecture = Architecture::from_json(architecture).map_err(js_error)?;
        let network = Network::new(&architecture, config.seed).map_err(js_error)?;
        train::Trainer::new(network, &data.0, config).map(Trainer).map_err(js_error)
    }

    /// Continues training from a `.safetensors` file's weights (e.g. the pretrained model).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub fn from_safetensors(bytes: &[u8], data: &Dataset, config: &str) -> Result<Trainer, JsError> {
        let config = train::TrainConfig::from_json(config).map_err(js_error)?;
        let network = weights::load(bytes).map_err(js_error)?;
        train::Trainer::new(network, &data.0, config).map(Trainer).map_err(js_error)
    }

    /// Runs one batch (or one validation chunk); returns the event:
    /// `{type: "batch" | "validating" | "epoch" | "finished", ...}`.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.0.step().map_err(js_error)?)
    }

    /// Stops now, keeping the best weights so far; returns the `finished` event.
    pub fn stop(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.0.stop().map_err(js_error)?)
    }

    #[wasm_bindgen(getter, js_name = isFinished)]
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    #[wasm_bindgen(getter, js_name = batchesPerEpoch)]
    pub fn batches_per_epoch(&self) -> usize {
        self.0.batches_per_epoch()
    }

    #[wasm_bindgen(getter, js_name = trainSize)]
    pub fn train_size(&self) -> usize {
        self.0.train_len()
    }

    #[wasm_bindgen(getter, js_name = validationSize)]
    pub fn validation_size(&self) -> usize {
        self.0.validation_len()
    }

    /// Every finished epoch so far.
    pub fn history(&self) -> Result<JsValue, JsError> {
        to_js(&self.0.history())
    }

    /// The current weights as a `.safetensors` file (to hand to the page's Recognizer).
    #[wasm_bindgen(js_name = toSafetensors)]
    pub fn to_safetensors(&self) -> Result<Uint8Array, JsError> {
        let bytes = weights::save(self.0.network(), &[]).map_err(js_error)?;
        Ok(Uint8Array::from(&bytes[..]))
    }

    /// A recognizer with a copy of the current weights.
    pub fn recognizer(&self) -> Result<Recognizer, JsError> {
        let bytes = weights::save(self.0.network(), &[]).map_err(js_error)?;
        recognizer::Recognizer::from_safetensors(&bytes).map(Recognizer).map_err(js_error)
    }
}
