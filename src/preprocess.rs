//! Canvas RGBA → the 28×28 input MNIST's own pipeline would have produced:
//! ink bounding box → longer side fitted into 20 px with area averaging →
//! pasted into 28×28 with the centre of mass at the centre.

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::kernels::positive;
use crate::spec::INPUT_SIZE;

/// Side of the box MNIST fits each digit into.
const FIT: usize = 20;
/// Ink weaker than this does not count towards the bounding box (anti-aliasing fringe, noise).
const BOX_THRESHOLD: f32 = 0.2;
/// An ink box whose longer side is under this fraction of the image is a speck, not a digit.
const MIN_EXTENT: f32 = 0.08;
/// Larger images are refused rather than risking the tab's memory.
const MAX_PIXELS: usize = 4096 * 4096;

/// The inclusive bounding box `(x0, y0, x1, y1)` of a digit's ink.
type InkBox = (usize, usize, usize, usize);

/// Ink intensity (0 = background, 1 = ink) of every pixel, and the box around the pixels with
/// more than `BOX_THRESHOLD` (`None` when there are none). A canvas with transparency is read
/// through its alpha (strokes on a transparent pad); an opaque image through its luminance,
/// with the background's polarity taken from the border pixels.
fn ink(rgba: &[u8], width: usize, height: usize) -> (Vec<f32>, Option<InkBox>) {
    // Multiplications by reciprocals below: a division per pixel costs more than the rest of
    // the pass on wasm. A fold (unlike `any`, which stops at the first hit) vectorises.
    if words(rgba).fold(u32::MAX, |lowest, p| lowest.min(p >> 24)) < 250 {
        return ink_with(rgba, width, |p| (p >> 24) as f32 * (1.0 / 255.0));
    }
    let border: Vec<f32> = (0..width)
        .flat_map(|x| [x, (height - 1) * width + x])
        .chain((0..height).flat_map(|y| [y * width, y * width + width - 1]))
        .map(|i| luminance(u32::from_le_bytes([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2], rgba[i * 4 + 3]])))
        .collect();
    // In 0..255, as `luminance`.
    let background = border.iter().sum::<f32>() / border.len() as f32;
    if background > 127.5 {
        let scale = 1.0 / background;
        ink_with(rgba, width, |p| positive(background - luminance(p)) * scale)
    } else {
        let scale = 1.0 / (255.0 - background).max(0.255);
        ink_with(rgba, width, |p| positive(luminance(p) - background) * scale)
    }
}

/// The pixels as little-endian RGBA words. Loops that load whole pixels vectorise; loops that
/// pick single bytes out of the interleaved channels do not (on wasm they run 2–4× slower).
fn words(rgba: &[u8]) -> impl Iterator<Item = u32> + '_ {
    rgba.chunks_exact(4).map(|p| u32::from_le_bytes(p.try_into().expect("4 bytes")))
}

/// Luminance in 0..255.
#[inline(always)]
fn luminance(p: u32) -> f32 {
    let channel = |shift: u32| ((p >> shift) & 0xff) as f32;
    0.299 * channel(0) + 0.587 * channel(8) + 0.114 * channel(16)
}

/// `ink` with the per-pixel rule `ink_of`: one branch-free pass that also flags, per column
/// and per row, whether any pixel is over the box threshold (instead of a division and four
/// comparisons per pixel).
#[inline(always)]
fn ink_with(rgba: &[u8], width: usize, ink_of: impl Fn(u32) -> f32) -> (Vec<f32>, Option<InkBox>) {
    let mut ink = vec![0.0; rgba.len() / 4];
    let mut columns = vec![0u32; width];
    let mut rows = None;
    for (y, (row, pixels)) in ink.chunks_exact_mut(width).zip(rgba.chunks_exact(width * 4)).enumerate() {
        let mut any = 0u32;
        for ((ink, p), column) in row.iter_mut().zip(words(pixels)).zip(&mut columns) {
            *ink = ink_of(p);
            let on = (*ink > BOX_THRESHOLD) as u32;
            *column |= on;
            any |= on;
        }
        if any != 0 {
            rows = Some((rows.map_or(y, |(y0, _)| y0), y));
        }
    }
    let ink_box = rows.and_then(|(y0, y1)| {
        let x0 = columns.iter().position(|&c| c != 0)?;
        let x1 = columns.iter().rposition(|&c| c != 0)?;
        Some((x0, y0, x1, y1))
    });
    (ink, ink_box)
}

