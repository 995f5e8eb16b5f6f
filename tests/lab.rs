//! The model lab's Rust side: the architecture editor's validation messages (each names the
//! offending layer and says what to do), the summary numbers the lab shows, and the weights
//! files the lab downloads and loads back (round trip and every bad-file case).
#![cfg(not(target_arch = "wasm32"))]

use digitlens::data::{Dataset, PIXELS};
use digitlens::network::Network;
use digitlens::spec::{Activation, Architecture, LayerSpec, Padding, MAX_PARAMS};
use digitlens::{weights, Error};
use std::collections::HashMap;

fn conv(filters: usize, kernel: usize, padding: Padding) -> LayerSpec {
    LayerSpec::Conv2d { filters, kernel, stride: 1, padding, activation: Activation::Relu }
}

/// The stack's first problem as (layer index or None for the whole stack, message).
fn problem(layers: Vec<LayerSpec>) -> (Option<usize>, String) {
    match Architecture::new("edited", layers).analyze() {
        Ok(_) => panic!("the stack should be invalid"),
        Err(Error::Spec { layer, message, .. }) => (Some(layer), message),
        Err(Error::Stack(message)) => (None, message),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn cnn_without(index: usize) -> Vec<LayerSpec> {
    let mut layers = Architecture::preset("cnn").unwrap().layers;
    layers.remove(index);
    layers
}

fn assert_mentions(message: &str, words: &[&str]) {
    for word in words {
        assert!(message.contains(word), "'{word}' missing from: {message}");
    }
}

#[test]
fn dense_after_conv_without_flatten_points_at_the_dense_layer() {
    // The lecture's bug: cnn with its Flatten removed (two clicks in the editor).
    let flatten = Architecture::preset("cnn").unwrap().layers.iter().position(|l| *l == LayerSpec::Flatten).unwrap();
    let (layer, message) = problem(cnn_without(flatten));
    assert_eq!(layer, Some(flatten), "the Dense layer that now follows MaxPool2D");
    assert_eq!(message, "Dense expects a flat vector but gets 64×5×5 from MaxPool2D: add Flatten before it");
}

#[test]
fn conv_after_flatten_says_to_move_it_before_flatten() {
    let (layer, message) =
        problem(vec![LayerSpec::Flatten, conv(8, 3, Padding::Valid), LayerSpec::Flatten, LayerSpec::dense(10, Activation::Linear)]);
    assert_eq!(layer, Some(1));
    assert_mentions(&message, &["Conv2D expects an image", "flat vector of 784 from Flatten", "before Flatten"]);
}

#[test]
fn kernel_larger_than_its_input() {
    // cnn3 leaves a 5×5 map before its third conv; a 7×7 kernel does not fit there.
    let mut layers = Architecture::preset("cnn3").unwrap().layers;
    layers[4] = conv(64, 7, Padding::Valid);
    let (layer, message) = problem(layers);
    assert_eq!(layer, Some(4));
    assert_mentions(&message, &["kernel 7×7 is larger than its 5×5 input", "smaller kernel"]);
}

#[test]
fn same_padding_makes_a_large_kernel_fit() {
    let mut layers = Architecture::preset("cnn3").unwrap().layers;
    layers[4] = conv(64, 5, Padding::Same);
    let summary = Architecture::new("same", layers).summary().unwrap();
    assert_eq!(summary.layers[4].output.keras(), "(None, 5, 5, 64)");
}

#[test]
fn even_kernel_with_same_padding() {
    let (layer, message) = problem(
        [vec![conv(16, 4, Padding::Same)], Architecture::preset("dense").unwrap().layers].concat(),
    );
    assert_eq!(layer, Some(0));
    assert_mentions(&message, &["'same' padding needs an odd kernel", "4×4"]);
}

#[test]
fn pool_larger_than_its_input() {
    let mut layers = Architecture::preset("cnn").unwrap().layers;
    layers[3] = LayerSpec::pool(12); // after conv2 the map is 11×11
    let (layer, message) = problem(layers);
    assert_eq!(layer, Some(3));
    assert_mentions(&message, &["pool size 12×12 is larger than its 11×11 input"]);
}

#[test]
fn output_must_have_ten_units() {
    let mut layers = Architecture::preset("dense").unwrap().layers;
    let last = layers.len() - 1;
    layers[last] = LayerSpec::dense(12, Activation::Linear);
    let (layer, message) = problem(layers);
    assert_eq!(layer, Some(last));
    assert_mentions(&message, &["output must have 10 units for 10 digits", "12"]);
}

#[test]
fn relu_on_the_output_layer() {
    // As the Dense layer's activation...
    let mut layers = Architecture::preset("cnn").unwrap().layers;
    let last = layers.len() - 1;
    layers[last] = LayerSpec::dense(10, Activation::Relu);
    let (layer, message) = problem(layers);
    assert_eq!(layer, Some(last));
    assert_mentions(&message, &["output layer must have no ReLU", "softmax"]);
    // ...or as a separate layer after it.
    let mut layers = Architecture::preset("cnn").unwrap().layers;
    layers.push(LayerSpec::Relu);
    let (layer, message) = problem(layers);
    assert_eq!(layer, Some(last + 1));
    assert_mentions(&message, &["last layer must be Dense(10)", "ReLU"]);
}

#[test]
fn empty_stack() {
    let (layer, message) = problem(vec![]);
    assert_eq!(layer, None);
    assert_mentions(&message, &["no layers", "Flatten", "Dense(10)"]);
}

#[test]
fn too_many_parameters() {
    let units = MAX_PARAMS / PIXELS + 1;
    let (layer, message) = problem(vec![
        LayerSpec::Flatten,
        LayerSpec::dense(units, Activation::Relu),
        LayerSpec::dense(10, Activation::Linear),
    ]);
    assert_eq!(layer, None);
    let total = dense_params(PIXELS, units) + dense_params(units, 10);
    assert_mentions(&message, &[&format!("{total} parameters"), "fewer filters or units"]);
}

#[test]
fn bad_numbers_in_an_edited_layer() {
    let cases = [
        (LayerSpec::Conv2d { filters: 0, kernel: 3, stride: 1, padding: Padding::Valid, activation: Activation::Relu }, "at least 1 filter"),
        (LayerSpec::Conv2d { filters: 8, kernel: 3, stride: 0, padding: Padding::Valid, activation: Activation::Relu }, "stride must be at least 1"),
        (LayerSpec::Dropout { rate: 1.5 }, "dropout rate must be between 0 and 0.95"),
    ];
    for (spec, words) in cases {
        let (layer, message) = problem([vec![spec], Architecture::preset("dense").unwrap().layers].concat());
        assert_eq!(layer, Some(0), "{message}");
        assert_mentions(&message, &[words]);
    }
}

#[test]
fn the_editor_json_reads_back_with_keras_defaults() {
    // What the page's editor sends to analyzeArchitecture: omitted stride/padding/activation take defaults.
    let json = r#"{"name":"custom","layers":[
        {"type":"conv2d","filters":16,"kernel":5,"padding":"same","activation":"relu"},
        {"type":"maxpool2d","size":2},{"type":"dropout","rate":0.25},{"type":"flatten"},
        {"type":"dense","units":64,"activation":"relu"},{"type":"dense","units":10}]}"#;
    let arch = Architecture::from_json(json).unwrap();
    assert_eq!(arch.layers[0], LayerSpec::Conv2d { filters: 16, kernel: 5, stride: 1, padding: Padding::Same, activation: Activation::Relu });
    assert_eq!(arch.layers[1], LayerSpec::MaxPool2d { size: 2, stride: None });
    assert_eq!(Architecture::from_json(&arch.to_json()).unwrap(), arch);
    let err = Architecture::from_json(r#"{"name":"x","layers":[{"type":"conv3d"}]}"#).unwrap_err().to_string();
    assert_mentions(&err, &["cannot read the layer list"]);
}

// --- Summary numbers, from the Keras formulas written out here independently of spec.rs ---

fn conv_params(kernel: usize, channels: usize, filters: usize) -> usize {
    kernel * kernel * channels * filters + filters
}

fn dense_params(inputs: usize, units: usize) -> usize {
    inputs * units + units
}

/// Side of a square map after a valid convolution or pooling.
fn valid(side: usize, window: usize, stride: usize) -> usize {
    (side - window) / stride + 1
}

#[test]
fn preset_summaries_have_kerass_published_parameter_counts() {
    let params = |name: &str| -> Vec<usize> {
        Architecture::preset(name).unwrap().summary().unwrap().layers.iter().map(|l| l.params).collect()
    };
    // model.summary() in Keras prints these for the lecture's two models.
    assert_eq!(params("dense"), [0, 100_480, 1_290]);
    assert_eq!(params("dense").iter().sum::<usize>(), 101_770);
    assert_eq!(params("cnn"), [320, 0, 18_496, 0, 0, 204_928, 1_290]);
    assert_eq!(Architecture::preset("cnn").unwrap().summary().unwrap().total_params, 225_034);
}

#[test]
fn cnn3_summary_matches_the_formulas() {
    let summary = Architecture::preset("cnn3").unwrap().summary().unwrap();
    // 28 → conv3 → pool2 → conv3 → pool2 → conv3 → pool2, written out step by step.
    let sides = {
        let mut side = 28;
        let mut sides = vec![];
        for (window, stride) in [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1), (2, 2)] {
            side = valid(side, window, stride);
            sides.push(side);
        }
        sides
    };
    let flat = sides[5] * sides[5] * 64;
    let expected = [
        conv_params(3, 1, 32),
        0,
        conv_params(3, 32, 64),
        0,
        conv_params(3, 64, 64),
        0,
        0,
        dense_params(flat, 128),
        dense_params(128, 10),
    ];
    let got: Vec<usize> = summary.layers.iter().map(|l| l.params).collect();
    assert_eq!(got, expected);
    assert_eq!(summary.total_params, expected.iter().sum::<usize>());
    assert_eq!(summary.weight_bytes(), 4 * summary.total_params);
    let spatial: Vec<String> = summary.layers[..6].iter().map(|l| l.output.keras()).collect();
    let channels = [32, 32, 64, 64, 64, 64];
    let want: Vec<String> = sides.iter().zip(channels).map(|(s, c)| format!("(None, {s}, {s}, {c})")).collect();
    assert_eq!(spatial, want);
    assert_eq!(summary.layers[6].output.keras(), format!("(None, {flat})"));
}

