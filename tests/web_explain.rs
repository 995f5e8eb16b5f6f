//! Attribution in the browser (`wasm-pack test --headless --chrome -- --test web_explain`):
//! `Recognizer.explain28` gives the maps computed natively (tests/explain_cases/maps.json,
//! checked against the current code by tests/explain.rs) within float rounding, and the JS
//! options are validated.
#![cfg(target_arch = "wasm32")]

mod explain_cases;

use digitlens::data::Dataset;
use digitlens::web::Recognizer;
use js_sys::{Float32Array, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TEST_IMAGES: &[u8] = include_bytes!("../www/data/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../www/data/t10k-labels-idx1-ubyte.gz");

fn options(method: &str, target: Option<u8>, versus: Option<u8>) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"method".into(), &method.into()).unwrap();
    if let Some(t) = target {
        Reflect::set(&o, &"target".into(), &(t as u32).into()).unwrap();
    }
    if let Some(v) = versus {
        Reflect::set(&o, &"versus".into(), &(v as u32).into()).unwrap();
    }
    o.into()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn digit(value: &JsValue, key: &str) -> Option<u8> {
    get(value, key).as_f64().map(|d| d as u8)
}

#[wasm_bindgen_test]
fn the_browser_gives_the_native_maps() {
    let test = Dataset::from_idx(TEST_IMAGES, TEST_LABELS).unwrap();
    let model = Recognizer::pretrained().unwrap();
    let cases: Vec<explain_cases::Case> = serde_json::from_str(explain_cases::MAPS).unwrap();
    assert_eq!(cases.len(), explain_cases::questions().len());
    for case in &cases {
        let pixels: Vec<f32> = test.image(case.index).iter().map(|&p| p as f32 / 255.0).collect();
        let asked_target = explain_cases::questions().iter().find(|q| (q.0, q.1, q.3) == (case.index, case.method.as_str(), case.versus)).unwrap().2;
        let e = model.explain28(&pixels, options(&case.method, asked_target, case.versus)).map_err(JsValue::from).unwrap();
        assert_eq!(get(&e, "method").as_string().as_deref(), Some(case.method.as_str()));
        assert_eq!((digit(&e, "digit"), digit(&e, "target"), digit(&e, "versus")), (case.digit, case.target, case.versus));
        assert_eq!(get(&e, "versus").is_undefined(), case.versus.is_none());
        let map = Float32Array::from(get(&e, "map")).to_vec();
        explain_cases::same_map(&case.map, &map).unwrap_or_else(|m| panic!("{} on image {}: {m}", case.method, case.index));
    }
}

#[wasm_bindgen_test]
fn blank_and_bad_questions_in_the_browser() {
    let model = Recognizer::pretrained().unwrap();
    let e = model.explain(&vec![255u8; 32 * 32 * 4], 32, 32, options("occlusion", None, None)).map_err(JsValue::from).unwrap();
    assert!(get(&e, "digit").is_undefined());
    assert!(Float32Array::from(get(&e, "map")).to_vec().iter().all(|&v| v == 0.0));
    let message = |o: JsValue| {
        let error = JsValue::from(model.explain28(&[0.5; 784], o).unwrap_err());
        Reflect::get(&error, &"message".into()).unwrap().as_string().unwrap()
    };
    assert!(message(options("saliency", None, None)).contains("unknown method 'saliency'"));
    assert!(message(options("gradient", Some(11), None)).contains("target must be a digit 0–9"));
    let fractional = Object::new();
    Reflect::set(&fractional, &"target".into(), &2.5.into()).unwrap();
    assert!(message(fractional.into()).contains("target must be a digit 0–9, not 2.5"));
}
