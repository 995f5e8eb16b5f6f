//! `Recognizer.explain` and `Recognizer.explain28`: attribution maps for JS (see `crate::explain`).

use super::recognizer::{set, Recognizer};
use super::{js_error, to_js};
use crate::explain::{self, Explanation, Method, Question};
use js_sys::{Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

/// A digit option (`target`, `versus`): undefined/null for none, else an integer 0–9.
fn digit(options: &JsValue, key: &str) -> Result<Option<u8>, JsError> {
    let value = Reflect::get(options, &key.into()).map_err(|_| JsError::new("cannot read the options"))?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(d) if (0.0..=9.0).contains(&d) && d.fract() == 0.0 => Ok(Some(d as u8)),
        _ => Err(js_error(crate::Error::Explain(format!("{key} must be a digit 0–9, not {}", describe(&value))))),
    }
}

fn describe(value: &JsValue) -> String {
    value.as_string().map(|s| format!("'{s}'")).or_else(|| value.as_f64().map(|n| n.to_string())).unwrap_or_else(|| "that".into())
}

/// `{method, target, versus}` from a JS options object (all optional; method defaults to
/// 'gradient').
fn question(options: &JsValue) -> Result<Question, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(Question::default());
    }
    if !options.is_object() {
        return Err(JsError::new("options must be an object like {method: 'gradient', target: 7}"));
    }
    let method = Reflect::get(options, &"method".into()).map_err(|_| JsError::new("cannot read the options"))?;
    let method = if method.is_undefined() || method.is_null() {
        Method::default()
    } else {
        let name = method.as_string().ok_or_else(|| JsError::new("method must be a string"))?;
        Method::parse(&name).map_err(js_error)?
    };
    Ok(Question { method, target: digit(options, "target")?, versus: digit(options, "versus")? })
}

/// `{method, digit, target, versus, map, input, range, scale, sentence, regions, completenessError,
/// layer, placement}`; absent values are undefined.
fn explanation_to_js(e: &Explanation) -> Result<JsValue, JsError> {
    let out = Object::new();
    let optional = |d: Option<u8>| d.map(|d| JsValue::from(d as u32)).unwrap_or(JsValue::UNDEFINED);
    set(&out, "method", &e.method.name().into())?;
    set(&out, "digit", &optional(e.digit))?;
    set(&out, "target", &optional(e.target))?;
    set(&out, "versus", &optional(e.versus))?;
    set(&out, "map", &Float32Array::from(&e.map[..]).into())?;
    set(&out, "input", &Float32Array::from(&e.input[..]).into())?;
    set(&out, "range", &e.range().into())?;
    set(&out, "scale", &e.scale().into())?;
    set(&out, "sentence", &e.sentence().into())?;
    set(&out, "regions", &to_js(&e.regions(3))?)?;
    set(&out, "completenessError", &e.completeness_error.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
    set(&out, "layer", &e.layer.as_deref().map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
    set(&out, "placement", &e.placement.as_ref().map(to_js).transpose()?.unwrap_or(JsValue::UNDEFINED))?;
    Ok(out.into())
}

#[wasm_bindgen]
impl Recognizer {
    /// Why the model reads an RGBA image (any size, either polarity) as it does:
    /// `options` = `{method: 'gradient' | 'integrated' | 'occlusion' | 'gradcam', target, versus}`.
    pub fn explain(&self, rgba: &[u8], width: u32, height: u32, options: JsValue) -> Result<JsValue, JsError> {
        let e = explain::explain_image(self.0.network(), rgba, width as usize, height as usize, question(&options)?);
        explanation_to_js(&e.map_err(js_error)?)
    }

    /// The same for a preprocessed 28×28 image (784 values in 0..1, ink high).
    pub fn explain28(&self, pixels: &[f32], options: JsValue) -> Result<JsValue, JsError> {
        explanation_to_js(&explain::explain28(self.0.network(), pixels, question(&options)?).map_err(js_error)?)
    }
}
