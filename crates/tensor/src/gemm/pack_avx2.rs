//! AVX2 packing of "distant lanes" strips (plain A, transposed B): the
//! strip's lanes are rows of the stored matrix, so packing is a transpose.
//! Done 8 x 8 in registers it costs a fraction of a cycle per value, where
//! the scalar gather cost about one: for the MLP's shapes, whose packed
//! values are each used only ~100 times, that gather was a quarter of the GEMM.
//! Also the plain transpose of a range of columns that the dot-product path
//! makes of a plain B.

use std::arch::x86_64::*;
use std::ops::Range;

/// Packs one full strip of `W` lanes (`W` = 6 or 32): element (lane, step)
/// is `source[(first_lane + lane) * row_length + depth_start + step]`,
/// written to `strip[step * W + lane]` for `step < kc`.
///
/// # Safety
/// The CPU supports AVX2. (Bounds are checked: every lane's run of `kc`
/// values is sliced from `source`, and `strip` must hold `W * kc` values.)
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pack_full_strip<const W: usize>(
    source: &[f32],
    row_length: usize,
    first_lane: usize,
    depth_start: usize,
    kc: usize,
    strip: &mut [f32],
) {
    assert!(strip.len() >= W * kc);
    let runs: [&[f32]; W] = std::array::from_fn(|lane| {
        let start = (first_lane + lane) * row_length + depth_start;
        &source[start..start + kc]
    });
    let steps_in_blocks = kc / 8 * 8;
    for group in (0..W).step_by(8) {
        let lanes = 8.min(W - group);
        for p in (0..steps_in_blocks).step_by(8) {
            // Rows of the 8 x 8 block: 8 steps of one lane each (missing
            // lanes of a 6-lane group are zeros and never stored).
            let rows: [__m256; 8] = std::array::from_fn(|l| {
                if l < lanes {
                    // SAFETY: `p + 8 <= kc` = the run's length.
                    unsafe { _mm256_loadu_ps(runs[group + l].as_ptr().add(p)) }
                } else {
                    _mm256_setzero_ps()
                }
            });
            let columns = transpose_8x8(rows);
            for (s, column) in columns.iter().enumerate() {
                let offset = (p + s) * W + group;
                // SAFETY: `offset + lanes <= (kc - 1) * W + W <= strip.len()`
                // because `p + s < kc` and `group + lanes <= W`.
                unsafe {
                    let out = strip.as_mut_ptr().add(offset);
                    if lanes == 8 {
                        _mm256_storeu_ps(out, *column);
                    } else {
                        debug_assert_eq!(lanes, 6);
                        _mm_storeu_ps(out, _mm256_castps256_ps128(*column));
                        let high = _mm256_extractf128_ps::<1>(*column);
                        _mm_storel_epi64(out.add(4) as *mut __m128i, _mm_castps_si128(high));
                    }
                }
            }
        }
    }
    for p in steps_in_blocks..kc {
        for (lane, run) in runs.iter().enumerate() {
            strip[p * W + lane] = run[p];
        }
    }
}

/// Writes columns `cols` of `source` (`rows` rows, `row_length` apart) as
/// rows of `out`, one after another: `out[(j - cols.start) * rows + p]` =
/// `source[p * row_length + j]`.
///
/// # Safety
/// The CPU supports AVX2. (Bounds are checked: `source` must hold the
/// `rows` rows up to column `cols.end` and `out` `cols.len() * rows` values.)
#[target_feature(enable = "avx2")]
pub(super) unsafe fn transpose_columns(
    source: &[f32],
    row_length: usize,
    rows: usize,
    cols: Range<usize>,
    out: &mut [f32],
) {
    assert!(cols.end <= row_length && out.len() >= cols.len() * rows);
    assert!(rows == 0 || source.len() >= (rows - 1) * row_length + cols.end);
    let out_row = |j: usize| (j - cols.start) * rows;
    let (block_rows, block_cols) = (rows / 8 * 8, cols.start + cols.len() / 8 * 8);
    for p in (0..block_rows).step_by(8) {
        for j in (cols.start..block_cols).step_by(8) {
            // SAFETY: rows `p..p + 8 <= rows` and columns `j..j + 8 <=
            // cols.end` of `source` (asserted above).
            let block: [__m256; 8] = std::array::from_fn(|r| unsafe {
                _mm256_loadu_ps(source.as_ptr().add((p + r) * row_length + j))
            });
            for (c, column) in transpose_8x8(block).iter().enumerate() {
                // SAFETY: `out_row(j + c) + p + 8 <= out_row(j + c) + rows`,
                // inside `out` (asserted above) as `j + c < cols.end`.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(out_row(j + c) + p), *column) };
            }
        }
        for j in block_cols..cols.end {
            for r in p..p + 8 {
                out[out_row(j) + r] = source[r * row_length + j];
            }
        }
    }
    for p in block_rows..rows {
        for j in cols.clone() {
            out[out_row(j) + p] = source[p * row_length + j];
        }
    }
}

/// Transposes 8 rows of 8 values: output `s` holds element `s` of every row.
#[inline(always)]
fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: these are register-only shuffles; AVX2 (which implies AVX) is
    // enabled in both callers, into which this is inlined.
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edge of the 8 x 8 blocks: fewer than 8 rows, rows and columns
    /// past the last whole block, ranges not starting at a multiple of 8;
    /// values past the output's end must survive.
    #[test]
    fn transposed_columns_are_the_definition() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        for rows in [0, 1, 7, 8, 9, 17, 24] {
            for cols in [0..0, 0..1, 0..8, 3..11, 5..22, 0..16, 9..10] {
                let row_length = cols.end + 3;
                let source: Vec<f32> = (0..rows * row_length).map(|x| x as f32).collect();
                let len = cols.len() * rows;
                let mut out = vec![-1.0; len + 5];
                // SAFETY: AVX2 was detected above.
                unsafe { transpose_columns(&source, row_length, rows, cols.clone(), &mut out) };
                for (c, j) in cols.clone().enumerate() {
                    for p in 0..rows {
                        assert_eq!(
                            out[c * rows + p],
                            source[p * row_length + j],
                            "{rows} rows, columns {cols:?}: ({p}, {j})"
                        );
                    }
                }
                assert!(out[len..].iter().all(|&x| x == -1.0), "wrote past the end");
            }
        }
    }
}
