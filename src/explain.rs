//! Why this digit? Attribution maps: for one 28×28 input, a signed value per pixel saying how
//! much it pushed the network towards a target digit (positive) or away from it (negative),
//! optionally in contrast to a second digit ("why 7 rather than 1": the target's score minus
//! the other's). Four methods, each in its own file: gradient × input, integrated gradients,
//! occlusion and Grad-CAM. The wasm `Recognizer.explain` and the CLI's `explain` are thin
//! fronts on `explain28` / `explain_image`.

mod gradcam;
mod gradient;
mod integrated;
mod occlusion;
mod regions;

pub mod faithfulness;

pub use integrated::STEPS as INTEGRATED_STEPS;
pub use occlusion::{PATCH as OCCLUSION_PATCH, STRIDE as OCCLUSION_STRIDE};
pub use regions::Region;

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::preprocess::{preprocess_placed, Placement};
use crate::spec::CLASSES;
use candle_core::{Tensor, D};

/// An attribution method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// The gradient of the score times the pixel: one backward pass.
    #[default]
    Gradient,
    /// Gradients averaged along the path from the blank image, times the pixel.
    Integrated,
    /// How much the target's probability drops when a patch is erased.
    Occlusion,
    /// The last conv layer's activations weighted by their gradient, summed over channels and
    /// spread over the cells' receptive fields.
    GradCam,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Gradient, Method::Integrated, Method::Occlusion, Method::GradCam];

    /// The name the JS API and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Method::Gradient => "gradient",
            Method::Integrated => "integrated",
            Method::Occlusion => "occlusion",
            Method::GradCam => "gradcam",
        }
    }

    pub fn parse(name: &str) -> Result<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            Error::Explain(format!("unknown method '{name}': use one of {}", names.join(", ")))
        })
    }
}

/// What to explain: by which method, which digit (default: the predicted one), and
/// optionally rather than which other digit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Question {
    pub method: Method,
    pub target: Option<u8>,
    pub versus: Option<u8>,
}

impl Question {
    fn check(&self) -> Result<()> {
        for (what, digit) in [("target", self.target), ("versus", self.versus)] {
            if let Some(d) = digit.filter(|&d| d as usize >= CLASSES) {
                return Err(Error::Explain(format!("{what} must be a digit 0–9, not {d}")));
            }
        }
        if self.versus.is_some() && self.versus == self.target {
            return Err(Error::Explain("versus must be another digit than the target".into()));
        }
        Ok(())
    }
}

/// An attribution map and what it explains.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub method: Method,
    /// The predicted digit; `None` for a blank input.
    pub digit: Option<u8>,
    /// The digit explained; `None` for a blank input.
    pub target: Option<u8>,
    pub versus: Option<u8>,
    /// 784 signed values, row-major over `input`: positive = towards the target.
    pub map: Vec<f32>,
    /// The 28×28 image (0..1) the network saw.
    pub input: Vec<f32>,
    /// Integrated gradients only: |Σ map − (score(input) − score(blank))| / |that difference|.
    pub completeness_error: Option<f32>,
    /// Grad-CAM only: the layer whose activations it weighs.
    pub layer: Option<String>,
    /// Where the input lies on the image it was read from (`explain_image` only).
    pub placement: Option<Placement>,
}

impl Explanation {
    fn blank(method: Method, versus: Option<u8>) -> Explanation {
        Explanation {
            method,
            digit: None,
            target: None,
            versus,
            map: vec![0.0; PIXELS],
            input: vec![0.0; PIXELS],
            completeness_error: None,
            layer: None,
            placement: None,
        }
    }

