//! Max pooling as a candle custom op whose backward pass routes each output gradient to the
//! window's (first) maximum in one sweep. candle 0.11's own backward builds the routing from
//! upsampling, comparison and average-pooling tensors (seven passes over the input), refuses
//! windows whose stride differs from their size (the layer editor allows them), and scales
//! every gradient by 1/size² (it multiplies by the mean of the max mask instead of dividing by
//! its sum).

use super::{read, values};
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    pub size: usize,
    pub stride: usize,
}

/// Sizes of one pooling call over N×C×H×W.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    planes: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
}

impl MaxPool2d {
    fn geometry(&self, dims: &[usize]) -> Result<Geometry> {
        let &[n, c, height, width] = dims else { bail!("max-pool expects an N×C×H×W input, got {dims:?}") };
        if self.size == 0 || self.stride == 0 || self.size > height.min(width) {
            bail!("max-pool window {} (stride {}) does not fit a {height}×{width} input", self.size, self.stride)
        }
        let out = |len: usize| (len - self.size) / self.stride + 1;
        Ok(Geometry { planes: n * c, height, width, out_height: out(height), out_width: out(width) })
    }

    /// The input index of the first maximum of the window whose top-left corner is `corner`.
    fn argmax(&self, x: &[f32], width: usize, corner: usize) -> usize {
        let (mut best, mut at) = (f32::NEG_INFINITY, corner);
        for row in 0..self.size {
            let start = corner + row * width;
            for (i, &v) in x[start..start + self.size].iter().enumerate() {
                // Selects, not a branch: which value wins is unpredictable.
                let better = v > best;
                best = if better { v } else { best };
                at = if better { start + i } else { at };
            }
        }
        at
    }

    /// Calls `f(output index, input index of the window's first maximum)` for the windows of
    /// output columns `from..` in every row.
    fn for_each_argmax(&self, g: &Geometry, x: &[f32], from: usize, mut f: impl FnMut(usize, usize)) {
        for plane in 0..g.planes {
            for oy in 0..g.out_height {
                let top = (plane * g.height + oy * self.stride) * g.width;
                for ox in from..g.out_width {
                    f((plane * g.out_height + oy) * g.out_width + ox, self.argmax(x, g.width, top + ox * self.stride));
                }
            }
        }
    }

    /// Output columns per row that the SIMD path covers: all of them (2×2 windows, stride 2,
    /// rows of at least 4 outputs) or none.
    fn simd_columns(&self, g: &Geometry) -> usize {
        if cfg!(target_arch = "wasm32") && self.size == 2 && self.stride == 2 && g.out_width >= 4 {
            g.out_width
        } else {
            0
        }
    }
}

/// 2×2 windows with stride 2, four windows per step. V8 turns scalar float comparisons into
/// unpredictable branches, which made the scalar loop ten times slower than this.
#[cfg(target_arch = "wasm32")]
mod simd {
    use super::Geometry;
    use core::arch::wasm32::*;

    /// Lanes 0, 2, 4, 6 and 1, 3, 5, 7 of eight consecutive values: the left and right
    /// columns of four windows.
    #[inline(always)]
    fn split_columns(row: &[f32]) -> (v128, v128) {
        let row: &[f32; 8] = row[..8].try_into().expect("eight values");
        // SAFETY: eight floats; v128 loads need no alignment.
        let (lo, hi) = unsafe { (v128_load(row.as_ptr() as *const v128), v128_load(row.as_ptr().add(4) as *const v128)) };
        (i32x4_shuffle::<0, 2, 4, 6>(lo, hi), i32x4_shuffle::<1, 3, 5, 7>(lo, hi))
    }

