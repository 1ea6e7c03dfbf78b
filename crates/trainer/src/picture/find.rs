//! Finding the handwriting in a photo: which pixels are ink, which marks
//! are digits, and where one digit ends and the next begins.
//!
//! 1. Dark ink on light paper: a picture whose typical pixel is about as
//!    dark as its darkest (or nearer them, with pixels brighter than their
//!    surroundings outweighing darker ones) is light on dark, and inverted.
//! 2. The paper's brightness is estimated on a coarse grid (a high
//!    percentile of each cell, then a morphological closing that removes
//!    anything narrower than a few cells: pen strokes, not shadows) and
//!    divided out, so uneven light and soft shadows become flat paper.
//!    What remains is each pixel's darkness, `1 - pixel / paper`.
//! 3. Noise is measured (median absolute deviation of the darkness, which
//!    paper dominates) and smoothed away with a box blur where it is high.
//! 4. Ink is what is darker than the paper by several noise widths and by
//!    Otsu's threshold among those pixels (which separates pale printed
//!    lines and smudges from the pen), then split into connected
//!    components (8-neighbours, linked through pixels half as dark).
//! 5. Components that are not handwriting are dropped: long thin lines and
//!    large marks along the picture's edge (ruled and squared paper, page
//!    edges, shadows), marks too pale for a pen, and specks. The biggest
//!    mark is a digit; the marks beside it, each at the height of the next,
//!    are the rest of the number.
//! 6. Marks stacked above each other (a 5's flag) are one digit; a mark too
//!    wide for one digit (touching digits) is cut into pieces along the
//!    valleys between its strokes, for a reader to choose from
//!    ([`segment`]).
//!
//! Widths of digits below are measured on the bundled MNIST test set (ink
//! above 100/255): width / height of digits other than 1 has median 0.80,
//! 95th percentile 1.18, 99.9th 1.82 (0.7% are wider than 1.5, 23% wider
//! than 0.9); of 1s, median 0.35.

use super::segment::{self, Mark};
use super::GreyImage;

/// Pictures are searched at most this many pixels on their long side (a
/// 12-megapixel photo is read at half size): enough for a digit 40 pixels
/// tall in a 4000-pixel photo to keep 20 pixels.
pub const WORKING_SIDE: usize = 2048;
/// Cells per side of the grid the paper's brightness is estimated on.
const LIGHT_GRID: usize = 128;
/// Cells of the closing's radius: strokes up to twice as wide (a quarter
/// of the picture's long side: a digit filling the picture has strokes a
/// sixth as wide) are taken for ink, not for shadow.
const LIGHT_CLOSING_RADIUS: usize = LIGHT_GRID / 8;
/// Ink must be darker than the paper by this many noise widths...
const NOISE_WIDTHS: f32 = 5.0;
/// ...and by this much at least (on 0..1: 0 paper, 1 black).
const MIN_INK_DARKNESS: f32 = 0.05;
/// A mark's darkest pixels must stand out from the paper by this much.
const MIN_CONTRAST: f32 = 0.15;
/// A mark of pen or pencil is on average at least this dark where it is
/// ink (black ink measures 0.6-0.9, blue 0.5-0.7); the faint smear along a
/// shadow's edge or a pale printed line is lighter.
const MIN_MEAN_DARKNESS: f32 = 0.25;
/// A digit is at least this many working pixels tall...
const MIN_DIGIT_PIXELS: usize = 12;
/// ...and this fraction of the picture's short side (dust is smaller).
const MIN_DIGIT_FRACTION: f64 = 0.012;
/// Marks this much shorter than the tallest digit are specks, unless they
/// stand above or below a digit (a broken stroke of it).
const MIN_HEIGHT_IN_ROW: f64 = 0.4;
/// Neighbouring digits of a number are at most this many digit heights apart.
const MAX_GAP_IN_ROW: f64 = 1.2;
/// Marks a sliver apart are one digit if together they are no wider than
/// this many times their height.
const WIDEST_SINGLE_DIGIT: f64 = 1.1;
/// Marks grouped into digits, at most: the biggest.
const MOST_MARKS: usize = 500;
/// Marks at most this many digit heights apart, side by side, are one
/// digit whose stroke the threshold broke (a pixel of MNIST's 20).
const BROKEN_STROKE_GAP: f64 = 0.06;
/// A rectangle of a picture, in its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PixelBox {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl PixelBox {
    fn scaled(self, scale: f64) -> PixelBox {
        let at = |v: usize| (v as f64 * scale).round() as usize;
        let x = at(self.x);
        let y = at(self.y);
        PixelBox {
            x,
            y,
            width: (at(self.x + self.width) - x).max(1),
            height: (at(self.y + self.height) - y).max(1),
        }
    }
}

/// One digit found in a picture: its ink (0 paper, 1 ink, cropped to it)
/// and where it is.
#[derive(Clone, Debug)]
pub struct FoundDigit {
    pub ink: GreyImage,
    /// In the pixels of the picture as decoded at full size.
    pub bounds: PixelBox,
}

