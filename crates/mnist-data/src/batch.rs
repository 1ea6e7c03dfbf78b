//! Mini-batches: `u8` images gathered in a (seeded, per-epoch) shuffled order
//! and converted to `f32` in a buffer the caller keeps, so steady-state
//! training allocates nothing here.

use crate::dataset::{Dataset, PixelStats};
use crate::error::{DataError, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tensor::Matrix;

/// How a pixel `p` in 0..=255 becomes an `f32`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pixels {
    /// `p / 255`, in [0, 1].
    Scaled,
    /// `(p / 255 - mean) / std`, with the training set's statistics
    /// ([`Dataset::pixel_stats`]); use the same ones for validation and test,
    /// and save them with the model ([`Pixels::to_metadata`]).
    Standardized(PixelStats),
}

impl Pixels {
    /// The key of a model file's metadata under which
    /// [`to_metadata`](Pixels::to_metadata) records how the model's inputs
    /// were made, so that whoever uses the model makes them the same way.
    pub const METADATA_KEY: &'static str = "input_pixels";

    /// The `f32` for every possible pixel value: converting through a
    /// 256-entry table is exact and as fast as a load.
    pub fn table(self) -> [f32; 256] {
        std::array::from_fn(|p| self.from_scaled(p as f64 / 255.0))
    }

    /// A value already scaled to [0, 1] (`p / 255`, or a picture's
    /// brightness) as this convention has it.
    pub fn from_scaled(self, scaled: f64) -> f32 {
        let (mean, std) = match self {
            Pixels::Scaled => (0.0, 1.0),
            // A constant image set has std 0; leave it centred, not infinite.
            Pixels::Standardized(s) => (s.mean, if s.std > 0.0 { s.std } else { 1.0 }),
        };
        ((scaled - mean) / std) as f32
    }

    /// `scaled`, or `standardized mean=M std=S` with the statistics exact
    /// (they read back to the same bits).
    ///
    /// ```
    /// use mnist_data::{PixelStats, Pixels};
    /// let pixels = Pixels::Standardized(PixelStats { mean: 0.1307, std: 0.3081 });
    /// assert_eq!(pixels.to_metadata(), "standardized mean=0.1307 std=0.3081");
    /// assert_eq!(Pixels::from_metadata(&pixels.to_metadata()), Ok(pixels));
    /// assert_eq!(Pixels::from_metadata("scaled"), Ok(Pixels::Scaled));
    /// ```
    pub fn to_metadata(self) -> String {
        match self {
            Pixels::Scaled => "scaled".to_string(),
            Pixels::Standardized(s) => format!("standardized mean={} std={}", s.mean, s.std),
        }
    }

    /// Reads [`to_metadata`](Pixels::to_metadata)'s text back; the `Err`
    /// says what was expected.
    pub fn from_metadata(text: &str) -> std::result::Result<Pixels, String> {
        let stats = text
            .strip_prefix("standardized mean=")
            .and_then(|rest| rest.split_once(" std="))
            .and_then(|(mean, std)| Some((mean.parse::<f64>().ok()?, std.parse::<f64>().ok()?)));
        match (text, stats) {
            ("scaled", _) => Ok(Pixels::Scaled),
            (_, Some((mean, std))) if mean.is_finite() && std.is_finite() && std >= 0.0 => {
                Ok(Pixels::Standardized(PixelStats { mean, std }))
            }
            _ => Err(format!(
                "'{text}' is not 'scaled' or 'standardized mean=M std=S' (S finite, 0 or more)"
            )),
        }
    }
}

/// How [`Batches`] cuts an epoch into mini-batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchOptions {
    /// `B`, the rows of a full batch.
    pub batch_size: usize,
    /// `Some(seed)`: a new shuffle each epoch, reproducible from the seed
    /// and the epoch number alone. `None`: the set's own order every epoch.
    pub shuffle_seed: Option<u64>,
    /// Drop the last batch of an epoch when it has fewer than `B` items.
    pub drop_last: bool,
    /// How pixels become inputs.
    pub pixels: Pixels,
    /// Also fill a one-hot label matrix (`B x classes`).
    pub one_hot: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            batch_size: 64,
            shuffle_seed: None,
            drop_last: false,
            pixels: Pixels::Scaled,
            one_hot: false,
        }
    }
}

