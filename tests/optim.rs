//! The fused optimisers (src/optim.rs) against candle-nn's AdamW and the tensor-op form of SGD
//! with momentum: the same parameters after several steps on the same losses, including a
//! weight whose gradient arrives through a transpose (as the dense layers' do) and a parameter
//! without a gradient (left alone).
#![cfg(not(target_arch = "wasm32"))]

use candle_core::{backprop::GradStore, Device, Result, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use digitlens::optim::{AdamW, ParamsSgd, Sgd};
use digitlens::rng::Rng;

fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// A weight, a bias and an unused parameter, each set made from the same seed.
fn parameters(seed: u64) -> Vec<Var> {
    let mut rng = Rng::new(seed);
    [&[5, 7][..], &[5], &[3]].iter().map(|s| Var::from_tensor(&random(s, &mut rng)).unwrap()).collect()
}

/// Gradients of a loss that reads the weight through a transpose; the third parameter is unused.
fn gradients(vars: &[Var], step: u64) -> GradStore {
    let x = random(&[4, 7], &mut Rng::new(100 + step));
    let y = x.matmul(&vars[0].t().unwrap()).unwrap().broadcast_add(&vars[1]).unwrap();
    y.sqr().unwrap().sum_all().unwrap().backward().unwrap()
}

fn values(vars: &[Var]) -> Vec<Vec<f32>> {
    vars.iter().map(|v| v.flatten_all().unwrap().to_vec1().unwrap()).collect()
}

/// Runs `steps` steps of `a` and `b` on their own copies of the same parameters, changing the
/// learning rate as the cosine schedule does, and checks the parameters stay equal.
fn compare<A: Optimizer, B: Optimizer>(make_a: impl Fn(Vec<Var>) -> Result<A>, make_b: impl Fn(Vec<Var>) -> Result<B>) {
    let (ours, theirs) = (parameters(1), parameters(1));
    let start = values(&ours);
    let mut a = make_a(ours.clone()).unwrap();
    let mut b = make_b(theirs.clone()).unwrap();
    for step in 0..6 {
        let lr = 0.01 / (1 + step) as f64;
        a.set_learning_rate(lr);
        b.set_learning_rate(lr);
        a.step(&gradients(&ours, step)).unwrap();
        b.step(&gradients(&theirs, step)).unwrap();
        for (i, (got, want)) in values(&ours).iter().zip(values(&theirs)).enumerate() {
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "step {step}, parameter {i}: {g} vs {w}");
            }
        }
    }
    let end = values(&ours);
    assert_ne!(start[0], end[0], "the weight moved");
    assert_eq!(start[2], end[2], "a parameter without a gradient stays as it is");
}

#[test]
fn adam_and_adamw_match_candle_nn() {
    for weight_decay in [0.0, 0.01] {
        let params = ParamsAdamW { lr: 0.01, weight_decay, ..Default::default() };
        compare(|vars| AdamW::new(vars, params.clone()), |vars| candle_nn::AdamW::new(vars, params.clone()));
    }
}

/// SGD with momentum as tensor operations (what the trainer ran before the fused version).
struct TensorSgd {
    vars: Vec<Var>,
    velocity: Vec<Tensor>,
    params: ParamsSgd,
}

impl Optimizer for TensorSgd {
    type Config = ParamsSgd;

    fn new(vars: Vec<Var>, params: ParamsSgd) -> Result<Self> {
        let velocity = vars.iter().map(|v| v.zeros_like()).collect::<Result<_>>()?;
        Ok(TensorSgd { vars, velocity, params })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        for (var, v) in self.vars.iter().zip(self.velocity.iter_mut()) {
            if let Some(g) = grads.get(var) {
                *v = ((&*v * self.params.momentum)? + g)?;
                var.set(&(var.as_tensor() - (&*v * self.params.lr)?)?)?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }
}

#[test]
fn sgd_with_momentum_matches_the_tensor_formulation() {
    let params = ParamsSgd { lr: 0.01, momentum: 0.9 };
    compare(|vars| Sgd::new(vars, params), |vars| TensorSgd::new(vars, params));
}
