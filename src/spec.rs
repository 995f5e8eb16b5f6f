//! The single description of a network: a list of layer specs. From it come the candle
//! model (see `network`), every layer's output shape, parameter and multiply-add counts,
//! receptive fields, the Keras-style summary and the editor's error messages.
//! Nothing here depends on candle, so the page can validate a stack instantly.

use crate::error::{Error, Result};
use crate::memory;
use serde::{Deserialize, Serialize};
use std::fmt;

/// MNIST images: one channel of 28×28.
pub const INPUT_SIZE: usize = 28;
pub const CLASSES: usize = 10;
/// Beyond this a model is too heavy to train in a browser tab.
pub const MAX_PARAMS: usize = 20_000_000;
/// Values one image may need in one layer (its output, or the patches a convolution gathers):
/// a batch multiplies this, and a tab's memory is a few GB.
pub const MAX_LAYER_VALUES: usize = 1 << 21;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    #[default]
    Valid,
    Same,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
}

fn one() -> usize {
    1
}

/// One layer of a stack, in the vocabulary of Keras' Sequential API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LayerSpec {
    Conv2d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        activation: Activation,
    },
    /// Max pooling; `stride` defaults to `size`, as in Keras.
    MaxPool2d {
        size: usize,
        #[serde(default)]
        stride: Option<usize>,
    },
    Relu,
    Flatten,
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
    },
    Dropout {
        rate: f32,
    },
}

impl LayerSpec {
    pub fn conv(filters: usize, kernel: usize) -> Self {
        LayerSpec::Conv2d { filters, kernel, stride: 1, padding: Padding::Valid, activation: Activation::Relu }
    }
    pub fn pool(size: usize) -> Self {
        LayerSpec::MaxPool2d { size, stride: None }
    }
    pub fn dense(units: usize, activation: Activation) -> Self {
        LayerSpec::Dense { units, activation }
    }

    /// The Keras class name (used in summaries and messages) and the prefix of the layer's
    /// name (conv1, pool2, dense1, …).
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            LayerSpec::Conv2d { .. } => ("Conv2D", "conv"),
            LayerSpec::MaxPool2d { .. } => ("MaxPool2D", "pool"),
            LayerSpec::Relu => ("ReLU", "relu"),
            LayerSpec::Flatten => ("Flatten", "flatten"),
            LayerSpec::Dense { .. } => ("Dense", "dense"),
            LayerSpec::Dropout { .. } => ("Dropout", "dropout"),
        }
    }

    /// The Keras class name, used in summaries and messages.
    pub fn kind(&self) -> &'static str {
        self.names().0
    }

    /// Prefix of the layer's name: conv1, pool2, dense1...
    fn name_prefix(&self) -> &'static str {
        self.names().1
    }
}

/// The shape of one image's activations after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Shape {
    /// channels × height × width
    Spatial { channels: usize, height: usize, width: usize },
    Flat(usize),
}

