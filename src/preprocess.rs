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

/// How much ink a pixel holds (0 background, 1 full ink): a linear function of its channels,
/// `positive(level · per_level + offset)` with `level = weights · (r, g, b, a)` in integers.
/// Reading every pixel through one integer dot product keeps the full-image pass over a large
/// canvas to a few vector instructions per four pixels on wasm.
#[derive(Clone, Copy, Debug)]
struct InkRule {
    /// Per channel, in 16 bits: the SIMD path multiplies in 16-bit lanes.
    weights: [i16; 4],
    per_level: f32,
    offset: f32,
}

/// Luminance weights (Rec. 601) in thousandths, so luminance × 1000 is an exact integer.
const LUMINANCE: [i16; 4] = [299, 587, 114, 0];

impl InkRule {
    /// The rule the image calls for: a canvas with transparency reads its alpha (strokes on a
    /// transparent pad); an opaque image its luminance, with the background's polarity taken
    /// from the border pixels.
    fn for_image(rgba: &[u8], width: usize, height: usize) -> InkRule {
        if lowest_alpha(rgba) < 250 {
            return InkRule { weights: [0, 0, 0, 1], per_level: 1.0 / 255.0, offset: 0.0 };
        }
        let border = (0..width)
            .flat_map(|x| [x, (height - 1) * width + x])
            .chain((0..height).flat_map(|y| [y * width, y * width + width - 1]));
        let (count, total) = border.fold((0u64, 0i64), |(n, sum), i| (n + 1, sum + level(word(rgba, i), LUMINANCE) as i64));
        // Luminance in 0..255.
        let background = (total as f64 / count as f64 / 1000.0) as f32;
        if background > 127.5 {
            // Darker than the background is ink.
            let scale = 1.0 / background;
            InkRule { weights: LUMINANCE.map(|w| -w), per_level: scale / 1000.0, offset: background * scale }
        } else {
            let scale = 1.0 / (255.0 - background).max(0.255);
            InkRule { weights: LUMINANCE, per_level: scale / 1000.0, offset: -background * scale }
        }
    }

    #[inline(always)]
    fn ink(&self, p: u32) -> f32 {
        positive(level(p, self.weights) as f32 * self.per_level + self.offset)
    }

    /// The level above which a pixel's ink is over `BOX_THRESHOLD`: the box needs no float.
    fn box_level(&self) -> i32 {
        ((BOX_THRESHOLD - self.offset) as f64 / self.per_level as f64).floor() as i32
    }
}

/// `weights · (r, g, b, a)` of a little-endian RGBA word.
#[inline(always)]
fn level(p: u32, weights: [i16; 4]) -> i32 {
    // In 16-bit factors, as the SIMD path (and x86's pmaddwd) multiplies.
    let product = |i: usize| weights[i] as i32 * ((p >> (8 * i)) & 0xff) as i16 as i32;
    product(0) + product(1) + product(2) + product(3)
}

/// The ink of every pixel of `rgba` into `out` (one value per pixel).
fn inks(rgba: &[u8], rule: &InkRule, out: &mut [f32]) {
    #[cfg(target_arch = "wasm32")]
    let done = simd::inks(rgba, rule, out);
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    out[done..].iter_mut().zip(words(&rgba[done * 4..])).for_each(|(out, p)| *out = rule.ink(p));
}

/// The lowest alpha of any pixel (255 for none).
fn lowest_alpha(rgba: &[u8]) -> u8 {
    #[cfg(target_arch = "wasm32")]
    let (done, lowest) = simd::lowest_alpha(rgba);
    #[cfg(not(target_arch = "wasm32"))]
    let (done, lowest) = (0, u8::MAX);
    rgba[done * 4..].chunks_exact(4).fold(lowest, |lowest, p| lowest.min(p[3]))
}

/// Flags (nonzero) in `columns` the pixels of one row whose level is over `over`; whether any is.
fn mark_ink(rgba: &[u8], weights: [i16; 4], over: i32, columns: &mut [u32]) -> bool {
    #[cfg(target_arch = "wasm32")]
    let (done, mut any) = simd::mark_ink(rgba, weights, over, columns);
    #[cfg(not(target_arch = "wasm32"))]
    let (done, mut any) = (0, false);
    for (column, p) in columns[done..].iter_mut().zip(words(&rgba[done * 4..])) {
        let on = level(p, weights) > over;
        *column |= on as u32;
        any |= on;
    }
    any
}

/// Four pixels per step, with exactly the scalar code's arithmetic. LLVM leaves the scalar
/// loops over interleaved bytes unvectorised, and 32-bit multiplies are slow: one 16-bit dot
/// product per two pixels does the four multiply-adds of their levels.
#[cfg(target_arch = "wasm32")]
mod simd {
    use super::InkRule;
    use core::arch::wasm32::*;

