//! Where every command gets its model: a `model.safetensors` or a
//! `checkpoint` written by `trainer train`, a run folder standing for the
//! model it holds, or a `state_dict` PyTorch saved with
//! `safetensors.torch.save_file`, which carries no architecture: then the
//! caller gives it (`--arch "SPEC"`, in `nn`'s spec language).

use crate::config::{parameters_of, CLASSES, INPUTS, MAX_PARAMETERS};
use crate::error::Error;
use nn::{ModelSpec, Sequential, ARCHITECTURE_KEY};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model read from a file, with what the file says about it.
pub struct LoadedModel {
    pub model: Sequential,
    /// The file's `__metadata__`: the architecture and, for files `train`
    /// wrote, the model card (empty for PyTorch's files).
    pub metadata: BTreeMap<String, String>,
    /// The file read: `path` itself, or the `model.safetensors` of the
    /// run folder `path` names.
    pub file: PathBuf,
}

/// The model at `path` (a model file, a checkpoint, a run folder), built
/// from the architecture the file names or, when it names none, from
/// `arch`; when both are there they must agree. The network must take
/// MNIST's 784 pixels and give 10 classes. Every tensor is checked: the
/// first one whose name or shape does not fit is the error.
pub fn load(path: &Path, arch: Option<&str>) -> Result<LoadedModel, Error> {
    let in_folder = path.join("model.safetensors");
    let path = if path.is_dir() && in_folder.is_file() {
        in_folder.as_path()
    } else {
        path
    };
    let spec = arch.map(parse_arch).transpose()?;
    let bytes = crate::files::read_bounded(path, crate::files::MAX_MODEL_BYTES, "a model")?;
    let file = nn::safetensors::decode(&bytes, path)?;
    // A checkpoint holds the model's tensors and the optimizer's besides.
    let allow_extra = crate::checkpoint::is_checkpoint(&file.metadata);
    let model = match (&spec, file.metadata.get(ARCHITECTURE_KEY)) {
        (None, None) => {
            return Err(Error::model(
                path,
                "the file does not say which network it holds (a PyTorch state_dict?): \
                 give it with --arch \"SPEC\", e.g. --arch \"1x28x28 c16k3bn p2 c32k3bn p2 10\" \
                 (`trainer info --arch SPEC --pytorch` prints the PyTorch module of a spec)",
            ))
        }
        (Some(spec), Some(saved)) if ModelSpec::parse(saved).ok().as_ref() != Some(spec) => {
            let saved = ModelSpec::parse(saved).map_or(saved.clone(), |s| s.summary());
            return Err(Error::model(
                path,
                format!(
                    "the file holds a {saved} network, not the {} asked for: give \
                     --arch \"{saved}\"",
                    spec.summary()
                ),
            ));
        }
        (Some(spec), _) => Sequential::from_tensor_file_as(spec, &file, path, allow_extra)?,
        (None, Some(_)) => Sequential::from_tensor_file(&file, path, allow_extra)?,
    };
    if let Some(problem) = digits_problem(model.spec()) {
        return Err(Error::model(path, problem));
    }
    Ok(LoadedModel {
        model,
        metadata: file.metadata,
        file: path.to_path_buf(),
    })
}

/// A freshly initialised model of the network `arch` (for `info --arch`
/// without a file), standing for the file `model.safetensors`.
pub fn fresh(arch: &str) -> Result<LoadedModel, Error> {
    let spec = parse_arch(arch)?;
    if let Some(problem) = digits_problem(&spec) {
        return Err(Error::Usage(format!("--arch: {problem}")));
    }
    if parameters_of(&spec) > MAX_PARAMETERS {
        return Err(Error::Usage(format!(
            "--arch {arch} would have {} parameters, more than the {MAX_PARAMETERS} this \
             trainer accepts",
            parameters_of(&spec)
        )));
    }
    Ok(LoadedModel {
        model: Sequential::new(&spec, nn::Init::HeNormal, 0)?,
        metadata: BTreeMap::new(),
        file: PathBuf::from("model.safetensors"),
    })
}

fn parse_arch(text: &str) -> Result<ModelSpec, Error> {
    ModelSpec::parse(text).map_err(|e| Error::Usage(format!("--arch: {e}")))
}

/// Why a network cannot classify MNIST digits (784 pixels in, 10 classes
/// out), if it cannot.
fn digits_problem(spec: &ModelSpec) -> Option<String> {
    (spec.inputs() != INPUTS || spec.outputs() != CLASSES).then(|| {
        format!(
            "the model is {spec}: it takes {} inputs and gives {} classes, but MNIST \
             digits need {INPUTS} inputs and {CLASSES} classes",
            spec.inputs(),
            spec.outputs()
        )
    })
}
