//! What each unit looks for, in the browser (`wasm-pack test --headless --chrome -- --test
//! web_insight`): the JS API (`visualize`, `TopK`, the projection), the top-k pass against
//! brute force, gradient ascent climbing inside the box, PCA, and real maximisation on a
//! sample of conv2.relu's channels (all 64 take longer than a wasm test file may run).
#![cfg(target_arch = "wasm32")]

use digitlens::data::Dataset;
use digitlens::projection::pca;
use digitlens::recognizer::Recognizer;
use digitlens::topk::{TopK, KEEP};
use digitlens::visualize::{visualize, AscentOptions, FeatureAscent};
use digitlens::web;
use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TEST_IMAGES: &[u8] = include_bytes!("../www/data/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../www/data/t10k-labels-idx1-ubyte.gz");

fn test_set(n: usize) -> Dataset {
    Dataset::from_idx(TEST_IMAGES, TEST_LABELS).unwrap().subset(&(0..n).collect::<Vec<_>>())
}

/// Lets the browser breathe between long steps (chromedriver kills long synchronous stretches).
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().expect("a browser window").set_timeout_with_callback(&resolve).expect("setTimeout");
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.expect("the timeout resolves");
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap()
}

#[wasm_bindgen_test]
fn visualize_from_js_gives_an_image_whose_reading_has_that_activation() {
    let model = web::Recognizer::pretrained().unwrap();
    let options = Object::new();
    Reflect::set(&options, &"steps".into(), &32.into()).unwrap();
    Reflect::set(&options, &"seed".into(), &5.into()).unwrap();
    let v = model.visualize("conv2.relu", 17.0, options.into()).unwrap();
    let image: Vec<f32> = get(&v, "image").dyn_into::<Float32Array>().unwrap().to_vec();
    let activation = get(&v, "activation").as_f64().unwrap() as f32;
    assert_eq!(image.len(), 784);
    assert!(image.iter().all(|p| (0.0..=1.0).contains(p)));
    // predict28 from JS: the channel's largest value is the activation reported.
    let reading = model.predict28(&image, None).unwrap();
    let layers: Array = get(&reading, "layers").dyn_into().unwrap();
    let conv2 = layers.iter().find(|l| get(l, "name").as_string().as_deref() == Some("conv2.relu")).unwrap();
    let values = get(&conv2, "activations").dyn_into::<Float32Array>().unwrap().to_vec();
    let channel = &values[17 * 121..18 * 121];
    assert_eq!(activation, channel.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    // Unknown layer or channel: a clear error.
    for (layer, channel) in [("conv9", 0.0), ("conv2.relu", 64.0), ("conv2.relu", -1.0), ("dense1", 0.5)] {
        assert!(model.visualize(layer, channel, JsValue::UNDEFINED).is_err(), "{layer} {channel}");
    }
    let core = Recognizer::pretrained().unwrap();
    let message = digitlens::visualize::Target::new(core.network(), "conv9", 0).unwrap_err().to_string();
    assert!(message.contains("no layer named 'conv9'"), "{message}");
}

#[wasm_bindgen_test]
async fn top_k_pass_equals_brute_force_and_projects() {
    let model = Recognizer::pretrained().unwrap();
    let data = test_set(120);
    let mut pass = TopK::new(model.network()).unwrap();
    for to in [50, 120] {
        pass.add_until(model.network(), &data, to).unwrap();
        yield_now().await;
    }
    // Brute force, one image at a time through predict28, on two layers.
    for (layer, channels) in [("conv1.relu", 32), ("dense1", 128)] {
        let mut peaks = vec![Vec::new(); channels];
        for i in 0..data.len() {
            let pixels: Vec<f32> = data.image(i).iter().map(|&p| p as f32 / 255.0).collect();
            let r = model.predict28(&pixels, true).unwrap();
            let values = r.activations().unwrap();
            let tap = r.layers.iter().find(|l| l.name == layer).unwrap();
            let plane = tap.range.len() / channels;
            for (c, map) in values[tap.range.clone()].chunks_exact(plane).enumerate() {
                peaks[c].push(map.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            }
        }
        for (c, peaks) in peaks.iter().enumerate() {
            let mut order: Vec<usize> = (0..peaks.len()).collect();
            order.sort_by(|&a, &b| peaks[b].total_cmp(&peaks[a]).then(a.cmp(&b)));
            let got = pass.channel(layer, c).unwrap();
            let top: Vec<u32> = got.top.iter().map(|e| e.index).collect();
            assert_eq!(top, order[..KEEP].iter().map(|&i| i as u32).collect::<Vec<_>>(), "{layer} {c}");
        }
        yield_now().await;
    }
    let (_, width, embeddings) = pass.embeddings();
    let p = pca(embeddings, width, 2).unwrap();
    assert_eq!(p.points.len(), 240);
    assert!(p.variances[0] >= p.variances[1] && p.variances[1] > 0.0);
}

#[wasm_bindgen_test]
fn pca_recovers_a_known_decomposition() {
    // Points ±σ along two orthonormal directions of 4-D space around a mean.
    let u = [[0.5f32, 0.5, 0.5, 0.5], [0.5, -0.5, 0.5, -0.5]];
    let (sigmas, mean) = ([3.0f32, 1.0], [1.0f32, 2.0, 3.0, 4.0]);
    let mut values = Vec::new();
    for (dir, s) in u.iter().zip(sigmas) {
        for sign in [1.0, -1.0] {
            values.extend(mean.iter().zip(dir).map(|(m, d)| m + sign * s * d));
        }
    }
    let p = pca(&values, 4, 2).unwrap();
    for k in 0..2 {
        let dot: f32 = p.axes[k * 4..][..4].iter().zip(&u[k]).map(|(a, b)| a * b).sum();
        assert!((dot.abs() - 1.0).abs() < 1e-4, "axis {k}: {dot}");
        let expected = 2.0 * sigmas[k] * sigmas[k] / 4.0;
        assert!((p.variances[k] - expected).abs() < 1e-3 * expected, "variance {k}: {}", p.variances[k]);
    }
}

#[wasm_bindgen_test]
async fn gradient_ascent_climbs_inside_the_box() {
    let model = Recognizer::pretrained().unwrap();
    let net = model.network();
    for (layer, channel) in [("conv1.relu", 3), ("pool2", 5), ("dense1", 40)] {
        let mut ascent = FeatureAscent::new(net, layer, channel, AscentOptions { steps: 40, seed: 1, ..Default::default() }).unwrap();
        let start = ascent.result(net).unwrap().activation;
        ascent.advance(net, 40).unwrap();
        let end = ascent.result(net).unwrap();
        assert!(end.activation > start, "{layer} {channel}: {start} → {}", end.activation);
        assert!(end.image.iter().all(|p| (0.0..=1.0).contains(p)));
        yield_now().await;
    }
}

#[wasm_bindgen_test]
async fn feature_visualisation_beats_every_test_digit_on_most_sampled_conv2_channels() {
    let model = Recognizer::pretrained().unwrap();
    let data = test_set(500);
    let mut pass = TopK::new(model.network()).unwrap();
    for to in (100..=500).step_by(100) {
        pass.add_until(model.network(), &data, to).unwrap();
        yield_now().await;
    }
    let mut ratios = Vec::new();
    for c in (0..64).step_by(6) {
        let best = pass.channel("conv2.relu", c).unwrap().top[0].value;
        // A channel no test digit opens (a dead ReLU) has nothing to beat.
        if best <= 0.0 {
            continue;
        }
        let v = visualize(model.network(), "conv2.relu", c, AscentOptions::default()).unwrap();
        ratios.push(v.activation / best);
        yield_now().await;
    }
    assert!(ratios.len() >= 6, "only {} of 11 sampled channels open", ratios.len());
    let beaten = ratios.iter().filter(|&&r| r >= 1.0).count();
    assert!(beaten * 10 >= ratios.len() * 8, "{beaten} of {}: {ratios:?}", ratios.len());
}
