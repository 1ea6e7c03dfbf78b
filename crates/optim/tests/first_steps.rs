//! Each optimizer's first steps against values worked out by hand. The
//! expected numbers are f64 arithmetic written out in the test (state updates
//! done by hand, in the comments), never a call into the crate.

use optim::{
    AdaGrad, AdaGradConfig, Adadelta, AdadeltaConfig, Adam, AdamConfig, OptimError, Optimizer,
    Param, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};

/// The gradients fed at steps 1, 2, 3 (fixed, so the hand arithmetic stays short).
const GRADS: [[f32; 2]; 3] = [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.5]];
const START: [f32; 2] = [1.0, -2.0];

/// The parameter after each of the steps.
fn run(optimizer: &mut dyn Optimizer, steps: usize) -> Vec<[f32; 2]> {
    let mut value = START;
    let mut history = Vec::new();
    for grad in &GRADS[..steps] {
        let mut params = [Param {
            name: "w",
            value: &mut value,
            grad,
        }];
        optimizer.step(&mut params).unwrap();
        history.push(value);
    }
    history
}

fn assert_close(actual: &[[f32; 2]], expected: &[[f64; 2]]) {
    assert_eq!(actual.len(), expected.len());
    for (step, (a, e)) in actual.iter().zip(expected).enumerate() {
        for i in 0..2 {
            let tolerance = 2e-6 * e[i].abs().max(1.0);
            assert!(
                (f64::from(a[i]) - e[i]).abs() <= tolerance,
                "step {} element {i}: got {}, expected {}",
                step + 1,
                a[i],
                e[i]
            );
        }
    }
}

#[test]
fn sgd_subtracts_lr_times_gradient() {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap();
    // p0: 1 - 0.05 = 0.95; 0.95 - 0.025 = 0.925; 0.925 + 0.1 = 1.025
    // p1: -2 + 0.1 = -1.9; -1.9 - 0.2 = -2.1; -2.1 - 0.05 = -2.15
    assert_close(
        &run(&mut sgd, 3),
        &[[0.95, -1.9], [0.925, -2.1], [1.025, -2.15]],
    );
    assert!(sgd.state().buffers.is_empty(), "plain SGD keeps no buffers");
}

#[test]
fn momentum_accumulates_velocity() {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    })
    .unwrap();
    // v0: 0.5; 0.45 + 0.25 = 0.7; 0.63 - 1 = -0.37
    // p0: 1 - 0.05 = 0.95; 0.95 - 0.07 = 0.88; 0.88 + 0.037 = 0.917
    // v1: -1; -0.9 + 2 = 1.1; 0.99 + 0.5 = 1.49
    // p1: -2 + 0.1 = -1.9; -1.9 - 0.11 = -2.01; -2.01 - 0.149 = -2.159
    assert_close(
        &run(&mut sgd, 3),
        &[[0.95, -1.9], [0.88, -2.01], [0.917, -2.159]],
    );
    let state = sgd.state();
    assert_eq!(state.kind, "momentum");
    assert_eq!(state.buffers[0].0, "momentum.velocity.w");
    assert_close(
        &[[state.buffers[0].1[0], state.buffers[0].1[1]]],
        &[[-0.37, 1.49]],
    );
}

#[test]
fn nesterov_steps_along_gradient_plus_momentum_times_velocity() {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    })
    .unwrap();
    // v0 as above: 0.5, 0.7, -0.37; direction g + 0.9 v:
    //   0.5 + 0.45 = 0.95; 0.25 + 0.63 = 0.88; -1 - 0.333 = -1.333
    // p0: 1 - 0.095 = 0.905; 0.905 - 0.088 = 0.817; 0.817 + 0.1333 = 0.9503
    // v1: -1, 1.1, 1.49; direction: -1 - 0.9 = -1.9; 2 + 0.99 = 2.99; 0.5 + 1.341 = 1.841
    // p1: -2 + 0.19 = -1.81; -1.81 - 0.299 = -2.109; -2.109 - 0.1841 = -2.2931
    assert_close(
        &run(&mut sgd, 3),
        &[[0.905, -1.81], [0.817, -2.109], [0.9503, -2.2931]],
    );
    assert_eq!(sgd.state().kind, "nesterov");
}

