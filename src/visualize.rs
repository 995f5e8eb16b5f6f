//! Feature visualisation: the 28 × 28 input that makes one channel (or dense unit) fire most,
//! found by gradient ascent from grey (Olah et al., "Feature Visualization", 2017).
//! The objective is the channel's value at the map's centre, then (for the last quarter of the
//! steps) its largest value anywhere, the quantity the channel cards compare with the test
//! digits; the image stays in the box 0..1 and is kept smooth by a total-variation
//! penalty and by jitter (each step sees the image rolled by up to `jitter` pixels, so no
//! pattern can rely on one exact pixel) for the first three quarters of the steps; the last
//! quarter climbs on the image as it is. Same network, target, options and seed → same image.

use crate::data::{normalize, PIXELS};
use crate::error::{Error, Result};
use crate::network::{Network, Tap};
use crate::rng::Rng;
use crate::spec::INPUT_SIZE;
use candle_core::{Var, D};

/// What gradient ascent is told; `Default` is what the page uses.
#[derive(Clone, Debug)]
pub struct AscentOptions {
    pub steps: usize,
    pub seed: u64,
    /// Largest step of any pixel, at the first step (it decays linearly to a tenth).
    pub step_size: f32,
    /// Pixels the image is rolled by, at most, in each direction at every step.
    pub jitter: usize,
    /// Weight of the total-variation penalty, relative to the objective's normalised gradient.
    pub total_variation: f32,
}

impl Default for AscentOptions {
    fn default() -> Self {
        AscentOptions { steps: 128, seed: 0, step_size: 0.08, jitter: 1, total_variation: 0.3 }
    }
}

/// ReLUs pass this much of the gradient where they are closed (their values are unchanged).
const LEAK: f64 = 0.1;
/// The grey the ascent starts from.
const GREY: f32 = 0.5;

/// A layer's tap and one of its channels, checked against a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub layer: String,
    pub channel: usize,
    /// Index of the layer among the network's taps.
    tap: usize,
    /// Values per channel (H·W of a map, 1 for a dense unit).
    plane: usize,
    /// Index of the map's centre cell in the plane (0 for a dense unit).
    centre: usize,
}

impl Target {
    /// `layer` is a tap name (`conv1`, `conv1.relu`, `pool1`, `dense1`, ...).
    pub fn new(network: &Network, layer: &str, channel: usize) -> Result<Self> {
        let (_, taps) = network.forward_with_taps(&Network::input(&[GREY; PIXELS])?)?;
        let names: Vec<&str> = taps.iter().map(|t| t.name.as_str()).collect();
        let tap = names
            .iter()
            .position(|&n| n == layer)
            .ok_or_else(|| Error::Stack(format!("no layer named '{layer}' to look into; this model has {}", names.join(", "))))?;
        let dims = taps[tap].shape.dims();
        let channels = dims[0];
        if channel >= channels {
            return Err(Error::Stack(format!("{layer} has {channels} channels (0–{}); there is no channel {channel}", channels - 1)));
        }
        let centre = if dims.len() == 3 { dims[1] / 2 * dims[2] + dims[2] / 2 } else { 0 };
        Ok(Target { layer: layer.to_string(), channel, tap, plane: dims[1..].iter().product(), centre })
    }

    /// The channel's values in one image's taps, as a flat 1-D tensor.
    fn values(&self, taps: &[Tap]) -> Result<candle_core::Tensor> {
        Ok(taps[self.tap].values.flatten_all()?.narrow(0, self.channel * self.plane, self.plane)?)
    }

    /// The channel's largest value on a 28 × 28 image in 0..1, through the very path
    /// `Recognizer::predict28` takes (so anyone can check it there).
    pub fn peak(&self, network: &Network, image: &[f32]) -> Result<f32> {
        let clamped: Vec<f32> = image.iter().map(|p| p.clamp(0.0, 1.0)).collect();
        let (_, taps) = network.forward_with_taps(&Network::input(&clamped)?)?;
        Ok(self.values(&taps)?.max(D::Minus1)?.to_scalar::<f32>()?)
    }
}

/// The input found and what the channel makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Visualization {
    /// 28 × 28 values in 0..1.
    pub image: Vec<f32>,
    /// The channel's largest value on `image` (a dense unit's value).
    pub activation: f32,
}

/// Gradient ascent in progress, advanced a few steps at a time so a page can show it converge.
#[derive(Clone, Debug)]
pub struct FeatureAscent {
    target: Target,
    options: AscentOptions,
    image: Vec<f32>,
    rng: Rng,
    done: usize,
}

impl FeatureAscent {
    pub fn new(network: &Network, layer: &str, channel: usize, options: AscentOptions) -> Result<Self> {
        let target = Target::new(network, layer, channel)?;
        let rng = Rng::new(options.seed);
        Ok(FeatureAscent { target, options, image: vec![GREY; PIXELS], rng, done: 0 })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.done
    }

    pub fn is_finished(&self) -> bool {
        self.done >= self.options.steps
    }

    /// Up to `steps` more steps (never past `options.steps`).
    pub fn advance(&mut self, network: &Network, steps: usize) -> Result<()> {
        for _ in 0..steps.min(self.options.steps - self.done) {
            self.step(network)?;
        }
        Ok(())
    }

    /// The image so far and the channel's largest value on it.
    pub fn result(&self, network: &Network) -> Result<Visualization> {
        Ok(Visualization { image: self.image.clone(), activation: self.target.peak(network, &self.image)? })
    }

