//! What must hold for any input to the three parsers that take users' files and images.
//! Shared by the libFuzzer targets (fuzz_targets/*.rs), the saved-crash replays
//! (tests/fuzz_regressions.rs) and the property tests (tests/reliability.rs), so that all
//! three check the same thing. A violated invariant panics, which is what a fuzzer reports.
//! Any input may be refused, but with an error, never a panic.
#![allow(dead_code)] // each includer uses only some of these

use digitlens::data::{read_idx, Dataset, PIXELS};
use digitlens::network::Network;
use digitlens::preprocess::{centre_of_mass, preprocess_rgba};
use digitlens::recognizer::Recognizer;
use digitlens::spec::{Architecture, LayerSpec, INPUT_SIZE};
use digitlens::weights;
use std::sync::OnceLock;

/// IDX reader. The first two bytes (little-endian) say where the rest splits into an image
/// file and a label file.
pub fn idx(data: &[u8]) {
    if let Ok((dims, bytes)) = read_idx(data) {
        assert_eq!(dims.iter().product::<usize>(), bytes.len(), "dimensions {dims:?} and data disagree");
    }
    let [low, high, rest @ ..] = data else { return };
    let (images, labels) = rest.split_at(u16::from_le_bytes([*low, *high]) as usize % (rest.len() + 1));
    if let Ok(dataset) = Dataset::from_idx(images, labels) {
        assert_eq!(dataset.images.len(), dataset.len() * PIXELS, "images and labels disagree");
        assert!(dataset.labels.iter().all(|&l| l < 10), "a label that is not a digit was accepted");
        let some: Vec<usize> = (0..dataset.len().min(4)).collect();
        let (pixels, labels) = dataset.batch(&some, None);
        assert_eq!((pixels.len(), labels.len()), (some.len() * PIXELS, some.len()));
    }
}

/// A valid weights file of a tiny network with every kind of parameterised layer.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let layers = vec![
            LayerSpec::Conv2d {
                filters: 2,
                kernel: 3,
                stride: 2,
                padding: Default::default(),
                activation: digitlens::spec::Activation::Relu,
            },
            LayerSpec::pool(2),
            LayerSpec::Flatten,
            LayerSpec::dense(10, Default::default()),
        ];
        let network = Network::new(&Architecture::new("tiny", layers), 1).expect("the tiny network builds");
        weights::save(&network, &[]).expect("the tiny network saves")
    })
}

/// Safetensors loader: the input as a file, and as byte edits to a valid file (random bytes
/// alone rarely get past the format's header to the checks behind it). Edits are 3-byte
/// records: a 16-bit position (modulo the length) and the new byte; the input's length
/// modulo 64 also cuts that many bytes off the end.
pub fn weights(data: &[u8]) {
    check_weights(data);
    let mut file = template().to_vec();
    let len = file.len();
    for edit in data.chunks_exact(3) {
        file[u16::from_le_bytes([edit[0], edit[1]]) as usize % len] = edit[2];
    }
    file.truncate(len - data.len() % 64);
    check_weights(&file);
}

fn check_weights(bytes: &[u8]) {
    match weights::load(bytes) {
        Ok(network) => {
            // Whatever loads must read digits: finite probabilities that sum to 1.
            let recognition = Recognizer::new(network).predict28(&[0.5; PIXELS], true).expect("a loaded model predicts");
            let sum: f32 = recognition.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "probabilities {:?}", recognition.probabilities);
        }
        Err(error) => assert!(error.to_string().starts_with("cannot load weights"), "unexpected error: {error}"),
    }
}

/// Canvas preprocessing. Byte 0 and 1 give the width and height (1..=64); byte 2 bit 0
/// chooses between the rest exactly (a length mismatch, mostly) and the rest cut or padded
/// to the size the image needs.
pub fn preprocess(data: &[u8]) {
    let [w, h, mode, rest @ ..] = data else { return };
    let (width, height) = (*w as usize % 64 + 1, *h as usize % 64 + 1);
    let mut rgba = rest.to_vec();
    if mode & 1 == 1 {
        rgba.resize(width * height * 4, 0);
    }
    check_preprocess(&rgba, width, height);
}

/// What `preprocess_rgba` promises for any image: an error exactly when the buffer does not
/// match the size; otherwise no digit, or an MNIST-style one (see `assert_mnist_style`).
pub fn check_preprocess(rgba: &[u8], width: usize, height: usize) {
    let fits = width.checked_mul(height).and_then(|n| n.checked_mul(4)) == Some(rgba.len());
    match preprocess_rgba(rgba, width, height) {
        Ok(image) => {
            assert!(fits, "a {width}×{height} image with {} bytes was accepted", rgba.len());
            if let Some(image) = image {
                assert_mnist_style(&image);
            }
        }
        Err(error) => {
            let too_large = width.checked_mul(height).is_none_or(|n| n > 4096 * 4096);
            assert!(!fits || width == 0 || height == 0 || too_large, "a valid {width}×{height} image was refused: {error}");
        }
    }
}

/// 784 values in 0..1 with some ink, fitted into 20×20 and centred by mass: within half a
/// pixel of (14, 14) on each axis, unless the digit had to be clamped at the frame's edge
/// there (its ink then touches that edge).
pub fn assert_mnist_style(image: &[f32]) {
    assert_eq!(image.len(), PIXELS);
    assert!(image.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "values outside 0..1");
    assert!(image.iter().any(|&v| v > 0.0), "a digit without ink");
    let n = INPUT_SIZE;
    let rows: Vec<usize> = (0..n).filter(|&y| (0..n).any(|x| image[y * n + x] > 0.0)).collect();
    let columns: Vec<usize> = (0..n).filter(|&x| (0..n).any(|y| image[y * n + x] > 0.0)).collect();
    let extent = |cells: &[usize]| cells[cells.len() - 1] - cells[0] + 1;
    assert!(extent(&rows) <= 20 && extent(&columns) <= 20, "ink box {}×{}", extent(&columns), extent(&rows));
    let (cx, cy) = centre_of_mass(image);
    let at_edge = |cells: &[usize]| cells[0] == 0 || cells[cells.len() - 1] == n - 1;
    let centred = |c: f32| (c - n as f32 / 2.0).abs() <= 0.5 + 1e-3;
    assert!(centred(cx) || at_edge(&columns), "centre of mass x = {cx}");
    assert!(centred(cy) || at_edge(&rows), "centre of mass y = {cy}");
}
