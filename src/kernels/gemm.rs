//! `C += A·B` for the small, oddly shaped matrices of convolution layers (K = 9 for conv1,
//! N = 121 pixels for conv2), where a general-purpose GEMM spends more time on set-up and
//! edges than on arithmetic. Both operands are packed into panels (A by `MR` rows, B by `NR`
//! columns, zero-padded) so the micro-kernel reads memory strictly in order; transposes need
//! no copy of their own because packing reads through strided views.
//! The micro-kernel uses SIMD128 explicitly on wasm32 (near the ~23 GFLOP/s a core reaches
//! with SIMD128 multiply + add in Chromium) and plain arrays elsewhere, which LLVM vectorises
//! natively, with AVX2 and FMA when the CPU has them.

use super::positive;

/// Rows of A per micro-tile.
pub const MR: usize = 4;
/// Columns of B per micro-tile: two 4-lane vectors.
pub const NR: usize = 8;

/// A read-only `rows × cols` matrix inside `data`, with any strides (so a transpose is free).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    pub fn t(self) -> Self {
        View { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }
}

/// A matrix packed in panels of `width` rows: panel `i` holds, for every column `k`, the
/// `width` values of rows `i*width ..`, zero-padded past the last row. Packing copies through
/// whole vectors where the view's layout allows it (adjacent rows, or contiguous rows that are
/// transposed 4×4 at a time), since scalar gathers cost as much as the arithmetic here.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    data: Vec<f32>,
    rows: usize,
    depth: usize,
    width: usize,
}

impl Packed {
    /// Zeroes this buffer as the packing of a `rows × depth` matrix in panels of `W` rows,
    /// reusing the allocation.
    fn reset<const W: usize>(&mut self, rows: usize, depth: usize) {
        self.rows = rows;
        self.depth = depth;
        self.width = W;
        self.data.clear();
        self.data.resize(rows.div_ceil(W) * W * depth, 0.0);
    }

    /// Packs `view` (rows × depth) in panels of `W` rows, reusing this buffer.
    pub fn pack<const W: usize>(&mut self, view: View) {
        self.reset::<W>(view.rows, view.cols);
        for (panel, out) in self.data.chunks_exact_mut(W * view.cols).enumerate() {
            let first = panel * W;
            let live = W.min(view.rows - first);
            if live == W && view.row_stride == 1 {
                // The panel's rows are adjacent: each column is W consecutive values.
                for (k, lanes) in out.chunks_exact_mut(W).enumerate() {
                    let start = first + k * view.col_stride;
                    let lanes: &mut [f32; W] = lanes.try_into().expect("W lanes");
                    *lanes = view.data[start..start + W].try_into().expect("W values");
                }
            } else if live == W && W.is_multiple_of(4) && view.col_stride == 1 {
                // Each row is contiguous: transpose 4×4 blocks.
                let whole = view.cols / 4 * 4;
                for group in 0..W / 4 {
                    let row = |r: usize| &view.data[(first + group * 4 + r) * view.row_stride..][..view.cols];
                    let rows = [row(0), row(1), row(2), row(3)];
                    for k in (0..whole).step_by(4) {
                        let block = transpose4([0, 1, 2, 3].map(|r| rows[r][k..k + 4].try_into().expect("4 values")));
                        for (i, column) in block.iter().enumerate() {
                            out[(k + i) * W + group * 4..][..4].copy_from_slice(column);
                        }
                    }
                    for k in whole..view.cols {
                        for (r, rows) in rows.iter().enumerate() {
                            out[k * W + group * 4 + r] = rows[k];
                        }
                    }
                }
            } else {
                for (k, lanes) in out.chunks_exact_mut(W).enumerate() {
                    let start = first * view.row_stride + k * view.col_stride;
                    for (lane, value) in lanes[..live].iter_mut().enumerate() {
                        *value = view.data[start + lane * view.row_stride];
                    }
                }
            }
        }
    }

    /// The packed matrix's columns (the GEMM's inner dimension).
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn panels(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.width * self.depth)
    }
}

/// The columns of a 4×4 block given as rows.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn transpose4(rows: [&[f32; 4]; 4]) -> [[f32; 4]; 4] {
    std::array::from_fn(|c| std::array::from_fn(|r| rows[r][c]))
}

