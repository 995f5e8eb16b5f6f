//! The attribution maps natively computed for a few test digits (maps.json), which the browser
//! must reproduce (tests/web_explain.rs); tests/explain.rs checks that they still are what the
//! current code computes, so they cannot go stale.

use serde::{Deserialize, Serialize};

/// One map: test image `index`, asked with `method`, `target` and `versus`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub index: usize,
    pub method: String,
    pub target: Option<u8>,
    pub versus: Option<u8>,
    pub digit: Option<u8>,
    pub map: Vec<f32>,
}

pub const MAPS: &str = include_str!("maps.json");

/// What to ask: every method on two digits, and a contrast for two of them.
pub fn questions() -> Vec<(usize, &'static str, Option<u8>, Option<u8>)> {
    let mut out = Vec::new();
    for index in [0, 1] {
        for method in ["gradient", "integrated", "occlusion", "gradcam"] {
            out.push((index, method, None, None));
        }
    }
    out.push((0, "gradient", Some(7), Some(1)));
    out.push((0, "gradcam", Some(9), Some(4)));
    out
}

/// Whether two maps agree within float rounding: every value within 1e-3 of the map's range.
pub fn same_map(a: &[f32], b: &[f32]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} values vs {}", a.len(), b.len()));
    }
    let range = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    if worst <= 1e-3 * range + 1e-6 {
        Ok(())
    } else {
        Err(format!("values differ by up to {worst} (range {range})"))
    }
}
