//! `mnist-data`: reads MNIST-format datasets (IDX files, gzipped or not, and
//! the common CSV exports), keeps their images compact as `u8`, and serves
//! seeded, shuffled mini-batches as `f32` matrices in reused buffers. Any
//! damaged or hostile file becomes a [`DataError`] naming the file and the
//! problem: never a panic, and never an allocation larger than the file can fill.
//!
//! Shape legend:
//! - `N` images in a set, each `rows x cols` pixels, `P = rows x cols` (784)
//! - `B` batch size: a batch is `B x P` pixels and `B` labels (`B x classes` one-hot)
//!
//! ```no_run
//! use mnist_data::{Batch, BatchOptions, Batches, MnistSet, Pixels, Split};
//! let set = MnistSet::load_dir("data/mnist", None)?;
//! let (train, validation) = set.train.split(Split::Last(5_000))?;
//! let options = BatchOptions {
//!     batch_size: 128,
//!     shuffle_seed: Some(7),
//!     pixels: Pixels::Standardized(train.pixel_stats()),
//!     ..BatchOptions::default()
//! };
//! let mut batches = Batches::new(&train, options)?;
//! let mut batch = Batch::new();
//! for epoch in 0..3 {
//!     batches.start_epoch(epoch);
//!     while batches.next_batch(&mut batch) {
//!         // batch.images(): B x 784 f32, batch.labels(): B class indices
//!     }
//! }
//! # let _ = validation;
//! # Ok::<(), mnist_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod batch;
mod csv;
mod dataset;
mod error;
mod file_set;
mod idx;
mod input;
mod summary;

pub use batch::{epoch_order, fill_epoch_order, Batch, BatchOptions, Batches, Pixels};
pub use dataset::{Dataset, PixelStats, Split};
pub use error::{DataError, Result};
pub use file_set::{DatasetFiles, MnistSet};
pub use idx::{parse_idx, read_idx, write_idx, Compression, IdxArray, IdxData, IdxType};
pub use summary::{render_ascii, Summary};
