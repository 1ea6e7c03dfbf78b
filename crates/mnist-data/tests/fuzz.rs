//! Property tests over hostile input: arbitrary bytes, arbitrary headers and
//! mutated valid files (raw and gzipped) never panic, and never allocate
//! more than the input could hold. The allocator counts this thread's peak.
//! For a longer hunt: `PROPTEST_CASES=100000 cargo test -p mnist-data --test fuzz`.

mod common;

use common::counting_alloc::{peak_bytes_during, CountingAlloc};
use common::{gzip, ScratchDir};
use mnist_data::{parse_idx, Dataset, IdxArray, IdxData};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `PROPTEST_CASES` if set, else `default` (kept small for the test suite).
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// The most a parse of `input` may allocate at once: the payload and its
/// typed copy (2x), of at most the input size or, for gzip, deflate's
/// 1032:1 ceiling; plus a fixed allowance for the decoder's state.
fn allocation_bound(input: &[u8]) -> usize {
    let content = if input.starts_with(&[0x1f, 0x8b]) {
        input.len() * 1032 + 1024
    } else {
        input.len()
    };
    2 * content + 256 * 1024
}

fn check_parse(input: &[u8]) -> Result<Option<IdxArray>, TestCaseError> {
    let (result, peak) = peak_bytes_during(|| parse_idx(input, "fuzz-input"));
    prop_assert!(
        peak <= allocation_bound(input),
        "{} input bytes allocated {peak} bytes",
        input.len()
    );
    match result {
        Ok(array) => Ok(Some(array)),
        Err(error) => {
            let message = error.to_string();
            prop_assert!(message.contains("fuzz-input"), "{message}");
            Ok(None)
        }
    }
}

