//! Shows what the crate reads: `cargo run --release -p mnist-data --example
//! inspect -- [DIR_OR_IDX_OR_CSV] [IMAGE_INDEX]`. A directory prints both
//! halves' summaries and one training image; a single IDX file prints its
//! type and shape; a CSV prints its summary. Errors print as one line.
//! Without a path it reads the bundled `data/mnist`. `tests/examples.rs`
//! runs [`inspect`] on each kind of input.

use mnist_data::{read_idx, Dataset, MnistSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let target = args.first().map_or(bundled, PathBuf::from);
    let index: usize = args.get(1).and_then(|i| i.parse().ok()).unwrap_or(0);
    match inspect(&target, index) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What `main` prints for `path` (and training image `index` of a folder).
pub fn inspect(path: &Path, index: usize) -> mnist_data::Result<String> {
    if path.is_dir() {
        let set = MnistSet::load_dir(path, None)?;
        let image = index.min(set.train.len().saturating_sub(1));
        return Ok(format!(
            "training set: {}\n\ntest set: {}\n\ntraining image {image}, label {}:\n{}",
            set.train.summary(),
            set.test.summary(),
            set.train.label(image),
            set.train.render_ascii(image)
        ));
    }
    if path.extension().is_some_and(|e| e == "csv") {
        return Ok(format!(
            "{}\n",
            Dataset::from_csv(path, None, None)?.summary()
        ));
    }
    let array = read_idx(path)?;
    Ok(format!(
        "{}: IDX {} array of shape {:?}\n",
        path.display(),
        array.data().idx_type().name(),
        array.dims()
    ))
}
