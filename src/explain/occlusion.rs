//! Occlusion (Zeiler & Fergus 2014): erase a patch, see how much the score drops. Patches are
//! erased to the blank background (0, what the eraser leaves), so a patch with no ink changes
//! nothing and is not evaluated; all the others go through the network as one batch.

use super::Score;
use crate::data::PIXELS;
use crate::error::Result;
use crate::network::Network;
use crate::spec::INPUT_SIZE;

/// Patch side and step, in input pixels: 13 × 13 positions, each pixel under up to 4 patches.
/// A digit inks ~100 of the 169 patches: a batch the browser reads in ~20–30 ms.
pub const PATCH: usize = 4;
pub const STRIDE: usize = 2;

/// The top-left corners along one axis.
fn corners() -> impl Iterator<Item = usize> + Clone {
    (0..=INPUT_SIZE - PATCH).step_by(STRIDE)
}

fn patch_pixels(top: usize, left: usize) -> impl Iterator<Item = usize> {
    (top..top + PATCH).flat_map(move |y| (left..left + PATCH).map(move |x| y * INPUT_SIZE + x))
}

/// The drop of the score's probability when each pixel's patches are erased, averaged over the
/// patches that cover the pixel.
pub(super) fn occlusion(network: &Network, pixels: &[f32], score: Score) -> Result<Vec<f32>> {
    let inked: Vec<(usize, usize)> = corners()
        .flat_map(|top| corners().map(move |left| (top, left)))
        .filter(|&(top, left)| patch_pixels(top, left).any(|i| pixels[i] > 0.0))
        .collect();
    // The input itself first, then one copy per inked patch with that patch erased.
    let mut batch = Vec::with_capacity((inked.len() + 1) * PIXELS);
    batch.extend_from_slice(pixels);
    for &(top, left) in &inked {
        let start = batch.len();
        batch.extend_from_slice(pixels);
        patch_pixels(top, left).for_each(|i| batch[start + i] = 0.0);
    }
    let logits = network.forward_layers(&Network::input(&batch)?, 0..network.layers().len())?;
    let scores: Vec<f32> = score.of_probabilities(&logits)?.to_vec1()?;
    let (mut total, mut covering) = (vec![0.0f32; PIXELS], vec![0u32; PIXELS]);
    for (top, left) in corners().flat_map(|top| corners().map(move |left| (top, left))) {
        patch_pixels(top, left).for_each(|i| covering[i] += 1);
    }
    for (&(top, left), occluded) in inked.iter().zip(&scores[1..]) {
        let drop = scores[0] - occluded;
        patch_pixels(top, left).for_each(|i| total[i] += drop);
    }
    Ok(total.iter().zip(&covering).map(|(t, &n)| if n > 0 { t / n as f32 } else { 0.0 }).collect())
}