#[test]
fn multiply_adds_and_receptive_fields_of_cnn() {
    let summary = Architecture::preset("cnn").unwrap().summary().unwrap();
    let macs: Vec<usize> = summary.layers.iter().map(|l| l.macs).collect();
    let (c1, p1) = (valid(28, 3, 1), valid(valid(28, 3, 1), 2, 2));
    let (c2, p2) = (valid(p1, 3, 1), valid(valid(p1, 3, 1), 2, 2));
    let expected = [c1 * c1 * 32 * 9, 0, c2 * c2 * 64 * 9 * 32, 0, 0, p2 * p2 * 64 * 128, 128 * 10];
    assert_eq!(macs, expected);
    assert_eq!(summary.total_macs, expected.iter().sum::<usize>());
    // Receptive field: conv adds (k-1)·jump, pooling multiplies the jump by its stride.
    let fields: Vec<Option<usize>> = summary.layers.iter().map(|l| l.receptive_field.map(|r| r.size)).collect();
    assert_eq!(fields, [Some(3), Some(3 + 1), Some(4 + 2 * 2), Some(8 + 2), None, None, None]);
}

#[test]
fn custom_stack_summary() {
    let arch = Architecture::new(
        "custom",
        vec![
            LayerSpec::Conv2d { filters: 16, kernel: 5, stride: 1, padding: Padding::Same, activation: Activation::Relu },
            LayerSpec::pool(2),
            LayerSpec::Conv2d { filters: 24, kernel: 3, stride: 2, padding: Padding::Valid, activation: Activation::Linear },
            LayerSpec::Relu,
            LayerSpec::Dropout { rate: 0.3 },
            LayerSpec::Flatten,
            LayerSpec::dense(50, Activation::Relu),
            LayerSpec::dense(10, Activation::Linear),
        ],
    );
    let summary = arch.summary().unwrap();
    let pooled = valid(28, 2, 2); // 'same' keeps 28
    let strided = valid(pooled, 3, 2);
    let flat = strided * strided * 24;
    let params: Vec<usize> = summary.layers.iter().map(|l| l.params).collect();
    assert_eq!(params, [conv_params(5, 1, 16), 0, conv_params(3, 16, 24), 0, 0, 0, dense_params(flat, 50), dense_params(50, 10)]);
    let shapes: Vec<String> = summary.layers.iter().map(|l| l.output.keras()).collect();
    let map = |side: usize, c: usize| format!("(None, {side}, {side}, {c})");
    assert_eq!(
        shapes,
        [
            map(28, 16),
            map(pooled, 16),
            map(strided, 24),
            map(strided, 24),
            map(strided, 24),
            format!("(None, {flat})"),
            "(None, 50)".to_string(),
            "(None, 10)".to_string()
        ]
    );
    assert_eq!(summary.layers[2].macs, strided * strided * 24 * 9 * 16);
    // 5 → pool: 5+1 = 6, jump 2 → conv 3 stride 2: 6+2·2 = 10, jump 4.
    let field = summary.layers[2].receptive_field.unwrap();
    assert_eq!((field.size, field.jump), (10, 4));
    let names: Vec<&str> = summary.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["conv1", "pool1", "conv2", "relu1", "dropout1", "flatten1", "dense1", "dense2"]);
    // The candle model has exactly the parameters the summary announces.
    let network = Network::new(&arch, 3).unwrap();
    assert_eq!(network.parameters().iter().map(|(_, v)| v.elem_count()).sum::<usize>(), summary.total_params);
}

