//! AVX2 packing of "distant lanes" strips (plain A, transposed B): the
//! strip's lanes are rows of the stored matrix, so packing is a transpose.
//! Done 8 x 8 in registers it costs a fraction of a cycle per value, where
//! the scalar gather cost about one: for the MLP's shapes, whose packed
//! values are each used only ~100 times, that gather was a quarter of the GEMM.

use std::arch::x86_64::*;

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

/// Transposes 8 rows of 8 values: output `s` holds element `s` of every row.
#[inline(always)]
fn transpose_8x8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: these are register-only shuffles; AVX2 (which implies AVX) is
    // enabled in the only caller, into which this is inlined.
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
