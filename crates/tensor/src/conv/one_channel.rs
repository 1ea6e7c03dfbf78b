//! A convolution of single-channel images (a network's first layer on grey
//! digits), stride 1, straight from the pixels: no patches. AVX-512 only
//! ([`fits`]); elsewhere the layer unfolds patches as for any other.
//!
//! With one input channel an image's patches are `K*K` copies of it
//! shifted, and unfolding them (once for `Y`, again for `dW`) cost more
//! than the GEMM that read them: LeNet-5's first layer, `25 x 784` patch
//! values per image, took a sixth of its step in unfolding alone (figures
//! in BENCHMARKS.md, "Measurements behind the code"). Here each output row
//! is the sum of `K*K` shifted input rows, each times one weight: 16
//! neighbouring outputs of up to 8 filters (`FILTERS`) in two rows are
//! summed in registers, each load of a shifted row feeding every filter's
//! sums and each broadcast weight both rows (`dY` loads feed two taps of
//! `dW` likewise). A compiler left to vectorise the same
//! loops kept the sums in memory and ran slower than the patches did.
//!
//! Padding is handled as `im2col` does it with stride 1: each image is
//! copied inside its zero border, here a border widened on the right so
//! that every block of 16 reads inside it. The lanes past the output's
//! width are never stored, and their `dY` is loaded as zero. Sums are
//! fused multiply-adds, `Y`'s in the order `(ky, kx)`; `dW`'s in each lane
//! over the rows and blocks of 16 outputs, then across the 16 lanes, image
//! after image. So results differ from the GEMM path's in the last bits,
//! and are the same for any thread count.

use super::SlidingWindow;
use crate::ShapeError;

/// Neighbouring outputs summed together: one AVX-512 register.
const LANES: usize = 16;
/// Filters summed together at most: 8 registers of sums (a 9th holds the
/// shifted row).
const FILTERS: usize = 8;

/// Whether this path computes `window`'s convolution: a window that fits
/// (`SlidingWindow::check`, so that no size below overflows), one input
/// channel, stride 1, a CPU with AVX-512.
pub fn fits(window: &SlidingWindow) -> bool {
    let valid = window.check().is_ok();
    valid && window.channels == 1 && window.stride == 1 && crate::cpu::has_avx512f()
}

/// What the path keeps between calls, so that a layer calling it step after
/// step allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct OneChannelScratch {
    /// One image inside its widened zero border.
    bordered: Vec<f32>,
}

/// The geometry both passes share.
#[derive(Clone, Copy)]
struct Layout {
    kernel: usize,
    out_height: usize,
    out_width: usize,
    /// Row length of the bordered image: wide enough for the last block
    /// of 16 outputs and the widest shift.
    bordered_width: usize,
}

impl Layout {
    fn of(window: &SlidingWindow) -> Layout {
        let padded_width = window.out_width().div_ceil(LANES) * LANES;
        Layout {
            kernel: window.kernel,
            out_height: window.out_height(),
            out_width: window.out_width(),
            bordered_width: padded_width + window.kernel - 1,
        }
    }

    /// Sizes `bordered` and zeroes it: each image then writes only inside
    /// the border (`copy_inside_border`).
    fn clear_border(&self, window: &SlidingWindow, bordered: &mut Vec<f32>) {
        bordered.clear();
        bordered.resize(
            (window.height + 2 * window.padding) * self.bordered_width,
            0.0,
        );
    }

    /// The lanes of the block of outputs starting at column `x0` that
    /// are outputs.
    fn mask(&self, x0: usize) -> u16 {
        match self.out_width - x0 {
            width if width >= LANES => u16::MAX,
            width => (1u16 << width) - 1,
        }
    }
}

/// The number of filters the lengths give, after checking that [`fits`]
/// holds (a panic otherwise) and that the lengths agree with `window`.
fn checked_filters(
    op: &'static str,
    window: &SlidingWindow,
    weights: usize,
    images: usize,
    outputs: usize,
) -> Result<usize, ShapeError> {
    assert!(fits(window), "{op}: one channel, stride 1 and AVX-512 only");
    let taps = window.kernel * window.kernel;
    let (batch, filters) = (images / window.image_len(), weights / taps);
    let expected = [
        (filters * taps, weights),
        (batch * window.image_len(), images),
        (batch * filters * window.positions(), outputs),
    ];
    for (expected, len) in expected {
        if len != expected {
            return Err(ShapeError::VectorLength { op, expected, len });
        }
    }
    Ok(filters)
}