impl Shape {
    pub fn len(&self) -> usize {
        match *self {
            Shape::Spatial { channels, height, width } => channels * height * width,
            Shape::Flat(n) => n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Dimensions as a list: `[c, h, w]` or `[n]`.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Spatial { channels, height, width } => vec![channels, height, width],
            Shape::Flat(n) => vec![n],
        }
    }
    /// How Keras prints it (channels last): `(None, 26, 26, 32)`.
    pub fn keras(&self) -> String {
        match *self {
            Shape::Spatial { channels, height, width } => format!("(None, {height}, {width}, {channels})"),
            Shape::Flat(n) => format!("(None, {n})"),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Spatial { channels, height, width } => write!(f, "{channels}×{height}×{width}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// Which input pixels a cell of a spatial layer depends on: cell (i, j) sees rows
/// `start + i*jump .. start + i*jump + size` (and the same for columns), clipped to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ReceptiveField {
    pub size: usize,
    pub jump: usize,
    pub start: isize,
}

impl ReceptiveField {
    const INPUT: ReceptiveField = ReceptiveField { size: 1, jump: 1, start: 0 };

    /// The input window `[from, to)` that cell `index` (along one axis) depends on.
    pub fn window(&self, index: usize) -> (usize, usize) {
        let from = self.start + (index * self.jump) as isize;
        let to = from + self.size as isize;
        (from.max(0) as usize, (to.max(0) as usize).min(INPUT_SIZE))
    }

    fn through(self, kernel: usize, stride: usize, padding: usize) -> Self {
        ReceptiveField {
            // Kernels and strides are bounded by the checks in `analyze_layer`, but a deep enough
            // stack could still overflow (sooner with wasm's 32-bit usize): saturate, as a
            // field that large covers the whole image anyway.
            size: self.size.saturating_add((kernel - 1).saturating_mul(self.jump)),
            jump: self.jump.saturating_mul(stride),
            start: self.start.saturating_sub(padding.saturating_mul(self.jump).min(isize::MAX as usize) as isize),
        }
    }
}

/// Everything known about one layer of a valid stack.
#[derive(Clone, Debug, Serialize)]
pub struct LayerInfo {
    pub name: String,
    pub kind: &'static str,
    pub spec: LayerSpec,
    pub input: Shape,
    pub output: Shape,
    pub params: usize,
    /// Multiply-adds for one image.
    pub macs: usize,
    /// Only for layers with spatial output.
    pub receptive_field: Option<ReceptiveField>,
}

/// A named stack of layers on 1×28×28 inputs with 10 outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub name: String,
    pub layers: Vec<LayerSpec>,
}

pub const PRESETS: [&str; 3] = ["dense", "cnn", "cnn3"];

impl Architecture {
    pub fn new(name: impl Into<String>, layers: Vec<LayerSpec>) -> Self {
        Architecture { name: name.into(), layers }
    }

    /// The lecture's models: `dense` (fully connected), `cnn` (canonical), `cnn3`.
    pub fn preset(name: &str) -> Result<Self> {
        use Activation::{Linear, Relu};
        let layers = match name {
            "dense" => vec![LayerSpec::Flatten, LayerSpec::dense(128, Relu), LayerSpec::dense(CLASSES, Linear)],
            "cnn" => vec![
                LayerSpec::conv(32, 3),
                LayerSpec::pool(2),
                LayerSpec::conv(64, 3),
                LayerSpec::pool(2),
                LayerSpec::Flatten,
                LayerSpec::dense(128, Relu),
                LayerSpec::dense(CLASSES, Linear),
            ],
            "cnn3" => vec![
                LayerSpec::conv(32, 3),
                LayerSpec::pool(2),
                LayerSpec::conv(64, 3),
                LayerSpec::pool(2),
                LayerSpec::conv(64, 3),
                LayerSpec::pool(2),
                LayerSpec::Flatten,
                LayerSpec::dense(128, Relu),
                LayerSpec::dense(CLASSES, Linear),
            ],
            other => {
                return Err(Error::Stack(format!("unknown preset '{other}': choose one of {}", PRESETS.join(", "))))
            }
        };
        Ok(Architecture::new(name, layers))
    }

    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Stack(format!("cannot read the layer list: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an architecture always serialises")
    }

    /// Layer names: conv1, pool1, conv2, ..., dense2 (counted per kind).
    pub fn layer_names(&self) -> Vec<String> {
        let mut counts = std::collections::HashMap::new();
        self.layers
            .iter()
            .map(|layer| {
                let n = counts.entry(layer.name_prefix()).or_insert(0);
                *n += 1;
                format!("{}{}", layer.name_prefix(), n)
            })
            .collect()
    }

    /// Infers every layer's shape and checks the stack, explaining the first problem found.
    pub fn analyze(&self) -> Result<Vec<LayerInfo>> {
        if self.layers.is_empty() {
            return Err(Error::Stack("the model has no layers: add Flatten, then Dense(10)".into()));
        }
        let names = self.layer_names();
        let mut shape = Shape::Spatial { channels: 1, height: INPUT_SIZE, width: INPUT_SIZE };
        let mut field = ReceptiveField::INPUT;
        let mut previous = "the input image";
        let mut infos = Vec::with_capacity(self.layers.len());
        for (index, (spec, name)) in self.layers.iter().zip(names).enumerate() {
            let fail = |message: String| Error::Spec { layer: index, name: name.clone(), message };
            let (output, params, macs, receptive_field) = analyze_layer(spec, shape, field, previous).map_err(fail)?;
            field = receptive_field.unwrap_or(field);
            infos.push(LayerInfo {
                name,
                kind: spec.kind(),
                spec: spec.clone(),
                input: shape,
                output,
                params,
                macs,
                receptive_field,
            });
            shape = output;
            previous = spec.kind();
        }
        let last = infos.len() - 1;
        let output_error = |message: &str| Error::Spec { layer: last, name: infos[last].name.clone(), message: message.into() };
        match &self.layers[last] {
            LayerSpec::Dense { units, activation } => {
                if *units != CLASSES {
                    return Err(output_error(&format!(
                        "output must have 10 units for 10 digits, this one has {units}"
                    )));
                }
                if *activation != Activation::Linear {
                    return Err(output_error(
                        "the output layer must have no ReLU: its 10 scores become probabilities through softmax",
                    ));
                }
            }
            _ => {
                return Err(output_error(&format!(
                    "the last layer must be Dense(10), one score per digit, but it is {} with output {}",
                    self.layers[last].kind(),
                    infos[last].output
                )))
            }
        }
        let total: usize = infos.iter().fold(0usize, |sum, i| sum.saturating_add(i.params));
        if total > MAX_PARAMS {
            return Err(Error::Stack(format!(
                "the model has {total} parameters, more than the {MAX_PARAMS} a browser tab can train: use fewer filters or units, or pool before Flatten"
            )));
        }
        // Every layer within its limits, the whole can still be too much for even one image.
        memory::check(&infos, memory::Use::Training, 1)?;
        Ok(infos)
    }

    pub fn summary(&self) -> Result<Summary> {
        let layers = self.analyze()?;
        let total_params = layers.iter().fold(0usize, |sum, l| sum.saturating_add(l.params));
        let total_macs = layers.iter().fold(0usize, |sum, l| sum.saturating_add(l.macs));
        Ok(Summary { name: self.name.clone(), layers, total_params, total_macs })
    }
}

/// (output shape, params, multiply-adds, receptive field) of one layer.
type LayerAnalysis = (Shape, usize, usize, Option<ReceptiveField>);

fn analyze_layer(
    spec: &LayerSpec,
    input: Shape,
    field: ReceptiveField,
    previous: &str,
) -> std::result::Result<LayerAnalysis, String> {
    let spatial = |what: &str| match input {
        Shape::Spatial { channels, height, width } => Ok((channels, height, width)),
        Shape::Flat(n) => Err(format!(
            "{what} expects an image (channels×height×width) but gets a flat vector of {n} from {previous}: \
             put it before Flatten"
        )),
    };
    match *spec {
        LayerSpec::Conv2d { filters, kernel, stride, padding, .. } => {
            let (channels, height, width) = spatial("Conv2D")?;
            if filters == 0 {
                return Err("a Conv2D needs at least 1 filter".into());
            }
            if kernel == 0 || stride == 0 {
                return Err("kernel size and stride must be at least 1".into());
            }
            let pad = match padding {
                Padding::Valid => 0,
                Padding::Same if kernel % 2 == 1 => kernel / 2,
                Padding::Same => return Err(format!("'same' padding needs an odd kernel (3, 5, 7), not {kernel}×{kernel}")),
            };
            // The part of the kernel padding does not absorb (1 for 'same'); no sum can overflow.
            let unpadded = kernel - 2 * pad;
            if unpadded > height.min(width) {
                return Err(format!(
                    "kernel {kernel}×{kernel} is larger than its {height}×{width} input: use a smaller kernel, \
                     'same' padding, or fewer pooling layers before it"
                ));
            }
            check_stride(stride, height, width)?;
            let out_h = (height - unpadded) / stride + 1;
            let out_w = (width - unpadded) / stride + 1;
            let patch = product(&[kernel, kernel, channels]);
            let params = patch.and_then(|p| p.checked_mul(filters)?.checked_add(filters));
            let macs = patch.and_then(|p| p.checked_mul(out_h * out_w)?.checked_mul(filters));
            let output = product(&[filters, out_h, out_w]);
            let patches = patch.and_then(|p| p.checked_mul(out_h * out_w));
            let (Some(params), Some(macs)) = (params, macs) else {
                return Err(format!("{filters} filters of {kernel}×{kernel} are impossibly many weights: use fewer filters or a smaller kernel"));
            };
            check_values(output.zip(patches).map(|(o, p)| o.max(p)))?;
            let shape = Shape::Spatial { channels: filters, height: out_h, width: out_w };
            Ok((shape, params, macs, Some(field.through(kernel, stride, pad))))
        }
        LayerSpec::MaxPool2d { size, stride } => {
            let (channels, height, width) = spatial("MaxPool2D")?;
            let stride = stride.unwrap_or(size);
            if size == 0 || stride == 0 {
                return Err("pool size and stride must be at least 1".into());
            }
            if size > height.min(width) {
                return Err(format!(
                    "pool size {size}×{size} is larger than its {height}×{width} input: remove this pooling layer \
                     or one before it"
                ));
            }
            check_stride(stride, height, width)?;
            let shape = Shape::Spatial {
                channels,
                height: (height - size) / stride + 1,
                width: (width - size) / stride + 1,
            };
            Ok((shape, 0, 0, Some(field.through(size, stride, 0))))
        }
        LayerSpec::Relu => Ok((input, 0, 0, matches!(input, Shape::Spatial { .. }).then_some(field))),
        LayerSpec::Dropout { rate } => {
            if !(0.0..=0.95).contains(&rate) {
                return Err(format!("dropout rate must be between 0 and 0.95, not {rate}"));
            }
            Ok((input, 0, 0, matches!(input, Shape::Spatial { .. }).then_some(field)))
        }
        LayerSpec::Flatten => Ok((Shape::Flat(input.len()), 0, 0, None)),
        LayerSpec::Dense { units, .. } => {
            let n = match input {
                Shape::Flat(n) => n,
                spatial => {
                    return Err(format!(
                        "Dense expects a flat vector but gets {spatial} from {previous}: add Flatten before it"
                    ))
                }
            };
            if units == 0 {
                return Err("a Dense layer needs at least 1 unit".into());
            }
            check_values(Some(units))?;
            let Some(macs) = n.checked_mul(units).filter(|m| m.checked_add(units).is_some()) else {
                return Err(format!("{units} units on {n} inputs are impossibly many weights: use fewer units"));
            };
            Ok((Shape::Flat(units), macs + units, macs, None))
        }
    }
}

/// The product of `factors`, or `None` when it overflows.
fn product(factors: &[usize]) -> Option<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// A stride beyond the input is meaningless (one output cell either way) and would make
/// receptive-field arithmetic explode.
fn check_stride(stride: usize, height: usize, width: usize) -> std::result::Result<(), String> {
    if stride > height.min(width) {
        return Err(format!("stride {stride} is larger than its {height}×{width} input: use a stride of at most {}", height.min(width)));
    }
    Ok(())
}

/// Refuses a layer whose values for one image (`None`: beyond counting) exceed `MAX_LAYER_VALUES`.
fn check_values(values: Option<usize>) -> std::result::Result<(), String> {
    match values {
        Some(n) if n <= MAX_LAYER_VALUES => Ok(()),
        _ => Err(format!(
            "this layer needs {} values per image, more than the {} a browser tab can hold for a batch: \
             use fewer filters or units, a larger stride, or pool before it",
            values.map_or("uncountably many".into(), group_digits),
            group_digits(MAX_LAYER_VALUES)
        )),
    }
}

/// The Keras `model.summary()` of a stack, plus receptive fields and multiply-adds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub layers: Vec<LayerInfo>,
    pub total_params: usize,
    pub total_macs: usize,
}

impl Summary {
    /// Size of the f32 weights.
    pub fn weight_bytes(&self) -> usize {
        self.total_params * 4
    }
}

/// Thousands separators, as Keras prints parameter counts.
pub fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Model: \"{}\"", self.name)?;
        let rule = "─".repeat(96);
        writeln!(f, "{rule}")?;
        writeln!(f, "{:<24}{:<22}{:>10}{:>18}{:>16}", "Layer (type)", "Output Shape", "Param #", "Receptive field", "Mult-adds")?;
        writeln!(f, "{rule}")?;
        for layer in &self.layers {
            let field = layer.receptive_field.map(|r| format!("{0}×{0}", r.size)).unwrap_or_default();
            writeln!(
                f,
                "{:<24}{:<22}{:>10}{:>18}{:>16}",
                format!("{} ({})", layer.name, layer.kind),
                layer.output.keras(),
                group_digits(layer.params),
                field,
                group_digits(layer.macs)
            )?;
        }
        writeln!(f, "{rule}")?;
        writeln!(f, "Total params: {} ({:.2} KB)", group_digits(self.total_params), self.weight_bytes() as f64 / 1024.0)?;
        write!(f, "Mult-adds per image: {}", group_digits(self.total_macs))
    }
}
