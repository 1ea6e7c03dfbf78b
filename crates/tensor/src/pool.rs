//! Pooling over NCHW images (see [`crate::conv`] for the layout): the
//! maximum or the mean of every `K x K` window, channel by channel, on all
//! threads. Windows see no padding here (`SlidingWindow::padding` must be 0),
//! as in the networks we build.

use crate::conv::SlidingWindow;
use crate::parallel::for_each_block;
use crate::ShapeError;

/// Channel planes per thread below which pooling stays on one thread.
const MIN_PLANES_PER_THREAD: usize = 16;

fn check(
    op: &'static str,
    window: &SlidingWindow,
    input: usize,
    output: usize,
) -> Result<(), ShapeError> {
    let (plane, out_plane) = (window.height * window.width, window.positions());
    let planes = input / plane.max(1);
    if window.padding != 0 || input != planes * plane || output != planes * out_plane {
        return Err(ShapeError::VectorLength {
            op,
            expected: planes * out_plane,
            len: output,
        });
    }
    Ok(())
}

/// `output[plane, oy, ox] = max` over the window of `input[plane, ..]`
/// (NaN, if the window holds one, as in PyTorch).
pub fn max_pool(
    window: &SlidingWindow,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), ShapeError> {
    check("max_pool", window, input.len(), output.len())?;
    let w = *window;
    let (plane, out_plane) = (w.height * w.width, w.positions());
    for_each_block(output, out_plane, MIN_PLANES_PER_THREAD, &|planes, out| {
        for (p, out) in planes.zip(out.chunks_exact_mut(out_plane)) {
            let source = &input[p * plane..(p + 1) * plane];
            if w.kernel == 2 && w.stride == 2 {
                max_2x2(&w, source, out);
                continue;
            }
            for oy in 0..w.out_height() {
                for ox in 0..w.out_width() {
                    out[oy * w.out_width() + ox] = source[window_argmax(&w, source, oy, ox)];
                }
            }
        }
    });
    Ok(())
}

/// [`max_pool`] of one plane with 2x2 windows and stride 2 (the usual
/// pooling), without branches (see [`each_2x2`]).
fn max_2x2(w: &SlidingWindow, plane: &[f32], out: &mut [f32]) {
    each_2x2(w, plane, out, |[a, b, c, d]| {
        let largest = a.max(b).max(c.max(d));
        let nan = a.is_nan() | b.is_nan() | c.is_nan() | d.is_nan();
        if nan {
            f32::NAN
        } else {
            largest
        }
    });
}

/// `out[oy, ox] = f(the window's four values, row by row)` for 2x2 windows
/// with stride 2, two input rows at a time, so that the compiler
/// vectorises `f`.
#[inline(always)]
fn each_2x2(w: &SlidingWindow, plane: &[f32], out: &mut [f32], f: impl Fn([f32; 4]) -> f32) {
    let width = w.width;
    for (oy, out) in out.chunks_exact_mut(w.out_width()).enumerate() {
        let top = 2 * oy * width;
        let (upper, lower) = (
            &plane[top..top + width],
            &plane[top + width..top + 2 * width],
        );
        let pairs = upper.chunks_exact(2).zip(lower.chunks_exact(2));
        for (out, (u, l)) in out.iter_mut().zip(pairs) {
            *out = f([u[0], u[1], l[0], l[1]]);
        }
    }
}

/// The index in its plane of the first maximum of window `(oy, ox)`.
#[inline(always)]
fn window_argmax(w: &SlidingWindow, plane: &[f32], oy: usize, ox: usize) -> usize {
    // The common 2x2 window with a constant width: no loop, no slices.
    match w.kernel {
        2 => window_argmax_fixed::<2>(w, plane, oy, ox),
        3 => window_argmax_fixed::<3>(w, plane, oy, ox),
        _ => window_argmax_any(w, plane, oy, ox),
    }
}

#[inline(always)]
fn window_argmax_fixed<const K: usize>(
    w: &SlidingWindow,
    plane: &[f32],
    oy: usize,
    ox: usize,
) -> usize {
    let (y0, x0) = (oy * w.stride, ox * w.stride);
    let mut best = (y0 * w.width + x0, f32::NEG_INFINITY);
    for y in y0..y0 + K {
        let at = y * w.width + x0;
        let row: &[f32; K] = plane[at..at + K].try_into().expect("K values");
        for (dx, &v) in row.iter().enumerate() {
            if v > best.1 || v.is_nan() && !best.1.is_nan() {
                best = (at + dx, v);
            }
        }
    }
    best.0
}

