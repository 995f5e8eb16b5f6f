//! Fast CPU kernels for the layers that dominate training — convolution, max-pooling and ReLU —
//! as candle custom ops with hand-written backward passes, plus a dense layer for one image
//! (`linear`). candle stays the framework (the graph, autograd, dense layers of batches and
//! the loss; the optimisers are fused in `crate::optim`); only these ops are replaced, and only
//! for f32 tensors on the CPU: anything else goes to candle's own ops (`reference`).
//! `tests/kernels.rs` (natively) and `tests/web_kernels.rs` (in the browser, where the SIMD128
//! paths run) check the two agree, forward and backward, except for the max-pool gradient,
//! which candle 0.11 gets wrong (see `pool.rs`) and which is checked by brute force instead.
//! `profile` times every stage both ways.

mod conv;
mod dense;
mod geometry;
mod gemm;
mod pool;
pub mod profile;
mod relu;
mod winograd;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Storage, Tensor};
use conv::Conv2d;
use dense::Linear;
use pool::MaxPool2d;
use relu::Relu;

/// `relu?(conv2d(x, weight) + bias)`; `padding` pixels of zeros on every side.
pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor, stride: usize, padding: usize, relu: bool) -> Result<Tensor> {
    if !fits([x, weight, bias]) {
        return reference::conv2d(x, weight, bias, stride, padding, relu);
    }
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, Conv2d { stride, padding, relu })
}

/// `x·Wᵀ + b` for x of N × inputs and W of units × inputs; one image (N = 1) takes the
/// matrix-vector kernel.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if x.dims().first() != Some(&1) || !fits([x, weight, bias]) {
        return reference::linear(x, weight, bias);
    }
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, Linear)
}

/// Max over `size × size` windows every `stride` pixels.
pub fn max_pool2d(x: &Tensor, size: usize, stride: usize) -> Result<Tensor> {
    if !fits([x]) {
        return reference::max_pool2d(x, size, stride);
    }
    x.contiguous()?.apply_op1(MaxPool2d { size, stride })
}

/// `max(x, 0)` elementwise.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !fits([x]) {
        return reference::relu(x);
    }
    x.contiguous()?.apply_op1(Relu)
}

/// `x.max(0.0)` (0 for NaN too) without the call to libm's `fmaxf` that `max` is on wasm, so
/// loops over it vectorise.
#[inline(always)]
pub fn positive(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Whether the custom kernels handle these tensors (f32 on the CPU).
fn fits<const N: usize>(tensors: [&Tensor; N]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32 && t.device().is_cpu())
}

/// The same layers from candle's built-in ops: the fallback and the yardstick.
pub mod reference {
    use candle_core::{Result, Tensor};

    pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor, stride: usize, padding: usize, relu: bool) -> Result<Tensor> {
        let z = x.conv2d(weight, padding, stride, 1, 1)?.broadcast_add(&bias.reshape((1, bias.elem_count(), 1, 1))?)?;
        if relu {
            z.relu()
        } else {
            Ok(z)
        }
    }

    pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        x.matmul(&weight.t()?)?.broadcast_add(bias)
    }

    pub fn max_pool2d(x: &Tensor, size: usize, stride: usize) -> Result<Tensor> {
        x.max_pool2d_with_stride(size, stride)
    }

    pub fn relu(x: &Tensor) -> Result<Tensor> {
        x.relu()
    }
}

/// The sum of `values` in eight interleaved partial sums, which vectorise (a single running
/// sum cannot be reordered, so it stays scalar, and scalar float code is slow in wasm engines).
fn sum(values: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        partial.iter_mut().zip(chunk).for_each(|(p, v)| *p += v);
    }
    partial.iter().sum::<f32>() + rest
}

/// The values of a contiguous f32 CPU storage.
pub(crate) fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (CpuStorage::F32(data), Some((from, to))) = (storage, layout.contiguous_offsets()) else {
        bail!("digitlens kernels need contiguous f32 tensors")
    };
    Ok(&data[from..to])
}

/// Runs `f` on the values of several tensors at once (copied only if not contiguous).
pub(crate) fn read<const N: usize, R>(tensors: [&Tensor; N], f: impl FnOnce([&[f32]; N]) -> R) -> Result<R> {
    let contiguous = tensors.map(Tensor::contiguous);
    let contiguous: Vec<Tensor> = contiguous.into_iter().collect::<Result<_>>()?;
    let guards: Vec<_> = contiguous.iter().map(Tensor::storage_and_layout).collect();
    let slices = guards
        .iter()
        .map(|(storage, layout)| match &**storage {
            Storage::Cpu(cpu) => values(cpu, layout),
            _ => bail!("digitlens kernels run on the CPU only"),
        })
        .collect::<Result<Vec<_>>>()?;
    let slices: [&[f32]; N] = slices.try_into().expect("one slice per tensor");
    Ok(f(slices))
}