/// The marks of a picture's row of digits, left to right, or why there
/// are none.
pub fn find_marks(
    image: &GreyImage,
    scale_to_picture: f64,
) -> Result<Vec<Mark<FoundDigit>>, String> {
    let oriented = if is_light_on_dark(image) {
        GreyImage {
            width: image.width,
            height: image.height,
            pixels: image.pixels.iter().map(|v| 1.0 - v).collect(),
        }
    } else {
        image.clone()
    };
    let (darkness, noise) = smooth_noise(darkness_under_even_light(&oriented));
    let (width, height) = (darkness.width, darkness.height);
    let (noise_floor, threshold) = ink_threshold(&darkness, noise)?;
    let (labels, components) = marks_of_ink(&darkness, noise_floor, threshold);
    let min_digit_height = MIN_DIGIT_PIXELS
        .max((MIN_DIGIT_FRACTION * width.min(height) as f64).ceil() as usize)
        .min(height);
    let marks: Vec<usize> = (0..components.len())
        .filter(|&c| {
            let mark = &components[c];
            !is_line_or_edge(mark, width, height)
                && mark.mass >= MIN_MEAN_DARKNESS * mark.area as f32
        })
        .collect();
    let Some(&biggest) = marks
        .iter()
        .max_by(|&&a, &&b| components[a].mass.total_cmp(&components[b].mass))
    else {
        return Err("no digit found: only lines or edges, no handwriting".into());
    };
    if components[biggest].height() < min_digit_height {
        return Err("no digit found: only specks, nothing the size of a digit".into());
    }
    if components[biggest].darkest < MIN_CONTRAST {
        return Err("no digit found: nothing in the picture stands out from the paper".into());
    }
    let glyphs = digits_in_the_row_of(biggest, &marks, &components);
    let ink = segment::Ink {
        labels: &labels,
        darkness: &darkness,
        threshold,
    };
    let mut heights: Vec<usize> = glyphs.iter().map(Glyph::height).collect();
    heights.sort_unstable();
    let row_height = (glyphs.len() > 1).then(|| heights[heights.len() / 2]);
    let mut found = Vec::new();
    for glyph in &glyphs {
        let mark = segment::cut_into_pieces(glyph, row_height, &ink, |ink, bounds| {
            (bounds.height >= min_digit_height).then(|| FoundDigit {
                ink,
                bounds: bounds.scaled(scale_to_picture),
            })
        });
        found.extend(mark);
    }
    if found.is_empty() {
        return Err("no digit found".into());
    }
    Ok(found)
}

/// The digits of a picture, left to right, each mark cut as its shape
/// suggests (without a reader: the fewest and cheapest cuts).
#[cfg(test)]
pub fn find_digits(image: &GreyImage, scale_to_picture: f64) -> Result<Vec<FoundDigit>, String> {
    Ok(find_marks(image, scale_to_picture)?
        .into_iter()
        .flat_map(|mark| {
            let chosen = mark.reading_by_shape();
            let mut pieces: Vec<Option<FoundDigit>> =
                mark.pieces.into_iter().map(|p| Some(p.digit)).collect();
            chosen.into_iter().filter_map(move |i| pieces[i].take())
        })
        .collect())
}

/// Fraction of pixels at or below `value`, bucketed: enough for
/// thresholds and percentiles of a picture, in one pass.
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    lowest: f32,
    highest: f32,
}

impl Histogram {
    const BINS: usize = 1024;

    fn of(values: impl Iterator<Item = f32>, lowest: f32, highest: f32) -> Histogram {
        // Four tallies a bin, taken in turn: paper puts run after run of
        // pixels into one bin, and a single count would wait for its own
        // last increment each time (half the time of finding a canvas's
        // digit went to this loop).
        let mut tallies = vec![[0u64; 4]; Self::BINS];
        let mut total = 0;
        let scale = Self::BINS as f32 / (highest - lowest);
        for v in values {
            // Through i32: one conversion instruction, where a float to
            // usize checks for values beyond i64's range first.
            let bin = ((v - lowest) * scale).clamp(0.0, (Self::BINS - 1) as f32) as i32 as usize;
            tallies[bin][total & 3] += 1;
            total += 1;
        }
        let counts = tallies.iter().map(|t| t.iter().sum()).collect();
        let total = total as u64;
        Histogram {
            counts,
            total,
            lowest,
            highest,
        }
    }

    fn value_of_bin(&self, bin: usize) -> f32 {
        self.lowest + (bin as f32 + 0.5) * (self.highest - self.lowest) / Self::BINS as f32
    }

    /// The value below which a fraction `q` of the samples lie.
    fn quantile(&self, q: f64) -> f32 {
        let wanted = (q * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return self.value_of_bin(bin);
            }
        }
        self.highest
    }

    /// Otsu's threshold: the split maximising the variance between the two
    /// classes (N. Otsu, "A threshold selection method from gray-level
    /// histograms", IEEE SMC 1979).
    fn otsu(&self) -> f32 {
        let total = self.total as f64;
        let sum_all: f64 = (0..Self::BINS)
            .map(|b| self.counts[b] as f64 * b as f64)
            .sum();
        let (mut below, mut sum_below) = (0.0f64, 0.0f64);
        let (mut best, mut best_bin) = (-1.0f64, 0);
        for bin in 0..Self::BINS {
            below += self.counts[bin] as f64;
            sum_below += self.counts[bin] as f64 * bin as f64;
            let above = total - below;
            if below == 0.0 || above == 0.0 {
                continue;
            }
            let mean_gap = sum_below / below - (sum_all - sum_below) / above;
            let between = below * above * mean_gap * mean_gap;
            if between > best {
                (best, best_bin) = (between, bin);
            }
        }
        self.value_of_bin(best_bin)
    }
}

