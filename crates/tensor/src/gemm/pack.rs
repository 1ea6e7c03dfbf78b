//! Packing: copies a block of `op(A)` or `op(B)` into the strip layout the
//! microkernel streams through, so the kernel reads memory contiguously
//! whatever the operand's layout or transpose.
//!
//! A block of `op(A)` (`mc x kc`) becomes `ceil(mc / MR)` strips; strip `s`
//! holds, for each step `p` of `kc`, the `MR` values of column `p` in rows
//! `s*MR ..`. A block of `op(B)` (`kc x nc`) becomes `ceil(nc / NR)` strips
//! holding, for each `p`, the `NR` values of row `p`. Rows or columns past the
//! edge of the matrix are packed as zeros, so the kernel always runs a full
//! tile and never reads outside a buffer; the store only writes the valid part.
//!
//! Both reduce to one question: are a strip's lanes (A's rows, B's columns)
//! adjacent in memory or a row apart? A plain A has rows a row apart and a
//! plain B has columns adjacent; transposing either flips the answer.

use super::kernel::{MR, NR};
use super::Operand;
use std::ops::Range;

/// Which packing code to run: plain Rust, or AVX2 transposes where a strip
/// is a transpose (chosen together with either SIMD microkernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packer {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

/// Packs `op(A)[rows, depth]` into `MR`-row strips in `out`
/// (`ceil(rows.len() / MR) * MR * depth.len()` values).
pub(crate) fn pack_a_panel(
    packer: Packer,
    a: &Operand,
    rows: Range<usize>,
    depth: Range<usize>,
    out: &mut [f32],
) {
    let source = a.matrix.as_slice();
    let row_length = a.matrix.cols();
    if a.transposed {
        // op(A)[i][p] = stored[p][i]: a strip's rows are adjacent.
        pack_adjacent_lanes::<MR>(packer, source, row_length, rows, depth, out);
    } else {
        pack_distant_lanes::<MR>(packer, source, row_length, rows, depth, out);
    }
}

/// Packs `op(B)[depth, cols]` into `NR`-column strips in `out`
/// (`ceil(cols.len() / NR) * NR * depth.len()` values).
pub(crate) fn pack_b_panel(
    packer: Packer,
    b: &Operand,
    depth: Range<usize>,
    cols: Range<usize>,
    out: &mut [f32],
) {
    let source = b.matrix.as_slice();
    let row_length = b.matrix.cols();
    if b.transposed {
        // op(B)[p][j] = stored[j][p]: a strip's columns are a row apart.
        pack_distant_lanes::<NR>(packer, source, row_length, cols, depth, out);
    } else {
        pack_adjacent_lanes::<NR>(packer, source, row_length, cols, depth, out);
    }
}

/// Strips of `W` lanes where element (lane, step) is `source[step * row_length + lane]`:
/// each step copies a run of `W` adjacent values into each strip.
///
/// Steps are the inner loop over a group of strips, so the source is read
/// row after row, in order, a group's width at a time; walking one strip
/// down all its steps instead jumps a whole row per step, and a profile
/// showed that strided walk waiting on memory. But a step across all the
/// strips at once wrote to as many places `kc * W` floats apart (25 for
/// n = 784), and packing a plain B then took a seventh of
/// 128 x 256 x 784: eight strips at a time, 196-200 -> 220-229 GFLOP/s
/// (figures in BENCHMARKS.md, "Measurements behind the code").
fn pack_adjacent_lanes<const W: usize>(
    packer: Packer,
    source: &[f32],
    row_length: usize,
    lanes: Range<usize>,
    depth: Range<usize>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if packer == Packer::Avx2 {
        /// The same loop compiled with AVX enabled: 32-byte moves.
        ///
        /// # Safety
        /// The CPU supports AVX2 (every access is bounds-checked slicing).
        #[target_feature(enable = "avx2")]
        unsafe fn with_avx2<const W: usize>(
            source: &[f32],
            row_length: usize,
            lanes: Range<usize>,
            depth: Range<usize>,
            out: &mut [f32],
        ) {
            copy_adjacent_lanes::<W>(source, row_length, lanes, depth, out)
        }
        // SAFETY: `Packer::Avx2` is only chosen once AVX2 is detected.
        unsafe { with_avx2::<W>(source, row_length, lanes, depth, out) };
        return;
    }
    let _ = packer;
    copy_adjacent_lanes::<W>(source, row_length, lanes, depth, out)
}

