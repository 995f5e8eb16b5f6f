//! Integrated gradients (Sundararajan et al. 2017): the gradient averaged along the straight
//! path from the blank image to the input, times the input. Its map sums to the score's change
//! from blank to input ("completeness") up to the error of the path integral's quadrature,
//! which is reported.

use super::gradient::input_gradients;
use super::Score;
use crate::data::PIXELS;
use crate::error::Result;
use crate::network::Network;

/// Intervals of the trapezoid rule along the path: 33 images, one batch.
pub const STEPS: usize = 32;

/// The map and its relative completeness error.
pub(super) fn integrated_gradients(network: &Network, pixels: &[f32], score: Score) -> Result<(Vec<f32>, f32)> {
    // The path's points k/STEPS·input, k = 0..=STEPS: the two ends give the score difference
    // that completeness compares with, from the same forward pass.
    let path: Vec<f32> =
        (0..=STEPS).flat_map(|k| pixels.iter().map(move |p| p * k as f32 / STEPS as f32)).collect();
    let (gradients, scores) = input_gradients(network, path, score)?;
    let mut average = vec![0.0f32; PIXELS];
    for (k, gradient) in gradients.chunks_exact(PIXELS).enumerate() {
        let weight = if k == 0 || k == STEPS { 0.5 } else { 1.0 } / STEPS as f32;
        average.iter_mut().zip(gradient).for_each(|(a, g)| *a += weight * g);
    }
    let map: Vec<f32> = average.iter().zip(pixels).map(|(g, p)| g * p).collect();
    let difference = scores[STEPS] - scores[0];
    let total: f32 = map.iter().sum();
    let error = (total - difference).abs() / difference.abs().max(f32::EPSILON);
    Ok((map, error))
}
