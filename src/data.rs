//! MNIST data: the IDX reader, datasets, batching and the one normalisation function.

use crate::augment::Augmentation;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::spec::{CLASSES, INPUT_SIZE};
use std::io::Read;

pub const PIXELS: usize = INPUT_SIZE * INPUT_SIZE;
/// Mean and standard deviation of the MNIST training pixels (in 0..1).
const MNIST_MEAN: f32 = 0.1307;
const MNIST_STD: f32 = 0.3081;
/// The full MNIST training images are 47 MB; refuse more than this before allocating it
/// (a small gzip file can expand to any size, and a tab has a few GB at most).
const MAX_IDX_BYTES: usize = 256 << 20;

/// The one normalisation applied to every model input, in training and inference alike:
/// pixels in 0..1 (0 = background, 1 = ink) are standardised with MNIST's statistics.
pub fn normalize(pixels: &[f32]) -> Vec<f32> {
    pixels.iter().map(|p| (p - MNIST_MEAN) / MNIST_STD).collect()
}

/// `normalize` as a tensor operation, so that gradients reach the pixels (attribution).
pub fn normalize_tensor(pixels: &candle_core::Tensor) -> Result<candle_core::Tensor> {
    Ok(pixels.affine(1.0 / MNIST_STD as f64, -(MNIST_MEAN / MNIST_STD) as f64)?)
}

