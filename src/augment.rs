//! Random distortions of 28×28 training images, so that the network learns digits as other
//! people write, draw and scan them: moved, turned, resized, slanted, wobbly (elastic, Simard
//! et al. 2003), thicker or thinner, blurred, or from a low-resolution source. Each is
//! switchable (a strength of 0 turns it off) and deterministic for a seed: every random number
//! comes from the project's `Rng`, drawn in a fixed order.

use crate::data::PIXELS;
use crate::rng::Rng;
use crate::spec::INPUT_SIZE;
use serde::{Deserialize, Serialize};

const SIDE: usize = INPUT_SIZE;
/// The middle of the image, about which rotation, scaling and shear turn and stretch it
/// (MNIST centres the centre of mass there).
const CENTRE: f32 = SIDE as f32 / 2.0;
/// Smoothness of the elastic displacement field in pixels (Simard et al.'s σ).
const ELASTIC_SIGMA: f32 = 4.0;
/// Side of the box MNIST fits each digit into: a low-resolution source of `k` pixels is a
/// digit whose box was `k` pixels wide.
const DIGIT_BOX: f32 = 20.0;
/// The low-resolution sources simulated: a digit box of this many pixels, at random between.
const LOW_RES_SIDES: (usize, usize) = (8, 16);

/// How strongly to distort each image; 0 turns a distortion off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Augmentation {
    /// Largest shift in whole pixels, in each direction.
    pub shift: u32,
    /// Largest rotation in degrees, either way.
    pub rotation: f32,
    /// Largest relative change of size: 0.2 scales by 0.8–1.2.
    pub scale: f32,
    /// Largest horizontal shear (a pixel moves sideways by shear × its height above the centre).
    pub shear: f32,
    /// Strength α of the elastic distortion in pixels (Simard et al. use 34 with σ = 4).
    pub elastic: f32,
    /// Probability that the strokes get a pixel thicker or (as often) thinner.
    pub thickness: f32,
    /// Probability of a slight blur.
    pub blur: f32,
    /// Probability that the digit comes from a low-resolution source (8 to 16 pixels high).
    pub low_res: f32,
}

impl Default for Augmentation {
    /// Shifts of up to 2 pixels only: what the page's quick training run uses.
    fn default() -> Self {
        Augmentation { shift: 2, ..Augmentation::none() }
    }
}

impl Augmentation {
    /// Every distortion off: images pass unchanged.
    pub fn none() -> Self {
        Augmentation { shift: 0, rotation: 0.0, scale: 0.0, shear: 0.0, elastic: 0.0, thickness: 0.0, blur: 0.0, low_res: 0.0 }
    }

    /// The shipped model's recipe: every distortion, at strengths that keep each image a
    /// clearly readable digit.
    pub fn robust() -> Self {
        Augmentation { shift: 2, rotation: 15.0, scale: 0.2, shear: 0.3, elastic: 0.0, thickness: 0.3, blur: 0.15, low_res: 0.15 }
    }