fn window_argmax_any(w: &SlidingWindow, plane: &[f32], oy: usize, ox: usize) -> usize {
    let (y0, x0) = (oy * w.stride, ox * w.stride);
    let mut best = (y0 * w.width + x0, f32::NEG_INFINITY);
    for y in y0..y0 + w.kernel {
        let row = &plane[y * w.width + x0..y * w.width + x0 + w.kernel];
        for (dx, &v) in row.iter().enumerate() {
            // NaN propagates, as in PyTorch: it beats every number.
            if v > best.1 || v.is_nan() && !best.1.is_nan() {
                best = (y * w.width + x0 + dx, v);
            }
        }
    }
    best.0
}

/// `input_grad` (overwritten) gets each output gradient added at the first
/// place of its window that holds the window's maximum (`output`, from
/// [`max_pool`] of the same `input`): found again here rather than stored,
/// which keeps the forward pass to one branch-free sweep.
pub fn max_pool_backward(
    window: &SlidingWindow,
    input: &[f32],
    output: &[f32],
    output_grad: &[f32],
    input_grad: &mut [f32],
) -> Result<(), ShapeError> {
    check(
        "max_pool_backward",
        window,
        input_grad.len(),
        output_grad.len(),
    )?;
    if input.len() != input_grad.len() || output.len() != output_grad.len() {
        return Err(ShapeError::VectorLength {
            op: "max_pool_backward",
            expected: input_grad.len(),
            len: input.len(),
        });
    }
    let w = *window;
    let (plane, out_plane) = (w.height * w.width, w.positions());
    #[cfg(target_arch = "x86_64")]
    let avx512 = crate::cpu::has_avx512f();
    for_each_block(
        input_grad,
        plane,
        MIN_PLANES_PER_THREAD,
        &|planes, grads| {
            for (p, grad) in planes.zip(grads.chunks_exact_mut(plane)) {
                grad.fill(0.0);
                let source = &input[p * plane..(p + 1) * plane];
                let range = p * out_plane..(p + 1) * out_plane;
                if w.kernel == 2 && w.stride == 2 {
                    let (maxima, grads) = (&output[range.clone()], &output_grad[range]);
                    #[cfg(target_arch = "x86_64")]
                    if avx512 {
                        // SAFETY: the CPU has AVX-512F (detected above).
                        unsafe { route_2x2_avx512(&w, source, maxima, grads, grad) };
                        continue;
                    }
                    crate::cpu::with_simd(
                        #[inline(always)]
                        || route_2x2(&w, source, maxima, grads, grad),
                    );
                    continue;
                }
                let maxima = output[range.clone()].iter().zip(&output_grad[range]);
                for (o, (&largest, &g)) in maxima.enumerate() {
                    let (y0, x0) = (o / w.out_width() * w.stride, o % w.out_width() * w.stride);
                    let at = (y0..y0 + w.kernel)
                        .flat_map(|y| (y * w.width + x0)..(y * w.width + x0 + w.kernel))
                        .find(|&i| source[i] == largest || source[i].is_nan() && largest.is_nan());
                    if let Some(at) = at {
                        grad[at] += g;
                    }
                }
            }
        },
    );
    Ok(())
}

/// [`max_pool_backward`] of one plane with 2x2 windows and stride 2: each
/// gradient to the first of its four pixels that equals the maximum. The
/// windows do not overlap, so every pixel is written once, without
/// branches: the others get 0 by a select, where multiplying by 0 or 1
/// took twice as long (1.8 ns a pixel, against 0.25 for the forward pass).
#[inline(always)]
fn route_2x2(w: &SlidingWindow, plane: &[f32], maxima: &[f32], grads: &[f32], out: &mut [f32]) {
    for row in window_rows(w, plane, maxima, grads, out) {
        let (upper, lower, out_upper, out_lower) =
            (row.upper, row.lower, row.out_upper, row.out_lower);
        let (maxima, grads) = (row.maxima, row.grads);
        for x in 0..maxima.len() {
            let (largest, g) = (maxima[x], grads[x]);
            // Bitwise `&` and `|`, not `&&` and `||`: no branches.
            let nan = largest.is_nan();
            let same = |v: f32| (v == largest) | (nan & v.is_nan());
            let first = same(upper[2 * x]);
            let second = same(upper[2 * x + 1]) & !first;
            let third = same(lower[2 * x]) & !(first | second);
            let fourth = !(first | second | third);
            let pick = |chosen: bool| if chosen { g } else { 0.0 };
            out_upper[2 * x] = pick(first);
            out_upper[2 * x + 1] = pick(second);
            out_lower[2 * x] = pick(third);
            out_lower[2 * x + 1] = pick(fourth);
        }
    }
}

