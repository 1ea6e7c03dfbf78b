//! Element-wise and row-wise kernels the layers need. Plain loops over
//! contiguous slices: the compiler vectorises them, and they are memory-bound
//! anyway, so they stay simple. Each checks lengths and returns `ShapeError`.

use crate::{MatrixMut, MatrixRef, ShapeError};

fn same_len(op: &'static str, expected: usize, len: usize) -> Result<(), ShapeError> {
    if expected == len {
        Ok(())
    } else {
        Err(ShapeError::VectorLength { op, expected, len })
    }
}

/// `y += x`
pub fn add_assign(y: &mut [f32], x: &[f32]) -> Result<(), ShapeError> {
    same_len("add_assign", y.len(), x.len())?;
    y.iter_mut().zip(x).for_each(|(y, x)| *y += x);
    Ok(())
}

/// `y -= x`
pub fn sub_assign(y: &mut [f32], x: &[f32]) -> Result<(), ShapeError> {
    same_len("sub_assign", y.len(), x.len())?;
    y.iter_mut().zip(x).for_each(|(y, x)| *y -= x);
    Ok(())
}

/// `y *= x`, element by element (Hadamard product).
pub fn mul_assign(y: &mut [f32], x: &[f32]) -> Result<(), ShapeError> {
    same_len("mul_assign", y.len(), x.len())?;
    y.iter_mut().zip(x).for_each(|(y, x)| *y *= x);
    Ok(())
}

/// `y *= s`
pub fn scale(y: &mut [f32], s: f32) {
    y.iter_mut().for_each(|y| *y *= s);
}

/// `y += alpha * x` (BLAS axpy).
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    same_len("axpy", y.len(), x.len())?;
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
    Ok(())
}

/// Partial sums kept by [`sum`], [`sum_map`] and [`dot`]: one running sum
/// is a chain of dependent additions, each waiting for the one before;
/// eight let the compiler keep a vector register of them, added in parallel
/// (figures in BENCHMARKS.md, "Measurements behind the code").
const LANES: usize = 8;

/// `sum of f(x[i])`, in eight partial sums added at the end.
#[inline(always)]
pub fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut partial = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    partial.iter().sum::<f32>() + tail
}

/// `sum of x[i]`, in eight partial sums.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    sum_map(x, |v| v)
}

/// `sum of x[i] * y[i]`, in eight partial sums.
#[inline(always)]
pub fn dot(x: &[f32], y: &[f32]) -> Result<f32, ShapeError> {
    sum_zip_map(x, y, |x, y| x * y)
}