/// One mini-batch, reused from batch to batch: `images` is `B x P` (P =
/// rows x cols, one flattened image per row), `labels` has `B` class indices.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    images: Matrix,
    labels: Vec<usize>,
    one_hot: Matrix,
    has_one_hot: bool,
    indices: Vec<usize>,
    image_shape: (usize, usize),
}

impl Batch {
    /// An empty batch; its buffers grow on first use and are then reused.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// `B x P` pixels as `f32`.
    pub fn images(&self) -> &Matrix {
        &self.images
    }

    /// `B` class indices.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// `B x classes`, 1.0 at each label; `None` unless asked for.
    pub fn one_hot(&self) -> Option<&Matrix> {
        self.has_one_hot.then_some(&self.one_hot)
    }

    /// Which dataset items this batch holds, in row order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// `(rows, cols)` of each image, to view a row as a 2-D image.
    pub fn image_shape(&self) -> (usize, usize) {
        self.image_shape
    }

    /// `B`, the number of items (the last batch of an epoch may be short).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// No rows (before the first batch is drawn).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The order of items in epoch `epoch` for a set of `len` items shuffled
/// with `seed`: it depends on `(seed, epoch)` only, so a run resumed at
/// epoch `k` sees exactly the batches an uninterrupted run would.
///
/// ```
/// use mnist_data::epoch_order;
/// let order = epoch_order(10, 42, 3);
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, (0..10).collect::<Vec<_>>()); // a permutation
/// assert_eq!(order, epoch_order(10, 42, 3)); // reproducible
/// assert_ne!(order, epoch_order(10, 42, 4)); // and new each epoch
/// ```
pub fn epoch_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order = Vec::with_capacity(len);
    fill_epoch_order(&mut order, len, Some(seed), epoch);
    order
}

/// [`epoch_order`] into an existing buffer (`None`: the identity order).
pub fn fill_epoch_order(order: &mut Vec<usize>, len: usize, seed: Option<u64>, epoch: u64) {
    order.clear();
    order.extend(0..len);
    if let Some(seed) = seed {
        let mut rng = StdRng::seed_from_u64(epoch_seed(seed, epoch));
        order.shuffle(&mut rng);
    }
}

/// Mixes the run's seed and the epoch into one RNG seed (SplitMix64's
/// finaliser, so nearby seeds and epochs give unrelated streams).
fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Cuts a dataset into mini-batches, epoch after epoch.
///
/// ```
/// use mnist_data::{Batch, BatchOptions, Batches, Dataset};
/// // Three 1x2 images labelled 0, 1, 2.
/// let set = Dataset::new(vec![0, 255, 51, 102, 255, 0], vec![0, 1, 2], (1, 2), None).unwrap();
/// let options = BatchOptions { batch_size: 2, one_hot: true, ..BatchOptions::default() };
/// let mut batches = Batches::new(&set, options).unwrap();
/// let mut batch = Batch::new();
/// assert!(batches.next_batch(&mut batch));
/// assert_eq!(batch.images().as_slice(), &[0.0, 1.0, 0.2, 0.4]);
/// assert_eq!(batch.labels(), &[0, 1]);
/// assert_eq!(batch.one_hot().unwrap().as_slice(), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
/// assert!(batches.next_batch(&mut batch)); // the short last batch
/// assert_eq!(batch.labels(), &[2]);
/// assert!(!batches.next_batch(&mut batch)); // end of epoch 0
/// batches.start_epoch(1);
/// assert!(batches.next_batch(&mut batch));
/// ```
#[derive(Clone, Debug)]
pub struct Batches<'a> {
    dataset: &'a Dataset,
    options: BatchOptions,
    pixel_table: [f32; 256],
    order: Vec<usize>,
    cursor: usize,
    epoch: u64,
}

