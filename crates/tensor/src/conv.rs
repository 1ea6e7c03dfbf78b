//! The image side of a convolution: unfolding a batch of images into patches
//! (im2col), so that a convolution is one GEMM, and folding patch gradients
//! back into image gradients (col2im).
//!
//! Images are `[B, C, H, W]` (NCHW, PyTorch's order), stored as a row-major
//! `B x (C*H*W)` matrix: row `b` holds image `b`, channel after channel,
//! each channel row after row. A sliding window of `K x K` pixels, moved by
//! `stride` over the image surrounded by `padding` zeros, stops at
//! `P = OH * OW` positions. The patch matrix has one row per position of
//! every image, `[B * P, C * K * K]`, its columns in the order `(c, ky, kx)`
//! of a PyTorch weight `[O, C, K, K]` read row-major: so
//! `patches * W^T` is `[B * P, O]`, every output channel of every position,
//! and [`positions_to_channels`] turns that into NCHW.

use crate::parallel::for_each_block;
use crate::ShapeError;

/// A `kernel x kernel` window sliding by `stride` over `channels` images of
/// `height x width` pixels padded by `padding` zeros on every side: the
/// shape of a convolution or a pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
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

    /// The input row `iy` (or column) that window offset `k` at output
    /// row `o` reads, or `None` in the padding.
    fn source(&self, o: usize, k: usize, side: usize) -> Option<usize> {
        (o * self.stride + k)
            .checked_sub(self.padding)
            .filter(|&i| i < side)
    }
}

/// Images per thread below which unfolding stays on one thread.
const MIN_IMAGES_PER_THREAD: usize = 4;

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

/// Unfolds `images` (`B * C*H*W` values) into `patches` (`[B * P, C*K*K]`),
/// padding with zeros, on all threads. Every value of `patches` is written.
pub fn im2col(
    window: &SlidingWindow,
    images: &[f32],
    patches: &mut [f32],
) -> Result<(), ShapeError> {
    check_lengths("im2col", window, images.len(), patches.len())?;
    let (image_len, per_image) = (window.image_len(), window.positions() * window.patch_len());
    for_each_block(patches, per_image, MIN_IMAGES_PER_THREAD, &|range, out| {
        for (b, out) in range.zip(out.chunks_exact_mut(per_image.max(1))) {
            unfold_image(window, &images[b * image_len..(b + 1) * image_len], out);
        }
    });
    Ok(())
}

fn unfold_image(w: &SlidingWindow, image: &[f32], patches: &mut [f32]) {
    let (k, plane) = (w.kernel, w.height * w.width);
    let mut rows = patches.chunks_exact_mut(w.patch_len());
    for oy in 0..w.out_height() {
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            // The kernel's columns that fall inside the image, the same for
            // every (c, ky): most windows lie wholly inside and copy runs.
            let left = w.padding.saturating_sub(ox * w.stride).min(k);
            let right = (ox * w.stride + k)
                .saturating_sub(w.padding + w.width)
                .min(k - left);
            let first_x = (ox * w.stride + left).saturating_sub(w.padding);
            let mut runs = patch.chunks_exact_mut(k);
            for c in 0..w.channels {
                for ky in 0..k {
                    let run = runs.next().expect("C*K runs of K per patch");
                    match w.source(oy, ky, w.height) {
                        None => run.fill(0.0),
                        Some(iy) => {
                            let from = c * plane + iy * w.width + first_x;
                            run[..left].fill(0.0);
                            run[left..k - right]
                                .copy_from_slice(&image[from..from + k - left - right]);
                            run[k - right..].fill(0.0);
                        }
                    }
                }
            }
        }
    }
}

/// Folds patch gradients back: `image_grads` (`B * C*H*W`, overwritten) gets,
/// for every pixel, the sum of the `patch_grads` (`[B * P, C*K*K]`) of the
/// patch entries that read it. The adjoint of [`im2col`].
pub fn col2im(
    window: &SlidingWindow,
    patch_grads: &[f32],
    image_grads: &mut [f32],
) -> Result<(), ShapeError> {
    check_lengths("col2im", window, image_grads.len(), patch_grads.len())?;
    let (image_len, per_image) = (window.image_len(), window.positions() * window.patch_len());
    for_each_block(
        image_grads,
        image_len,
        MIN_IMAGES_PER_THREAD,
        &|range, out| {
            for (b, grad) in range.zip(out.chunks_exact_mut(image_len)) {
                fold_image(
                    window,
                    &patch_grads[b * per_image..(b + 1) * per_image],
                    grad,
                );
            }
        },
    );
    Ok(())
}

