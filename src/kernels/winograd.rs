//! The forward pass of 3×3, stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray, 2016): every 2×2 block of outputs comes from a 4×4 input tile with 16
//! multiplications per channel and filter instead of 36, as 16 independent GEMMs — one per
//! point of the transformed tile, tiles × channels times channels × filters. For `cnn`'s conv2
//! that halves the arithmetic of the layer that dominates inference. The transforms only add,
//! subtract and halve, so results stay within rounding of the direct convolution. The backward
//! passes stay on im2col (`conv.rs`).

use super::geometry::Geometry;
use super::gemm::{gemm, Packed, Store, View, MR, NR};
use super::positive;
use std::cell::RefCell;
use std::rc::Rc;

/// Points of a transformed tile (4×4).
const POINTS: usize = 16;

/// Whether this convolution goes through Winograd. With few channels the three transforms
/// cost more than the multiplications they save (conv1 has one channel).
pub fn applies(g: &Geometry) -> bool {
    g.kernel == 3 && g.stride == 1 && g.channels >= 8
}

/// `out` (N·F·pixels) = relu?(W ⊛ X + b), for geometries where `applies`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], relu: bool, out: &mut [f32]) {
    let (oh, ow) = (g.out_height(), g.out_width());
    let tiles = Tiles { down: oh.div_ceil(2), across: ow.div_ceil(2) };
    let count = tiles.down * tiles.across;
    // Filters rounded up to whole vectors of lanes: the output transform then reads only whole
    // vectors (the products' extra columns, and the extra biases, stay 0).
    let lanes = g.filters.div_ceil(NR) * NR;
    let mut bias = b.to_vec();
    bias.resize(lanes, 0.0);
    // The input with its zero padding, plus zeros to a whole number of tiles.
    let (ph, pw) = (2 * tiles.down + 2, 2 * tiles.across + 2);
    let mut padded = vec![0.0; g.channels * ph * pw];
    let kernels = cached_kernels(g, w);
    let mut transformed = vec![0.0; POINTS * g.channels * count];
    let mut inputs: [Packed; POINTS] = Default::default();
    let mut products = vec![0.0; POINTS * count * lanes];
    // The output of whole tiles, for every padded filter, cropped into `out` at the end.
    let mut whole = vec![0.0; lanes * 4 * count];
    for (image, out) in x.chunks_exact(g.channels * g.height * g.width).zip(out.chunks_exact_mut(g.filters * oh * ow)) {
        for (plane, padded) in image.chunks_exact(g.height * g.width).zip(padded.chunks_exact_mut(ph * pw)) {
            for (row, padded) in plane.chunks_exact(g.width).zip(padded[g.padding * pw..].chunks_exact_mut(pw)) {
                padded[g.padding..][..g.width].copy_from_slice(row);
            }
        }
        transform_inputs(g.channels, &tiles, &padded, &mut transformed);
        for p in 0..POINTS {
            // Point p's tiles × channels matrix is the transpose of its channels × tiles values.
            let v = &transformed[p * g.channels * count..][..g.channels * count];
            inputs[p].pack::<MR>(View::row_major(v, g.channels, count).t());
            gemm(&inputs[p], &kernels[p], &mut products[p * count * lanes..][..count * lanes], lanes, Store::Set);
        }
        transform_outputs(&tiles, lanes, &products, &bias, relu, &mut whole);
        let whole_width = 2 * tiles.across;
        for (out, whole) in out.chunks_exact_mut(oh * ow).zip(whole.chunks_exact(4 * count)) {
            for (out, whole) in out.chunks_exact_mut(ow).zip(whole.chunks_exact(whole_width)) {
                out.copy_from_slice(&whole[..ow]);
            }
        }
    }
}

/// The 2×2 output tiles of one image.
struct Tiles {
    down: usize,
    across: usize,
}

thread_local! {
    /// The transformed kernels of the last few weight tensors, keyed by their exact values.
    /// Inference runs the same weights over and over (for one drawing, transforming conv2's
    /// kernels took about as long as the layer's GEMMs); training changes them every step,
    /// which costs one comparison that fails early and a copy.
    static KERNELS: RefCell<Vec<(Vec<f32>, Rc<[Packed; POINTS]>)>> = const { RefCell::new(Vec::new()) };
}

/// Cached entries; a model has few convolutions that qualify.
const CACHED: usize = 4;

fn cached_kernels(g: &Geometry, w: &[f32]) -> Rc<[Packed; POINTS]> {
    KERNELS.with_borrow_mut(|cache| {
        // The length alone could match another filters × channels split of the same values.
        let hit = cache.iter().find(|(key, kernels)| same_bits(key, w) && kernels[0].depth() == g.channels);
        if let Some((_, kernels)) = hit {
            return kernels.clone();
        }
        let kernels = Rc::new(transform_kernels(g, w));
        if cache.len() == CACHED {
            cache.remove(0);
        }
        cache.push((w.to_vec(), kernels.clone()));
        kernels
    })
}

/// Whether two slices hold the same values bit for bit. Compares blocks without stopping
/// inside one, which vectorises (`==` on slices stops at the first difference, so it stays a
/// scalar loop); this runs on every inference.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    const BLOCK: usize = 64;
    let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0, |d, (x, y)| d | (x.to_bits() ^ y.to_bits())) != 0;
    a.len() == b.len() && !a.chunks(BLOCK).zip(b.chunks(BLOCK)).any(|(a, b)| differs(a, b))
}

