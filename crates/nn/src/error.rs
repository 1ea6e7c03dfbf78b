//! The one error type of this crate. Every variant that concerns a file
//! carries its path, so a message alone tells the user what to fix.

use std::path::PathBuf;
use tensor::ShapeError;

/// Everything that can go wrong in `nn`: bad specs, bad shapes, bad labels,
/// unreadable or mismatched weight files. Library code never panics on these.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A model or activation spec string that does not parse.
    #[error("invalid model spec {spec:?}: {problem}")]
    Spec {
        /// The string as given.
        spec: String,
        /// What is wrong with it, naming the offending token.
        problem: String,
    },

    /// Matrix shapes that do not fit together (from `tensor`).
    #[error("shape error: {0}")]
    Shape(#[from] ShapeError),

    /// The input batch has the wrong number of columns for the first layer.
    #[error("input has {got} features per row, the model expects {expected}")]
    InputWidth {
        /// Inputs of the first layer (784 for flat MNIST, `C*H*W` for images).
        expected: usize,
        /// Columns of the batch given.
        got: usize,
    },

    /// `backward` called without a matching `forward` (or with another batch).
    #[error("backward needs the forward pass of the same batch first: {problem}")]
    NoForward {
        /// What forward saw (rows, training or inference mode) against
        /// what backward got, or that no forward pass happened.
        problem: String,
    },

    /// A class label outside `0..classes`.
    #[error("label {label} at row {row} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The batch row of the label, from 0.
        row: usize,
        /// The label given.
        label: usize,
        /// Outputs of the model (10 for digits).
        classes: usize,
    },

    /// The number of targets does not match the number of rows.
    #[error("{targets} targets for a batch of {rows} rows")]
    TargetCount {
        /// Rows of the batch (`B`).
        rows: usize,
        /// Labels given.
        targets: usize,
    },

    /// A function with no useful derivative (the step function) was asked for one.
    #[error("{activation} has no useful derivative, so it cannot be trained by backprop")]
    NotDifferentiable {
        /// The activation's name in the spec language (`step`).
        activation: &'static str,
    },

    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file read or written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The bytes are not a well-formed safetensors file (truncated, garbled...).
    #[error("{}: not a valid safetensors file: {problem}", path.display())]
    Format {
        /// The file read or written.
        path: PathBuf,
        /// What is malformed (a length, the header, a tensor's entry).
        problem: String,
    },

    /// The file was saved from another architecture than the model it is loaded into.
    #[error("{}: saved from architecture {found:?}, but the model is {expected:?}", path.display())]
    ArchitectureMismatch {
        /// The file read or written.
        path: PathBuf,
        /// The spec in the file's `__metadata__`.
        found: String,
        /// The spec of the model loading it.
        expected: String,
    },

    /// A tensor handed to the writer is inconsistent (data length vs shape,
    /// duplicate or reserved name).
    #[error("{}: cannot write tensor {name:?}: {problem}", path.display())]
    InvalidTensor {
        /// The file read or written.
        path: PathBuf,
        /// The tensor's name in the file (`layers.0.weight`).
        name: String,
        /// What is inconsistent about it.
        problem: String,
    },

    /// A tensor the architecture needs is not in the file.
    #[error("{}: tensor {name:?} is missing (the architecture needs it)", path.display())]
    MissingTensor {
        /// The file read or written.
        path: PathBuf,
        /// The name the architecture expected (`layers.0.weight`).
        name: String,
    },

    /// The file holds a tensor the architecture does not have.
    #[error("{}: tensor {name:?} is not part of the architecture", path.display())]
    UnexpectedTensor {
        /// The file read or written.
        path: PathBuf,
        /// The tensor's name in the file (`layers.0.weight`).
        name: String,
    },

    /// A tensor has another shape than the architecture says.
    #[error("{}: tensor {name:?} has shape {found:?}, the architecture needs {expected:?}", path.display())]
    WrongShape {
        /// The file read or written.
        path: PathBuf,
        /// The tensor's name in the file (`layers.0.weight`).
        name: String,
        /// The shape the architecture needs (`[out, in]` for a dense weight).
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A weight is NaN or infinite: a model trained into divergence, or a
    /// damaged file. Refused on load and on save; such a model predicts
    /// nothing, often silently (ReLU turns NaN into 0).
    #[error("{}: tensor {name:?} holds {value} at index {index}; a usable model has only finite weights", path.display())]
    NonFinite {
        /// The file read or written.
        path: PathBuf,
        /// The tensor's name in the file (`layers.0.weight`).
        name: String,
        /// The first bad element, counted row-major from 0.
        index: usize,
        /// NaN, inf or -inf.
        value: f32,
    },

    /// A tensor is stored in a dtype other than F32 (or an I64 scalar).
    #[error("{}: tensor {name:?} has dtype {dtype}; only F32 tensors and I64 scalars (batch norm's num_batches_tracked) are supported: convert with .float() before saving", path.display())]
    WrongDtype {
        /// The file read or written.
        path: PathBuf,
        /// The tensor's name in the file (`layers.0.weight`).
        name: String,
        /// The dtype in the header (`F16`, `BF16`, `F64`, ...).
        dtype: String,
    },
}

/// `Result` with this crate's error.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