#[test]
fn adagrad_divides_by_root_of_summed_squares() {
    let mut adagrad = AdaGrad::new(AdaGradConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap();
    let eps = 1e-10_f64;
    // s0: 0.25; 0.25 + 0.0625 = 0.3125; 0.3125 + 1 = 1.3125
    let p0_1 = 1.0 - 0.1 * 0.5 / (0.25f64.sqrt() + eps);
    let p0_2 = p0_1 - 0.1 * 0.25 / (0.3125f64.sqrt() + eps);
    let p0_3 = p0_2 + 0.1 * 1.0 / (1.3125f64.sqrt() + eps);
    // s1: 1; 1 + 4 = 5; 5 + 0.25 = 5.25
    let p1_1 = -2.0 + 0.1 * 1.0 / (1.0f64.sqrt() + eps);
    let p1_2 = p1_1 - 0.1 * 2.0 / (5.0f64.sqrt() + eps);
    let p1_3 = p1_2 - 0.1 * 0.5 / (5.25f64.sqrt() + eps);
    assert_close(
        &run(&mut adagrad, 3),
        &[[p0_1, p1_1], [p0_2, p1_2], [p0_3, p1_3]],
    );
}

#[test]
fn rmsprop_divides_by_root_of_mean_square() {
    let mut rmsprop = RmsProp::new(RmsPropConfig {
        lr: 0.01,
        alpha: 0.9,
        ..Default::default()
    })
    .unwrap();
    let eps = 1e-8_f64;
    // s0: 0.1 * 0.25 = 0.025; 0.0225 + 0.00625 = 0.02875; 0.025875 + 0.1 = 0.125875
    let p0_1 = 1.0 - 0.01 * 0.5 / (0.025f64.sqrt() + eps);
    let p0_2 = p0_1 - 0.01 * 0.25 / (0.02875f64.sqrt() + eps);
    let p0_3 = p0_2 + 0.01 * 1.0 / (0.125875f64.sqrt() + eps);
    // s1: 0.1; 0.09 + 0.4 = 0.49; 0.441 + 0.025 = 0.466
    let p1_1 = -2.0 + 0.01 * 1.0 / (0.1f64.sqrt() + eps);
    let p1_2 = p1_1 - 0.01 * 2.0 / (0.49f64.sqrt() + eps);
    let p1_3 = p1_2 - 0.01 * 0.5 / (0.466f64.sqrt() + eps);
    assert_close(
        &run(&mut rmsprop, 3),
        &[[p0_1, p1_1], [p0_2, p1_2], [p0_3, p1_3]],
    );
}

/// `actual` within `tolerance` of `expected`, relative to `expected`: for
/// buffers whose values are far below 1.
fn assert_relative(what: &str, actual: &[f32], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len());
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let error = (f64::from(a) - e).abs() / e.abs();
        assert!(error <= tolerance, "{what}[{i}]: got {a}, expected {e}");
    }
}

#[test]
fn adadelta_scales_gradients_by_rms_of_steps_over_rms_of_gradients() {
    // The defaults: lr 1, rho 0.9, eps 1e-6 (Zeiler 2012, Algorithm 1, with
    // PyTorch's lr in front).
    let mut adadelta = Adadelta::new(AdadeltaConfig::default()).unwrap();
    let eps = 1e-6_f64;
    // v, the average of squared gradients, as RMSProp's with alpha 0.9:
    // v0: 0.025; 0.0225 + 0.00625 = 0.02875; 0.025875 + 0.1 = 0.125875
    // v1: 0.1; 0.09 + 0.4 = 0.49; 0.441 + 0.025 = 0.466
    let v = [[0.025, 0.1], [0.02875, 0.49], [0.125875, 0.466]];
    // u, the average of squared steps, starts at 0 and follows the deltas.
    let delta = |u: f64, v: f64, g: f64| (u + eps).sqrt() / (v + eps).sqrt() * g;
    let next_u = |u: f64, delta: f64| 0.9 * u + 0.1 * delta * delta;
    let (mut u, mut p) = ([0.0_f64; 2], [1.0_f64, -2.0]);
    let mut expected = Vec::new();
    for (grad, v) in GRADS.iter().zip(v) {
        for i in 0..2 {
            let d = delta(u[i], v[i], f64::from(grad[i]));
            u[i] = next_u(u[i], d);
            p[i] -= d;
        }
        expected.push(p);
    }
    // The first step is about lr * sqrt(eps / (1 - rho)) * sign(g) = 3.16e-3,
    // whatever the gradient's size: u starts at 0, so eps sets the pace.
    let first = 1e-5_f64.sqrt();
    assert!((1.0 - expected[0][0] - first).abs() < 1e-4 * first);
    assert!((expected[0][1] + 2.0 - first).abs() < 1e-4 * first);

    assert_close(&run(&mut adadelta, 3), &expected);
    // The steps are small beside p, so check the buffers relative to their size.
    let state = adadelta.state();
    assert_eq!(state.kind, "adadelta");
    assert_eq!(state.buffers[0].0, "adadelta.square_avg.w");
    assert_eq!(state.buffers[1].0, "adadelta.acc_delta.w");
    assert_relative("square_avg", &state.buffers[0].1, &v[2], 2e-6);
    assert_relative("acc_delta", &state.buffers[1].1, &u, 2e-6);
}

