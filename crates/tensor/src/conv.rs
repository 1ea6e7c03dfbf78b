//! The image side of a convolution: unfolding a batch of images into patches
//! (im2col), so that a convolution is a GEMM, and folding patch gradients
//! back into image gradients (col2im).
//!
//! Images are `[B, C, H, W]` (NCHW, PyTorch's order), stored as a row-major
//! `B x (C*H*W)` matrix: row `b` holds image `b`, channel after channel,
//! each channel row after row. A sliding window of `K x K` pixels, moved by
//! `stride` over the image surrounded by `padding` zeros, stops at
//! `P = OH * OW` positions. Each image's patches are a `[C * K * K, P]`
//! matrix, its rows in the order `(c, ky, kx)` of a PyTorch weight
//! `[O, C, K, K]` read row-major: so `W * patches` is `[O, P]`, the image's
//! output channels one after the other, which is already NCHW.
//!
//! [`one_channel`]: the forward pass and weight gradient of a convolution
//! over single-channel images, straight from the pixels (AVX-512), where
//! the patches would be `K*K` shifted copies of the image.

use crate::ShapeError;

pub mod one_channel;

/// A `kernel x kernel` window sliding by `stride` over `channels` images of
/// `height x width` pixels padded by `padding` zeros on every side: the
/// shape of a convolution or a pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    /// `C` of the input images `[B, C, H, W]`: the window spans all of them.
    pub channels: usize,
    /// `H`, the input's height in pixels, before padding.
    pub height: usize,
    /// `W`, the input's width in pixels, before padding.
    pub width: usize,
    /// `K`: the window is `K x K` pixels.
    pub kernel: usize,
    /// Pixels the window moves between positions, across and down.
    pub stride: usize,
    /// Zero pixels added on each of the four sides; less than `kernel`.
    pub padding: usize,
}

impl SlidingWindow {
    /// An error unless the window fits: kernel and stride at least 1, the
    /// padded image at least one kernel wide, padding at most the kernel
    /// (beyond that, whole windows would see only zeros).
    pub fn check(&self) -> Result<(), String> {
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            return Err(format!(
                "an image of {}x{}x{} has no pixels",
                self.channels, self.height, self.width
            ));
        }
        if self.kernel == 0 || self.stride == 0 {
            return Err("kernel and stride must be at least 1".into());
        }
        if self.padding >= self.kernel {
            return Err(format!(
                "padding {} must be smaller than the kernel {}",
                self.padding, self.kernel
            ));
        }
        let padded = |side: usize| side.saturating_add(2 * self.padding);
        if padded(self.height) < self.kernel || padded(self.width) < self.kernel {
            return Err(format!(
                "a {k}x{k} kernel does not fit in a {}x{} image padded by {}",
                self.height,
                self.width,
                self.padding,
                k = self.kernel
            ));
        }
        Ok(())
    }

    /// `OH = (H + 2 padding - K) / stride + 1`, rounded down as PyTorch does.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }
    /// `OW`, likewise.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }
    /// `P = OH * OW`: window positions per channel.
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }
    /// `C * K * K`: values in one patch.
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
    /// `C * H * W`: values in one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The same window over the image drawn inside its zero border
    /// (`H + 2 padding` by `W + 2 padding`, no padding): the same positions
    /// and patches.
    fn without_padding(&self) -> SlidingWindow {
        SlidingWindow {
            height: self.height + 2 * self.padding,
            width: self.width + 2 * self.padding,
            padding: 0,
            ..*self
        }
    }

    /// The input row `iy` (or column) that window offset `k` at output
    /// row `o` reads, or `None` in the padding.
    fn source(&self, o: usize, k: usize, side: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < side)
    }
}

fn check_lengths(
    op: &'static str,
    window: &SlidingWindow,
    images: usize,
    patches: usize,
) -> Result<usize, ShapeError> {
    let batch = images / window.image_len().max(1);
    if images != batch * window.image_len() {
        return Err(ShapeError::VectorLength {
            op,
            expected: batch * window.image_len(),
            len: images,
        });
    }
    let expected = batch * window.positions() * window.patch_len();
    if patches != expected {
        return Err(ShapeError::VectorLength {
            op,
            expected,
            len: patches,
        });
    }
    Ok(batch)
}

