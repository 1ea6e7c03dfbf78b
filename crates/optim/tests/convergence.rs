//! Every optimizer, built by name as the trainer builds it, minimises a convex
//! quadratic and makes steady progress on the Rosenbrock function. The
//! gradients are computed here in f64, independently of the crate.

use optim::{optimizer_by_name, CommonSettings, Optimizer, Param, OPTIMIZER_NAMES};

/// A learning rate that suits each optimizer on these small problems.
fn build(name: &str, lr: f32) -> Box<dyn Optimizer> {
    let settings = CommonSettings {
        lr: Some(lr),
        ..Default::default()
    };
    optimizer_by_name(name, &settings).unwrap()
}

/// Runs `steps` updates of `x` with gradient `grad_of(x)`.
fn descend(
    optimizer: &mut dyn Optimizer,
    x: &mut [f32],
    steps: usize,
    grad_of: impl Fn(&[f32]) -> Vec<f32>,
) {
    for _ in 0..steps {
        let grad = grad_of(x);
        let mut params = [Param {
            name: "x",
            value: x,
            grad: &grad,
        }];
        optimizer.step(&mut params).unwrap();
    }
}

/// f(x) = 0.5 * sum a_i x_i^2, condition number 20; minimum 0 at x = 0.
const CURVATURES: [f64; 4] = [0.5, 1.0, 4.0, 10.0];

fn quadratic_gradient(x: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(CURVATURES)
        .map(|(&x, a)| (a * f64::from(x)) as f32)
        .collect()
}

#[test]
fn every_optimizer_minimises_a_convex_quadratic() {
    // (name, learning rate, how close to 0 every coordinate must end).
    let settings = [
        ("sgd", 0.1, 1e-4),
        ("momentum", 0.01, 1e-4),
        ("nesterov", 0.01, 1e-4),
        ("adagrad", 0.15, 1e-4),
        // Adadelta's step is lr * RMS(past steps) / RMS(gradients): it grows
        // from sqrt(eps) = 1e-3 by about (1-rho)*eps in u per step, so it
        // needs lr of about 0.3 to travel 3 in 2000 steps, and on the stiffest
        // coordinate (curvature 10) it then settles into an oscillation of
        // about lr * sqrt(u) / 2 = 5e-3 (f64 simulation: 5.4e-3 at lr 0.35;
        // the three gentler coordinates reach 1e-100). A floor of the
        // method on exact gradients, not a defect: the test asks for 1e-2.
        ("adadelta", 0.35, 1e-2),
        ("rmsprop", 0.01, 1e-4),
        ("adam", 0.03, 1e-4),
        ("adamw", 0.03, 1e-4), // with its default weight decay 0.01, which also pulls to 0
    ];
    assert_eq!(settings.len(), OPTIMIZER_NAMES.len());
    for (name, lr, tolerance) in settings {
        let mut optimizer = build(name, lr);
        let mut x = [1.0_f32, -2.0, 3.0, -0.5];
        descend(optimizer.as_mut(), &mut x, 2000, quadratic_gradient);
        let farthest = x.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(farthest < tolerance, "{name}: x = {x:?} after 2000 steps");
    }
}

/// f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1).
fn rosenbrock(x: &[f32]) -> f64 {
    let (a, b) = (f64::from(x[0]), f64::from(x[1]));
    (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
}

fn rosenbrock_gradient(x: &[f32]) -> Vec<f32> {
    let (a, b) = (f64::from(x[0]), f64::from(x[1]));
    let dx = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
    let dy = 200.0 * (b - a * a);
    vec![dx as f32, dy as f32]
}

#[test]
fn every_optimizer_makes_steady_progress_on_rosenbrock() {
    let learning_rates = [
        ("sgd", 1e-3),
        ("momentum", 3e-4),
        ("nesterov", 3e-4),
        ("adagrad", 0.1),
        ("adadelta", 0.07), // f64 simulation: passes from 0.06 to 0.09
        ("rmsprop", 1e-3),
        ("adam", 1e-2),
        ("adamw", 1e-2),
    ];
    assert_eq!(learning_rates.len(), OPTIMIZER_NAMES.len());
    let start = [-1.5_f32, 2.0];
    let start_loss = rosenbrock(&start); // 2.5^2 + 100 * 0.25^2 = 12.5
    assert_eq!(start_loss, 12.5);
    let distance = |x: &[f32]| (f64::from(x[0]) - 1.0).hypot(f64::from(x[1]) - 1.0);

    for (name, lr) in learning_rates {
        let mut optimizer = build(name, lr);
        let mut x = start;
        let mut losses = vec![start_loss];
        for _ in 0..5 {
            descend(optimizer.as_mut(), &mut x, 1000, rosenbrock_gradient);
            losses.push(rosenbrock(&x));
        }
        // Steady: every 1000 steps the loss goes down, until it is tiny.
        for pair in losses.windows(2) {
            assert!(
                pair[1] < pair[0] || pair[1] < 1e-3,
                "{name}: loss went from {} to {} ({losses:?})",
                pair[0],
                pair[1]
            );
        }
        let end_loss = *losses.last().unwrap();
        assert!(end_loss < start_loss / 100.0, "{name}: {losses:?}");
        assert!(
            distance(&x) < distance(&start) / 10.0,
            "{name}: ended at {x:?}"
        );
    }
}