/// Undoes gzip compression when the bytes start with the gzip magic; otherwise returns them.
pub fn gunzip_if_needed(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_IDX_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Idx(format!("gzip data is corrupt: {e}")))?;
        if out.len() > MAX_IDX_BYTES {
            return Err(Error::Idx(format!("decompressed file is larger than {} MB", MAX_IDX_BYTES >> 20)));
        }
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses an unsigned-byte IDX file (optionally gzipped) into its dimensions and data.
pub fn read_idx(bytes: &[u8]) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut bytes = gunzip_if_needed(bytes)?;
    if bytes.len() < 4 {
        return Err(Error::Idx(format!("{} bytes is too short for the 4-byte magic number", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::Idx("bad magic number: an IDX file starts with two zero bytes".into()));
    }
    if bytes[2] != 0x08 {
        return Err(Error::Idx(format!("data type 0x{:02x} is not unsigned bytes (0x08)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 || ndim > 3 {
        return Err(Error::Idx(format!("{ndim} dimensions; MNIST files have 1 (labels) or 3 (images)")));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::Idx(format!("header is cut short: {} of {header} bytes", bytes.len())));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= MAX_IDX_BYTES);
    let expected = expected.ok_or_else(|| Error::Idx(format!("dimensions {dims:?} are impossibly large")))?;
    let data_len = bytes.len() - header;
    if data_len != expected {
        return Err(Error::Idx(format!("dimensions {dims:?} need {expected} data bytes but the file has {data_len}")));
    }
    // Drop the header in place: a second copy of a large file could exhaust a tab's memory.
    bytes.drain(..header);
    Ok((dims, bytes))
}

/// Labelled 28×28 grey images, one byte per pixel (0 = background, 255 = ink).
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset from an IDX image file and an IDX label file (gzipped or not).
    pub fn from_idx(images: &[u8], labels: &[u8]) -> Result<Self> {
        let (image_dims, images) = read_idx(images)?;
        let (label_dims, labels) = read_idx(labels)?;
        if image_dims.len() != 3 || image_dims[1] != INPUT_SIZE || image_dims[2] != INPUT_SIZE {
            return Err(Error::Idx(format!("images must be N×28×28, this file is {image_dims:?}")));
        }
        if label_dims.len() != 1 {
            return Err(Error::Idx(format!("labels must be a list of N, this file is {label_dims:?}")));
        }
        if image_dims[0] != label_dims[0] {
            return Err(Error::Idx(format!("{} images but {} labels", image_dims[0], label_dims[0])));
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= CLASSES) {
            return Err(Error::Idx(format!("label {l} at position {i} is not a digit 0-9")));
        }
        Ok(Dataset { images, labels })
    }

    /// A dataset from raw images (784 bytes each) and their labels, checked like IDX files.
    pub fn from_bytes(images: Vec<u8>, labels: Vec<u8>) -> Result<Self> {
        if labels.len().checked_mul(PIXELS) != Some(images.len()) {
            return Err(Error::Idx(format!("{} labels need {} image bytes (784 each), got {}", labels.len(), labels.len().saturating_mul(PIXELS), images.len())));
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= CLASSES) {
            return Err(Error::Idx(format!("label {l} at position {i} is not a digit 0-9")));
        }
        Ok(Dataset { images, labels })
    }

    /// Reads `<dir>/<prefix>-images-idx3-ubyte[.gz]` and the matching labels file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(dir: &std::path::Path, prefix: &str) -> Result<Self> {
        let read = |kind: &str| -> Result<Vec<u8>> {
            let base = dir.join(format!("{prefix}-{kind}"));
            let gz = base.with_file_name(format!("{prefix}-{kind}.gz"));
            std::fs::read(&base)
                .or_else(|_| std::fs::read(&gz))
                .map_err(|e| Error::Idx(format!("cannot read {} (or .gz): {e}", base.display())))
        };
        Dataset::from_idx(&read("images-idx3-ubyte")?, &read("labels-idx1-ubyte")?)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Appends images given as 28×28 pixels in 0..1 (e.g. the user's own labelled drawings).
    pub fn extend_from_pixels(&mut self, pixels01: &[f32], labels: &[u8]) -> Result<()> {
        // Checked: on wasm32 a large label array could overflow the product.
        let needed = labels.len().checked_mul(PIXELS).filter(|&n| n == pixels01.len());
        if needed.is_none() {
            return Err(Error::Config(format!("{} labels need {} pixels (784 each), got {}", labels.len(), labels.len().saturating_mul(PIXELS), pixels01.len())));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= CLASSES) {
            return Err(Error::Config(format!("label {l} is not a digit 0-9")));
        }
        self.images.extend(pixels01.iter().map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8));
        self.labels.extend_from_slice(labels);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * PIXELS..(index + 1) * PIXELS]
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut out = Dataset { images: Vec::with_capacity(indices.len() * PIXELS), labels: Vec::with_capacity(indices.len()) };
        for &i in indices {
            out.images.extend_from_slice(self.image(i));
            out.labels.push(self.labels[i]);
        }
        out
    }

    /// The first `per_class` images of each digit, in the dataset's order.
    pub fn balanced(&self, per_class: usize) -> Dataset {
        let mut taken = [0usize; CLASSES];
        let indices: Vec<usize> = (0..self.len())
            .filter(|&i| {
                let l = self.labels[i] as usize;
                taken[l] += 1;
                taken[l] <= per_class
            })
            .collect();
        self.subset(&indices)
    }

    /// A seeded shuffle split into (first, last) where `last` holds `fraction` of the images.
    pub fn split(&self, fraction: f32, seed: u64) -> (Dataset, Dataset) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::new(seed).shuffle(&mut order);
        let held_out = ((self.len() as f32 * fraction).round() as usize).min(self.len());
        let (first, last) = order.split_at(self.len() - held_out);
        (self.subset(first), self.subset(last))
    }

    /// Normalised model inputs (N×784) and labels for the images at `indices`, each distorted
    /// by `augment` when given.
    pub fn batch(&self, indices: &[usize], augment: Option<(&Augmentation, &mut Rng)>) -> (Vec<f32>, Vec<u32>) {
        let mut pixels = vec![0.0; indices.len() * PIXELS];
        let mut augment = augment;
        let mut image = vec![0.0; PIXELS];
        for (&i, out) in indices.iter().zip(pixels.chunks_exact_mut(PIXELS)) {
            match augment.as_mut() {
                Some((augmentation, rng)) => {
                    image.iter_mut().zip(self.image(i)).for_each(|(p, &v)| *p = v as f32 / 255.0);
                    augmentation.apply(&image, rng, out);
                }
                None => out.iter_mut().zip(self.image(i)).for_each(|(p, &v)| *p = v as f32 / 255.0),
            }
        }
        let labels = indices.iter().map(|&i| self.labels[i] as u32).collect();
        (normalize(&pixels), labels)
    }
}