/// Ink is the minority, and stands out from the paper around it. Light ink
/// on dark paper (dark on light, by far the more common, otherwise) when
/// the typical pixel is about as dark as the darkest; when it is only
/// nearer the darkest than the brightest, when also pixels far brighter
/// than their surroundings (the median of a cell an eighth of the picture
/// wide, where light and shadow are about even) outweigh those far darker
/// (a bright patch of light on a blank page is an extreme, not ink).
fn is_light_on_dark(image: &GreyImage) -> bool {
    let histogram = Histogram::of(image.pixels.iter().copied(), 0.0, 1.0);
    let (darkest, typical, brightest) = (
        histogram.quantile(0.01),
        histogram.quantile(0.5),
        histogram.quantile(0.99),
    );
    if brightest - typical <= typical - darkest {
        return false;
    }
    // Paper as dark as the darkest pixels: clearly light on dark (white
    // chalk, a screen, MNIST itself).
    if typical - darkest < 0.25 * (brightest - typical) {
        return true;
    }
    let surroundings = spread_over(
        &cell_percentile(image, SURROUNDINGS_GRID, 0.5),
        image.width,
        image.height,
    );
    let deviations = image.pixels.iter().zip(&surroundings).map(|(v, a)| v - a);
    let histogram = Histogram::of(deviations, -1.0, 1.0);
    let (darker, brighter) = (histogram.quantile(0.005), histogram.quantile(0.995));
    brighter > -darker
}

/// Cells per side of the grid on which a pixel's surroundings are measured
/// to tell ink from paper.
const SURROUNDINGS_GRID: usize = 8;

/// The `quantile` of each cell of a grid at most `cells` a side.
fn cell_percentile(image: &GreyImage, cells: usize, quantile: f64) -> GreyImage {
    let (w, h) = (image.width, image.height);
    let cell = w.max(h).div_ceil(cells).max(1);
    let (grid_w, grid_h) = (w.div_ceil(cell), h.div_ceil(cell));
    let mut grid = Vec::with_capacity(grid_w * grid_h);
    let mut values = Vec::with_capacity(cell * cell);
    for gy in 0..grid_h {
        for gx in 0..grid_w {
            values.clear();
            for y in gy * cell..((gy + 1) * cell).min(h) {
                values.extend_from_slice(
                    &image.pixels[y * w + gx * cell..y * w + ((gx + 1) * cell).min(w)],
                );
            }
            let index = ((values.len() as f64 * quantile) as usize).min(values.len() - 1);
            let (_, &mut value, _) = values.select_nth_unstable_by(index, f32::total_cmp);
            grid.push(value);
        }
    }
    GreyImage {
        width: grid_w,
        height: grid_h,
        pixels: grid,
    }
}

/// `1 - pixel / paper` for dark ink on light paper: 0 on paper however it
/// is lit, near 1 for black ink. Negative where the paper is brighter than
/// its estimate (noise), which the noise estimate needs to see.
fn darkness_under_even_light(image: &GreyImage) -> GreyImage {
    let (w, h) = (image.width, image.height);
    let paper = spread_over(&paper_brightness(image), w, h);
    let pixels = image
        .pixels
        .iter()
        .zip(&paper)
        .map(|(v, brightness)| 1.0 - v / brightness.max(1e-3))
        .collect();
    GreyImage {
        width: w,
        height: h,
        pixels,
    }
}

/// A coarse grid of cells covering a `width x height` picture, interpolated
/// bilinearly to each pixel (cell centres carry the grid's values).
fn spread_over(grid: &GreyImage, width: usize, height: usize) -> Vec<f32> {
    let cell_x = width as f64 / grid.width as f64;
    let cell_y = height as f64 / grid.height as f64;
    // Where each column falls between two grid columns, once.
    let columns: Vec<(usize, usize, f32)> = (0..width)
        .map(|x| {
            let gx = ((x as f64 + 0.5) / cell_x - 0.5).clamp(0.0, (grid.width - 1) as f64);
            let left = gx.floor() as usize;
            (
                left,
                (left + 1).min(grid.width - 1),
                (gx - left as f64) as f32,
            )
        })
        .collect();
    let mut pixels = Vec::with_capacity(width * height);
    let mut row = vec![0.0f32; grid.width];
    for y in 0..height {
        let gy = ((y as f64 + 0.5) / cell_y - 0.5).clamp(0.0, (grid.height - 1) as f64);
        let top = gy.floor() as usize;
        let bottom = (top + 1).min(grid.height - 1);
        let fy = (gy - top as f64) as f32;
        for (gx, value) in row.iter_mut().enumerate() {
            *value = grid.at(gx, top) * (1.0 - fy) + grid.at(gx, bottom) * fy;
        }
        pixels.extend(
            columns
                .iter()
                .map(|&(left, right, fx)| row[left] * (1.0 - fx) + row[right] * fx),
        );
    }
    pixels
}

