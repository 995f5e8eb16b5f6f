//! A dense layer for one image, `x·Wᵀ + b` with x of 1 × inputs, as a candle custom op: one
//! vectorised dot product per unit over W's contiguous rows. candle's matmul runs a general
//! GEMM, whose set-up and packing cost several times the arithmetic at one row (dense1 of a
//! drawing). The backward pass is candle's own ops; batches of several rows stay on candle.

use super::values;
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// Inputs: x (1 × inputs), weight (units × inputs), bias (units).
#[derive(Clone, Copy, Debug)]
pub struct Linear;

/// `Σ a·b` in eight interleaved partial sums, which vectorise (see `super::sum`).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        partial.iter_mut().zip(a.iter().zip(b)).for_each(|(p, (a, b))| *p += a * b);
    }
    partial.iter().sum::<f32>() + rest
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "digitlens-linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[1, inputs], &[units, w_inputs], &[b_units]) = (x_layout.dims(), w_layout.dims(), b_layout.dims()) else {
            bail!("linear expects 1×K input, N×K weight, N bias, got {:?}, {:?}, {:?}", x_layout.dims(), w_layout.dims(), b_layout.dims())
        };
        if w_inputs != inputs || b_units != units {
            bail!("linear: weight {:?} and bias {:?} do not fit input {:?}", w_layout.dims(), b_layout.dims(), x_layout.dims())
        }
        let (x, w, b) = (values(x, x_layout)?, values(w, w_layout)?, values(b, b_layout)?);
        let out = w.chunks_exact(inputs).zip(b).map(|(row, b)| dot(row, x) + b).collect();
        Ok((CpuStorage::F32(out), Shape::from((1, units))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _b: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // dy is 1 × units: dx = dy·W, dW = dyᵀ·x, db = dy (none for constant weights).
        let dw = if w.track_op() { Some(dy.t()?.matmul(x)?) } else { None };
        Ok((Some(dy.matmul(w)?), dw, Some(dy.squeeze(0)?)))
    }
}
