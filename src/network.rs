//! The candle model built from an `Architecture`: parameters, forward pass with per-layer taps.

use crate::data::{normalize, PIXELS};
use crate::error::{Error, Result};
use crate::kernels;
use crate::parallel::Dropout;
use crate::rng::Rng;
use crate::spec::{Activation, Architecture, LayerInfo, LayerSpec, Padding, Shape, INPUT_SIZE};
use candle_core::{DType, Device, Tensor, Var, D};
use std::ops::Range;

/// One layer's output for a batch, kept for the activation maps.
#[derive(Debug)]
pub struct Tap {
    /// `conv1`, `conv1.relu`, `pool1`, `dense1`, ...
    pub name: String,
    pub shape: Shape,
    pub values: Tensor,
}

#[derive(Debug)]
enum Op {
    Conv { weight: Var, bias: Var, stride: usize, padding: usize, relu: bool },
    Pool { size: usize, stride: usize },
    Relu,
    Flatten,
    Dense { weight: Var, bias: Var, relu: bool },
    Dropout { rate: f32 },
}

/// Whether a pass records gradients for the weights (training) or treats them as constants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Weights {
    Trainable,
    Constant,
}

impl Weights {
    /// A parameter as the pass uses it: detached from the graph when it is a constant (a cheap
    /// copy: the tensors share their storage).
    fn get(self, var: &Var) -> Tensor {
        match self {
            Weights::Trainable => var.as_tensor().clone(),
            Weights::Constant => var.as_detached_tensor(),
        }
    }
}

/// A trainable network. One type serves the CLI, the wasm API and the tests.
#[derive(Debug)]
pub struct Network {
    architecture: Architecture,
    info: Vec<LayerInfo>,
    ops: Vec<Op>,
}

pub fn device() -> Device {
    Device::Cpu
}

/// Glorot-uniform weights (Keras' default), so a fresh model matches what the lecture trains.
fn glorot(shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Result<Var> {
    let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
    let count = shape.iter().product();
    let values: Vec<f32> = (0..count).map(|_| (rng.uniform() * 2.0 - 1.0) * limit).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(values, shape, &device())?)?)
}

fn zeros(n: usize) -> Result<Var> {
    Ok(Var::zeros(n, DType::F32, &device())?)
}

impl Network {
    /// A freshly initialised network; the same seed gives the same weights everywhere.
    pub fn new(architecture: &Architecture, seed: u64) -> Result<Self> {
        let info = architecture.analyze()?;
        let mut rng = Rng::new(seed);
        let ops = info
            .iter()
            .map(|layer| {
                Ok(match layer.spec {
                    LayerSpec::Conv2d { filters, kernel, stride, padding, activation } => {
                        let channels = layer.input.dims()[0];
                        Op::Conv {
                            weight: glorot(
                                &[filters, channels, kernel, kernel],
                                channels * kernel * kernel,
                                filters * kernel * kernel,
                                &mut rng,
                            )?,
                            bias: zeros(filters)?,
                            stride,
                            padding: if padding == Padding::Same { kernel / 2 } else { 0 },
                            relu: activation == Activation::Relu,
                        }
                    }
                    LayerSpec::MaxPool2d { size, stride } => Op::Pool { size, stride: stride.unwrap_or(size) },
                    LayerSpec::Relu => Op::Relu,
                    LayerSpec::Flatten => Op::Flatten,
                    LayerSpec::Dense { units, activation } => {
                        let inputs = layer.input.len();
                        Op::Dense {
                            weight: glorot(&[units, inputs], inputs, units, &mut rng)?,
                            bias: zeros(units)?,
                            relu: activation == Activation::Relu,
                        }
                    }
                    LayerSpec::Dropout { rate } => Op::Dropout { rate },
                })
            })
            .collect::<Result<_>>()?;
        Ok(Network { architecture: architecture.clone(), info, ops })
    }

    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    pub fn layers(&self) -> &[LayerInfo] {
        &self.info
    }

    /// Every parameter with its file name (`conv1.weight`, `conv1.bias`, ...), in layer order.
    pub fn parameters(&self) -> Vec<(String, &Var)> {
        self.ops
            .iter()
            .zip(&self.info)
            .flat_map(|(op, layer)| match op {
                Op::Conv { weight, bias, .. } | Op::Dense { weight, bias, .. } => {
                    vec![(format!("{}.weight", layer.name), weight), (format!("{}.bias", layer.name), bias)]
                }
                _ => vec![],
            })
            .collect()
    }

    pub fn vars(&self) -> Vec<Var> {
        self.parameters().into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// A deep copy of every parameter, to restore later (restore-best, divergence).
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.parameters().iter().map(|(_, v)| Ok(v.as_tensor().copy()?)).collect()
    }