#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn transpose4(rows: [&[f32; 4]; 4]) -> [[f32; 4]; 4] {
    use core::arch::wasm32::i32x4_shuffle;
    // SAFETY: each row is four floats; v128 loads need no alignment, and [f32; 4] has v128's size.
    unsafe {
        let [r0, r1, r2, r3] = rows.map(|r| v128_load(r.as_ptr() as *const v128));
        let (t0, t1) = (i32x4_shuffle::<0, 4, 1, 5>(r0, r1), i32x4_shuffle::<2, 6, 3, 7>(r0, r1));
        let (t2, t3) = (i32x4_shuffle::<0, 4, 1, 5>(r2, r3), i32x4_shuffle::<2, 6, 3, 7>(r2, r3));
        let columns = [
            i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
            i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
            i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
            i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
        ];
        columns.map(|c| core::mem::transmute::<v128, [f32; 4]>(c))
    }
}

/// How the product reaches C. Writing it (rather than adding to zeros) saves a pass over C;
/// adding a bias per row and the ReLU while the tile is in registers saves two more.
#[derive(Clone, Copy, Debug)]
pub enum Store<'a> {
    /// `C += A·B`.
    Add,
    /// `C = A·B`.
    Set,
    /// `C = relu?(A·B + bias[row])`, `bias` holding one value per row of A.
    Bias { bias: &'a [f32], relu: bool },
}

impl Store<'_> {
    /// C's row `row` from one row of a tile's product (an edge tile passes its first values).
    #[inline(always)]
    fn row(self, c: &mut [f32], product: &[f32], row: usize) {
        match self {
            Store::Add => c.iter_mut().zip(product).for_each(|(c, p)| *c += p),
            Store::Set => c.copy_from_slice(&product[..c.len()]),
            Store::Bias { bias, relu } => {
                let b = bias[row];
                c.iter_mut().zip(product).for_each(|(c, p)| *c = if relu { positive(p + b) } else { p + b });
            }
        }
    }
}

/// `C (store) A·B` where `a` is A packed by `MR` rows and `b` is Bᵀ packed by `NR` rows; C is
/// row-major with row stride `ldc`.
pub fn gemm(a: &Packed, b: &Packed, c: &mut [f32], ldc: usize, store: Store) {
    assert!(a.width == MR && b.width == NR && a.depth == b.depth, "gemm operands are packed inconsistently");
    if let Store::Bias { bias, .. } = store {
        assert!(bias.len() >= a.rows, "gemm: {} biases for {} rows", bias.len(), a.rows);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features.
        return unsafe { gemm_avx2_fma(a, b, c, ldc, store) };
    }
    gemm_tiles::<false>(a, b, c, ldc, store)
}

/// The same loops compiled for AVX2 and fused multiply-add, which x86-64 CPUs of the last
/// decade have but the default native target does not assume.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2_fma(a: &Packed, b: &Packed, c: &mut [f32], ldc: usize, store: Store) {
    gemm_tiles::<true>(a, b, c, ldc, store)
}

#[inline(always)]
fn gemm_tiles<const FMA: bool>(a: &Packed, b: &Packed, c: &mut [f32], ldc: usize, store: Store) {
    // B's panel (depth × NR) stays in L1 while every panel of A streams past it.
    for (j, b_panel) in b.panels().enumerate() {
        let col = j * NR;
        let cols = NR.min(b.rows - col);
        for (i, a_panel) in a.panels().enumerate() {
            let row = i * MR;
            let rows = MR.min(a.rows - row);
            let acc = kernel::<FMA>(a_panel, b_panel);
            let c = &mut c[row * ldc + col..];
            if rows == MR && cols == NR {
                for (r, acc) in acc.iter().enumerate() {
                    store_row(&mut c[r * ldc..][..NR], acc, store, row + r);
                }
            } else {
                // A ragged edge tile: only part of it lies inside C.
                for (r, acc) in acc.iter().enumerate().take(rows) {
                    store.row(&mut c[r * ldc..][..cols], &to_array(acc), row + r);
                }
            }
        }
    }
}

/// One `MR × NR` tile, `Σ_k a[k] ⊗ b[k]`, as fixed-size arrays LLVM keeps in vector registers;
/// `FMA` only where the caller is compiled with fused multiply-add (else `mul_add` is a call).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn kernel<const FMA: bool>(a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let a: &[f32; MR] = a.try_into().expect("MR values");
        let b: &[f32; NR] = b.try_into().expect("NR values");
        for (acc_row, &a) in acc.iter_mut().zip(a) {
            for (acc, &b) in acc_row.iter_mut().zip(b) {
                *acc = if FMA { a.mul_add(b, *acc) } else { *acc + a * b };
            }
        }
    }
    acc
}

#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn to_array(acc: &[f32; NR]) -> [f32; NR] {
    *acc
}

#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn store_row(c: &mut [f32], acc: &[f32; NR], store: Store, row: usize) {
    store.row(c, acc, row)
}

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_pmax, f32x4_splat, v128, v128_load, v128_store};

