//! The wasm-bindgen layer: thin shims that convert between JS values and the core types.
//! No logic lives here; every error crosses to JS as a `JsError` with the core's message.

mod explain;
mod insight;
mod parallel;
mod recognizer;
mod robust;
mod trainer;

pub use insight::{FeatureAscent, TopK};
pub use recognizer::{Dataset, Evaluation, Recognizer};
pub use trainer::Trainer;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    // Panics reach the console (and, through the worker's error handler, the page) readably.
    console_error_panic_hook::set_once();
}

pub(crate) fn js_error(error: crate::Error) -> JsError {
    JsError::new(&error.to_string())
}

/// Serialises a value to a plain JS object (through JSON: small, and no extra dependency).
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    let json = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&json).map_err(|_| JsError::new("cannot convert a result to JS"))
}

/// The layer list of a preset, as `{name, layers: [...]}`.
#[wasm_bindgen(js_name = presetArchitecture)]
pub fn preset_architecture(name: &str) -> Result<JsValue, JsError> {
    to_js(&crate::spec::Architecture::preset(name).map_err(js_error)?)
}

/// The most workers a page asks `analyzeArchitecture` about (it uses at most 8).
const MAX_WORKERS: usize = 16;

/// Checks a stack given as JSON, and that it can train in batches of `batchSize` when given:
/// `{ok: true, summary, weightBytes, maxBatchSize, maxWorkers}` or `{ok: false, layer, name,
/// message}`, where `layer` is the 0-based index of the offending layer (or null for the whole
/// stack), `maxBatchSize` the largest training batch within the memory budget and
/// `maxWorkers` how many data-parallel workers (up to 16) fit in memory together.
#[wasm_bindgen(js_name = analyzeArchitecture)]
pub fn analyze_architecture(json: &str, batch_size: Option<usize>) -> Result<JsValue, JsError> {
    use crate::memory::{self, Footprint, Use};
    let result = crate::spec::Architecture::from_json(json).and_then(|a| a.summary()).and_then(|summary| {
        memory::check(&summary.layers, Use::Training, batch_size.unwrap_or(1))?;
        Ok(summary)
    });
    let value = match result {
        Ok(summary) => {
            let max_batch = Footprint::of(&summary.layers, Use::Training).map_or(0, |f| f.max_batch());
            let max_workers = memory::max_workers(&summary.layers, batch_size.unwrap_or(1), MAX_WORKERS);
            serde_json::json!({ "ok": true, "summary": summary, "weightBytes": summary.weight_bytes(), "maxBatchSize": max_batch, "maxWorkers": max_workers })
        }
        Err(crate::Error::Spec { layer, name, message }) => {
            serde_json::json!({ "ok": false, "layer": layer, "name": name, "message": message })
        }
        Err(other) => serde_json::json!({ "ok": false, "layer": null, "message": other.to_string() }),
    };
    to_js(&value)
}

/// The default training settings (`TrainConfig::default()`), in the camelCase the worker uses.
#[wasm_bindgen(js_name = defaultTrainConfig)]
pub fn default_train_config() -> Result<JsValue, JsError> {
    to_js(&crate::train::TrainConfig::default())
}

/// TEST ONLY, never called by the page: panics on purpose. No input of the page's reaches a
/// Rust panic any more (a stack too big for memory is refused up front, see `memory`), yet
/// the path a panic takes must stay tested: its message reaching the banner through
/// console_error_panic_hook, the worker replaced, the last good model kept. The worker calls
/// this for its `test-only-panic` request (see www/worker.js), which only the tests send.
#[wasm_bindgen(js_name = testOnlyPanic)]
pub fn test_only_panic() {
    panic!("deliberate panic for the reliability tests");
}