    /// The rule's weights as 16-bit lanes, twice.
    fn weights16([r, g, b, a]: [i16; 4]) -> v128 {
        i16x8(r, g, b, a, r, g, b, a)
    }

    /// `level` of the four pixels at the start of `pixels`.
    #[inline(always)]
    fn levels(pixels: &[u8], weights: v128) -> v128 {
        let pixels: &[u8; 16] = pixels[..16].try_into().expect("four pixels");
        // SAFETY: 16 bytes; v128 loads need no alignment.
        let p = unsafe { v128_load(pixels.as_ptr() as *const v128) };
        // (r·wr + g·wg, b·wb + a·wa) of each pixel, two pixels per dot product.
        let first = i32x4_dot_i16x8(u16x8_extend_low_u8x16(p), weights);
        let second = i32x4_dot_i16x8(u16x8_extend_high_u8x16(p), weights);
        i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(first, second), i32x4_shuffle::<1, 3, 5, 7>(first, second))
    }

    /// The ink of the first pixels of `rgba`, four at a time; returns how many it did.
    pub fn inks(rgba: &[u8], rule: &InkRule, out: &mut [f32]) -> usize {
        let weights = weights16(rule.weights);
        let (per_level, offset, zero) = (f32x4_splat(rule.per_level), f32x4_splat(rule.offset), f32x4_splat(0.0));
        let mut done = 0;
        for (pixels, out) in rgba.chunks_exact(16).zip(out.chunks_exact_mut(4)) {
            let ink = f32x4_add(f32x4_mul(f32x4_convert_i32x4(levels(pixels, weights)), per_level), offset);
            // pmax(0, x) is `positive(x)`: x when 0 < x, else 0 (NaN too).
            // SAFETY: four floats; v128 stores need no alignment.
            unsafe { v128_store(out.as_mut_ptr() as *mut v128, f32x4_pmax(zero, ink)) };
            done += 4;
        }
        done
    }

    /// `lowest_alpha` of the first pixels of `rgba`, four at a time: how many it did and their
    /// lowest alpha.
    pub fn lowest_alpha(rgba: &[u8]) -> (usize, u8) {
        let mut lowest = u8x16_splat(u8::MAX);
        let blocks = rgba.chunks_exact(16);
        let done = blocks.len() * 4;
        for pixels in blocks {
            // SAFETY: 16 bytes; v128 loads need no alignment.
            lowest = u8x16_min(lowest, unsafe { v128_load(pixels.as_ptr() as *const v128) });
        }
        let alphas = [u8x16_extract_lane::<3>(lowest), u8x16_extract_lane::<7>(lowest), u8x16_extract_lane::<11>(lowest), u8x16_extract_lane::<15>(lowest)];
        (done, alphas.into_iter().min().expect("four lanes"))
    }

    /// `mark_ink` for the first pixels of `rgba`, four at a time; returns how many it did and
    /// whether any was over.
    pub fn mark_ink(rgba: &[u8], weights: [i16; 4], over: i32, columns: &mut [u32]) -> (usize, bool) {
        let (weights, over) = (weights16(weights), i32x4_splat(over));
        let (mut any, mut done) = (i32x4_splat(0), 0);
        for (pixels, columns) in rgba.chunks_exact(16).zip(columns.chunks_exact_mut(4)) {
            let on = i32x4_gt(levels(pixels, weights), over);
            // SAFETY: four u32; v128 loads and stores need no alignment.
            unsafe { v128_store(columns.as_mut_ptr() as *mut v128, v128_or(v128_load(columns.as_ptr() as *const v128), on)) };
            any = v128_or(any, on);
            done += 4;
        }
        (done, v128_any_true(any))
    }
}

/// Pixel `i` as a little-endian RGBA word.
fn word(rgba: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(rgba[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
}

/// The pixels as little-endian RGBA words.
fn words(rgba: &[u8]) -> impl Iterator<Item = u32> + '_ {
    rgba.chunks_exact(4).map(|p| u32::from_le_bytes(p.try_into().expect("4 bytes")))
}

/// A digit's ink fitted into at most `FIT`×`FIT` pixels.
struct Fitted {
    ink: Vec<f32>,
    width: usize,
    height: usize,
    /// The ink box's corner and its size, in image pixels.
    ink_box: InkBox,
}

/// Where the 28×28 input lies on the image it was read from: input pixel (x, y) covers image
/// pixels `left + x·scale_x ..` and `top + y·scale_y ..`. An attribution map over the input
/// is drawn over the drawing with it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub left: f32,
    pub top: f32,
    pub scale_x: f32,
    pub scale_y: f32,
}

