//! Named starting points for `train --preset`: the classic tutorials, to
//! compare against, and our own default and best. One table, so `--help`,
//! the config and the README all read the same numbers. Any flag given
//! alongside a preset overrides that one setting.

use crate::config::Distortion;
use crate::options::{ActivationName, InitName, OptimizerName};

#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// Where it comes from or what it is for, shown by `--help`.
    pub about: &'static str,
    /// The network in `nn`'s spec language (`784-256-10`, `1x28x28 c32k3 p2 f128 10`).
    pub layers: &'static str,
    pub activation: ActivationName,
    pub optimizer: OptimizerName,
    pub lr: f32,
    /// `None`: the optimizer's own default (0.9 for momentum and nesterov).
    pub momentum: Option<f32>,
    pub weight_decay: f32,
    /// In the syntax of `optim`'s schedule parser.
    pub schedule: &'static str,
    pub batch_size: usize,
    pub epochs: usize,
    pub dropout: f32,
    /// Random shifts of training images, in pixels (0 = none).
    pub augment: usize,
    /// Rotation, scaling, shear, elastic distortion of training images.
    pub distortion: Distortion,
    pub init: InitName,
}

/// The preset used when neither `--preset` nor `--resume` is given.
pub const DEFAULT: &str = "default";

use ActivationName::{Relu, Sigmoid, Tanh};
use OptimizerName::{Adadelta, Adam, AdamW, Sgd};

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "softmax-regression",
        about: "784-10, no hidden layer: TensorFlow's first MNIST tutorial (about 92%)",
        layers: "784-10",
        activation: Relu,
        optimizer: Sgd,
        lr: 0.05,
        momentum: None,
        weight_decay: 0.0,
        schedule: "constant",
        batch_size: 100,
        epochs: 10,
        dropout: 0.0,
        augment: 0,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "tutorial-relu100",
        about: "784-100-10 ReLU, plain SGD: the PyTorch beginner tutorial's network",
        layers: "784-100-10",
        activation: Relu,
        optimizer: Sgd,
        lr: 0.1,
        momentum: None,
        weight_decay: 0.0,
        schedule: "constant",
        batch_size: 64,
        epochs: 10,
        dropout: 0.0,
        augment: 0,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "tutorial-25x25-adam",
        about: "784-25-25-10 ReLU, Adam lr 1e-3: the small Keras/PyTorch tutorial network",
        layers: "784-25-25-10",
        activation: Relu,
        optimizer: Adam,
        lr: 1e-3,
        momentum: None,
        weight_decay: 0.0,
        schedule: "constant",
        batch_size: 32,
        epochs: 10,
        dropout: 0.0,
        augment: 0,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "book-sigmoid-50-100",
        about: "784-50-100-10 sigmoid, SGD: the network of 'Deep Learning from Scratch' ch. 3-4",
        layers: "784-50-100-10",
        activation: Sigmoid,
        optimizer: Sgd,
        lr: 0.1,
        momentum: None,
        weight_decay: 0.0,
        schedule: "constant",
        batch_size: 100,
        epochs: 17,
        dropout: 0.0,
        augment: 0,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "mlp",
        about: "784-256-128-10 ReLU, 1-px shifts, Adam, cosine schedule: the MLP default (98.8% in ~5 s)",
        layers: "784-256-128-10",
        activation: Relu,
        optimizer: Adam,
        lr: 2e-3,
        momentum: None,
        weight_decay: 0.0,
        schedule: "cosine",
        batch_size: 128,
        epochs: 8,
        dropout: 0.0,
        augment: 1,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "mlp-best",
        about: "784-1024-1024-10 ReLU, dropout, 2-px shifts, AdamW, cosine: the most accurate MLP",
        layers: "784-1024-1024-10",
        activation: Relu,
        optimizer: AdamW,
        lr: 1e-3,
        momentum: None,
        weight_decay: 1e-2,
        schedule: "cosine",
        batch_size: 128,
        epochs: 30,
        dropout: 0.2,
        augment: 2,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "lenet5",
        about: "LeNet-5 (LeCun et al. 1998): conv6-avgpool-conv16-avgpool-120-84-10, tanh, 2-px shifts, Adam",
        layers: "1x28x28 c6k5p2 a2 c16k5 a2 f120 f84 10",
        activation: Tanh,
        optimizer: Adam,
        lr: 2e-3,
        momentum: None,
        weight_decay: 0.0,
        schedule: "cosine",
        batch_size: 128,
        epochs: 10,
        dropout: 0.0,
        augment: 2,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "pytorch-example",
        about: "PyTorch's examples/mnist: conv32-conv64-maxpool-dropout-128-dropout-10, Adadelta, lr x0.7 per epoch",
        layers: "1x28x28 c32k3 c64k3 p2 d0.25 f128 d0.5 10",
        activation: Relu,
        optimizer: Adadelta,
        lr: 1.0,
        momentum: None,
        weight_decay: 0.0,
        schedule: "step:1:0.7",
        batch_size: 64,
        epochs: 14,
        dropout: 0.0,
        augment: 0,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: DEFAULT,
        about: "1x28x28 c16k3bn p2 c32k3bn p2 10: a small batch-norm CNN, 1-px shifts, Adam, cosine",
        layers: "1x28x28 c16k3bn p2 c32k3bn p2 10",
        activation: Relu,
        optimizer: Adam,
        lr: 5e-3,
        momentum: None,
        weight_decay: 0.0,
        schedule: "cosine",
        batch_size: 128,
        epochs: 5,
        dropout: 0.0,
        augment: 1,
        distortion: Distortion::NONE,
        init: InitName::Auto,
    },
    Preset {
        name: "best",
        about: "a deeper batch-norm CNN (conv 32-32-64-64, dense 256) with rotations, scaling and shear, AdamW, cosine",
        layers: "1x28x28 c32k3bn c32k3bn p2 c64k3bn c64k3bn p2 f256bn d0.3 10",
        activation: Relu,
        optimizer: AdamW,
        lr: 3e-3,
        momentum: None,
        weight_decay: 1e-2,
        schedule: "cosine",
        batch_size: 128,
        epochs: 12,
        dropout: 0.0,
        augment: 2,
        distortion: Distortion {
            rotate: 10.0,
            scale: 0.1,
            shear: 10.0,
            elastic_alpha: 0.0,
            elastic_sigma: 0.0,
        },
        init: InitName::Auto,
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The preset names, comma separated, for help and error messages.
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per preset, for `train --help`.
pub fn help_table() -> String {
    let mut table = String::from("Presets:\n");
    for p in PRESETS {
        table.push_str(&format!("  {:<21} {}\n", p.name, p.about));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_unique_well_formed_and_include_the_default() {
        assert!(find(DEFAULT).is_some());
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[..i].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
            let spec = nn::ModelSpec::parse(p.layers).unwrap();
            assert_eq!(spec.inputs(), 784, "{}", p.name);
            assert_eq!(spec.outputs(), 10, "{}", p.name);
            assert!(p.lr > 0.0 && p.batch_size > 0 && p.epochs > 0, "{}", p.name);
            assert!((0.0..1.0).contains(&p.dropout), "{}", p.name);
        }
        let issue_names = [
            "softmax-regression",
            "tutorial-relu100",
            "tutorial-25x25-adam",
            "book-sigmoid-50-100",
            "default",
            "best",
            "mlp",
            "mlp-best",
            "lenet5",
            "pytorch-example",
        ];
        for name in issue_names {
            assert!(find(name).is_some(), "{name} missing");
        }
        assert_eq!(find("softmax-regression").unwrap().layers, "784-10");
        assert!(help_table().lines().count() == PRESETS.len() + 1);
    }
}