/// Adam's three steps with lr 0.1 (Kingma & Ba, Algorithm 1), for both elements.
/// Bias corrections: 1 - 0.9^t = 0.1, 0.19, 0.271; 1 - 0.999^t = 0.001, 0.001999, 0.002997001.
fn adam_steps_by_hand() -> [[f64; 2]; 3] {
    let eps = 1e-8_f64;
    let step = |m: f64, v: f64, c1: f64, c2: f64| 0.1 * (m / c1) / ((v / c2).sqrt() + eps);
    // m0: 0.05; 0.045 + 0.025 = 0.07; 0.063 - 0.1 = -0.037
    // v0: 0.00025; 0.00024975 + 0.0000625 = 0.00031225; 0.00031193775 + 0.001 = 0.00131193775
    // m1: -0.1; -0.09 + 0.2 = 0.11; 0.099 + 0.05 = 0.149
    // v1: 0.001; 0.000999 + 0.004 = 0.004999; 0.004994001 + 0.00025 = 0.005244001
    [
        [
            step(0.05, 0.00025, 0.1, 0.001),
            step(-0.1, 0.001, 0.1, 0.001),
        ],
        [
            step(0.07, 0.00031225, 0.19, 0.001999),
            step(0.11, 0.004999, 0.19, 0.001999),
        ],
        [
            step(-0.037, 0.00131193775, 0.271, 0.002997001),
            step(0.149, 0.005244001, 0.271, 0.002997001),
        ],
    ]
}

#[test]
fn adam_follows_algorithm_1_with_bias_correction() {
    let mut adam = Adam::new(AdamConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap();
    let steps = adam_steps_by_hand();
    let mut p = [1.0, -2.0];
    let mut expected = Vec::new();
    for s in steps {
        p = [p[0] - s[0], p[1] - s[1]];
        expected.push(p);
    }
    // The first step is lr * sign(g) (m_hat / sqrt(v_hat) = g / |g|).
    assert!((expected[0][0] - 0.9).abs() < 1e-7 && (expected[0][1] + 1.9).abs() < 1e-7);
    assert_close(&run(&mut adam, 3), &expected);
}

#[test]
fn adamw_decays_weights_outside_the_moments() {
    let mut adamw = Adam::new(AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..AdamConfig::adamw()
    })
    .unwrap();
    // The moments never see the decay, so the Adam steps are the same as
    // without it; each step first multiplies p by 1 - lr * wd = 0.99.
    let steps = adam_steps_by_hand();
    let mut p = [1.0, -2.0];
    let mut expected = Vec::new();
    for s in steps {
        p = [0.99 * p[0] - s[0], 0.99 * p[1] - s[1]];
        expected.push(p);
    }
    assert_close(&run(&mut adamw, 3), &expected);
    assert_eq!(adamw.state().kind, "adamw");
}

