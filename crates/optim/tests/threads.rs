//! A large parameter's update is cut into one chunk per thread; every
//! element's arithmetic is the same whoever computes it, so the weights and
//! the state after any number of steps must be bit for bit the same at any
//! thread count. Its own test binary with one test function, because the
//! thread count (`tensor::set_threads`) is global to the process.

use optim::{optimizer_by_name, CommonSettings, Param, OPTIMIZER_NAMES};

/// Long enough that `RuleOptimizer` splits them (a length that is not a
/// multiple of the chunk alignment, so the last chunk is ragged), plus a bias
/// short enough to stay on the calling thread.
const SHAPES: [(&str, usize); 3] = [
    ("layers.0.weight", 300_007),
    ("layers.0.bias", 100),
    ("layers.1.weight", 65_536),
];

fn run(name: &str, settings: &CommonSettings, threads: usize) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    tensor::set_threads(threads);
    let mut optimizer = optimizer_by_name(name, settings).unwrap();
    let mut values: Vec<Vec<f32>> = (SHAPES.iter())
        .map(|&(_, len)| (0..len).map(|i| (i as f32 * 0.37).sin()).collect())
        .collect();
    for step in 0..4 {
        let grads: Vec<Vec<f32>> = (values.iter())
            .map(|v| {
                (v.iter().enumerate())
                    .map(|(i, &x)| 2.0 * x + ((step * 3 + i) as f32 * 0.11).cos())
                    .collect()
            })
            .collect();
        let mut params: Vec<Param> = (values.iter_mut().zip(&grads).zip(SHAPES))
            .map(|((value, grad), (name, _))| Param { name, value, grad })
            .collect();
        optimizer.step(&mut params).unwrap();
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let state = optimizer.state().buffers;
    (
        values.iter().map(|v| bits(v)).collect(),
        state.iter().map(|(_, v)| bits(v)).collect(),
    )
}

#[test]
fn every_thread_count_gives_bit_identical_weights_and_state() {
    let with_clip_and_decay = CommonSettings {
        lr: Some(0.01),
        weight_decay: Some(0.01),
        // Small enough that every step clips, so the scratch gradient is used.
        clip_norm: Some(0.5),
        momentum: None,
    };
    for settings in [with_clip_and_decay, CommonSettings::default()] {
        for name in OPTIMIZER_NAMES {
            let (one_thread_values, one_thread_state) = run(name, &settings, 1);
            // The steps moved the weights, so equality below means something.
            let (start, _) = run(
                name,
                &CommonSettings {
                    lr: Some(0.0),
                    ..settings
                },
                1,
            );
            assert_ne!(start, one_thread_values, "{name}");
            // 2 and 3, and more threads than one parameter may be cut into.
            for threads in [2, 3, 40] {
                let (values, state) = run(name, &settings, threads);
                assert!(
                    values == one_thread_values,
                    "{name}, {threads} threads: values"
                );
                assert!(
                    state == one_thread_state,
                    "{name}, {threads} threads: state"
                );
            }
        }
    }
    tensor::set_threads(1);
}
