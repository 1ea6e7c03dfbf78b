//! Data augmentation for `--augment N`: every training image moved by a
//! random whole number of pixels, up to `N` each way in x and y, the space
//! it leaves filled with background. MNIST digits are centred by mass, so a
//! shifted digit is still a plausible digit, and a network that sees them
//! stops relying on exact positions (Simard, Steinkraus & Platt 2003, "Best
//! practices for convolutional neural networks applied to visual document
//! analysis", used shifts and elastic distortions for MNIST).

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
}