/// Writes an unsigned-byte IDX file (used to build the bundled subset and by tests).
pub fn write_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> Vec<u8> {
        write_idx(&[n, 28, 28], &(0..n * PIXELS).map(|i| (i % 251) as u8).collect::<Vec<_>>())
    }

    #[test]
    fn reads_good_files_plain_and_gzipped() {
        let labels = write_idx(&[3], &[7, 0, 9]);
        let ds = Dataset::from_idx(&images(3), &labels).unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.labels, vec![7, 0, 9]);
        assert_eq!(ds.image(1)[0], (PIXELS % 251) as u8);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &images(3)).unwrap();
        let zipped = Dataset::from_idx(&gz.finish().unwrap(), &labels).unwrap();
        assert_eq!(zipped.images, ds.images);
    }

    #[test]
    fn refuses_malformed_files_with_reasons() {
        let labels = write_idx(&[3], &[1, 2, 3]);
        let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
            (vec![], labels.clone(), "too short"),
            (b"PK\x03\x04rest".to_vec(), labels.clone(), "magic"),
            (vec![0, 0, 0x0D, 3, 0, 0, 0, 1], labels.clone(), "not unsigned bytes"),
            (vec![0, 0, 8, 3, 0, 0], labels.clone(), "cut short"),
            (images(3)[..500].to_vec(), labels.clone(), "data bytes"),
            (write_idx(&[3, 28, 27], &vec![0; 3 * 28 * 27]), labels.clone(), "N×28×28"),
            (images(3), write_idx(&[4], &[1, 2, 3, 4]), "3 images but 4 labels"),
            (images(3), write_idx(&[3], &[1, 12, 3]), "label 12"),
            (images(3), write_idx(&[3, 1, 1], &[1, 2, 3]), "list of N"),
            (vec![0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255], labels.clone(), "impossibly large"),
            (vec![0x1f, 0x8b, 8, 0, 1, 2, 3], labels, "gzip"),
        ];
        for (imgs, lbls, expected) in cases {
            let err = Dataset::from_idx(&imgs, &lbls).unwrap_err().to_string();
            assert!(err.contains(expected), "expected '{expected}' in '{err}'");
        }
    }

    #[test]
    fn normalisation_maps_background_and_ink_to_mnist_statistics() {
        let out = normalize(&[0.0, 1.0, MNIST_MEAN]);
        assert!((out[0] + MNIST_MEAN / MNIST_STD).abs() < 1e-6);
        assert!((out[1] - (1.0 - MNIST_MEAN) / MNIST_STD).abs() < 1e-6);
        assert!(out[2].abs() < 1e-6);
    }

    #[test]
    fn balanced_split_and_augmented_batches() {
        let n = 40;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let ds = Dataset::from_idx(&images(n), &write_idx(&[n], &labels)).unwrap();
        let bal = ds.balanced(2);
        assert_eq!(bal.len(), 20);
        for d in 0..10u8 {
            assert_eq!(bal.labels.iter().filter(|&&l| l == d).count(), 2);
        }
        let (train, val) = ds.split(0.25, 3);
        assert_eq!((train.len(), val.len()), (30, 10));
        let (again, _) = ds.split(0.25, 3);
        assert_eq!(train.labels, again.labels);
        let (plain, lbl) = ds.batch(&[0, 5], None);
        assert_eq!(lbl, vec![0, 5]);
        assert_eq!(plain.len(), 2 * PIXELS);
        let mut rng = Rng::new(1);
        let shifted: Vec<(Vec<f32>, _)> = (0..8).map(|_| ds.batch(&[0], Some((&Augmentation::default(), &mut rng)))).collect();
        assert!(shifted.iter().any(|(p, _)| p[..] != plain[..PIXELS]), "augmentation never moved the image");
    }
}
