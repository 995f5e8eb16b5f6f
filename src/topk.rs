//! Dataset examples for every unit: one pass over a dataset that keeps, for every channel of
//! every layer, the 9 images on which the channel's largest value is highest and the 9 on
//! which it is lowest (with where it peaked, to outline the receptive field), every image's
//! value (for the per-class means and the histogram), and each image's embedding (the last
//! hidden layer, for the map of all digits, `crate::projection`) and prediction.
//! Images are added a chunk at a time, so a worker can report progress between chunks.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels;
use crate::network::{argmax_rows, Network};
use crate::spec::CLASSES;
use serde::Serialize;

/// Examples kept at each end of every channel.
pub const KEEP: usize = 9;
/// Bars of a channel's histogram.
pub const BINS: usize = 20;
/// Images per forward pass: enough to amortise each layer's set-up, few enough that a layer's
/// output is still in cache when the next reads it.
const CHUNK: usize = 16;

/// One image's standing on one channel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Example {
    /// Index of the image in the dataset.
    pub index: u32,
    /// The channel's largest value on it.
    pub value: f32,
    /// Where in the channel's map it peaked (row, column); 0, 0 for a dense unit.
    pub row: u16,
    pub col: u16,
}

/// Ordering of the top list: higher value first, then the earlier image.
fn above(a: &Example, b: &Example) -> bool {
    a.value > b.value || (a.value == b.value && a.index < b.index)
}

/// Ordering of the bottom list: lower value first, then the earlier image.
fn below(a: &Example, b: &Example) -> bool {
    a.value < b.value || (a.value == b.value && a.index < b.index)
}

/// Inserts `e` into `list` (sorted by `first`) if it ranks among the first `KEEP`.
fn offer(list: &mut Vec<Example>, e: Example, first: fn(&Example, &Example) -> bool) {
    if list.len() == KEEP && !first(&e, &list[KEEP - 1]) {
        return;
    }
    let at = list.iter().position(|x| first(&e, x)).unwrap_or(list.len());
    list.insert(at, e);
    list.truncate(KEEP);
}

/// Whether `value` (of an image later than all kept) would enter a full list.
fn would_enter(list: &[Example], value: f32, top: bool) -> bool {
    list.len() < KEEP || if top { value > list[KEEP - 1].value } else { value < list[KEEP - 1].value }
}

/// The largest of `values`, in eight interleaved lanes that vectorise (a select, not a branch:
/// scalar float comparisons become unpredictable branches in wasm engines).
fn peak(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(m, &v)| *m = if v > *m { v } else { *m });
    }
    lanes.iter().fold(rest, |m, &v| if v > m { v } else { m })
}

/// One layer's accumulated values.
#[derive(Clone, Debug)]
struct LayerExamples {
    name: String,
    /// `[channels, height, width]` or `[units]`.
    shape: Vec<usize>,
    /// Every image's largest value per channel, image-major (images × channels).
    peaks: Vec<f32>,
    top: Vec<Vec<Example>>,
    bottom: Vec<Vec<Example>>,
}

impl LayerExamples {
    fn channels(&self) -> usize {
        self.shape[0]
    }

    /// Adds one image's values of this layer.
    fn add(&mut self, index: u32, values: &[f32]) {
        let channels = self.channels();
        let plane = values.len() / channels;
        let width = if self.shape.len() == 3 { self.shape[2] } else { 1 };
        for (c, map) in values.chunks_exact(plane).enumerate() {
            let value = peak(map);
            self.peaks.push(value);
            let (enters_top, enters_bottom) = (would_enter(&self.top[c], value, true), would_enter(&self.bottom[c], value, false));
            if enters_top || enters_bottom {
                let at = map.iter().position(|&v| v == value).unwrap_or(0);
                let e = Example { index, value, row: (at / width) as u16, col: (at % width) as u16 };
                offer(&mut self.top[c], e, above);
                offer(&mut self.bottom[c], e, below);
            }
        }
    }
}

/// A histogram of a channel's values over the dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    pub min: f32,
    pub max: f32,
    /// `BINS` counts over equal bins from `min` to `max`.
    pub counts: Vec<u32>,
}

/// Everything a channel card shows about one channel, over the dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelExamples {
    pub layer: String,
    pub channel: usize,
    /// The images with the highest peaks, highest first.
    pub top: Vec<Example>,
    /// The images with the lowest peaks, lowest first.
    pub bottom: Vec<Example>,
    /// Mean peak per true digit (NaN-free: 0 for a digit with no image).
    pub class_means: Vec<f32>,
    pub histogram: Histogram,
}

/// The pass: add images, then ask about any channel.
#[derive(Clone, Debug)]
pub struct TopK {
    layers: Vec<LayerExamples>,
    /// Name and width of the layer whose values are each image's embedding.
    embedding_layer: String,
    embedding_width: usize,
    embeddings: Vec<f32>,
    labels: Vec<u8>,
    predictions: Vec<u8>,
}

impl TopK {
    /// An empty pass for `network`'s layers; the embedding is the last hidden layer (the tap
    /// before the logits): `dense1` of the presets.
    pub fn new(network: &Network) -> Result<Self> {
        let (_, taps) = network.forward_with_taps(&Network::input(&[0.0; crate::data::PIXELS])?)?;
        let layers: Vec<LayerExamples> = taps
            .iter()
            .map(|tap| {
                let shape = tap.shape.dims();
                let channels = shape[0];
                LayerExamples { name: tap.name.clone(), shape, peaks: Vec::new(), top: vec![Vec::new(); channels], bottom: vec![Vec::new(); channels] }
            })
            .collect();
        let embedding = layers.len().checked_sub(2).map(|i| &layers[i]).or(layers.first());
        let embedding = embedding.ok_or_else(|| Error::Stack("this model has no layers to look into".into()))?;
        let (embedding_layer, embedding_width) = (embedding.name.clone(), embedding.shape.iter().product());
        Ok(TopK { layers, embedding_layer, embedding_width, embeddings: Vec::new(), labels: Vec::new(), predictions: Vec::new() })
    }

