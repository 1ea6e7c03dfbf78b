//! Data augmentation for training images.
//!
//! `--augment N`: every training image moved by a random whole number of
//! pixels, up to `N` each way in x and y, the space it leaves filled with
//! background ([`shift_batch`]). MNIST digits are centred by mass, so a
//! shifted digit is still a plausible digit, and a network that sees them
//! stops relying on exact positions.
//!
//! [`Augmenter::augment_batch`]: random affine transforms (rotation, scale,
//! shear, sub-pixel translation) and elastic distortions, with bilinear
//! sampling. Simard, Steinkraus & Platt 2003 ("Best practices for
//! convolutional neural networks applied to visual document analysis",
//! ICDAR, section 2) used both for MNIST; elastic distortions gave their
//! best results.
//!
//! Coordinates: pixel `(x, y)` is column `x`, row `y` (y grows downwards),
//! pixel centres at whole numbers, the image centre at `c = (side - 1) / 2`.

use rand::{rngs::StdRng, Rng, SeedableRng};
use tensor::Matrix;

/// Copies the `side x side` image `source` into `target` moved right by
/// `dx` and down by `dy` pixels (negative: left, up); uncovered pixels get
/// `background`.
pub fn shift_image(
    source: &[f32],
    target: &mut [f32],
    side: usize,
    dx: isize,
    dy: isize,
    background: f32,
) {
    // Target columns `x` whose source column `x - dx` is inside the image:
    // one slice copy per row, background either side, instead of a bounds
    // test per pixel (the shifts' share of the default preset's CPU
    // samples: 4.0% -> 3.6%, most of it now the copies themselves).
    let side_i = side as isize;
    let first = dx.clamp(0, side_i) as usize;
    let end = (side_i + dx).clamp(0, side_i) as usize;
    for y in 0..side {
        let from_y = y as isize - dy;
        let row = &mut target[y * side..(y + 1) * side];
        if from_y < 0 || from_y >= side_i || first >= end {
            row.fill(background);
            continue;
        }
        let from = &source[from_y as usize * side..(from_y as usize + 1) * side];
        let (left, rest) = row.split_at_mut(first);
        let (middle, right) = rest.split_at_mut(end - first);
        left.fill(background);
        middle.copy_from_slice(&from[(first as isize - dx) as usize..(end as isize - dx) as usize]);
        right.fill(background);
    }
}

/// Fills `out` (resized to match) with each row of `images` (`B x side²`)
/// shifted by offsets drawn from an RNG seeded with `seed`, so a step's
/// shifts are a function of the seed alone (resuming replays them).
/// `background` is the value of a blank pixel (0 for pixels scaled to [0, 1]).
pub fn shift_batch(
    images: &Matrix,
    out: &mut Matrix,
    max_shift: usize,
    seed: u64,
    background: f32,
) {
    let side = (images.cols() as f64).sqrt() as usize;
    debug_assert_eq!(side * side, images.cols(), "images must be square");
    out.resize(images.rows(), images.cols());
    let mut rng = StdRng::seed_from_u64(seed);
    let reach = max_shift as isize;
    for r in 0..images.rows() {
        let (dx, dy) = (rng.gen_range(-reach..=reach), rng.gen_range(-reach..=reach));
        shift_image(images.row(r), out.row_mut(r), side, dx, dy, background);
    }
}

/// How strongly [`Augmenter::augment_batch`] distorts each image. Every
/// distortion is drawn per image, uniformly in the range a field gives; a
/// field at 0 turns that distortion off, and `Default` (all 0) leaves
/// images exactly as they are.
///
/// Sensible values for MNIST at 28 x 28: rotation 10 to 15 degrees, scale
/// 0.1, shear 10 degrees, shift 2 to 3 pixels; elastic alpha 34 with sigma 4
/// (Simard et al. 2003's MNIST setting: a smaller sigma makes noise, a
/// larger one little more than an affine map). Combining the full affine
/// ranges with full elastic distortion makes harder digits than either
/// alone; start with one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AugmentConfig {
    /// Translation in pixels, uniform in `[-max_shift, max_shift]` in x and
    /// in y, independently; not rounded (bilinear sampling).
    pub max_shift: f32,
    /// Rotation uniform in `[-rotation_degrees, rotation_degrees]`; positive
    /// turns counter-clockwise as displayed.
    pub rotation_degrees: f32,
    /// Scale factor uniform in `[1 - scale, 1 + scale]`, the same in x and y.
    pub scale: f32,
    /// Horizontal shear uniform in `[-shear_degrees, shear_degrees]`: a
    /// pixel moves right by `tan(angle) * (y - c)`.
    pub shear_degrees: f32,
    /// Elastic distortion: each pixel samples the image displaced by
    /// `elastic_alpha` times a smoothed random field (0 = off).
    pub elastic_alpha: f32,
    /// Standard deviation, in pixels, of the Gaussian that smooths the
    /// elastic field: small is noise, large is almost a translation.
    pub elastic_sigma: f32,
}

impl AugmentConfig {
    /// Every field finite and in a range that keeps the transform invertible
    /// and the digit on the image; `Err` names the field and the range.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("max_shift", self.max_shift, f32::MAX, "finite and >= 0"),
            (
                "rotation_degrees",
                self.rotation_degrees,
                180.0,
                "in [0, 180]",
            ),
            ("scale", self.scale, 0.99, "in [0, 0.99]"),
            ("shear_degrees", self.shear_degrees, 60.0, "in [0, 60]"),
            (
                "elastic_alpha",
                self.elastic_alpha,
                f32::MAX,
                "finite and >= 0",
            ),
            // Beyond an image's size a smoothed field is just a translation
            // (and the kernel's length grows with sigma).
            ("elastic_sigma", self.elastic_sigma, 100.0, "in [0, 100]"),
        ];
        for (name, value, max, expected) in checks {
            if !(0.0..=max).contains(&value) {
                return Err(format!(
                    "augmentation {name} = {value}, but it must be {expected}"
                ));
            }
        }
        Ok(())
    }
}