// --- Weights in and out ---

fn test_images(n: usize) -> Vec<f32> {
    // Deterministic, varied inputs: no need for the bundled data here.
    (0..n * PIXELS).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()
}

fn outputs(network: &Network, pixels: &[f32]) -> Vec<f32> {
    network.forward(&Network::input(pixels).unwrap(), None).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn weights_round_trip_keeps_architecture_metadata_and_outputs() {
    for arch in [Architecture::preset("dense").unwrap(), Architecture::from_json(&custom_json()).unwrap()] {
        let network = Network::new(&arch, 11).unwrap();
        let bytes = weights::save(&network, &[("digitlens.note", "from the lab".into())]).unwrap();
        let (declared, metadata) = weights::read_metadata(&bytes).unwrap();
        assert_eq!(declared, arch);
        assert_eq!(metadata.get("digitlens.note").map(String::as_str), Some("from the lab"));
        let loaded = weights::load(&bytes).unwrap();
        assert_eq!(loaded.architecture(), &arch);
        let pixels = test_images(3);
        assert_eq!(outputs(&loaded, &pixels), outputs(&network, &pixels));
    }
}

fn custom_json() -> String {
    r#"{"name":"custom","layers":[{"type":"conv2d","filters":8,"kernel":5,"padding":"same","activation":"relu"},
        {"type":"maxpool2d","size":2},{"type":"flatten"},{"type":"dropout","rate":0.2},
        {"type":"dense","units":10}]}"#
        .into()
}