#[test]
fn adam_weight_decay_is_l2_inside_the_moments() {
    let mut adam = Adam::new(AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..Default::default()
    })
    .unwrap();
    let eps = 1e-8_f64;
    // Element 0, g' = g + 0.1 p.
    // step 1: g' = 0.5 + 0.1 = 0.6; m = 0.06, v = 0.00036; m_hat = 0.6, v_hat = 0.36
    let p1 = 1.0 - 0.1 * 0.6 / (0.6 + eps);
    // step 2: g' = 0.25 + 0.1 * p1 (= 0.34 when p1 = 0.9)
    let g2 = 0.25 + 0.1 * p1;
    let m2 = 0.9 * 0.06 + 0.1 * g2;
    let v2 = 0.999 * 0.00036 + 0.001 * g2 * g2;
    let p2 = p1 - 0.1 * (m2 / 0.19) / ((v2 / 0.001999).sqrt() + eps);
    let history = run(&mut adam, 2);
    assert!((f64::from(history[0][0]) - p1).abs() < 2e-6);
    assert!((f64::from(history[1][0]) - p2).abs() < 2e-6);
    // And it differs from AdamW's decoupled decay (0.99 * 0.9 - step 2 of plain Adam).
    let adamw_p2 = 0.99 * (0.99 * 1.0 - adam_steps_by_hand()[0][0]) - adam_steps_by_hand()[1][0];
    assert!((p2 - adamw_p2).abs() > 1e-3);
}

#[test]
fn sgd_weight_decay_adds_wd_times_p_to_the_gradient() {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..Default::default()
    })
    .unwrap();
    // p0: g' = 0.5 + 0.1 = 0.6 -> 0.94; g' = 0.25 + 0.094 = 0.344 -> 0.9056
    // p1: g' = -1 - 0.2 = -1.2 -> -1.88; g' = 2 - 0.188 = 1.812 -> -2.0612
    assert_close(&run(&mut sgd, 2), &[[0.94, -1.88], [0.9056, -2.0612]]);
}

/// Two parameters with gradients [3, 4] and [12]: global norm sqrt(9 + 16 + 144) = 13.
fn clipped_sgd_step(
    config: SgdConfig,
    grads: ([f32; 2], [f32; 1]),
) -> Result<([f32; 2], [f32; 1]), OptimError> {
    let mut sgd = Sgd::new(config).unwrap();
    let (mut a, mut b) = ([1.0, 1.0], [1.0]);
    let mut params = [
        Param {
            name: "a",
            value: &mut a,
            grad: &grads.0,
        },
        Param {
            name: "b",
            value: &mut b,
            grad: &grads.1,
        },
    ];
    sgd.step(&mut params)?;
    Ok((a, b))
}

#[test]
fn clipping_scales_all_gradients_by_max_norm_over_global_norm() {
    let grads = ([3.0, 4.0], [12.0]);
    let clip = |clip_norm, weight_decay| SgdConfig {
        lr: 1.0,
        clip_norm,
        weight_decay,
        ..Default::default()
    };
    // max 6.5 -> factor 6.5 / 13 = 0.5: gradients [1.5, 2], [6]
    let (a, b) = clipped_sgd_step(clip(Some(6.5), 0.0), grads).unwrap();
    assert_eq!((a, b), ([1.0 - 1.5, 1.0 - 2.0], [1.0 - 6.0]));
    // max 26 > 13: no change
    let (a, b) = clipped_sgd_step(clip(Some(26.0), 0.0), grads).unwrap();
    assert_eq!((a, b), ([-2.0, -3.0], [-11.0]));
    // Weight decay is added after clipping (the clip acts on the loss gradient):
    // g' = 0.5 * g + 0.5 * p = [1.5 + 0.5, 2 + 0.5], [6 + 0.5]
    let (a, b) = clipped_sgd_step(clip(Some(6.5), 0.5), grads).unwrap();
    assert_eq!((a, b), ([1.0 - 2.0, 1.0 - 2.5], [1.0 - 6.5]));
}

#[test]
fn clipping_refuses_a_non_finite_gradient() {
    let config = SgdConfig {
        clip_norm: Some(1.0),
        ..Default::default()
    };
    let err = clipped_sgd_step(config, ([3.0, f32::NAN], [12.0])).unwrap_err();
    assert!(matches!(err, OptimError::NonFiniteGradient { .. }), "{err}");
    let err = clipped_sgd_step(config, ([3.0, f32::INFINITY], [12.0])).unwrap_err();
    assert!(err.to_string().contains("inf"), "{err}");
}