/// One image's affine transform about the image centre `c`: scale by `s`,
/// shear by `h`, rotate by `r`, then translate by `d`, as a map from a
/// source point to where it lands, `t = R * H * s * (p - c) + c + d`, with
/// `R = [cos r, sin r; -sin r, cos r]` (counter-clockwise on screen, y
/// down) and `H = [1, tan h; 0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub rotation_degrees: f32,
    pub scale: f32,
    pub shear_degrees: f32,
    pub shift_x: f32,
    pub shift_y: f32,
}

impl Affine {
    #[cfg(test)]
    pub const IDENTITY: Affine = Affine {
        rotation_degrees: 0.0,
        scale: 1.0,
        shear_degrees: 0.0,
        shift_x: 0.0,
        shift_y: 0.0,
    };

    /// One draw from `config`'s ranges: always five numbers from `rng`, in
    /// the order of the fields, so the draws after it do not depend on which
    /// distortions are on.
    fn draw(config: &AugmentConfig, rng: &mut StdRng) -> Affine {
        let mut symmetric = |max: f32| max * (2.0 * rng.gen::<f32>() - 1.0);
        Affine {
            rotation_degrees: symmetric(config.rotation_degrees),
            scale: 1.0 + symmetric(config.scale),
            shear_degrees: symmetric(config.shear_degrees),
            shift_x: symmetric(config.max_shift),
            shift_y: symmetric(config.max_shift),
        }
    }

    /// The inverse map, target pixel to source point: `p = M * (t - c - d) + c`
    /// with `M = (R * H * s)^-1 = H^-1 * R^-1 / s`, folded into
    /// `p = M * t + offset`. Worked in f64 so that whole-number maps (the
    /// identity, whole-pixel shifts) come out exact.
    fn inverse_map(&self, side: usize) -> InverseMap {
        let (sin, cos) = f64::from(self.rotation_degrees).to_radians().sin_cos();
        let tan = f64::from(self.shear_degrees).to_radians().tan();
        let inverse_scale = 1.0 / f64::from(self.scale);
        // R^-1 = [cos, -sin; sin, cos], H^-1 = [1, -tan; 0, 1].
        let m = [
            (cos - tan * sin) * inverse_scale,
            (-sin - tan * cos) * inverse_scale,
            sin * inverse_scale,
            cos * inverse_scale,
        ];
        let c = (side as f64 - 1.0) / 2.0;
        let (from_x, from_y) = (c + f64::from(self.shift_x), c + f64::from(self.shift_y));
        let offset = [
            c - (m[0] * from_x + m[1] * from_y),
            c - (m[2] * from_x + m[3] * from_y),
        ];
        InverseMap {
            m: m.map(|v| v as f32),
            offset: offset.map(|v| v as f32),
        }
    }
}

/// `source = m * target + offset`, row-major 2 x 2 `m`.
#[derive(Debug, Clone, Copy)]
struct InverseMap {
    m: [f32; 4],
    offset: [f32; 2],
}

/// Fills the `side x side` image `target`: pixel `t` takes the value of
/// `source` at `transform`'s inverse of `t + displacement(t)` (the elastic
/// field, if any, displaces first, in target space as in Simard et al.), read
/// by bilinear interpolation with `background` outside the image. One
/// sampling for both distortions, so the image is blurred once.
///
/// `padded` is scratch: the source with a border of background, so that
/// every sample reads four pixels without a test for the image's edges.
pub fn warp_image(
    source: &[f32],
    target: &mut [f32],
    side: usize,
    transform: &Affine,
    displacement: Option<(&[f32], &[f32])>,
    background: f32,
    padded: &mut Vec<f32>,
) {
    let n = side * side;
    let (source, target) = (&source[..n], &mut target[..n]);
    let width = pad_with_background(source, side, background, padded);
    let padded = &padded[..];
    let InverseMap { m, offset } = transform.inverse_map(side);
    let source_point = |x: f32, y: f32| {
        let sx = m[0] * x + m[1] * y + offset[0];
        let sy = m[2] * x + m[3] * y + offset[1];
        (sx, sy)
    };
    let limit = side as f32;
    tensor::cpu::with_simd(
        #[inline(always)]
        || match displacement {
            None => sample_rows(target, side, padded, width, limit, |x, y| {
                source_point(x as f32, y as f32)
            }),
            Some((dx, dy)) => {
                let (dx, dy) = (&dx[..n], &dy[..n]);
                sample_rows(target, side, padded, width, limit, |x, y| {
                    let i = y * side + x;
                    source_point(x as f32 + dx[i], y as f32 + dy[i])
                })
            }
        },
    );
}

/// Pixels sampled per block in `sample_rows`: one AVX2 vector of f32.
const BLOCK: usize = 8;

/// Fills each pixel `(x, y)` of `target` with the padded image at
/// `point(x, y)`. Blocks of [`BLOCK`] pixels of a row go through
/// `sample_block`, whose lane-by-lane loops the compiler turns into vector
/// code (the four reads stay scalar); the rest of a row one by one. Every
/// lane does the same operations in the same order as `bilinear`, so the
/// bits do not depend on which path a pixel took.
#[inline(always)]
fn sample_rows(
    target: &mut [f32],
    side: usize,
    padded: &[f32],
    width: usize,
    limit: f32,
    point: impl Fn(usize, usize) -> (f32, f32),
) {
    for (y, row) in target.chunks_exact_mut(side).enumerate() {
        let mut blocks = row.chunks_exact_mut(BLOCK);
        for (b, block) in (&mut blocks).enumerate() {
            let (mut sx, mut sy) = ([0.0; BLOCK], [0.0; BLOCK]);
            for lane in 0..BLOCK {
                (sx[lane], sy[lane]) = point(b * BLOCK + lane, y);
            }
            block.copy_from_slice(&sample_block(padded, width, limit, sx, sy));
        }
        let done = side - side % BLOCK;
        for (x, pixel) in blocks.into_remainder().iter_mut().enumerate() {
            let (sx, sy) = point(done + x, y);
            *pixel = bilinear(padded, width, limit, sx, sy);
        }
    }
}

