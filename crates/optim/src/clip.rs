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
    let sum_of_squares: f64 = params
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|&g| f64::from(g) * f64::from(g))
        .sum();
    sum_of_squares.sqrt() as f32
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
    fn factor_only_shrinks() {
        assert_eq!(clip_factor(13.0, 6.5), 0.5);
        assert_eq!(clip_factor(13.0, 13.0), 1.0);
        assert_eq!(clip_factor(1.0, 5.0), 1.0);
        assert_eq!(clip_factor(0.0, 0.0), 1.0);
        assert_eq!(clip_factor(2.0, 0.0), 0.0);
    }
}
