//! Helpers shared by the integration tests: scratch directories, hand-made
//! IDX bytes, gzip, and the path of the bundled data.
#![allow(dead_code)] // each test binary uses a different subset

pub mod counting_alloc;
pub mod sha256;

use std::io::Write;
use std::path::{Path, PathBuf};

/// `data/mnist` of the workspace.
pub fn bundled_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

/// A fresh empty directory for one test, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(test_name: &str) -> ScratchDir {
        let dir =
            std::env::temp_dir().join(format!("mnist-data-{test_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    /// Writes `bytes` to `name` inside the directory and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX header written by hand: magic with `type_code`, then `dims`.
pub fn idx_header(type_code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

/// A u8 images file of `count` images of `rows x cols`, pixel = index mod 256.
pub fn images_idx(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut bytes = idx_header(0x08, &[count, rows, cols]);
    bytes.extend((0..count * rows * cols).map(|i| (i % 256) as u8));
    bytes
}

/// A u8 labels file.
pub fn labels_idx(labels: &[u8]) -> Vec<u8> {
    let mut bytes = idx_header(0x08, &[labels.len() as u32]);
    bytes.extend_from_slice(labels);
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}