/// [`bilinear`] for [`BLOCK`] points at once, written as loops over lanes.
#[inline(always)]
fn sample_block(
    padded: &[f32],
    width: usize,
    limit: f32,
    x: [f32; BLOCK],
    y: [f32; BLOCK],
) -> [f32; BLOCK] {
    let (mut fx, mut fy, mut index) = ([0.0; BLOCK], [0.0; BLOCK], [0; BLOCK]);
    for lane in 0..BLOCK {
        let (x, y) = (x[lane].max(-1.0).min(limit), y[lane].max(-1.0).min(limit));
        let (x0, y0) = (floor(x), floor(y));
        (fx[lane], fy[lane]) = (x - x0, y - y0);
        index[lane] = (y0 + 1.0) as i32 as usize * width + (x0 + 1.0) as i32 as usize;
    }
    let (mut a, mut b, mut c, mut d) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
    for lane in 0..BLOCK {
        let i = index[lane];
        (a[lane], b[lane]) = (padded[i], padded[i + 1]);
        (c[lane], d[lane]) = (padded[i + width], padded[i + width + 1]);
    }
    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
    let mut out = [0.0; BLOCK];
    for lane in 0..BLOCK {
        let top = lerp(a[lane], b[lane], fx[lane]);
        let bottom = lerp(c[lane], d[lane], fx[lane]);
        out[lane] = lerp(top, bottom, fy[lane]);
    }
    out
}

/// Copies `source` into `padded` with a border of `background`: one pixel
/// left and above, two right and below (the second one is read, with
/// weight 0, by points clamped to the far edge). Returns the padded width,
/// `side + 3`; source pixel `(x, y)` is at `(x + 1, y + 1)`.
fn pad_with_background(
    source: &[f32],
    side: usize,
    background: f32,
    padded: &mut Vec<f32>,
) -> usize {
    let width = side + 3;
    padded.clear();
    padded.resize(width * width, background);
    for (y, row) in source.chunks_exact(side).enumerate() {
        let start = (y + 1) * width + 1;
        padded[start..start + side].copy_from_slice(row);
    }
    width
}

/// The image at the point `(x, y)` (source coordinates), interpolated
/// between its four nearest pixels, from `padded` (see
/// [`pad_with_background`]): pixels outside the image are background, so
/// edges fade into it. A point is first clamped to `[-1, limit]` (`limit`
/// is `side`): anything beyond lies in the border and reads background
/// there just as well, and every read stays inside `padded`, with no branch
/// on where the point fell. At whole-number points the weights are 1 and 0
/// and the pixel comes back exactly.
#[inline(always)]
fn bilinear(padded: &[f32], width: usize, limit: f32, x: f32, y: f32) -> f32 {
    // max before min: a NaN coordinate becomes -1, in the border.
    let (x, y) = (x.max(-1.0).min(limit), y.max(-1.0).min(limit));
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = (x - x0, y - y0);
    // Through i32, which converts in one instruction and a clamp (usize
    // takes several); x0 + 1 and y0 + 1 are in [0, side + 1].
    let i = (y0 + 1.0) as i32 as usize * width + (x0 + 1.0) as i32 as usize;
    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
    let top = lerp(padded[i], padded[i + 1], fx);
    let bottom = lerp(padded[i + width], padded[i + width + 1], fx);
    lerp(top, bottom, fy)
}

/// `x.floor()` through a truncating conversion, exact for |x| < 2^31:
/// x86-64's baseline has no rounding instruction (SSE4.1), so `f32::floor`
/// would be a call into libm per coordinate.
#[inline(always)]
fn floor(x: f32) -> f32 {
    let truncated = x as i32 as f32;
    if truncated > x {
        truncated - 1.0
    } else {
        truncated
    }
}

/// The 1-D Gaussian of standard deviation `sigma`, truncated at 4 sigma and
/// normalised to sum 1 as scipy's `gaussian_filter` does (the usual
/// reference for Simard's distortion); `[1]` for sigma 0 (no smoothing).
/// Only the taps within `side - 1` of the centre are kept: farther ones
/// never reach a pixel of the image. Written into `kernel` (index `k` is
/// offset `k - kept radius`).
fn gaussian_kernel(sigma: f32, side: usize, kernel: &mut Vec<f32>) {
    kernel.clear();
    if sigma == 0.0 {
        kernel.push(1.0);
        return;
    }
    let sigma = f64::from(sigma);
    let radius = (4.0 * sigma + 0.5) as i64;
    let kept = radius.min(side as i64 - 1).max(0);
    let weight = |k: i64| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp();
    let total: f64 = (-radius..=radius).map(weight).sum();
    kernel.extend((-kept..=kept).map(|k| (weight(k) / total) as f32));
}

