//! A model's weights on disk: safetensors with PyTorch's names, the
//! architecture line in the metadata, every name and shape checked on load.

use crate::safetensors::{self, TensorFile};
use crate::{Init, ModelSpec, NnError, Result, Sequential, ARCHITECTURE_KEY};
use std::collections::BTreeMap;
use std::path::Path;

impl Sequential {
    /// The metadata stored with the weights: the architecture line.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ARCHITECTURE_KEY.to_string(), self.spec().to_string()),
            ("format".to_string(), "nn.Sequential".to_string()),
        ])
    }

    /// Writes the weights as safetensors (atomically: temp file, then rename).
    /// Non-finite weights are refused ([`NnError::NonFinite`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, &BTreeMap::new())
    }

    /// [`Sequential::save`] with more metadata beside the architecture (a
    /// model card: how the weights were made, how well they did); the
    /// model's own keys win over `extra`'s. Non-finite weights are refused.
    pub fn save_with(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        check_finite(path, self.tensors())?;
        let mut metadata = extra.clone();
        metadata.extend(self.metadata());
        safetensors::write_tensors(path, self.tensors(), &metadata)
    }

    /// Builds a model from a weights file, using the architecture in its
    /// metadata; every name, dtype and shape is checked. Dropout layers (if
    /// any) are seeded with `0`: their state is not part of the weights.
    pub fn load(path: &Path) -> Result<Sequential> {
        Sequential::from_tensor_file(&safetensors::read_tensors(path)?, path, false)
    }

    /// [`Sequential::load`] for a file already read (`path` only names it in
    /// errors), so a caller that reads the metadata first need not read the
    /// file twice. With `allow_extra`, tensors that are not parameters (a
    /// trainer checkpoint's optimizer state) are ignored.
    pub fn from_tensor_file(
        file: &TensorFile,
        path: &Path,
        allow_extra: bool,
    ) -> Result<Sequential> {
        let Some(architecture) = file.metadata.get(ARCHITECTURE_KEY) else {
            return Err(NnError::Format {
                path: path.to_path_buf(),
                problem: format!(
                    "no {ARCHITECTURE_KEY:?} in __metadata__; build the model from its spec \
                     and use load_weights"
                ),
            });
        };
        let spec = ModelSpec::parse(architecture).map_err(|e| NnError::Format {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Sequential::from_tensor_file_as(&spec, file, path, allow_extra)
    }

    /// [`Sequential::from_tensor_file`] for a network given by its `spec`,
    /// for files that do not name one (a `state_dict` saved by PyTorch with
    /// `safetensors.torch.save_file`). A file that does name one must name
    /// this one ([`NnError::ArchitectureMismatch`]). Tensors are looked up by
    /// our names (`layers.0.weight`) or, as a bare `nn.Sequential` saves them,
    /// without the `layers.` prefix (`0.weight`); the first one missing or
    /// of another shape, in the network's order, is the error.
    pub fn from_tensor_file_as(
        spec: &ModelSpec,
        file: &TensorFile,
        path: &Path,
        allow_extra: bool,
    ) -> Result<Sequential> {
        if let Some(architecture) = file.metadata.get(ARCHITECTURE_KEY) {
            if ModelSpec::parse(architecture).ok().as_ref() != Some(spec) {
                return Err(NnError::ArchitectureMismatch {
                    path: path.to_path_buf(),
                    found: architecture.clone(),
                    expected: spec.to_string(),
                });
            }
        }
        // Check the file against the architecture before building anything:
        // a file's claims must not allocate more than the file holds.
        check_tensors(file, path, &spec.tensor_shapes(), allow_extra)?;
        let mut model = Sequential::new(spec, Init::HeNormal, 0)?;
        model.assign_params(file, path, allow_extra)?;
        Ok(model)
    }

    /// Loads weights into this model. If the file names an architecture it
    /// must be this one; then every name, dtype and shape is checked.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let file = safetensors::read_tensors(path)?;
        if let Some(architecture) = file.metadata.get(ARCHITECTURE_KEY) {
            let same = ModelSpec::parse(architecture).is_ok_and(|spec| &spec == self.spec());
            if !same {
                return Err(NnError::ArchitectureMismatch {
                    path: path.to_path_buf(),
                    found: architecture.clone(),
                    expected: self.spec().to_string(),
                });
            }
        }
        self.assign_params(&file, path, false)
    }

    /// Copies this model's tensors (parameters and batch norm statistics)
    /// out of `file` (read from `path`, named in errors): every one must be
    /// present with its exact shape. With `allow_extra`, other tensors (an
    /// optimizer's state in a checkpoint) are ignored; without it they are
    /// an error. Nothing is changed on error.
    pub fn assign_params(
        &mut self,
        file: &TensorFile,
        path: &Path,
        allow_extra: bool,
    ) -> Result<()> {
        let expected: Vec<(String, Vec<usize>)> = self
            .tensors()
            .map(|(name, shape, _)| (name.to_string(), shape.to_vec()))
            .collect();
        check_tensors(file, path, &expected, allow_extra)?;
        let stored = (expected.iter()).filter_map(|(name, _)| stored_tensor(file, name));
        check_finite(
            path,
            stored.map(|t| (t.name.as_str(), &t.shape[..], &t.data[..])),
        )?;
        for stage in self.stages_mut() {
            for (name, _, value) in stage.tensors_mut() {
                if let Some(tensor) = stored_tensor(file, name) {
                    value.copy_from_slice(&tensor.data);
                }
            }
        }
        self.forget_forward();
        Ok(())
    }
}