    fn step(&mut self, network: &Network) -> Result<()> {
        // The last quarter polishes without jitter or smoothing: the regularised image is the
        // start, the real maximum of the unjittered image the aim (what the cards compare).
        let polishing = self.done * 4 >= self.options.steps * 3;
        let j = if polishing { 0 } else { self.options.jitter as isize };
        let (dx, dy) = (self.rng.below(2 * j as usize + 1) as isize - j, self.rng.below(2 * j as usize + 1) as isize - j);
        let rolled = roll(&self.image, dx, dy);
        let input = Var::from_tensor(&Network::input_normalized(normalize(&rolled))?)?;
        let taps = network.taps_with_leaky_relu(input.as_tensor(), LEAK)?;
        // The centre cell while the image takes shape, so the pattern forms in the middle (a
        // convolution's cells are all alike: any can reach the channel's maximum); the largest
        // cell wherever it is while polishing.
        let values = self.target.values(&taps)?;
        let objective = if polishing { values.max(D::Minus1)? } else { values.narrow(0, self.target.centre, 1)?.sum_all()? };
        let grads = objective.backward()?;
        let gradient: Vec<f32> = match grads.get(input.as_tensor()) {
            Some(g) => g.flatten_all()?.to_vec1()?,
            None => vec![0.0; PIXELS],
        };
        // Back to the image's own coordinates; the normalisation's 1/σ is a constant factor
        // that the normalisation below removes anyway.
        let gradient = roll(&gradient, -dx, -dy);
        let rms = (gradient.iter().map(|g| g * g).sum::<f32>() / PIXELS as f32).sqrt();
        let smooth = total_variation_gradient(&self.image);
        let progress = self.done as f32 / self.options.steps.max(1) as f32;
        let size = self.options.step_size * (1.0 - 0.9 * progress);
        let tv = if polishing { 0.0 } else { self.options.total_variation };
        for ((p, g), s) in self.image.iter_mut().zip(&gradient).zip(&smooth) {
            let ascent = if rms > 0.0 { g / rms } else { 0.0 };
            *p = (*p + size * (ascent - tv * s)).clamp(0.0, 1.0);
        }
        self.done += 1;
        Ok(())
    }
}

/// The whole ascent at once: `options.steps` steps from grey.
pub fn visualize(network: &Network, layer: &str, channel: usize, options: AscentOptions) -> Result<Visualization> {
    let mut ascent = FeatureAscent::new(network, layer, channel, options)?;
    ascent.advance(network, usize::MAX)?;
    ascent.result(network)
}

/// The image rolled by (dx, dy) pixels, wrapping around.
fn roll(image: &[f32], dx: isize, dy: isize) -> Vec<f32> {
    let n = INPUT_SIZE as isize;
    let mut out = vec![0.0; PIXELS];
    for y in 0..n {
        for x in 0..n {
            let (sx, sy) = ((x - dx).rem_euclid(n), (y - dy).rem_euclid(n));
            out[(y * n + x) as usize] = image[(sy * n + sx) as usize];
        }
    }
    out
}

/// The gradient of the squared total variation `Σ (neighbour differences)²`, divided by
/// its largest possible size per pixel (8), so the penalty's weight means the same at any scale.
fn total_variation_gradient(image: &[f32]) -> Vec<f32> {
    let n = INPUT_SIZE;
    let mut out = vec![0.0; PIXELS];
    for y in 0..n {
        for x in 0..n {
            let i = y * n + x;
            let mut g = 0.0;
            if x + 1 < n {
                g += image[i] - image[i + 1];
            }
            if x > 0 {
                g += image[i] - image[i - 1];
            }
            if y + 1 < n {
                g += image[i] - image[i + n];
            }
            if y > 0 {
                g += image[i] - image[i - n];
            }
            out[i] = g / 4.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_is_undone_by_the_opposite_roll() {
        let image: Vec<f32> = (0..PIXELS).map(|i| i as f32).collect();
        let rolled = roll(&image, 2, -1);
        assert_ne!(rolled, image);
        assert_eq!(rolled[28 * 0 + 2], image[28 * 1]);
        assert_eq!(roll(&rolled, -2, 1), image);
    }

    #[test]
    fn total_variation_gradient_matches_finite_differences() {
        let mut rng = Rng::new(3);
        let image: Vec<f32> = (0..PIXELS).map(|_| rng.uniform()).collect();
        let tv = |img: &[f32]| -> f64 {
            let mut s = 0.0f64;
            for y in 0..INPUT_SIZE {
                for x in 0..INPUT_SIZE {
                    let i = y * INPUT_SIZE + x;
                    if x + 1 < INPUT_SIZE {
                        s += ((img[i] - img[i + 1]) as f64).powi(2);
                    }
                    if y + 1 < INPUT_SIZE {
                        s += ((img[i] - img[i + INPUT_SIZE]) as f64).powi(2);
                    }
                }
            }
            s
        };
        let g = total_variation_gradient(&image);
        for i in [0, 29, 400, 783] {
            let (mut up, mut down) = (image.clone(), image.clone());
            up[i] += 1e-3;
            down[i] -= 1e-3;
            let numeric = (tv(&up) - tv(&down)) / 2e-3;
            // d/dp Σ d² = 2 Σ d; the gradient above is that divided by 8.
            assert!((numeric / 8.0 - g[i] as f64).abs() < 1e-3, "pixel {i}: {numeric} vs {}", g[i]);
        }
    }
}
