//! Losses. Each returns the mean loss over the batch and writes `dL/d(input)`
//! into a caller-owned gradient buffer (resized to the input's shape, so one
//! buffer is reused step after step).
//!
//! The two that start from logits fuse their final activation into the loss,
//! which is both cheaper and numerically stable:
//! softmax + cross-entropy has the gradient `(p - y) / B`, and
//! sigmoid + binary cross-entropy has `(sigmoid(z) - y) / (B * O)`.

use crate::activation::{same_shape, sigmoid};
use crate::{NnError, Result};
use tensor::{Matrix, MatrixRef};

/// What a classification loss is compared against.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per row, in `0..O`.
    Classes(&'a [usize]),
    /// One class index per row as a byte (MNIST labels), in `0..O`.
    Labels(&'a [u8]),
    /// A `[B, O]` matrix of target probabilities (one-hot or soft labels).
    Probabilities(MatrixRef<'a>),
}

impl<'a> Targets<'a> {
    /// The targets of rows `range` alone.
    pub(crate) fn rows(self, range: std::ops::Range<usize>) -> Targets<'a> {
        match self {
            Targets::Classes(c) => Targets::Classes(&c[range]),
            Targets::Labels(l) => Targets::Labels(&l[range]),
            Targets::Probabilities(p) => Targets::Probabilities(p.rows_range(range)),
        }
    }

    /// The true class of `row`: its label, or its most probable class.
    pub(crate) fn class(&self, row: usize) -> usize {
        match self {
            Targets::Classes(c) => c[row],
            Targets::Labels(l) => usize::from(l[row]),
            Targets::Probabilities(p) => tensor::ops::argmax(p.row(row)),
        }
    }

    /// As many targets as `rows`, each a class in `0..classes` (or a
    /// `[rows, classes]` matrix).
    pub(crate) fn check(&self, rows: usize, classes: usize) -> Result<()> {
        let check_labels = |labels: &mut dyn Iterator<Item = usize>| -> Result<()> {
            for (row, label) in labels.enumerate() {
                if label >= classes {
                    return Err(NnError::LabelOutOfRange {
                        row,
                        label,
                        classes,
                    });
                }
            }
            Ok(())
        };
        let count = match self {
            Targets::Classes(c) => c.len(),
            Targets::Labels(l) => l.len(),
            Targets::Probabilities(p) => {
                same_shape("cross-entropy targets", (rows, classes), p.shape())?;
                rows
            }
        };
        if count != rows {
            return Err(NnError::TargetCount {
                rows,
                targets: count,
            });
        }
        match self {
            Targets::Classes(c) => check_labels(&mut c.iter().copied()),
            Targets::Labels(l) => check_labels(&mut l.iter().map(|&l| l as usize)),
            Targets::Probabilities(_) => Ok(()),
        }
    }
}

/// Softmax + cross-entropy from logits `Z` `[B, O]`:
/// `L = mean over rows of (log sum exp(z) - sum_j y_j z_j)`, `dZ = (softmax(Z) - Y) / B`.
///
/// Stable for any finite logits: the row maximum is subtracted before `exp`.
///
/// ```
/// use nn::{softmax_cross_entropy, Targets};
/// use tensor::Matrix;
/// let logits = Matrix::from_vec(1, 2, vec![0.0, 0.0]).unwrap();
/// let mut grad = Matrix::zeros(0, 0);
/// let loss = softmax_cross_entropy(logits.view(), Targets::Classes(&[1]), &mut grad).unwrap();
/// assert!((loss - 2f32.ln()).abs() < 1e-6); // two equally likely classes
/// assert_eq!(grad.as_slice(), &[0.5, -0.5]);  // (p - y) / B
/// ```
pub fn softmax_cross_entropy(
    logits: MatrixRef<'_>,
    targets: Targets<'_>,
    grad: &mut Matrix,
) -> Result<f32> {
    let (rows, classes) = logits.shape();
    targets.check(rows, classes)?;
    grad.resize(rows, classes);
    if rows == 0 {
        return Ok(0.0);
    }
    let inv_batch = 1.0 / rows as f32;
    let mut total = 0.0f64;
    for r in 0..rows {
        let z = logits.row(r);
        let g = grad.row_mut(r);
        let top = tensor::ops::max(z);
        let mut sum = 0.0f32;
        for (g, &z) in g.iter_mut().zip(z) {
            *g = (z - top).exp();
            sum += *g;
        }
        let log_sum_exp = top + sum.ln();
        let to_grad = inv_batch / sum;
        g.iter_mut().for_each(|g| *g *= to_grad);
        match targets {
            Targets::Classes(c) => {
                total += (log_sum_exp - z[c[r]]) as f64;
                g[c[r]] -= inv_batch;
            }
            Targets::Labels(l) => {
                let c = l[r] as usize;
                total += (log_sum_exp - z[c]) as f64;
                g[c] -= inv_batch;
            }
            Targets::Probabilities(p) => {
                for ((g, &z), &y) in g.iter_mut().zip(z).zip(p.row(r)) {
                    if y != 0.0 {
                        total += (y * (log_sum_exp - z)) as f64;
                    }
                    *g -= y * inv_batch;
                }
            }
        }
    }
    Ok((total / rows as f64) as f32)
}

/// Mean squared error over all elements (PyTorch's `MSELoss()` default):
/// `L = mean (p - t)^2`, `dP = 2 (p - t) / (B * O)`.
///
/// ```
/// use nn::mse;
/// use tensor::Matrix;
/// let p = Matrix::from_vec(1, 2, vec![1.0, 3.0]).unwrap();
/// let t = Matrix::from_vec(1, 2, vec![0.0, 1.0]).unwrap();
/// let mut grad = Matrix::zeros(0, 0);
/// assert_eq!(mse(p.view(), t.view(), &mut grad).unwrap(), 2.5); // (1 + 4) / 2
/// assert_eq!(grad.as_slice(), &[1.0, 2.0]);
/// ```
pub fn mse(prediction: MatrixRef<'_>, target: MatrixRef<'_>, grad: &mut Matrix) -> Result<f32> {
    same_shape("mse target", prediction.shape(), target.shape())?;
    grad.resize(prediction.rows(), prediction.cols());
    let n = prediction.as_slice().len();
    if n == 0 {
        return Ok(0.0);
    }
    let to_grad = 2.0 / n as f32;
    let mut total = 0.0f64;
    let pairs = prediction.as_slice().iter().zip(target.as_slice());
    for (g, (&p, &t)) in grad.as_mut_slice().iter_mut().zip(pairs) {
        let diff = p - t;
        total += (diff * diff) as f64;
        *g = diff * to_grad;
    }
    Ok((total / n as f64) as f32)
}

/// Sigmoid + binary cross-entropy from logits, mean over all elements
/// (PyTorch's `BCEWithLogitsLoss()`): per element
/// `L = max(z, 0) - z t + log1p(exp(-|z|))` (the softplus form, finite for
/// any finite `z`), `dZ = (sigmoid(z) - t) / (B * O)`.
///
/// ```
/// use nn::sigmoid_binary_cross_entropy;
/// use tensor::Matrix;
/// let z = Matrix::from_vec(1, 1, vec![0.0]).unwrap();
/// let t = Matrix::from_vec(1, 1, vec![1.0]).unwrap();
/// let mut grad = Matrix::zeros(0, 0);
/// let loss = sigmoid_binary_cross_entropy(z.view(), t.view(), &mut grad).unwrap();
/// assert!((loss - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(grad.as_slice(), &[-0.5]);
/// ```
pub fn sigmoid_binary_cross_entropy(
    logits: MatrixRef<'_>,
    targets: MatrixRef<'_>,
    grad: &mut Matrix,
) -> Result<f32> {
    same_shape(
        "binary cross-entropy targets",
        logits.shape(),
        targets.shape(),
    )?;
    grad.resize(logits.rows(), logits.cols());
    let n = logits.as_slice().len();
    if n == 0 {
        return Ok(0.0);
    }
    let to_grad = 1.0 / n as f32;
    let mut total = 0.0f64;
    let pairs = logits.as_slice().iter().zip(targets.as_slice());
    for (g, (&z, &t)) in grad.as_mut_slice().iter_mut().zip(pairs) {
        total += (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()) as f64;
        *g = (sigmoid(z) - t) * to_grad;
    }
    Ok((total / n as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_is_finite_and_right_for_huge_logits() {
        let logits =
            Matrix::from_vec(2, 3, vec![1000.0, -1000.0, 0.0, -1000.0, 1000.0, 1000.0]).unwrap();
        let mut grad = Matrix::zeros(0, 0);
        // Row 0, class 0: p = 1, loss 0. Row 1, class 0: loss = lse - z0
        // = 1000 + ln 2 + 1000.
        let loss =
            softmax_cross_entropy(logits.view(), Targets::Labels(&[0, 0]), &mut grad).unwrap();
        let want = (0.0 + 2000.0 + 2f64.ln()) / 2.0;
        assert!(((loss as f64) - want).abs() < 1e-3, "{loss}");
        assert!(grad.as_slice().iter().all(|g| g.is_finite()));
        // dZ = (p - y) / 2: row 0 p = [1, 0, 0], row 1 p = [0, 0.5, 0.5].
        let want_grad = [0.0, 0.0, 0.0, -0.5, 0.25, 0.25];
        for (g, w) in grad.as_slice().iter().zip(want_grad) {
            assert!((g - w).abs() < 1e-7, "{grad:?}");
        }
        // The same with one-hot probabilities.
        let one_hot = Matrix::from_vec(2, 3, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).unwrap();
        let mut grad2 = Matrix::zeros(0, 0);
        let loss2 = softmax_cross_entropy(
            logits.view(),
            Targets::Probabilities(one_hot.view()),
            &mut grad2,
        )
        .unwrap();
        assert_eq!(loss, loss2);
        assert_eq!(grad, grad2);
    }

    #[test]
    fn cross_entropy_matches_an_f64_reference_on_ordinary_logits() {
        let logits = Matrix::from_fn(3, 4, |r, c| ((r * 4 + c) as f32 * 0.7).sin() * 3.0);
        let labels = [2usize, 0, 3];
        let mut grad = Matrix::zeros(0, 0);
        let loss =
            softmax_cross_entropy(logits.view(), Targets::Classes(&labels), &mut grad).unwrap();
        let mut want = 0.0f64;
        for (r, &label) in labels.iter().enumerate() {
            let z: Vec<f64> = logits.row(r).iter().map(|&v| v as f64).collect();
            let sum: f64 = z.iter().map(|v| v.exp()).sum();
            want += -(z[label].exp() / sum).ln();
        }
        want /= 3.0;
        assert!((loss as f64 - want).abs() < 1e-5, "{loss} vs {want}");
    }

    #[test]
    fn bad_targets_are_errors() {
        let logits = Matrix::zeros(2, 3);
        let mut grad = Matrix::zeros(0, 0);
        let err =
            softmax_cross_entropy(logits.view(), Targets::Labels(&[0, 3]), &mut grad).unwrap_err();
        assert!(matches!(
            err,
            NnError::LabelOutOfRange {
                row: 1,
                label: 3,
                classes: 3
            }
        ));
        assert!(matches!(
            softmax_cross_entropy(logits.view(), Targets::Classes(&[0]), &mut grad),
            Err(NnError::TargetCount {
                rows: 2,
                targets: 1
            })
        ));
        let wrong = Matrix::zeros(2, 2);
        assert!(softmax_cross_entropy(
            logits.view(),
            Targets::Probabilities(wrong.view()),
            &mut grad
        )
        .is_err());
        assert!(mse(logits.view(), wrong.view(), &mut grad).is_err());
        assert!(sigmoid_binary_cross_entropy(logits.view(), wrong.view(), &mut grad).is_err());
    }

    #[test]
    fn binary_cross_entropy_is_finite_for_huge_logits() {
        let z = Matrix::from_vec(1, 4, vec![1000.0, -1000.0, 1000.0, -1000.0]).unwrap();
        let t = Matrix::from_vec(1, 4, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let mut grad = Matrix::zeros(0, 0);
        let loss = sigmoid_binary_cross_entropy(z.view(), t.view(), &mut grad).unwrap();
        // Two right answers cost 0, two wrong ones cost 1000 each.
        assert!((loss - 500.0).abs() < 1e-3, "{loss}");
        assert_eq!(grad.as_slice(), &[0.0, 0.0, 0.25, -0.25]);
    }
}