/// For each output cell of a 1-D resampling from `from` to `to` cells, the source cells it
/// covers and how much of each (area averaging; weights of a cell sum to 1).
fn area_weights(from: usize, to: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = from as f32 / to as f32;
    (0..to)
        .map(|o| {
            let (start, end) = (o as f32 * scale, (o + 1) as f32 * scale);
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(from);
            (first..last)
                .map(|s| {
                    let overlap = (end.min(s as f32 + 1.0) - start.max(s as f32)).max(0.0);
                    (s, overlap / scale)
                })
                .filter(|&(_, w)| w > 0.0)
                .collect()
        })
        .collect()
}

/// Resamples a `w`×`h` image to `out_w`×`out_h` by area averaging (separably): down the
/// columns first, a whole row at a time (contiguous, so it vectorises), then across the few
/// rows left.
fn resample(image: &[f32], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    let (wx, wy) = (area_weights(w, out_w), area_weights(h, out_h));
    let mut columns = vec![0.0; w * out_h];
    for (out_row, cells) in columns.chunks_exact_mut(w).zip(&wy) {
        for &(y, k) in cells {
            out_row.iter_mut().zip(&image[y * w..(y + 1) * w]).for_each(|(o, v)| *o += v * k);
        }
    }
    let mut out = vec![0.0; out_w * out_h];
    for (out_row, row) in out.chunks_exact_mut(out_w).zip(columns.chunks_exact(w)) {
        for (o, cells) in out_row.iter_mut().zip(&wx) {
            *o = cells.iter().map(|&(x, k)| row[x] * k).sum();
        }
    }
    out
}

/// The 28×28 MNIST-style image (values in 0..1, row-major) for an RGBA image of any size,
/// or `None` when there is no digit to read (empty, or only a speck of ink).
pub fn preprocess_rgba(rgba: &[u8], width: usize, height: usize) -> Result<Option<Vec<f32>>> {
    if width == 0 || height == 0 {
        return Err(Error::Image(format!("a {width}×{height} image has no pixels")));
    }
    let count = width.checked_mul(height).filter(|&n| n <= MAX_PIXELS);
    let count = count.ok_or_else(|| Error::Image(format!("{width}×{height} is larger than 4096×4096")))?;
    if rgba.len() != count * 4 {
        return Err(Error::Image(format!(
            "a {width}×{height} RGBA image needs {} bytes, got {}",
            count * 4,
            rgba.len()
        )));
    }
    let (ink, ink_box) = ink(rgba, width, height);
    let Some((x0, y0, x1, y1)) = ink_box else {
        return Ok(None);
    };
    let (box_w, box_h) = (x1 - x0 + 1, y1 - y0 + 1);
    if (box_w.max(box_h) as f32) < MIN_EXTENT * width.max(height) as f32 {
        return Ok(None);
    }
    let mut cropped = Vec::with_capacity(box_w * box_h);
    for row in ink[y0 * width..(y1 + 1) * width].chunks_exact(width) {
        cropped.extend_from_slice(&row[x0..=x1]);
    }
    let longer = box_w.max(box_h) as f32;
    let fit_w = ((box_w as f32 * FIT as f32 / longer).round() as usize).clamp(1, FIT);
    let fit_h = ((box_h as f32 * FIT as f32 / longer).round() as usize).clamp(1, FIT);
    let fitted = resample(&cropped, box_w, box_h, fit_w, fit_h);
    Ok(Some(centre_by_mass(&fitted, fit_w, fit_h)))
}

/// Pastes a fitted digit into 28×28 so that its centre of mass lands on the centre
/// (to the nearest pixel), keeping it inside the frame.
fn centre_by_mass(fitted: &[f32], w: usize, h: usize) -> Vec<f32> {
    let (mut mass, mut mx, mut my) = (0.0f32, 0.0f32, 0.0f32);
    for y in 0..h {
        for x in 0..w {
            let v = fitted[y * w + x];
            mass += v;
            mx += v * (x as f32 + 0.5);
            my += v * (y as f32 + 0.5);
        }
    }
    let centre = INPUT_SIZE as f32 / 2.0;
    let offset = |com: f32, extent: usize| ((centre - com / mass).round() as isize).clamp(0, (INPUT_SIZE - extent) as isize) as usize;
    let (ox, oy) = (offset(mx, w), offset(my, h));
    let mut out = vec![0.0; PIXELS];
    for y in 0..h {
        for x in 0..w {
            out[(y + oy) * INPUT_SIZE + x + ox] = fitted[y * w + x].clamp(0.0, 1.0);
        }
    }
    out
}

