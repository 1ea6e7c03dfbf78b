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
/// padding with zeros. Every value of `patches` is written. On the calling
/// thread: a convolution layer runs it per chunk of a batch, on its threads,
/// so that a chunk's patches stay in cache for the GEMM that reads them.
pub fn im2col(
    window: &SlidingWindow,
    images: &[f32],
    patches: &mut [f32],
) -> Result<(), ShapeError> {
    check_lengths("im2col", window, images.len(), patches.len())?;
    let per_image = window.positions() * window.patch_len();
    for (image, out) in images
        .chunks_exact(window.image_len())
        .zip(patches.chunks_exact_mut(per_image.max(1)))
    {
        unfold_image(window, image, out);
    }
    Ok(())
}

fn unfold_image(w: &SlidingWindow, image: &[f32], patches: &mut [f32]) {
    // A kernel width known at compile time turns each run into a few
    // vector moves (im2col took a quarter of a small network's step with
    // the width a variable).
    match w.kernel {
        1 => unfold_fixed::<1>(w, image, patches),
        2 => unfold_fixed::<2>(w, image, patches),
        3 => unfold_fixed::<3>(w, image, patches),
        4 => unfold_fixed::<4>(w, image, patches),
        5 => unfold_fixed::<5>(w, image, patches),
        7 => unfold_fixed::<7>(w, image, patches),
        _ => unfold_any(w, image, patches),
    }
}

/// [`unfold_any`] for a `K x K` kernel: windows wholly inside the image
/// copy rows of `K` pixels; the rest, at the padded border, go the slow way.
fn unfold_fixed<const K: usize>(w: &SlidingWindow, image: &[f32], patches: &mut [f32]) {
    let plane = w.height * w.width;
    let mut rows = patches.chunks_exact_mut(w.patch_len());
    for oy in 0..w.out_height() {
        let rows_inside = oy * w.stride >= w.padding && oy * w.stride + K <= w.padding + w.height;
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            let x0 = ox * w.stride;
            if !(rows_inside && x0 >= w.padding && x0 + K <= w.padding + w.width) {
                unfold_border::<K>(w, image, patch, oy, ox);
                continue;
            }
            let top = (oy * w.stride - w.padding) * w.width + x0 - w.padding;
            for (c, runs) in patch.chunks_exact_mut(K * K).enumerate() {
                let first = c * plane + top;
                for (ky, run) in runs.chunks_exact_mut(K).enumerate() {
                    let from = first + ky * w.width;
                    let run: &mut [f32; K] = run.try_into().expect("runs of K");
                    let source: &[f32; K] = image[from..from + K].try_into().expect("K pixels");
                    *run = *source;
                }
            }
        }
    }
}