/// The paper's brightness on a grid of at most `LIGHT_GRID` cells a side:
/// each cell's 75th percentile (paper is most of a cell, and a high
/// percentile is not lifted by noise as a maximum is), then a grey closing
/// (maximum, then minimum, over `LIGHT_CLOSING_RADIUS` cells), which fills
/// in cells a stroke covers but keeps the edges of shadows wider than that.
fn paper_brightness(image: &GreyImage) -> GreyImage {
    let grid = cell_percentile(image, LIGHT_GRID, 0.75);
    let radius = LIGHT_CLOSING_RADIUS;
    let closed = window_extreme(&grid, radius, f32::max, f32::NEG_INFINITY);
    window_extreme(&closed, radius, f32::min, f32::INFINITY)
}

/// Each pixel replaced by `pick` (`f32::max` or `f32::min`, whose neutral
/// value is `identity`) over the square of `radius` around it: columns,
/// then rows (a square window is separable; rows are taken as the columns
/// of the transposed picture), each by [`column_extremes`], in time
/// independent of the radius.
pub(super) fn window_extreme(
    image: &GreyImage,
    radius: usize,
    pick: impl Fn(f32, f32) -> f32 + Copy,
    identity: f32,
) -> GreyImage {
    let columns = column_extremes(image, radius, pick, identity);
    let rows = column_extremes(&transposed(&columns), radius, pick, identity);
    transposed(&rows)
}

fn transposed(image: &GreyImage) -> GreyImage {
    let (w, h) = (image.width, image.height);
    let mut pixels = vec![0.0f32; w * h];
    for (y, row) in image.pixels.chunks_exact(w.max(1)).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            pixels[x * h + y] = v;
        }
    }
    GreyImage {
        width: h,
        height: w,
        pixels,
    }
}

/// `out(x, y) = pick` over column `x` from row `y - radius` to `y + radius`
/// (clipped to the picture), by van Herk and Gil-Werman's method: the
/// columns, padded with `identity`, are cut into blocks of one window's
/// length; within each block running extremes from the top (`down`) and
/// from the bottom (`up`); a window spans the end of one block and the
/// start of the next, so its extreme is `pick(up[start], down[end])`. Three
/// `pick`s a value whatever the radius, where the direct loop took
/// `2 * radius + 1` (a digit's margin of 20 pixels made it 80% of the cost
/// of a picture in `serve`); taken a whole row at a time, which vectorises,
/// where a column at a time waited on each running extreme in turn.
fn column_extremes(
    image: &GreyImage,
    radius: usize,
    pick: impl Fn(f32, f32) -> f32 + Copy,
    identity: f32,
) -> GreyImage {
    let (w, h) = (image.width, image.height);
    let window = 2 * radius + 1;
    let padded = h + 2 * radius;
    // Row `p` of the padded picture; `None` is a row of `identity`.
    let row = |p: usize| {
        (radius..radius + h)
            .contains(&p)
            .then(|| &image.pixels[(p - radius) * w..(p - radius + 1) * w])
    };
    let pick_into = |running: &mut [f32], p: usize| {
        if let Some(values) = row(p) {
            for (r, &v) in running.iter_mut().zip(values) {
                *r = pick(*r, v);
            }
        }
    };
    let mut down = vec![identity; padded * w];
    let mut up = vec![identity; padded * w];
    for start in (0..padded).step_by(window) {
        let end = (start + window).min(padded);
        for p in start..end {
            let (above, here) = down.split_at_mut(p * w);
            let here = &mut here[..w];
            if p > start {
                here.copy_from_slice(&above[(p - 1) * w..]);
            }
            pick_into(here, p);
        }
        for p in (start..end).rev() {
            let (here, below) = up.split_at_mut((p + 1) * w);
            let here = &mut here[p * w..];
            if p + 1 < end {
                here.copy_from_slice(&below[..w]);
            }
            pick_into(here, p);
        }
    }
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        let window_end = &down[(y + 2 * radius) * w..(y + 2 * radius + 1) * w];
        let window_start = &up[y * w..(y + 1) * w];
        pixels.extend(
            window_start
                .iter()
                .zip(window_end)
                .map(|(&a, &b)| pick(a, b)),
        );
    }
    GreyImage {
        width: w,
        height: h,
        pixels,
    }
}

/// The spread of the paper's darkness: the median absolute deviation
/// (scaled by 1.4826 to a normal distribution's sigma), robust to the ink.
fn noise_sigma(darkness: &GreyImage) -> (f32, f32) {
    // Every pixel of a small picture, a sample of a large one's (an odd
    // stride, so it does not follow rows or columns).
    let stride = (darkness.pixels.len() / NOISE_SAMPLES).max(1) | 1;
    let sample = || darkness.pixels.iter().step_by(stride).copied();
    let histogram = Histogram::of(sample(), -0.5, 0.5);
    let median = histogram.quantile(0.5);
    let deviations = Histogram::of(sample().map(|v| (v - median).abs()), 0.0, 0.25);
    (median, 1.4826 * deviations.quantile(0.5))
}