    pub fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        for ((_, var), value) in self.parameters().iter().zip(snapshot) {
            var.set(value)?;
        }
        Ok(())
    }

    /// Normalised N×1×28×28 input from pixels in 0..1 (N×784 values).
    pub fn input(pixels01: &[f32]) -> Result<Tensor> {
        Self::input_normalized(normalize(pixels01))
    }

    /// N×1×28×28 input from already normalised values (see `data::normalize`).
    pub fn input_normalized(values: Vec<f32>) -> Result<Tensor> {
        if values.is_empty() || values.len() % PIXELS != 0 {
            return Err(Error::Image(format!("{} values is not a whole number of 28×28 images", values.len())));
        }
        let n = values.len() / PIXELS;
        Ok(Tensor::from_vec(values, (n, 1, INPUT_SIZE, INPUT_SIZE), &device())?)
    }

    /// Logits (N×10). `dropout` gives the training-time masks; `None` means inference.
    pub fn forward(&self, input: &Tensor, dropout: Option<Dropout>) -> Result<Tensor> {
        self.run(input, 0..self.ops.len(), Weights::Trainable, dropout, None, 0.0)
    }

    /// Layers `layers` only (inference), with the weights held constant: a backward pass from
    /// the result reaches the input (and whatever it came from) without computing gradients for
    /// the weights. Attribution (`crate::explain`) splits the network this way at a layer.
    pub fn forward_layers(&self, input: &Tensor, layers: Range<usize>) -> Result<Tensor> {
        if layers.start > layers.end || layers.end > self.ops.len() {
            return Err(Error::Stack(format!("no layers {layers:?} in a stack of {}", self.ops.len())));
        }
        self.run(input, layers, Weights::Constant, None, None, 0.0)
    }

    /// How many values `forward_with_taps` taps for one image, all layers together.
    pub fn tapped_values(&self) -> usize {
        let taps = |op: &Op| match op {
            Op::Conv { relu, .. } => 1 + *relu as usize,
            Op::Pool { .. } | Op::Relu | Op::Dense { .. } => 1,
            Op::Flatten | Op::Dropout { .. } => 0,
        };
        self.ops.iter().zip(&self.info).map(|(op, layer)| taps(op) * layer.output.len()).sum()
    }

    /// Logits plus the output of every layer worth looking at (inference mode).
    pub fn forward_with_taps(&self, input: &Tensor) -> Result<(Tensor, Vec<Tap>)> {
        let mut taps = Vec::new();
        let logits = self.run(input, 0..self.ops.len(), Weights::Trainable, None, Some(&mut taps), 0.0)?;
        Ok((logits, taps))
    }

    /// The taps of an inference pass (values as `forward_with_taps` gives them) whose ReLUs
    /// pass `leak` times the gradient where they are closed: gradient ascent on the input
    /// (`crate::visualize`) needs a way out of units a grey start leaves at zero.
    pub fn taps_with_leaky_relu(&self, input: &Tensor, leak: f64) -> Result<Vec<Tap>> {
        let mut taps = Vec::new();
        self.run(input, 0..self.ops.len(), Weights::Constant, None, Some(&mut taps), leak)?;
        Ok(taps)
    }

    /// Layers `layers` of the network; `leak`: see `taps_with_leaky_relu` (0 for a plain ReLU).
    fn run(
        &self,
        input: &Tensor,
        layers: Range<usize>,
        weights: Weights,
        dropout: Option<Dropout>,
        mut taps: Option<&mut Vec<Tap>>,
        leak: f64,
    ) -> Result<Tensor> {
        let mut x = input.clone();
        let with_taps = taps.is_some();
        // `z − detach(z)` is exactly zero, so the values stay those of a plain ReLU.
        let rectify = |z: &Tensor| -> Result<Tensor> {
            let y = kernels::relu(z)?;
            Ok(if leak > 0.0 { (y + ((z - z.detach())? * leak)?)? } else { y })
        };
        for (op, layer) in self.ops[layers.clone()].iter().zip(&self.info[layers]) {
            let mut tap = |suffix: &str, values: &Tensor| {
                if let Some(taps) = taps.as_deref_mut() {
                    taps.push(Tap { name: format!("{}{suffix}", layer.name), shape: layer.output, values: values.clone() });
                }
            };
            x = match op {
                // Taps want the pre-activation too; otherwise the ReLU is fused into the conv.
                Op::Conv { weight, bias, stride, padding, relu } if with_taps => {
                    let z = kernels::conv2d(&x, &weights.get(weight), &weights.get(bias), *stride, *padding, false)?;
                    tap("", &z);
                    if *relu {
                        let a = rectify(&z)?;
                        tap(".relu", &a);
                        a
                    } else {
                        z
                    }
                }
                Op::Conv { weight, bias, stride, padding, relu } => {
                    kernels::conv2d(&x, &weights.get(weight), &weights.get(bias), *stride, *padding, *relu)?
                }
                Op::Pool { size, stride } => {
                    let y = kernels::max_pool2d(&x, *size, *stride)?;
                    tap("", &y);
                    y
                }
                Op::Relu => {
                    let y = rectify(&x)?;
                    tap("", &y);
                    y
                }
                Op::Flatten => x.flatten_from(1)?,
                Op::Dense { weight, bias, relu } => {
                    let z = kernels::linear(&x, &weights.get(weight), &weights.get(bias))?;
                    let y = if *relu { rectify(&z)? } else { z };
                    tap("", &y);
                    y
                }
                Op::Dropout { rate } => match dropout {
                    Some(dropout) if *rate > 0.0 => {
                        let keep = 1.0 - rate;
                        let per_image = x.elem_count() / x.dim(0)?.max(1);
                        // Each image's mask from its own seed: a shard of the batch draws the
                        // same masks as the whole batch would (see `parallel`).
                        let mut mask = Vec::with_capacity(x.elem_count());
                        for image in 0..x.dim(0)? {
                            let mut rng = dropout.rng(dropout.first + image);
                            mask.extend((0..per_image).map(|_| if rng.uniform() < keep { 1.0 / keep } else { 0.0 }));
                        }
                        (&x * Tensor::from_vec(mask, x.shape(), &device())?)?
                    }
                    _ => x,
                },
            };
        }
        Ok(x)
    }

    /// Class probabilities (N×10) for normalised input.
    pub fn probabilities(&self, input: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.forward(input, None)?, D::Minus1)?)
    }

    /// Conv kernels of layer `name` as (filters, channels, k, k) values.
    pub fn kernels(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (op, _) = self
            .ops
            .iter()
            .zip(&self.info)
            .find(|(_, l)| l.name == name)
            .ok_or_else(|| Error::Stack(format!("no layer named {name}")))?;
        match op {
            Op::Conv { weight, .. } => Ok((weight.dims().to_vec(), weight.flatten_all()?.to_vec1()?)),
            _ => Err(Error::Stack(format!("{name} is not a convolution: it has no kernels to show"))),
        }
    }
}