/// A window of [`unfold_fixed`] that reaches into the padding: each pixel
/// tested, still with the width a constant (no calls to memset).
fn unfold_border<const K: usize>(
    w: &SlidingWindow,
    image: &[f32],
    patch: &mut [f32],
    oy: usize,
    ox: usize,
) {
    let plane = w.height * w.width;
    let x0 = (ox * w.stride) as isize - w.padding as isize;
    for (c, runs) in patch.chunks_exact_mut(K * K).enumerate() {
        for (ky, run) in runs.chunks_exact_mut(K).enumerate() {
            let run: &mut [f32; K] = run.try_into().expect("runs of K");
            match w.source(oy, ky, w.height) {
                None => *run = [0.0; K],
                Some(iy) => {
                    let row = &image[c * plane + iy * w.width..c * plane + (iy + 1) * w.width];
                    for (kx, value) in run.iter_mut().enumerate() {
                        let x = x0 + kx as isize;
                        *value = if x >= 0 && (x as usize) < w.width {
                            row[x as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Any kernel width: every position the general way.
fn unfold_any(w: &SlidingWindow, image: &[f32], patches: &mut [f32]) {
    let mut rows = patches.chunks_exact_mut(w.patch_len());
    for oy in 0..w.out_height() {
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            unfold_position(w, image, patch, oy, ox);
        }
    }
}

/// The patch of window `(oy, ox)`, zeros where it reaches into the padding.
fn unfold_position(w: &SlidingWindow, image: &[f32], patch: &mut [f32], oy: usize, ox: usize) {
    let (k, plane) = (w.kernel, w.height * w.width);
    // The kernel's columns that fall inside the image, the same for every
    // (c, ky).
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
                    copy_short(&mut run[left..k - right], &image[from..]);
                    run[k - right..].fill(0.0);
                }
            }
        }
    }
}

/// `target.copy_from_slice(&source[..target.len()])` for runs of a
/// kernel's width: a call to `memmove` costs more than copying 3 or 5
/// values (it was 8% of a small network's training time).
#[inline(always)]
fn copy_short(target: &mut [f32], source: &[f32]) {
    fn fixed<const N: usize>(target: &mut [f32], source: &[f32]) {
        // A constant length: LLVM copies with plain moves, no call.
        target[..N].copy_from_slice(&source[..N]);
    }
    match target.len() {
        0 => {}
        1 => fixed::<1>(target, source),
        2 => fixed::<2>(target, source),
        3 => fixed::<3>(target, source),
        4 => fixed::<4>(target, source),
        5 => fixed::<5>(target, source),
        6 => fixed::<6>(target, source),
        7 => fixed::<7>(target, source),
        n => target.copy_from_slice(&source[..n]),
    }
}

/// Folds patch gradients back: `image_grads` (`B * C*H*W`, overwritten) gets,
/// for every pixel, the sum of the `patch_grads` (`[B * P, C*K*K]`) of the
/// patch entries that read it. The adjoint of [`im2col`]; on the calling
/// thread, as it is.
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
        fold_image(window, patches, grad);
    }
    Ok(())
}

fn fold_image(w: &SlidingWindow, patch_grads: &[f32], image_grad: &mut [f32]) {
    // As in `unfold_image`: a constant width for the common kernels.
    match w.kernel {
        3 => fold_fixed::<3>(w, patch_grads, image_grad),
        5 => fold_fixed::<5>(w, patch_grads, image_grad),
        _ => fold_any(w, patch_grads, image_grad),
    }
}

/// [`fold_any`] for a `K x K` kernel, windows wholly inside the image
/// adding rows of `K` values at once.
fn fold_fixed<const K: usize>(w: &SlidingWindow, patch_grads: &[f32], image_grad: &mut [f32]) {
    image_grad.fill(0.0);
    let plane = w.height * w.width;
    let mut rows = patch_grads.chunks_exact(w.patch_len());
    for oy in 0..w.out_height() {
        let rows_inside = oy * w.stride >= w.padding && oy * w.stride + K <= w.padding + w.height;
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            let x0 = ox * w.stride;
            if !(rows_inside && x0 >= w.padding && x0 + K <= w.padding + w.width) {
                fold_position(w, patch, image_grad, oy, ox);
                continue;
            }
            let top = (oy * w.stride - w.padding) * w.width + x0 - w.padding;
            for (c, runs) in patch.chunks_exact(K * K).enumerate() {
                let first = c * plane + top;
                for (ky, run) in runs.chunks_exact(K).enumerate() {
                    let from = first + ky * w.width;
                    let target: &mut [f32; K] = (&mut image_grad[from..from + K])
                        .try_into()
                        .expect("K pixels");
                    for (g, &d) in target.iter_mut().zip(run) {
                        *g += d;
                    }
                }
            }
        }
    }
}

/// Any kernel width: every position the general way.
fn fold_any(w: &SlidingWindow, patch_grads: &[f32], image_grad: &mut [f32]) {
    image_grad.fill(0.0);
    let mut rows = patch_grads.chunks_exact(w.patch_len());
    for oy in 0..w.out_height() {
        for ox in 0..w.out_width() {
            let patch = rows.next().expect("one patch row per position");
            fold_position(w, patch, image_grad, oy, ox);
        }
    }
}

/// Adds the gradient of window `(oy, ox)`'s patch to the pixels it read.
fn fold_position(w: &SlidingWindow, patch: &[f32], image_grad: &mut [f32], oy: usize, ox: usize) {
    let (k, plane) = (w.kernel, w.height * w.width);
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

/// Transposes each of the `blocks` consecutive `rows x cols` blocks of
/// `source` into a `cols x rows` block of `target`. With `rows = P` and
/// `cols = O` it turns a convolution's GEMM output `[B * P, O]` into NCHW
/// `[B, O * P]`; with the two swapped, an NCHW gradient back into rows of
/// positions. On the calling thread.
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
    for (from, out) in source
        .chunks_exact(block)
        .zip(target.chunks_exact_mut(block))
    {
        // Strips of 16 source rows: each target row gets 16 consecutive
        // values (one cache line) per strip, read from 16 short rows that
        // stay in cache.
        const STRIP: usize = 16;
        let mut strips = from.chunks_exact(STRIP * cols);
        let mut r0 = 0;
        for strip in &mut strips {
            for (c, target) in out.chunks_exact_mut(rows).enumerate() {
                let target: &mut [f32; STRIP] =
                    (&mut target[r0..r0 + STRIP]).try_into().expect("a strip");
                for (r, value) in target.iter_mut().enumerate() {
                    *value = strip[r * cols + c];
                }
            }
            r0 += STRIP;
        }
        // The rows left (all of them when there are fewer than a strip):
        // each scattered down its target column.
        for (r, row) in strips.remainder().chunks_exact(cols).enumerate() {
            let column = out[r0 + r..].iter_mut().step_by(rows);
            for (target, &value) in column.zip(row) {
                *target = value;
            }
        }
    }
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