    /// A clear message for strengths that make no sense (negative, not finite, probabilities
    /// over 1, rotations past a quarter turn).
    pub fn check(&self) -> Result<(), String> {
        let finite = [self.rotation, self.scale, self.shear, self.elastic, self.thickness, self.blur, self.low_res];
        if finite.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err("augmentation strengths must be non-negative numbers".into());
        }
        if self.shift > 8 || self.rotation > 90.0 || self.scale >= 1.0 || self.shear > 1.0 || self.elastic > 100.0 {
            return Err("augmentation: shift at most 8 px, rotation at most 90°, scale below 1, shear at most 1, elastic at most 100".into());
        }
        if [self.thickness, self.blur, self.low_res].iter().any(|&p| p > 1.0) {
            return Err("augmentation: thickness, blur and low-resolution are probabilities (0 to 1)".into());
        }
        Ok(())
    }

    /// Whether any distortion moves pixels other than by whole-pixel shifts.
    fn warps(&self) -> bool {
        self.rotation > 0.0 || self.scale > 0.0 || self.shear > 0.0 || self.elastic > 0.0
    }

    /// A distorted copy of a 28×28 image (values 0..1, 0 = background), into `out`.
    pub fn apply(&self, image: &[f32], rng: &mut Rng, out: &mut [f32]) {
        assert_eq!((image.len(), out.len()), (PIXELS, PIXELS), "28×28 images");
        // Fixed draw order: the shift first, so that shifts alone draw exactly what they always did.
        let shift = self.shift as usize;
        let (dx, dy) = if shift > 0 {
            (rng.below(2 * shift + 1) as f32 - shift as f32, rng.below(2 * shift + 1) as f32 - shift as f32)
        } else {
            (0.0, 0.0)
        };
        let mut symmetric = |limit: f32| if limit > 0.0 { (2.0 * rng.uniform() - 1.0) * limit } else { 0.0 };
        let (angle, scale, shear) = (symmetric(self.rotation).to_radians(), 1.0 + symmetric(self.scale), symmetric(self.shear));
        let chance = |p: f32, rng: &mut Rng| p > 0.0 && rng.uniform() < p;

        let mut work = image.to_vec();
        if chance(self.thickness, rng) {
            work = if rng.below(2) == 0 { dilate(&work) } else { erode(&work) };
        }
        if self.warps() {
            let field = (self.elastic > 0.0).then(|| elastic_field(self.elastic, rng));
            // Output pixel p reads source M·(p − c − t) + c (+ elastic), M the inverse of
            // rotate · scale · shear.
            let (sin, cos) = angle.sin_cos();
            let inverse = [[cos / scale, sin / scale], [-sin / scale, cos / scale]];
            let m = [
                [inverse[0][0] - shear * inverse[1][0], inverse[0][1] - shear * inverse[1][1]],
                [inverse[1][0], inverse[1][1]],
            ];
            let source = work;
            work = vec![0.0; PIXELS];
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let (px, py) = (x as f32 + 0.5 - CENTRE - dx, y as f32 + 0.5 - CENTRE - dy);
                    let mut sx = m[0][0] * px + m[0][1] * py + CENTRE - 0.5;
                    let mut sy = m[1][0] * px + m[1][1] * py + CENTRE - 0.5;
                    if let Some((fx, fy)) = &field {
                        sx += fx[y * SIDE + x];
                        sy += fy[y * SIDE + x];
                    }
                    work[y * SIDE + x] = bilinear(&source, SIDE, SIDE, sx, sy);
                }
            }
        } else if shift > 0 {
            work = shifted(&work, dx as isize, dy as isize);
        }
        if chance(self.low_res, rng) {
            let side = LOW_RES_SIDES.0 + rng.below(LOW_RES_SIDES.1 - LOW_RES_SIDES.0 + 1);
            work = low_resolution(&work, side);
        }
        if chance(self.blur, rng) {
            work = blur(&work);
        }
        for (o, v) in out.iter_mut().zip(work) {
            *o = v.clamp(0.0, 1.0);
        }
    }
}

/// The image moved by whole pixels (what moves out is lost, what moves in is background).
fn shifted(image: &[f32], dx: isize, dy: isize) -> Vec<f32> {
    let n = SIDE as isize;
    (0..PIXELS as isize)
        .map(|i| {
            let (sx, sy) = (i % n - dx, i / n - dy);
            if (0..n).contains(&sx) && (0..n).contains(&sy) {
                image[(sy * n + sx) as usize]
            } else {
                0.0
            }
        })
        .collect()
}

