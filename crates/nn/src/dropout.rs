//! Inverted dropout (Srivastava et al. 2014, "Dropout: A Simple Way to Prevent
//! Neural Networks from Overfitting", JMLR 15): in training each unit is kept
//! with probability `1 - rate` and the kept ones are scaled by `1 / (1 - rate)`,
//! so evaluation is the identity and needs no rescaling.

use crate::activation::same_shape;
use crate::{NnError, Result};
use rand::{rngs::StdRng, RngCore, SeedableRng};
use tensor::{Matrix, MatrixMut, MatrixRef};

/// A dropout layer with its own seeded RNG, mask and output buffers.
#[derive(Clone, Debug)]
pub struct Dropout {
    rate: f32,
    rng: StdRng,
    /// `0` for a dropped unit, `1 / (1 - rate)` for a kept one; `[B, O]`.
    mask: Matrix,
    output: Matrix,
}

impl Dropout {
    /// Drops each unit with probability `rate` (in `[0, 1)`), drawing masks
    /// from an RNG seeded with `seed`.
    ///
    /// ```
    /// use nn::Dropout;
    /// use tensor::Matrix;
    /// let mut dropout = Dropout::new(0.5, 42).unwrap();
    /// let x = Matrix::filled(4, 100, 1.0);
    /// let y = dropout.forward(x.view()).unwrap();
    /// // Every unit is either dropped or doubled.
    /// assert!(y.as_slice().iter().all(|&v| v == 0.0 || v == 2.0));
    /// ```
    pub fn new(rate: f32, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&rate) {
            return Err(NnError::Spec {
                spec: rate.to_string(),
                problem: "dropout rate must be in [0, 1)".into(),
            });
        }
        Ok(Dropout {
            rate,
            rng: StdRng::seed_from_u64(seed),
            mask: Matrix::zeros(0, 0),
            output: Matrix::zeros(0, 0),
        })
    }

    /// Restarts the mask RNG from `seed`, as if built with it. A trainer
    /// that reseeds from (run seed, step) makes every mask a function of the
    /// step, so a resumed run draws the masks an uninterrupted one would.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// The probability of dropping each unit, in `[0, 1)`.
    pub fn rate(&self) -> f32 {
        self.rate
    }
    /// The mask of the last training forward pass.
    pub fn mask(&self) -> &Matrix {
        &self.mask
    }
    /// `Y = X * mask` of the last forward pass, `[B, O]`.
    pub fn output(&self) -> &Matrix {
        &self.output
    }

    /// Training forward: draws a fresh mask, `Y = X * mask`.
    pub fn forward(&mut self, input: MatrixRef<'_>) -> Result<&Matrix> {
        self.draw_mask(input.rows(), input.cols());
        self.forward_with_current_mask(input)
    }

    /// `Y = X * mask` with the mask of the last [`Dropout::forward`] (the
    /// same units dropped again; gradient checks need this).
    pub fn forward_with_current_mask(&mut self, input: MatrixRef<'_>) -> Result<&Matrix> {
        same_shape("Dropout forward", self.mask.shape(), input.shape())?;
        self.output.resize(input.rows(), input.cols());
        let out = self.output.as_mut_slice();
        for ((y, &x), &m) in out
            .iter_mut()
            .zip(input.as_slice())
            .zip(self.mask.as_slice())
        {
            *y = x * m;
        }
        Ok(&self.output)
    }

    /// dX = dY * mask, in place.
    pub fn backward_in_place(&self, mut grad: MatrixMut<'_>) -> Result<()> {
        same_shape("Dropout backward", self.mask.shape(), grad.shape())?;
        tensor::ops::mul_assign(grad.as_mut_slice(), self.mask.as_slice())?;
        Ok(())
    }

    fn draw_mask(&mut self, rows: usize, cols: usize) {
        self.mask.resize(rows, cols);
        let keep_scale = 1.0 / (1.0 - self.rate);
        // Compare raw 32-bit draws with a threshold: P(draw < threshold) = rate.
        let threshold = (self.rate as f64 * 4_294_967_296.0) as u64;
        for m in self.mask.as_mut_slice() {
            let draw = self.rng.next_u32() as u64;
            *m = if draw < threshold { 0.0 } else { keep_scale };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_rate_and_keeps_the_expected_sum() {
        let mut dropout = Dropout::new(0.3, 9).unwrap();
        let x = Matrix::filled(200, 500, 1.0);
        let y = dropout.forward(x.view()).unwrap();
        let n = y.len() as f64;
        let dropped = y.as_slice().iter().filter(|&&v| v == 0.0).count() as f64 / n;
        assert!((dropped - 0.3).abs() < 0.005, "{dropped}");
        let mean = y.as_slice().iter().map(|&v| v as f64).sum::<f64>() / n;
        assert!(
            (mean - 1.0).abs() < 0.01,
            "inverted dropout keeps E[Y] = X: {mean}"
        );
    }

    #[test]
    fn rate_zero_keeps_everything_and_bad_rates_are_errors() {
        let mut dropout = Dropout::new(0.0, 1).unwrap();
        let x = Matrix::from_fn(3, 3, |r, c| (r + c) as f32);
        assert_eq!(dropout.forward(x.view()).unwrap(), &x);
        assert!(Dropout::new(1.0, 1).is_err());
        assert!(Dropout::new(-0.1, 1).is_err());
        assert!(Dropout::new(f32::NAN, 1).is_err());
    }

    #[test]
    fn same_seed_same_masks_and_masks_change_between_steps() {
        let x = Matrix::filled(8, 8, 1.0);
        let mut a = Dropout::new(0.5, 4).unwrap();
        let mut b = Dropout::new(0.5, 4).unwrap();
        let first = a.forward(x.view()).unwrap().clone();
        assert_eq!(&first, b.forward(x.view()).unwrap());
        assert_ne!(&first, a.forward(x.view()).unwrap());
        a.reseed(4);
        assert_eq!(&first, a.forward(x.view()).unwrap(), "reseeding replays");
    }
}