    /// The largest |value| of the map: the scale a diverging colour map spans (±range).
    pub fn range(&self) -> f32 {
        self.map.iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    /// The colour scale to show the map with (±scale): the 98th percentile of |value|, so
    /// that a few extreme pixels (gradients are spiky) do not wash out the rest; values
    /// beyond it show at full colour. Captum's `visualize_image_attr` clips the same 2 %.
    pub fn scale(&self) -> f32 {
        let mut magnitudes: Vec<f32> = self.map.iter().map(|v| v.abs()).collect();
        magnitudes.sort_by(|a, b| b.total_cmp(a));
        let clipped = magnitudes[PIXELS * 2 / 100];
        if clipped > 0.0 {
            clipped
        } else {
            magnitudes[0]
        }
    }

    /// The map's strongest connected regions, strongest first (at most `count`).
    pub fn regions(&self, count: usize) -> Vec<Region> {
        regions::find(&self.map, &self.input, count)
    }

    /// The top regions in plain words: "the stroke at the top pushes it towards 7; …".
    pub fn sentence(&self) -> String {
        match self.target {
            Some(target) => regions::sentence(&self.regions(3), target, self.versus),
            None => "Draw a digit to see why the network reads it as it does.".into(),
        }
    }
}

/// The quantity a map explains, per image of a batch: the target's logit (or probability),
/// minus the contrast digit's when there is one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Score {
    pub target: usize,
    pub versus: Option<usize>,
}

impl Score {
    /// N scores from N×10 values.
    pub fn of(&self, values: &Tensor) -> Result<Tensor> {
        let target = values.narrow(1, self.target, 1)?.squeeze(1)?;
        Ok(match self.versus {
            Some(v) => (target - values.narrow(1, v, 1)?.squeeze(1)?)?,
            None => target,
        })
    }

    /// N scores from N×10 logits, on probabilities.
    pub fn of_probabilities(&self, logits: &Tensor) -> Result<Tensor> {
        self.of(&candle_nn::ops::softmax(logits, D::Minus1)?)
    }
}

/// Explains a 28×28 image (784 values in 0..1, ink high). A blank image (no pixel above 0)
/// gives no digit and a map of zeros.
pub fn explain28(network: &Network, pixels: &[f32], question: Question) -> Result<Explanation> {
    question.check()?;
    if pixels.len() != PIXELS {
        return Err(Error::Image(format!("expected 784 pixels (28×28), got {}", pixels.len())));
    }
    if pixels.iter().any(|p| !p.is_finite()) {
        return Err(Error::Image("pixels must be finite numbers in 0..1".into()));
    }
    if question.method == Method::GradCam {
        gradcam::layer(network)?;
    }
    let input: Vec<f32> = pixels.iter().map(|p| p.clamp(0.0, 1.0)).collect();
    if input.iter().all(|&p| p == 0.0) {
        return Ok(Explanation::blank(question.method, question.versus));
    }
    let logits = network.forward_layers(&Network::input(&input)?, 0..network.layers().len())?;
    let digit = crate::network::argmax_rows(&logits)?[0] as u8;
    let target = question.target.unwrap_or(digit);
    if question.versus == Some(target) {
        return Err(Error::Explain(format!("versus must be another digit than the target ({target})")));
    }
    let score = Score { target: target as usize, versus: question.versus.map(usize::from) };
    let (mut completeness_error, mut layer) = (None, None);
    let map = match question.method {
        Method::Gradient => gradient::gradient_times_input(network, &input, score)?,
        Method::Integrated => {
            let (map, error) = integrated::integrated_gradients(network, &input, score)?;
            completeness_error = Some(error);
            map
        }
        Method::Occlusion => occlusion::occlusion(network, &input, score)?,
        Method::GradCam => {
            let (map, name) = gradcam::grad_cam(network, &input, score)?;
            layer = Some(name);
            map
        }
    };
    Ok(Explanation {
        method: question.method,
        digit: Some(digit),
        target: Some(target),
        versus: question.versus,
        map,
        input,
        completeness_error,
        layer,
        placement: None,
    })
}

/// Explains an RGBA image of any size, either polarity, as `Recognizer::predict_image` reads it.
pub fn explain_image(network: &Network, rgba: &[u8], width: usize, height: usize, question: Question) -> Result<Explanation> {
    question.check()?;
    match preprocess_placed(rgba, width, height)? {
        Some((input, placement)) => Ok(Explanation { placement: Some(placement), ..explain28(network, &input, question)? }),
        None => Ok(Explanation::blank(question.method, question.versus)),
    }
}