/// The `w`×`h` image's value at (x, y) in pixel coordinates (pixel i's centre at i),
/// interpolated between the four nearest pixels; background outside.
pub fn bilinear(image: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let at = |xi: isize, yi: isize| {
        if xi >= 0 && yi >= 0 && (xi as usize) < w && (yi as usize) < h {
            image[yi as usize * w + xi as usize]
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + if fx > 0.0 { at(x0 + 1, y0) * fx } else { 0.0 };
    if fy == 0.0 {
        return top;
    }
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + if fx > 0.0 { at(x0 + 1, y0 + 1) * fx } else { 0.0 };
    top * (1.0 - fy) + bottom * fy
}

/// Each pixel with its four neighbours (the cross), combined by `pick`; outside is background.
fn cross(image: &[f32], pick: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    (0..PIXELS)
        .map(|i| {
            let (x, y) = (i % SIDE, i / SIDE);
            let mut v = image[i];
            v = pick(v, if x > 0 { image[i - 1] } else { 0.0 });
            v = pick(v, if x + 1 < SIDE { image[i + 1] } else { 0.0 });
            v = pick(v, if y > 0 { image[i - SIDE] } else { 0.0 });
            pick(v, if y + 1 < SIDE { image[i + SIDE] } else { 0.0 })
        })
        .collect()
}

/// Strokes a pixel thicker on every side (grey dilation by the cross).
pub fn dilate(image: &[f32]) -> Vec<f32> {
    cross(image, f32::max)
}

/// Strokes a pixel thinner on every side (grey erosion by the cross); a digit whose strokes
/// would mostly vanish keeps half of each pixel's ink that erosion would take.
pub fn erode(image: &[f32]) -> Vec<f32> {
    let eroded = cross(image, f32::min);
    let (before, after): (f32, f32) = (image.iter().sum(), eroded.iter().sum());
    if after >= 0.4 * before {
        eroded
    } else {
        image.iter().zip(&eroded).map(|(a, b)| 0.5 * (a + b)).collect()
    }
}

/// A 3×3 binomial blur ([1 2 1]/4 each way).
pub fn blur(image: &[f32]) -> Vec<f32> {
    let pass = |image: &[f32], step: usize| -> Vec<f32> {
        (0..PIXELS)
            .map(|i| {
                let along = if step == 1 { i % SIDE } else { i / SIDE };
                let before = if along > 0 { image[i - step] } else { 0.0 };
                let after = if along + 1 < SIDE { image[i + step] } else { 0.0 };
                0.25 * before + 0.5 * image[i] + 0.25 * after
            })
            .collect()
    };
    pass(&pass(image, 1), SIDE)
}

/// The image as if its digit had come from a source where its 20-pixel box was `digit_side`
/// pixels: area-averaged down, then bilinearly up again, as a browser scales a small image.
pub fn low_resolution(image: &[f32], digit_side: usize) -> Vec<f32> {
    let small = ((SIDE as f32 * digit_side as f32 / DIGIT_BOX).round() as usize).clamp(1, SIDE);
    let down = crate::preprocess::resample(SIDE, SIDE, small, small, |y, row| row.copy_from_slice(&image[y * SIDE..(y + 1) * SIDE]));
    let ratio = small as f32 / SIDE as f32;
    (0..PIXELS)
        .map(|i| {
            let (x, y) = ((i % SIDE) as f32, (i / SIDE) as f32);
            // Clamped to the edge pixels' centres, as a browser's smoothing does.
            let at = |v: f32| ((v + 0.5) * ratio - 0.5).clamp(0.0, small as f32 - 1.0);
            bilinear(&down, small, small, at(x), at(y))
        })
        .collect()
}

/// Simard et al.'s displacement field: uniform noise in ±1 per pixel and direction, smoothed
/// by a Gaussian of σ = `ELASTIC_SIGMA` (normalised, mirrored at the edges so the field keeps
/// its strength there), times `alpha`.
fn elastic_field(alpha: f32, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    const RADIUS: usize = (2.0 * ELASTIC_SIGMA) as usize;
    let mut kernel = [0.0f32; 2 * RADIUS + 1];
    for (k, d) in kernel.iter_mut().zip(-(RADIUS as isize)..) {
        *k = (-(d * d) as f32 / (2.0 * ELASTIC_SIGMA * ELASTIC_SIGMA)).exp();
    }
    let total: f32 = kernel.iter().sum();
    // Normalised; `alpha` scales the second pass only, so the field is α times the smoothed noise.
    kernel.iter_mut().for_each(|k| *k /= total);
    let mirror = |v: isize| -> usize {
        let n = SIDE as isize;
        (if v < 0 { -v - 1 } else if v >= n { 2 * n - v - 1 } else { v }) as usize
    };
    // One line of the image mirrored out by RADIUS on both sides, convolved into `out`.
    let mut padded = [0.0f32; SIDE + 2 * RADIUS];
    let mut convolve = |line: &mut dyn FnMut(usize) -> f32, out: &mut [f32; SIDE]| {
        for (i, p) in padded.iter_mut().enumerate() {
            *p = line(mirror(i as isize - RADIUS as isize));
        }
        for (o, window) in out.iter_mut().zip(padded.windows(kernel.len())) {
            *o = window.iter().zip(&kernel).map(|(v, k)| v * k).sum();
        }
    };
    let mut field = || {
        let noise: Vec<f32> = (0..PIXELS).map(|_| 2.0 * rng.uniform() - 1.0).collect();
        let mut rows = vec![0.0; PIXELS];
        let mut line = [0.0; SIDE];
        for y in 0..SIDE {
            convolve(&mut |x| noise[y * SIDE + x], &mut line);
            rows[y * SIDE..(y + 1) * SIDE].copy_from_slice(&line);
        }
        let mut out = vec![0.0; PIXELS];
        for x in 0..SIDE {
            convolve(&mut |y| rows[y * SIDE + x], &mut line);
            for (y, v) in line.iter().enumerate() {
                out[y * SIDE + x] = alpha * v;
            }
        }
        out
    };
    let fx = field();
    (fx, field())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic "7": a bar on top and a slanted stroke, anti-aliased by bilinear sampling.
    fn seven() -> Vec<f32> {
        let mut image = vec![0.0; PIXELS];
        for y in 6..22 {
            for x in 6..22 {
                let on_bar = (6..9).contains(&y);
                let diagonal = (x as f32 - (21.0 - (y as f32 - 6.0) * 0.6)).abs() < 1.5;
                if on_bar || diagonal {
                    image[y * SIDE + x] = 1.0;
                }
            }
        }
        image
    }

    fn apply(augmentation: &Augmentation, image: &[f32], seed: u64) -> Vec<f32> {
        let mut out = vec![0.0; PIXELS];
        augmentation.apply(image, &mut Rng::new(seed), &mut out);
        out
    }

    /// Every augmentation on its own, strongly, and all of them together.
    fn each_and_all() -> Vec<(&'static str, Augmentation)> {
        let none = Augmentation::none;
        vec![
            ("shift", Augmentation { shift: 3, ..none() }),
            ("rotation", Augmentation { rotation: 15.0, ..none() }),
            ("scale", Augmentation { scale: 0.2, ..none() }),
            ("shear", Augmentation { shear: 0.4, ..none() }),
            ("elastic", Augmentation { elastic: 34.0, ..none() }),
            ("thickness", Augmentation { thickness: 1.0, ..none() }),
            ("blur", Augmentation { blur: 0.5, ..none() }),
            ("lowRes", Augmentation { low_res: 1.0, ..none() }),
            ("all", Augmentation { elastic: 20.0, thickness: 0.5, blur: 0.5, low_res: 0.5, ..Augmentation::robust() }),
        ]
    }

    #[test]
    fn identity_settings_return_the_input() {
        let image = seven();
        assert_eq!(apply(&Augmentation::none(), &image, 1), image);
        // Warps at zero strength that still run the bilinear path return it too.
        let zero_warp = Augmentation { rotation: 1e-30, ..Augmentation::none() };
        let out = apply(&zero_warp, &image, 1);
        assert!(out.iter().zip(&image).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn each_augmentation_changes_the_image_keeps_shape_range_and_ink() {
        let image = seven();
        let ink: f32 = image.iter().sum();
        for (name, augmentation) in each_and_all() {
            augmentation.check().unwrap();
            let outs: Vec<Vec<f32>> = (0..6).map(|seed| apply(&augmentation, &image, seed)).collect();
            for out in &outs {
                assert_eq!(out.len(), PIXELS, "{name}");
                assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "{name}: values outside 0..1");
                let kept: f32 = out.iter().sum();
                assert!(kept > 0.3 * ink && kept < 3.0 * ink, "{name}: ink {kept} of {ink}");
            }
            assert!(outs.iter().any(|out| out != &image), "{name} never changed the image");
        }
    }

    #[test]
    fn same_seed_same_images_other_seed_other_images() {
        let image = seven();
        for (name, augmentation) in each_and_all() {
            let a: Vec<Vec<f32>> = (0..8).map(|s| apply(&augmentation, &image, s)).collect();
            let b: Vec<Vec<f32>> = (0..8).map(|s| apply(&augmentation, &image, s)).collect();
            assert!(a == b, "{name}: the same seeds gave other images");
            let c: Vec<Vec<f32>> = (10..18).map(|s| apply(&augmentation, &image, s)).collect();
            assert!(a != c, "{name}: other seeds gave the same images");
        }
    }

    #[test]
    fn thickness_and_resolution_do_what_they_say() {
        let image = seven();
        let ink = |im: &[f32]| im.iter().filter(|&&v| v > 0.5).count();
        assert!(ink(&dilate(&image)) > ink(&image) && ink(&erode(&image)) < ink(&image));
        let coarse = low_resolution(&image, 8);
        let fine = low_resolution(&image, 16);
        let error = |im: &[f32]| im.iter().zip(&image).map(|(a, b)| (a - b).abs()).sum::<f32>();
        assert!(error(&coarse) > error(&fine) && error(&fine) > 0.0);
        let rotated = apply(&Augmentation { rotation: 15.0, ..Augmentation::none() }, &image, 3);
        assert!(rotated != image);
    }

    #[test]
    fn elastic_displacements_are_a_pixel_or_two() {
        // Simard et al.'s α = 34, σ = 4 on 28×28 digits moves pixels by about 1.4 px (RMS).
        let (fx, fy) = elastic_field(34.0, &mut Rng::new(5));
        let rms = (fx.iter().chain(&fy).map(|d| d * d).sum::<f32>() / (2 * PIXELS) as f32).sqrt();
        assert!((0.7..3.0).contains(&rms), "RMS displacement {rms}");
        let (gx, _) = elastic_field(17.0, &mut Rng::new(5));
        assert!(gx.iter().zip(&fx).all(|(g, f)| (2.0 * g - f).abs() < 1e-4), "linear in α");
    }

    #[test]
    fn nonsense_strengths_are_refused() {
        for bad in [
            Augmentation { rotation: -1.0, ..Augmentation::none() },
            Augmentation { scale: f32::NAN, ..Augmentation::none() },
            Augmentation { blur: 1.5, ..Augmentation::none() },
            Augmentation { scale: 1.0, ..Augmentation::none() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&Augmentation::robust()).unwrap();
        assert!(json.contains("lowRes"));
        let partial: Augmentation = serde_json::from_str(r#"{"rotation": 5}"#).unwrap();
        assert_eq!(partial, Augmentation { rotation: 5.0, ..Augmentation::default() });
    }
}