/// `G·g·Gᵀ` of every 3×3 kernel, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]: point p's channels ×
/// filters matrix, packed as the GEMM's right operand.
fn transform_kernels(g: &Geometry, w: &[f32]) -> [Packed; POINTS] {
    let mut u = vec![0.0; POINTS * g.channels * g.filters];
    for (i, kernel) in w.chunks_exact(9).enumerate() {
        let (f, c) = (i / g.channels, i % g.channels);
        let k: [[f32; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|s| kernel[r * 3 + s]));
        // G·k column by column (gk[s][r]), then each row of that times Gᵀ.
        let gk: [[f32; 4]; 3] = std::array::from_fn(|s| g_times([k[0][s], k[1][s], k[2][s]]));
        for r in 0..4 {
            for (s, value) in g_times([gk[0][r], gk[1][r], gk[2][r]]).into_iter().enumerate() {
                u[((r * 4 + s) * g.channels + c) * g.filters + f] = value;
            }
        }
    }
    std::array::from_fn(|p| {
        let mut packed = Packed::default();
        packed.pack::<NR>(View::row_major(&u[p * g.channels * g.filters..][..g.channels * g.filters], g.channels, g.filters).t());
        packed
    })
}

/// `Bᵀ·d·B` of every 4×4 input tile d, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]: point
/// p's channels × tiles matrix at `p·C·tiles` of `out`. `padded` holds C planes of
/// (2·down + 2) × (2·across + 2).
fn transform_inputs(channels: usize, tiles: &Tiles, padded: &[f32], out: &mut [f32]) {
    let pw = 2 * tiles.across + 2;
    let count = tiles.down * tiles.across;
    let plane_len = padded.len() / channels;
    let mut e = [vec![0.0; pw], vec![0.0; pw], vec![0.0; pw], vec![0.0; pw]];
    for (c, plane) in padded.chunks_exact(plane_len).enumerate() {
        for ty in 0..tiles.down {
            // Bᵀ·d for the whole row of tiles at once: combinations of four input rows.
            let row = |r: usize| &plane[(2 * ty + r) * pw..][..pw];
            let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3));
            for i in 0..pw {
                e[0][i] = d0[i] - d2[i];
                e[1][i] = d1[i] + d2[i];
                e[2][i] = d2[i] - d1[i];
                e[3][i] = d1[i] - d3[i];
            }
            // Then each tile's four columns times B.
            for (r, e) in e.iter().enumerate() {
                let at = |s: usize| ((r * 4 + s) * channels + c) * count + ty * tiles.across;
                let (o0, o1, o2, o3) = (at(0), at(1), at(2), at(3));
                for tx in 0..tiles.across {
                    let x: &[f32; 4] = e[2 * tx..2 * tx + 4].try_into().expect("four columns");
                    out[o0 + tx] = x[0] - x[2];
                    out[o1 + tx] = x[1] + x[2];
                    out[o2 + tx] = x[2] - x[1];
                    out[o3 + tx] = x[1] - x[3];
                }
            }
        }
    }
}

/// `Aᵀ·m·A` of every product tile m, Aᵀ = [1 1 1 0; 0 1 −1 −1], plus bias and the optional
/// ReLU, into `out`: `lanes` planes of (2·down) × (2·across). `products` holds point p's
/// tiles × `lanes` matrix at `p·tiles·lanes`. The arithmetic runs on `NR` filters at once, one
/// per vector lane.
fn transform_outputs(tiles: &Tiles, lanes: usize, products: &[f32], bias: &[f32], relu: bool, out: &mut [f32]) {
    let count = tiles.down * tiles.across;
    let width = 2 * tiles.across;
    let plane = 4 * count;
    let vector = |values: &[f32]| -> [f32; NR] { values[..NR].try_into().expect("NR values") };
    for t in 0..count {
        let corner = 2 * (t / tiles.across) * width + 2 * (t % tiles.across);
        let at = [corner, corner + 1, corner + width, corner + width + 1];
        for first in (0..lanes).step_by(NR) {
            let m: [[f32; NR]; POINTS] = std::array::from_fn(|p| vector(&products[(p * count + t) * lanes + first..]));
            // Aᵀ·m: two rows of four; then each row times A.
            let r0: [[f32; NR]; 4] = std::array::from_fn(|s| add(&add(&m[s], &m[4 + s]), &m[8 + s]));
            let r1: [[f32; NR]; 4] = std::array::from_fn(|s| sub(&sub(&m[4 + s], &m[8 + s]), &m[12 + s]));
            let bias = vector(&bias[first..]);
            let finish = |v: [f32; NR]| -> [f32; NR] {
                let v = add(&v, &bias);
                if relu {
                    v.map(positive)
                } else {
                    v
                }
            };
            let y = [r0, r1].map(|r| [finish(add(&add(&r[0], &r[1]), &r[2])), finish(sub(&sub(&r[1], &r[2]), &r[3]))]);
            let out = &mut out[first * plane..][..NR * plane];
            for (lane, out) in out.chunks_exact_mut(plane).enumerate() {
                for (k, &at) in at.iter().enumerate() {
                    out[at] = y[k / 2][k % 2][lane];
                }
            }
        }
    }
}

/// `G·x` for a column x of three values.
#[inline(always)]
fn g_times([x0, x1, x2]: [f32; 3]) -> [f32; 4] {
    [x0, 0.5 * (x0 + x1 + x2), 0.5 * (x0 - x1 + x2), x2]
}

#[inline(always)]
fn add(a: &[f32; NR], b: &[f32; NR]) -> [f32; NR] {
    std::array::from_fn(|i| a[i] + b[i])
}

#[inline(always)]
fn sub(a: &[f32; NR], b: &[f32; NR]) -> [f32; NR] {
    std::array::from_fn(|i| a[i] - b[i])
}
