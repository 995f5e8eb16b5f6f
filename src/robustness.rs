//! The robustness report: how well a model reads digits that do not look like MNIST's. Each
//! test digit is transformed (thicker, thinner, turned, resized, off-centre, low-resolution,
//! blurred, on dark paper), drawn into the pad's 280×280 RGBA image and read through the
//! page's own preprocessing, exactly as a drawing would be; a second, independent collection
//! of handwritten digits is read the same way.

use crate::augment::{blur, dilate, erode, low_resolution};
use crate::data::{normalize, PIXELS};
use crate::error::{Error, Result};
use crate::network::{argmax_rows, Network};
use crate::preprocess::{preprocess_rgba_with, Steps};
use crate::spec::{CLASSES, INPUT_SIZE};
use serde::Serialize;

/// The drawing pad's side in pixels.
pub const PAD: usize = 280;
/// How much of the pad a digit's box fills when drawn at its normal size: MNIST's 20-pixel box
/// in its 28-pixel frame, as the pad shows a 28×28 image.
const DIGIT_FRACTION: f32 = 20.0 / 28.0;
/// The other collection's name in the report.
pub const OPTDIGITS: &str = "optdigits (UCI, 8×8)";
/// Images read per forward pass.
const CHUNK: usize = 50;

/// What is done to a digit before it is drawn into the pad.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Transformation {
    Clean,
    /// Strokes a pixel (at 28×28) thicker on every side: a marker.
    Thick,
    /// Strokes a pixel thinner: a fine pen.
    Thin,
    Rotated { degrees: f32 },
    /// Drawn this many times its normal size, centred.
    Scaled { factor: f32 },
    /// Moved so that its ink touches the pad's top-left corner.
    Corner,
    /// From a source where the digit was `side` pixels high, smoothly scaled up.
    Source { side: usize },
    /// A blur of about a pixel (at 28×28).
    Blur,
    /// Light ink on dark paper.
    Inverted,
}

/// The report's transformations with their names, in the report's order.
pub fn transformations() -> Vec<(&'static str, Transformation)> {
    use Transformation::*;
    vec![
        ("clean", Clean),
        ("thick", Thick),
        ("thin", Thin),
        ("rotated +20°", Rotated { degrees: 20.0 }),
        ("rotated −20°", Rotated { degrees: -20.0 }),
        ("scaled 0.6", Scaled { factor: 0.6 }),
        ("scaled 1.3", Scaled { factor: 1.3 }),
        ("shifted to a corner", Corner),
        ("8×8 source", Source { side: 8 }),
        ("16×16 source", Source { side: 16 }),
        ("blur", Blur),
        ("inverted paper", Inverted),
    ]
}

