//! Saving and restoring optimizer state resumes a run bit for bit, and every
//! way a state or a parameter list can fail to fit is an error, not a panic.

use optim::{
    optimizer_by_name, optimizer_from_state, Adam, AdamConfig, CommonSettings, OptimError,
    Optimizer, OptimizerState, Param, Sgd, SgdConfig, OPTIMIZER_NAMES,
};

const NAMES: [&str; 3] = ["layers.0.weight", "layers.0.bias", "layers.1.weight"];

/// A small model's parameters: three named tensors of different lengths.
fn initial_params() -> Vec<Vec<f32>> {
    [6, 3, 4]
        .iter()
        .enumerate()
        .map(|(t, &len)| {
            (0..len)
                .map(|i| ((t * 7 + i) as f32 * 0.37).sin())
                .collect()
        })
        .collect()
}

/// A gradient that depends on the parameters and the step, like a real one.
fn gradients(values: &[Vec<f32>], step: usize) -> Vec<Vec<f32>> {
    values
        .iter()
        .map(|v| {
            v.iter()
                .enumerate()
                .map(|(i, &x)| 2.0 * x + ((step * 3 + i) as f32).cos())
                .collect()
        })
        .collect()
}

fn run(optimizer: &mut dyn Optimizer, values: &mut [Vec<f32>], from_step: usize, steps: usize) {
    for step in from_step..from_step + steps {
        let grads = gradients(values, step);
        let mut params: Vec<Param> = values
            .iter_mut()
            .zip(&grads)
            .zip(NAMES)
            .map(|((value, grad), name)| Param { name, value, grad })
            .collect();
        optimizer.step(&mut params).unwrap();
    }
}

fn bits(values: &[Vec<f32>]) -> Vec<Vec<u32>> {
    values
        .iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// Clipping and weight decay on, so their hyper-parameters must survive too.
fn settings() -> CommonSettings {
    CommonSettings {
        lr: Some(0.01),
        weight_decay: Some(0.05),
        clip_norm: Some(1.0),
        momentum: None,
    }
}

/// The state as a checkpoint would carry it: hyper-parameters through text,
/// buffers in a different order.
fn through_a_checkpoint(state: &OptimizerState) -> OptimizerState {
    let mut copy = state.clone();
    for (_, value) in &mut copy.hyper {
        *value = value.to_string().parse().unwrap();
    }
    copy.buffers.reverse();
    copy
}

#[test]
fn a_restored_optimizer_continues_bit_identically() {
    let k = 5;
    for name in OPTIMIZER_NAMES {
        let mut original = optimizer_by_name(name, &settings()).unwrap();
        let mut values = initial_params();
        run(original.as_mut(), &mut values, 0, k);
        let saved_state = original.state();
        let saved_values = values.clone();
        assert_eq!(saved_state.step, k as u64);

        run(original.as_mut(), &mut values, k, k);

        // A fresh optimizer built from the state alone (default settings):
        // kind and hyper-parameters come from the state.
        let mut resumed = optimizer_from_state(&through_a_checkpoint(&saved_state)).unwrap();
        let mut resumed_values = saved_values.clone();
        run(resumed.as_mut(), &mut resumed_values, k, k);
        assert_eq!(bits(&values), bits(&resumed_values), "{name}");
        assert_eq!(original.state(), resumed.state(), "{name}");

        // And the values really moved in the second half (the test can fail).
        assert_ne!(bits(&values), bits(&saved_values), "{name}");
    }
}

#[test]
fn buffers_are_named_kind_buffer_parameter() {
    let mut adam = optimizer_by_name("adam", &settings()).unwrap();
    run(adam.as_mut(), &mut initial_params(), 0, 1);
    let names: Vec<String> = adam.state().buffers.into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "adam.m.layers.0.weight",
            "adam.v.layers.0.weight",
            "adam.m.layers.0.bias",
            "adam.v.layers.0.bias",
            "adam.m.layers.1.weight",
            "adam.v.layers.1.weight",
        ]
    );
    let state = adam.state();
    let hyper: Vec<&str> = state.hyper.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        hyper,
        ["lr", "beta1", "beta2", "eps", "weight_decay", "clip_norm"]
    );
}

