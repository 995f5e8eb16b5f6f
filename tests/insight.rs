//! What each unit looks for: the top-k pass against brute force, gradient ascent (it climbs,
//! stays in the box, is reproducible, and really maximises), and PCA against a known
//! decomposition.
#![cfg(not(target_arch = "wasm32"))]

use digitlens::data::Dataset;
use digitlens::projection::pca;
use digitlens::recognizer::Recognizer;
use digitlens::rng::Rng;
use digitlens::topk::{TopK, KEEP};
use digitlens::visualize::{visualize, AscentOptions, FeatureAscent, Target};
use std::path::Path;

fn test_set(n: usize) -> Dataset {
    let all = Dataset::load_dir(Path::new("www/data"), "t10k").expect("the bundled test set");
    all.subset(&(0..n).collect::<Vec<_>>())
}

/// Every image's (peak, argmax) on every channel of every layer, one image at a time through
/// `predict28`, the path the page reads drawings with.
fn brute_force(model: &Recognizer, data: &Dataset) -> Vec<(String, Vec<usize>, Vec<Vec<(f32, usize)>>)> {
    let mut layers: Vec<(String, Vec<usize>, Vec<Vec<(f32, usize)>>)> = Vec::new();
    for i in 0..data.len() {
        let pixels: Vec<f32> = data.image(i).iter().map(|&p| p as f32 / 255.0).collect();
        let r = model.predict28(&pixels, true).unwrap();
        let values = r.activations().unwrap();
        for (l, layer) in r.layers.iter().enumerate() {
            if i == 0 {
                layers.push((layer.name.clone(), layer.shape.clone(), vec![Vec::new(); layer.shape[0]]));
            }
            let values = &values[layer.range.clone()];
            let plane = values.len() / layer.shape[0];
            for (c, map) in values.chunks_exact(plane).enumerate() {
                let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                layers[l].2[c].push((max, map.iter().position(|&v| v == max).unwrap()));
            }
        }
    }
    layers
}

#[test]
fn top_k_pass_equals_a_brute_force_pass() {
    let model = Recognizer::pretrained().unwrap();
    let data = test_set(300);
    let mut pass = TopK::new(model.network()).unwrap();
    // Uneven chunks, as a worker reporting progress would add them.
    for to in [37, 38, 200, 300, 400] {
        pass.add_until(model.network(), &data, to).unwrap();
    }
    assert_eq!(pass.count(), 300);
    let expected = brute_force(&model, &data);
    assert_eq!(pass.layers().len(), expected.len());
    for (name, shape, channels) in &expected {
        let width = if shape.len() == 3 { shape[2] } else { 1 };
        for (c, peaks) in channels.iter().enumerate() {
            let got = pass.channel(name, c).unwrap();
            let mut order: Vec<usize> = (0..peaks.len()).collect();
            order.sort_by(|&a, &b| peaks[b].0.total_cmp(&peaks[a].0).then(a.cmp(&b)));
            let top: Vec<(u32, u16, u16)> =
                order[..KEEP].iter().map(|&i| (i as u32, (peaks[i].1 / width) as u16, (peaks[i].1 % width) as u16)).collect();
            let got_top: Vec<(u32, u16, u16)> = got.top.iter().map(|e| (e.index, e.row, e.col)).collect();
            assert_eq!(got_top, top, "{name} channel {c}: top {KEEP}");
            // Batches of images take candle's matrix product for dense layers, one image a
            // vector kernel: the same sums, rounded in another order.
            for (e, &i) in got.top.iter().zip(&order) {
                assert!((e.value - peaks[i].0).abs() <= 1e-5 * peaks[i].0.abs().max(1.0), "{name} {c}: {} vs {}", e.value, peaks[i].0);
            }
            order.sort_by(|&a, &b| peaks[a].0.total_cmp(&peaks[b].0).then(a.cmp(&b)));
            let bottom: Vec<u32> = order[..KEEP].iter().map(|&i| i as u32).collect();
            assert_eq!(got.bottom.iter().map(|e| e.index).collect::<Vec<_>>(), bottom, "{name} channel {c}: bottom {KEEP}");
            for digit in 0..10 {
                let of_digit: Vec<f32> = (0..peaks.len()).filter(|&i| data.labels[i] == digit).map(|i| peaks[i].0).collect();
                let mean = of_digit.iter().sum::<f32>() / of_digit.len() as f32;
                assert!((got.class_means[digit as usize] - mean).abs() <= 1e-4 * mean.abs().max(1.0), "{name} {c} digit {digit}");
            }
            assert_eq!(got.histogram.counts.iter().sum::<u32>(), 300);
        }
    }
    let (name, width, embeddings) = pass.embeddings();
    assert_eq!((name, width, embeddings.len()), ("dense1", 128, 300 * 128));
    let accuracy = pass.predictions().iter().zip(pass.labels()).filter(|(p, l)| p == l).count();
    assert!(accuracy > 290, "{accuracy} of 300 right");
}

