//! Checks of the drawing preprocessing shared by the native tests (tests/foundation.rs) and the
//! browser tests (tests/web.rs), where SIMD128 reads four pixels at a time and the scalar code
//! only the rest of each row: so the same digit must come out the same wherever it sits in
//! the row and whatever the row's length, and every channel must weigh what Rec. 601 says.

use digitlens::preprocess::preprocess_rgba;

/// How a test canvas shows its ink.
#[derive(Clone, Copy, Debug)]
pub enum Paper {
    /// Black strokes on white, opaque.
    Light,
    /// White strokes on black, opaque.
    Dark,
    /// Opaque black strokes on a transparent canvas.
    Transparent,
}

/// A `width`×`height` canvas with a "4" of three strokes whose left edge is at `left`.
pub fn four(paper: Paper, width: usize, height: usize, left: usize) -> Vec<u8> {
    let strokes = [(0, 20, 14, 150), (0, 120, 110, 134), (80, 40, 94, 250)];
    let inked = |x: usize, y: usize| {
        strokes.iter().any(|&(x0, y0, x1, y1)| (left + x0..left + x1).contains(&x) && (y0..y1).contains(&y))
    };
    let mut rgba = vec![0; width * height * 4];
    for (i, pixel) in rgba.chunks_exact_mut(4).enumerate() {
        let ink = inked(i % width, i / width);
        pixel.copy_from_slice(&match (paper, ink) {
            (Paper::Light, false) | (Paper::Dark, true) => [255, 255, 255, 255],
            (Paper::Light, true) | (Paper::Dark, false) => [0, 0, 0, 255],
            (Paper::Transparent, true) => [0, 0, 0, 255],
            (Paper::Transparent, false) => [0, 0, 0, 0],
        });
    }
    rgba
}

/// The same digit, shifted by 0–4 pixels on rows of 280–283 pixels, gives the same 28×28
/// image to the last bit on each kind of paper, and the three papers agree to rounding.
pub fn check_same_digit_wherever_drawn() {
    let mut papers: Vec<Vec<f32>> = Vec::new();
    for paper in [Paper::Light, Paper::Dark, Paper::Transparent] {
        let mut reference: Option<Vec<f32>> = None;
        for width in 280..284 {
            for left in 60..65 {
                let image = preprocess_rgba(&four(paper, width, 280, left), width, 280).unwrap();
                let image = image.unwrap_or_else(|| panic!("{paper:?} {width} wide, at {left}: no digit read"));
                match &reference {
                    None => reference = Some(image),
                    Some(reference) => {
                        let differs = image.iter().zip(reference).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                        assert_eq!(differs, 0, "{paper:?} {width} wide, at {left}: {differs} of 784 pixels differ");
                    }
                }
            }
        }
        papers.push(reference.unwrap());
    }
    assert!(papers[0].iter().any(|&v| v > 0.99), "the strokes' interior is full ink");
    for other in &papers[1..] {
        let difference: f32 = papers[0].iter().zip(other).map(|(a, b)| (a - b).abs()).sum();
        assert!(difference < 1e-3, "the papers differ by {difference}");
    }
}

/// Thick strokes of pure red, green or blue on white carry `1 − luminance` of ink (0.701,
/// 0.413 and 0.886 with Rec. 601's weights), and half-transparent strokes half their alpha.
pub fn check_every_channel_weighs_its_share() {
    let bar = |x: usize, y: usize| (120..165).contains(&x) && (40..240).contains(&y);
    let canvas = |stroke: [u8; 4], background: [u8; 4]| -> Vec<u8> {
        (0..281 * 280).flat_map(|i| if bar(i % 281, i / 281) { stroke } else { background }).collect()
    };
    let white = [255, 255, 255, 255];
    let cases = [
        ("red", canvas([255, 0, 0, 255], white), 1.0 - 0.299),
        ("green", canvas([0, 255, 0, 255], white), 1.0 - 0.587),
        ("blue", canvas([0, 0, 255, 255], white), 1.0 - 0.114),
        ("alpha 128", canvas([9, 9, 9, 128], [0, 0, 0, 0]), 128.0 / 255.0),
    ];
    for (name, rgba, expected) in cases {
        let image = preprocess_rgba(&rgba, 281, 280).unwrap().unwrap_or_else(|| panic!("{name}: no digit read"));
        let strongest = image.iter().copied().fold(0.0f32, f32::max);
        assert!((strongest - expected).abs() < 1e-4, "{name}: ink {strongest}, expected {expected}");
    }
}
