//! The equivalence checks of the custom kernels against candle's built-in ops, shared by the
//! native tests (tests/kernels.rs) and the browser tests (tests/web_kernels.rs), where the
//! SIMD128 micro-kernel runs instead of the portable one.

use candle_core::{DType, Device, Tensor, Var};
use digitlens::kernels::{self, reference};
use digitlens::rng::Rng;

/// One convolution to compare: sizes, stride, padding, fused ReLU or not.
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub relu: bool,
}

/// The canonical model's two layers, strided and 'same'-padded ones, and `random` more drawn
/// from everything the layer editor accepts. Images are square, as in the app: candle 0.11's
/// own conv2d backward fails on non-square strided inputs (it derives the transposed
/// convolution's output padding from the height alone).
pub fn conv_cases(random: usize, seed: u64) -> Vec<ConvCase> {
    let case = |batch, channels, height, width, filters, kernel, stride, padding, relu| ConvCase {
        batch, channels, height, width, filters, kernel, stride, padding, relu,
    };
    let mut cases = vec![
        case(2, 1, 28, 28, 32, 3, 1, 0, true),  // cnn conv1
        case(2, 32, 13, 13, 64, 3, 1, 0, true), // cnn conv2
        case(3, 3, 14, 14, 5, 3, 2, 1, false),  // stride 2, 'same'
        case(2, 2, 11, 11, 4, 5, 2, 2, true),   // 5×5 'same', stride 2
        case(1, 2, 8, 8, 3, 4, 2, 0, false),    // even kernel, stride 2
        case(2, 3, 3, 3, 2, 3, 3, 1, true),     // tiny input, stride larger than the output
        case(2, 9, 10, 10, 12, 3, 1, 1, true),  // 3×3 'same', more channels than a micro-tile
        case(1, 16, 7, 7, 9, 3, 1, 0, false),   // odd output, ragged tiles in every direction
        case(3, 8, 9, 9, 13, 3, 1, 1, true),    // Winograd path: 'same', odd output, filters past a micro-tile
    ];
    let mut rng = Rng::new(seed);
    while cases.len() < 9 + random {
        let kernel = 1 + rng.below(5);
        let padding = if kernel % 2 == 1 && rng.below(2) == 0 { kernel / 2 } else { 0 };
        let size = kernel.saturating_sub(2 * padding).max(1) + rng.below(10);
        cases.push(ConvCase {
            batch: 1 + rng.below(3),
            channels: 1 + rng.below(5),
            height: size,
            width: size,
            filters: 1 + rng.below(9),
            kernel,
            stride: 1 + rng.below(3),
            padding,
            relu: rng.below(2) == 0,
        });
    }
    cases
}

fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Fails unless `got` and `want` (the reference) agree to 1e-4 of the largest magnitude in `want`.
pub fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let (worst, at) = got.iter().zip(want).enumerate().map(|(i, (g, w))| ((g - w).abs(), i)).fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    assert!(worst <= 1e-4 * scale, "{what}: element {at} is {} but the reference gives {} (scale {scale})", got[at], want[at]);
}

type Conv = fn(&Tensor, &Tensor, &Tensor, usize, usize, bool) -> candle_core::Result<Tensor>;

/// Output and gradients (input, weight, bias) of `Σ conv(x)·r`.
fn conv_run(conv: Conv, case: &ConvCase, x: &Var, w: &Var, b: &Var, r: Option<&Tensor>, rng: &mut Rng) -> [Vec<f32>; 4] {
    let y = conv(x, w, b, case.stride, case.padding, case.relu).unwrap();
    let r = r.cloned().unwrap_or_else(|| random(y.dims(), rng));
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let grad = |v: &Var| values(grads.get(v).expect("a gradient for every input"));
    [values(&y), grad(x), grad(w), grad(b)]
}

/// The custom conv and candle's agree on the output and all three gradients.
pub fn check_conv(case: &ConvCase, seed: u64) {
    let mut rng = Rng::new(seed);
    let var = |shape: &[usize], rng: &mut Rng| Var::from_tensor(&random(shape, rng)).unwrap();
    let x = var(&[case.batch, case.channels, case.height, case.width], &mut rng);
    let w = var(&[case.filters, case.channels, case.kernel, case.kernel], &mut rng);
    let b = var(&[case.filters], &mut rng);
    let want_y = reference::conv2d(&x, &w, &b, case.stride, case.padding, case.relu).unwrap();
    let r = random(want_y.dims(), &mut rng);
    let fast = conv_run(kernels::conv2d, case, &x, &w, &b, Some(&r), &mut rng);
    let want = conv_run(reference::conv2d, case, &x, &w, &b, Some(&r), &mut rng);
    for ((name, got), want) in ["output", "input gradient", "weight gradient", "bias gradient"].iter().zip(&fast).zip(&want) {
        assert_close(&format!("{case:?} {name}"), got, want);
    }
}