#[test]
fn unknown_layers_and_channels_are_clear_errors() {
    let model = Recognizer::pretrained().unwrap();
    let net = model.network();
    let no_layer = Target::new(net, "conv9", 0).unwrap_err().to_string();
    assert!(no_layer.contains("no layer named 'conv9'") && no_layer.contains("conv2.relu"), "{no_layer}");
    let no_channel = Target::new(net, "conv1", 32).unwrap_err().to_string();
    assert!(no_channel.contains("32 channels"), "{no_channel}");
    let pass = TopK::new(net).unwrap();
    assert!(pass.channel("dense1", 128).unwrap_err().to_string().contains("128 channels"));
}

#[test]
fn gradient_ascent_climbs_stays_in_the_box_and_is_reproducible() {
    let model = Recognizer::pretrained().unwrap();
    let net = model.network();
    for (layer, channel) in [("conv1.relu", 3), ("pool1", 30), ("conv2.relu", 17), ("pool2", 5), ("dense1", 40), ("dense2", 7)] {
        let options = AscentOptions { steps: 48, seed: 3, ..Default::default() };
        let mut ascent = FeatureAscent::new(net, layer, channel, options.clone()).unwrap();
        let start = ascent.result(net).unwrap();
        assert!(start.image.iter().all(|&p| p == 0.5), "starts from grey");
        ascent.advance(net, 16).unwrap();
        let early = ascent.result(net).unwrap();
        ascent.advance(net, 1000).unwrap();
        assert_eq!(ascent.steps_done(), 48);
        let end = ascent.result(net).unwrap();
        assert!(end.activation > start.activation && end.activation >= early.activation * 0.95,
            "{layer} {channel}: {} → {} → {}", start.activation, early.activation, end.activation);
        assert!(end.image.iter().all(|p| (0.0..=1.0).contains(p)), "{layer}: box 0..1");
        // The activation is what the page's own reading of the image gives.
        let reading = model.predict28(&end.image, true).unwrap();
        let values = reading.activations().unwrap();
        let tap = reading.layers.iter().find(|l| l.name == layer).unwrap();
        let plane = tap.range.len() / tap.shape[0];
        let map = &values[tap.range.start + channel * plane..][..plane];
        assert_eq!(end.activation, map.iter().copied().fold(f32::NEG_INFINITY, f32::max), "{layer}");
        assert_eq!(visualize(net, layer, channel, options).unwrap(), end, "{layer}: same seed, same image");
    }
}

/// For every channel of a layer: (the visualisation's activation, the largest that any of the
/// first 500 test digits reaches).
fn maximisation(model: &Recognizer, layer: &str) -> Vec<(f32, f32)> {
    let data = test_set(500);
    let mut pass = TopK::new(model.network()).unwrap();
    pass.add_until(model.network(), &data, 500).unwrap();
    let channels = pass.layers().iter().find(|(n, _)| n == layer).unwrap().1[0];
    (0..channels)
        .map(|c| {
            let best = pass.channel(layer, c).unwrap().top[0].value;
            (visualize(model.network(), layer, c, AscentOptions::default()).unwrap().activation, best)
        })
        .collect()
}

#[test]
fn feature_visualisation_beats_every_test_digit_on_most_conv2_channels() {
    let model = Recognizer::pretrained().unwrap();
    let results = maximisation(&model, "conv2.relu");
    // Over the channels some test digit opens: a channel that stays 0 on every digit (a dead
    // ReLU, which training leaves a few of) has nothing to beat. Most must be open, though, or
    // the bar would hold vacuously.
    let open: Vec<&(f32, f32)> = results.iter().filter(|(_, best)| *best > 0.0).collect();
    let beaten = open.iter().filter(|(v, best)| v >= best).count();
    assert!(open.len() * 2 >= results.len(), "only {} of {} channels open: {results:?}", open.len(), results.len());
    assert!(beaten * 10 >= open.len() * 8, "{beaten} of {} open channels: {results:?}", open.len());
}

