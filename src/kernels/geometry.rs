//! The sizes of one convolution call and its im2col layout, shared by the direct GEMM
//! convolution (`conv.rs`) and Winograd's (`winograd.rs`).

use candle_core::{bail, Result};

/// The sizes of one convolution call; images are NCHW, kernels FCkk, both contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
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
    pub fn new(input: &[usize], weight: &[usize], stride: usize, padding: usize) -> Result<Self> {
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
    pub fn pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Values under one kernel position: C·k·k.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    pub fn image_len(&self) -> usize {
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
    pub fn im2col(&self, image: &[f32], col: &mut [f32]) {
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
    pub fn col2im(&self, col: &[f32], image: &mut [f32]) {
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
