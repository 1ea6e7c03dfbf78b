//! A generic reader and writer of named `f32` tensors in the safetensors
//! format (<https://github.com/huggingface/safetensors>), used for model
//! weights and, by the trainer, for checkpoints.
//!
//! Layout: an 8-byte little-endian header length `N`; `N` bytes of JSON
//! `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//! ..., "__metadata__": {"key": "value"}}` (padded with spaces to a multiple
//! of 8, so the data is aligned); then the raw little-endian data, whose
//! offsets are relative to the end of the header and must tile it exactly.
//!
//! Reading validates everything before trusting it: a truncated or garbled
//! file is an [`NnError::Format`] naming the file, never a panic.

use crate::{NnError, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Headers larger than this are refused (the reference implementation's limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// PyTorch's name (`layers.0.weight`), the key of the JSON header.
    pub name: String,
    /// Dimensions, outermost first (`[out, in]` for a dense weight).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

/// Everything in a safetensors file: tensors in the order of their data,
/// and the string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    /// The tensors, ordered by where their data starts in the file.
    pub tensors: Vec<Tensor>,
    /// The header's `__metadata__`: string keys and values, such as the
    /// `architecture` spec and the trainer's model card.
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Writes `(name, shape, data)` tensors and `metadata` to `path` atomically:
/// into a temporary file in the same directory, flushed to disk, then renamed
/// over `path`, so a crash never leaves a half-written file behind.
///
/// ```
/// use nn::safetensors::{read_tensors, write_tensors};
/// use std::collections::BTreeMap;
/// let path = std::env::temp_dir().join(format!("nn-doc-{}.safetensors", std::process::id()));
/// let metadata = BTreeMap::from([("epoch".to_string(), "3".to_string())]);
/// let tensors = [("w", &[2usize, 2][..], &[1.0f32, 2.0, 3.0, 4.0][..])];
/// write_tensors(&path, tensors, &metadata).unwrap();
/// let file = read_tensors(&path).unwrap();
/// assert_eq!(file.get("w").unwrap().data, [1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(file.metadata["epoch"], "3");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_tensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let bytes = encode(path, tensors, metadata)?;
    let io_error = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let temp = temp_path(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(source));
    }
    Ok(())
}

/// Reads every tensor and the metadata of a safetensors file. `F32`
/// tensors are read as they are, and `I64` scalars (PyTorch's batch norm
/// `num_batches_tracked`) as the nearest `f32`; any other dtype or shape
/// is [`NnError::WrongDtype`].
pub fn read_tensors(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, path)
}

/// The bytes of a safetensors file; `path` only names the target in errors.
pub fn encode<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let invalid = |name: &str, problem: String| NnError::InvalidTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        problem,
    };
    let mut header = Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, shape, values) in tensors {
        if name == "__metadata__" {
            return Err(invalid(name, "the name is reserved for metadata".into()));
        }
        let count = element_count(shape);
        if count != Some(values.len()) {
            return Err(invalid(
                name,
                format!("{} values do not fill shape {shape:?}", values.len()),
            ));
        }
        let begin = data.len();
        data.reserve(values.len() * 4);
        values
            .iter()
            .for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
        let entry = serde_json::json!({
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [begin, data.len()],
        });
        if header.insert(name.to_string(), entry).is_some() {
            return Err(invalid(name, "the name appears twice".into()));
        }
    }
    if !metadata.is_empty() {
        let map: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), Value::Object(map));
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // Pad with spaces (valid JSON whitespace) so the data starts 8-aligned.
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&data);
    Ok(bytes)
}