/// The digit's ink, cropped to its box and fitted into `FIT`×`FIT` (the longer side exactly);
/// `None` without a digit (no ink, or only a speck). Ink is computed only inside the box, row
/// by row as the resampling consumes it: no full-size ink image is ever built.
fn fit_digit(rgba: &[u8], width: usize, height: usize) -> Option<Fitted> {
    let rule = InkRule::for_image(rgba, width, height);
    let (x0, y0, x1, y1) = ink_box(rgba, width, &rule)?;
    let (box_w, box_h) = (x1 - x0 + 1, y1 - y0 + 1);
    if (box_w.max(box_h) as f32) < MIN_EXTENT * width.max(height) as f32 {
        return None;
    }
    let longer = box_w.max(box_h) as f32;
    let fit_w = ((box_w as f32 * FIT as f32 / longer).round() as usize).clamp(1, FIT);
    let fit_h = ((box_h as f32 * FIT as f32 / longer).round() as usize).clamp(1, FIT);
    let ink = resample(box_w, box_h, fit_w, fit_h, |y, row| {
        inks(&rgba[((y0 + y) * width + x0) * 4..((y0 + y) * width + x1 + 1) * 4], &rule, row);
    });
    Some(Fitted { ink, width: fit_w, height: fit_h, ink_box: (x0, y0, x1, y1) })
}

/// The inclusive box around the pixels whose ink is over `BOX_THRESHOLD`, or `None`. One
/// branch-free pass that flags, per column and per row, whether any pixel is over.
fn ink_box(rgba: &[u8], width: usize, rule: &InkRule) -> Option<InkBox> {
    let over = rule.box_level();
    let mut columns = vec![0u32; width];
    let mut rows = None;
    for (y, pixels) in rgba.chunks_exact(width * 4).enumerate() {
        if mark_ink(pixels, rule.weights, over, &mut columns) {
            rows = Some((rows.map_or(y, |(y0, _)| y0), y));
        }
    }
    let (y0, y1) = rows?;
    let x0 = columns.iter().position(|&c| c != 0)?;
    let x1 = columns.iter().rposition(|&c| c != 0)?;
    Some((x0, y0, x1, y1))
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

/// Resamples a `w`×`h` image, whose row `y` `read_row(y, row)` writes, to `out_w`×`out_h` by
/// area averaging (separably): down the columns first, a whole row at a time (contiguous, so
/// it vectorises; each row is read once, as rows shared by two output rows come in a row),
/// then across the few rows left.
fn resample(w: usize, h: usize, out_w: usize, out_h: usize, mut read_row: impl FnMut(usize, &mut [f32])) -> Vec<f32> {
    let (wx, wy) = (area_weights(w, out_w), area_weights(h, out_h));
    let mut columns = vec![0.0; w * out_h];
    let mut row = vec![0.0; w];
    let mut row_read = None;
    for (out_row, cells) in columns.chunks_exact_mut(w).zip(&wy) {
        for &(y, k) in cells {
            if row_read != Some(y) {
                read_row(y, &mut row);
                row_read = Some(y);
            }
            out_row.iter_mut().zip(&row).for_each(|(o, v)| *o += v * k);
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
    Ok(preprocess_placed(rgba, width, height)?.map(|(input, _)| input))
}

/// `preprocess_rgba` plus where the 28×28 input lies on the image.
pub fn preprocess_placed(rgba: &[u8], width: usize, height: usize) -> Result<Option<(Vec<f32>, Placement)>> {
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
    Ok(fit_digit(rgba, width, height).map(|fitted| {
        let (input, (ox, oy)) = centre_by_mass(&fitted);
        let (x0, y0, x1, y1) = fitted.ink_box;
        let scale_x = (x1 - x0 + 1) as f32 / fitted.width as f32;
        let scale_y = (y1 - y0 + 1) as f32 / fitted.height as f32;
        let placement = Placement { left: x0 as f32 - ox as f32 * scale_x, top: y0 as f32 - oy as f32 * scale_y, scale_x, scale_y };
        (input, placement)
    }))
}

/// Pastes a fitted digit into 28×28 so that its centre of mass lands on the centre
/// (to the nearest pixel), keeping it inside the frame; also returns where its corner went.
fn centre_by_mass(fitted: &Fitted) -> (Vec<f32>, (usize, usize)) {
    let (w, h) = (fitted.width, fitted.height);
    let fitted = &fitted.ink;
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
    (out, (ox, oy))
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
            let out = resample(from, from, to, to, |y, row| row.copy_from_slice(&image[y * from..(y + 1) * from]));
            assert!(out.iter().all(|v| (v - 1.0).abs() < 1e-4), "{from}->{to}");
        }
    }
}
