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

/// Packs `op(A)[rows, depth]` into `MR`-row strips in `out`
/// (`ceil(rows.len() / MR) * MR * depth.len()` values).
pub(crate) fn pack_a_panel(a: &Operand, rows: Range<usize>, depth: Range<usize>, out: &mut [f32]) {
    let source = a.matrix.as_slice();
    let row_length = a.matrix.cols();
    if a.transposed {
        // op(A)[i][p] = stored[p][i]: a strip's rows are adjacent.
        pack_adjacent_lanes::<MR>(source, row_length, rows, depth, out);
    } else {
        pack_distant_lanes::<MR>(source, row_length, rows, depth, out);
    }
}

/// Packs `op(B)[depth, cols]` into `NR`-column strips in `out`
/// (`ceil(cols.len() / NR) * NR * depth.len()` values).
pub(crate) fn pack_b_panel(b: &Operand, depth: Range<usize>, cols: Range<usize>, out: &mut [f32]) {
    let source = b.matrix.as_slice();
    let row_length = b.matrix.cols();
    if b.transposed {
        // op(B)[p][j] = stored[j][p]: a strip's columns are a row apart.
        pack_distant_lanes::<NR>(source, row_length, cols, depth, out);
    } else {
        pack_adjacent_lanes::<NR>(source, row_length, cols, depth, out);
    }
}

/// Strips of `W` lanes where element (lane, step) is `source[step * row_length + lane]`:
/// each step copies a run of `W` adjacent values.
fn pack_adjacent_lanes<const W: usize>(
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
        for (step, packed) in depth.clone().zip(strip.chunks_exact_mut(W)) {
            let start = step * row_length + first_lane;
            if width == W {
                // A copy of constant length: a few vector moves, not a memmove call.
                packed.copy_from_slice(&source[start..start + W]);
            } else {
                packed[..width].copy_from_slice(&source[start..start + width]);
                packed[width..].fill(0.0);
            }
        }
    }
}

/// Strips of `W` lanes where element (lane, step) is `source[lane * row_length + step]`:
/// each lane is a contiguous run along the depth, written `W` apart.
fn pack_distant_lanes<const W: usize>(
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
        for lane in 0..W {
            if lane < width {
                let start = (first_lane + lane) * row_length + depth.start;
                let run = &source[start..start + kc];
                // One lane at a time: sequential reads, stores `W` apart into
                // a strip small enough to stay in L1 across the lanes.
                for (packed, &value) in strip.chunks_exact_mut(W).zip(run) {
                    packed[lane] = value;
                }
            } else {
                for packed in strip.chunks_exact_mut(W) {
                    packed[lane] = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    #[test]
    fn packs_every_layout_into_strips_with_zero_padding() {
        // 7 x 5 stored matrix; value encodes its (row, col).
        let m = Matrix::from_fn(7, 5, |r, c| (r * 10 + c) as f32 + 1.0);
        for transposed in [false, true] {
            let op = Operand {
                matrix: m.view(),
                transposed,
            };
            // A block: rows 1..op.rows(), depth 1..op.cols()-1.
            let (rows, depth) = (1..op.rows(), 1..op.cols() - 1);
            let strips = rows.len().div_ceil(MR);
            let mut out = vec![f32::NAN; strips * MR * depth.len()];
            pack_a_panel(&op, rows.clone(), depth.clone(), &mut out);
            for s in 0..strips {
                for (p, step) in depth.clone().enumerate() {
                    for i in 0..MR {
                        let row = rows.start + s * MR + i;
                        let want = if row < rows.end {
                            op.get(row, step)
                        } else {
                            0.0
                        };
                        assert_eq!(out[(s * depth.len() + p) * MR + i], want);
                    }
                }
            }
            // The same matrix as B: depth is op's rows, lanes its columns.
            let (depth, cols) = (2..op.rows(), 0..op.cols());
            let strips = cols.len().div_ceil(NR);
            let mut out = vec![f32::NAN; strips * NR * depth.len()];
            pack_b_panel(&op, depth.clone(), cols.clone(), &mut out);
            for (p, step) in depth.clone().enumerate() {
                for j in 0..NR {
                    let want = if j < cols.end { op.get(step, j) } else { 0.0 };
                    assert_eq!(out[p * NR + j], want);
                }
            }
        }
        // A full strip of distant lanes (16 rows of a transposed B).
        let wide = Matrix::from_fn(NR + 3, 4, |r, c| (r * 100 + c) as f32);
        let op = Operand {
            matrix: wide.view(),
            transposed: true,
        };
        let mut out = vec![f32::NAN; 2 * NR * 4];
        pack_b_panel(&op, 0..4, 0..NR + 3, &mut out);
        for (s, p, j) in
            (0..2).flat_map(|s| (0..4).flat_map(move |p| (0..NR).map(move |j| (s, p, j))))
        {
            let col = s * NR + j;
            let want = if col < NR + 3 { op.get(p, col) } else { 0.0 };
            assert_eq!(out[(s * 4 + p) * NR + j], want);
        }
    }
}
