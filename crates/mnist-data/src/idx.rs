//! The IDX format, as LeCun defines it for MNIST: two zero bytes, a type
//! code, the number of dimensions, each dimension as a big-endian `u32`, then
//! the elements in big-endian row-major order. Files may be gzipped.

use crate::error::{DataError, Result};
use crate::input::Input;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The element type an IDX file declares in its third byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    /// `0x08`: unsigned byte.
    U8,
    /// `0x09`: signed byte.
    I8,
    /// `0x0B`: big-endian 16-bit integer.
    I16,
    /// `0x0C`: big-endian 32-bit integer.
    I32,
    /// `0x0D`: big-endian 32-bit float.
    F32,
    /// `0x0E`: big-endian 64-bit float.
    F64,
}

impl IdxType {
    /// The type for an IDX type code, or `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<IdxType> {
        match code {
            0x08 => Some(IdxType::U8),
            0x09 => Some(IdxType::I8),
            0x0B => Some(IdxType::I16),
            0x0C => Some(IdxType::I32),
            0x0D => Some(IdxType::F32),
            0x0E => Some(IdxType::F64),
            _ => None,
        }
    }

    /// The IDX type code of this type.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// The Rust name of the type, for messages.
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}

/// The elements of an IDX array, in the type the file declares.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// [`IdxType::U8`] elements.
    U8(Vec<u8>),
    /// [`IdxType::I8`] elements.
    I8(Vec<i8>),
    /// [`IdxType::I16`] elements.
    I16(Vec<i16>),
    /// [`IdxType::I32`] elements.
    I32(Vec<i32>),
    /// [`IdxType::F32`] elements.
    F32(Vec<f32>),
    /// [`IdxType::F64`] elements.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type.
    pub fn idx_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// No elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes big-endian element bytes (`bytes.len()` is a multiple of the size).
    fn from_be_bytes(idx_type: IdxType, bytes: Vec<u8>) -> IdxData {
        fn decode<T, const N: usize>(bytes: &[u8], from_be: fn([u8; N]) -> T) -> Vec<T> {
            bytes
                .chunks_exact(N)
                .map(|chunk| from_be(chunk.try_into().expect("chunks_exact gives N bytes")))
                .collect()
        }
        match idx_type {
            IdxType::U8 => IdxData::U8(bytes),
            IdxType::I8 => IdxData::I8(bytes.into_iter().map(|b| b as i8).collect()),
            IdxType::I16 => IdxData::I16(decode(&bytes, i16::from_be_bytes)),
            IdxType::I32 => IdxData::I32(decode(&bytes, i32::from_be_bytes)),
            IdxType::F32 => IdxData::F32(decode(&bytes, f32::from_be_bytes)),
            IdxType::F64 => IdxData::F64(decode(&bytes, f64::from_be_bytes)),
        }
    }

    /// Appends the elements as big-endian bytes.
    fn write_be_bytes(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            IdxData::U8(v) => out.write_all(v),
            IdxData::I8(v) => v.iter().try_for_each(|x| out.write_all(&x.to_be_bytes())),
            IdxData::I16(v) => v.iter().try_for_each(|x| out.write_all(&x.to_be_bytes())),
            IdxData::I32(v) => v.iter().try_for_each(|x| out.write_all(&x.to_be_bytes())),
            IdxData::F32(v) => v.iter().try_for_each(|x| out.write_all(&x.to_be_bytes())),
            IdxData::F64(v) => v.iter().try_for_each(|x| out.write_all(&x.to_be_bytes())),
        }
    }
}