/// `outputs` (`[B, O, OH, OW]`, overwritten) `= weights (*) images` for
/// single-channel `images` (`[B, 1, H, W]`) and `weights` `[O, 1, K, K]`,
/// without bias. Panics unless [`fits`] holds.
pub fn forward(
    window: &SlidingWindow,
    weights: &[f32],
    images: &[f32],
    outputs: &mut [f32],
    scratch: &mut OneChannelScratch,
) -> Result<(), ShapeError> {
    let lengths = (weights.len(), images.len(), outputs.len());
    let filters = checked_filters("conv forward", window, lengths.0, lengths.1, lengths.2)?;
    let per_output = filters * window.positions();
    let bordered = &mut scratch.bordered;
    each_block(
        window,
        filters,
        images,
        bordered,
        |layout, bordered, i, first, count| {
            let output = &mut outputs[i * per_output..(i + 1) * per_output];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `check` asserted `fits`, so the CPU has AVX-512F; the
            // other obligations are `forward_block`'s, met by the lengths
            // `check` verified and the border `each_block` sized.
            unsafe {
                avx512::forward_block(layout, weights, bordered, output, first, count)
            };
        },
    );
    Ok(())
}

/// `weight_grads` (`[O, 1, K, K]`, overwritten) `=` the sum over the batch
/// of `output_grads (*) images`: `dW[o, ky, kx] = sum over images and
/// positions of dY[o, oy, ox] * X[oy + ky - p, ox + kx - p]`, added up
/// image after image. Panics unless [`fits`] holds.
pub fn weight_grad(
    window: &SlidingWindow,
    output_grads: &[f32],
    images: &[f32],
    weight_grads: &mut [f32],
    scratch: &mut OneChannelScratch,
) -> Result<(), ShapeError> {
    let lengths = (weight_grads.len(), images.len(), output_grads.len());
    let filters = checked_filters(
        "conv weight gradient",
        window,
        lengths.0,
        lengths.1,
        lengths.2,
    )?;
    weight_grads.fill(0.0);
    let per_output = filters * window.positions();
    let bordered = &mut scratch.bordered;
    each_block(
        window,
        filters,
        images,
        bordered,
        |layout, bordered, i, first, count| {
            let dy = &output_grads[i * per_output..(i + 1) * per_output];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `forward`.
            unsafe {
                avx512::weight_grad_block(layout, dy, bordered, weight_grads, first, count)
            };
        },
    );
    Ok(())
}