/// Centre of mass (x, y) of a 28×28 image, with pixel centres at i + 0.5.
pub fn centre_of_mass(image: &[f32]) -> (f32, f32) {
    let (mut mass, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (i, &v) in image.iter().enumerate() {
        mass += v;
        mx += v * ((i % INPUT_SIZE) as f32 + 0.5);
        my += v * ((i / INPUT_SIZE) as f32 + 0.5);
    }
    (mx / mass, my / mass)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `size`×`size` RGBA canvas, light background, with dark filled rectangles.
    fn canvas(size: usize, rects: &[(usize, usize, usize, usize)], dark_on_light: bool) -> Vec<u8> {
        let (bg, fg) = if dark_on_light { (255u8, 0u8) } else { (0, 255) };
        let mut px = vec![bg; size * size * 4];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % size, i / size);
            if rects.iter().any(|&(x0, y0, x1, y1)| (x0..x1).contains(&x) && (y0..y1).contains(&y)) {
                p[..3].fill(fg);
            }
            p[3] = 255;
        }
        px
    }

    fn ink_box(image: &[f32]) -> (usize, usize) {
        let on: Vec<usize> = (0..PIXELS).filter(|&i| image[i] > 0.05).collect();
        let xs = on.iter().map(|i| i % 28);
        let ys = on.iter().map(|i| i / 28);
        (xs.clone().max().unwrap() - xs.min().unwrap() + 1, ys.clone().max().unwrap() - ys.min().unwrap() + 1)
    }

    #[test]
    fn off_centre_large_digit_is_fitted_and_centred() {
        // An "L" drawn large in the top-left of a 280×280 pad.
        let rgba = canvas(280, &[(10, 5, 40, 230), (10, 200, 150, 230)], true);
        let image = preprocess_rgba(&rgba, 280, 280).unwrap().unwrap();
        let (cx, cy) = centre_of_mass(&image);
        assert!((cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5, "centre of mass ({cx}, {cy})");
        let (w, h) = ink_box(&image);
        assert!(w <= 20 && h <= 20 && w.max(h) >= 19, "ink box {w}×{h}");
        assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn polarity_and_transparency_give_the_same_digit() {
        let rects = [(100, 40, 130, 240), (60, 40, 130, 70)];
        let light = preprocess_rgba(&canvas(280, &rects, true), 280, 280).unwrap().unwrap();
        let dark = preprocess_rgba(&canvas(280, &rects, false), 280, 280).unwrap().unwrap();
        let mut transparent = canvas(280, &rects, true);
        for p in transparent.chunks_exact_mut(4) {
            p[3] = if p[0] == 0 { 255 } else { 0 };
        }
        let alpha = preprocess_rgba(&transparent, 280, 280).unwrap().unwrap();
        for other in [&dark, &alpha] {
            let diff: f32 = light.iter().zip(other.iter()).map(|(a, b)| (a - b).abs()).sum();
            assert!(diff < 1e-3, "difference {diff}");
        }
    }

    #[test]
    fn empty_and_speck_give_no_digit_bad_sizes_give_errors() {
        assert_eq!(preprocess_rgba(&canvas(280, &[], true), 280, 280).unwrap(), None);
        assert_eq!(preprocess_rgba(&canvas(280, &[(140, 140, 146, 146)], true), 280, 280).unwrap(), None);
        assert!(preprocess_rgba(&[0; 12], 2, 2).unwrap_err().to_string().contains("needs 16 bytes"));
        assert!(preprocess_rgba(&[], 0, 5).is_err());
        assert!(preprocess_rgba(&[], 100_000, 100_000).unwrap_err().to_string().contains("larger"));
    }

    #[test]
    fn tiny_filled_and_border_images_stay_finite() {
        let filled = preprocess_rgba(&canvas(280, &[(0, 0, 280, 280)], true), 280, 280).unwrap();
        // A fully inked pad has no background border left: it reads as blank paper.
        assert!(filled.is_none() || filled.unwrap().iter().all(|v| v.is_finite()));
        let one = preprocess_rgba(&[0, 0, 0, 255], 1, 1).unwrap();
        assert!(one.is_none() || one.unwrap().iter().all(|v| v.is_finite()));
        let line = preprocess_rgba(&canvas(280, &[(0, 0, 280, 8)], true), 280, 280).unwrap().unwrap();
        assert!(line.iter().all(|v| v.is_finite()) && line.iter().any(|&v| v > 0.5));
    }

    #[test]
    fn area_weights_conserve_mass() {
        for (from, to) in [(200, 20), (7, 20), (20, 20), (33, 7)] {
            let image = vec![1.0; from * from];
            let out = resample(&image, from, from, to, to);
            assert!(out.iter().all(|v| (v - 1.0).abs() < 1e-4), "{from}->{to}");
        }
    }
}