/// An n-dimensional array as stored in an IDX file: its dimensions
/// (outermost first) and its row-major elements.
///
/// ```
/// use mnist_data::{IdxArray, IdxData};
/// let labels = IdxArray::new(vec![3], IdxData::U8(vec![7, 2, 1])).unwrap();
/// let bytes = labels.to_bytes();
/// assert_eq!(bytes, [0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]);
/// assert_eq!(mnist_data::parse_idx(&bytes, "labels").unwrap(), labels);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// An array of shape `dims`; an error unless IDX can describe it (at most
    /// 255 dimensions, each below 2^32) and `data` has exactly the product
    /// of `dims` elements.
    pub fn new(dims: Vec<usize>, data: IdxData) -> Result<IdxArray> {
        if dims.len() > 255 {
            return Err(DataError::InvalidRequest(format!(
                "IDX allows at most 255 dimensions, got {}",
                dims.len()
            )));
        }
        if let Some(d) = dims.iter().find(|&&d| u32::try_from(d).is_err()) {
            return Err(DataError::InvalidRequest(format!(
                "IDX dimensions are u32, {d} does not fit"
            )));
        }
        let elements = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if elements != Some(data.len()) {
            return Err(DataError::InvalidRequest(format!(
                "dimensions {dims:?} do not match {} elements",
                data.len()
            )));
        }
        Ok(IdxArray { dims, data })
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements, outermost dimension first.
    pub fn data(&self) -> &IdxData {
        &self.data
    }

    /// The dimensions and the elements, without a copy.
    pub fn into_parts(self) -> (Vec<usize>, IdxData) {
        (self.dims, self.data)
    }

    /// The array as uncompressed IDX bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 4 * self.dims.len() + self.data.len());
        self.write_to(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        // `new` checked both conversions.
        out.write_all(&[0, 0, self.data.idx_type().code(), self.dims.len() as u8])?;
        for &d in &self.dims {
            out.write_all(&(d as u32).to_be_bytes())?;
        }
        self.data.write_be_bytes(out)
    }
}

/// Whether [`write_idx`] gzips what it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// The bytes as they are.
    None,
    /// A gzip stream (`.gz`).
    Gzip,
}

/// Reads an IDX file, gzipped or not (decided by its content).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    read_from_input(Input::open(path.as_ref())?)
}

/// Parses IDX bytes held in memory (gzipped or not); `name` names them in errors.
pub fn parse_idx(bytes: &[u8], name: impl AsRef<Path>) -> Result<IdxArray> {
    read_from_input(Input::from_bytes(bytes, name.as_ref())?)
}

/// Writes `array` to `path` as IDX, atomically: into a temporary file in the
/// same directory, then renamed over `path`, so a reader never sees half a file.
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray, compression: Compression) -> Result<()> {
    let path = path.as_ref();
    write_atomically(path, |file| match compression {
        Compression::None => {
            let mut out = std::io::BufWriter::new(file);
            array.write_to(&mut out)?;
            out.flush()
        }
        Compression::Gzip => {
            let out = std::io::BufWriter::new(file);
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            array.write_to(&mut gz)?;
            gz.finish()?.flush()
        }
    })
}

/// Runs `write` on a temporary file beside `path`, syncs it, and renames it
/// over `path`; removes the temporary file if anything fails.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            write(&mut file)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn read_from_input(mut input: Input<'_>) -> Result<IdxArray> {
    let path = input.path().to_path_buf();
    let (idx_type, raw_dims) = read_header(&mut input)?;
    let header_bytes = 4 + 4 * raw_dims.len() as u64;
    let overflow = || DataError::DimensionOverflow {
        path: path.clone(),
        dims: raw_dims.clone(),
    };

    let elements = raw_dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
        .ok_or_else(overflow)?;
    let payload_bytes = elements
        .checked_mul(idx_type.size() as u64)
        .filter(|&b| usize::try_from(b).is_ok())
        .ok_or_else(overflow)?;
    let dims: Vec<usize> = raw_dims.iter().map(|&d| d as usize).collect();

    // Never trust the header with an allocation: if the file cannot hold the
    // payload, count what it does hold (in a fixed buffer) and say so.
    let available = input.max_content_bytes().saturating_sub(header_bytes);
    if payload_bytes > available {
        let found = input.count_remaining()?;
        return Err(short_or_long(&path, payload_bytes, found));
    }

    let bytes = read_payload(&mut input, payload_bytes)?;
    let found = bytes.len() as u64;
    if found < payload_bytes {
        return Err(DataError::ShortPayload {
            path,
            expected: payload_bytes,
            found,
        });
    }
    // Reading one byte past the payload both detects trailing data and, for
    // gzip, makes the decoder check the stream's CRC and length trailer.
    if input.read_up_to(&mut [0u8; 1])? != 0 {
        return Err(DataError::LongPayload {
            path,
            expected: payload_bytes,
        });
    }
    let data = IdxData::from_be_bytes(idx_type, bytes);
    Ok(IdxArray { dims, data })
}