    /// Images done so far.
    pub fn count(&self) -> usize {
        self.labels.len()
    }

    /// Adds the next images of `data`, up to index `to` (exclusive): images must come in order,
    /// from 0, so every list knows which image is which.
    pub fn add_until(&mut self, network: &Network, data: &Dataset, to: usize) -> Result<()> {
        let from = self.count();
        let to = to.min(data.len());
        let indices: Vec<usize> = (from..to).collect();
        for pass in indices.chunks(CHUNK) {
            let (pixels, labels) = data.batch(pass, None);
            let (logits, taps) = network.forward_with_taps(&Network::input_normalized(pixels)?)?;
            if taps.len() != self.layers.len() {
                return Err(Error::Stack("the model changed during the pass; start a new one".into()));
            }
            for (layer, tap) in self.layers.iter_mut().zip(&taps) {
                kernels::read([&tap.values], |[values]| {
                    for (image, values) in pass.iter().zip(values.chunks_exact(values.len() / pass.len())) {
                        layer.add(*image as u32, values);
                    }
                })?;
                if layer.name == self.embedding_layer {
                    kernels::read([&tap.values], |[values]| self.embeddings.extend_from_slice(values))?;
                }
            }
            self.predictions.extend(argmax_rows(&logits)?.iter().map(|&p| p as u8));
            self.labels.extend(labels.iter().map(|&l| l as u8));
        }
        Ok(())
    }

    /// Layer names with their shapes, in network order.
    pub fn layers(&self) -> Vec<(String, Vec<usize>)> {
        self.layers.iter().map(|l| (l.name.clone(), l.shape.clone())).collect()
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    pub fn predictions(&self) -> &[u8] {
        &self.predictions
    }

    /// The embedding layer's name, its width and every image's values (images × width).
    pub fn embeddings(&self) -> (&str, usize, &[f32]) {
        (&self.embedding_layer, self.embedding_width, &self.embeddings)
    }

    /// Every image's peak on one channel, in dataset order.
    pub fn peaks(&self, layer: &str, channel: usize) -> Result<Vec<f32>> {
        let l = self.layer(layer, channel)?;
        Ok(l.peaks.iter().skip(channel).step_by(l.channels()).copied().collect())
    }

    fn layer(&self, layer: &str, channel: usize) -> Result<&LayerExamples> {
        let l = self.layers.iter().find(|l| l.name == layer).ok_or_else(|| {
            let names: Vec<&str> = self.layers.iter().map(|l| l.name.as_str()).collect();
            Error::Stack(format!("no layer named '{layer}' to look into; this model has {}", names.join(", ")))
        })?;
        if channel >= l.channels() {
            return Err(Error::Stack(format!("{layer} has {} channels (0–{}); there is no channel {channel}", l.channels(), l.channels() - 1)));
        }
        Ok(l)
    }

    /// The card's numbers for one channel.
    pub fn channel(&self, layer: &str, channel: usize) -> Result<ChannelExamples> {
        let l = self.layer(layer, channel)?;
        let peaks = self.peaks(layer, channel)?;
        let (mut sums, mut counts) = ([0.0f64; CLASSES], [0usize; CLASSES]);
        for (&v, &label) in peaks.iter().zip(&self.labels) {
            sums[label as usize] += v as f64;
            counts[label as usize] += 1;
        }
        let class_means = sums.iter().zip(counts).map(|(s, n)| if n > 0 { (s / n as f64) as f32 } else { 0.0 }).collect();
        Ok(ChannelExamples {
            layer: layer.to_string(),
            channel,
            top: l.top[channel].clone(),
            bottom: l.bottom[channel].clone(),
            class_means,
            histogram: histogram(&peaks),
        })
    }
}

fn histogram(values: &[f32]) -> Histogram {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut counts = vec![0; BINS];
    if values.is_empty() {
        return Histogram { min: 0.0, max: 0.0, counts };
    }
    let width = (max - min) / BINS as f32;
    for &v in values {
        let bin = if width > 0.0 { ((v - min) / width) as usize } else { 0 };
        counts[bin.min(BINS - 1)] += 1;
    }
    Histogram { min, max, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_keeps_the_first_nine_in_order() {
        let mut top = Vec::new();
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0];
        for (i, &v) in values.iter().enumerate() {
            offer(&mut top, Example { index: i as u32, value: v, row: 0, col: 0 }, above);
        }
        let kept: Vec<(u32, f32)> = top.iter().map(|e| (e.index, e.value)).collect();
        let mut expected: Vec<(u32, f32)> = values.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(kept, expected[..KEEP]);
    }

    #[test]
    fn peak_is_the_maximum() {
        for n in [1, 7, 8, 9, 121, 676] {
            let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
            assert_eq!(peak(&values), values.iter().copied().fold(f32::NEG_INFINITY, f32::max), "{n}");
        }
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let values: Vec<f32> = (0..1000).map(|i| (i as f32).sqrt()).collect();
        let h = histogram(&values);
        assert_eq!(h.counts.iter().sum::<u32>(), 1000);
        assert_eq!((h.min, h.max), (0.0, 999f32.sqrt()));
        assert!(h.counts[0] < h.counts[BINS - 1], "{:?}", h.counts);
    }
}
