//! Weight initialisations. Biases always start at zero.
//!
//! - He / Kaiming (He et al. 2015, "Delving Deep into Rectifiers",
//!   arXiv:1502.01852): variance `2 / fan_in`, for ReLU networks.
//! - Xavier / Glorot (Glorot & Bengio 2010, "Understanding the difficulty of
//!   training deep feedforward neural networks"): variance
//!   `2 / (fan_in + fan_out)`, for sigmoid and tanh networks.
//! - The tutorials' small random weights: standard normal times 0.01.
//!
//! A normal sample is drawn by the Box-Muller transform (Box & Muller 1958),
//! so `rand` without `rand_distr` is enough.

use crate::{NnError, Result};
use rand::Rng;
use std::fmt;

/// How to draw the initial weights of a `[O, I]` layer (`fan_in = I`,
/// `fan_out = O`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Init {
    /// `N(0, 2 / fan_in)`.
    #[default]
    HeNormal,
    /// `U(-sqrt(6 / fan_in), sqrt(6 / fan_in))`.
    HeUniform,
    /// `N(0, 2 / (fan_in + fan_out))`.
    XavierNormal,
    /// `U(-sqrt(6 / (fan_in + fan_out)), +sqrt(...))`.
    XavierUniform,
    /// `N(0, 1) * 0.01`.
    SmallNormal,
}

impl Init {
    /// Fills `weight` (a `fan_out x fan_in` layer, row-major) from `rng`.
    ///
    /// ```
    /// use nn::Init;
    /// use rand::{rngs::StdRng, SeedableRng};
    /// let mut w = vec![0.0f32; 100 * 50];
    /// Init::HeUniform.fill(&mut w, 50, 100, &mut StdRng::seed_from_u64(7));
    /// let bound = (6.0f32 / 50.0).sqrt();
    /// assert!(w.iter().all(|v| v.abs() <= bound));
    /// ```
    pub fn fill(&self, weight: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut impl Rng) {
        let (fan_in, fan_out) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match *self {
            Init::HeNormal => fill_normal(weight, (2.0 / fan_in).sqrt(), rng),
            Init::HeUniform => fill_uniform(weight, (6.0 / fan_in).sqrt(), rng),
            Init::XavierNormal => fill_normal(weight, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::XavierUniform => fill_uniform(weight, (6.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::SmallNormal => fill_normal(weight, 0.01, rng),
        }
    }

    /// Parses `he_normal`, `he_uniform`, `xavier_normal`, `xavier_uniform`,
    /// `small` (also `kaiming_*`, `glorot_*`).
    pub fn parse(text: &str) -> Result<Init> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "he" | "he_normal" | "kaiming" | "kaiming_normal" => Init::HeNormal,
            "he_uniform" | "kaiming_uniform" => Init::HeUniform,
            "xavier" | "xavier_normal" | "glorot" | "glorot_normal" => Init::XavierNormal,
            "xavier_uniform" | "glorot_uniform" => Init::XavierUniform,
            "small" | "small_normal" => Init::SmallNormal,
            other => {
                return Err(NnError::Spec {
                    spec: text.to_string(),
                    problem: format!(
                        "unknown initialisation {other:?} (expected he_normal, he_uniform, \
                         xavier_normal, xavier_uniform or small)"
                    ),
                })
            }
        })
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::HeNormal => "he_normal",
            Init::HeUniform => "he_uniform",
            Init::XavierNormal => "xavier_normal",
            Init::XavierUniform => "xavier_uniform",
            Init::SmallNormal => "small",
        })
    }
}

/// One `N(0, 1)` sample: `sqrt(-2 ln u1) * cos(2 pi u2)` with `u1` in `(0, 1]`
/// (never 0, so the logarithm is finite).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn fill_normal(weight: &mut [f32], std: f64, rng: &mut impl Rng) {
    weight
        .iter_mut()
        .for_each(|w| *w = (standard_normal(rng) * std) as f32);
}

fn fill_uniform(weight: &mut [f32], bound: f64, rng: &mut impl Rng) {
    weight
        .iter_mut()
        .for_each(|w| *w = rng.gen_range(-bound..bound) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn mean_and_std(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn each_scheme_has_its_documented_spread() {
        let (fan_in, fan_out) = (400, 250);
        let uniform_std = |bound: f64| bound / 3f64.sqrt();
        let cases = [
            (Init::HeNormal, (2.0 / 400.0f64).sqrt()),
            (Init::HeUniform, uniform_std((6.0 / 400.0f64).sqrt())),
            (Init::XavierNormal, (2.0 / 650.0f64).sqrt()),
            (Init::XavierUniform, uniform_std((6.0 / 650.0f64).sqrt())),
            (Init::SmallNormal, 0.01),
        ];
        for (init, want_std) in cases {
            let mut w = vec![0.0f32; fan_in * fan_out];
            init.fill(&mut w, fan_in, fan_out, &mut StdRng::seed_from_u64(1));
            let (mean, std) = mean_and_std(&w);
            // 100k samples: the standard error of the mean is std / 316.
            assert!(mean.abs() < 4.0 * want_std / 316.0, "{init}: mean {mean}");
            assert!(
                (std / want_std - 1.0).abs() < 0.02,
                "{init}: std {std} vs {want_std}"
            );
        }
    }

    #[test]
    fn normal_samples_have_normal_tails() {
        // P(|z| > 2) = 0.0455 for a standard normal; a uniform of the same
        // variance would give 0 and a wrong transform something else.
        let mut rng = StdRng::seed_from_u64(3);
        let n = 200_000;
        let beyond = (0..n)
            .filter(|_| standard_normal(&mut rng).abs() > 2.0)
            .count() as f64
            / n as f64;
        assert!((beyond - 0.0455).abs() < 0.003, "{beyond}");
    }

    #[test]
    fn same_seed_same_weights_and_names_round_trip() {
        let draw = |seed| {
            let mut w = vec![0.0f32; 64];
            Init::XavierUniform.fill(&mut w, 8, 8, &mut StdRng::seed_from_u64(seed));
            w
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
        for init in [
            Init::HeNormal,
            Init::HeUniform,
            Init::XavierNormal,
            Init::XavierUniform,
            Init::SmallNormal,
        ] {
            assert_eq!(Init::parse(&init.to_string()).unwrap(), init);
        }
        assert!(Init::parse("lecun").is_err());
    }
}