#[inline(always)]
fn copy_adjacent_lanes<const W: usize>(
    source: &[f32],
    row_length: usize,
    lanes: Range<usize>,
    depth: Range<usize>,
    out: &mut [f32],
) {
    /// Strips written at a time (see [`pack_adjacent_lanes`]).
    const GROUP: usize = 8;
    let kc = depth.len();
    let strips = lanes.len().div_ceil(W);
    let full_strips = lanes.len() / W;
    for first in (0..strips).step_by(GROUP) {
        let group = first..(first + GROUP).min(strips);
        for (p, step) in depth.clone().enumerate() {
            let row = &source[step * row_length + lanes.start..step * row_length + lanes.end];
            for strip in group.start..group.end.min(full_strips) {
                let values = &row[strip * W..(strip + 1) * W];
                // A copy of constant length: a few vector moves, not a memmove call.
                out[(strip * kc + p) * W..(strip * kc + p + 1) * W].copy_from_slice(values);
            }
            if group.contains(&full_strips) {
                let values = &row[full_strips * W..];
                let packed = &mut out[(full_strips * kc + p) * W..(full_strips * kc + p + 1) * W];
                packed[..values.len()].copy_from_slice(values);
                packed[values.len()..].fill(0.0);
            }
        }
    }
}

/// Strips of `W` lanes where element (lane, step) is `source[lane * row_length + step]`:
/// each lane is a contiguous run along the depth, written `W` apart.
fn pack_distant_lanes<const W: usize>(
    packer: Packer,
    source: &[f32],
    row_length: usize,
    lanes: Range<usize>,
    depth: Range<usize>,
    out: &mut [f32],
) {
    let kc = depth.len();
    let strips = out.chunks_exact_mut(W * kc);
    for (first_lane, strip) in lanes.clone().step_by(W).zip(strips) {
        let width = W.min(lanes.end - first_lane);
        #[cfg(target_arch = "x86_64")]
        if packer == Packer::Avx2 && width == W {
            // SAFETY: `Packer::Avx2` is only chosen once AVX2 is detected.
            unsafe {
                super::pack_avx2::pack_full_strip::<W>(
                    source,
                    row_length,
                    first_lane,
                    depth.start,
                    kc,
                    strip,
                )
            };
            continue;
        }
        let _ = packer;
        if width < W {
            // The missing lanes are zeros: one contiguous fill, rather than
            // a store `W` apart for each of them at every step.
            strip.fill(0.0);
        }
        for lane in 0..width {
            let start = (first_lane + lane) * row_length + depth.start;
            let run = &source[start..start + kc];
            // One lane at a time: sequential reads, stores `W` apart into
            // a strip small enough to stay in L1 across the lanes.
            for (packed, &value) in strip.chunks_exact_mut(W).zip(run) {
                packed[lane] = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    #[test]
    fn every_packer_packs_every_layout_like_the_definition() {
        let mut packers = vec![Packer::Portable];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            packers.push(Packer::Avx2);
        }
        // 37 x 41 stored; op(M) is 37 x 41 or 41 x 37.
        let m = Matrix::from_fn(37, 41, |r, c| (r * 100 + c) as f32 + 0.5);
        for packer in packers {
            for transposed in [false, true] {
                let op = Operand {
                    matrix: m.view(),
                    transposed,
                };
                // Depth ranges around the 8-step SIMD blocks, lane ranges
                // with full and partial strips, at offsets.
                for depth in [0..1, 3..11, 0..16, 5..30, 1..op.cols()] {
                    for rows in [0..op.rows(), 7..20, 2..8] {
                        let strips = rows.len().div_ceil(MR);
                        let mut out = vec![f32::NAN; strips * MR * depth.len()];
                        pack_a_panel(packer, &op, rows.clone(), depth.clone(), &mut out);
                        for (index, &value) in out.iter().enumerate() {
                            let (strip, p, i) = (
                                index / (MR * depth.len()),
                                index / MR % depth.len(),
                                index % MR,
                            );
                            let row = rows.start + strip * MR + i;
                            let want = if row < rows.end {
                                op.get(row, depth.start + p)
                            } else {
                                0.0
                            };
                            assert_eq!(
                                value, want,
                                "{packer:?} A, transposed {transposed}, {rows:?} x {depth:?}"
                            );
                        }
                    }
                }
                for depth in [0..1, 3..11, 2..35] {
                    for cols in [0..op.cols(), 4..21, 0..16, 3..36] {
                        let strips = cols.len().div_ceil(NR);
                        let mut out = vec![f32::NAN; strips * NR * depth.len()];
                        pack_b_panel(packer, &op, depth.clone(), cols.clone(), &mut out);
                        for (index, &value) in out.iter().enumerate() {
                            let (strip, p, j) = (
                                index / (NR * depth.len()),
                                index / NR % depth.len(),
                                index % NR,
                            );
                            let col = cols.start + strip * NR + j;
                            let want = if col < cols.end {
                                op.get(depth.start + p, col)
                            } else {
                                0.0
                            };
                            assert_eq!(
                                value, want,
                                "{packer:?} B, transposed {transposed}, {depth:?} x {cols:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
