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
use super::geometry::Geometry;
use super::{read, sum, values, winograd};
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

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
