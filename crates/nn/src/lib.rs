//! `nn`: the layers, losses and models of multilayer perceptrons and
//! convolutional networks, with forward and backward passes side by side
//! and every gradient proven against finite differences (see
//! `tests/gradient_check.rs`, whose f64 oracle convolves with seven nested
//! loops). Weights are stored as safetensors with PyTorch's names, so Python
//! reads them as they are and a `torch.nn.Sequential` of the same modules
//! loads them strictly.
//!
//! Shape legend: `B` batch size (rows), `I` inputs of a layer, `O` outputs of
//! a layer. `X` is `[B, I]`, `W` is `[O, I]` (PyTorch's layout), `b` is `[O]`,
//! `Y` is `[B, O]`; `dY` means `dL/dY`. Images are `[B, C, H, W]` (NCHW,
//! PyTorch's order) held in the same `B x (C*H*W)` matrices: row `b` is image
//! `b`, channel after channel, each channel row after row; a convolution's
//! weight is `[O, C, K, K]`, stored as `[O, C*K*K]`. Flattening an image for
//! a dense layer is free: its row already is PyTorch's `flatten` order.
//!
//! A network is written as one line ([`ModelSpec`]): `784-256-10` for a
//! perceptron, `1x28x28 c32k3 p2 c64k3 p2 f128 10` for a convolutional
//! network (convolutions `cNkK[sS][pP][bn]`, max pooling `pK`, average
//! pooling `aK` or `gap`, dense `fN[bn]`, dropout `dR`, the outputs last).
//!
//! Layers own their output and gradient buffers and resize them only when the
//! batch size changes, so a training step allocates nothing once warm
//! (`tests/no_alloc.rs` proves it with a counting allocator). Gradients are
//! overwritten by each backward pass, never accumulated: there is no `zero_grad`.
//!
//! ```
//! use nn::{Init, ModelSpec, Sequential};
//! use tensor::Matrix;
//! let spec = ModelSpec::parse("784-100-10 hidden=relu").unwrap();
//! let mut model = Sequential::new(&spec, Init::HeNormal, 42).unwrap();
//! let images = Matrix::zeros(3, 784);
//! let classes = model.predict(images.view()).unwrap();
//! assert_eq!(classes.len(), 3);
//! assert_eq!(model.parameter_count(), 784 * 100 + 100 + 100 * 10 + 10);
//!
//! let spec = ModelSpec::parse("1x28x28 c8k3 p2 10").unwrap();
//! let mut cnn = Sequential::new(&spec, Init::HeNormal, 42).unwrap();
//! let names: Vec<&str> = cnn.params().map(|(name, _, _)| name).collect();
//! // Conv2d, ReLU, MaxPool2d, Flatten, Linear: the output layer is module 4.
//! assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.4.weight", "layers.4.bias"]);
//! assert_eq!(cnn.predict(images.view()).unwrap().len(), 3);
//! ```

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod error;
mod evaluation;
mod init;
mod loss;
mod model;
mod pool;
pub mod safetensors;
mod spec;
mod stage;
mod weights;

pub use activation::{sigmoid, Activation};
pub use batch_norm::{BatchNorm, BATCH_NORM_EPS, BATCH_NORM_MOMENTUM};
pub use conv::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use error::{NnError, Result};
pub use evaluation::Evaluation;
pub use init::{standard_normal, Init};
pub use loss::{mse, sigmoid_binary_cross_entropy, softmax_cross_entropy, Targets};
pub use model::{Sequential, ARCHITECTURE_KEY, PREDICT_BATCH};
pub use pool::{Pool2d, PoolKind};
pub use spec::{LayerSpec, ModelSpec, PlacedLayer, Shape};
pub use stage::{Layer, ParamMut, TensorRef};
pub use weights::check_finite;
