//! Augmentation examples, preprocessing steps and the robustness report, for JS.

use super::recognizer::{Dataset, Recognizer};
use super::{js_error, to_js};
use crate::augment::Augmentation;
use crate::data::PIXELS;
use crate::preprocess::{self, Steps};
use crate::rng::Rng;
use crate::robustness::{self, Collection};
use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;

fn json_error(e: serde_json::Error) -> JsError {
    JsError::new(&format!("bad settings: {e}"))
}

/// `copies` augmented versions of each of the images at `indices` of `data`, as the Train
/// area's grid shows them: `copies × indices.length` images of 784 values in 0..1, each
/// image's copies one after another. `augmentation` is JSON (see `Augmentation`; missing
/// strengths are off); the same seed gives the same images.
#[wasm_bindgen(js_name = augmentedExamples)]
pub fn augmented_examples(data: &Dataset, indices: &[u32], augmentation: &str, copies: u32, seed: u32) -> Result<Float32Array, JsError> {
    let augmentation: Augmentation = serde_json::from_str(augmentation).map_err(json_error)?;
    augmentation.check().map_err(|e| JsError::new(&e))?;
    if copies as usize * indices.len() > 1000 {
        return Err(JsError::new("at most 1000 example images at a time"));
    }
    let mut rng = Rng::new(seed as u64);
    let mut out = vec![0.0; indices.len() * copies as usize * PIXELS];
    let mut chunks = out.chunks_exact_mut(PIXELS);
    for &index in indices {
        let index = index as usize;
        if index >= data.0.len() {
            return Err(JsError::new(&format!("image {index} is out of range (0..{})", data.0.len())));
        }
        let image: Vec<f32> = data.0.image(index).iter().map(|&v| v as f32 / 255.0).collect();
        for _ in 0..copies {
            augmentation.apply(&image, &mut rng, chunks.next().expect("sized above"));
        }
    }
    Ok(Float32Array::from(&out[..]))
}

/// The preprocessing of an RGBA image step by step, for the "what it sees" view:
/// `[{step, image}]` with `step` one of "centred" (MNIST's: ink box into 20×20, centre of mass),
/// "deslanted", "stroke" (those switched on in `steps`, JSON `{deslant, stroke}`), each image
/// 784 values in 0..1; empty without a digit.
#[wasm_bindgen(js_name = preprocessingSteps)]
pub fn preprocessing_steps(rgba: &[u8], width: u32, height: u32, steps: &str) -> Result<Array, JsError> {
    let steps: Steps = serde_json::from_str(steps).map_err(json_error)?;
    let out = Array::new();
    let Some(mut image) = preprocess::preprocess_rgba(rgba, width as usize, height as usize).map_err(js_error)? else {
        return Ok(out);
    };
    let push = |name: &str, image: &[f32]| -> Result<(), JsError> {
        out.push(&to_js(&serde_json::json!({ "step": name, "image": image }))?);
        Ok(())
    };
    push("centred", &image)?;
    if steps.deslant {
        image = preprocess::normalise(image, &Steps { deslant: true, stroke: false });
        push("deslanted", &image)?;
    }
    if steps.stroke {
        image = preprocess::normalise(image, &Steps { deslant: false, stroke: true });
        push("stroke", &image)?;
    }
    Ok(out)
}

/// The page's default preprocessing steps, `{deslant, stroke}`.
#[wasm_bindgen(js_name = defaultPreprocessing)]
pub fn default_preprocessing() -> Result<JsValue, JsError> {
    to_js(&Steps::default())
}

#[wasm_bindgen]
impl Recognizer {
    /// `predictImage` with the preprocessing steps `steps` (JSON `{deslant, stroke}`).
    #[wasm_bindgen(js_name = predictImageWith)]
    pub fn predict_image_with(&self, rgba: &[u8], width: u32, height: u32, steps: &str, activations: Option<Float32Array>) -> Result<JsValue, JsError> {
        let steps: Steps = serde_json::from_str(steps).map_err(json_error)?;
        let r = self.0.predict_image_with(rgba, width as usize, height as usize, &steps).map_err(js_error)?;
        super::recognizer::recognition_to_js(&r, activations)
    }
}

/// The robustness report, computed a chunk at a time: every transformation on the first
/// `perDigit` test images of each digit, then the other collection (optdigits) as it is.
#[wasm_bindgen]
pub struct RobustnessReport {
    runs: Vec<robustness::RobustnessRun>,
    done: Vec<robustness::ConditionResult>,
}

#[wasm_bindgen]
impl RobustnessReport {
    /// `test`: MNIST-style test images; `other_images`/`other_labels`: the optdigits IDX files
    /// (empty to leave them out); `per_digit`: test images of each digit (0 = all).
    #[wasm_bindgen(constructor)]
    pub fn new(test: &Dataset, per_digit: u32, other_images: &[u8], other_labels: &[u8], steps: &str) -> Result<RobustnessReport, JsError> {
        let steps: Steps = serde_json::from_str(steps).map_err(json_error)?;
        let test = Collection::mnist(&test.0).balanced(per_digit as usize);
        let mut runs = vec![robustness::RobustnessRun::transformed(test, steps.clone())];
        if !other_images.is_empty() {
            let other = Collection::optdigits(other_images, other_labels).map_err(js_error)?.balanced(per_digit as usize);
            runs.push(robustness::RobustnessRun::plain(other, steps, robustness::OPTDIGITS));
        }
        Ok(RobustnessReport { runs, done: Vec::new() })
    }

    /// Reads the next chunk with `model`; false once everything is read.
    pub fn step(&mut self, model: &Recognizer) -> Result<bool, JsError> {
        while let Some(run) = self.runs.first_mut() {
            if run.step(model.0.network()).map_err(js_error)? {
                return Ok(true);
            }
            let finished = self.runs.remove(0);
            self.done.extend_from_slice(finished.results());
        }
        Ok(false)
    }

    /// `{done, total}` images.
    pub fn progress(&self) -> Result<JsValue, JsError> {
        let (done, total) = self.runs.iter().fold((0, 0), |(d, t), run| {
            let (rd, rt) = run.progress();
            (d + rd, t + rt)
        });
        let finished: usize = self.done.iter().map(|r| r.count).sum();
        to_js(&serde_json::json!({ "done": done + finished, "total": total + finished }))
    }

    /// Every condition read so far: `[{name, transformation, count, correct, accuracy, perDigit}]`.
    pub fn results(&self) -> Result<JsValue, JsError> {
        let mut all = self.done.clone();
        for run in &self.runs {
            all.extend(run.results().iter().filter(|r| r.count > 0).cloned());
        }
        to_js(&all)
    }
}
