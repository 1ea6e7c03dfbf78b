//! The models `serve` offers: the one `--model`, or every run under
//! `--runs` that holds a model. They are loaded once, at start, and held
//! in memory; a client chooses one by its id (a run folder's name), which
//! is looked up in this list and never used as a path.

use crate::error::Error;
use nn::Sequential;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// At most this many runs are offered (the newest by folder name, which
/// is the run's UTC start time for runs named by `train`): each is held
/// in memory.
const MAX_MODELS: usize = 50;

/// A model on offer.
pub struct Entry {
    /// What a client names it by: the run folder's name, or the file's.
    pub id: String,
    pub architecture: String,
    pub parameters: usize,
    /// From the run's metrics or the model card, when recorded.
    pub test_accuracy: Option<f32>,
    /// How the model's inputs are made (the file's `input_pixels`).
    pub pixels: mnist_data::Pixels,
    /// Inference needs `&mut` (the model reuses its buffers): one request at a time.
    pub model: Mutex<Sequential>,
}

pub struct Catalogue {
    /// Best recorded test accuracy first, then newest first.
    entries: Vec<Entry>,
}

/// `GET /api/models`.
#[derive(Serialize)]
pub struct Listing<'a> {
    pub models: Vec<ListedModel<'a>>,
}

#[derive(Serialize)]
pub struct ListedModel<'a> {
    pub id: &'a str,
    pub architecture: &'a str,
    pub parameters: usize,
    pub test_accuracy: Option<f32>,
    /// The model `POST /api/predict` uses when none is named.
    pub default: bool,
}

impl Catalogue {
    /// Only the model at `path` (a file, a checkpoint or a run folder),
    /// built from `arch` when the file does not name its network.
    pub fn one(path: &Path, arch: Option<&str>) -> Result<Catalogue, Error> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        // A run folder's model is named by the folder.
        let id = match (name.as_str(), path.parent().and_then(Path::file_name)) {
            ("model.safetensors", Some(folder)) => folder.to_string_lossy().into_owned(),
            _ => name,
        };
        Ok(Catalogue {
            entries: vec![load(path, id, arch)?],
        })
    }

    /// Every run folder directly under `runs` that holds a model.safetensors.
    /// A model that does not load is left out with a warning on stderr.
    pub fn runs(runs: &Path) -> Result<Catalogue, Error> {
        let listing = std::fs::read_dir(runs).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!(
                "{}: no such folder of runs; train a model with `trainer train`, or give \
                 --model FILE or --runs DIR",
                runs.display()
            )),
            _ => Error::io(runs, source),
        })?;
        let mut folders: Vec<(String, PathBuf)> = listing
            .filter_map(Result::ok)
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                )
            })
            .filter(|(_, path)| path.join("model.safetensors").is_file())
            .collect();
        folders.sort_by(|a, b| b.0.cmp(&a.0));
        if folders.len() > MAX_MODELS {
            eprintln!(
                "note: {} holds {} runs; offering the newest {MAX_MODELS}",
                runs.display(),
                folders.len()
            );
            folders.truncate(MAX_MODELS);
        }
        let mut entries = Vec::new();
        for (id, folder) in folders {
            match load(&folder, id, None) {
                Ok(entry) => entries.push(entry),
                Err(e) => eprintln!("warning: left out: {}", crate::one_line(&e.to_string())),
            }
        }
        if entries.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no run folder with a model.safetensors that loads; train one with \
                 `trainer train`, or give --model FILE",
                runs.display()
            )));
        }
        // Stable: among equal accuracies (or none), the newest stays first.
        entries.sort_by(|a, b| {
            let accuracy = |entry: &Entry| entry.test_accuracy.unwrap_or(-1.0);
            accuracy(b).total_cmp(&accuracy(a))
        });
        Ok(Catalogue { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn default_id(&self) -> &str {
        &self.entries[0].id
    }

    /// The model called `id`, or the default one when `id` is `None`.
    pub fn find(&self, id: Option<&str>) -> Option<&Entry> {
        match id {
            None => self.entries.first(),
            Some(id) => self.entries.iter().find(|entry| entry.id == id),
        }
    }

    pub fn listing(&self) -> Listing<'_> {
        let models = self
            .entries
            .iter()
            .enumerate()
            .map(|(index, entry)| ListedModel {
                id: &entry.id,
                architecture: &entry.architecture,
                parameters: entry.parameters,
                test_accuracy: entry.test_accuracy,
                default: index == 0,
            })
            .collect();
        Listing { models }
    }
}

fn load(path: &Path, id: String, arch: Option<&str>) -> Result<Entry, Error> {
    let crate::model_file::LoadedModel {
        model,
        metadata,
        file,
    } = crate::model_file::load(path, arch)?;
    let pixels = crate::evaluate::model_pixels(&metadata, &file)?;
    let test_accuracy =
        crate::export::recorded_test_result(path, &metadata).map(|result| result.accuracy);
    Ok(Entry {
        id,
        architecture: model.spec().summary(),
        parameters: model.parameter_count(),
        test_accuracy,
        pixels,
        model: Mutex::new(model),
    })
}
