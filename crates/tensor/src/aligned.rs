//! `f32` storage that starts on a 64-byte cache line: a [`crate::Matrix`]'s
//! elements and the GEMM's packing buffers.
//!
//! Why: a 512-bit load that straddles two cache lines costs two. A `Vec<f32>`
//! is only 16-byte aligned (glibc's `malloc` puts a 16-byte header before a
//! large block), so every 16-float load of a row straddled. Where the core
//! loads 512 bits at full width, as Zen 5 does, the dot-product path over
//! unpacked rows ran 20-25% slower for it (128 x 784 x 256 `X * W^T`,
//! 1 thread: 175-180 GFLOP/s with rows 16 bytes off a line, 219-220 on
//! one; figures in BENCHMARKS.md, "Measurements behind the code").
//!
//! Safe code: the `Vec` holds up to 15 floats more than asked, and the
//! elements start at the first of them on a line.

/// Floats in a 64-byte cache line.
const LINE_FLOATS: usize = 64 / std::mem::size_of::<f32>();

/// `len` floats from `storage[offset]`, where `storage[offset]` starts a
/// cache line (`offset < LINE_FLOATS`).
#[derive(Default)]
pub(crate) struct AlignedVec {
    storage: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedVec {
    /// `len` copies of `value`; nothing allocated for none (an empty
    /// matrix is a placeholder a layer makes at every step).
    pub(crate) fn filled(len: usize, value: f32) -> AlignedVec {
        if len == 0 {
            return AlignedVec::default();
        }
        let storage = vec![value; len + LINE_FLOATS - 1];
        AlignedVec {
            offset: line_start(&storage),
            storage,
            len,
        }
    }

    /// `values`, copied to a line unless they already start on one.
    pub(crate) fn from_vec(values: Vec<f32>) -> AlignedVec {
        if (values.as_ptr() as usize).is_multiple_of(64) {
            return AlignedVec {
                len: values.len(),
                storage: values,
                offset: 0,
            };
        }
        AlignedVec::from_slice(&values)
    }

    /// A copy of `values`.
    pub(crate) fn from_slice(values: &[f32]) -> AlignedVec {
        let mut aligned = AlignedVec::filled(values.len(), 0.0);
        aligned.as_mut_slice().copy_from_slice(values);
        aligned
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.storage[self.offset..self.offset + self.len]
    }

    /// The elements as a `Vec`, without copying when they fill one from
    /// its start.
    pub(crate) fn into_vec(mut self) -> Vec<f32> {
        if self.offset == 0 {
            self.storage.truncate(self.len);
            return self.storage;
        }
        self.as_slice().to_vec()
    }

    /// `len` elements, as `Vec::resize(len, 0.0)`: the first ones kept, new
    /// ones 0. Within the storage already allocated nothing is allocated
    /// (a layer's buffers, when the batch shrinks and grows back).
    pub(crate) fn resize(&mut self, len: usize) {
        if self.offset + len > self.storage.len() {
            let mut larger = AlignedVec::filled(len, 0.0);
            larger.as_mut_slice()[..self.len].copy_from_slice(self.as_slice());
            *self = larger;
            return;
        }
        let old = self.len;
        self.len = len;
        if len > old {
            self.as_mut_slice()[old..].fill(0.0);
        }
    }
}

/// The index of the first element of `storage` that starts a cache line
/// (0 for an empty one).
fn line_start(storage: &[f32]) -> usize {
    storage
        .as_ptr()
        .align_offset(64)
        .min(LINE_FLOATS - 1)
        .min(storage.len())
}

impl Clone for AlignedVec {
    /// A new allocation has its own line start: the elements are copied
    /// to it, not the storage as it was.
    fn clone(&self) -> AlignedVec {
        AlignedVec::from_slice(self.as_slice())
    }
}

impl PartialEq for AlignedVec {
    fn eq(&self, other: &AlignedVec) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for AlignedVec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_a_line(values: &[f32]) -> bool {
        (values.as_ptr() as usize).is_multiple_of(64)
    }

    #[test]
    fn elements_start_on_a_cache_line_whatever_the_length() {
        for len in [1, 2, 15, 16, 17, 100, 784, 100_000] {
            let filled = AlignedVec::filled(len, 2.5);
            assert!(on_a_line(filled.as_slice()), "{len}");
            assert_eq!(filled.as_slice(), vec![2.5; len]);
            let values: Vec<f32> = (0..len).map(|i| i as f32).collect();
            let copied = AlignedVec::from_vec(values.clone());
            assert!(on_a_line(copied.as_slice()), "{len}");
            assert_eq!(copied.as_slice(), values);
            let cloned = copied.clone();
            assert!(on_a_line(cloned.as_slice()), "{len}");
            assert_eq!(cloned.as_slice(), values);
            assert_eq!(cloned.into_vec(), values);
        }
        assert!(AlignedVec::filled(0, 1.0).as_slice().is_empty());
        assert!(AlignedVec::default().into_vec().is_empty());
    }

    #[test]
    fn resize_keeps_the_first_elements_zeroes_new_ones_and_reuses_storage() {
        let mut v = AlignedVec::from_vec((0..40).map(|i| i as f32 + 1.0).collect());
        let at = v.as_slice().as_ptr();
        v.resize(7);
        assert_eq!(v.as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        // Grown back within the storage: same place, the values past 7
        // (still in the storage) zeroed as `Vec::resize` would give them.
        v.resize(40);
        assert_eq!(v.as_slice().as_ptr(), at);
        assert_eq!(&v.as_slice()[..7], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert!(v.as_slice()[7..].iter().all(|&x| x == 0.0));
        // Past it: moved to a new line-aligned storage, values kept.
        v.as_mut_slice()[39] = 9.0;
        v.resize(1000);
        assert!(on_a_line(v.as_slice()));
        assert_eq!(v.as_slice()[39], 9.0);
        assert!(v.as_slice()[40..].iter().all(|&x| x == 0.0));
        assert_eq!(v.as_slice().len(), 1000);
    }
}