/// Unfolds `images` (`B * C*H*W` values) into `patches`: for each image a
/// `[C*K*K, P]` matrix, padding with zeros. Every value of `patches` is
/// written. On the calling thread: a convolution layer runs it per image,
/// on its threads, so that an image's patches stay in cache for the GEMM
/// that reads them. With padding and stride 1 it needs room for one image
/// inside its zero border, which it allocates here: a caller that unfolds
/// batch after batch keeps that room with [`im2col_with_border`].
pub fn im2col(
    window: &SlidingWindow,
    images: &[f32],
    patches: &mut [f32],
) -> Result<(), ShapeError> {
    im2col_with_border(window, images, patches, &mut Vec::new())
}

/// [`im2col`], with `bordered` as the room for an image inside its zero
/// border (resized as needed, so a kept one stops allocating).
///
/// With padding and stride 1, each image is copied inside a zero border
/// first, then unfolded as an image without padding: the same patches, in
/// runs of whole rows of positions, where the padding's bookkeeping for
/// each run of a row took as long again (LeNet-5's first layer, 28 x 28
/// with padding 2: 0.165 -> 0.08 ns a value; figures in BENCHMARKS.md,
/// "Measurements behind the code").
pub fn im2col_with_border(
    window: &SlidingWindow,
    images: &[f32],
    patches: &mut [f32],
    bordered: &mut Vec<f32>,
) -> Result<(), ShapeError> {
    check_lengths("im2col", window, images.len(), patches.len())?;
    let per_image = window.positions() * window.patch_len();
    let images = images.chunks_exact(window.image_len());
    let outs = patches.chunks_exact_mut(per_image.max(1));
    if window.stride == 1 && window.padding > 0 {
        let unpadded = window.without_padding();
        // Zeroed once a call: each image then writes only inside the border.
        bordered.clear();
        bordered.resize(unpadded.image_len(), 0.0);
        for (image, out) in images.zip(outs) {
            copy_inside_border(window, image, bordered, unpadded.width);
            for_each_tap(&unpadded, out, |tap, row| {
                unfold_tap(&unpadded, bordered, tap, row)
            });
        }
        return Ok(());
    }
    for (image, out) in images.zip(outs) {
        for_each_tap(window, out, |tap, row| unfold_tap(window, image, tap, row));
    }
    Ok(())
}

/// Writes each plane of `image` inside a border of `window.padding` pixels
/// of `bordered`, rows of `bordered_width >= W + 2 padding` values (for
/// `im2col`, the image of [`SlidingWindow::without_padding`]), whose border
/// is left as it is.
fn copy_inside_border(
    window: &SlidingWindow,
    image: &[f32],
    bordered: &mut [f32],
    bordered_width: usize,
) {
    let (p, width) = (window.padding, window.width);
    debug_assert!(bordered_width >= width + 2 * p);
    let bordered_plane = (window.height + 2 * p) * bordered_width;
    let planes = image.chunks_exact(window.height * width);
    for (plane, out) in planes.zip(bordered.chunks_exact_mut(bordered_plane)) {
        for (y, row) in plane.chunks_exact(width).enumerate() {
            let at = (y + p) * bordered_width + p;
            copy_short(&mut out[at..at + width], row);
        }
    }
}

/// Folds patch gradients back: `image_grads` (`B * C*H*W`, overwritten) gets,
/// for every pixel, the sum of the `patch_grads` (per image `[C*K*K, P]`)
/// of the patch entries that read it. The adjoint of [`im2col`]; on the
/// calling thread, as it is.
pub fn col2im(
    window: &SlidingWindow,
    patch_grads: &[f32],
    image_grads: &mut [f32],
) -> Result<(), ShapeError> {
    check_lengths("col2im", window, image_grads.len(), patch_grads.len())?;
    let per_image = window.positions() * window.patch_len();
    for (grad, patches) in image_grads
        .chunks_exact_mut(window.image_len())
        .zip(patch_grads.chunks_exact(per_image.max(1)))
    {
        grad.fill(0.0);
        for (tap, row) in patches.chunks_exact(window.positions()).enumerate() {
            fold_tap(window, row, kernel_tap(window, tap), grad);
        }
    }
    Ok(())
}

/// One kernel tap: the channel and the offset `(ky, kx)` inside the window.
#[derive(Clone, Copy)]
struct Tap {
    channel: usize,
    ky: usize,
    kx: usize,
}

fn kernel_tap(w: &SlidingWindow, index: usize) -> Tap {
    let k = w.kernel;
    Tap {
        channel: index / (k * k),
        ky: index / k % k,
        kx: index % k,
    }
}

