//! The naive triple loop: the algorithmic reference every fast path is
//! tested against. Accumulates in `f64` so it is the more accurate side.

use super::{check_shapes, Epilogue, Operand};
use crate::{MatrixMut, ShapeError};

/// `C = act(alpha * op(A) * op(B) + beta * C + bias)` by the definition.
/// Slow on purpose; for tests and as executable documentation.
pub fn reference_gemm<'a>(
    alpha: f32,
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'a>>,
    beta: f32,
    c: MatrixMut<'_>,
    epilogue: Epilogue<'_>,
) -> Result<(), ShapeError> {
    let (a, b) = (a.into(), b.into());
    check_shapes(&a, &b, &c, &epilogue)?;
    gemm_unchecked(alpha, &a, &b, beta, c, epilogue);
    Ok(())
}

pub(super) fn gemm_unchecked(
    alpha: f32,
    a: &Operand,
    b: &Operand,
    beta: f32,
    mut c: MatrixMut<'_>,
    epilogue: Epilogue<'_>,
) {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    for i in 0..m {
        for j in 0..n {
            let mut dot = 0.0f64;
            for p in 0..k {
                dot += a.get(i, p) as f64 * b.get(p, j) as f64;
            }
            let old = if beta == 0.0 { 0.0 } else { beta * c.row(i)[j] };
            let mut value = alpha * dot as f32 + old;
            match epilogue {
                Epilogue::None => {}
                Epilogue::Bias(bias) => value += bias[j],
                Epilogue::BiasRelu(bias) => value = (value + bias[j]).max(0.0),
            }
            c.row_mut(i)[j] = value;
        }
    }
}