/// `sum of f(x[i], y[i])`, in eight partial sums.
#[inline(always)]
pub fn sum_zip_map(x: &[f32], y: &[f32], f: impl Fn(f32, f32) -> f32) -> Result<f32, ShapeError> {
    same_len("sum_zip_map", x.len(), y.len())?;
    let mut partial = [0.0f32; LANES];
    let (mut left, mut right) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    for (x, y) in (&mut left).zip(&mut right) {
        for ((p, &x), &y) in partial.iter_mut().zip(x).zip(y) {
            *p += f(x, y);
        }
    }
    let tail: f32 = left
        .remainder()
        .iter()
        .zip(right.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    Ok(partial.iter().sum::<f32>() + tail)
}

/// `y = f(y)` for every element.
pub fn map_in_place(y: &mut [f32], f: impl Fn(f32) -> f32) {
    y.iter_mut().for_each(|y| *y = f(*y));
}

/// `out = f(x)` for every element.
pub fn map(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) -> Result<(), ShapeError> {
    same_len("map", out.len(), x.len())?;
    out.iter_mut().zip(x).for_each(|(o, x)| *o = f(*x));
    Ok(())
}

/// `M[r][c] += row[c]` for every row r (bias add).
pub fn add_row_broadcast(mut m: MatrixMut<'_>, row: &[f32]) -> Result<(), ShapeError> {
    same_len("add_row_broadcast", m.cols(), row.len())?;
    for r in 0..m.rows() {
        add_assign(m.row_mut(r), row)?;
    }
    Ok(())
}

/// `out[c] = sum over rows r of M[r][c]` (bias gradient: `db = column sums of dY`).
pub fn column_sums(m: MatrixRef<'_>, out: &mut [f32]) -> Result<(), ShapeError> {
    same_len("column_sums", m.cols(), out.len())?;
    out.fill(0.0);
    for r in 0..m.rows() {
        add_assign(out, m.row(r))?;
    }
    Ok(())
}

/// Largest element of a non-empty row; `-inf` for an empty one.
pub fn max(row: &[f32]) -> f32 {
    row.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// Index of the largest element (the first on ties); 0 for an empty row.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// `e^(-t)` for `t >= 0` (0 beyond 87.3, where `f32` has only subnormals
/// left; NaN stays NaN), within 2 ulp, written without calls or branches so
/// that loops of it vectorise: libm's `expf` and `tanhf` were half of
/// LeNet-5's training time. `2^-k * e^-r` with `r` within `ln 2 / 2` of 0
/// and `e^-r` from its Taylor series to `r^7`.
#[inline(always)]
pub fn exp_minus(t: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, the first part exact in few bits, so `k * LN2_HIGH`
    // is exact and `r` loses nothing.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer, which lands in the low bits.
    const ROUND: f32 = 12_582_912.0;
    const LARGEST: f32 = 87.3;
    let t_in_range = t.min(LARGEST);
    let shifted = t_in_range * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let r = (t_in_range - k * LN2_HIGH) - k * LN2_LOW;
    let minus_r = -r;
    let mut series = 1.0 / 5040.0;
    for coefficient in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        series = series * minus_r + coefficient;
    }
    // 2^-k, built from its exponent bits (k <= 126 keeps it normal).
    let scale = f32::from_bits((127u32.wrapping_sub(k_bits)) << 23);
    let value = series * scale;
    if t.is_nan() {
        t
    } else if t > LARGEST {
        0.0
    } else {
        value
    }
}

/// `tanh(x)` within 3e-7 of the true value (relative, and absolute near 0),
/// vectorisable (see [`exp_minus`]): an odd Taylor series below 0.5,
/// `(1 - e^-2|x|) / (1 + e^-2|x|)` with the sign of `x` above.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let magnitude = x.abs();
    let square = x * x;
    // tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + ..., to x^13: the next
    // term is below 1e-7 of tanh x for |x| < 0.5.
    let mut series = 21844.0 / 6081075.0;
    for coefficient in [
        -1382.0 / 155925.0,
        62.0 / 2835.0,
        -17.0 / 315.0,
        2.0 / 15.0,
        -1.0 / 3.0,
        1.0,
    ] {
        series = series * square + coefficient;
    }
    let near_zero = x * series;
    let e = exp_minus(2.0 * magnitude);
    let far = ((1.0 - e) / (1.0 + e)).copysign(x);
    if magnitude < 0.5 || x.is_nan() {
        near_zero
    } else {
        far
    }
}

/// `1 / (1 + e^-x)` within 2e-7, vectorisable (see [`exp_minus`]):
/// `e / (1 + e)` with `e = e^x` for negative `x`, so nothing overflows.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp_minus(x.abs());
    let value = if x >= 0.0 { 1.0 } else { e } / (1.0 + e);
    if x.is_nan() {
        x
    } else {
        value
    }
}

/// `log(sum exp(x))`, computed as `max + log(sum exp(x - max))` so large
/// logits do not overflow.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let top = max(row);
    if !top.is_finite() {
        return top;
    }
    top + row.iter().map(|&x| (x - top).exp()).sum::<f32>().ln()
}

/// `row = softmax(row)`, stable for large logits (subtracts the max first).
pub fn softmax_in_place(row: &mut [f32]) {
    let top = max(row);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = (*x - top).exp();
        sum += *x;
    }
    scale(row, 1.0 / sum);
}

/// `out[r] = max of row r`.
pub fn row_max(m: MatrixRef<'_>, out: &mut [f32]) -> Result<(), ShapeError> {
    same_len("row_max", m.rows(), out.len())?;
    out.iter_mut()
        .enumerate()
        .for_each(|(r, o)| *o = max(m.row(r)));
    Ok(())
}

/// `out[r] = argmax of row r` (a batch of predictions).
pub fn row_argmax(m: MatrixRef<'_>, out: &mut [usize]) -> Result<(), ShapeError> {
    same_len("row_argmax", m.rows(), out.len())?;
    out.iter_mut()
        .enumerate()
        .for_each(|(r, o)| *o = argmax(m.row(r)));
    Ok(())
}

/// `out[r] = log_sum_exp of row r`.
pub fn row_log_sum_exp(m: MatrixRef<'_>, out: &mut [f32]) -> Result<(), ShapeError> {
    same_len("row_log_sum_exp", m.rows(), out.len())?;
    out.iter_mut()
        .enumerate()
        .for_each(|(r, o)| *o = log_sum_exp(m.row(r)));
    Ok(())
}