#[test]
fn pca_recovers_a_known_decomposition() {
    // Points ±σᵢ·uᵢ along orthonormal directions uᵢ, shifted by a mean: the covariance is
    // exactly Σ (2σᵢ²/n)·uᵢuᵢᵀ, so the axes are the uᵢ and the variances 2σᵢ²/n.
    let dims = 12;
    let mut rng = Rng::new(11);
    let mut directions: Vec<Vec<f64>> = Vec::new();
    while directions.len() < 3 {
        let mut v: Vec<f64> = (0..dims).map(|_| rng.uniform() as f64 - 0.5).collect();
        for u in &directions {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let length = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        directions.push(v.iter().map(|a| a / length).collect());
    }
    let sigmas = [5.0, 2.0, 0.5];
    let mean: Vec<f64> = (0..dims).map(|i| i as f64 * 0.25 - 1.0).collect();
    let mut values = Vec::new();
    for (u, s) in directions.iter().zip(sigmas) {
        for sign in [1.0, -1.0] {
            values.extend(mean.iter().zip(u).map(|(m, a)| (m + sign * s * a) as f32));
        }
    }
    let n = 6.0;
    let p = pca(&values, dims, 2).unwrap();
    for k in 0..2 {
        let axis = &p.axes[k * dims..][..dims];
        let dot: f64 = axis.iter().zip(&directions[k]).map(|(a, b)| *a as f64 * b).sum();
        assert!((dot.abs() - 1.0).abs() < 1e-4, "axis {k} is direction {k}: |dot| = {dot}");
        let expected = 2.0 * sigmas[k] * sigmas[k] / n;
        assert!((p.variances[k] as f64 - expected).abs() < 1e-3 * expected, "variance {k}: {} vs {expected}", p.variances[k]);
        // Row 2k is +σₖuₖ: its coordinate on axis k is ±σₖ, on the other axis 0.
        let coordinate = p.points[2 * k * 2 + k] as f64;
        assert!((coordinate.abs() - sigmas[k]).abs() < 1e-3, "{coordinate}");
        assert!(p.points[2 * k * 2 + (1 - k)].abs() < 1e-3);
    }
    assert!(pca(&values, 5, 2).is_err() && pca(&values[..dims], dims, 2).is_err());
}

#[test]
fn pca_of_dense1_separates_the_digits() {
    let model = Recognizer::pretrained().unwrap();
    let data = test_set(500);
    let mut pass = TopK::new(model.network()).unwrap();
    pass.add_until(model.network(), &data, 500).unwrap();
    let (_, width, embeddings) = pass.embeddings();
    let p = pca(embeddings, width, 2).unwrap();
    assert!(p.variances[0] >= p.variances[1] && p.variances[1] > 0.0);
    // Digits of one class lie closer to their own class centre than to the others' on average.
    let mut centres = [[0.0f32; 2]; 10];
    let mut counts = [0f32; 10];
    for (point, &label) in p.points.chunks_exact(2).zip(pass.labels()) {
        centres[label as usize][0] += point[0];
        centres[label as usize][1] += point[1];
        counts[label as usize] += 1.0;
    }
    centres.iter_mut().zip(counts).for_each(|(c, n)| c.iter_mut().for_each(|v| *v /= n));
    let distance = |a: &[f32], b: &[f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let (mut own, mut other) = (0.0, 0.0);
    for (point, &label) in p.points.chunks_exact(2).zip(pass.labels()) {
        own += distance(point, &centres[label as usize]);
        other += (0..10).filter(|&d| d != label as usize).map(|d| distance(point, &centres[d])).sum::<f32>() / 9.0;
    }
    assert!(own < other * 0.6, "own-class distance {own} vs other {other}");
    let live = p.project(&embeddings[..width]).unwrap();
    assert!((live[0] - p.points[0]).abs() < 1e-3 && (live[1] - p.points[1]).abs() < 1e-3);
}