impl<'a> Batches<'a> {
    /// Batches over `dataset`, positioned at the start of epoch 0.
    pub fn new(dataset: &'a Dataset, options: BatchOptions) -> Result<Batches<'a>> {
        if options.batch_size == 0 {
            return Err(DataError::InvalidRequest(
                "batch size must be at least 1".into(),
            ));
        }
        let mut batches = Batches {
            dataset,
            options,
            pixel_table: options.pixels.table(),
            order: Vec::with_capacity(dataset.len()),
            cursor: 0,
            epoch: 0,
        };
        batches.start_epoch(0);
        Ok(batches)
    }

    /// Restarts at the first batch of `epoch` (allocation-free).
    pub fn start_epoch(&mut self, epoch: u64) {
        fill_epoch_order(
            &mut self.order,
            self.dataset.len(),
            self.options.shuffle_seed,
            epoch,
        );
        self.epoch = epoch;
        self.cursor = 0;
    }

    /// The epoch being served.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Batches in one epoch (counting a short last one unless dropped).
    pub fn batches_per_epoch(&self) -> usize {
        let (len, b) = (self.dataset.len(), self.options.batch_size);
        if self.options.drop_last {
            len / b
        } else {
            len.div_ceil(b)
        }
    }

    /// Skips the next `count` batches of this epoch (to resume a run).
    pub fn skip_batches(&mut self, count: usize) {
        self.cursor = count
            .saturating_mul(self.options.batch_size)
            .saturating_add(self.cursor)
            .min(self.order.len());
    }

    /// Fills `batch` with the next mini-batch of this epoch; `false` (and
    /// `batch` untouched) once the epoch is exhausted. Reuses `batch`'s
    /// buffers, so it allocates only when a batch outgrows them.
    pub fn next_batch(&mut self, batch: &mut Batch) -> bool {
        let remaining = self.order.len() - self.cursor;
        let size = remaining.min(self.options.batch_size);
        if size == 0 || (self.options.drop_last && size < self.options.batch_size) {
            return false;
        }
        let indices = &self.order[self.cursor..self.cursor + size];
        self.cursor += size;

        let pixels = self.dataset.pixels_per_image();
        batch.image_shape = self.dataset.image_shape();
        batch.images.resize(size, pixels);
        if pixels > 0 {
            // Gathering is bound by memory latency, not arithmetic, so two
            // cores fetch twice as many lines at once: big batches are
            // shared out over the GEMM pool's threads (idle at this point
            // of a training step).
            let parts = tensor::threads()
                .min(size / MIN_ROWS_PER_THREAD)
                .clamp(1, MAX_THREADS);
            let mut shares: [(&mut [f32], &[usize]); MAX_THREADS] = Default::default();
            let (mut images, mut rest) = (batch.images.as_mut_slice(), indices);
            for (part, share) in shares.iter_mut().take(parts).enumerate() {
                let rows = tensor::parallel::part_range(size, parts, part, 1).len();
                let (these, later) = std::mem::take(&mut images).split_at_mut(rows * pixels);
                (share.0, images) = (these, later);
                (share.1, rest) = rest.split_at(rows);
            }
            let (dataset, pixels, table) = (self.dataset, self.options.pixels, &self.pixel_table);
            tensor::parallel::for_each_part(&mut shares[..parts], &|(rows, indices)| {
                convert_images(dataset, indices, pixels, table, rows)
            });
        }
        batch.indices.clear();
        batch.indices.extend_from_slice(indices);
        batch.labels.clear();
        batch
            .labels
            .extend(indices.iter().map(|&i| self.dataset.label(i) as usize));

        // Ask for the next batch's images now: their lines arrive from
        // memory while the caller trains on this batch, so the next call
        // converts from cache instead of waiting on each line in turn.
        // Saturating: the batch size is the user's number and may be as
        // large as usize allows (`--batch-size 18446744073709551615`).
        let next_end = self
            .cursor
            .saturating_add(self.options.batch_size)
            .min(self.order.len());
        for &index in &self.order[self.cursor..next_end] {
            prefetch(self.dataset.image(index));
        }

        batch.has_one_hot = self.options.one_hot;
        if self.options.one_hot {
            let classes = self.dataset.classes();
            batch.one_hot.resize(size, classes);
            batch.one_hot.fill(0.0);
            for (row, &label) in batch.labels.iter().enumerate() {
                batch.one_hot[(row, label)] = 1.0;
            }
        }
        true
    }
}

/// Below this many rows per thread a batch is converted on one thread: the
/// hand-over to the pool (a microsecond or two) would cost more than it saves.
const MIN_ROWS_PER_THREAD: usize = 32;
/// At most this many threads share a batch (their shares live on the stack).
const MAX_THREADS: usize = 8;

/// Writes image `indices[r]` of `dataset`, converted to `f32`, into row `r`
/// of `rows`.
fn convert_images(
    dataset: &Dataset,
    indices: &[usize],
    pixels: Pixels,
    table: &[f32; 256],
    rows: &mut [f32],
) {
    let rows = rows.chunks_exact_mut(dataset.pixels_per_image());
    // Eight lanes or more where the CPU has AVX2: the baseline build's four-lane
    // conversion (byte unpacking, then a division) was the larger part of
    // the gather, which this halved (figures in BENCHMARKS.md,
    // "Measurements behind the code").
    tensor::cpu::with_simd(
        #[inline(always)]
        || convert_rows(dataset, indices, pixels, table, rows),
    );
}

/// [`convert_images`]'s loop.
#[inline(always)]
fn convert_rows<'a>(
    dataset: &Dataset,
    indices: &[usize],
    pixels: Pixels,
    table: &[f32; 256],
    rows: impl Iterator<Item = &'a mut [f32]>,
) {
    for (r, (row, &index)) in rows.zip(indices).enumerate() {
        // Shuffled images are scattered over a set larger than the cache,
        // and the loop below stalls on every line of each (a visible share
        // of a 784-100-10 training step): ask for the lines of an image a few
        // rows ahead so they arrive while this one converts. (`next_batch`
        // also prefetches the whole next batch, but the first batch of an
        // epoch, or a caller that does nothing between batches, misses.)
        if let Some(&ahead) = indices.get(r + PREFETCH_ROWS_AHEAD) {
            prefetch(dataset.image(ahead));
        }
        let image = dataset.image(index);
        match pixels {
            Pixels::Scaled => {
                for (x, &p) in row.iter_mut().zip(image) {
                    *x = scaled(p);
                }
            }
            Pixels::Standardized(_) => {
                for (x, &p) in row.iter_mut().zip(image) {
                    *x = table[p as usize];
                }
            }
        }
    }
}