/// `field` (side x side) convolved with `kernel` along rows, then along
/// columns, and multiplied by `gain`; pixels beyond the edge count as 0
/// (scipy's `mode="constant"`). Both passes read from copies bordered with
/// `radius` zeros, so every output is the same sum over all taps, computed
/// [`GROUP`] outputs at a time in registers (a row is rounded up to whole
/// groups; the extra outputs are dropped). `scratch` holds the bordered row
/// and the row pass's result, bordered above and below.
fn smooth(field: &mut [f32], scratch: &mut Vec<f32>, side: usize, kernel: &[f32], gain: f32) {
    let radius = kernel.len() / 2;
    let wide = side.div_ceil(GROUP) * GROUP;
    let row_len = wide + 2 * radius;
    scratch.clear();
    scratch.resize(row_len + (side + 2 * radius) * wide, 0.0);
    let (bordered_row, row_pass) = scratch.split_at_mut(row_len);
    let taps_to_last = kernel.len() - 1;
    // Compiled for AVX-512 or AVX2 where the CPU has it: 16 or 8 lanes per add. Rust never
    // fuses the multiply and add, so the bits are those of the baseline build.
    tensor::cpu::with_simd(
        #[inline(always)]
        || {
            for (y, row) in field.chunks_exact(side).enumerate() {
                bordered_row[radius..radius + side].copy_from_slice(row);
                let out = &mut row_pass[(y + radius) * wide..][..wide];
                for (g, group) in out.chunks_exact_mut(GROUP).enumerate() {
                    let from = &bordered_row[g * GROUP..][..taps_to_last + GROUP];
                    group.copy_from_slice(&convolve_group(from, 1, kernel, 1.0));
                }
            }
            for (y, row) in field.chunks_exact_mut(side).enumerate() {
                for (g, group) in row.chunks_mut(GROUP).enumerate() {
                    let from = &row_pass[y * wide + g * GROUP..][..taps_to_last * wide + GROUP];
                    let sums = convolve_group(from, wide, kernel, gain);
                    group.copy_from_slice(&sums[..group.len()]);
                }
            }
        },
    );
}

/// Outputs `smooth` computes at once: four vectors of 8, four independent
/// chains of adds, so each add need not wait for the one before (one chain
/// of 8 was bound by the add's latency; figures in BENCHMARKS.md,
/// "Measurements behind the code").
const GROUP: usize = 4 * BLOCK;

/// `sum[lane] = sum over k of (gain * kernel[k]) * from[lane + k * stride]`.
#[inline(always)]
fn convolve_group(from: &[f32], stride: usize, kernel: &[f32], gain: f32) -> [f32; GROUP] {
    let mut sum = [0.0; GROUP];
    for (k, &w) in kernel.iter().enumerate() {
        let (w, taps) = (gain * w, &from[k * stride..][..GROUP]);
        for lane in 0..GROUP {
            sum[lane] += w * taps[lane];
        }
    }
    sum
}

/// The reusable buffers of [`Augmenter::augment_batch`]: after the first
/// batch (and while `side` and `elastic_sigma` stay the same) it allocates
/// nothing.
///
/// Speed, 60,000 28 x 28 images on one thread of a 2-core AMD EPYC (Zen 4)
/// shared with two other builds (load 4 to 5), release build,
/// `tests::augment_speed`, fastest of 20 slices over 4 runs (median slice):
/// affine 0.37 s (0.5 to 0.6 s), elastic 1.0 s (1.1 to 1.5 s), both 1.0 s
/// (1.3 s). The elastic time is about 30% smoothing, 45% sampling, 8%
/// random numbers.
#[derive(Debug, Clone, Default)]
pub struct Augmenter {
    /// The elastic displacement in x and in y, `side²` each.
    field_x: Vec<f32>,
    field_y: Vec<f32>,
    /// The scratch of `smooth`.
    smoothing: Vec<f32>,
    /// The image being warped, with a border (`pad_with_background`).
    padded: Vec<f32>,
    /// The Gaussian for `kernel_for`, `(sigma, side)`.
    kernel: Vec<f32>,
    kernel_for: Option<(f32, usize)>,
}

impl Augmenter {
    pub fn new() -> Augmenter {
        Augmenter::default()
    }