/// No real dataset has more items than this: MNIST has 70 thousand,
/// EMNIST ByClass 815 thousand, the largest 28x28 sets a few million. A
/// header claiming more is damaged or hostile, and believing it would have
/// us read (and hold) gigabytes before finding out.
pub(crate) const MAX_ITEMS: usize = 10_000_000;

/// No image in a dataset of this kind is larger than this on a side
/// (MNIST-like sets are 28x28; the larger image sets stay far below).
pub(crate) const MAX_SIDE: usize = 1024;

/// No real dataset's images or labels file holds more bytes than this:
/// 10 million 28x28 images are 7.8 GB (EMNIST ByClass, the largest common
/// one, 0.64 GB).
pub(crate) const MAX_DATA_BYTES: u64 = 8 << 30;

/// Reads the first `limit` items (all without a limit) of a `u8` IDX file
/// of `dim_count` dimensions, the outermost counting items; `what` names
/// them in errors ("images", "labels"). Returns the header's dimensions
/// (the whole file's item count, not the limit's) and the items' bytes.
///
/// Streams: the header is read and checked first (type, dimensions, counts
/// and sizes no real dataset has), then only the bytes the limit needs are
/// held. The body must still be exactly as long as the header says: a raw
/// file's size is checked before anything is read; a gzip stream is read on
/// to its end through a fixed buffer (time bounded by the header's claim,
/// no memory), which also checks its CRC.
pub(crate) fn read_u8_items(
    path: &Path,
    what: &'static str,
    dim_count: usize,
    limit: Option<usize>,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut input = Input::open(path)?;
    let (idx_type, raw_dims) = read_header(&mut input)?;
    let path = path.to_path_buf();
    if raw_dims.len() != dim_count {
        return Err(DataError::WrongDimensionCount {
            path,
            what,
            expected: dim_count,
            found: raw_dims.len(),
        });
    }
    if idx_type != IdxType::U8 {
        return Err(DataError::WrongElementType {
            path,
            what,
            found: idx_type.name(),
        });
    }
    let dims: Vec<usize> = raw_dims.iter().map(|&d| d as usize).collect();
    let implausible = |problem: String| DataError::Implausible {
        path: path.clone(),
        problem,
    };
    if dims[0] > MAX_ITEMS {
        return Err(implausible(format!(
            "the header claims {} {what}; no real dataset has more than {} million, \
             so the file is taken to be damaged",
            dims[0],
            MAX_ITEMS / 1_000_000
        )));
    }
    if dims[1..].iter().any(|&side| side > MAX_SIDE) {
        let shape: Vec<String> = dims[1..].iter().map(usize::to_string).collect();
        return Err(implausible(format!(
            "the header claims {what} of {} pixels; no real dataset of this kind has \
             them larger than {MAX_SIDE}x{MAX_SIDE}, so the file is taken to be damaged",
            shape.join("x")
        )));
    }
    // Both bounds hold, so these products fit (at most 10^7 x 2^20).
    let item_bytes: u64 = dims[1..].iter().map(|&d| d as u64).product();
    let total = dims[0] as u64 * item_bytes;
    if total > MAX_DATA_BYTES {
        return Err(implausible(format!(
            "the header claims {total} bytes of {what}; no real dataset has more than {} GB, \
             so the file is taken to be damaged",
            MAX_DATA_BYTES >> 30
        )));
    }
    let header_bytes = 4 + 4 * dim_count as u64;
    if !input.is_gzip() {
        // The exact size is known: a wrong one is reported before any read.
        let body = input.max_content_bytes().saturating_sub(header_bytes);
        if body != total {
            return Err(short_or_long(&path, total, body));
        }
    } else if total > input.max_content_bytes().saturating_sub(header_bytes) {
        let found = input.count_remaining()?;
        return Err(short_or_long(&path, total, found));
    }

    let wanted = dims[0].min(limit.unwrap_or(usize::MAX)) as u64 * item_bytes;
    let bytes = read_payload(&mut input, wanted)?;
    let short = |found: u64| DataError::ShortPayload {
        path: path.clone(),
        expected: total,
        found,
    };
    if (bytes.len() as u64) < wanted {
        return Err(short(bytes.len() as u64));
    }
    if input.is_gzip() {
        let rest = total - wanted;
        let skipped = input.skip(rest)?;
        if skipped < rest {
            return Err(short(wanted + skipped));
        }
        // One byte past the body: trailing data, and for gzip the CRC check.
        if input.read_up_to(&mut [0u8; 1])? != 0 {
            return Err(DataError::LongPayload {
                path,
                expected: total,
            });
        }
    }
    Ok((dims, bytes))
}

