//! One picture's bytes -> what the network makes of it. `predict --json`
//! prints this for each picture and `POST /api/predict` answers with it,
//! so the command line and the page can never prepare a picture
//! differently.

use crate::config::INPUTS;
use crate::error::Error;
use crate::picture;
use mnist_data::Pixels;
use nn::Sequential;
use serde::Serialize;
use std::path::Path;

/// The answer for one picture, serialised as it appears in `predict
/// --json` (`{"digit": 7, "probabilities": [...]}`, beside the file name).
#[derive(Debug, Serialize)]
pub struct Recognition {
    /// The most probable class.
    pub digit: usize,
    /// One probability per class, summing to 1.
    pub probabilities: Vec<f32>,
    /// The 784 values the network received (row-major, 0.0 background to
    /// 1.0 ink): `--show` draws them, the page shows them enlarged.
    #[serde(skip)]
    pub input: Vec<f32>,
}

impl Recognition {
    /// The input as 8-bit grey levels, 0 background to 255 ink.
    pub fn input_levels(&self) -> Vec<u8> {
        self.input
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }
}

/// Decodes `bytes` (PNG or JPEG), prepares the picture as MNIST was made
/// and runs `model` on it, its inputs made as `pixels` says (the model
/// file's `input_pixels`). `name` is what an error calls the picture (its
/// path, or "the uploaded picture").
pub fn recognise(
    model: &mut Sequential,
    pixels: Pixels,
    bytes: &[u8],
    name: &Path,
) -> Result<Recognition, Error> {
    let picture_error = |problem| Error::Picture {
        path: name.to_path_buf(),
        problem,
    };
    let input = picture::to_mnist(&picture::decode(bytes).map_err(picture_error)?)
        .map_err(picture_error)?;
    // Pictures come out scaled to [0, 1]; the model may want them standardized.
    let model_input = input.iter().map(|&v| pixels.from_scaled(f64::from(v)));
    let matrix =
        tensor::Matrix::from_vec(1, INPUTS, model_input.collect()).map_err(nn::NnError::from)?;
    let probabilities = model.predict_proba(matrix.view())?.into_vec();
    Ok(Recognition {
        digit: tensor::ops::argmax(&probabilities),
        probabilities,
        input,
    })
}
