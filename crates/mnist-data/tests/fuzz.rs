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
