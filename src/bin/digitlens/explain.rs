//! The CLI's `explain` (a map over the digit as a PNG, and its top regions) and
//! `faithfulness` (the deletion test's table), plus the attribution timings of `bench`.

use anyhow::{Context, Result};
use digitlens::data::Dataset;
use digitlens::explain::{self, faithfulness, Explanation, Method, Question};
use digitlens::network::Network;
use digitlens::spec::INPUT_SIZE;
use std::path::Path;

/// ColorBrewer RdBu, blue (away) → near-white (0) → red (towards): the page's diverging scale
/// (www/ui/draw-colors.js).
const RDBU: [[u8; 3]; 9] = [
    [0x21, 0x66, 0xac], [0x43, 0x93, 0xc3], [0x92, 0xc5, 0xde], [0xd1, 0xe5, 0xf0], [0xf7, 0xf7, 0xf7],
    [0xfd, 0xdb, 0xc7], [0xf4, 0xa5, 0x82], [0xd6, 0x60, 0x4d], [0xb2, 0x18, 0x2b],
];

/// The diverging colour of t in 0..1 (0.5 = zero).
fn diverging(t: f32) -> [f32; 3] {
    let x = t.clamp(0.0, 1.0) * (RDBU.len() - 1) as f32;
    let i = (x.floor() as usize).min(RDBU.len() - 2);
    let f = x - i as f32;
    [0, 1, 2].map(|k| RDBU[i][k] as f32 + (RDBU[i + 1][k] as f32 - RDBU[i][k] as f32) * f)
}

/// The map over the digit the network saw, each input pixel `scale`×`scale`: the digit in
/// grey (dark ink on white), the map's colour laid over it, opaque where |value| is largest.
fn picture(e: &Explanation, scale: usize) -> Vec<u8> {
    let side = INPUT_SIZE * scale;
    let range = e.scale().max(f32::MIN_POSITIVE);
    let mut rgb = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let i = (y / scale) * INPUT_SIZE + x / scale;
            let paper = 255.0 * (1.0 - 0.85 * e.input[i]);
            let value = (e.map[i] / range).clamp(-1.0, 1.0);
            let colour = diverging(0.5 + 0.5 * value);
            let alpha = value.abs().sqrt();
            rgb.extend(colour.map(|c| (paper * (1.0 - alpha) + c * alpha).round() as u8));
        }
    }
    rgb
}

fn write_png(path: &Path, rgb: &[u8], side: usize) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side as u32, side as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(())
}

pub fn explain(network: &Network, (rgba, width, height): (Vec<u8>, usize, usize), question: Question, out: Option<&Path>) -> Result<()> {
    let e = explain::explain_image(network, &rgba, width, height, question)?;
    let Some(target) = e.target else {
        println!("no digit: the image has no ink");
        return Ok(());
    };
    let digit = e.digit.map_or("none".into(), |d| d.to_string());
    let contrast = e.versus.map(|v| format!(" rather than {v}")).unwrap_or_default();
    println!("read as {digit}; why {target}{contrast}, by {}:", e.method.name());
    println!("  {}", e.sentence());
    println!("  map values up to ±{:.4}; colours span ±{:.4} (red: towards {target}, blue: away)", e.range(), e.scale());
    if let Some(error) = e.completeness_error {
        println!("  completeness error {:.2}% (Σ map vs the score's change from the blank image)", error * 100.0);
    }
    if let Some(layer) = &e.layer {
        println!("  Grad-CAM at layer {layer}");
    }
    println!("top regions:");
    for (rank, r) in e.regions(3).iter().enumerate() {
        let [left, top, right, bottom] = r.bounds;
        println!(
            "  {}. {} ({}), pixels x {left}–{right}, y {top}–{bottom}: {:+.4}, {:.0}% of the map",
            rank + 1,
            r.describe(),
            if r.towards { "towards" } else { "away" },
            r.total,
            r.share * 100.0
        );
    }
    if let Some(path) = out {
        const SCALE: usize = 10;
        write_png(path, &picture(&e, SCALE), INPUT_SIZE * SCALE)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

pub fn faithfulness(network: &Network, data: &Path, count: usize, seed: u64) -> Result<()> {
    let test_set = Dataset::load_dir(data, "t10k")?;
    let report = faithfulness::deletion_test(network, &test_set, count, seed)?;
    println!("deletion test on {} test digits: the predicted digit's probability drop when the top-ranked pixels are erased", report.digits);
    let header: String = faithfulness::FRACTIONS.iter().map(|f| format!("{:>9}", format!("{:.0}%", f * 100.0))).collect();
    println!("{:<12}{header}{:>16}", "method", "×random at 2%");
    for curve in &report.curves {
        let drops: String = curve.drops.iter().map(|d| format!("{d:>9.4}")).collect();
        let ratio = curve.method.and_then(|m| report.ratio(m)).map_or("—".into(), |r| format!("{r:.1}×"));
        println!("{:<12}{drops}{ratio:>16}", curve.name());
    }
    println!(
        "integrated gradients ({} steps): completeness error mean {:.2}%, largest {:.2}%",
        explain::INTEGRATED_STEPS,
        report.completeness_mean * 100.0,
        report.completeness_max * 100.0
    );
    Ok(())
}

/// `explain_ms` of every method for one 280×280 drawing, as JSON lines.
pub fn bench(network: &Network, drawing: &[u8], time_each: impl Fn(usize, &mut dyn FnMut() -> Result<()>) -> Result<f64>) -> Result<()> {
    for method in Method::ALL {
        let question = Question { method, ..Question::default() };
        let repeats = if matches!(method, Method::Gradient | Method::GradCam) { 200 } else { 30 };
        let ms = time_each(repeats, &mut || Ok(explain::explain_image(network, drawing, 280, 280, question).map(drop)?))?;
        let note = format!("one 280×280 drawing → its {} map, median of {repeats}", method.name());
        println!("{}", serde_json::json!({ "target": "native", "name": "explain_ms", "method": method.name(), "value": (ms * 1000.0).round() / 1000.0, "note": note }));
    }
    Ok(())
}