/// Calls `visit(tap, row)` for every row of one image's `[C*K*K, P]` patches.
fn for_each_tap(w: &SlidingWindow, patches: &mut [f32], mut visit: impl FnMut(Tap, &mut [f32])) {
    for (index, row) in patches.chunks_exact_mut(w.positions()).enumerate() {
        visit(kernel_tap(w, index), row);
    }
}

/// The output columns `ox` whose input column `ox * stride + kx - padding`
/// lies inside the image, as a range, and that first input column.
fn inside_columns(w: &SlidingWindow, kx: usize) -> (std::ops::Range<usize>, usize) {
    // ix = ox * s + kx - p >= 0  <=>  ox >= ceil((p - kx) / s)
    let first = w.padding.saturating_sub(kx).div_ceil(w.stride);
    // ix <= W - 1  <=>  ox <= (W - 1 + p - kx) / s
    let last_plus_one = match (w.width + w.padding).checked_sub(kx + 1) {
        Some(limit) => (limit / w.stride + 1).min(w.out_width()),
        None => 0,
    };
    if first >= last_plus_one {
        // The tap sees only padding.
        return (0..0, 0);
    }
    let first_x = first * w.stride + kx - w.padding;
    (first..last_plus_one, first_x)
}

/// Row `tap` of one image's patches: for each position, the pixel that
/// tap sees (0 in the padding).
fn unfold_tap(w: &SlidingWindow, image: &[f32], tap: Tap, row: &mut [f32]) {
    let plane = &image[tap.channel * w.height * w.width..(tap.channel + 1) * w.height * w.width];
    if w.stride == 1 && w.padding == 0 {
        // Every run a whole row of positions, inside the image: the
        // bookkeeping for padding and strides cost as much as the copies
        // of runs of a dozen values.
        let runs = row.chunks_exact_mut(w.out_width()).enumerate();
        for (oy, out) in runs {
            let first = (oy + tap.ky) * w.width + tap.kx;
            copy_short(out, &plane[first..first + out.len()]);
        }
        return;
    }
    let (inside, first_x) = inside_columns(w, tap.kx);
    for (oy, out) in row.chunks_exact_mut(w.out_width()).enumerate() {
        let Some(iy) = w.source(oy, tap.ky, w.height) else {
            out.fill(0.0);
            continue;
        };
        let source = &plane[iy * w.width + first_x..(iy + 1) * w.width];
        let (before, rest) = out.split_at_mut(inside.start);
        let (inside_out, after) = rest.split_at_mut(inside.len());
        zero_short(before);
        // Stride 1 never comes here: without padding it took the path
        // above, with padding `im2col` unfolds a bordered copy.
        let columns = source.iter().step_by(w.stride);
        for (value, &pixel) in inside_out.iter_mut().zip(columns) {
            *value = pixel;
        }
        zero_short(after);
    }
}

/// `dst = src` for the short runs of an image row: in blocks of eight
/// values, the last one overlapping the one before, where `copy_from_slice`
/// called `memcpy` for every run of a dozen values (a quarter of LeNet-5's
/// im2col time went to the calls).
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    const BLOCK: usize = 8;
    let len = dst.len();
    assert_eq!(len, src.len(), "copy_short of unequal runs");
    if len < BLOCK {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
        return;
    }
    let block = |at: usize, dst: &mut [f32]| {
        let to: &mut [f32; BLOCK] = (&mut dst[at..at + BLOCK]).try_into().expect("eight values");
        let from: &[f32; BLOCK] = src[at..at + BLOCK].try_into().expect("eight values");
        *to = *from;
    };
    for at in (0..len - BLOCK).step_by(BLOCK) {
        block(at, dst);
    }
    block(len - BLOCK, dst);
}

/// Zeroes the few values of a row that a tap sees in the padding (none
/// without padding), without a call to `memset` for each.
#[inline(always)]
fn zero_short(values: &mut [f32]) {
    for value in values {
        *value = 0.0;
    }
}

