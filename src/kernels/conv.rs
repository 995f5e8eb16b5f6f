//! 2-D convolution (+ bias, + optional fused ReLU) as a candle custom op with its own backward
//! pass. All three passes are one packed GEMM per image over an im2col matrix:
//! forward `Y = W·col(X)`, input gradient `col⁻¹(Wᵀ·dY)`, weight gradient `Σ dY·col(X)ᵀ` —
//! except the forward pass of 3×3 stride-1 layers with many channels, which takes Winograd's
//! algorithm (`winograd.rs`), with half the multiplications. Bias and ReLU are applied as the
//! GEMM stores its tiles.
//! candle 0.11's own backward goes through conv_transpose2d and a conv2d with an image-sized
//! kernel (many times slower for these shapes), computes the input image's gradient that
//! nobody needs, and fails on non-square strided inputs.

use super::gemm::{gemm, Packed, Store, View, MR, NR};
use super::{read, sum, values, winograd};
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// The sizes of one convolution call; images are NCHW, kernels FCkk, both contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    fn new(input: &[usize], weight: &[usize], stride: usize, padding: usize) -> Result<Self> {
        let (&[batch, channels, height, width], &[filters, weight_channels, kernel, kernel_w]) = (input, weight) else {
            bail!("conv2d expects an N×C×H×W input and an F×C×k×k kernel, got {input:?} and {weight:?}")
        };
        if weight_channels != channels || kernel != kernel_w || kernel == 0 || stride == 0 {
            bail!("conv2d: kernel {weight:?} does not fit input {input:?} (stride {stride})")
        }
        if kernel > height.min(width) + 2 * padding {
            bail!("conv2d: kernel {kernel} is larger than the padded {height}×{width} input")
        }
        Ok(Geometry { batch, channels, height, width, filters, kernel, stride, padding })
    }

    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output pixels per image and channel.
    fn pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Values under one kernel position: C·k·k.
    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The output indices `lo..hi` (of `out_len`) whose input index `o·stride + offset − padding`
    /// falls inside `0..in_len`.
    fn valid(&self, out_len: usize, in_len: usize, offset: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        let lo = p.saturating_sub(offset).div_ceil(s).min(out_len);
        let hi = if in_len + p > offset { ((in_len + p - 1 - offset) / s + 1).min(out_len) } else { 0 };
        (lo, hi.max(lo))
    }

    /// Calls `f(col_row, input_row, ox_lo, ox_hi, ix_lo)` for every row of every im2col plane
    /// that overlaps the image; `col_row` is the output row of `pixels` laid out oy-major.
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let (oh, ow) = (self.out_height(), self.out_width());
        for c in 0..self.channels {
            for ky in 0..k {
                let (oy_lo, oy_hi) = self.valid(oh, self.height, ky);
                for kx in 0..k {
                    let plane = (c * k + ky) * k + kx;
                    let (ox_lo, ox_hi) = self.valid(ow, self.width, kx);
                    if ox_lo == ox_hi {
                        continue;
                    }
                    for oy in oy_lo..oy_hi {
                        let iy = oy * s + ky - p;
                        let ix_lo = ox_lo * s + kx - p;
                        f(plane * oh * ow + oy * ow, (c * self.height + iy) * self.width, ox_lo, ox_hi, ix_lo);
                    }
                }
            }
        }
    }

    /// The im2col matrix of one image: `patch × pixels`, zeros where the kernel hangs over.
    fn im2col(&self, image: &[f32], col: &mut [f32]) {
        // Without padding every entry is written below.
        if self.padding > 0 {
            col.fill(0.0);
        }
        let s = self.stride;
        self.for_each_row(|out, input, lo, hi, ix| {
            let dst = &mut col[out + lo..out + hi];
            if s == 1 {
                dst.copy_from_slice(&image[input + ix..][..hi - lo]);
            } else {
                dst.iter_mut().zip(image[input + ix..].iter().step_by(s)).for_each(|(d, v)| *d = *v);
            }
        });
    }

    /// The inverse scatter: adds every im2col entry back onto the image pixel it came from.
    fn col2im(&self, col: &[f32], image: &mut [f32]) {
        let s = self.stride;
        self.for_each_row(|out, input, lo, hi, ix| {
            let src = &col[out + lo..out + hi];
            if s == 1 {
                // Without step_by the loop vectorises.
                image[input + ix..][..hi - lo].iter_mut().zip(src).for_each(|(d, v)| *d += v);
            } else {
                image[input + ix..].iter_mut().step_by(s).zip(src).for_each(|(d, v)| *d += v);
            }
        });
    }
}

/// Convolution with bias and optional fused ReLU. Inputs: image, kernel, bias.
#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    pub stride: usize,
    pub padding: usize,
    pub relu: bool,
}

impl Conv2d {
    fn geometry(&self, input: &[usize], weight: &[usize]) -> Result<Geometry> {
        Geometry::new(input, weight, self.stride, self.padding)
    }
}

/// The forward pass on plain slices: `out` (N·F·pixels) = relu?(W ⊛ X + b).
fn forward(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], relu: bool, out: &mut [f32]) {
    if winograd::applies(g) {
        return winograd::forward(g, x, w, b, relu, out);
    }
    let (patch, pixels) = (g.patch(), g.pixels());
    let mut kernel = Packed::default();
    kernel.pack::<MR>(View::row_major(w, g.filters, patch));
    let mut col = vec![0.0; patch * pixels];
    let mut packed_col = Packed::default();
    for (image, out) in x.chunks_exact(g.image_len()).zip(out.chunks_exact_mut(g.filters * pixels)) {
        g.im2col(image, &mut col);
        packed_col.pack::<NR>(View::row_major(&col, patch, pixels).t());
        gemm(&kernel, &packed_col, out, pixels, Store::Bias { bias: b, relu });
    }
}