/// One pooling window configuration.
#[derive(Clone, Copy, Debug)]
pub struct PoolCase {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub size: usize,
    pub stride: usize,
    /// Inputs from only three values, so windows have tied maxima (as ReLU's zeros do).
    pub ties: bool,
}

pub fn pool_cases(random: usize, seed: u64) -> Vec<PoolCase> {
    let case = |batch, channels, height, width, size, stride, ties| PoolCase { batch, channels, height, width, size, stride, ties };
    let mut cases = vec![
        case(2, 32, 26, 26, 2, 2, false), // cnn pool1
        case(2, 64, 11, 11, 2, 2, false), // cnn pool2, odd size
        case(2, 8, 26, 26, 2, 2, true),   // tied maxima
        case(1, 2, 9, 7, 3, 1, false),    // overlapping windows
    ];
    let mut rng = Rng::new(seed);
    while cases.len() < 4 + random {
        let size = 1 + rng.below(4);
        let (height, width) = (size + rng.below(8), size + rng.below(8));
        cases.push(case(1 + rng.below(2), 1 + rng.below(3), height, width, size, 1 + rng.below(4), rng.below(2) == 0));
    }
    cases
}

/// The custom max-pool agrees with candle's forward pass, and its gradient routes every output
/// gradient to its window's first maximum (in row-major order), found here by brute force. candle's own backward is no
/// yardstick: it refuses stride ≠ size, and in 0.11 it scales every gradient by 1/size²
/// (it multiplies by the average of the max mask where it means to divide by its sum).
pub fn check_pool(case: &PoolCase, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut x = random(&[case.batch, case.channels, case.height, case.width], &mut rng);
    if case.ties {
        x = (x * 1.5).unwrap().round().unwrap();
    }
    let x = Var::from_tensor(&x).unwrap();
    let want_y = reference::max_pool2d(&x, case.size, case.stride).unwrap();
    let r = random(want_y.dims(), &mut rng);
    let y = kernels::max_pool2d(&x, case.size, case.stride).unwrap();
    assert_close(&format!("{case:?} output"), &values(&y), &values(&want_y));
    let got = values((&y * &r).unwrap().sum_all().unwrap().backward().unwrap().get(&x).unwrap());
    let (xs, rs) = (values(&x), values(&r));
    let (oh, ow) = (want_y.dims()[2], want_y.dims()[3]);
    let mut want = vec![0.0; xs.len()];
    for plane in 0..case.batch * case.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let window = (0..case.size * case.size).map(|i| {
                    let (y, x) = (oy * case.stride + i / case.size, ox * case.stride + i % case.size);
                    (plane * case.height + y) * case.width + x
                });
                let best = window.reduce(|best, i| if xs[i] > xs[best] { i } else { best }).unwrap();
                want[best] += rs[(plane * oh + oy) * ow + ox];
            }
        }
    }
    assert_close(&format!("{case:?} input gradient"), &got, &want);
}

/// conv → pool → strided 'same' conv on a plain (non-variable) image, as in the network: the
/// parameter gradients through the whole chain match those of candle's convolutions (both
/// chains use the custom pool, whose gradient candle gets wrong; see `check_pool`).
pub fn check_chain(seed: u64) {
    let mut rng = Rng::new(seed);
    let image = random(&[3, 1, 12, 12], &mut rng);
    let var = |shape: &[usize], rng: &mut Rng| Var::from_tensor(&random(shape, rng)).unwrap();
    let params = [var(&[4, 1, 3, 3], &mut rng), var(&[4], &mut rng), var(&[6, 4, 3, 3], &mut rng), var(&[6], &mut rng)];
    let run = |conv: Conv| {
        let a = conv(&image, &params[0], &params[1], 1, 0, true).unwrap();
        let p = kernels::max_pool2d(&a, 2, 2).unwrap();
        let y = conv(&p, &params[2], &params[3], 2, 1, false).unwrap();
        let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        (params.iter().map(|p| values(grads.get(p).unwrap())).collect::<Vec<_>>(), grads.get(&image).is_some())
    };
    let (got, image_grad) = run(kernels::conv2d);
    // candle computes a gradient for the input image too, which nobody needs; the kernel skips it.
    assert!(!image_grad, "the input image gets no gradient");
    let (want, _) = run(reference::conv2d);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_close(&format!("chain parameter {i}"), g, w);
    }
}