/// Every value of every tensor finite, else [`NnError::NonFinite`] naming
/// `path`, the tensor and the first bad value. Used on load and on save, and
/// by writers of other files that hold weights (a trainer's checkpoint).
pub fn check_finite<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
) -> Result<()> {
    for (name, _, values) in tensors {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(NnError::NonFinite {
                path: path.to_path_buf(),
                name: name.to_string(),
                index,
                value: values[index],
            });
        }
    }
    Ok(())
}

/// Our models are held as `layers` (`layers.0.weight`); a bare
/// `nn.Sequential`'s `state_dict` names the same tensor `0.weight`.
const SEQUENTIAL_PREFIX: &str = "layers.";

/// The tensor our model calls `name`, under that name or, as a bare
/// `nn.Sequential` names it, without [`SEQUENTIAL_PREFIX`].
fn stored_tensor<'a>(file: &'a TensorFile, name: &str) -> Option<&'a safetensors::Tensor> {
    file.get(name).or_else(|| {
        let bare = name.strip_prefix(SEQUENTIAL_PREFIX)?;
        file.get(bare)
    })
}

/// Every `(name, shape)` of `expected` must be in `file` with that shape
/// (under its name, or that of a bare `nn.Sequential`); unless
/// `allow_extra`, nothing else may be.
fn check_tensors(
    file: &TensorFile,
    path: &Path,
    expected: &[(String, Vec<usize>)],
    allow_extra: bool,
) -> Result<()> {
    for (name, shape) in expected {
        let tensor = stored_tensor(file, name).ok_or_else(|| NnError::MissingTensor {
            path: path.to_path_buf(),
            name: name.clone(),
        })?;
        if &tensor.shape != shape {
            return Err(NnError::WrongShape {
                path: path.to_path_buf(),
                name: name.clone(),
                expected: shape.clone(),
                found: tensor.shape.clone(),
            });
        }
    }
    if !allow_extra {
        for tensor in &file.tensors {
            let ours = |name: &String| {
                name == &tensor.name
                    || name.strip_prefix(SEQUENTIAL_PREFIX) == Some(tensor.name.as_str())
            };
            if !expected.iter().any(|(name, _)| ours(name)) {
                return Err(NnError::UnexpectedTensor {
                    path: path.to_path_buf(),
                    name: tensor.name.clone(),
                });
            }
        }
    }
    Ok(())
}