/// Softmax of every row, in place.
pub fn softmax_rows(mut m: MatrixMut<'_>) {
    for r in 0..m.rows() {
        softmax_in_place(m.row_mut(r));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_tanh_and_sigmoid_match_f64_within_their_bounds() {
        let relative = |ours: f32, exact: f64| {
            ((ours as f64 - exact) / exact.abs().max(f64::MIN_POSITIVE)).abs()
        };
        // Every 1/4096 over [-30, 30], past the exp's range, both tanh
        // branches, the switch at 0.5, and tiny values near 0.
        let sweep = (-30 * 4096..=30 * 4096).map(|i| i as f32 / 4096.0);
        let tiny = [1e-30f32, 1e-7, 3e-4, 0.4999999, 0.5, 0.5000001];
        for x in sweep.chain(tiny).chain(tiny.map(|t| -t)) {
            let x64 = x as f64;
            let tanh = super::tanh(x);
            assert!(relative(tanh, x64.tanh()) < 3e-7, "tanh({x}) = {tanh}");
            let sigmoid = super::sigmoid(x);
            let exact = 1.0 / (1.0 + (-x64).exp());
            assert!(relative(sigmoid, exact) < 3e-7, "sigmoid({x}) = {sigmoid}");
            if (0.0..=87.0).contains(&x) {
                let e = super::exp_minus(x);
                assert!(relative(e, (-x64).exp()) < 3e-7, "exp(-{x}) = {e}");
            }
        }
        assert_eq!(super::exp_minus(0.0), 1.0);
        assert_eq!(super::exp_minus(88.0), 0.0);
        assert_eq!(super::exp_minus(f32::INFINITY), 0.0);
        assert_eq!(super::tanh(f32::INFINITY), 1.0);
        assert_eq!(super::tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(super::tanh(0.0), 0.0);
        assert_eq!(super::sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(super::sigmoid(f32::INFINITY), 1.0);
        for nan in [
            super::exp_minus(f32::NAN),
            super::tanh(f32::NAN),
            super::sigmoid(f32::NAN),
        ] {
            assert!(nan.is_nan());
        }
    }

    use super::*;

    #[test]
    fn lane_sums_and_dots_match_f64_loops_at_every_length_and_tail() {
        for n in 0..41 {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.37).collect();
            let y: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.21).collect();
            let f64_sum: f64 = x.iter().map(|&v| v as f64).sum();
            let f64_squares: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
            let f64_dot: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!((sum(&x) as f64 - f64_sum).abs() < 1e-4, "{n}");
            assert!(
                (sum_map(&x, |v| v * v) as f64 - f64_squares).abs() < 1e-4,
                "{n}"
            );
            assert!((dot(&x, &y).unwrap() as f64 - f64_dot).abs() < 1e-4, "{n}");
        }
        assert!(dot(&[1.0], &[1.0, 2.0]).is_err());
    }
    use crate::Matrix;

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let mut row = [1000.0, 999.0, -1000.0];
        softmax_in_place(&mut row);
        let e = (-1.0f64).exp();
        let expected = [1.0 / (1.0 + e), e / (1.0 + e), 0.0];
        for (got, want) in row.iter().zip(expected) {
            assert!((*got as f64 - want).abs() < 1e-6, "{row:?}");
        }
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f32.ln())).abs() < 1e-3);
        assert_eq!(log_sum_exp(&[-1000.0, -1000.0]), -1000.0 + 2f32.ln());
    }

    #[test]
    fn column_sums_and_broadcast_are_inverse_views_of_bias() {
        let mut m = Matrix::from_fn(3, 2, |r, c| (r * 2 + c) as f32);
        let mut sums = [9.0; 2];
        column_sums(m.view(), &mut sums).unwrap();
        assert_eq!(sums, [6.0, 9.0]);
        add_row_broadcast(m.view_mut(), &[1.0, -1.0]).unwrap();
        assert_eq!(m.as_slice(), &[1.0, 0.0, 3.0, 2.0, 5.0, 4.0]);
        assert!(column_sums(m.view(), &mut [0.0; 3]).is_err());
    }

    #[test]
    fn argmax_takes_first_of_ties_and_rows() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        let m = Matrix::from_vec(2, 3, vec![0.0, 5.0, 1.0, 7.0, 0.0, 7.0]).unwrap();
        let mut out = [9; 2];
        row_argmax(m.view(), &mut out).unwrap();
        assert_eq!(out, [1, 0]);
    }

    #[test]
    fn axpy_and_friends_match_hand_values() {
        let mut y = [1.0, 2.0];
        axpy(2.0, &[3.0, 4.0], &mut y).unwrap();
        assert_eq!(y, [7.0, 10.0]);
        mul_assign(&mut y, &[2.0, 0.5]).unwrap();
        assert_eq!(y, [14.0, 5.0]);
        sub_assign(&mut y, &[4.0, 5.0]).unwrap();
        assert_eq!(y, [10.0, 0.0]);
        assert_eq!(dot(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 11.0);
        assert!(axpy(1.0, &[1.0], &mut y).is_err());
    }
}