/// Pixels the noise is measured on, at most (about): a median and a median
/// deviation need no more, and measuring a photo's noise over every pixel
/// (up to three times: before each blur, and after) was a fifth of the
/// time `serve` spent on a canvas.
const NOISE_SAMPLES: usize = 1 << 15;

/// Noisier than 2/255 (a phone photo at full size): a 3x3 box blur, twice
/// above 8/255. Strokes of MNIST digits are wider than that in any picture
/// where they are legible; the noise's sigma drops by 3 per blur. Returns
/// the darkness and its [`noise_sigma`] (measured again only after a blur).
fn smooth_noise(mut darkness: GreyImage) -> (GreyImage, (f32, f32)) {
    let mut noise = noise_sigma(&darkness);
    for limit in [2.0 / 255.0, 8.0 / 255.0] {
        if noise.1 > limit && darkness.width >= 3 && darkness.height >= 3 {
            darkness = box_blur_3x3(&darkness);
            noise = noise_sigma(&darkness);
        }
    }
    (darkness, noise)
}

fn box_blur_3x3(image: &GreyImage) -> GreyImage {
    let (w, h) = (image.width, image.height);
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &image.pixels[y * w..(y + 1) * w];
        for x in 0..w {
            let (from, to) = (x.saturating_sub(1), (x + 1).min(w - 1));
            rows[y * w + x] = row[from..=to].iter().sum::<f32>() / (to - from + 1) as f32;
        }
    }
    let mut pixels = vec![0.0f32; w * h];
    for y in 0..h {
        let (from, to) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            pixels[y * w + x] =
                (from..=to).map(|r| rows[r * w + x]).sum::<f32>() / (to - from + 1) as f32;
        }
    }
    GreyImage {
        width: w,
        height: h,
        pixels,
    }
}

/// Darker than the paper by several noise widths (the noise floor), and by
/// Otsu's threshold among the pixels that are: pale lines and smudges fall
/// below it. `noise` is the darkness's [`noise_sigma`]. Returns both.
fn ink_threshold(darkness: &GreyImage, (paper, sigma): (f32, f32)) -> Result<(f32, f32), String> {
    let low = paper + (NOISE_WIDTHS * sigma).max(MIN_INK_DARKNESS);
    let above = darkness.pixels.iter().copied().filter(|&v| v > low);
    let histogram = Histogram::of(above, low, 1.0);
    if histogram.total == 0 {
        return Err("no digit found: nothing in the picture stands out from the paper".into());
    }
    Ok((low, histogram.otsu().max(low)))
}

/// A faint stretch of a stroke (MNIST's digits have many) is still part of
/// it: marks are connected through pixels half as dark as the threshold,
/// if they reach it somewhere (hysteresis, as in Canny's edge detector).
/// Where that joins a digit to printed lines (a line or edge, by its
/// shape), the marks inside are taken at the threshold itself.
/// Returns each pixel's mark (0 for none, mark `i` is `i + 1`) and the marks.
fn marks_of_ink(
    darkness: &GreyImage,
    noise_floor: f32,
    threshold: f32,
) -> (Vec<u32>, Vec<Component>) {
    let (width, height) = (darkness.width, darkness.height);
    let link = (0.5 * threshold).max(noise_floor);
    let weak_mask: Vec<bool> = darkness.pixels.iter().map(|&v| v > link).collect();
    let (weak_labels, weak_count) = connected_components(&weak_mask, width, height);
    let weak = measure(&weak_labels, weak_count, darkness);
    let keep_whole: Vec<bool> = weak
        .iter()
        .map(|c| c.darkest > threshold && !is_line_or_edge(c, width, height))
        .collect();
    // Inside an edge or shadow there is nothing to look for; a line may
    // cross a digit.
    let drop_whole: Vec<bool> = weak.iter().map(|c| is_edge(c, width, height)).collect();
    // Only needed inside a mark neither kept nor dropped whole (a drawing
    // on a canvas has none).
    let look_inside = keep_whole.iter().zip(&drop_whole).any(|(&k, &d)| !k && !d);
    let strong_labels = if look_inside {
        let strong_mask: Vec<bool> = darkness.pixels.iter().map(|&v| v > threshold).collect();
        connected_components(&strong_mask, width, height).0
    } else {
        Vec::new()
    };
    // Marks: whole weak components, then the strong ones inside the rest.
    let mut number = vec![0u32; weak.len() + 1];
    let mut next = 0;
    for (i, &keep) in keep_whole.iter().enumerate() {
        if keep {
            next += 1;
            number[i + 1] = next;
        }
    }
    let mut strong_number = std::collections::HashMap::new();
    let mut labels = vec![0u32; width * height];
    for i in 0..width * height {
        let weak_label = weak_labels[i];
        if weak_label == 0 {
            continue;
        }
        labels[i] = if keep_whole[weak_label as usize - 1] {
            number[weak_label as usize]
        // `drop_whole` first: without `look_inside` every mark not kept is
        // dropped, and `strong_labels` is empty.
        } else if !drop_whole[weak_label as usize - 1] && strong_labels[i] != 0 {
            *strong_number.entry(strong_labels[i]).or_insert_with(|| {
                next += 1;
                next
            })
        } else {
            0
        };
    }
    let components = if look_inside {
        measure(&labels, next as usize, darkness)
    } else {
        // The marks are the weak components kept, as measured, in order.
        weak.into_iter()
            .zip(keep_whole)
            .filter_map(|(c, keep)| keep.then_some(c))
            .collect()
    };
    (labels, components)
}