/// `p / 255` in f32, correctly rounded, so the table's value bit for bit,
/// but without a division: unlike a table lookup this vectorises, and
/// without the vector division, which then bounded it, it is faster again
/// (figures in BENCHMARKS.md, "Measurements behind the code").
/// `q = p * (1/255)` is within an ulp of the quotient; one FMA gives its
/// exact remainder `p - 255 q` and a second adds the remainder's share,
/// which rounds to the correctly rounded quotient (Markstein's correction;
/// checked for all 256 pixels in the tests).
#[inline(always)]
fn scaled(p: u8) -> f32 {
    const RECIPROCAL: f32 = 1.0 / 255.0;
    let p = f32::from(p);
    let quotient = p * RECIPROCAL;
    let remainder = (-quotient).mul_add(255.0, p);
    remainder.mul_add(RECIPROCAL, quotient)
}

/// How many images ahead [`Batches::next_batch`] prefetches: enough to cover
/// a memory latency (~100 ns) with the conversion of the rows in between.
const PREFETCH_ROWS_AHEAD: usize = 4;

/// Asks the CPU to start loading every cache line of `bytes`. Only a hint:
/// it changes no value, and elsewhere than x86-64 it does nothing.
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        // Every line the bytes touch: an image need not start on a line, so
        // stepping 64 bytes from its start could skip its last line.
        let start = bytes.as_ptr() as usize;
        let first_line = start - start % LINE;
        for line in (first_line..start + bytes.len()).step_by(LINE) {
            // SAFETY: SSE is part of the x86-64 baseline, and a prefetch is
            // only a hint: it never faults, reads into nothing and writes
            // nothing, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_conventions_read_back_from_metadata_exactly_and_bad_text_is_an_error() {
        let awkward = PixelStats {
            mean: 0.130_660_606_060_606_07,
            std: 1.0 / 3.0,
        };
        for pixels in [Pixels::Scaled, Pixels::Standardized(awkward)] {
            let back = Pixels::from_metadata(&pixels.to_metadata()).unwrap();
            assert_eq!(back, pixels);
            assert_eq!(
                back.table().map(f32::to_bits),
                pixels.table().map(f32::to_bits)
            );
        }
        let standardized = Pixels::Standardized(awkward);
        assert_eq!(
            standardized.from_scaled(0.5),
            ((0.5 - awkward.mean) * 3.0) as f32
        );
        assert_eq!(Pixels::Scaled.from_scaled(0.25), 0.25);
        for bad in [
            "",
            "Scaled",
            "standardized",
            "standardized mean=0.1",
            "standardized mean=x std=0.3",
            "standardized mean=0.1 std=-1",
            "standardized mean=NaN std=0.3",
            "standardized mean=0.1 std=inf",
        ] {
            let error = Pixels::from_metadata(bad).unwrap_err();
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }

    #[test]
    fn scaled_pixels_are_the_table_bit_for_bit() {
        // next_batch computes p / 255 in f32 instead of looking up the
        // f64-built table.
        let table = Pixels::Scaled.table();
        for p in 0..=255u8 {
            assert_eq!(
                scaled(p).to_bits(),
                table[p as usize].to_bits(),
                "pixel {p}"
            );
        }
    }

    #[test]
    fn standardized_table_matches_the_formula() {
        let stats = PixelStats {
            mean: 0.1307,
            std: 0.3081,
        };
        let table = Pixels::Standardized(stats).table();
        for p in [0usize, 1, 128, 255] {
            let expected = (p as f64 / 255.0 - 0.1307) / 0.3081;
            assert!((table[p] as f64 - expected).abs() < 1e-6, "pixel {p}");
        }
        let constant = Pixels::Standardized(PixelStats {
            mean: 0.5,
            std: 0.0,
        })
        .table();
        assert!(constant.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn the_largest_batch_size_gives_one_batch_of_everything() {
        // `cursor + batch_size` overflowed (a panic) for sizes near usize::MAX.
        let set = Dataset::new(vec![0, 1, 2], vec![0, 1, 2], (1, 1), None).unwrap();
        for drop_last in [false, true] {
            let options = BatchOptions {
                batch_size: usize::MAX,
                drop_last,
                ..BatchOptions::default()
            };
            let mut batches = Batches::new(&set, options).unwrap();
            assert_eq!(batches.batches_per_epoch(), usize::from(!drop_last));
            let mut batch = Batch::new();
            assert_eq!(batches.next_batch(&mut batch), !drop_last);
            if !drop_last {
                assert_eq!(batch.labels(), &[0, 1, 2]);
            }
            assert!(!batches.next_batch(&mut batch));
            batches.skip_batches(usize::MAX);
            assert!(!batches.next_batch(&mut batch));
        }
    }

    #[test]
    fn epoch_seed_differs_across_nearby_inputs() {
        let seeds: std::collections::HashSet<u64> = (0..4)
            .flat_map(|s| (0..4).map(move |e| epoch_seed(s, e)))
            .collect();
        assert_eq!(seeds.len(), 16);
    }
}
