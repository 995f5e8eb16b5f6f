//! The single description of a network: a list of layer specs. From it come the candle
//! model (see `network`), and, through `analysis`, every layer's output shape, parameter and
//! multiply-add counts, receptive fields, the Keras-style summary and the editor's error
//! messages. Nothing here depends on candle, so the page can validate a stack instantly.

use crate::error::{Error, Result};
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
    pub(crate) const INPUT: ReceptiveField = ReceptiveField { size: 1, jump: 1, start: 0 };

    /// The input window `[from, to)` that cell `index` (along one axis) depends on.
    pub fn window(&self, index: usize) -> (usize, usize) {
        let from = self.start + (index * self.jump) as isize;
        let to = from + self.size as isize;
        (from.max(0) as usize, (to.max(0) as usize).min(INPUT_SIZE))
    }

    pub(crate) fn through(self, kernel: usize, stride: usize, padding: usize) -> Self {
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
