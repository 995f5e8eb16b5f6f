//! The map of all digits: a principal-component projection of many images' embeddings
//! (dense1's activations) to a few dimensions. The covariance is one matrix product; its
//! leading eigenvectors come from power iteration with deflation, which is plenty for the
//! 2–3 components a map needs of a 128 × 128 covariance.

use crate::error::{Error, Result};
use crate::network::device;
use crate::rng::Rng;
use candle_core::Tensor;
use serde::Serialize;

/// Power-iteration rounds at most per component, and the change at which it has converged.
const MAX_ROUNDS: usize = 2_000;
const CONVERGED: f64 = 1e-10;

/// A fitted projection: `point = axes · (x − mean)`.
#[derive(Clone, Debug, Serialize)]
pub struct Projection {
    pub dims: usize,
    pub mean: Vec<f32>,
    /// `components × dims`, unit length, each with its largest entry positive (a fixed sign
    /// keeps maps of similar data the same way round).
    pub axes: Vec<f32>,
    /// The variance along each axis (the covariance's eigenvalues, largest first).
    pub variances: Vec<f32>,
    /// Every row's coordinates, `rows × components`.
    pub points: Vec<f32>,
}

impl Projection {
    pub fn components(&self) -> usize {
        self.variances.len()
    }

    /// The coordinates of one more row (a live drawing's embedding).
    pub fn project(&self, row: &[f32]) -> Result<Vec<f32>> {
        if row.len() != self.dims {
            return Err(Error::Stack(format!("the projection takes {} values, got {}", self.dims, row.len())));
        }
        Ok(self
            .axes
            .chunks_exact(self.dims)
            .map(|axis| axis.iter().zip(row).zip(&self.mean).map(|((a, x), m)| a * (x - m)).sum())
            .collect())
    }
}

/// Principal components of `rows × dims` values (row-major).
pub fn pca(values: &[f32], dims: usize, components: usize) -> Result<Projection> {
    if dims == 0 || values.is_empty() || values.len() % dims != 0 {
        return Err(Error::Stack(format!("{} values are not rows of {dims}", values.len())));
    }
    let rows = values.len() / dims;
    if rows < 2 || components == 0 || components > dims {
        return Err(Error::Stack(format!("cannot take {components} components of {rows} rows of {dims} values")));
    }
    let mut mean = vec![0.0f64; dims];
    for row in values.chunks_exact(dims) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let centred: Vec<f32> = values.chunks_exact(dims).flat_map(|row| row.iter().zip(&mean32).map(|(v, m)| v - m)).collect();
    let x = Tensor::from_vec(centred, (rows, dims), &device())?;
    let covariance: Vec<f32> = (x.t()?.matmul(&x)? / rows as f64)?.flatten_all()?.to_vec1()?;
    let mut covariance: Vec<f64> = covariance.into_iter().map(f64::from).collect();
    let mut rng = Rng::new(0x5eed);
    let (mut axes, mut variances) = (Vec::new(), Vec::new());
    for _ in 0..components {
        let (axis, variance) = leading_eigenvector(&covariance, dims, &mut rng);
        // Deflate: remove this component so the next round finds the next one.
        for i in 0..dims {
            for j in 0..dims {
                covariance[i * dims + j] -= variance * axis[i] * axis[j];
            }
        }
        axes.extend(axis.iter().map(|&a| a as f32));
        variances.push(variance.max(0.0) as f32);
    }
    let mut projection = Projection { dims, mean: mean32, axes, variances, points: Vec::new() };
    let mut points = Vec::with_capacity(rows * components);
    for row in values.chunks_exact(dims) {
        points.extend(projection.project(row)?);
    }
    projection.points = points;
    Ok(projection)
}

/// The unit eigenvector of the largest eigenvalue of a symmetric positive semi-definite matrix,
/// and that eigenvalue.
fn leading_eigenvector(matrix: &[f64], dims: usize, rng: &mut Rng) -> (Vec<f64>, f64) {
    let mut v: Vec<f64> = (0..dims).map(|_| rng.uniform() as f64 - 0.5).collect();
    normalise(&mut v);
    let mut value = 0.0;
    for _ in 0..MAX_ROUNDS {
        let mut next: Vec<f64> = matrix.chunks_exact(dims).map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum()).collect();
        value = normalise(&mut next);
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).powi(2)).sum();
        v = next;
        if change < CONVERGED || value == 0.0 {
            break;
        }
    }
    let largest = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    (v, value)
}

/// Scales `v` to unit length; returns its length before (0 leaves it as it is).
fn normalise(v: &mut [f64]) -> f64 {
    let length = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if length > 0.0 {
        v.iter_mut().for_each(|x| *x /= length);
    }
    length
}
