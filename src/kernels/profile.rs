//! Where a training step of the canonical `cnn` spends its time: forward and backward of every
//! stage for one batch, with the custom kernels and with candle's built-in ops side by side,
//! plus the loss and the optimiser. Used by `digitlens bench` and the browser benchmark
//! (`profileOps`), so the same numbers exist natively and in wasm.

use super::{conv2d, linear, max_pool2d, reference, relu};
use crate::rng::Rng;
use candle_core::{Result, Tensor, Var};
use candle_nn::Optimizer;
use serde::Serialize;

const BATCH: usize = 64;

/// The median time of one pass of one stage.
#[derive(Clone, Debug, Serialize)]
pub struct OpTiming {
    /// `conv1`, `pool1`, ..., `loss`, `adam`.
    pub op: &'static str,
    /// `forward`, `backward`, or `step` (the optimiser).
    pub pass: &'static str,
    /// `network` (what the network runs) or `candle` (candle's built-in ops, where the network
    /// runs a custom kernel instead).
    pub implementation: &'static str,
    pub ms: f64,
}

fn random(shape: &[usize], scale: f32, rng: &mut Rng) -> Result<Tensor> {
    let values = (0..shape.iter().product()).map(|_| (rng.uniform() * 2.0 - 1.0) * scale).collect();
    Tensor::from_vec(values, shape, &crate::network::device())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `stage` on `input`: forward alone, and the backward pass of `Σ stage(input)` (which
/// adds candle's zero-fill and add of the output gradient, as every node of a real graph has).
fn time_stage(now: &dyn Fn() -> f64, repeats: usize, input: &Tensor, stage: impl Fn(&Tensor) -> Result<Tensor>) -> Result<(f64, f64)> {
    let (mut forward, mut backward) = (Vec::new(), Vec::new());
    // Two unmeasured rounds: wasm engines run a function's first calls unoptimised.
    for round in 0..repeats + 2 {
        let start = now();
        let output = stage(input)?;
        let forward_ms = now() - start;
        let loss = output.sum_all()?;
        let start = now();
        loss.backward()?;
        if round >= 2 {
            forward.push(forward_ms);
            backward.push(now() - start);
        }
    }
    Ok((median(forward), median(backward)))
}

/// Forward and backward times of every stage of `cnn` on a batch of 64, `repeats` times each.
pub fn profile(repeats: usize, now: &dyn Fn() -> f64) -> Result<Vec<OpTiming>> {
    let mut rng = Rng::new(11);
    let mut out = Vec::new();
    let mut record = |op, implementation, (forward, backward): (f64, f64)| {
        out.push(OpTiming { op, pass: "forward", implementation, ms: forward });
        out.push(OpTiming { op, pass: "backward", implementation, ms: backward });
    };
    // The network's input needs no gradient; every later stage's input does.
    let image = random(&[BATCH, 1, 28, 28], 1.0, &mut rng)?;
    let var = |shape: &[usize], rng: &mut Rng| -> Result<Tensor> { Ok(Var::from_tensor(&random(shape, 0.5, rng)?)?.as_tensor().clone()) };
    let (w1, b1) = (var(&[32, 1, 3, 3], &mut rng)?, var(&[32], &mut rng)?);
    let (w2, b2) = (var(&[64, 32, 3, 3], &mut rng)?, var(&[64], &mut rng)?);
    let conv1_out = var(&[BATCH, 32, 26, 26], &mut rng)?;
    let pool1_out = var(&[BATCH, 32, 13, 13], &mut rng)?;
    let conv2_out = var(&[BATCH, 64, 11, 11], &mut rng)?;
    type Conv = fn(&Tensor, &Tensor, &Tensor, usize, usize, bool) -> Result<Tensor>;
    type Pool = fn(&Tensor, usize, usize) -> Result<Tensor>;
    let implementations: [(&str, Conv, Pool); 2] =
        [("network", conv2d, max_pool2d), ("candle", reference::conv2d, reference::max_pool2d)];
    for (name, conv, pool) in implementations {
        record("conv1", name, time_stage(now, repeats, &image, |x| conv(x, &w1, &b1, 1, 0, true))?);
        record("pool1", name, time_stage(now, repeats, &conv1_out, |x| pool(x, 2, 2))?);
        record("conv2", name, time_stage(now, repeats, &pool1_out, |x| conv(x, &w2, &b2, 1, 0, true))?);
        record("pool2", name, time_stage(now, repeats, &conv2_out, |x| pool(x, 2, 2))?);
    }
    // Dense layers and loss: candle's, in the network too.
    let (w3, b3) = (var(&[128, 1600], &mut rng)?, var(&[128], &mut rng)?);
    let (w4, b4) = (var(&[10, 128], &mut rng)?, var(&[10], &mut rng)?);
    let flat = var(&[BATCH, 1600], &mut rng)?;
    let hidden = var(&[BATCH, 128], &mut rng)?;
    record("dense1", "network", time_stage(now, repeats, &flat, |x| relu(&linear(x, &w3, &b3)?))?);
    record("dense2", "network", time_stage(now, repeats, &hidden, |x| linear(x, &w4, &b4))?);
    let labels = Tensor::from_vec((0..BATCH as u32).map(|i| i % 10).collect::<Vec<_>>(), BATCH, &crate::network::device())?;
    let logits = var(&[BATCH, 10], &mut rng)?;
    let loss = |x: &Tensor| candle_nn::loss::cross_entropy(x, &labels)?.reshape(1);
    record("loss", "network", time_stage(now, repeats, &logits, loss)?);
    let params = candle_nn::ParamsAdamW { weight_decay: 0.0, ..Default::default() };
    let adam = time_optimizer(now, repeats, &mut rng, |vars| crate::optim::AdamW::new(vars, params.clone()))?;
    out.push(OpTiming { op: "adam", pass: "step", implementation: "network", ms: adam });
    let adam = time_optimizer(now, repeats, &mut rng, |vars| candle_nn::AdamW::new(vars, params.clone()))?;
    out.push(OpTiming { op: "adam", pass: "step", implementation: "candle", ms: adam });
    Ok(out)
}

/// One optimiser step over parameters shaped like `cnn`'s (225,034 values).
fn time_optimizer<O: Optimizer>(now: &dyn Fn() -> f64, repeats: usize, rng: &mut Rng, make: impl Fn(Vec<Var>) -> Result<O>) -> Result<f64> {
    let shapes: [&[usize]; 8] = [&[32, 1, 3, 3], &[32], &[64, 32, 3, 3], &[64], &[128, 1600], &[128], &[10, 128], &[10]];
    let vars = shapes.iter().map(|s| Var::from_tensor(&random(s, 0.5, rng)?)).collect::<Result<Vec<_>>>()?;
    let loss = vars.iter().map(|v| v.sqr()?.sum_all()).reduce(|a, b| a? + b?).expect("eight parameters")?;
    let grads = loss.backward()?;
    let mut optimizer = make(vars)?;
    let mut times = Vec::new();
    for round in 0..repeats + 2 {
        let start = now();
        optimizer.step(&grads)?;
        if round >= 2 {
            times.push(now() - start);
        }
    }
    Ok(median(times))
}

/// `profileOps(now)`: the profile as `[{op, pass, implementation, ms}]`; `now` is a clock in ms
/// (`() => performance.now()`), since `std::time::Instant` does not exist on wasm32.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = profileOps)]
pub fn profile_ops(now: &js_sys::Function) -> std::result::Result<wasm_bindgen::JsValue, wasm_bindgen::JsError> {
    let clock = || now.call0(&wasm_bindgen::JsValue::NULL).ok().and_then(|t| t.as_f64()).unwrap_or(f64::NAN);
    let timings = profile(5, &clock).map_err(|e| wasm_bindgen::JsError::new(&e.to_string()))?;
    crate::web::to_js(&timings)
}