/// The adjoint of [`unfold_tap`]: adds row `tap` of the patch gradients to
/// the pixels it came from.
fn fold_tap(w: &SlidingWindow, row: &[f32], tap: Tap, image_grad: &mut [f32]) {
    let plane_len = w.height * w.width;
    let plane = &mut image_grad[tap.channel * plane_len..(tap.channel + 1) * plane_len];
    let (inside, first_x) = inside_columns(w, tap.kx);
    for (oy, grads) in row.chunks_exact(w.out_width()).enumerate() {
        let Some(iy) = w.source(oy, tap.ky, w.height) else {
            continue;
        };
        let target = &mut plane[iy * w.width + first_x..(iy + 1) * w.width];
        let grads = &grads[inside.clone()];
        if w.stride == 1 {
            for (pixel, &g) in target.iter_mut().zip(grads) {
                *pixel += g;
            }
        } else {
            for (pixel, &g) in target.iter_mut().step_by(w.stride).zip(grads) {
                *pixel += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(c: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> SlidingWindow {
        SlidingWindow {
            channels: c,
            height: h,
            width: w,
            kernel: k,
            stride: s,
            padding: p,
        }
    }

    /// The definition, one value at a time: per image, row `(c, ky, kx)`,
    /// column `(oy, ox)`.
    fn naive_im2col(w: &SlidingWindow, images: &[f32]) -> Vec<f32> {
        let batch = images.len() / w.image_len();
        let mut out = Vec::new();
        for b in 0..batch {
            for c in 0..w.channels {
                for ky in 0..w.kernel {
                    for kx in 0..w.kernel {
                        for oy in 0..w.out_height() {
                            for ox in 0..w.out_width() {
                                let iy = (oy * w.stride + ky) as isize - w.padding as isize;
                                let ix = (ox * w.stride + kx) as isize - w.padding as isize;
                                let inside = (0..w.height as isize).contains(&iy)
                                    && (0..w.width as isize).contains(&ix);
                                out.push(if inside {
                                    images[b * w.image_len()
                                        + c * w.height * w.width
                                        + iy as usize * w.width
                                        + ix as usize]
                                } else {
                                    0.0
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn shapes() -> Vec<SlidingWindow> {
        let mut all = Vec::new();
        // Every kernel width with a fast path (1-5, 7) and one without (6),
        // each with every padding, so windows meet every border.
        for (c, h, w) in [(1, 1, 1), (1, 5, 7), (3, 6, 6), (2, 9, 4), (2, 11, 9)] {
            for k in 1..=7 {
                for s in 1..=3 {
                    for p in 0..k {
                        let candidate = window(c, h, w, k, s, p);
                        if candidate.check().is_ok() {
                            all.push(candidate);
                        }
                    }
                }
            }
        }
        all
    }

    #[test]
    fn im2col_matches_the_definition_for_every_small_shape() {
        for w in shapes() {
            for batch in [1, 3, 9] {
                let images: Vec<f32> = (0..batch * w.image_len()).map(|v| v as f32 + 1.0).collect();
                let mut patches = vec![f32::NAN; batch * w.positions() * w.patch_len()];
                im2col(&w, &images, &mut patches).unwrap();
                assert_eq!(patches, naive_im2col(&w, &images), "{w:?} batch {batch}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), g> == <x, col2im(g)> for any x and g: the defining
        // property of a gradient of a linear map.
        for w in shapes() {
            let batch = 2;
            let x: Vec<f32> = (0..batch * w.image_len())
                .map(|v| ((v * 7 % 11) as f32) - 5.0)
                .collect();
            let g: Vec<f32> = (0..batch * w.positions() * w.patch_len())
                .map(|v| ((v * 5 % 13) as f32) - 6.0)
                .collect();
            let mut patches = vec![0.0; g.len()];
            im2col(&w, &x, &mut patches).unwrap();
            let mut folded = vec![f32::NAN; x.len()];
            col2im(&w, &g, &mut folded).unwrap();
            let left: f64 = patches.iter().zip(&g).map(|(a, b)| (a * b) as f64).sum();
            let right: f64 = x.iter().zip(&folded).map(|(a, b)| (a * b) as f64).sum();
            assert_eq!(left, right, "{w:?}");
        }
    }

    #[test]
    fn wrong_lengths_and_bad_windows_are_errors() {
        let w = window(1, 4, 4, 3, 1, 1);
        assert!(im2col(&w, &[0.0; 15], &mut [0.0; 144]).is_err());
        assert!(im2col(&w, &[0.0; 16], &mut [0.0; 143]).is_err());
        assert!(col2im(&w, &[0.0; 144], &mut [0.0; 17]).is_err());
        assert!(window(1, 2, 2, 5, 1, 0).check().is_err());
        assert!(window(1, 4, 4, 3, 1, 3).check().is_err());
        assert!(window(1, 4, 4, 0, 1, 0).check().is_err());
        assert!(window(1, 4, 4, 2, 0, 0).check().is_err());
        assert!(window(0, 4, 4, 2, 1, 0).check().is_err());
        assert_eq!(window(1, 28, 28, 5, 1, 2).positions(), 784);
        assert_eq!(window(1, 28, 28, 3, 2, 1).out_height(), 14);
    }
}
