//! A map's strongest regions, named by where they sit on the digit, and the sentence that puts
//! them in plain words. Shared by the page and the CLI.

use crate::spec::INPUT_SIZE;
use serde::Serialize;

/// Pixels count towards a region from this share of the map's largest |value|.
const STRONG: f32 = 0.25;
/// A region is a stroke when its pixels are at least this inked on average, else a gap.
const INKED: f32 = 0.25;

/// A connected patch of strong values of one sign.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    /// True when it pushes towards the target (positive values).
    pub towards: bool,
    /// The sum of its values.
    pub total: f32,
    /// Its share of the whole map's Σ|value|.
    pub share: f32,
    /// Inclusive bounding box in input pixels: [left, top, right, bottom].
    pub bounds: [usize; 4],
    /// Where it sits on the digit: "top left", "top", …, "middle", …, "bottom right".
    pub place: &'static str,
    /// Whether it lies on the drawn strokes (true) or on blank paper between them (false).
    pub ink: bool,
}

impl Region {
    /// "the stroke at the top", "the gap on the left".
    pub fn describe(&self) -> String {
        let what = if self.ink { "the stroke" } else { "the gap" };
        let place = match self.place {
            "middle" => "in the middle".to_string(),
            "left" | "right" => format!("on the {}", self.place),
            other => format!("at the {other}"),
        };
        format!("{what} {place}")
    }
}

/// The inclusive box of the pixels inked over `INKED`, or the whole frame.
fn ink_box(input: &[f32]) -> [usize; 4] {
    let mut b = [INPUT_SIZE, INPUT_SIZE, 0, 0];
    for (i, _) in input.iter().enumerate().filter(|(_, &p)| p > INKED) {
        let (x, y) = (i % INPUT_SIZE, i / INPUT_SIZE);
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    if b[0] > b[2] {
        [0, 0, INPUT_SIZE - 1, INPUT_SIZE - 1]
    } else {
        b
    }
}

/// Which third of `from..=to` the coordinate `at` falls in.
fn third(at: f32, from: usize, to: usize) -> usize {
    let span = (to - from + 1) as f32;
    (((at - from as f32 + 0.5) / span * 3.0).floor() as isize).clamp(0, 2) as usize
}

const PLACES: [[&str; 3]; 3] =
    [["top left", "top", "top right"], ["left", "middle", "right"], ["bottom left", "bottom", "bottom right"]];

/// The `count` strongest regions (by |total|) of `map` over `input`.
pub(super) fn find(map: &[f32], input: &[f32], count: usize) -> Vec<Region> {
    let range = map.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mass: f32 = map.iter().map(|v| v.abs()).sum();
    if range == 0.0 || !range.is_finite() {
        return Vec::new();
    }
    let strong = |i: usize| map[i].abs() >= STRONG * range;
    let digit = ink_box(input);
    let mut seen = vec![false; map.len()];
    let mut regions = Vec::new();
    for start in 0..map.len() {
        if seen[start] || !strong(start) {
            continue;
        }
        let towards = map[start] > 0.0;
        // Flood fill over the 8 neighbours of the same sign.
        let (mut stack, mut members) = (vec![start], Vec::new());
        seen[start] = true;
        while let Some(i) = stack.pop() {
            members.push(i);
            let (x, y) = ((i % INPUT_SIZE) as isize, (i / INPUT_SIZE) as isize);
            for (dx, dy) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                let (nx, ny) = (x + dx, y + dy);
                if (0..INPUT_SIZE as isize).contains(&nx) && (0..INPUT_SIZE as isize).contains(&ny) {
                    let j = ny as usize * INPUT_SIZE + nx as usize;
                    if !seen[j] && strong(j) && (map[j] > 0.0) == towards {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let total: f32 = members.iter().map(|&i| map[i]).sum();
        let weight: f32 = members.iter().map(|&i| map[i].abs()).sum();
        let centre = |axis: fn(usize) -> usize| members.iter().map(|&i| axis(i) as f32 * map[i].abs()).sum::<f32>() / weight;
        let (cx, cy) = (centre(|i| i % INPUT_SIZE), centre(|i| i / INPUT_SIZE));
        let mut bounds = [INPUT_SIZE, INPUT_SIZE, 0, 0];
        for &i in &members {
            let (x, y) = (i % INPUT_SIZE, i / INPUT_SIZE);
            bounds = [bounds[0].min(x), bounds[1].min(y), bounds[2].max(x), bounds[3].max(y)];
        }
        let ink = members.iter().map(|&i| input[i]).sum::<f32>() / members.len() as f32 >= INKED;
        let place = PLACES[third(cy, digit[1], digit[3])][third(cx, digit[0], digit[2])];
        regions.push(Region { towards, total, share: weight / mass, bounds, place, ink });
    }
    regions.sort_by(|a, b| b.total.abs().total_cmp(&a.total.abs()));
    regions.truncate(count);
    regions
}

/// "A and B push it towards 7; C pushes it towards 1" (with a contrast) or "… away from 7".
pub(super) fn sentence(regions: &[Region], target: u8, versus: Option<u8>) -> String {
    let clause = |towards: bool| {
        let names: Vec<String> = regions.iter().filter(|r| r.towards == towards).map(Region::describe).collect();
        let verb = if names.len() == 1 { "pushes" } else { "push" };
        let whither = match (towards, versus) {
            (true, _) => format!("towards {target}"),
            (false, Some(v)) => format!("towards {v}"),
            (false, None) => format!("away from {target}"),
        };
        match names.len() {
            0 => None,
            1 => Some(format!("{} {verb} it {whither}", names[0])),
            n => Some(format!("{} and {} {verb} it {whither}", names[..n - 1].join(", "), names[n - 1])),
        }
    };
    let clauses: Vec<String> = [clause(true), clause(false)].into_iter().flatten().collect();
    if clauses.is_empty() {
        return format!("No part of the drawing stands out for {target}.");
    }
    let text = clauses.join("; ");
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
}