fn fold_image(w: &SlidingWindow, patch_grads: &[f32], image_grad: &mut [f32]) {
    image_grad.fill(0.0);
    let (k, plane) = (w.kernel, w.height * w.width);
    let mut rows = patch_grads.chunks_exact(w.patch_len());
    for oy in 0..w.out_height() {
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            let left = w.padding.saturating_sub(ox * w.stride).min(k);
            let right = (ox * w.stride + k)
                .saturating_sub(w.padding + w.width)
                .min(k - left);
            let first_x = (ox * w.stride + left).saturating_sub(w.padding);
            let mut runs = patch.chunks_exact(k);
            for c in 0..w.channels {
                for ky in 0..k {
                    let run = runs.next().expect("C*K runs of K per patch");
                    if let Some(iy) = w.source(oy, ky, w.height) {
                        let from = c * plane + iy * w.width + first_x;
                        let target = &mut image_grad[from..from + k - left - right];
                        for (g, &d) in target.iter_mut().zip(&run[left..k - right]) {
                            *g += d;
                        }
                    }
                }
            }
        }
    }
}

/// Transposes each of the `blocks` consecutive `rows x cols` blocks of
/// `source` into a `cols x rows` block of `target`. With `rows = P` and
/// `cols = O` it turns a convolution's GEMM output `[B * P, O]` into NCHW
/// `[B, O * P]`; with the two swapped, an NCHW gradient back into rows of
/// positions.
pub fn transpose_blocks(
    source: &[f32],
    target: &mut [f32],
    rows: usize,
    cols: usize,
) -> Result<(), ShapeError> {
    let block = rows * cols;
    if source.len() != target.len() || !source.len().is_multiple_of(block.max(1)) {
        return Err(ShapeError::VectorLength {
            op: "transpose_blocks",
            expected: source.len(),
            len: target.len(),
        });
    }
    if block == 0 {
        return Ok(());
    }
    for_each_block(target, block, MIN_IMAGES_PER_THREAD, &|range, out| {
        for (b, out) in range.zip(out.chunks_exact_mut(block)) {
            let from = &source[b * block..(b + 1) * block];
            // Tiles of 8 x 8 keep both sides' lines in cache.
            const TILE: usize = 8;
            for r0 in (0..rows).step_by(TILE) {
                for c0 in (0..cols).step_by(TILE) {
                    for r in r0..(r0 + TILE).min(rows) {
                        for c in c0..(c0 + TILE).min(cols) {
                            out[c * rows + r] = from[r * cols + c];
                        }
                    }
                }
            }
        }
    });
    Ok(())
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

    /// The definition, one value at a time.
    fn naive_im2col(w: &SlidingWindow, images: &[f32]) -> Vec<f32> {
        let batch = images.len() / w.image_len();
        let mut out = Vec::new();
        for b in 0..batch {
            for oy in 0..w.out_height() {
                for ox in 0..w.out_width() {
                    for c in 0..w.channels {
                        for ky in 0..w.kernel {
                            for kx in 0..w.kernel {
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
        for (c, h, w) in [(1, 1, 1), (1, 5, 7), (3, 6, 6), (2, 9, 4)] {
            for k in 1..=4 {
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

    #[test]
    fn transpose_blocks_transposes_each_block() {
        for (blocks, rows, cols) in [(1, 1, 1), (3, 5, 2), (2, 17, 9), (5, 8, 8)] {
            let source: Vec<f32> = (0..blocks * rows * cols).map(|v| v as f32).collect();
            let mut target = vec![f32::NAN; source.len()];
            transpose_blocks(&source, &mut target, rows, cols).unwrap();
            for b in 0..blocks {
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(
                            target[b * rows * cols + c * rows + r],
                            source[b * rows * cols + r * cols + c]
                        );
                    }
                }
            }
            let mut back = vec![f32::NAN; source.len()];
            transpose_blocks(&target, &mut back, cols, rows).unwrap();
            assert_eq!(back, source);
        }
        assert!(transpose_blocks(&[0.0; 6], &mut [0.0; 5], 2, 3).is_err());
        assert!(transpose_blocks(&[0.0; 7], &mut [0.0; 7], 2, 3).is_err());
    }
}