/// One row of a plane's 2x2 windows (stride 2), for the backward pass: the
/// two rows of pixels they cover (up to the last window), their maxima
/// and gradients, and the two rows of the plane's gradient to write.
struct WindowRow<'a> {
    upper: &'a [f32],
    lower: &'a [f32],
    maxima: &'a [f32],
    grads: &'a [f32],
    out_upper: &'a mut [f32],
    out_lower: &'a mut [f32],
}

#[inline(always)]
fn window_rows<'a>(
    w: &SlidingWindow,
    plane: &'a [f32],
    maxima: &'a [f32],
    grads: &'a [f32],
    out: &'a mut [f32],
) -> impl Iterator<Item = WindowRow<'a>> {
    let (width, windows) = (w.width, w.out_width());
    let rows = maxima
        .chunks_exact(windows)
        .zip(grads.chunks_exact(windows));
    rows.zip(out.chunks_exact_mut(2 * width)).enumerate().map(
        move |(oy, ((maxima, grads), out))| {
            let top = 2 * oy * width;
            let (out_upper, out_lower) = out.split_at_mut(width);
            WindowRow {
                upper: &plane[top..top + 2 * windows],
                lower: &plane[top + width..top + width + 2 * windows],
                maxima,
                grads,
                out_upper,
                out_lower,
            }
        },
    )
}

/// [`route_2x2`] with AVX-512, sixteen windows at a time: a row's pixels
/// loaded 32 at a time and split into the windows' left and right ones
/// (`vpermt2ps`), the four comparisons as masks, and the gradients
/// interleaved back the same way; the windows past the row's end are
/// masked off, in the loads and in the stores. 0.23 ns a pixel on 26 x
/// 26 planes and 0.5 on 11 x 11, where the portable loop takes 1 (a probe of
/// `max_pool_backward` on 2048 and 4096 planes, one thread).
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn route_2x2_avx512(
    w: &SlidingWindow,
    plane: &[f32],
    maxima: &[f32],
    grads: &[f32],
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    // Pixels `2i` and `2i + 1` of 32 (lanes 16-31 are the second register).
    let left = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let right = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // Back: pixel `p` of the first 16 is window `p / 2`'s left (even `p`) or
    // right (odd) value; of the next 16, window `8 + p / 2`'s.
    let first_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let second_half =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let lanes = |count: usize| -> __mmask16 { ((1u32 << count.min(LANES)) - 1) as __mmask16 };
    for row in window_rows(w, plane, maxima, grads, out) {
        let windows = row.maxima.len();
        for first in (0..windows).step_by(LANES) {
            let count = (windows - first).min(LANES);
            let pixels = 2 * count;
            let (window_mask, low_mask, high_mask) = (
                lanes(count),
                lanes(pixels),
                lanes(pixels.saturating_sub(LANES)),
            );
            // The loads and stores below: the masks cover `2 * count`
            // pixels from `2 * first` of a row of `2 * windows` (`count`
            // values from `first` of `maxima` and `grads`); masked-off lanes
            // are neither read nor written, and `wrapping_add` makes no
            // claim on where the pointer lands.
            let split = |pixels: &[f32]| {
                let at = pixels.as_ptr().wrapping_add(2 * first);
                // SAFETY: see above; `pixels` is a row of the plane.
                let (a, b) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(low_mask, at),
                        _mm512_maskz_loadu_ps(high_mask, at.wrapping_add(LANES)),
                    )
                };
                (
                    _mm512_permutex2var_ps(a, left, b),
                    _mm512_permutex2var_ps(a, right, b),
                )
            };
            let (top_left, top_right) = split(row.upper);
            // The bottom right pixel is chosen when no other is.
            let (bottom_left, _) = split(row.lower);
            // SAFETY: see above.
            let (largest, g) = unsafe {
                (
                    _mm512_maskz_loadu_ps(window_mask, row.maxima.as_ptr().wrapping_add(first)),
                    _mm512_maskz_loadu_ps(window_mask, row.grads.as_ptr().wrapping_add(first)),
                )
            };
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(largest, largest);
            let same = |v: __m512| {
                _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, largest)
                    | (nan & _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v))
            };
            let first_one = same(top_left);
            let second = same(top_right) & !first_one;
            let third = same(bottom_left) & !(first_one | second);
            let fourth = !(first_one | second | third);
            let store = |gradients: &mut [f32], lefts: __m512, rights: __m512| {
                let at = gradients.as_mut_ptr().wrapping_add(2 * first);
                let low = _mm512_permutex2var_ps(lefts, first_half, rights);
                let high = _mm512_permutex2var_ps(lefts, second_half, rights);
                // SAFETY: see above; `gradients` is a row of the plane's gradient.
                unsafe {
                    _mm512_mask_storeu_ps(at, low_mask, low);
                    _mm512_mask_storeu_ps(at.wrapping_add(LANES), high_mask, high);
                }
            };
            let pick = |chosen: __mmask16| _mm512_maskz_mov_ps(chosen, g);
            store(row.out_upper, pick(first_one), pick(second));
            store(row.out_lower, pick(third), pick(fourth));
        }
    }
}