    /// Fills `out` (resized to match) with each row of `images` (`B x side²`)
    /// distorted as `config` says, everything drawn from an RNG seeded with
    /// `seed`: a step's augmentation is a function of the seed (and the
    /// config) alone, so resuming replays it bit for bit. Per image, in
    /// order: rotation, scale, shear, shift x, shift y, then (if
    /// `elastic_alpha > 0`) the x and y fields, `side²` values each, uniform
    /// in [-1, 1). `background` is the value of a blank pixel (0 for pixels
    /// scaled to [0, 1]); it fills whatever comes from outside the image.
    ///
    /// `config` should pass [`AugmentConfig::validate`].
    pub fn augment_batch(
        &mut self,
        images: &Matrix,
        out: &mut Matrix,
        side: usize,
        config: &AugmentConfig,
        seed: u64,
        background: f32,
    ) {
        let n = side * side;
        assert_eq!(
            images.cols(),
            n,
            "images must be rows of side x side pixels"
        );
        debug_assert_eq!(config.validate(), Ok(()));
        out.resize(images.rows(), images.cols());
        if n == 0 {
            return;
        }
        let elastic = config.elastic_alpha != 0.0;
        if elastic {
            for buffer in [&mut self.field_x, &mut self.field_y] {
                buffer.resize(n, 0.0);
            }
            if self.kernel_for != Some((config.elastic_sigma, side)) {
                gaussian_kernel(config.elastic_sigma, side, &mut self.kernel);
                self.kernel_for = Some((config.elastic_sigma, side));
            }
        }
        let mut rng = StdRng::seed_from_u64(seed);
        for r in 0..images.rows() {
            let transform = Affine::draw(config, &mut rng);
            let displacement = if elastic {
                for field in [&mut self.field_x, &mut self.field_y] {
                    for v in field.iter_mut() {
                        *v = 2.0 * rng.gen::<f32>() - 1.0;
                    }
                    let (kernel, alpha) = (&self.kernel, config.elastic_alpha);
                    smooth(field, &mut self.smoothing, side, kernel, alpha);
                }
                Some((&self.field_x[..], &self.field_y[..]))
            } else {
                None
            };
            let (image, target) = (images.row(r), out.row_mut(r));
            warp_image(
                image,
                target,
                side,
                &transform,
                displacement,
                background,
                &mut self.padded,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_moves_every_pixel_and_fills_the_gap() {
        // 3x3 image with values 1..9.
        let source: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut target = vec![f32::NAN; 9];
        shift_image(&source, &mut target, 3, 1, 0, 0.0);
        assert_eq!(target, [0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0]);
        shift_image(&source, &mut target, 3, -1, -1, -0.5);
        assert_eq!(target, [5.0, 6.0, -0.5, 8.0, 9.0, -0.5, -0.5, -0.5, -0.5]);
        shift_image(&source, &mut target, 3, 0, 0, 0.0);
        assert_eq!(target, source);
        shift_image(&source, &mut target, 3, 5, 0, 0.0);
        assert_eq!(target, [0.0; 9]);
    }

    #[test]
    fn every_shift_matches_the_pixel_by_pixel_definition() {
        let side = 7;
        let source: Vec<f32> = (0..side * side).map(|v| v as f32 + 1.0).collect();
        let mut target = vec![f32::NAN; side * side];
        for dy in -9..=9isize {
            for dx in -9..=9isize {
                shift_image(&source, &mut target, side, dx, dy, -1.0);
                for (index, &got) in target.iter().enumerate() {
                    let (x, y) = ((index % side) as isize, (index / side) as isize);
                    let (from_x, from_y) = (x - dx, y - dy);
                    let inside = |v: isize| (0..side as isize).contains(&v);
                    let want = if inside(from_x) && inside(from_y) {
                        source[from_y as usize * side + from_x as usize]
                    } else {
                        -1.0
                    };
                    assert_eq!(got, want, "shift ({dx}, {dy}) at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn batch_shifts_stay_in_range_and_depend_only_on_the_seed() {
        // Each row: a single lit pixel in the middle of a 7x7 image.
        let images = Matrix::from_fn(50, 49, |_, c| if c == 24 { 1.0 } else { 0.0 });
        let (mut a, mut b, mut c) = (
            Matrix::zeros(0, 0),
            Matrix::zeros(0, 0),
            Matrix::zeros(0, 0),
        );
        shift_batch(&images, &mut a, 2, 7, 0.0);
        shift_batch(&images, &mut b, 2, 7, 0.0);
        shift_batch(&images, &mut c, 2, 8, 0.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut offsets = std::collections::BTreeSet::new();
        for r in 0..50 {
            let lit: Vec<usize> = (0..49).filter(|&i| a.row(r)[i] == 1.0).collect();
            assert_eq!(lit.len(), 1, "the pixel stays in the image");
            let (x, y) = (lit[0] % 7, lit[0] / 7);
            assert!(x.abs_diff(3) <= 2 && y.abs_diff(3) <= 2);
            offsets.insert((x, y));
        }
        // 50 draws from 25 offsets cover many of them.
        assert!(offsets.len() > 10, "{offsets:?}");
    }

    /// A `side x side` image of distinct, irregular values (no symmetry).
    fn irregular(side: usize, seed: usize) -> Vec<f32> {
        let values = (0..side * side).map(|i| ((i * 7 + seed * 13 + 3) as f32 * 0.61).sin());
        values.map(|v| v + 1.5).collect()
    }

    fn batch(rows: usize, side: usize) -> Matrix {
        let mut images = Matrix::zeros(rows, side * side);
        for r in 0..rows {
            images.row_mut(r).copy_from_slice(&irregular(side, r));
        }
        images
    }

    /// Every distortion on, at the strengths the config's doc suggests.
    fn everything() -> AugmentConfig {
        AugmentConfig {
            max_shift: 2.5,
            rotation_degrees: 12.0,
            scale: 0.1,
            shear_degrees: 10.0,
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
        }
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn the_identity_config_returns_the_input_exactly() {
        // Elastic alpha 0 is the identity whatever sigma says.
        let no_elastic = AugmentConfig {
            elastic_sigma: 4.0,
            ..AugmentConfig::default()
        };
        for config in [AugmentConfig::default(), no_elastic] {
            for side in [28, 7, 2, 1] {
                let images = batch(5, side);
                let mut out = Matrix::filled(5, side * side, f32::NAN);
                let mut augmenter = Augmenter::new();
                augmenter.augment_batch(&images, &mut out, side, &config, 3, -0.42);
                assert_eq!(bits(out.as_slice()), bits(images.as_slice()), "{side}");
            }
        }
    }

    #[test]
    fn a_whole_pixel_translation_equals_shift_image() {
        // 7: pixels one by one only; 19: two blocks of 8 and three alone.
        for side in [7, 19] {
            let source = irregular(side, 0);
            let reach = side as isize + 1;
            let mut warped = vec![f32::NAN; side * side];
            let mut shifted = vec![f32::NAN; side * side];
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let transform = Affine {
                        shift_x: dx as f32,
                        shift_y: dy as f32,
                        ..Affine::IDENTITY
                    };
                    let padded = &mut Vec::new();
                    warp_image(&source, &mut warped, side, &transform, None, -1.0, padded);
                    shift_image(&source, &mut shifted, side, dx, dy, -1.0);
                    assert_eq!(bits(&warped), bits(&shifted), "{side}: ({dx}, {dy})");
                }
            }
        }
    }

    /// Blocks of pixels and pixels one by one give the same bits: every
    /// pixel of random warps against `bilinear` called for it alone.
    #[test]
    fn blocks_and_single_pixels_sample_alike() {
        let mut rng = StdRng::seed_from_u64(9);
        for side in [28, 17, 9] {
            let source = irregular(side, 4);
            let n = side * side;
            for _ in 0..20 {
                let transform = Affine::draw(&everything(), &mut rng);
                let dx: Vec<f32> = (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect();
                let dy: Vec<f32> = (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect();
                let (mut warped, mut padded) = (vec![f32::NAN; n], Vec::new());
                let field = Some((&dx[..], &dy[..]));
                warp_image(
                    &source,
                    &mut warped,
                    side,
                    &transform,
                    field,
                    0.3,
                    &mut padded,
                );
                let InverseMap { m, offset } = transform.inverse_map(side);
                for (i, &got) in warped.iter().enumerate() {
                    let (x, y) = ((i % side) as f32 + dx[i], (i / side) as f32 + dy[i]);
                    let sx = m[0] * x + m[1] * y + offset[0];
                    let sy = m[2] * x + m[3] * y + offset[1];
                    let alone = bilinear(&padded, side + 3, side as f32, sx, sy);
                    assert_eq!(got.to_bits(), alone.to_bits(), "{side}: pixel {i}");
                }
            }
        }
    }

    #[test]
    fn a_constant_whole_pixel_displacement_field_is_a_shift_the_other_way() {
        // Pixel t samples the source at t + (2, -1): the image moves 2 left, 1 down.
        let side = 7;
        let source = irregular(side, 1);
        let (dx, dy) = (vec![2.0; 49], vec![-1.0; 49]);
        let (mut warped, mut shifted) = (vec![f32::NAN; 49], vec![f32::NAN; 49]);
        let transform = Affine::IDENTITY;
        warp_image(
            &source,
            &mut warped,
            side,
            &transform,
            Some((&dx, &dy)),
            0.5,
            &mut Vec::new(),
        );
        shift_image(&source, &mut shifted, side, -2, 1, 0.5);
        assert_eq!(bits(&warped), bits(&shifted));
        // And a zero field changes nothing.
        let zero = vec![0.0; 49];
        warp_image(
            &source,
            &mut warped,
            side,
            &transform,
            Some((&zero, &zero)),
            0.5,
            &mut Vec::new(),
        );
        assert_eq!(bits(&warped), bits(&source));
    }

    fn assert_near(actual: &[f32], expected: &[f32], tolerance: f32) {
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance,
                "pixel {i}: {a} vs {e}\n{actual:?}"
            );
        }
    }

    #[test]
    fn a_quarter_turn_matches_the_rotation_done_by_hand() {
        let source: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        // +90 degrees turns counter-clockwise as displayed: the top row
        // (1 2 3 4) becomes the left column, read upwards.
        #[rustfmt::skip]
        let turned = [
            4.0, 8.0, 12.0, 16.0,
            3.0, 7.0, 11.0, 15.0,
            2.0, 6.0, 10.0, 14.0,
            1.0, 5.0,  9.0, 13.0,
        ];
        let rotation = |degrees| Affine {
            rotation_degrees: degrees,
            ..Affine::IDENTITY
        };
        let mut target = vec![f32::NAN; 16];
        warp_image(
            &source,
            &mut target,
            4,
            &rotation(90.0),
            None,
            0.0,
            &mut Vec::new(),
        );
        // cos(90 degrees) is 6e-17 in f64, not 0: close, not exact.
        assert_near(&target, &turned, 1e-5);
        warp_image(
            &source,
            &mut target,
            4,
            &rotation(-90.0),
            None,
            0.0,
            &mut Vec::new(),
        );
        let mut back = vec![f32::NAN; 16];
        warp_image(
            &target,
            &mut back,
            4,
            &rotation(90.0),
            None,
            0.0,
            &mut Vec::new(),
        );
        assert_near(&back, &source, 1e-5);
        // Half a turn reverses the pixel order; odd sides too.
        let source = irregular(5, 2);
        let mut target = vec![f32::NAN; 25];
        warp_image(
            &source,
            &mut target,
            5,
            &rotation(180.0),
            None,
            0.0,
            &mut Vec::new(),
        );
        let reversed: Vec<f32> = source.iter().rev().copied().collect();
        assert_near(&target, &reversed, 1e-5);
    }

    /// A single lit pixel goes where `Affine`'s doc says the forward map
    /// sends it (5 x 5 image, centre c = 2).
    #[test]
    fn shear_scale_and_shift_move_a_pixel_where_the_doc_says() {
        let lit_at = |x: usize, y: usize| {
            let mut image = vec![0.0_f32; 25];
            image[y * 5 + x] = 1.0;
            image
        };
        let cases = [
            // Shear 45 degrees: x moves by tan(45) * (y - c) = +1 one row below c.
            (
                Affine {
                    shear_degrees: 45.0,
                    ..Affine::IDENTITY
                },
                (2, 3),
                (3, 3),
            ),
            (
                Affine {
                    shear_degrees: 45.0,
                    ..Affine::IDENTITY
                },
                (2, 1),
                (1, 1),
            ),
            // Scale 2 about the centre: one right of c goes two right.
            (
                Affine {
                    scale: 2.0,
                    ..Affine::IDENTITY
                },
                (3, 2),
                (4, 2),
            ),
            // Shift then: right 1, up 2.
            (
                Affine {
                    shift_x: 1.0,
                    shift_y: -2.0,
                    ..Affine::IDENTITY
                },
                (1, 3),
                (2, 1),
            ),
        ];
        for (transform, from, to) in cases {
            let mut target = vec![f32::NAN; 25];
            warp_image(
                &lit_at(from.0, from.1),
                &mut target,
                5,
                &transform,
                None,
                0.0,
                &mut Vec::new(),
            );
            assert!(target[to.1 * 5 + to.0] > 0.99, "{transform:?}: {target:?}");
        }
    }

    /// Sum of the pixels of a centred Gaussian blob (std 3 pixels) after `transform`.
    fn ink_after(transform: &Affine) -> f64 {
        let side = 28;
        let c = 13.5_f32;
        let blob: Vec<f32> = (0..side * side)
            .map(|i| {
                let (x, y) = ((i % side) as f32 - c, (i / side) as f32 - c);
                (-(x * x + y * y) / 18.0).exp()
            })
            .collect();
        let mut target = vec![f32::NAN; side * side];
        warp_image(
            &blob,
            &mut target,
            side,
            transform,
            None,
            0.0,
            &mut Vec::new(),
        );
        target.iter().map(|&v| f64::from(v)).sum()
    }

    #[test]
    fn rotation_and_shear_keep_the_ink_and_scale_multiplies_it_by_the_area() {
        let ink = ink_after(&Affine::IDENTITY); // about 2 pi 3^2 = 56.5
        assert!((ink - 56.55).abs() < 0.1, "{ink}");
        for degrees in [7.0, 30.0, 45.0, -80.0, 180.0] {
            let rotated = ink_after(&Affine {
                rotation_degrees: degrees,
                ..Affine::IDENTITY
            });
            assert!(
                (rotated / ink - 1.0).abs() < 0.005,
                "{degrees}: {rotated} vs {ink}"
            );
        }
        // A shear's determinant is 1; a scale k multiplies areas by k^2.
        let sheared = ink_after(&Affine {
            shear_degrees: 20.0,
            ..Affine::IDENTITY
        });
        assert!((sheared / ink - 1.0).abs() < 0.005, "{sheared} vs {ink}");
        for k in [0.8_f32, 1.2] {
            let scaled = ink_after(&Affine {
                scale: k,
                ..Affine::IDENTITY
            });
            let expected = ink * f64::from(k * k);
            assert!(
                (scaled / expected - 1.0).abs() < 0.01,
                "{k}: {scaled} vs {expected}"
            );
        }
    }

    /// The smoothing against a direct 2-D convolution in f64 with the
    /// Gaussian written out: `gain * sum_ij g(i) g(j) f(y + i, x + j) / (sum g)^2`
    /// over taps inside the image, `g(k) = exp(-k^2 / 2 sigma^2)` for
    /// `|k| <= round(4 sigma)`.
    #[test]
    fn smoothing_matches_a_direct_gaussian_convolution() {
        for (side, sigma) in [(12, 2.0_f32), (28, 4.0), (9, 0.7), (5, 0.0), (6, 3.0)] {
            let mut rng = StdRng::seed_from_u64(side as u64);
            let field: Vec<f32> = (0..side * side).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let gain = 3.5;
            let radius = (4.0 * f64::from(sigma) + 0.5) as isize;
            let g = |k: isize| {
                if sigma == 0.0 {
                    f64::from(u8::from(k == 0))
                } else {
                    (-(k * k) as f64 / (2.0 * f64::from(sigma).powi(2))).exp()
                }
            };
            let total: f64 = (-radius..=radius).map(g).sum();
            let mut smoothed = field.clone();
            let (mut kernel, mut scratch) = (Vec::new(), vec![f32::NAN; 3]);
            gaussian_kernel(sigma, side, &mut kernel);
            smooth(&mut smoothed, &mut scratch, side, &kernel, gain);
            let s = side as isize;
            for y in 0..s {
                for x in 0..s {
                    let mut sum = 0.0;
                    for i in -radius..=radius {
                        for j in -radius..=radius {
                            let (yy, xx) = (y + i, x + j);
                            if (0..s).contains(&yy) && (0..s).contains(&xx) {
                                sum += g(i) * g(j) * f64::from(field[(yy * s + xx) as usize]);
                            }
                        }
                    }
                    let expected = f64::from(gain) * sum / (total * total);
                    let got = f64::from(smoothed[(y * s + x) as usize]);
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "side {side} sigma {sigma} ({x}, {y}): {got} vs {expected}"
                    );
                }
            }
        }
    }

    /// At the centre of a 28 x 28 image, alpha 34 and sigma 4 displace a
    /// pixel by alpha * sqrt(1/3) * sum_k w_k^2 pixels RMS (uniform [-1, 1]
    /// has variance 1/3; the 2-D weights are w_i w_j, normalised): about 1.4.
    /// Catches a field left unscaled or unnormalised.
    #[test]
    fn the_elastic_field_has_the_size_alpha_and_sigma_give() {
        let (side, sigma, alpha) = (28, 4.0_f64, 34.0_f32);
        let w: Vec<f64> = (-16..=16_i32)
            .map(|k| (-f64::from(k * k) / (2.0 * sigma * sigma)).exp())
            .collect();
        let total: f64 = w.iter().sum();
        let sum_sq: f64 = w.iter().map(|v| (v / total).powi(2)).sum();
        let expected = f64::from(alpha) * (1.0_f64 / 3.0).sqrt() * sum_sq;
        assert!((expected - 1.38).abs() < 0.02, "{expected}");

        let mut augmenter = Augmenter::new();
        let images = batch(1, side);
        let mut out = Matrix::zeros(0, 0);
        let config = AugmentConfig {
            elastic_alpha: alpha,
            elastic_sigma: sigma as f32,
            ..AugmentConfig::default()
        };
        let (mut sum_sq_x, mut sum_sq_y, draws) = (0.0, 0.0, 3000);
        for seed in 0..draws {
            augmenter.augment_batch(&images, &mut out, side, &config, seed, 0.0);
            // Pixel (14, 14), next to the centre.
            sum_sq_x += f64::from(augmenter.field_x[14 * side + 14]).powi(2);
            sum_sq_y += f64::from(augmenter.field_y[14 * side + 14]).powi(2);
        }
        for sum in [sum_sq_x, sum_sq_y] {
            let rms = (sum / draws as f64).sqrt();
            assert!((rms / expected - 1.0).abs() < 0.06, "{rms} vs {expected}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bits_and_another_seed_other_ones() {
        let images = batch(8, 28);
        let config = everything();
        let run = |augmenter: &mut Augmenter, seed| {
            let mut out = Matrix::filled(3, 3, f32::NAN);
            augmenter.augment_batch(&images, &mut out, 28, &config, seed, -0.25);
            out
        };
        let mut augmenter = Augmenter::new();
        let first = run(&mut augmenter, 11);
        // A reused augmenter, after other seeds, sides and sigmas, and a
        // fresh one: the scratch carries nothing from call to call.
        let other_side = batch(4, 9);
        let mut scratch_out = Matrix::zeros(0, 0);
        let small_sigma = AugmentConfig {
            elastic_sigma: 1.5,
            ..config
        };
        augmenter.augment_batch(&other_side, &mut scratch_out, 9, &small_sigma, 5, 0.0);
        let other = run(&mut augmenter, 12);
        assert_eq!(
            bits(run(&mut augmenter, 11).as_slice()),
            bits(first.as_slice())
        );
        assert_eq!(
            bits(run(&mut Augmenter::new(), 11).as_slice()),
            bits(first.as_slice())
        );
        // Another seed moves every image differently, and every image moved.
        for r in 0..8 {
            assert_ne!(bits(first.row(r)), bits(other.row(r)), "row {r}");
            assert_ne!(bits(first.row(r)), bits(images.row(r)), "row {r}");
            assert!(first.row(r).iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn each_distortion_alone_changes_the_image_and_validate_names_bad_fields() {
        let images = batch(2, 28);
        let alone = [
            AugmentConfig {
                max_shift: 2.0,
                ..Default::default()
            },
            AugmentConfig {
                rotation_degrees: 10.0,
                ..Default::default()
            },
            AugmentConfig {
                scale: 0.1,
                ..Default::default()
            },
            AugmentConfig {
                shear_degrees: 10.0,
                ..Default::default()
            },
            AugmentConfig {
                elastic_alpha: 34.0,
                elastic_sigma: 4.0,
                ..Default::default()
            },
        ];
        for config in alone {
            assert_eq!(config.validate(), Ok(()));
            let mut out = Matrix::zeros(0, 0);
            Augmenter::new().augment_batch(&images, &mut out, 28, &config, 1, 0.0);
            assert_ne!(bits(out.as_slice()), bits(images.as_slice()), "{config:?}");
        }
        assert_eq!(everything().validate(), Ok(()));
        let bad = [
            (
                AugmentConfig {
                    scale: 1.0,
                    ..Default::default()
                },
                "scale = 1",
            ),
            (
                AugmentConfig {
                    shear_degrees: 89.0,
                    ..Default::default()
                },
                "shear_degrees = 89",
            ),
            (
                AugmentConfig {
                    max_shift: -1.0,
                    ..Default::default()
                },
                "max_shift = -1",
            ),
            (
                AugmentConfig {
                    elastic_sigma: f32::NAN,
                    ..Default::default()
                },
                "elastic_sigma = NaN",
            ),
            (
                AugmentConfig {
                    elastic_sigma: 1e9,
                    ..Default::default()
                },
                "elastic_sigma = 1000000000",
            ),
        ];
        for (config, phrase) in bad {
            let message = config.validate().unwrap_err();
            assert!(message.contains(phrase), "{message}");
        }
    }

    mod counting {
        //! Counts the allocations of the calling thread only, so tests
        //! running beside it on other threads do not disturb the count.
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static COUNT: Cell<usize> = const { Cell::new(0) };
        }

        struct Counting;

        // SAFETY: every call is forwarded unchanged to the system allocator;
        // the count is a const thread-local Cell, which never allocates.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                // SAFETY: our caller's layout contract, passed on.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: ptr came from System (every allocation is forwarded).
                unsafe { System.dealloc(ptr, layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                // SAFETY: ptr came from System with layout; our caller's contract.
                unsafe { System.realloc(ptr, layout, size) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;

        pub fn allocations() -> usize {
            COUNT.with(Cell::get)
        }
    }

    #[test]
    fn batches_after_the_first_allocate_nothing() {
        let images = batch(16, 28);
        let (mut out, mut augmenter) = (Matrix::zeros(0, 0), Augmenter::new());
        augmenter.augment_batch(&images, &mut out, 28, &everything(), 0, 0.0);
        let before = counting::allocations();
        for seed in 1..20 {
            augmenter.augment_batch(&images, &mut out, 28, &everything(), seed, 0.0);
        }
        assert_eq!(counting::allocations() - before, 0);
        // The counter does count (so the zero means something).
        let v = std::hint::black_box(vec![1_u8; 10]);
        assert!(counting::allocations() > before && v.len() == 10);
    }

    /// Time for an epoch's worth (60,000 images, batches of 100), affine
    /// only, elastic only and both. The machine is shared, so each figure is
    /// timed as 20 slices of 3,000 images: the fastest slice (the closest to
    /// an idle core) and the median, both scaled to 60,000. Ignored: a
    /// measurement, not a check; `cargo test --release -p trainer --bin
    /// trainer augment_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn augment_speed() {
        let images = batch(100, 28);
        let mut out = Matrix::zeros(0, 0);
        let affine = AugmentConfig {
            elastic_alpha: 0.0,
            ..everything()
        };
        let elastic_only = AugmentConfig {
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
            ..AugmentConfig::default()
        };
        let configs = [
            ("affine", affine),
            ("elastic", elastic_only),
            ("both", everything()),
        ];
        for (name, config) in configs {
            let mut augmenter = Augmenter::new();
            augmenter.augment_batch(&images, &mut out, 28, &config, 0, 0.0);
            let mut slices: Vec<f64> = (0..20)
                .map(|slice| {
                    let start = std::time::Instant::now();
                    for step in 0..30 {
                        let seed = slice * 30 + step;
                        augmenter.augment_batch(&images, &mut out, 28, &config, seed, 0.0);
                    }
                    start.elapsed().as_secs_f64() * 20.0
                })
                .collect();
            slices.sort_by(f64::total_cmp);
            println!(
                "{name}: {:.3} s per 60k images at best ({:.2} us per image), median {:.3} s",
                slices[0],
                slices[0] / 60_000.0 * 1e6,
                slices[10]
            );
        }
    }
}
