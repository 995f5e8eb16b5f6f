//! Recognition of one drawn digit: preprocessing, probabilities and every layer's activations.
//! The wasm `Recognizer` and the CLI's `predict` are thin fronts on this.

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::kernels;
use crate::network::Network;
use crate::preprocess::{preprocess_rgba_with, Steps};
use crate::weights;
use candle_core::Tensor;
use candle_nn::ops::softmax;
use std::ops::Range;

/// The weights shipped in `model/`, trained by `digitlens train` on all 60,000 MNIST images.
pub const PRETRAINED: &[u8] = include_bytes!("../model/cnn.safetensors");

/// One layer's activations for one image.
#[derive(Clone, Debug)]
pub struct LayerActivations {
    pub name: String,
    /// `[channels, height, width]` or `[units]`.
    pub shape: Vec<usize>,
    /// Where its values are in `Recognition::activations`.
    pub range: Range<usize>,
}

/// What the network made of one image.
#[derive(Clone, Debug, Default)]
pub struct Recognition {
    /// `None` when there was no digit to read.
    pub digit: Option<u8>,
    pub probabilities: Vec<f32>,
    /// The 28×28 image (0..1) the network saw.
    pub input: Vec<f32>,
    pub layers: Vec<LayerActivations>,
    /// Every layer's values, one tensor per entry of `layers`, read without a copy by
    /// `each_layer`: a reading's 263 KB go straight to where they are shown.
    taps: Vec<Tensor>,
}

impl Recognition {
    /// How many activation values all layers hold together.
    pub fn activation_count(&self) -> usize {
        self.layers.last().map_or(0, |layer| layer.range.end)
    }

    /// Calls `f` with each layer and its values.
    pub fn each_layer(&self, mut f: impl FnMut(&LayerActivations, &[f32])) -> Result<()> {
        for (layer, tap) in self.layers.iter().zip(&self.taps) {
            kernels::read([tap], |[values]| f(layer, values))?;
        }
        Ok(())
    }

    /// Every layer's values, one layer after another (where each layer's `range` says).
    pub fn activations(&self) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.activation_count());
        self.each_layer(|_, values| out.extend_from_slice(values))?;
        Ok(out)
    }

    pub fn confidence(&self) -> f32 {
        self.digit.map(|d| self.probabilities[d as usize]).unwrap_or(0.0)
    }
}

pub struct Recognizer {
    network: Network,
}

impl Recognizer {
    pub fn new(network: Network) -> Self {
        Recognizer { network }
    }

    pub fn pretrained() -> Result<Self> {
        Self::from_safetensors(PRETRAINED)
    }

    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        Ok(Recognizer { network: weights::load(bytes)? })
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// An RGBA image of any size, either polarity; no prediction when it holds no digit.
    pub fn predict_image(&self, rgba: &[u8], width: usize, height: usize) -> Result<Recognition> {
        self.predict_image_with(rgba, width, height, &Steps::default())
    }

    /// `predict_image` with the given preprocessing steps.
    pub fn predict_image_with(&self, rgba: &[u8], width: usize, height: usize, steps: &Steps) -> Result<Recognition> {
        match preprocess_rgba_with(rgba, width, height, steps)? {
            Some(input) => self.predict28(&input, true),
            None => Ok(Recognition { digit: None, probabilities: vec![0.0; 10], input: vec![0.0; PIXELS], ..Default::default() }),
        }
    }

    /// An already preprocessed 28×28 image in 0..1; `with_layers` also returns activations.
    pub fn predict28(&self, pixels: &[f32], with_layers: bool) -> Result<Recognition> {
        if pixels.len() != PIXELS {
            return Err(Error::Image(format!("expected 784 pixels (28×28), got {}", pixels.len())));
        }
        if pixels.iter().any(|p| !p.is_finite()) {
            return Err(Error::Image("pixels must be finite numbers in 0..1".into()));
        }
        let clamped: Vec<f32> = pixels.iter().map(|p| p.clamp(0.0, 1.0)).collect();
        let input = Network::input(&clamped)?;
        let (logits, taps) = if with_layers {
            self.network.forward_with_taps(&input)?
        } else {
            (self.network.forward(&input, None)?, Vec::new())
        };
        let probabilities: Vec<f32> = softmax(&logits, 1)?.flatten_all()?.to_vec1()?;
        let digit = probabilities
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u8);
        let mut end = 0;
        let (layers, taps) = taps
            .into_iter()
            .map(|tap| {
                let start = end;
                end += tap.values.elem_count();
                (LayerActivations { name: tap.name, shape: tap.shape.dims(), range: start..end }, tap.values)
            })
            .unzip();
        Ok(Recognition { digit, probabilities, input: clamped, layers, taps })
    }
}
