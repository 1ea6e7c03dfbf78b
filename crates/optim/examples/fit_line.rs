//! `optim` on its own, end to end: fit `y = w x + b` to noisy points of
//! `y = 3x - 2` by least squares with Adam under a warm-up + cosine
//! schedule, stop halfway, save the optimizer's state, and finish in a new
//! optimizer built from that state, as a checkpointed run resumes.
//!
//!     cargo run --release -p optim --example fit_line [-- STEPS]
//!
//! `tests/examples.rs` checks the fit and that resuming changes no bit.

use optim::{optimizer_by_name, optimizer_from_state, CommonSettings, Param, Progress, Schedule};

/// `[w, b]` after `steps` full-batch steps, the optimizer rebuilt from its
/// saved state after `resume_after` of them (`None`: never).
pub fn fit_line(steps: u64, resume_after: Option<u64>) -> Result<[f32; 2], optim::OptimError> {
    // 64 points on y = 3x - 2, with a deterministic wobble as noise.
    let xs: Vec<f32> = (0..64).map(|i| i as f32 / 32.0 - 1.0).collect();
    let ys: Vec<f32> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * x - 2.0 + 0.05 * (i as f32).sin())
        .collect();
    let settings = CommonSettings {
        lr: Some(0.1),
        ..Default::default()
    };
    let mut optimizer = optimizer_by_name("adam", &settings)?;
    let schedule: Schedule = "warmup:10+cosine".parse()?;
    let (mut weight, mut bias) = ([0.0_f32], [0.0_f32]);
    for step in 0..steps {
        if Some(step) == resume_after {
            optimizer = optimizer_from_state(&optimizer.state())?;
        }
        // Mean squared error: dL/dw = mean 2 (w x + b - y) x, dL/db = mean 2 (w x + b - y).
        let (mut grad_w, mut grad_b) = ([0.0_f32], [0.0_f32]);
        for (x, y) in xs.iter().zip(&ys) {
            let error = weight[0] * x + bias[0] - y;
            grad_w[0] += 2.0 * error * x / xs.len() as f32;
            grad_b[0] += 2.0 * error / xs.len() as f32;
        }
        let at = Progress {
            step,
            steps_per_epoch: 1,
            total_steps: steps,
        };
        optimizer.set_learning_rate(schedule.lr_at(0.1, at));
        let params = [
            ("weight", &mut weight[..], &grad_w[..]),
            ("bias", &mut bias[..], &grad_b[..]),
        ];
        optimizer.step_iter(&mut params.into_iter().map(Param::from))?;
    }
    Ok([weight[0], bias[0]])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = std::env::args().nth(1).map_or(Ok(300), |s| s.parse())?;
    let [w, b] = fit_line(steps, None)?;
    let resumed = fit_line(steps, Some(steps / 2))?;
    println!("after {steps} steps: y = {w:.4} x {b:+.4} (the points follow y = 3x - 2)");
    println!(
        "resumed halfway from the saved state: the same bits: {}",
        resumed == [w, b]
    );
    Ok(())
}
