//! The deletion test of an attribution method: erase (set to 0) the inked input pixels its
//! map ranks highest for the predicted digit and measure how much that digit's probability
//! drops, against erasing as many randomly chosen inked pixels. A map that points at what the
//! network uses makes the probability drop much faster than chance. Only inked pixels are
//! ranked, as for the random baseline: erasing blank paper changes nothing, and Grad-CAM's
//! smooth map is often highest on the paper between strokes.

use super::{explain28, Method, Question};
use crate::data::{Dataset, PIXELS};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::rng::Rng;

/// Shares of the 784 pixels erased: 1, 2, 5 and 10 % (8, 16, 39 and 78 pixels).
pub const FRACTIONS: [f32; 4] = [0.01, 0.02, 0.05, 0.10];
/// The share the headline ratio is read at.
pub const HEADLINE: usize = 1;

/// Mean drops of the target's probability, per fraction of `FRACTIONS`.
#[derive(Clone, Debug)]
pub struct Curve {
    /// `None` for the random baseline.
    pub method: Option<Method>,
    pub drops: [f64; FRACTIONS.len()],
}

impl Curve {
    pub fn name(&self) -> &'static str {
        self.method.map_or("random", Method::name)
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub digits: usize,
    /// One curve per method of `Method::ALL`, then the random baseline.
    pub curves: Vec<Curve>,
    /// Integrated gradients' completeness error: mean and largest over the digits.
    pub completeness_mean: f64,
    pub completeness_max: f64,
}

impl Report {
    pub fn random(&self) -> &Curve {
        self.curves.last().expect("the random curve is always there")
    }

    /// How many times more the method's erasure drops the probability than random erasure, at
    /// 2 % of the pixels (`None` for a method the network cannot use).
    pub fn ratio(&self, method: Method) -> Option<f64> {
        let curve = self.curves.iter().find(|c| c.method == Some(method))?;
        Some(curve.drops[HEADLINE] / self.random().drops[HEADLINE])
    }
}

fn erased_count(fraction: f32) -> usize {
    (fraction * PIXELS as f32).round() as usize
}

/// The deletion test of every method on the first `count` images of `data` (Grad-CAM only when
/// the network has a conv layer).
pub fn deletion_test(network: &Network, data: &Dataset, count: usize, seed: u64) -> Result<Report> {
    if count == 0 || count > data.len() {
        return Err(Error::Explain(format!("the deletion test needs 1..={} images, not {count}", data.len())));
    }
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|&m| m != Method::GradCam || super::gradcam::layer(network).is_ok())
        .collect();
    let mut rng = Rng::new(seed);
    let mut sums = vec![[0.0f64; FRACTIONS.len()]; methods.len() + 1];
    let (mut completeness_sum, mut completeness_max, mut digits) = (0.0f64, 0.0f64, 0);
    for index in 0..count {
        let pixels: Vec<f32> = data.image(index).iter().map(|&p| p as f32 / 255.0).collect();
        // Rankings, best first: one per method, then random inked pixels.
        let inked: Vec<usize> = (0..PIXELS).filter(|&i| pixels[i] > 0.0).collect();
        let mut rankings = Vec::with_capacity(methods.len() + 1);
        let mut target = None;
        for &method in &methods {
            let e = explain28(network, &pixels, Question { method, ..Question::default() })?;
            let Some(t) = e.target else { break };
            target = Some(t);
            if let Some(error) = e.completeness_error {
                completeness_sum += error as f64;
                completeness_max = completeness_max.max(error as f64);
            }
            let mut order = inked.clone();
            order.sort_by(|&a, &b| e.map[b].total_cmp(&e.map[a]));
            rankings.push(order);
        }
        let Some(target) = target else { continue };
        let mut random = inked;
        rng.shuffle(&mut random);
        rankings.push(random);
        // Every erased image of this digit in one batch, the untouched one first.
        let mut batch = pixels.clone();
        for ranking in &rankings {
            for fraction in FRACTIONS {
                let start = batch.len();
                batch.extend_from_slice(&pixels);
                ranking.iter().take(erased_count(fraction)).for_each(|&i| batch[start + i] = 0.0);
            }
        }
        let logits = network.forward(&Network::input(&batch)?, None)?;
        let probabilities = candle_nn::ops::softmax(&logits, 1)?.narrow(1, target as usize, 1)?.flatten_all()?.to_vec1::<f32>()?;
        for (sum, erased) in sums.iter_mut().zip(probabilities[1..].chunks_exact(FRACTIONS.len())) {
            sum.iter_mut().zip(erased).for_each(|(s, p)| *s += (probabilities[0] - p) as f64);
        }
        digits += 1;
    }
    let n = digits.max(1) as f64;
    let curves = methods
        .iter()
        .map(|&m| Some(m))
        .chain([None])
        .zip(sums)
        .map(|(method, sum)| Curve { method, drops: sum.map(|s| s / n) })
        .collect();
    Ok(Report { digits, curves, completeness_mean: completeness_sum / n, completeness_max })
}