fn adam_after_one_step() -> Adam {
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    run(&mut adam, &mut initial_params(), 0, 1);
    adam
}

/// Parameter names and lengths.
type Shapes<'a> = &'a [(&'a str, usize)];

/// `step` with the given (name, length) parameters.
fn step_with(optimizer: &mut dyn Optimizer, shapes: Shapes) -> Result<(), OptimError> {
    let mut values: Vec<Vec<f32>> = shapes.iter().map(|&(_, n)| vec![1.0; n]).collect();
    let grads: Vec<Vec<f32>> = shapes.iter().map(|&(_, n)| vec![0.5; n]).collect();
    let mut params: Vec<Param> = values
        .iter_mut()
        .zip(&grads)
        .zip(shapes)
        .map(|((value, grad), &(name, _))| Param { name, value, grad })
        .collect();
    optimizer.step(&mut params)
}

#[test]
fn stepping_with_other_parameters_is_an_error_that_changes_nothing() {
    let good = [
        ("layers.0.weight", 6),
        ("layers.0.bias", 3),
        ("layers.1.weight", 4),
    ];
    let cases: [(Shapes, &[&str]); 4] = [
        (
            &[
                ("layers.0.weight", 6),
                ("layers.0.bias", 3),
                ("layers.2.weight", 4),
            ],
            &[
                "parameter 2",
                "'layers.1.weight' (4 values)",
                "'layers.2.weight' (4 values)",
            ],
        ),
        (
            &[
                ("layers.0.weight", 6),
                ("layers.0.bias", 5),
                ("layers.1.weight", 4),
            ],
            &[
                "parameter 1",
                "'layers.0.bias' (3 values)",
                "'layers.0.bias' (5 values)",
            ],
        ),
        (
            &[("layers.0.weight", 6), ("layers.0.bias", 3)],
            &[
                "parameter 2",
                "'layers.1.weight' (4 values)",
                "no parameter",
            ],
        ),
        (
            &[
                ("layers.0.weight", 6),
                ("layers.0.bias", 3),
                ("layers.1.weight", 4),
                ("x", 1),
            ],
            &["parameter 3", "no parameter", "'x' (1 values)"],
        ),
    ];
    for (shapes, phrases) in cases {
        let mut adam = adam_after_one_step();
        let before = adam.state();
        let err = step_with(&mut adam, shapes).unwrap_err();
        assert!(matches!(err, OptimError::ParamsChanged { .. }), "{err}");
        for phrase in phrases {
            assert!(err.to_string().contains(phrase), "{err} lacks {phrase}");
        }
        assert_eq!(adam.state(), before);
        step_with(&mut adam, &good).unwrap();
        assert_eq!(adam.state().step, 2);
    }
}

#[test]
fn two_parameters_with_one_name_are_an_error() {
    let twice = [
        ("layers.0.weight", 6),
        ("layers.0.bias", 3),
        ("layers.0.weight", 4),
    ];
    let mut fresh = Adam::new(AdamConfig::default()).unwrap();
    let err = step_with(&mut fresh, &twice).unwrap_err();
    assert!(
        err.to_string().contains("both named 'layers.0.weight'"),
        "{err}"
    );
    // Also when a loaded state is matched to parameters by name.
    let mut resumed = Adam::new(AdamConfig::default()).unwrap();
    resumed.load_state(&adam_after_one_step().state()).unwrap();
    let four = [
        ("layers.0.weight", 6),
        ("layers.0.bias", 3),
        ("layers.1.weight", 4),
        ("layers.0.bias", 3),
    ];
    let err = step_with(&mut resumed, &four).unwrap_err();
    assert!(
        err.to_string().contains("both named 'layers.0.bias'"),
        "{err}"
    );
}

#[test]
fn a_gradient_of_the_wrong_length_is_an_error() {
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let mut value = [1.0, 2.0, 3.0];
    let mut params = [Param {
        name: "layers.0.bias",
        value: &mut value,
        grad: &[0.1, 0.2],
    }];
    let err = sgd.step(&mut params).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter 'layers.0.bias' has 3 values but its gradient has 2"
    );
    assert_eq!(value, [1.0, 2.0, 3.0]);
}

/// Loads `edit(state of a one-step Adam)` into a fresh Adam and returns the error.
fn load_error(edit: impl FnOnce(&mut OptimizerState)) -> String {
    let mut state = adam_after_one_step().state();
    edit(&mut state);
    let mut fresh = Adam::new(AdamConfig::default()).unwrap();
    let before = fresh.state();
    let err = fresh.load_state(&state).unwrap_err();
    assert_eq!(fresh.state(), before, "a failed load must change nothing");
    err.to_string()
}

#[test]
fn a_state_that_does_not_fit_is_an_error_naming_the_problem() {
    let message = load_error(|s| s.kind = "rmsprop".into());
    assert!(
        message.contains("'rmsprop'") && message.contains("'adam'"),
        "{message}"
    );

    let message = load_error(|s| s.buffers.retain(|(n, _)| n != "adam.v.layers.0.bias"));
    assert!(
        message.contains("'adam.v.layers.0.bias' is missing"),
        "{message}"
    );

    let message = load_error(|s| s.buffers[3].1.push(0.0));
    assert!(
        message.contains("'adam.v.layers.0.bias' has 4 values"),
        "{message}"
    );

    let message = load_error(|s| s.buffers[0].0 = "adam.velocity.layers.0.weight".into());
    assert!(message.contains("BUFFER one of [m, v]"), "{message}");

    let message = load_error(|s| s.buffers.push(s.buffers[0].clone()));
    assert!(message.contains("appears twice"), "{message}");

    let message = load_error(|s| s.buffers.clear());
    assert!(message.contains("holds no buffers"), "{message}");

    let message = load_error(|s| s.hyper.push(("momentum".into(), 0.9)));
    assert!(
        message.contains("no hyper-parameter 'momentum'"),
        "{message}"
    );

    let message = load_error(|s| s.hyper.retain(|(n, _)| n != "beta2"));
    assert!(
        message.contains("'beta2' of 'adam' is missing"),
        "{message}"
    );

    let message = load_error(|s| s.hyper[1].1 = 1.0);
    assert_eq!(message, "adam: beta1 = 1, but it must be in [0, 1)");
}

#[test]
fn a_loaded_state_must_fit_the_parameters_it_is_stepped_with() {
    let state = adam_after_one_step().state();
    let mut resumed = Adam::new(AdamConfig::default()).unwrap();
    resumed.load_state(&state).unwrap();
    let err = step_with(
        &mut resumed,
        &[("layers.0.weight", 6), ("layers.0.bias", 3)],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("'layers.1.weight' (4 values)"),
        "{err}"
    );
    let err = step_with(
        &mut resumed,
        &[
            ("layers.0.weight", 6),
            ("layers.0.bias", 3),
            ("layers.1.weights", 4),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("'layers.1.weights'"), "{err}");
    let err = step_with(
        &mut resumed,
        &[
            ("layers.0.weight", 6),
            ("layers.0.bias", 3),
            ("layers.1.weight", 5),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("'layers.1.weight' (5 values)"),
        "{err}"
    );
    // In any order the state was saved in, the right parameters still fit.
    step_with(
        &mut resumed,
        &[
            ("layers.0.weight", 6),
            ("layers.0.bias", 3),
            ("layers.1.weight", 4),
        ],
    )
    .unwrap();
}

#[test]
fn unknown_names_and_bad_settings_are_errors() {
    let err = optimizer_by_name("lbfgs", &CommonSettings::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "unknown optimizer 'lbfgs'; valid names: sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw"
    );
    let negative_lr = CommonSettings {
        lr: Some(-0.1),
        ..Default::default()
    };
    let err = optimizer_by_name("momentum", &negative_lr).err().unwrap();
    assert_eq!(
        err.to_string(),
        "momentum: lr = -0.1, but it must be finite and >= 0"
    );
    let zero_clip = CommonSettings {
        clip_norm: Some(0.0),
        ..Default::default()
    };
    assert!(optimizer_by_name("adam", &zero_clip).is_err());
    let nesterov_without_momentum = SgdConfig {
        nesterov: true,
        ..Default::default()
    };
    assert!(Sgd::new(nesterov_without_momentum).is_err());
}

#[test]
fn a_refused_first_step_leaves_the_optimizer_as_new() {
    let config = AdamConfig {
        clip_norm: Some(1.0),
        ..AdamConfig::default()
    };
    let mut adam = Adam::new(config).unwrap();
    let fresh = adam.state();
    let mut value = [1.0_f32, 2.0];
    let mut params = [Param {
        name: "w",
        value: &mut value,
        grad: &[f32::NAN, 0.5],
    }];
    let err = adam.step(&mut params).unwrap_err();
    assert!(matches!(err, OptimError::NonFiniteGradient { .. }), "{err}");
    assert_eq!(adam.state(), fresh, "no buffers made for a step not taken");
    assert_eq!(value, [1.0, 2.0]);
    // The next, good step then fixes the parameters as a first step does.
    let mut other = [0.0_f32; 3];
    let mut params = [Param {
        name: "v",
        value: &mut other,
        grad: &[0.1, 0.2, 0.3],
    }];
    adam.step(&mut params).unwrap();
    assert_eq!(adam.state().buffers.len(), 2);
    assert_eq!(adam.state().buffers[0].0, "adam.m.v");
}

/// A damaged state (a negative second moment, a non-finite buffer, a step
/// count no run reaches) trained on to NaN weights; now loading it is an
/// error naming the buffer, and the optimizer is left as it was.
#[test]
fn a_state_with_impossible_values_is_refused_naming_the_buffer() {
    // The buffers that are sums or averages of squares, per optimizer.
    let squares: [(&str, &[&str]); 5] = [
        ("adam", &["v"]),
        ("adamw", &["v"]),
        ("rmsprop", &["mean_sq"]),
        ("adagrad", &["sum_sq"]),
        ("adadelta", &["square_avg", "acc_delta"]),
    ];
    for name in OPTIMIZER_NAMES {
        let mut trained = optimizer_by_name(name, &settings()).unwrap();
        let mut values = initial_params();
        run(trained.as_mut(), &mut values, 0, 3);
        let good = trained.state();
        let non_negative = squares
            .iter()
            .find(|(kind, _)| *kind == name)
            .map_or(&[][..], |(_, buffers)| buffers);
        for (b, (buffer_name, _)) in good.buffers.iter().enumerate() {
            let buffer = buffer_name.split('.').nth(1).unwrap();
            let mut cases = vec![(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (-1.5, "-1.5")];
            if !non_negative.contains(&buffer) {
                // Momentum and Adam's first moment may be negative.
                let mut state = good.clone();
                state.buffers[b].1[1] = -1.5;
                let mut fresh = optimizer_by_name(name, &settings()).unwrap();
                fresh.load_state(&state).unwrap();
                cases.pop();
            }
            for (value, shown) in cases {
                let mut state = good.clone();
                state.buffers[b].1[1] = value;
                let mut fresh = optimizer_by_name(name, &settings()).unwrap();
                let before = fresh.state();
                let error = fresh.load_state(&state).unwrap_err().to_string();
                assert!(
                    error.contains(&format!("buffer '{buffer_name}' holds {shown} at index 1")),
                    "{name} {buffer_name} = {value}: {error}"
                );
                assert_eq!(fresh.state(), before, "{name}: changed by a refused load");
                assert!(optimizer_from_state(&state).is_err());
            }
        }
        let mut state = good.clone();
        state.step = optim::MAX_STEP + 1;
        let error = optimizer_from_state(&state).err().unwrap().to_string();
        assert!(
            error.contains(&format!("claims {} steps", optim::MAX_STEP + 1)),
            "{name}: {error}"
        );
        state.step = optim::MAX_STEP;
        optimizer_from_state(&state).unwrap();
    }
}
