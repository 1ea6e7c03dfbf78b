//! Opening a data file whatever its compression: gzip is recognised by its
//! magic bytes (1f 8b), never by the file name, and every reader knows an
//! upper bound on how many bytes the content can hold, so no header can make
//! us allocate more than the file could possibly fill.

use crate::error::{DataError, Result};
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The two bytes every gzip stream starts with (RFC 1952, section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate's largest expansion: a 258-byte match coded in 2 bits gives at
/// most 1032 output bytes per input byte (zlib's "technical details" note).
const DEFLATE_MAX_RATIO: u64 = 1032;

/// Read buffer for files; large enough that syscalls do not dominate.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// The decompressed content of a file or byte slice, read once from the start.
pub(crate) struct Input<'a> {
    reader: Box<dyn Read + 'a>,
    gzip: bool,
    /// No more than this many content bytes can come out of `reader`.
    max_content_bytes: u64,
    /// Bytes on disk (compressed size for gzip).
    stored_bytes: u64,
    path: PathBuf,
}

impl<'a> Input<'a> {
    /// Opens `path`; an error if it cannot be opened, is not a regular
    /// file, or is empty. Every read of a data file starts here.
    pub(crate) fn open(path: &Path) -> Result<Input<'static>> {
        let io_error = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let not_a_file = || DataError::NotARegularFile {
            path: path.to_path_buf(),
        };
        // Asked before opening: opening a FIFO blocks until someone writes
        // to it. Asked again of the opened file, in case the path changed.
        if !std::fs::metadata(path).map_err(io_error)?.is_file() {
            return Err(not_a_file());
        }
        let file = File::open(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(not_a_file());
        }
        let file_bytes = metadata.len();
        let reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        Input::detect(reader, file_bytes, path)
    }

    /// Reads an in-memory file; `path` only names it in errors.
    pub(crate) fn from_bytes(bytes: &'a [u8], path: &Path) -> Result<Input<'a>> {
        Input::detect(bytes, bytes.len() as u64, path)
    }

    fn detect<R: BufRead + 'a>(mut reader: R, stored_bytes: u64, path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        if stored_bytes == 0 {
            return Err(DataError::Empty { path });
        }
        // A regular file's first fill returns at least two bytes when the
        // file has them, so this peek is enough to recognise gzip.
        let start = reader.fill_buf().map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        if start.starts_with(&GZIP_MAGIC) {
            Ok(Input {
                reader: Box::new(MultiGzDecoder::new(reader)),
                gzip: true,
                max_content_bytes: stored_bytes
                    .saturating_mul(DEFLATE_MAX_RATIO)
                    .saturating_add(1024),
                stored_bytes,
                path,
            })
        } else {
            Ok(Input {
                reader: Box::new(reader),
                gzip: false,
                max_content_bytes: stored_bytes,
                stored_bytes,
                path,
            })
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// An upper bound on the content bytes (exact for uncompressed files).
    pub(crate) fn max_content_bytes(&self) -> u64 {
        self.max_content_bytes
    }

    /// A first guess at the content size to allocate for: exact for raw
    /// files; for gzip, 16x the compressed size, above the ratios real
    /// image data reaches (MNIST: 4.8x), so honest files get one allocation
    /// and a zip bomb's claim is only believed as its data arrives.
    pub(crate) fn likely_content_bytes(&self) -> u64 {
        if self.gzip {
            self.stored_bytes.saturating_mul(16)
        } else {
            self.stored_bytes
        }
    }

    /// Turns a read failure into the error a user should see: inside a gzip
    /// stream it means the stream is damaged.
    pub(crate) fn read_error(&self, source: io::Error) -> DataError {
        read_error(&self.path, self.gzip, source)
    }

    /// Fills as much of `buf` as the content has; returns how many bytes.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        Ok(filled)
    }

    /// Appends exactly up to `count` bytes to `buf` (fewer only at the end
    /// of the content); returns how many were appended. The caller reserves
    /// capacity, so this reads straight into the final buffer.
    pub(crate) fn read_into_vec(&mut self, count: u64, buf: &mut Vec<u8>) -> Result<u64> {
        match self.reader.by_ref().take(count).read_to_end(buf) {
            Ok(n) => Ok(n as u64),
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// Reads and discards up to `count` bytes of content (fewer only at its
    /// end) through a fixed buffer; returns how many.
    pub(crate) fn skip(&mut self, count: u64) -> Result<u64> {
        match io::copy(&mut self.reader.by_ref().take(count), &mut io::sink()) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// Reads and discards the rest of the content; returns how many bytes
    /// it had. Uses a fixed buffer, so a lying header costs time bounded by
    /// the file, never memory.
    pub(crate) fn count_remaining(&mut self) -> Result<u64> {
        let mut scratch = [0u8; 8192];
        let mut total = 0u64;
        loop {
            let n = self.read_up_to(&mut scratch)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }
}

/// A read failure as a user should see it: inside a gzip stream it means
/// the stream is damaged.
pub(crate) fn read_error(path: &Path, gzip: bool, source: io::Error) -> DataError {
    let path = path.to_path_buf();
    if gzip {
        DataError::DamagedGzip {
            path,
            detail: source.to_string(),
        }
    } else {
        DataError::Io { path, source }
    }
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}