/// Labelled square grey images (0 = paper, 255 = ink) of any side, whose digits fill a box of
/// `digit_side` pixels: MNIST's 28×28 images with 20-pixel digits, or another collection's.
#[derive(Clone, Debug)]
pub struct Collection {
    pub side: usize,
    pub digit_side: usize,
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Collection {
    /// A collection from an IDX image file (N×side×side) and its labels (gzipped or not).
    pub fn from_idx(images: &[u8], labels: &[u8], digit_side: usize) -> Result<Self> {
        let (dims, images) = crate::data::read_idx(images)?;
        let (label_dims, labels) = crate::data::read_idx(labels)?;
        if dims.len() != 3 || dims[1] != dims[2] || dims[1] == 0 || dims[1] > INPUT_SIZE * 4 {
            return Err(Error::Idx(format!("images must be N×S×S with S up to 112, this file is {dims:?}")));
        }
        if label_dims != [dims[0]] {
            return Err(Error::Idx(format!("{} images but labels {label_dims:?}", dims[0])));
        }
        if labels.iter().any(|&l| l as usize >= CLASSES) {
            return Err(Error::Idx("labels must be digits 0-9".into()));
        }
        Ok(Collection { side: dims[1], digit_side: digit_side.clamp(1, dims[1]), images, labels })
    }

    /// UCI's optdigits (as scikit-learn bundles them): 8×8 images whose digit fills the frame.
    pub fn optdigits(images: &[u8], labels: &[u8]) -> Result<Self> {
        Collection::from_idx(images, labels, 8)
    }

    /// MNIST-style 28×28 images.
    pub fn mnist(data: &crate::data::Dataset) -> Self {
        Collection { side: INPUT_SIZE, digit_side: 20, images: data.images.clone(), labels: data.labels.clone() }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` with values in 0..1.
    fn image(&self, i: usize) -> Vec<f32> {
        let n = self.side * self.side;
        self.images[i * n..(i + 1) * n].iter().map(|&v| v as f32 / 255.0).collect()
    }

    /// The first `per_digit` images of each digit (all when 0), in order.
    pub fn balanced(&self, per_digit: usize) -> Collection {
        if per_digit == 0 {
            return self.clone();
        }
        let n = self.side * self.side;
        let mut taken = [0usize; CLASSES];
        let mut out = Collection { images: Vec::new(), labels: Vec::new(), ..*self };
        for (i, &label) in self.labels.iter().enumerate() {
            taken[label as usize] += 1;
            if taken[label as usize] <= per_digit {
                out.images.extend_from_slice(&self.images[i * n..(i + 1) * n]);
                out.labels.push(label);
            }
        }
        out
    }

    /// Image `i` after `transformation`, drawn into the pad: 280×280 RGBA, opaque.
    pub fn render(&self, i: usize, transformation: Transformation) -> Vec<u8> {
        render(&self.image(i), self.side, self.digit_side, transformation)
    }
}

/// A `side`×`side` image (0..1) whose digit fills `digit_side` pixels, transformed and drawn
/// into the pad with bilinear smoothing (as a browser draws a small image large).
pub fn render(image: &[f32], side: usize, digit_side: usize, transformation: Transformation) -> Vec<u8> {
    use Transformation::*;
    // Stroke changes happen at MNIST's resolution, where "a pixel" means what it means there.
    let image = match transformation {
        Thick | Thin | Blur | Source { .. } if side == INPUT_SIZE => match transformation {
            Thick => dilate(image),
            Thin => erode(image),
            Blur => blur(&blur(image)),
            Source { side } => low_resolution(image, side),
            _ => unreachable!("matched above"),
        },
        _ => image.to_vec(),
    };
    let (degrees, factor) = match transformation {
        Rotated { degrees } => (degrees, 1.0),
        Scaled { factor } => (0.0, factor),
        _ => (0.0, 1.0),
    };
    // Pad pixels per image pixel.
    let zoom = PAD as f32 * DIGIT_FRACTION / digit_side as f32 * factor;
    let centre = side as f32 / 2.0;
    let (mut ox, mut oy) = (0.0, 0.0);
    if transformation == Corner {
        // The ink's box in image pixels, moved to the pad's corner.
        let inked: Vec<usize> = (0..side * side).filter(|&i| image[i] > 0.1).collect();
        let x0 = inked.iter().map(|i| i % side).min().unwrap_or(0) as f32;
        let y0 = inked.iter().map(|i| i / side).min().unwrap_or(0) as f32;
        ox = (centre - x0) * zoom - PAD as f32 / 2.0;
        oy = (centre - y0) * zoom - PAD as f32 / 2.0;
    }
    let (sin, cos) = degrees.to_radians().sin_cos();
    let mut rgba = vec![0u8; PAD * PAD * 4];
    for (p, pixel) in rgba.chunks_exact_mut(4).enumerate() {
        let x = (p % PAD) as f32 + 0.5 - PAD as f32 / 2.0 - ox;
        let y = (p / PAD) as f32 + 0.5 - PAD as f32 / 2.0 - oy;
        // Turned back about the pad's centre, then into image pixels.
        let (u, v) = ((cos * x + sin * y) / zoom + centre - 0.5, (-sin * x + cos * y) / zoom + centre - 0.5);
        let ink = crate::augment::bilinear(&image, side, side, u, v).clamp(0.0, 1.0);
        let grey = if transformation == Inverted { ink * 255.0 } else { (1.0 - ink) * 255.0 };
        pixel.copy_from_slice(&[grey.round() as u8, grey.round() as u8, grey.round() as u8, 255]);
    }
    rgba
}

/// Accuracy under one condition, overall and per digit.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionResult {
    pub name: String,
    pub transformation: Option<Transformation>,
    pub count: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Per true digit: how many were read correctly, of how many.
    pub per_digit: [(usize, usize); CLASSES],
}

impl ConditionResult {
    fn new(name: &str, transformation: Transformation) -> Self {
        ConditionResult { name: name.into(), transformation: Some(transformation), ..Default::default() }
    }

    fn add(&mut self, label: u8, predicted: Option<u32>) {
        let right = predicted == Some(label as u32);
        self.count += 1;
        self.correct += right as usize;
        self.per_digit[label as usize].0 += right as usize;
        self.per_digit[label as usize].1 += 1;
        self.accuracy = self.correct as f64 / self.count as f64;
    }
}

/// A robustness report run a chunk at a time (so that a worker can show progress):
/// every condition over every image of the collection.
pub struct RobustnessRun {
    collection: Collection,
    steps: Steps,
    conditions: Vec<ConditionResult>,
    condition: usize,
    next: usize,
}

impl RobustnessRun {
    /// All transformations of the report (for MNIST-like images).
    pub fn transformed(collection: Collection, steps: Steps) -> Self {
        let conditions = transformations().into_iter().map(|(name, t)| ConditionResult::new(name, t)).collect();
        RobustnessRun { collection, steps, conditions, condition: 0, next: 0 }
    }

    /// The collection as it is, under `name` (another collection's digits).
    pub fn plain(collection: Collection, steps: Steps, name: &str) -> Self {
        let conditions = vec![ConditionResult::new(name, Transformation::Clean)];
        RobustnessRun { collection, steps, conditions, condition: 0, next: 0 }
    }

    /// Images read so far and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.condition * self.collection.len() + self.next, self.conditions.len() * self.collection.len())
    }

    pub fn is_finished(&self) -> bool {
        self.condition >= self.conditions.len()
    }

    /// Reads the next chunk of images with `network`; returns whether any were left.
    pub fn step(&mut self, network: &Network) -> Result<bool> {
        if self.is_finished() {
            return Ok(false);
        }
        let transformation = self.conditions[self.condition].transformation.unwrap_or(Transformation::Clean);
        let to = (self.next + CHUNK).min(self.collection.len());
        let mut inputs = Vec::with_capacity((to - self.next) * PIXELS);
        let mut read = Vec::with_capacity(to - self.next);
        for i in self.next..to {
            let input = preprocess_rgba_with(&self.collection.render(i, transformation), PAD, PAD, &self.steps)?;
            read.push(input.is_some());
            inputs.extend(input.unwrap_or_default());
        }
        let predictions = if inputs.is_empty() {
            Vec::new()
        } else {
            argmax_rows(&network.forward(&Network::input_normalized(normalize(&inputs))?, None)?)?
        };
        let mut predicted = predictions.into_iter();
        for (i, was_read) in (self.next..to).zip(read) {
            let prediction = if was_read { predicted.next() } else { None };
            self.conditions[self.condition].add(self.collection.labels[i], prediction);
        }
        self.next = to;
        if self.next >= self.collection.len() {
            self.condition += 1;
            self.next = 0;
        }
        Ok(true)
    }

    /// Runs to the end.
    pub fn run(mut self, network: &Network) -> Result<Vec<ConditionResult>> {
        while self.step(network)? {}
        Ok(self.conditions)
    }

    pub fn results(&self) -> &[ConditionResult] {
        &self.conditions
    }
}

/// The conditions that the report's bar excludes: the 8×8 source, which loses too much.
pub fn exempt(transformation: Option<Transformation>) -> bool {
    transformation == Some(Transformation::Source { side: 8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic "1": a vertical bar in a 28×28 image.
    fn one() -> Collection {
        let mut image = vec![0u8; PIXELS];
        for y in 4..24 {
            for x in 13..16 {
                image[y * INPUT_SIZE + x] = 255;
            }
        }
        Collection { side: INPUT_SIZE, digit_side: 20, images: image, labels: vec![1] }
    }

    fn ink_box(rgba: &[u8]) -> (usize, usize, usize, usize) {
        let dark: Vec<usize> = (0..PAD * PAD).filter(|&i| rgba[i * 4] < 128).collect();
        let xs = dark.iter().map(|i| i % PAD);
        let ys = dark.iter().map(|i| i / PAD);
        (xs.clone().min().unwrap(), ys.clone().min().unwrap(), xs.max().unwrap(), ys.max().unwrap())
    }

    #[test]
    fn rendering_places_and_shapes_the_digit() {
        let one = one();
        let clean = one.render(0, Transformation::Clean);
        assert_eq!(clean.len(), PAD * PAD * 4);
        let (x0, y0, x1, y1) = ink_box(&clean);
        // 20 image pixels high at 10 pad pixels each, centred.
        assert!((195..=205).contains(&(y1 - y0 + 1)) && (125..=155).contains(&((x0 + x1) / 2)), "{x0} {y0} {x1} {y1}");
        let (.., sy1) = ink_box(&one.render(0, Transformation::Scaled { factor: 0.6 }));
        let (_, sy0, ..) = ink_box(&one.render(0, Transformation::Scaled { factor: 0.6 }));
        assert!((110..=130).contains(&(sy1 - sy0 + 1)));
        let (cx0, cy0, ..) = ink_box(&one.render(0, Transformation::Corner));
        assert!(cx0 <= 2 && cy0 <= 2, "corner at {cx0}, {cy0}");
        let (tx0, _, tx1, _) = ink_box(&one.render(0, Transformation::Thick));
        assert!(tx1 - tx0 > x1 - x0 + 10);
        let (rx0, _, rx1, _) = ink_box(&one.render(0, Transformation::Rotated { degrees: 20.0 }));
        assert!(rx1 - rx0 > 50, "a turned bar leans");
        let inverted = one.render(0, Transformation::Inverted);
        assert_eq!(inverted[0], 0, "dark paper");
        // The page's preprocessing gives back an upright 1 from every rendering.
        for (name, t) in transformations() {
            let input = preprocess_rgba_with(&one.render(0, t), PAD, PAD, &Steps::default()).unwrap();
            assert!(input.is_some(), "{name}: no digit found");
        }
    }

    #[test]
    fn conditions_count_every_image_and_digit() {
        let network = Network::new(&crate::spec::Architecture::preset("cnn").unwrap(), 1).unwrap();
        let mut one = one();
        one.images = one.images.repeat(3);
        one.labels = vec![1, 1, 1];
        let results = RobustnessRun::transformed(one, Steps::default()).run(&network).unwrap();
        assert_eq!(results.len(), transformations().len());
        for r in &results {
            assert_eq!((r.count, r.per_digit[1].1), (3, 3), "{}", r.name);
            assert!(r.correct == r.per_digit[1].0 && r.per_digit.iter().map(|d| d.1).sum::<usize>() == 3);
        }
    }
}