/// Reads up to `payload_bytes` of content straight into the returned
/// buffer. Capacity is reserved fallibly and, beyond what the file likely
/// holds, only as data arrives (doubling), so neither a lying header nor a
/// lack of memory can abort the process.
fn read_payload(input: &mut Input<'_>, payload_bytes: u64) -> Result<Vec<u8>> {
    let path = input.path().to_path_buf();
    let mut bytes = Vec::new();
    let reserve = |bytes: &mut Vec<u8>, extra: u64| {
        bytes
            .try_reserve_exact(extra as usize)
            .map_err(|_| DataError::OutOfMemory {
                path: path.clone(),
                bytes: bytes.len() as u64 + extra,
            })
    };
    reserve(&mut bytes, payload_bytes.min(input.likely_content_bytes()))?;
    loop {
        let spare = (bytes.capacity() - bytes.len()) as u64;
        let wanted = payload_bytes - bytes.len() as u64;
        if input.read_into_vec(spare.min(wanted), &mut bytes)? == 0
            || bytes.len() as u64 == payload_bytes
        {
            return Ok(bytes);
        }
        if bytes.len() == bytes.capacity() {
            let grow = (bytes.len() as u64)
                .max(1 << 20)
                .min(payload_bytes - bytes.len() as u64);
            reserve(&mut bytes, grow)?;
        }
    }
}

fn short_or_long(path: &Path, expected: u64, found: u64) -> DataError {
    let path: PathBuf = path.to_path_buf();
    if found < expected {
        DataError::ShortPayload {
            path,
            expected,
            found,
        }
    } else {
        // Unreachable for honest bounds, kept so a wrong bound cannot panic.
        DataError::LongPayload { path, expected }
    }
}

