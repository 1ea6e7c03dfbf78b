//! Gradient clipping by global norm (Pascanu et al. 2013, "On the difficulty
//! of training recurrent neural networks"; PyTorch's `clip_grad_norm_`).
//!
//! Gradients reach the optimizer read-only, so instead of rewriting them we
//! compute one factor and every optimizer multiplies its gradients by it as
//! it reads them (see `RuleOptimizer::step`). No optimizer re-implements this.

use crate::Param;

/// `sqrt(sum over all parameters and elements of g^2)`, accumulated in f64 so
/// that millions of small squares do not lose precision.
pub fn global_grad_norm(params: &[Param<'_>]) -> f32 {
    let total: f64 = params.iter().map(|p| sum_of_squares(p.grad)).sum();
    total.sqrt() as f32
}

/// `sum of x^2` in f64. Eight running sums instead of one: a single sum is a
/// chain of dependent f64 additions, each waiting for the last; eight
/// independent ones overlap and vectorise (`examples/step_timing.rs`;
/// figures in BENCHMARKS.md, "Measurements behind the code").
fn sum_of_squares(x: &[f32]) -> f64 {
    let mut lanes = [0.0_f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = (chunks.remainder().iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// The factor that brings a gradient of norm `total_norm` down to `max_norm`:
/// `min(1, max_norm / total_norm)`. Unlike PyTorch we add no epsilon to the
/// denominator, so a clipped gradient has norm `max_norm` exactly (up to
/// rounding); `total_norm > max_norm >= 0` keeps the division safe.
pub fn clip_factor(total_norm: f32, max_norm: f32) -> f32 {
    if total_norm > max_norm {
        max_norm / total_norm
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_spans_all_parameters() {
        let (mut a, mut b) = ([0.0; 2], [0.0; 1]);
        let params = [
            Param {
                name: "a",
                value: &mut a,
                grad: &[3.0, 4.0],
            },
            Param {
                name: "b",
                value: &mut b,
                grad: &[12.0],
            },
        ];
        // sqrt(9 + 16 + 144) = sqrt(169) = 13
        assert_eq!(global_grad_norm(&params), 13.0);
        assert_eq!(global_grad_norm(&[]), 0.0);
    }

    #[test]
    fn sum_of_squares_matches_a_naive_loop_at_every_length() {
        for len in 0..40 {
            let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
            let naive: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
            let fast = sum_of_squares(&x);
            assert!((fast - naive).abs() <= 1e-12 * naive.max(1.0), "len {len}");
        }
    }

    #[test]
    fn factor_only_shrinks() {
        assert_eq!(clip_factor(13.0, 6.5), 0.5);
        assert_eq!(clip_factor(13.0, 13.0), 1.0);
        assert_eq!(clip_factor(1.0, 5.0), 1.0);
        assert_eq!(clip_factor(0.0, 0.0), 1.0);
        assert_eq!(clip_factor(2.0, 0.0), 0.0);
    }
}