    #[inline(always)]
    fn store(out: &mut [f32], v: v128) {
        let out: &mut [f32; 4] = (&mut out[..4]).try_into().expect("four values");
        // SAFETY: four floats.
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) }
    }

    /// Four windows per step; the last step overlaps the one before when the row is not a
    /// multiple of 4, which recomputes (and rewrites) the same values.
    fn steps(columns: usize) -> impl Iterator<Item = usize> {
        (0..columns / 4 * 4).step_by(4).chain((!columns.is_multiple_of(4)).then_some(columns - 4))
    }

    /// The first `columns` (at least 4) outputs of every row; 2×2 windows with stride 2 only.
    pub fn forward(g: &Geometry, x: &[f32], out: &mut [f32], columns: usize) {
        for (plane, out) in x.chunks_exact(g.height * g.width).zip(out.chunks_exact_mut(g.out_height * g.out_width)) {
            for (oy, out) in out.chunks_exact_mut(g.out_width).enumerate() {
                let (r0, r1) = (&plane[2 * oy * g.width..], &plane[(2 * oy + 1) * g.width..]);
                for o in steps(columns) {
                    let ((a, b), (c, d)) = (split_columns(&r0[2 * o..]), split_columns(&r1[2 * o..]));
                    store(&mut out[o..], f32x4_pmax(f32x4_pmax(a, b), f32x4_pmax(c, d)));
                }
            }
        }
    }

    /// Routes each window's gradient to its first maximum (row-major order), as the scalar
    /// path does. Windows do not overlap, so inputs are written, not accumulated.
    pub fn backward(g: &Geometry, x: &[f32], dy: &[f32], dx: &mut [f32], columns: usize) {
        let planes = x.chunks_exact(g.height * g.width).zip(dx.chunks_exact_mut(g.height * g.width));
        for ((plane, dx), dy) in planes.zip(dy.chunks_exact(g.out_height * g.out_width)) {
            for (oy, dy) in dy.chunks_exact(g.out_width).enumerate() {
                let (r0, r1) = (2 * oy * g.width, (2 * oy + 1) * g.width);
                for o in steps(columns) {
                    let ((a, b), (c, d)) = (split_columns(&plane[r0 + 2 * o..]), split_columns(&plane[r1 + 2 * o..]));
                    let max = f32x4_pmax(f32x4_pmax(a, b), f32x4_pmax(c, d));
                    let is_a = f32x4_eq(a, max);
                    let is_b = v128_andnot(f32x4_eq(b, max), is_a);
                    let taken = v128_or(is_a, is_b);
                    let is_c = v128_andnot(f32x4_eq(c, max), taken);
                    let is_d = v128_andnot(f32x4_eq(d, max), v128_or(taken, is_c));
                    let grad: &[f32; 4] = dy[o..o + 4].try_into().expect("four values");
                    // SAFETY: four floats.
                    let grad = unsafe { v128_load(grad.as_ptr() as *const v128) };
                    let (ga, gb, gc, gd) = (v128_and(grad, is_a), v128_and(grad, is_b), v128_and(grad, is_c), v128_and(grad, is_d));
                    store(&mut dx[r0 + 2 * o..], i32x4_shuffle::<0, 4, 1, 5>(ga, gb));
                    store(&mut dx[r0 + 2 * o + 4..], i32x4_shuffle::<2, 6, 3, 7>(ga, gb));
                    store(&mut dx[r1 + 2 * o..], i32x4_shuffle::<0, 4, 1, 5>(gc, gd));
                    store(&mut dx[r1 + 2 * o + 4..], i32x4_shuffle::<2, 6, 3, 7>(gc, gd));
                }
            }
        }
    }
}

impl CustomOp1 for MaxPool2d {
    fn name(&self) -> &'static str {
        "digitlens-max-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(layout.dims())?;
        let x = values(storage, layout)?;
        let mut out = vec![0.0; g.planes * g.out_height * g.out_width];
        let columns = self.simd_columns(&g);
        #[cfg(target_arch = "wasm32")]
        if columns > 0 {
            simd::forward(&g, x, &mut out, columns);
        }
        self.for_each_argmax(&g, x, columns, |o, i| out[o] = x[i]);
        let dims = layout.dims();
        Ok((CpuStorage::F32(out), Shape::from((dims[0], dims[1], g.out_height, g.out_width))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let g = self.geometry(x.dims())?;
        let dx = read([x, dy], |[x, dy]| {
            // Recomputing the argmax is cheaper than storing indices in the forward pass.
            let mut dx = vec![0.0; x.len()];
            let columns = self.simd_columns(&g);
            #[cfg(target_arch = "wasm32")]
            if columns > 0 {
                simd::backward(&g, x, dy, &mut dx, columns);
            }
            self.for_each_argmax(&g, x, columns, |o, i| dx[i] += dy[o]);
            dx
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}