/// Copies each of `images` inside its border in `bordered`, then calls
/// `block(layout, bordered, image, first, count)` for each block of at
/// most [`FILTERS`] of its `filters`.
fn each_block(
    window: &SlidingWindow,
    filters: usize,
    images: &[f32],
    bordered: &mut Vec<f32>,
    mut block: impl FnMut(&Layout, &[f32], usize, usize, usize),
) {
    let layout = Layout::of(window);
    layout.clear_border(window, bordered);
    for (i, image) in images.chunks_exact(window.image_len()).enumerate() {
        super::copy_inside_border(window, image, bordered, layout.bordered_width);
        for first in (0..filters).step_by(FILTERS) {
            block(&layout, bordered, i, first, FILTERS.min(filters - first));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Layout, FILTERS, LANES};
    use std::arch::x86_64::*;

    /// Runs `$body` with `$count` (1 to [`FILTERS`]) as the constant `$n`,
    /// so that each count's sums live in registers.
    macro_rules! with_count {
        ($count:expr, $n:ident => $body:expr) => {
            with_count!(@arms $count, $n => $body; 1, 2, 3, 4, 5, 6, 7, 8)
        };
        (@arms $count:expr, $n:ident => $body:expr; $($k:literal),*) => {
            match $count {
                $($k => {
                    const $n: usize = $k;
                    $body
                })*
                count => unreachable!("{count} filters at a time"),
            }
        };
    }
    const _: () = assert!(FILTERS == 8, "with_count! has an arm per count");

    /// Outputs of filters `first..first + count` of one image.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `1 <= count <= FILTERS`; `weights` holds at least `first + count`
    /// filters of `K*K`; `out` at least as many planes of `OH * OW`;
    /// `bordered` is `(OH + K - 1)` rows of `layout.bordered_width`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward_block(
        layout: &Layout,
        weights: &[f32],
        bordered: &[f32],
        out: &mut [f32],
        first: usize,
        count: usize,
    ) {
        // SAFETY: this function's contract is `forward_filters`'s.
        with_count!(count, N => unsafe { forward_filters::<N>(layout, weights, bordered, out, first) })
    }

    /// [`forward_block`] for `N` filters.
    ///
    /// # Safety
    /// [`forward_block`]'s, with `count = N`.
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_filters<const N: usize>(
        layout: &Layout,
        weights: &[f32],
        bordered: &[f32],
        out: &mut [f32],
        first: usize,
    ) {
        let (k, width) = (layout.kernel, layout.bordered_width);
        let (taps, positions) = (k * k, layout.out_height * layout.out_width);
        debug_assert!(weights.len() >= (first + N) * taps && out.len() >= (first + N) * positions);
        debug_assert!(bordered.len() >= (layout.out_height + k - 1) * width);
        // SAFETY: the CPU has AVX-512F (the contract). Every pointer stays
        // inside its slice: filter `f < N` of `weights` and `out` by the
        // contract; in `bordered`, row `oy + ky < OH + K - 1` and columns
        // `x0 + kx .. x0 + kx + 16 <= round_up(OW, 16) + K - 1`, its width;
        // the stores are masked to the `OW - x0` outputs of the block.
        unsafe {
            let weights = weights.as_ptr().add(first * taps);
            let out = out.as_mut_ptr().add(first * positions);
            // Two rows at a time: each broadcast weight feeds both.
            for (oy, two) in by_twos(layout.out_height) {
                match two {
                    true => forward_rows::<N, 2>(layout, weights, bordered, out, oy),
                    false => forward_rows::<N, 1>(layout, weights, bordered, out, oy),
                }
            }
        }
    }

    /// `(i, true)` for `i = 0, 2, 4, ...` while two of `count` remain, then
    /// `(count - 1, false)` if one is left.
    fn by_twos(count: usize) -> impl Iterator<Item = (usize, bool)> {
        (0..count).step_by(2).map(move |i| (i, i + 1 < count))
    }

    /// Rows `oy..oy + R` of the outputs of `N` filters, from `weights` and
    /// `out` already moved to the first of them.
    ///
    /// # Safety
    /// [`forward_filters`]'s, and `oy + R <= OH`.
    #[inline(always)]
    unsafe fn forward_rows<const N: usize, const R: usize>(
        layout: &Layout,
        weights: *const f32,
        bordered: &[f32],
        out: *mut f32,
        oy: usize,
    ) {
        let (k, width) = (layout.kernel, layout.bordered_width);
        let (taps, positions) = (k * k, layout.out_height * layout.out_width);
        // SAFETY: as in `forward_filters`, for rows `oy + r < OH`.
        unsafe {
            for x0 in (0..layout.out_width).step_by(LANES) {
                let mut sums = [[_mm512_setzero_ps(); N]; R];
                for ky in 0..k {
                    for kx in 0..k {
                        let shifted: [__m512; R] = std::array::from_fn(|r| {
                            _mm512_loadu_ps(bordered.as_ptr().add((oy + r + ky) * width + x0 + kx))
                        });
                        for f in 0..N {
                            let w = _mm512_set1_ps(*weights.add(f * taps + ky * k + kx));
                            for (row_sums, &x) in sums.iter_mut().zip(&shifted) {
                                row_sums[f] = _mm512_fmadd_ps(w, x, row_sums[f]);
                            }
                        }
                    }
                }
                let mask = layout.mask(x0);
                for (r, row_sums) in sums.iter().enumerate() {
                    for (f, sum) in row_sums.iter().enumerate() {
                        let at = out.add(f * positions + (oy + r) * layout.out_width + x0);
                        _mm512_mask_storeu_ps(at, mask, *sum);
                    }
                }
            }
        }
    }

    /// Adds one image's share of `dW` for filters `first..first + count`.
    ///
    /// # Safety
    /// As [`forward_block`], with `output_grads` for `out` and
    /// `weight_grad` for `weights`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn weight_grad_block(
        layout: &Layout,
        output_grads: &[f32],
        bordered: &[f32],
        weight_grad: &mut [f32],
        first: usize,
        count: usize,
    ) {
        // SAFETY: this function's contract is `weight_grad_filters`'s.
        with_count!(count, N => unsafe {
            weight_grad_filters::<N>(layout, output_grads, bordered, weight_grad, first)
        })
    }

    /// [`weight_grad_block`] for `N` filters.
    ///
    /// # Safety
    /// [`weight_grad_block`]'s, with `count = N`.
    #[target_feature(enable = "avx512f")]
    unsafe fn weight_grad_filters<const N: usize>(
        layout: &Layout,
        output_grads: &[f32],
        bordered: &[f32],
        weight_grad: &mut [f32],
        first: usize,
    ) {
        let (k, width) = (layout.kernel, layout.bordered_width);
        let (taps, positions) = (k * k, layout.out_height * layout.out_width);
        debug_assert!(weight_grad.len() >= (first + N) * taps);
        debug_assert!(output_grads.len() >= (first + N) * positions);
        debug_assert!(bordered.len() >= (layout.out_height + k - 1) * width);
        // SAFETY: as in `forward_filters`: filter `f < N` of `dY` by the
        // contract, rows `oy + ky` and columns up to `x0 + kx + 16` of
        // `bordered`; the loads of `dY` are masked to the block's outputs.
        unsafe {
            let dy = output_grads.as_ptr().add(first * positions);
            let weight_grad = weight_grad.as_mut_ptr().add(first * taps);
            // Two taps at a time: each load of `dY` feeds both.
            for (tap, two) in by_twos(taps) {
                match two {
                    true => weight_grad_taps::<N, 2>(layout, dy, bordered, weight_grad, tap),
                    false => weight_grad_taps::<N, 1>(layout, dy, bordered, weight_grad, tap),
                }
            }
        }
    }

    /// Adds taps `tap..tap + T` of one image's `dW` for `N` filters, from
    /// `output_grads` and `weight_grad` already moved to the first of them.
    ///
    /// # Safety
    /// [`weight_grad_filters`]'s, and `tap + T <= K*K`.
    #[inline(always)]
    unsafe fn weight_grad_taps<const N: usize, const T: usize>(
        layout: &Layout,
        output_grads: *const f32,
        bordered: &[f32],
        weight_grad: *mut f32,
        tap: usize,
    ) {
        let (k, width) = (layout.kernel, layout.bordered_width);
        let (taps, positions) = (k * k, layout.out_height * layout.out_width);
        // Where each tap's shifted rows start in `bordered`: row `ky`, column `kx`.
        let shifts: [usize; T] = std::array::from_fn(|t| (tap + t) / k * width + (tap + t) % k);
        // SAFETY: as in `weight_grad_filters`, for taps `tap + t < K*K`.
        unsafe {
            let mut sums = [[_mm512_setzero_ps(); N]; T];
            for oy in 0..layout.out_height {
                let row = bordered.as_ptr().add(oy * width);
                for x0 in (0..layout.out_width).step_by(LANES) {
                    // In bounds as in `forward_filters`; the lanes past
                    // OW (masked off) read no `dY` and count zero.
                    let mask = layout.mask(x0);
                    let shifted: [__m512; T] =
                        std::array::from_fn(|t| _mm512_loadu_ps(row.add(shifts[t] + x0)));
                    for f in 0..N {
                        let at = output_grads.add(f * positions + oy * layout.out_width + x0);
                        let grads = _mm512_maskz_loadu_ps(mask, at);
                        for (tap_sums, &x) in sums.iter_mut().zip(&shifted) {
                            tap_sums[f] = _mm512_fmadd_ps(grads, x, tap_sums[f]);
                        }
                    }
                }
            }
            for (t, tap_sums) in sums.iter().enumerate() {
                for (f, sum) in tap_sums.iter().enumerate() {
                    *weight_grad.add(f * taps + tap + t) += _mm512_reduce_add_ps(*sum);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(h: usize, w: usize, k: usize, p: usize) -> SlidingWindow {
        SlidingWindow {
            channels: 1,
            height: h,
            width: w,
            kernel: k,
            stride: 1,
            padding: p,
        }
    }

    /// The definition in f64, one output at a time, and each output's sum
    /// of the terms' magnitudes (what rounding errors grow with).
    fn naive_forward(w: &SlidingWindow, weights: &[f32], images: &[f32]) -> Vec<(f64, f64)> {
        let (k, filters) = (w.kernel, weights.len() / (w.kernel * w.kernel));
        let mut out = Vec::new();
        for image in images.chunks_exact(w.image_len()) {
            for f in 0..filters {
                for oy in 0..w.out_height() {
                    for ox in 0..w.out_width() {
                        let (mut sum, mut magnitude) = (0.0f64, 0.0f64);
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy + ky) as isize - w.padding as isize;
                                let ix = (ox + kx) as isize - w.padding as isize;
                                if (0..w.height as isize).contains(&iy)
                                    && (0..w.width as isize).contains(&ix)
                                {
                                    let x = image[iy as usize * w.width + ix as usize];
                                    let term =
                                        f64::from(weights[f * k * k + ky * k + kx]) * f64::from(x);
                                    (sum, magnitude) = (sum + term, magnitude + term.abs());
                                }
                            }
                        }
                        out.push((sum, magnitude));
                    }
                }
            }
        }
        out
    }

    /// The definition of `dW` in f64, with magnitudes as above.
    fn naive_weight_grad(
        w: &SlidingWindow,
        dy: &[f32],
        images: &[f32],
        filters: usize,
    ) -> Vec<(f64, f64)> {
        let k = w.kernel;
        let mut grad = vec![(0.0f64, 0.0f64); filters * k * k];
        let planes = dy.chunks_exact(filters * w.positions());
        for (image, dy) in images.chunks_exact(w.image_len()).zip(planes) {
            for f in 0..filters {
                for ky in 0..k {
                    for kx in 0..k {
                        for oy in 0..w.out_height() {
                            for ox in 0..w.out_width() {
                                let iy = (oy + ky) as isize - w.padding as isize;
                                let ix = (ox + kx) as isize - w.padding as isize;
                                if (0..w.height as isize).contains(&iy)
                                    && (0..w.width as isize).contains(&ix)
                                {
                                    let x = image[iy as usize * w.width + ix as usize];
                                    let g = dy[f * w.positions() + oy * w.out_width() + ox];
                                    let term = f64::from(g) * f64::from(x);
                                    let (sum, magnitude) = &mut grad[f * k * k + ky * k + kx];
                                    (*sum, *magnitude) = (*sum + term, *magnitude + term.abs());
                                }
                            }
                        }
                    }
                }
            }
        }
        grad
    }

    fn values(seed: usize, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    /// Within a few f32 roundings of the terms' magnitudes.
    fn assert_close(fast: &[f32], reference: &[(f64, f64)], what: &str) {
        assert_eq!(fast.len(), reference.len(), "{what}");
        for (i, (&f, &(r, magnitude))) in fast.iter().zip(reference).enumerate() {
            let tolerance = 1e-6 * (1.0 + magnitude);
            assert!(
                (f64::from(f) - r).abs() <= tolerance,
                "{what}: [{i}] {f} vs {r}"
            );
        }
    }

    /// Output widths below, at and across a block of 16 (1, 15, 16, 17, 28,
    /// 33), filter counts below, at and across a block of 8, every padding.
    fn cases() -> Vec<(SlidingWindow, usize)> {
        let mut all = Vec::new();
        for (h, w) in [(1, 1), (5, 7), (3, 17), (6, 19), (28, 28), (4, 37), (9, 2)] {
            for k in 1..=5 {
                for p in 0..k {
                    let window = window(h, w, k, p);
                    if window.check().is_ok() {
                        for filters in (1..=9).chain([16, 17]) {
                            all.push((window, filters));
                        }
                    }
                }
            }
        }
        all
    }

    /// Whether the CPU lacks AVX-512, said once per test that skips.
    fn skipped() -> bool {
        let skip = !crate::cpu::has_avx512f();
        if skip {
            eprintln!("skipped: no AVX-512 here, so layers unfold patches instead");
        }
        skip
    }

    /// A buffer of `len` NaNs followed by a tail of sentinels, which a pass
    /// writing out of bounds would change.
    const TAIL: usize = 64;
    fn with_tail(len: usize) -> Vec<f32> {
        let mut buffer = vec![f32::NAN; len + TAIL];
        buffer[len..].fill(-7.0);
        buffer
    }
    fn assert_tail_untouched(buffer: &[f32], what: &str) {
        let tail = &buffer[buffer.len() - TAIL..];
        assert!(
            tail.iter().all(|&v| v == -7.0),
            "{what}: written past the end"
        );
    }

    #[test]
    fn forward_matches_the_definition_for_odd_sizes_and_every_padding() {
        if skipped() {
            return;
        }
        let mut scratch = OneChannelScratch::default();
        for (w, filters) in cases() {
            let batch = 3;
            let weights = values(filters, filters * w.kernel * w.kernel);
            let images = values(w.width, batch * w.image_len());
            let len = batch * filters * w.positions();
            let mut out = with_tail(len);
            forward(&w, &weights, &images, &mut out[..len], &mut scratch).unwrap();
            let what = format!("{w:?}, {filters} filters");
            assert_close(&out[..len], &naive_forward(&w, &weights, &images), &what);
            assert_tail_untouched(&out, &what);
        }
    }

    #[test]
    fn weight_grad_matches_the_definition_for_odd_sizes_and_every_padding() {
        if skipped() {
            return;
        }
        let mut scratch = OneChannelScratch::default();
        for (w, filters) in cases() {
            let batch = 3;
            // dY followed by NaNs: a read past a row's outputs would show.
            let len = batch * filters * w.positions();
            let mut dy = values(filters + 1, len);
            dy.extend([f32::NAN; TAIL]);
            let images = values(w.height, batch * w.image_len());
            let mut grad = with_tail(filters * w.kernel * w.kernel);
            let grad_len = grad.len() - TAIL;
            weight_grad(&w, &dy[..len], &images, &mut grad[..grad_len], &mut scratch).unwrap();
            let what = format!("{w:?}, {filters} filters");
            let reference = naive_weight_grad(&w, &dy[..len], &images, filters);
            assert_close(&grad[..grad_len], &reference, &what);
            assert_tail_untouched(&grad, &what);
        }
    }

    #[test]
    fn which_layers_take_this_path() {
        let first_layer = window(28, 28, 5, 2);
        assert_eq!(fits(&first_layer), crate::cpu::has_avx512f());
        let two_channels = SlidingWindow {
            channels: 2,
            ..first_layer
        };
        let stride_two = SlidingWindow {
            stride: 2,
            ..first_layer
        };
        let too_big = window(4, 4, usize::MAX / 2 + 2, 0);
        for other in [two_channels, stride_two, too_big] {
            assert!(!fits(&other), "{other:?}");
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        if skipped() {
            return;
        }
        let w = window(4, 4, 3, 1);
        let mut scratch = OneChannelScratch::default();
        let weights = [0.0; 18];
        assert!(forward(&w, &weights, &[0.0; 15], &mut [0.0; 32], &mut scratch).is_err());
        assert!(forward(&w, &weights, &[0.0; 16], &mut [0.0; 31], &mut scratch).is_err());
        assert!(weight_grad(&w, &[0.0; 33], &[0.0; 16], &mut [0.0; 18], &mut scratch).is_err());
        assert!(forward(&w, &[0.0; 17], &[0.0; 16], &mut [0.0; 32], &mut scratch).is_err());
        assert!(forward(&w, &weights, &[0.0; 32], &mut [0.0; 64], &mut scratch).is_ok());
    }
}