/// A small valid IDX array of any type.
fn any_array() -> impl Strategy<Value = IdxArray> {
    let dims = prop::collection::vec(0usize..5, 1..4);
    (dims, 0u8..6).prop_flat_map(|(dims, kind)| {
        let n: usize = dims.iter().product();
        let bytes = prop::collection::vec(any::<u8>(), n * 8);
        bytes.prop_map(move |b| {
            let data = match kind {
                0 => IdxData::U8(b[..n].to_vec()),
                1 => IdxData::I8(b[..n].iter().map(|&x| x as i8).collect()),
                2 => IdxData::I16(
                    b.chunks(2)
                        .take(n)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                ),
                3 => IdxData::I32(
                    b.chunks(4)
                        .take(n)
                        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                4 => IdxData::F32(
                    b.chunks(4)
                        .take(n)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                _ => IdxData::F64(
                    b.chunks(8)
                        .take(n)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
            };
            IdxArray::new(dims.clone(), data).unwrap()
        })
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    SetU32 { at: usize, value: u32 },
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (
            any::<usize>(),
            prop_oneof![Just(u32::MAX), Just(1 << 31), Just(0), any::<u32>()]
        )
            .prop_map(|(at, value)| Mutation::SetU32 { at, value }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::Flip { at, mask } if !bytes.is_empty() => bytes[at % len] ^= mask,
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
        Mutation::SetU32 { at, value } if bytes.len() >= 4 => {
            let at = at % (bytes.len() - 3);
            bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_parse(&bytes)?;
        let mut gzipped = vec![0x1f, 0x8b];
        gzipped.extend_from_slice(&bytes);
        check_parse(&gzipped)?;
    }

    #[test]
    fn arbitrary_headers_never_overallocate(
        code in prop_oneof![Just(0x08u8), Just(0x09), Just(0x0B), Just(0x0C), Just(0x0D), Just(0x0E), any::<u8>()],
        dims in prop::collection::vec(prop_oneof![0u32..4, any::<u32>()], 0..5),
        payload in prop::collection::vec(any::<u8>(), 0..64),
        zipped in any::<bool>(),
    ) {
        let mut bytes = vec![0, 0, code, dims.len() as u8];
        for d in &dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&payload);
        let input = if zipped { gzip(&bytes) } else { bytes };
        check_parse(&input)?;
    }

    #[test]
    fn valid_files_round_trip_and_mutations_never_panic(
        array in any_array(),
        zipped in any::<bool>(),
        mutations in prop::collection::vec(any_mutation(), 1..4),
    ) {
        let raw = array.to_bytes();
        let original = if zipped { gzip(&raw) } else { raw };
        let parsed = check_parse(&original)?.expect("a valid file parses");
        // Compare bit patterns: NaN payloads must survive too.
        prop_assert_eq!(parsed.to_bytes(), array.to_bytes());

        let mut bytes = original;
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        check_parse(&bytes)?;
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn arbitrary_csv_never_panics(
        lines in prop::collection::vec(
            prop::collection::vec(prop_oneof![Just("0".to_string()), Just("255".to_string()), "[0-9a-z.\\- ]{0,4}"], 0..6),
            0..6,
        ),
    ) {
        let dir = ScratchDir::new("fuzz-csv");
        let text: String = lines.iter().map(|fields| fields.join(",") + "\n").collect();
        let path = dir.file("input.csv", text.as_bytes());
        if let Err(error) = Dataset::from_csv(&path, None, None) {
            let message = error.to_string();
            prop_assert!(message.contains("input.csv"), "{}", message);
        }
    }
}

// Time-bounded mutation fuzzing (`byte-fuzz`): each target replays its
// `tests/regressions/<target>/` files, runs the valid seeds in
// `tests/corpus/seeds/` (and the known-bad files of `tests/corpus/`), then
// mutates them for `FUZZ_SECONDS` (10 s by default).

fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seeds whose names end with one of `endings`: the valid ones in
/// `tests/corpus/seeds/`, then the known-bad ones in `tests/corpus/`.
fn seeds(endings: &[&str]) -> Vec<Vec<u8>> {
    let corpus = manifest_dir().join("tests/corpus");
    let valid = byte_fuzz::files_in(&corpus.join("seeds"));
    assert!(
        !valid.is_empty(),
        "no seeds: run the ignored test write_seed_corpus"
    );
    let bad = byte_fuzz::files_in(&corpus);
    (valid.into_iter().chain(bad))
        .filter(|(path, _)| endings.iter().any(|e| path.to_string_lossy().ends_with(e)))
        .map(|(_, bytes)| bytes)
        .collect()
}

/// The IDX check: no panic, an allocation bounded by the input, and an
/// error that names the input.
fn idx_check(bytes: &[u8]) -> Result<(), String> {
    let (result, peak) = peak_bytes_during(|| parse_idx(bytes, "fuzz-input"));
    if peak > allocation_bound(bytes) {
        return Err(format!(
            "{} input bytes allocated {peak} bytes",
            bytes.len()
        ));
    }
    match result {
        Err(error) if !error.to_string().contains("fuzz-input") => {
            Err(format!("the error names no file: {error}"))
        }
        _ => Ok(()),
    }
}

#[test]
fn fuzz_idx_raw() {
    let regressions = manifest_dir().join("tests/regressions/idx");
    let seeds = seeds(&[".idx"]);
    let report = byte_fuzz::run("idx", &seeds, &regressions, byte_fuzz::budget(), idx_check);
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

#[test]
fn fuzz_idx_gzip() {
    let regressions = manifest_dir().join("tests/regressions/idx");
    let seeds = seeds(&[".idx.gz"]);
    let report = byte_fuzz::run(
        "idx-gz",
        &seeds,
        &regressions,
        byte_fuzz::budget(),
        idx_check,
    );
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

#[test]
fn fuzz_csv() {
    let regressions = manifest_dir().join("tests/regressions/csv");
    let seeds = seeds(&[".csv", ".csv.gz"]);
    let dir = ScratchDir::new("fuzz-csv-mutants");
    let path = dir.0.join("mutant.csv");
    let report = byte_fuzz::run(
        "csv",
        &seeds,
        &regressions,
        byte_fuzz::budget(),
        move |bytes| {
            std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
            for limit in [None, Some(2)] {
                if let Err(error) = Dataset::from_csv_limited(&path, None, None, limit) {
                    if !error.to_string().contains("mutant.csv") {
                        return Err(format!("the error names no file: {error}"));
                    }
                }
            }
            Ok(())
        },
    );
    assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
}

/// Writes the valid seeds with our own writers: small files of each IDX
/// type, raw and gzipped, and CSV files with and without a header.
/// `cargo test -p mnist-data --test fuzz -- --ignored write_seed_corpus`
#[test]
#[ignore]
fn write_seed_corpus() {
    use mnist_data::{write_idx, Compression};
    let dir = manifest_dir().join("tests/corpus/seeds");
    std::fs::create_dir_all(&dir).unwrap();
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i * 37 % 256) as u8).collect();
    let arrays = [
        (
            "images",
            IdxArray::new(vec![3, 28, 28], IdxData::U8(pixels)).unwrap(),
        ),
        (
            "labels",
            IdxArray::new(vec![5], IdxData::U8(vec![7, 2, 1, 0, 4])).unwrap(),
        ),
        (
            "i16",
            IdxArray::new(vec![2, 3], IdxData::I16(vec![-3, 0, 7, 300, -1, 2])).unwrap(),
        ),
        (
            "f32",
            IdxArray::new(vec![4], IdxData::F32(vec![0.5, -1.0, 3.25, 1e-3])).unwrap(),
        ),
        (
            "f64",
            IdxArray::new(vec![2], IdxData::F64(vec![2.5, -0.125])).unwrap(),
        ),
    ];
    for (name, array) in &arrays {
        write_idx(dir.join(format!("{name}.idx")), array, Compression::None).unwrap();
        write_idx(dir.join(format!("{name}.idx.gz")), array, Compression::Gzip).unwrap();
    }
    let header = "label,p1,p2,p3,p4\n3,0,255,10,20\n1,1,2,3,4\n9,200,100,50,0\n";
    std::fs::write(dir.join("header-2x2.csv"), header).unwrap();
    let plain: String = (0..2)
        .map(|row| {
            let pixels: Vec<String> = (0..784)
                .map(|i| ((i * 7 + row) % 256).to_string())
                .collect();
            format!("{},{}\n", row + 3, pixels.join(","))
        })
        .collect();
    std::fs::write(dir.join("plain-28x28.csv"), &plain).unwrap();
    std::fs::write(
        dir.join("header-2x2.csv.gz"),
        common::gzip(header.as_bytes()),
    )
    .unwrap();
}