/// `output[plane, oy, ox] =` the mean of the window (`K*K` values).
pub fn avg_pool(
    window: &SlidingWindow,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), ShapeError> {
    check("avg_pool", window, input.len(), output.len())?;
    let w = *window;
    let (plane, out_plane) = (w.height * w.width, w.positions());
    let scale = 1.0 / (w.kernel * w.kernel) as f32;
    for_each_block(output, out_plane, MIN_PLANES_PER_THREAD, &|planes, out| {
        for (p, out) in planes.zip(out.chunks_exact_mut(out_plane)) {
            let source = &input[p * plane..(p + 1) * plane];
            if w.kernel == 2 && w.stride == 2 {
                mean_2x2(&w, source, out);
                continue;
            }
            for oy in 0..w.out_height() {
                for ox in 0..w.out_width() {
                    let (y0, x0) = (oy * w.stride, ox * w.stride);
                    let sum: f32 = (y0..y0 + w.kernel)
                        .map(|y| {
                            source[y * w.width + x0..y * w.width + x0 + w.kernel]
                                .iter()
                                .sum::<f32>()
                        })
                        .sum();
                    out[oy * w.out_width() + ox] = sum * scale;
                }
            }
        }
    });
    Ok(())
}

/// `input_grad` (overwritten): every pixel gets `1 / (K*K)` of the gradient
/// of each window that covers it.
pub fn avg_pool_backward(
    window: &SlidingWindow,
    output_grad: &[f32],
    input_grad: &mut [f32],
) -> Result<(), ShapeError> {
    check(
        "avg_pool_backward",
        window,
        input_grad.len(),
        output_grad.len(),
    )?;
    let w = *window;
    let (plane, out_plane) = (w.height * w.width, w.positions());
    let scale = 1.0 / (w.kernel * w.kernel) as f32;
    for_each_block(
        input_grad,
        plane,
        MIN_PLANES_PER_THREAD,
        &|planes, grads| {
            for (p, grad) in planes.zip(grads.chunks_exact_mut(plane)) {
                grad.fill(0.0);
                let from = &output_grad[p * out_plane..(p + 1) * out_plane];
                if w.kernel == 2 && w.stride == 2 {
                    spread_2x2(&w, from, grad);
                    continue;
                }
                for oy in 0..w.out_height() {
                    for ox in 0..w.out_width() {
                        let g = from[oy * w.out_width() + ox] * scale;
                        let (y0, x0) = (oy * w.stride, ox * w.stride);
                        for y in y0..y0 + w.kernel {
                            for v in &mut grad[y * w.width + x0..y * w.width + x0 + w.kernel] {
                                *v += g;
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(())
}

/// [`avg_pool`] of one plane with 2x2 windows and stride 2 (see [`each_2x2`]).
fn mean_2x2(w: &SlidingWindow, plane: &[f32], out: &mut [f32]) {
    each_2x2(w, plane, out, |[a, b, c, d]| ((a + b) + (c + d)) * 0.25);
}

/// [`avg_pool_backward`] of one plane with 2x2 windows and stride 2: a
/// quarter of each gradient to its four pixels (the windows do not
/// overlap; an odd last row or column stays 0).
fn spread_2x2(w: &SlidingWindow, grads: &[f32], out: &mut [f32]) {
    let width = w.width;
    for (oy, grads) in grads.chunks_exact(w.out_width()).enumerate() {
        let top = 2 * oy * width;
        let (upper, lower) = out[top..top + 2 * width].split_at_mut(width);
        let pairs = upper.chunks_exact_mut(2).zip(lower.chunks_exact_mut(2));
        for ((u, l), &g) in pairs.zip(grads) {
            let quarter = g * 0.25;
            (u[0], u[1], l[0], l[1]) = (quarter, quarter, quarter, quarter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(c: usize, h: usize, w: usize, k: usize, s: usize) -> SlidingWindow {
        SlidingWindow {
            channels: c,
            height: h,
            width: w,
            kernel: k,
            stride: s,
            padding: 0,
        }
    }

    /// The definition: every window's values, gathered one by one.
    fn windows(w: &SlidingWindow, input: &[f32]) -> Vec<Vec<(usize, f32)>> {
        let plane = w.height * w.width;
        let mut all = Vec::new();
        for p in 0..input.len() / plane {
            for oy in 0..w.out_height() {
                for ox in 0..w.out_width() {
                    let mut values = Vec::new();
                    for ky in 0..w.kernel {
                        for kx in 0..w.kernel {
                            let at = (oy * w.stride + ky) * w.width + ox * w.stride + kx;
                            values.push((p * plane + at, input[p * plane + at]));
                        }
                    }
                    all.push(values);
                }
            }
        }
        all
    }

    fn shapes() -> Vec<(SlidingWindow, usize)> {
        let mut all = Vec::new();
        for (c, h, w) in [(1, 1, 1), (1, 5, 7), (3, 6, 6), (20, 9, 4)] {
            for k in 1..=3 {
                for s in 1..=3 {
                    let candidate = window(c, h, w, k, s);
                    if candidate.check().is_ok() {
                        for batch in [1, 2, 5] {
                            all.push((candidate, batch));
                        }
                    }
                }
            }
        }
        all
    }

    #[test]
    fn max_pool_and_its_backward_match_the_definition() {
        for (w, batch) in shapes() {
            // Distinct values in a scrambled order, so every maximum is unique.
            let n = batch * w.image_len();
            let input: Vec<f32> = (0..n)
                .map(|v| ((v * 37) % 101) as f32 + v as f32 * 1e-3)
                .collect();
            let out_len = batch * w.channels * w.positions();
            let mut output = vec![f32::NAN; out_len];
            max_pool(&w, &input, &mut output).unwrap();
            let grad: Vec<f32> = (0..out_len).map(|v| v as f32 + 1.0).collect();
            let mut want_grad = vec![0.0; n];
            for (o, values) in windows(&w, &input).into_iter().enumerate() {
                let (at, best) =
                    values
                        .into_iter()
                        .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
                assert_eq!(output[o], best, "{w:?}");
                want_grad[at] += grad[o];
            }
            let mut input_grad = vec![f32::NAN; n];
            max_pool_backward(&w, &input, &output, &grad, &mut input_grad).unwrap();
            assert_eq!(input_grad, want_grad, "{w:?}");
        }
    }

    /// The 2x2 backward's two paths (AVX-512 where the CPU has it, through
    /// `max_pool_backward`, and the portable loop) against the definition,
    /// for rows of 1 to 40 windows (every tail of the 16-window steps, and
    /// rows of more than one and two steps), odd widths and heights (a
    /// pixel outside every window), ties and NaNs.
    #[test]
    fn the_2x2_backward_paths_match_the_definition_at_every_width() {
        for width in 2..=81 {
            for height in [2, 5] {
                let w = window(2, height, width, 2, 2);
                let n = 3 * w.image_len();
                // Few distinct values (ties in most windows), and a NaN now
                // and then, alone or beside another.
                let input: Vec<f32> = (0..n)
                    .map(|v| match v % 53 {
                        0 | 1 => f32::NAN,
                        _ => ((v * 7) % 5) as f32,
                    })
                    .collect();
                let out_len = 3 * w.channels * w.positions();
                let mut output = vec![0.0; out_len];
                max_pool(&w, &input, &mut output).unwrap();
                let grad: Vec<f32> = (0..out_len).map(|v| v as f32 - 40.5).collect();
                let mut want = vec![0.0; n];
                for (o, values) in windows(&w, &input).into_iter().enumerate() {
                    let chosen = values
                        .iter()
                        .find(|(_, v)| v.is_nan())
                        .or_else(|| values.iter().find(|(_, v)| *v == output[o]))
                        .expect("the maximum is one of the window's values");
                    want[chosen.0] += grad[o];
                }
                let mut dispatched = vec![f32::NAN; n];
                max_pool_backward(&w, &input, &output, &grad, &mut dispatched).unwrap();
                // NaN where `route_2x2` must write: the pixels of every
                // window; 0 in an odd last row or column, which it leaves.
                let in_a_window = |i: usize| {
                    let (y, x) = (i % (w.height * w.width) / w.width, i % w.width);
                    y < 2 * w.out_height() && x < 2 * w.out_width()
                };
                let mut portable: Vec<f32> = (0..n)
                    .map(|i| if in_a_window(i) { f32::NAN } else { 0.0 })
                    .collect();
                let (plane, out_plane) = (w.height * w.width, w.positions());
                for p in 0..n / plane {
                    let outputs = p * out_plane..(p + 1) * out_plane;
                    route_2x2(
                        &w,
                        &input[p * plane..(p + 1) * plane],
                        &output[outputs.clone()],
                        &grad[outputs],
                        &mut portable[p * plane..(p + 1) * plane],
                    );
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&dispatched), bits(&want), "{w:?}");
                assert_eq!(bits(&portable), bits(&want), "{w:?}");
            }
        }
    }

    #[test]
    fn avg_pool_and_its_backward_match_the_definition() {
        for (w, batch) in shapes() {
            let n = batch * w.image_len();
            let input: Vec<f32> = (0..n).map(|v| ((v * 13) % 17) as f32 - 8.0).collect();
            let out_len = batch * w.channels * w.positions();
            let mut output = vec![f32::NAN; out_len];
            avg_pool(&w, &input, &mut output).unwrap();
            let grad: Vec<f32> = (0..out_len).map(|v| v as f32 - 3.0).collect();
            let mut want_grad = vec![0.0; n];
            let scale = 1.0 / (w.kernel * w.kernel) as f32;
            for (o, values) in windows(&w, &input).into_iter().enumerate() {
                let sum: f32 = values.iter().map(|v| v.1).sum();
                assert!((output[o] - sum * scale).abs() < 1e-5, "{w:?}");
                for (at, _) in values {
                    want_grad[at] += grad[o] * scale;
                }
            }
            let mut input_grad = vec![f32::NAN; n];
            avg_pool_backward(&w, &grad, &mut input_grad).unwrap();
            for (a, b) in input_grad.iter().zip(&want_grad) {
                assert!((a - b).abs() < 1e-4, "{w:?}");
            }
        }
    }

    #[test]
    fn a_nan_wins_its_window_ties_go_to_the_first_and_wrong_lengths_are_errors() {
        for w in [window(1, 2, 2, 2, 2), window(1, 2, 2, 2, 1)] {
            let input = [1.0, f32::NAN, 3.0, 2.0];
            let mut out = [0.0];
            max_pool(&w, &input, &mut out).unwrap();
            assert!(out[0].is_nan());
            let mut grad = [9.0; 4];
            max_pool_backward(&w, &input, &out, &[5.0], &mut grad).unwrap();
            assert_eq!(grad, [0.0, 5.0, 0.0, 0.0]);
            let input = [3.0, 1.0, 3.0, 3.0];
            max_pool(&w, &input, &mut out).unwrap();
            max_pool_backward(&w, &input, &out, &[5.0], &mut grad).unwrap();
            assert_eq!(grad, [5.0, 0.0, 0.0, 0.0]);
        }
        let w = window(1, 2, 2, 2, 2);
        assert!(max_pool(&w, &[0.0; 5], &mut [0.0; 1]).is_err());
        assert!(max_pool_backward(&w, &[0.0; 3], &[0.0], &[0.0], &mut [0.0; 4]).is_err());
        assert!(avg_pool(&w, &[0.0; 4], &mut [0.0; 2]).is_err());
        let padded = SlidingWindow {
            padding: 1,
            ..window(1, 4, 4, 2, 2)
        };
        assert!(avg_pool(&padded, &[0.0; 16], &mut [0.0; 9]).is_err());
    }
}