/// One `MR × NR` tile with SIMD128: two vector accumulators per row, one splat of A per row.
/// (Baseline SIMD128 has no fused multiply-add; relaxed-simd's is not used, so the module
/// runs in every engine with SIMD128.)
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn kernel<const FMA: bool>(a: &[f32], b: &[f32]) -> [[v128; 2]; MR] {
    let mut acc = [[f32x4_splat(0.0); 2]; MR];
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let b: &[f32; NR] = b.try_into().expect("NR values");
        // SAFETY: `b` holds 8 floats; v128 loads need no alignment.
        let (b0, b1) = unsafe { (v128_load(b.as_ptr() as *const v128), v128_load(b.as_ptr().add(4) as *const v128)) };
        for (acc_row, &a) in acc.iter_mut().zip(a) {
            let a = f32x4_splat(a);
            acc_row[0] = f32x4_add(acc_row[0], f32x4_mul(a, b0));
            acc_row[1] = f32x4_add(acc_row[1], f32x4_mul(a, b1));
        }
    }
    acc
}

#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn to_array(acc: &[v128; 2]) -> [f32; NR] {
    // SAFETY: two v128 are eight floats.
    unsafe { core::mem::transmute::<[v128; 2], [f32; NR]>(*acc) }
}

/// One full row of a tile into C, in vector registers throughout.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn store_row(c: &mut [f32], acc: &[v128; 2], store: Store, row: usize) {
    let c: &mut [f32; NR] = c.try_into().expect("NR values");
    let p = c.as_mut_ptr() as *mut v128;
    // SAFETY: `c` holds 8 floats; v128 loads and stores need no alignment.
    unsafe {
        let [lo, hi] = match store {
            Store::Add => [f32x4_add(v128_load(p), acc[0]), f32x4_add(v128_load(p.add(1)), acc[1])],
            Store::Set => *acc,
            Store::Bias { bias, relu } => {
                let b = f32x4_splat(bias[row]);
                let (lo, hi) = (f32x4_add(acc[0], b), f32x4_add(acc[1], b));
                // pmax(0, v) is 0 for NaN too, as `positive` is.
                if relu {
                    [f32x4_pmax(f32x4_splat(0.0), lo), f32x4_pmax(f32x4_splat(0.0), hi)]
                } else {
                    [lo, hi]
                }
            }
        };
        v128_store(p, lo);
        v128_store(p.add(1), hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View, b: View) -> Vec<f32> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for k in 0..a.cols {
                    c[i * b.cols + j] +=
                        a.data[i * a.row_stride + k * a.col_stride] * b.data[k * b.row_stride + j * b.col_stride];
                }
            }
        }
        c
    }

    #[test]
    fn matches_the_textbook_product_on_ragged_and_transposed_shapes() {
        let mut rng = crate::rng::Rng::new(3);
        for (m, n, k) in [(1, 1, 1), (5, 9, 3), (32, 676, 9), (13, 17, 40), (64, 121, 288)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform() - 0.5).collect();
            let b: Vec<f32> = (0..n * k).map(|_| rng.uniform() - 0.5).collect();
            // A row-major; B stored transposed (n × k), read through a view.
            let a_view = View::row_major(&a, m, k);
            let b_view = View::row_major(&b, n, k).t();
            let (mut pa, mut pb) = (Packed::default(), Packed::default());
            pa.pack::<MR>(a_view);
            pb.pack::<NR>(b_view.t());
            // The dispatching entry point, and the plain loops it falls back to without AVX2/FMA.
            type Gemm = fn(&Packed, &Packed, &mut [f32], usize, Store);
            let variants: [Gemm; 2] = [gemm, gemm_tiles::<false>];
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25 - 1.0).collect();
            let want = naive(a_view, b_view);
            // Each way of storing, as a function of the product, the bias and C's old value 1.
            let stores: [(Store, fn(f32, f32) -> f32); 4] = [
                (Store::Add, |p, _| p + 1.0),
                (Store::Set, |p, _| p),
                (Store::Bias { bias: &bias, relu: false }, |p, b| p + b),
                (Store::Bias { bias: &bias, relu: true }, |p, b| (p + b).max(0.0)),
            ];
            for variant in variants {
                for (store, expected) in stores {
                    let mut c = vec![1.0; m * n];
                    variant(&pa, &pb, &mut c, n, store);
                    for (i, (got, want)) in c.iter().zip(&want).enumerate() {
                        let want = expected(*want, bias[i / n]);
                        assert!((got - want).abs() < 1e-4, "{m}×{n}×{k} {store:?}: {got} vs {want}");
                    }
                }
            }
        }
    }
}