/// Parses the bytes of a safetensors file; `path` names the file in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<TensorFile> {
    let format = |problem: String| NnError::Format {
        path: path.to_path_buf(),
        problem,
    };
    let Some((length_bytes, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(format(format!(
            "{} bytes is too short for the 8-byte header length (truncated?)",
            bytes.len()
        )));
    };
    let header_len = u64::from_le_bytes(*length_bytes);
    if header_len > MAX_HEADER_BYTES || header_len > rest.len() as u64 {
        return Err(format(format!(
            "the header claims {header_len} bytes but {} follow (truncated or not safetensors?)",
            rest.len()
        )));
    }
    let (header, data) = rest.split_at(header_len as usize);
    let header =
        std::str::from_utf8(header).map_err(|e| format(format!("the header is not UTF-8: {e}")))?;
    let header: Value = serde_json::from_str(header)
        .map_err(|e| format(format!("the header is not valid JSON: {e}")))?;
    let Value::Object(entries) = header else {
        return Err(format("the header is not a JSON object".into()));
    };

    let mut file = TensorFile::default();
    let mut spans = Vec::new();
    for (name, entry) in &entries {
        if name == "__metadata__" {
            file.metadata = parse_metadata(entry).map_err(format)?;
            continue;
        }
        let (dtype, shape, begin, end) =
            parse_entry(entry).map_err(|problem| format(format!("tensor {name:?}: {problem}")))?;
        let element_bytes = match (dtype.as_str(), shape.is_empty()) {
            ("F32", _) => 4,
            // PyTorch saves batch norm's `num_batches_tracked` as an I64 scalar.
            ("I64", true) => 8,
            _ => {
                return Err(NnError::WrongDtype {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    dtype,
                })
            }
        };
        let bytes_needed = element_count(&shape).and_then(|n| n.checked_mul(element_bytes));
        if begin > end || bytes_needed != Some(end - begin) {
            return Err(format(format!(
                "tensor {name:?}: data_offsets [{begin}, {end}] do not hold shape {shape:?} of {dtype}"
            )));
        }
        if end > data.len() {
            return Err(format(format!(
                "tensor {name:?} ends at byte {end} of the data, which has only {} (truncated?)",
                data.len()
            )));
        }
        spans.push((begin, end, name.clone(), shape, element_bytes));
    }
    // The data must be tiled exactly: no overlaps, no gaps, nothing after.
    spans.sort_by_key(|span| (span.0, span.1));
    let mut expected_begin = 0;
    for (begin, end, name, shape, element_bytes) in spans {
        if begin != expected_begin {
            return Err(format(format!(
                "tensor {name:?} starts at byte {begin}, expected {expected_begin} \
                 (overlapping or gapped data)"
            )));
        }
        expected_begin = end;
        let bytes = &data[begin..end];
        let values = match element_bytes {
            4 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            // A counter: exact up to 2^24, the nearest f32 beyond.
            _ => bytes
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
        };
        file.tensors.push(Tensor {
            name,
            shape,
            data: values,
        });
    }
    if expected_begin != data.len() {
        return Err(format(format!(
            "{} bytes of data follow the last tensor",
            data.len() - expected_begin
        )));
    }
    Ok(file)
}

fn parse_metadata(entry: &Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(map) = entry else {
        return Err("__metadata__ is not a JSON object".into());
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("__metadata__ value of {k:?} is not a string")),
        })
        .collect()
}

/// `(dtype, shape, begin, end)` of one header entry.
fn parse_entry(entry: &Value) -> Result<(String, Vec<usize>, usize, usize), String> {
    let dtype = entry
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("no \"dtype\" string")?;
    let as_sizes = |key: &str| -> Result<Vec<usize>, String> {
        entry
            .get(key)
            .and_then(Value::as_array)
            .ok_or(format!("no {key:?} array"))?
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(format!("{key:?} holds {v}, not a size"))
            })
            .collect()
    };
    let shape = as_sizes("shape")?;
    let offsets = as_sizes("data_offsets")?;
    let [begin, end] = offsets[..] else {
        return Err(format!(
            "\"data_offsets\" has {} values, not 2",
            offsets.len()
        ));
    };
    Ok((dtype.to_string(), shape, begin, end))
}