/// Reads the magic number and the dimensions.
fn read_header(input: &mut Input<'_>) -> Result<(IdxType, Vec<u32>)> {
    let file = input.path().to_path_buf();
    let path = || file.clone();
    let mut magic = [0u8; 4];
    let got = input.read_up_to(&mut magic)?;
    if got == 0 {
        return Err(DataError::Empty { path: path() });
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::WrongMagic {
            path: path(),
            found: [magic[0], magic[1]],
        });
    }
    if got < 4 {
        return Err(DataError::TruncatedHeader {
            path: path(),
            found: got,
            needed: 4,
        });
    }
    let idx_type = IdxType::from_code(magic[2]).ok_or_else(|| DataError::UnsupportedTypeCode {
        path: path(),
        code: magic[2],
    })?;
    let dim_count = magic[3] as usize;
    let mut dim_bytes = [0u8; 4 * 255];
    let dim_bytes = &mut dim_bytes[..4 * dim_count];
    let got = input.read_up_to(dim_bytes)?;
    if got < dim_bytes.len() {
        return Err(DataError::TruncatedHeader {
            path: path(),
            found: 4 + got,
            needed: 4 + dim_bytes.len(),
        });
    }
    let dims = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((idx_type, dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(code: u8, dims: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn every_type_code_decodes_big_endian_values() {
        // Hand-written big-endian encodings of known values.
        let mut i16s = header(0x0B, &[2]);
        i16s.extend_from_slice(&[0x01, 0x02, 0xFF, 0xFE]);
        assert_eq!(
            parse_idx(&i16s, "x").unwrap().data(),
            &IdxData::I16(vec![258, -2])
        );
        let mut i32s = header(0x0C, &[1]);
        i32s.extend_from_slice(&[0x80, 0, 0, 1]);
        assert_eq!(
            parse_idx(&i32s, "x").unwrap().data(),
            &IdxData::I32(vec![i32::MIN + 1])
        );
        let mut f32s = header(0x0D, &[1]);
        f32s.extend_from_slice(&[0x3F, 0xC0, 0, 0]); // 1.5
        assert_eq!(
            parse_idx(&f32s, "x").unwrap().data(),
            &IdxData::F32(vec![1.5])
        );
        let mut f64s = header(0x0E, &[1]);
        f64s.extend_from_slice(&[0xC0, 0x04, 0, 0, 0, 0, 0, 0]); // -2.5
        assert_eq!(
            parse_idx(&f64s, "x").unwrap().data(),
            &IdxData::F64(vec![-2.5])
        );
        let mut i8s = header(0x09, &[2]);
        i8s.extend_from_slice(&[0x7F, 0x80]);
        assert_eq!(
            parse_idx(&i8s, "x").unwrap().data(),
            &IdxData::I8(vec![127, -128])
        );
    }

    #[test]
    fn round_trips_every_type_through_bytes() {
        let arrays = [
            IdxArray::new(vec![2, 3], IdxData::U8(vec![0, 1, 2, 253, 254, 255])).unwrap(),
            IdxArray::new(vec![3], IdxData::I8(vec![-128, 0, 127])).unwrap(),
            IdxArray::new(vec![1, 2], IdxData::I16(vec![i16::MIN, i16::MAX])).unwrap(),
            IdxArray::new(vec![2], IdxData::I32(vec![i32::MIN, -1])).unwrap(),
            IdxArray::new(vec![2], IdxData::F32(vec![f32::MIN_POSITIVE, -0.0])).unwrap(),
            IdxArray::new(vec![1, 1, 1], IdxData::F64(vec![std::f64::consts::PI])).unwrap(),
            IdxArray::new(vec![0, 5], IdxData::U8(vec![])).unwrap(),
        ];
        for array in arrays {
            let bytes = array.to_bytes();
            assert_eq!(parse_idx(&bytes, "x").unwrap(), array);
        }
    }

    #[test]
    fn new_rejects_shapes_that_do_not_match() {
        assert!(IdxArray::new(vec![2, 2], IdxData::U8(vec![1, 2, 3])).is_err());
        assert!(IdxArray::new(vec![1usize << 33], IdxData::U8(vec![])).is_err());
        assert!(IdxArray::new(vec![1; 256], IdxData::U8(vec![1])).is_err());
    }

    #[test]
    fn a_huge_header_in_a_tiny_file_is_short_not_an_allocation() {
        // Claims 4e9 f64 values (32 GB): must fail fast with the real count.
        let mut bytes = header(0x0E, &[4_000_000_000]);
        bytes.extend_from_slice(&[1, 2, 3]);
        match parse_idx(&bytes, "huge") {
            Err(DataError::ShortPayload {
                expected, found, ..
            }) => {
                assert_eq!(expected, 32_000_000_000);
                assert_eq!(found, 3);
            }
            other => panic!("expected ShortPayload, got {other:?}"),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_compressing_far_beyond_the_first_guess_still_reads_whole() {
        // 3 MB of mostly zeros compress ~1000:1, far past the 16x first
        // allocation, so the buffer must grow as the data arrives.
        let mut pixels = vec![0u8; 3 << 20];
        pixels[12345] = 7;
        pixels[(3 << 20) - 1] = 9;
        let array = IdxArray::new(vec![3, 1024, 1024], IdxData::U8(pixels)).unwrap();
        let zipped = gzip(&array.to_bytes());
        assert!(zipped.len() * 16 < 3 << 20, "{} bytes", zipped.len());
        assert_eq!(parse_idx(&zipped, "x").unwrap(), array);

        // The same data under a header claiming twice as many images.
        let mut claims_more = array.to_bytes();
        claims_more[4..8].copy_from_slice(&6u32.to_be_bytes());
        match parse_idx(&gzip(&claims_more), "x") {
            Err(DataError::ShortPayload {
                expected, found, ..
            }) => {
                assert_eq!((expected, found), (6 << 20, 3 << 20));
            }
            other => panic!("expected ShortPayload, got {other:?}"),
        }
    }

    #[test]
    fn dimension_product_overflow_is_reported() {
        let bytes = header(0x0E, &[u32::MAX, u32::MAX, u32::MAX]);
        assert!(matches!(
            parse_idx(&bytes, "x"),
            Err(DataError::DimensionOverflow { .. })
        ));
    }
}
