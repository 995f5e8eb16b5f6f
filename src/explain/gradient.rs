//! Gradient × input: how fast the score changes with each pixel, times the pixel. For a
//! network that is linear around the input (ReLU, max-pool) this is each pixel's share of the
//! score measured from a blank image through the same linear piece.

use super::Score;
use crate::data::{normalize_tensor, PIXELS};
use crate::error::Result;
use crate::network::Network;
use crate::spec::INPUT_SIZE;
use candle_core::{Tensor, Var};

/// For N images (N×784 pixels in 0..1): the gradient of each image's score with respect to its
/// pixels (N×784) and the scores (N), from one forward and one backward pass over the batch.
pub(super) fn input_gradients(network: &Network, pixels: Vec<f32>, score: Score) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = pixels.len() / PIXELS;
    let x = Var::from_tensor(&Tensor::from_vec(pixels, (n, 1, INPUT_SIZE, INPUT_SIZE), &crate::network::device())?)?;
    let logits = network.forward_layers(&normalize_tensor(&x)?, 0..network.layers().len())?;
    let scores = score.of(&logits)?;
    // Images of a batch do not interact (inference: no batch statistics), so the gradient of
    // the sum is each image's own gradient.
    let grads = scores.sum_all()?.backward()?;
    let gradient = match grads.get(&x) {
        Some(g) => g.flatten_all()?.to_vec1()?,
        None => vec![0.0; n * PIXELS],
    };
    Ok((gradient, scores.to_vec1()?))
}

pub(super) fn gradient_times_input(network: &Network, pixels: &[f32], score: Score) -> Result<Vec<f32>> {
    let (gradient, _) = input_gradients(network, pixels.to_vec(), score)?;
    Ok(gradient.iter().zip(pixels).map(|(g, p)| g * p).collect())
}