/// Weight and bias gradients: `dW = Σ_n dY_n·col(X_n)ᵀ`, `db = Σ dY`.
fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (patch, pixels) = (g.patch(), g.pixels());
    // dW or dWᵀ = col·dYᵀ, whichever leaves less of the micro-tiles empty (conv1's 9-value
    // patches fill only 9 of 16 columns one way, 9 of 12 rows the other).
    let padded = |rows: usize, cols: usize| rows.div_ceil(MR) * MR * cols.div_ceil(NR) * NR;
    let transposed = padded(patch, g.filters) < padded(g.filters, patch);
    let mut product = vec![0.0; g.filters * patch];
    let mut db = vec![0.0; g.filters];
    let mut col = vec![0.0; patch * pixels];
    let (mut packed_a, mut packed_b) = (Packed::default(), Packed::default());
    for (image, dy) in x.chunks_exact(g.image_len()).zip(dy.chunks_exact(g.filters * pixels)) {
        g.im2col(image, &mut col);
        let (dy_view, col_view) = (View::row_major(dy, g.filters, pixels), View::row_major(&col, patch, pixels));
        let (a, b) = if transposed { (col_view, dy_view) } else { (dy_view, col_view) };
        packed_a.pack::<MR>(a);
        packed_b.pack::<NR>(b);
        gemm(&packed_a, &packed_b, &mut product, b.rows, Store::Add);
        for (total, row) in db.iter_mut().zip(dy.chunks_exact(pixels)) {
            *total += sum(row);
        }
    }
    let dw = if transposed {
        (0..g.filters * patch).map(|i| product[i % patch * g.filters + i / patch]).collect()
    } else {
        product
    };
    (dw, db)
}

/// Input gradient: `dX_n = col⁻¹(Wᵀ·dY_n)`.
fn input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; g.batch * g.image_len()];
    let (patch, pixels) = (g.patch(), g.pixels());
    let mut kernel_t = Packed::default();
    kernel_t.pack::<MR>(View::row_major(w, g.filters, patch).t());
    let mut dcol = vec![0.0; patch * pixels];
    let mut packed_dy = Packed::default();
    for (dx, dy) in dx.chunks_exact_mut(g.image_len()).zip(dy.chunks_exact(g.filters * pixels)) {
        packed_dy.pack::<NR>(View::row_major(dy, g.filters, pixels).t());
        gemm(&kernel_t, &packed_dy, &mut dcol, pixels, Store::Set);
        g.col2im(&dcol, dx);
    }
    dx
}

impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        "digitlens-conv2d"
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
        let g = self.geometry(x_layout.dims(), w_layout.dims())?;
        let b = values(b, b_layout)?;
        if b.len() != g.filters {
            bail!("conv2d: {} biases for {} filters", b.len(), g.filters)
        }
        let mut out = vec![0.0; g.batch * g.filters * g.pixels()];
        forward(&g, values(x, x_layout)?, values(w, w_layout)?, b, self.relu, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((g.batch, g.filters, g.out_height(), g.out_width()))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geometry(x.dims(), w.dims())?;
        // The network's input image needs no gradient (except for attribution); hidden layers'
        // inputs do. Constant weights (attribution, `Network::forward_layers`) need none.
        let input_needs_grad = x.track_op();
        let weights_need_grad = w.track_op() || b.track_op();
        let (dx, dw_db) = read([x, w, y, dy], |[x, w, y, dy]| {
            // Through the fused ReLU the gradient flows only where the output is positive.
            let masked_dy;
            let dy = if self.relu {
                masked_dy = masked(dy, y);
                &masked_dy[..]
            } else {
                dy
            };
            (input_needs_grad.then(|| input_grad(&g, w, dy)), weights_need_grad.then(|| weight_grad(&g, x, dy)))
        })?;
        let dx = dx.map(|dx| Tensor::from_vec(dx, x.shape(), x.device())).transpose()?;
        let (dw, db) = match dw_db {
            Some((dw, db)) => (Some(Tensor::from_vec(dw, w.shape(), w.device())?), Some(Tensor::from_vec(db, b.shape(), b.device())?)),
            None => (None, None),
        };
        Ok((dx, dw, db))
    }
}

fn masked(dy: &[f32], y: &[f32]) -> Vec<f32> {
    dy.iter().zip(y).map(|(&d, &y)| if y > 0.0 { d } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // <col(x), c> == <x, col⁻¹(c)> for every stride and padding: the scatter is the exact
        // transpose of the gather, which the input gradient relies on.
        let mut rng = crate::rng::Rng::new(9);
        for (h, w, k, s, p) in [(5, 5, 3, 1, 0), (6, 7, 3, 2, 1), (4, 4, 5, 1, 2), (9, 8, 2, 3, 0)] {
            let g = Geometry { batch: 1, channels: 2, height: h, width: w, filters: 1, kernel: k, stride: s, padding: p };
            let x: Vec<f32> = (0..g.image_len()).map(|_| rng.uniform()).collect();
            let c: Vec<f32> = (0..g.patch() * g.pixels()).map(|_| rng.uniform()).collect();
            let mut col = vec![0.0; c.len()];
            g.im2col(&x, &mut col);
            let mut back = vec![0.0; x.len()];
            g.col2im(&c, &mut back);
            let lhs: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "{h}×{w} k{k} s{s} p{p}: {lhs} vs {rhs}");
        }
    }
}