/// Mean cross-entropy of logits (N×10) against labels.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(logits, labels)?)
}

/// Index of the largest value in each row of an N×10 tensor.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    Ok(logits.argmax(D::Minus1)?.to_vec1()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_gives_logits_and_taps_with_the_analyzed_shapes() {
        let arch = Architecture::preset("cnn").unwrap();
        let net = Network::new(&arch, 1).unwrap();
        let input = Network::input(&vec![0.5; 2 * PIXELS]).unwrap();
        let (logits, taps) = net.forward_with_taps(&input).unwrap();
        assert_eq!(logits.dims(), &[2, 10]);
        let names: Vec<&str> = taps.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv1.relu", "pool1", "conv2", "conv2.relu", "pool2", "dense1", "dense2"]);
        assert_eq!(net.tapped_values(), taps.iter().map(|t| t.values.elem_count() / 2).sum::<usize>());
        for tap in &taps {
            let mut expected = vec![2];
            expected.extend(tap.shape.dims());
            assert_eq!(tap.values.dims(), &expected[..], "{}", tap.name);
        }
        let params: usize = net.parameters().iter().map(|(_, v)| v.elem_count()).sum();
        assert_eq!(params, 225_034);
    }

    #[test]
    fn tapped_values_counts_what_forward_taps() {
        let linear_conv = r#"{"name":"x","layers":[{"type":"conv2d","filters":4,"kernel":3},{"type":"relu"},
            {"type":"dropout","rate":0.5},{"type":"flatten"},{"type":"dense","units":10}]}"#;
        for arch in [Architecture::preset("cnn3").unwrap(), Architecture::from_json(linear_conv).unwrap()] {
            let net = Network::new(&arch, 1).unwrap();
            let (_, taps) = net.forward_with_taps(&Network::input(&[0.5; PIXELS]).unwrap()).unwrap();
            assert_eq!(net.tapped_values(), taps.iter().map(|t| t.values.elem_count()).sum::<usize>(), "{}", arch.name);
        }
    }

    #[test]
    fn same_seed_same_weights_and_snapshot_restores() {
        let arch = Architecture::preset("dense").unwrap();
        let a = Network::new(&arch, 5).unwrap();
        let b = Network::new(&arch, 5).unwrap();
        let c = Network::new(&arch, 6).unwrap();
        let first = |n: &Network| n.parameters()[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a), first(&c));
        let saved = a.snapshot().unwrap();
        a.restore(&c.snapshot().unwrap()).unwrap();
        assert_eq!(first(&a), first(&c));
        a.restore(&saved).unwrap();
        assert_eq!(first(&a), first(&b));
    }
}
