//! Checking a stack and inferring its shapes: every layer's output shape, parameter and
//! multiply-add counts and receptive field, the memory one image needs (`memory`), and the
//! editor's error messages, the first problem found explained. Kept apart from `spec` (the
//! description alone), which `memory` reads too.

use crate::error::{Error, Result};
use crate::memory;
use crate::spec::*;

impl Architecture {
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