/// Tensors the kernels do not handle (here f64) take candle's path and give its result.
pub fn check_fallback() {
    let mut rng = Rng::new(5);
    let x = random(&[1, 2, 6, 6], &mut rng).to_dtype(DType::F64).unwrap();
    let w = random(&[3, 2, 3, 3], &mut rng).to_dtype(DType::F64).unwrap();
    let b = random(&[3], &mut rng).to_dtype(DType::F64).unwrap();
    let got = kernels::conv2d(&x, &w, &b, 1, 1, true).unwrap();
    let want = reference::conv2d(&x, &w, &b, 1, 1, true).unwrap();
    assert_eq!(got.dtype(), DType::F64);
    let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert_eq!(diff, 0.0);
}

/// The custom ReLU and candle's agree on the output and the gradient, including at exact
/// zeros (where candle lets the gradient through) and on non-contiguous input.
pub fn check_relu(seed: u64) {
    let mut rng = Rng::new(seed);
    let x = (random(&[3, 4, 5, 6], &mut rng) * 2.0).unwrap().round().unwrap();
    let x = Var::from_tensor(&(x * 0.5).unwrap()).unwrap();
    let r = random(&[3, 4, 6, 5], &mut rng);
    let run = |relu: fn(&Tensor) -> candle_core::Result<Tensor>| {
        let y = relu(&x.t().unwrap()).unwrap();
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        [values(&y), values(grads.get(&x).unwrap())]
    };
    let [got_y, got_dx] = run(kernels::relu);
    let [want_y, want_dx] = run(reference::relu);
    assert!(want_y.iter().any(|&v| v == 0.0) && want_y.iter().any(|&v| v > 0.0), "the input covers both sides of 0");
    assert_close("relu output", &got_y, &want_y);
    assert_close("relu input gradient", &got_dx, &want_dx);
}

/// The one-image dense kernel and candle's matmul agree on the output and all three gradients,
/// for a hidden layer's input (a variable) and for sizes that are not multiples of a vector.
pub fn check_linear(seed: u64) {
    let mut rng = Rng::new(seed);
    for (inputs, units) in [(1600, 128), (128, 10), (13, 7), (1, 1)] {
        let var = |shape: &[usize], rng: &mut Rng| Var::from_tensor(&random(shape, rng)).unwrap();
        let (x, w, b) = (var(&[1, inputs], &mut rng), var(&[units, inputs], &mut rng), var(&[units], &mut rng));
        let r = random(&[1, units], &mut rng);
        let run = |linear: fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor>| {
            let y = linear(&x, &w, &b).unwrap();
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            [values(&y), values(grads.get(&x).unwrap()), values(grads.get(&w).unwrap()), values(grads.get(&b).unwrap())]
        };
        let (got, want) = (run(kernels::linear), run(reference::linear));
        for ((name, got), want) in ["output", "input gradient", "weight gradient", "bias gradient"].iter().zip(&got).zip(&want) {
            assert_close(&format!("linear {inputs}→{units} {name}"), got, want);
        }
    }
}

/// A convolution run again after its weights changed in place, as an optimiser step changes
/// them, computes with the new weights: nothing derived from the old ones (the Winograd path
/// keeps transformed kernels between calls) is reused.
pub fn check_conv_after_weight_update(seed: u64) {
    let mut rng = Rng::new(seed);
    let x = random(&[1, 32, 13, 13], &mut rng);
    let w = Var::from_tensor(&random(&[64, 32, 3, 3], &mut rng)).unwrap();
    let b = random(&[64], &mut rng);
    for round in 0..3 {
        let want = values(&reference::conv2d(&x, &w, &b, 1, 0, true).unwrap());
        // Twice with the same weights: the second call may reuse what the first derived.
        for call in 0..2 {
            assert_close(&format!("weights {round}, call {call}"), &values(&kernels::conv2d(&x, &w, &b, 1, 0, true).unwrap()), &want);
        }
        w.set(&random(&[64, 32, 3, 3], &mut rng)).unwrap();
    }
}