/// The product of `shape` (1 for a scalar), `None` on overflow.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// `dir/.name.tmp-PID-N`: same directory (so rename is atomic), hidden,
/// unique per process and per call (two threads may save at once).
fn temp_path(path: &Path) -> PathBuf {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "weights".into());
    path.with_file_name(format!(".{name}.tmp-{}-{call}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let metadata = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let tensors = [
            ("b", &[3usize][..], &[1.0f32, -2.0, 3.5][..]),
            ("a", &[2usize, 1][..], &[f32::MIN_POSITIVE, f32::MAX][..]),
            ("scalar", &[][..], &[7.0f32][..]),
        ];
        encode(Path::new("x"), tensors, &metadata).unwrap()
    }

    #[test]
    fn encode_decode_round_trips_bit_for_bit() {
        let bytes = sample();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0, "data is 8-aligned");
        let file = decode(&bytes, Path::new("x")).unwrap();
        let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "scalar"], "data order is kept");
        assert_eq!(file.get("a").unwrap().data, [f32::MIN_POSITIVE, f32::MAX]);
        assert_eq!(file.get("a").unwrap().shape, [2, 1]);
        assert_eq!(file.get("scalar").unwrap().shape, Vec::<usize>::new());
        assert_eq!(file.metadata["k"], "v");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len], Path::new("cut.safetensors")).unwrap_err();
            assert!(matches!(err, NnError::Format { .. }), "{len}: {err}");
            assert!(err.to_string().contains("cut.safetensors"), "{err}");
        }
    }

    #[test]
    fn garbled_bytes_are_errors_not_panics() {
        let bytes = sample();
        // Flip every byte of the header length and header in turn: each must
        // give Ok (a harmless change, like a space) or an error, never a panic.
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for i in 0..header_end {
            let mut garbled = bytes.clone();
            garbled[i] ^= 0x5a;
            let _ = decode(&garbled, Path::new("g"));
        }
        let extra = [bytes.clone(), vec![0; 4]].concat();
        assert!(decode(&extra, Path::new("g"))
            .unwrap_err()
            .to_string()
            .contains("follow"));
    }

    #[test]
    fn hand_made_headers_with_bad_offsets_are_rejected() {
        let make = |header: &str, data_len: usize| {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend(std::iter::repeat_n(0u8, data_len));
            decode(&bytes, Path::new("h"))
        };
        let cases = [
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                4,
                "do not hold",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "starts at byte 4",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
                "overlapping",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                2,
                "truncated",
            ),
            (r#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, 4, "dtype"),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                4,
                "not a size",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
                4,
                "not 2",
            ),
            (r#"[1, 2]"#, 0, "not a JSON object"),
            (r#"{"__metadata__":{"k":1}}"#, 0, "not a string"),
            (r#"{"a": oops}"#, 0, "not valid JSON"),
        ];
        for (header, data_len, needle) in cases {
            let message = make(header, data_len).unwrap_err().to_string();
            assert!(message.contains(needle), "{header}: {message}");
        }
        let err = make(
            r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
            4,
        )
        .unwrap_err();
        assert!(
            matches!(err, NnError::WrongDtype { ref dtype, .. } if dtype == "F16"),
            "{err}"
        );
        // PyTorch's I64 scalars (num_batches_tracked) read as f32; I64
        // tensors with a shape are not weights and stay refused.
        let mut bytes = br#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#.to_vec();
        bytes.splice(0..0, (bytes.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&1234567i64.to_le_bytes());
        let file = decode(&bytes, Path::new("torch")).unwrap();
        assert_eq!(file.get("n").unwrap().data, [1_234_567.0]);
        assert_eq!(file.get("n").unwrap().shape, Vec::<usize>::new());
        let err = make(
            r#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
            8,
        )
        .unwrap_err();
        assert!(
            matches!(err, NnError::WrongDtype { ref dtype, .. } if dtype == "I64"),
            "{err}"
        );
        assert!(make(
            r#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,4]}}"#,
            4
        )
        .unwrap_err()
        .to_string()
        .contains("of I64"),);
        // An empty file of tensors is valid.
        assert_eq!(make("{}", 0).unwrap(), TensorFile::default());
    }

    #[test]
    fn inconsistent_tensors_are_refused_by_the_writer() {
        let none = BTreeMap::new();
        let short = [("w", &[2usize, 2][..], &[1.0f32][..])];
        assert!(matches!(
            encode(Path::new("o"), short, &none),
            Err(NnError::InvalidTensor { .. })
        ));
        let twice = [
            ("w", &[1usize][..], &[1.0f32][..]),
            ("w", &[1usize][..], &[1.0f32][..]),
        ];
        assert!(encode(Path::new("o"), twice, &none).is_err());
        let reserved = [("__metadata__", &[1usize][..], &[1.0f32][..])];
        assert!(encode(Path::new("o"), reserved, &none).is_err());
    }
}