/// A connected mark of ink and what is known of it.
#[derive(Clone, Debug)]
struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    area: usize,
    /// Sum of darkness: how much ink.
    mass: f32,
    darkest: f32,
    touches_edge: bool,
    /// Its pixels on the picture's border.
    border_pixels: usize,
}

impl Component {
    fn width(&self) -> usize {
        self.x1 - self.x0
    }
    fn height(&self) -> usize {
        self.y1 - self.y0
    }
}

/// Labels the 8-connected regions of `mask` (label 0 is paper, component
/// `i` is label `i + 1`) with union-find over one raster pass. Returns
/// the labels and how many components there are.
fn connected_components(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, usize) {
    let mut labels = vec![0u32; w * h];
    let mut parent: Vec<u32> = vec![0];
    fn root(parent: &mut [u32], mut label: u32) -> u32 {
        while parent[label as usize] != label {
            let grandparent = parent[parent[label as usize] as usize];
            parent[label as usize] = grandparent;
            label = grandparent;
        }
        label
    }
    for y in 0..h {
        for x in 0..w {
            if !mask[y * w + x] {
                continue;
            }
            // Neighbours already visited: left, and the three above.
            let left = if x > 0 { labels[y * w + x - 1] } else { 0 };
            let (above_left, above, above_right) = if y > 0 {
                let row = &labels[(y - 1) * w..y * w];
                (
                    if x > 0 { row[x - 1] } else { 0 },
                    row[x],
                    if x + 1 < w { row[x + 1] } else { 0 },
                )
            } else {
                (0, 0, 0)
            };
            // The pixel above touches the other three, so they are already
            // joined to it; without it, left and above-left touch, and only
            // above-right may be another mark to join (Wu, Otoo and Suzuki's
            // decision tree: one union at most, where trying all four
            // neighbours made labelling a tenth of a canvas's time).
            let label = if above != 0 {
                above
            } else {
                let beside = if left != 0 { left } else { above_left };
                match (beside, above_right) {
                    (0, 0) => {
                        parent.push(parent.len() as u32);
                        parent.len() as u32 - 1
                    }
                    (label, 0) | (0, label) => label,
                    (a, b) => {
                        let (a, b) = (root(&mut parent, a), root(&mut parent, b));
                        // The smaller root stays: a mark's root is its first label.
                        let (keep, merge) = (a.min(b), a.max(b));
                        parent[merge as usize] = keep;
                        keep
                    }
                }
            };
            labels[y * w + x] = label;
        }
    }
    // Roots numbered 1.. in order of appearance.
    let mut number = vec![0u32; parent.len()];
    let mut count = 0;
    for label in 1..parent.len() as u32 {
        let r = root(&mut parent, label);
        if r == label {
            count += 1;
            number[label as usize] = count;
        } else {
            number[label as usize] = number[r as usize];
        }
    }
    for label in labels.iter_mut() {
        *label = number[*label as usize];
    }
    (labels, count as usize)
}

/// The box, area, ink and darkest pixel of each of `count` labelled marks.
fn measure(labels: &[u32], count: usize, darkness: &GreyImage) -> Vec<Component> {
    let (w, h) = (darkness.width, darkness.height);
    let empty = Component {
        x0: usize::MAX,
        y0: usize::MAX,
        x1: 0,
        y1: 0,
        area: 0,
        mass: 0.0,
        darkest: 0.0,
        touches_edge: false,
        border_pixels: 0,
    };
    let mut components = vec![empty; count];
    for y in 0..h {
        for x in 0..w {
            let label = labels[y * w + x];
            if label == 0 {
                continue;
            }
            let c = &mut components[label as usize - 1];
            let v = darkness.pixels[y * w + x];
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x + 1);
            c.y1 = c.y1.max(y + 1);
            c.area += 1;
            c.mass += v;
            c.darkest = c.darkest.max(v);
            let on_border = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            c.touches_edge |= on_border;
            c.border_pixels += usize::from(on_border);
        }
    }
    components
}

/// Printed lines (long, thin, running off the picture or across most of
/// it) and large marks along the picture's edge (the table beyond a page,
/// a shadow's dark side) are not handwriting.
fn is_line_or_edge(c: &Component, width: usize, height: usize) -> bool {
    let long_side = c.width().max(c.height());
    let thickness = c.area as f64 / long_side as f64;
    let spans = |len: usize, of: usize, fraction: f64| len as f64 >= fraction * of as f64;
    let thin = long_side as f64 >= 12.0 * thickness;
    let across = spans(c.width(), width, 0.3) || spans(c.height(), height, 0.3);
    let most_of_it = spans(c.width(), width, 0.75) || spans(c.height(), height, 0.75);
    let line = thin && across && (c.touches_edge || most_of_it);
    line || is_edge(c, width, height)
}

