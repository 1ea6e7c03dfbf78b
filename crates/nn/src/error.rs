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
    Spec { spec: String, problem: String },

    /// Matrix shapes that do not fit together (from `tensor`).
    #[error("shape error: {0}")]
    Shape(#[from] ShapeError),

    /// The input batch has the wrong number of columns for the first layer.
    #[error("input has {got} features per row, the model expects {expected}")]
    InputWidth { expected: usize, got: usize },

    /// `backward` called without a matching `forward` (or with another batch).
    #[error("backward needs the forward pass of the same batch first: {problem}")]
    NoForward { problem: String },

    /// A class label outside `0..classes`.
    #[error("label {label} at row {row} is out of range for {classes} classes")]
    LabelOutOfRange {
        row: usize,
        label: usize,
        classes: usize,
    },

    /// The number of targets does not match the number of rows.
    #[error("{targets} targets for a batch of {rows} rows")]
    TargetCount { rows: usize, targets: usize },

    /// A function with no useful derivative (the step function) was asked for one.
    #[error("{activation} has no useful derivative, so it cannot be trained by backprop")]
    NotDifferentiable { activation: &'static str },

    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The bytes are not a well-formed safetensors file (truncated, garbled...).
    #[error("{}: not a valid safetensors file: {problem}", path.display())]
    Format { path: PathBuf, problem: String },

    /// The file was saved from another architecture than the model it is loaded into.
    #[error("{}: saved from architecture {found:?}, but the model is {expected:?}", path.display())]
    ArchitectureMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },

    /// A tensor handed to the writer is inconsistent (data length vs shape,
    /// duplicate or reserved name).
    #[error("{}: cannot write tensor {name:?}: {problem}", path.display())]
    InvalidTensor {
        path: PathBuf,
        name: String,
        problem: String,
    },

    /// A tensor the architecture needs is not in the file.
    #[error("{}: tensor {name:?} is missing (the architecture needs it)", path.display())]
    MissingTensor { path: PathBuf, name: String },

    /// The file holds a tensor the architecture does not have.
    #[error("{}: tensor {name:?} is not part of the architecture", path.display())]
    UnexpectedTensor { path: PathBuf, name: String },

    /// A tensor has another shape than the architecture says.
    #[error("{}: tensor {name:?} has shape {found:?}, the architecture needs {expected:?}", path.display())]
    WrongShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// A weight is NaN or infinite: a model trained into divergence, or a
    /// damaged file. Refused on load and on save; such a model predicts
    /// nothing, often silently (ReLU turns NaN into 0).
    #[error("{}: tensor {name:?} holds {value} at index {index}; a usable model has only finite weights", path.display())]
    NonFinite {
        path: PathBuf,
        name: String,
        index: usize,
        value: f32,
    },

    /// A tensor is stored in a dtype other than F32 (or an I64 scalar).
    #[error("{}: tensor {name:?} has dtype {dtype}; only F32 tensors and I64 scalars (batch norm's num_batches_tracked) are supported: convert with .float() before saving", path.display())]
    WrongDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
}

pub type Result<T, E = NnError> = std::result::Result<T, E>;
