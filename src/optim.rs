//! Optimisers as candle `Optimizer`s that update each parameter in one pass over its values,
//! in place. candle-nn's AdamW spends about ten tensor operations per parameter per step (each
//! allocating its result and locking storage), which costs more than the arithmetic for a small
//! network: in the browser 1.4–3.3 ms of every training step. The arithmetic is candle's, step
//! for step and in the same f32 order, so the results match candle-nn's (`tests/optim.rs`).

use crate::kernels;
use candle_core::{backprop::GradStore, bail, CpuStorage, InplaceOp2, Layout, Result, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use std::cell::RefCell;

/// A parameter and the optimiser's per-value state for it.
#[derive(Debug)]
struct Slot {
    var: Var,
    /// Per value of the parameter, `k` values of state, one after another: Adam's first and
    /// second moments, SGD's velocity.
    state: Vec<f32>,
}

fn slots(vars: Vec<Var>, k: usize) -> Result<Vec<Slot>> {
    vars.into_iter()
        .filter(|var| var.dtype().is_float())
        .map(|var| {
            if var.dtype() != candle_core::DType::F32 || !var.device().is_cpu() {
                bail!("the fused optimisers update f32 parameters on the CPU, not {:?}", var.dtype())
            }
            Ok(Slot { state: vec![0.0; k * var.elem_count()], var })
        })
        .collect()
}

/// Runs `update(value, gradient, state)` over every value of every parameter that has a
/// gradient, writing the parameter in place.
fn update_all(slots: &mut [Slot], grads: &GradStore, update: impl Fn(&mut [f32], &[f32], &mut [f32])) -> Result<()> {
    for slot in slots {
        let Some(grad) = grads.get(&slot.var) else { continue };
        let op = InPlace { state: RefCell::new(&mut slot.state), update: &update };
        // Gradients through a transpose (the dense layers' weights) arrive strided.
        slot.var.as_tensor().inplace_op2(&grad.contiguous()?, &op)?;
    }
    Ok(())
}

/// The in-place candle op that hands one parameter's values and gradient to the update rule.
struct InPlace<'a, F> {
    state: RefCell<&'a mut [f32]>,
    update: &'a F,
}

impl<F: Fn(&mut [f32], &[f32], &mut [f32])> InplaceOp2 for InPlace<'_, F> {
    fn name(&self) -> &'static str {
        "digitlens-optimiser-step"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, grad: &CpuStorage, grad_l: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((from, to))) = (dst, dst_l.contiguous_offsets()) else {
            bail!("the fused optimisers need contiguous f32 parameters")
        };
        let grad = kernels::values(grad, grad_l)?;
        (self.update)(&mut values[from..to], grad, &mut self.state.borrow_mut());
        Ok(())
    }
}

/// AdamW (Adam when the weight decay is 0), as candle-nn's `AdamW`.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    step_t: usize,
    params: ParamsAdamW,
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        Ok(AdamW { slots: slots(vars, 2)?, step_t: 0, params })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        // candle-nn's constants, rounded to f32 where its tensor ops round them.
        let t = self.step_t as i32;
        let decay = (1.0 - p.lr * p.weight_decay) as f32;
        let (beta1, beta2) = (p.beta1 as f32, p.beta2 as f32);
        let (keep1, keep2) = ((1.0 - p.beta1) as f32, (1.0 - p.beta2) as f32);
        let (scale_m, scale_v) = ((1.0 / (1.0 - p.beta1.powi(t))) as f32, (1.0 / (1.0 - p.beta2.powi(t))) as f32);
        let (eps, lr) = (p.eps as f32, p.lr as f32);
        update_all(&mut self.slots, grads, |theta, grad, state| {
            let (m, v) = state.split_at_mut(theta.len());
            for (((theta, &g), m), v) in theta.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = *m * beta1 + g * keep1;
                *v = *v * beta2 + g * g * keep2;
                let adjusted = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                *theta = *theta * decay - adjusted * lr;
            }
        })
    }
}

/// The settings of `Sgd`.
#[derive(Clone, Copy, Debug)]
pub struct ParamsSgd {
    pub lr: f64,
    pub momentum: f64,
}

/// Stochastic gradient descent with (PyTorch-style) momentum:
/// `velocity = momentum·velocity + gradient; value -= lr·velocity`.
#[derive(Debug)]
pub struct Sgd {
    slots: Vec<Slot>,
    params: ParamsSgd,
}

impl Optimizer for Sgd {
    type Config = ParamsSgd;

    fn new(vars: Vec<Var>, params: ParamsSgd) -> Result<Self> {
        Ok(Sgd { slots: slots(vars, 1)?, params })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let (lr, momentum) = (self.params.lr as f32, self.params.momentum as f32);
        update_all(&mut self.slots, grads, |theta, grad, velocity| {
            for ((theta, &g), velocity) in theta.iter_mut().zip(grad).zip(velocity.iter_mut()) {
                *velocity = *velocity * momentum + g;
                *theta -= *velocity * lr;
            }
        })
    }
}
