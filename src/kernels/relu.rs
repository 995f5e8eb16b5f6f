//! ReLU as a candle custom op. candle's own `relu` is `f32::max` per value, which on wasm is a
//! call to libm's `fmaxf` for every element, and its backward builds a comparison tensor,
//! converts it and multiplies (three passes); here each pass is one branch-free loop.

use super::{positive, read, values};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

#[derive(Clone, Copy, Debug)]
pub struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "digitlens-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(storage, layout)?;
        Ok((CpuStorage::F32(x.iter().map(|&v| positive(v)).collect()), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        // As candle does: the gradient also passes where x is exactly 0.
        let dx = read([x, dy], |[x, dy]| x.iter().zip(dy).map(|(&x, &d)| if x >= 0.0 { d } else { 0.0 }).collect())?;
        Ok(Some(Tensor::from_vec::<_, f32>(dx, x.shape(), x.device())?))
    }
}