fn load_error(bytes: &[u8]) -> String {
    match weights::load(bytes) {
        Ok(_) => panic!("the file should be refused"),
        Err(e) => e.to_string(),
    }
}

/// A safetensors file with the given architecture metadata and the tensors of `tensors_from`.
fn file_claiming(architecture: &Architecture, tensors_from: &Network) -> Vec<u8> {
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors_from
        .parameters()
        .into_iter()
        .map(|(name, var)| {
            let values: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
            (name, var.dims().to_vec(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            (name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap())
        })
        .collect();
    let metadata = HashMap::from([("digitlens.architecture".to_string(), architecture.to_json())]);
    safetensors::serialize(views, Some(metadata)).unwrap()
}

#[test]
fn bad_weight_files_are_refused_with_a_reason() {
    let cnn = Network::new(&Architecture::preset("cnn").unwrap(), 1).unwrap();
    let good = weights::save(&cnn, &[]).unwrap();
    assert!(weights::load(&good).is_ok());

    assert_mentions(&load_error(&[]), &["cannot load weights", "empty"]);
    assert_mentions(&load_error(&good[..good.len() / 2]), &["cannot load weights", "truncated"]);
    assert_mentions(&load_error(b"\x89PNG\r\n\x1a\n not weights at all"), &["cannot load weights", "not a valid safetensors file"]);

    let mut corrupt = good.clone();
    corrupt[3] = 0xff; // the header length: now far beyond the file
    assert_mentions(&load_error(&corrupt), &["cannot load weights"]);

    // A real safetensors file (e.g. from another project) without our architecture.
    let foreign = safetensors::serialize(
        vec![("w".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0, 0, 0, 0]).unwrap())],
        None,
    )
    .unwrap();
    assert_mentions(&load_error(&foreign), &["not saved by digitlens"]);

    // Wrong architecture: the metadata says cnn3 but the tensors are cnn's.
    let cnn3 = Architecture::preset("cnn3").unwrap();
    let err = load_error(&file_claiming(&cnn3, &cnn));
    assert_mentions(&err, &["cannot load weights", "conv3"]);
    // Same layer names, other sizes: dense with 64 units claimed, cnn's tensors present.
    let mut narrow = Architecture::preset("dense").unwrap();
    narrow.layers[1] = LayerSpec::dense(64, Activation::Relu);
    let dense128 = Network::new(&Architecture::preset("dense").unwrap(), 1).unwrap();
    assert_mentions(&load_error(&file_claiming(&narrow, &dense128)), &["dense1.weight", "shape"]);
    // An architecture that cannot be built.
    let mut broken = Architecture::preset("cnn").unwrap();
    broken.layers.remove(4);
    assert_mentions(&load_error(&file_claiming(&broken, &cnn)), &["architecture in the file is invalid", "add Flatten"]);

    // NaN weights.
    let nan = Network::new(&Architecture::preset("dense").unwrap(), 1).unwrap();
    let (_, first) = &nan.parameters()[0];
    first.set(&(first.as_tensor() * f64::NAN).unwrap()).unwrap();
    assert_mentions(&load_error(&weights::save(&nan, &[]).unwrap()), &["NaN"]);
}

#[test]
fn fine_tuning_data_accepts_the_users_drawings() {
    // The lab's "teach it my handwriting" adds 28×28 drawings (0..1) to bundled data.
    let mut data = Dataset::default();
    data.extend_from_pixels(&test_images(2), &[7, 3]).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data.labels, [7, 3]);
    assert!(data.extend_from_pixels(&test_images(1), &[12]).is_err(), "label 12 is not a digit");
    assert!(data.extend_from_pixels(&test_images(1)[..100], &[1]).is_err(), "not a whole image");
}