/// A large mark along the picture's edge: the table beyond a page, the
/// dark side of a shadow. It runs along the border for a good stretch,
/// where a big digit that merely reaches the border (drawn on the page's
/// canvas, or photographed tightly) touches it with a stroke's width.
fn is_edge(c: &Component, width: usize, height: usize) -> bool {
    let spans = |len: usize, of: usize| len as f64 >= 0.6 * of as f64;
    let along_border = c.border_pixels as f64 >= 0.2 * width.min(height) as f64;
    along_border && (spans(c.width(), width) || spans(c.height(), height))
}

/// One digit: the components it is made of and the box around them.
#[derive(Clone, Debug)]
pub(super) struct Glyph {
    parts: Vec<u32>,
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
}

impl Glyph {
    fn of(label: usize, c: &Component) -> Glyph {
        Glyph {
            parts: vec![label as u32 + 1],
            x0: c.x0,
            y0: c.y0,
            x1: c.x1,
            y1: c.y1,
        }
    }
    fn absorb(&mut self, other: &Glyph) {
        self.parts.extend_from_slice(&other.parts);
        self.x0 = self.x0.min(other.x0);
        self.y0 = self.y0.min(other.y0);
        self.x1 = self.x1.max(other.x1);
        self.y1 = self.y1.max(other.y1);
    }
    pub(super) fn width(&self) -> usize {
        self.x1 - self.x0
    }
    pub(super) fn height(&self) -> usize {
        self.y1 - self.y0
    }
    /// Whether pixel label `label` is ink of this glyph. A glyph has a few
    /// parts; `parts` is sorted by `digits_in_the_row_of`.
    pub(super) fn has(&self, label: u32) -> bool {
        label != 0 && self.parts.binary_search(&label).is_ok()
    }
    fn overlap(a: (usize, usize), b: (usize, usize)) -> usize {
        a.1.min(b.1).saturating_sub(a.0.max(b.0))
    }
}

