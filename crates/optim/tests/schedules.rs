//! Learning-rate schedules against values worked out by hand at chosen steps.

use optim::{Progress, Schedule};

const BASE: f32 = 0.1;

fn lr(spec: &str, step: u64, steps_per_epoch: u64, total_steps: u64) -> f32 {
    let schedule: Schedule = spec.parse().unwrap();
    schedule.lr_at(
        BASE,
        Progress {
            step,
            steps_per_epoch,
            total_steps,
        },
    )
}

#[track_caller]
fn assert_lr(actual: f32, expected: f64) {
    assert!(
        (f64::from(actual) - expected).abs() <= 1e-6 * expected.abs().max(1e-3),
        "got {actual}, expected {expected}"
    );
}

#[test]
fn constant_never_changes() {
    for step in [0, 1, 999, u64::MAX] {
        assert_eq!(lr("constant", step, 100, 1000), BASE);
    }
}

#[test]
fn step_decay_multiplies_by_gamma_every_n_epochs() {
    // 100 steps an epoch; halve every 10 epochs = every 1000 steps.
    assert_lr(lr("step:10:0.5", 0, 100, 0), 0.1);
    assert_lr(lr("step:10:0.5", 999, 100, 0), 0.1); // epoch 9
    assert_lr(lr("step:10:0.5", 1000, 100, 0), 0.05); // epoch 10
    assert_lr(lr("step:10:0.5", 2999, 100, 0), 0.025); // epoch 29
    assert_lr(lr("step:10:0.5", 3000, 100, 0), 0.0125); // epoch 30
}

#[test]
fn exponential_multiplies_by_gamma_each_epoch_or_step() {
    // 10 steps an epoch: step 25 is in epoch 2, 0.1 * 0.9^2 = 0.081.
    assert_lr(lr("exp:0.9", 25, 10, 0), 0.081);
    assert_lr(lr("exp:0.9", 9, 10, 0), 0.1);
    // Per step: 0.1 * 0.99^3 = 0.1 * 0.970299.
    assert_lr(lr("exp:0.99:step", 3, 10, 0), 0.0970299);
}

#[test]
fn cosine_anneals_to_its_floor_over_the_run() {
    // T = 100 steps; lr = f + (0.1 - f) * (1 + cos(pi t / 100)) / 2.
    assert_lr(lr("cosine", 0, 10, 100), 0.1);
    // cos(pi / 4) = 0.70710678: 0.1 * 1.70710678 / 2
    assert_lr(lr("cosine", 25, 10, 100), 0.085355339);
    assert_lr(lr("cosine", 50, 10, 100), 0.05);
    assert_lr(lr("cosine", 75, 10, 100), 0.014644661);
    assert_eq!(lr("cosine", 100, 10, 100), 0.0);
    assert_eq!(
        lr("cosine", 150, 10, 100),
        0.0,
        "stays at the floor after T"
    );
    // Floor 0.1 * lr = 0.01: half-way is 0.01 + 0.09 / 2 = 0.055.
    assert_lr(lr("cosine:0.1", 50, 10, 100), 0.055);
    assert_lr(lr("cosine:0.1", 100, 10, 100), 0.01);
}

#[test]
fn warmup_ramps_linearly_then_hands_over() {
    // 4 warm-up steps: 0.1 * 1/4, 2/4, 3/4, 4/4; then cosine over the other 100.
    let total = 104;
    assert_lr(lr("warmup:4+cosine", 0, 10, total), 0.025);
    assert_lr(lr("warmup:4+cosine", 1, 10, total), 0.05);
    assert_lr(lr("warmup:4+cosine", 3, 10, total), 0.1);
    assert_lr(lr("warmup:4+cosine", 4, 10, total), 0.1);
    assert_lr(lr("warmup:4+cosine", 54, 10, total), 0.05);
    assert_eq!(lr("warmup:4+cosine", 104, 10, total), 0.0);
    // Alone, warm-up is followed by a constant rate.
    assert_lr(lr("warmup:5", 0, 10, 0), 0.02);
    assert_lr(lr("warmup:5", 4, 10, 0), 0.1);
    assert_lr(lr("warmup:5", 1_000_000, 10, 0), 0.1);
    // Epochs of the inner schedule count from the end of warm-up:
    // step 200 is inner step 100 = inner epoch 1 at 100 steps an epoch.
    assert_lr(lr("warmup:100+step:1:0.5", 199, 100, 0), 0.1);
    assert_lr(lr("warmup:100+step:1:0.5", 200, 100, 0), 0.05);
}

#[test]
fn degenerate_progress_does_not_panic() {
    for spec in ["step:1:0.5", "exp:0.5", "cosine", "warmup:3+cosine"] {
        let value = lr(spec, 5, 0, 0);
        assert!(value.is_finite() && value >= 0.0, "{spec}: {value}");
    }
    // gamma^(huge) underflows to 0 rather than misbehaving.
    assert_eq!(lr("exp:0.5:step", u64::MAX, 1, 0), 0.0);
}