/// The digits beside the biggest mark, left to right. Marks stacked over
/// each other (sharing half the narrower's columns and at most half the
/// shorter's rows, close above or below) are one digit, and so are marks a
/// sliver apart side by side (not overlapping: slanted neighbours do) when
/// together they are no wider than a digit; then the digits are those
/// beside the biggest one, each at the height of the next (sharing half
/// the shorter's rows), tall enough, within `MAX_GAP_IN_ROW` heights.
fn digits_in_the_row_of(biggest: usize, marks: &[usize], components: &[Component]) -> Vec<Glyph> {
    let main = &components[biggest];
    let sliver = (BROKEN_STROKE_GAP * main.height() as f64) as usize;
    let mut by_mass = marks.to_vec();
    by_mass.sort_by(|&a, &b| components[b].mass.total_cmp(&components[a].mass));
    // A textured picture can have tens of thousands of marks; a row of
    // digits and their broken strokes are among the biggest few hundred,
    // and grouping them stays quadratic in few.
    by_mass.truncate(MOST_MARKS);
    let mut stacked: Vec<Glyph> = Vec::new();
    for c in by_mass {
        let glyph = Glyph::of(c, &components[c]);
        let onto = stacked.iter_mut().find(|g| {
            let columns = Glyph::overlap((g.x0, g.x1), (glyph.x0, glyph.x1));
            let rows_apart = glyph.y0.saturating_sub(g.y1) + g.y0.saturating_sub(glyph.y1);
            let shared_rows = Glyph::overlap((g.y0, g.y1), (glyph.y0, glyph.y1));
            2 * columns >= g.width().min(glyph.width())
                && 2 * shared_rows <= g.height().min(glyph.height())
                && rows_apart <= 2 * sliver
                && glyph.y1.max(g.y1) - glyph.y0.min(g.y0) <= 2 * g.height().max(glyph.height())
        });
        match onto {
            Some(g) => g.absorb(&glyph),
            None => stacked.push(glyph),
        }
    }
    stacked.sort_by_key(|g| g.x0);
    let mut glyphs: Vec<Glyph> = Vec::new();
    for glyph in stacked {
        match glyphs.last_mut() {
            Some(last)
                if glyph.x0 >= last.x1
                    && glyph.x0 <= last.x1 + sliver
                    && 2 * Glyph::overlap((glyph.y0, glyph.y1), (last.y0, last.y1))
                        >= glyph.height().min(last.height())
                    && (glyph.x1.max(last.x1) - last.x0) as f64
                        <= WIDEST_SINGLE_DIGIT
                            * (glyph.y1.max(last.y1) - glyph.y0.min(last.y0)) as f64 =>
            {
                last.absorb(&glyph)
            }
            _ => glyphs.push(glyph),
        }
    }
    for glyph in &mut glyphs {
        glyph.parts.sort_unstable();
    }
    let main_glyph = glyphs
        .iter()
        .position(|g| g.has(biggest as u32 + 1))
        .expect("the biggest mark is in a glyph");
    let row_height = glyphs[main_glyph].height() as f64;
    // Beside its neighbour in the row (a row photographed at a slant
    // climbs), sharing half the shorter one's rows, and tall enough.
    let beside = |g: &Glyph, neighbour: &Glyph| {
        2 * Glyph::overlap((g.y0, g.y1), (neighbour.y0, neighbour.y1))
            >= g.height().min(neighbour.height())
            && g.height() as f64 >= MIN_HEIGHT_IN_ROW * row_height
    };
    let max_gap = (MAX_GAP_IN_ROW * row_height) as usize;
    // Walk outwards from the biggest mark while the gaps are small.
    let mut row = vec![glyphs[main_glyph].clone()];
    for g in &glyphs[main_glyph + 1..] {
        let last = row.last().expect("the row starts with the biggest mark");
        if !beside(g, last) {
            continue;
        }
        if g.x0 > last.x1 + max_gap {
            break;
        }
        row.push(g.clone());
    }
    for g in glyphs[..main_glyph].iter().rev() {
        let first = &row[0];
        if !beside(g, first) {
            continue;
        }
        if g.x1 + max_gap < first.x0 {
            break;
        }
        row.insert(0, g.clone());
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labelling against a flood fill over all eight neighbours, which
    /// numbers marks by their first pixel in raster order, on masks of
    /// every density from 1 x 1 to 17 x 13 (the decision tree joins
    /// only some neighbours; the labels must be the same).
    #[test]
    fn connected_components_match_a_flood_fill() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (w, h) in [(1, 1), (1, 9), (9, 1), (5, 5), (17, 13), (13, 17)] {
            for percent in [10, 35, 50, 65, 90] {
                let mask: Vec<bool> = (0..w * h).map(|_| next() % 100 < percent).collect();
                let mut want = vec![0u32; w * h];
                let mut count = 0;
                for start in 0..w * h {
                    if !mask[start] || want[start] != 0 {
                        continue;
                    }
                    count += 1;
                    want[start] = count;
                    let mut stack = vec![start];
                    while let Some(i) = stack.pop() {
                        let (x, y) = ((i % w) as i64, (i / w) as i64);
                        for (dx, dy) in (-1..=1).flat_map(|dx| (-1..=1).map(move |dy| (dx, dy))) {
                            let (nx, ny) = (x + dx, y + dy);
                            if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                                continue;
                            }
                            let n = ny as usize * w + nx as usize;
                            if mask[n] && want[n] == 0 {
                                want[n] = count;
                                stack.push(n);
                            }
                        }
                    }
                }
                let (labels, found) = connected_components(&mask, w, h);
                assert_eq!(found, count as usize, "{w}x{h} at {percent}%");
                assert_eq!(labels, want, "{w}x{h} at {percent}%");
            }
        }
    }

    #[test]
    fn window_extremes_match_the_direct_loop() {
        // Pseudo-random values with ties, every radius up to past the size,
        // odd and even sides, and a one-pixel line.
        for (w, h) in [(1, 1), (1, 7), (9, 1), (13, 8), (20, 31)] {
            let pixels = (0..w * h)
                .map(|i| ((i * 7919 + 13) % 23) as f32 / 7.0)
                .collect();
            let image = GreyImage {
                width: w,
                height: h,
                pixels,
            };
            for radius in 0..=w.max(h) + 1 {
                for (pick, identity) in [
                    (f32::max as fn(f32, f32) -> f32, f32::NEG_INFINITY),
                    (f32::min, f32::INFINITY),
                ] {
                    let fast = window_extreme(&image, radius, pick, identity);
                    for y in 0..h {
                        for x in 0..w {
                            let ys = y.saturating_sub(radius)..=(y + radius).min(h - 1);
                            let direct = ys
                                .flat_map(|yy| {
                                    let xs = x.saturating_sub(radius)..=(x + radius).min(w - 1);
                                    xs.map(move |xx| (xx, yy))
                                })
                                .map(|(xx, yy)| image.pixels[yy * w + xx])
                                .reduce(pick)
                                .unwrap();
                            assert_eq!(
                                fast.pixels[y * w + x],
                                direct,
                                "{w}x{h} r{radius} ({x}, {y})"
                            );
                        }
                    }
                }
            }
        }
    }

    /// White paper with dark `dots` (squares of `size` pixels) every
    /// `spacing` pixels.
    fn dotted(side: usize, spacing: usize, size: usize) -> GreyImage {
        let mut pixels = vec![0.95f32; side * side];
        for y in 0..side {
            for x in 0..side {
                if x % spacing < size && y % spacing < size {
                    pixels[y * side + x] = 0.1;
                }
            }
        }
        GreyImage {
            width: side,
            height: side,
            pixels,
        }
    }

    #[test]
    fn a_page_of_forty_thousand_specks_has_no_digit() {
        // 3-pixel dots every 10 pixels: 40 000 marks, none digit-sized.
        let error = find_marks(&dotted(2000, 10, 3), 1.0).unwrap_err();
        assert!(error.starts_with("no digit found"), "{error}");
    }

    #[test]
    fn a_digit_among_specks_is_found_alone() {
        // A 60-pixel bar (a 1) on a page of 2-pixel dust every 25 pixels.
        let mut page = dotted(400, 25, 2);
        for y in 170..230 {
            for x in 197..205 {
                page.pixels[y * 400 + x] = 0.1;
            }
        }
        let marks = find_marks(&page, 2.0).unwrap();
        assert_eq!(marks.len(), 1);
        let bounds = marks[0].pieces[0].digit.bounds;
        // In the picture's pixels: twice the searched ones.
        assert_eq!(
            (bounds.x, bounds.y, bounds.width, bounds.height),
            (394, 340, 16, 120)
        );
    }
}
