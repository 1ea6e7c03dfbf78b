//! Every kind of bad input named in issue 3, each as a small hand-made file:
//! the loader returns an error whose message names the file and the problem.

mod common;

use common::{gzip, idx_header, images_idx, labels_idx, ScratchDir};
use mnist_data::{read_idx, DataError, Dataset, DatasetFiles, MnistSet};
use std::path::Path;

/// Asserts the error's message names `path` and contains `phrase`.
fn assert_message(error: &DataError, path: &Path, phrase: &str) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} does not name {}",
        path.display()
    );
    assert!(
        message.contains(phrase),
        "{message:?} does not say {phrase:?}"
    );
    assert!(!message.contains('\n'), "{message:?} is not one line");
}

#[test]
fn empty_file() {
    let dir = ScratchDir::new("empty");
    let path = dir.file("empty-idx", b"");
    let error = read_idx(&path).unwrap_err();
    assert!(matches!(error, DataError::Empty { .. }));
    assert_message(&error, &path, "empty");
    // Also when the emptiness is inside a valid gzip stream.
    let path = dir.file("empty.gz", &gzip(b""));
    assert!(matches!(
        read_idx(&path).unwrap_err(),
        DataError::Empty { .. }
    ));
}

#[test]
fn wrong_magic() {
    let dir = ScratchDir::new("magic");
    let path = dir.file("text", b"hello world, not IDX");
    let error = read_idx(&path).unwrap_err();
    assert!(matches!(
        error,
        DataError::WrongMagic {
            found: [b'h', b'e'],
            ..
        }
    ));
    assert_message(&error, &path, "not an IDX file");
}

#[test]
fn unsupported_type_code() {
    let dir = ScratchDir::new("type");
    let mut bytes = idx_header(0x0A, &[1]);
    bytes.push(7);
    let path = dir.file("bad-type", &bytes);
    let error = read_idx(&path).unwrap_err();
    assert!(matches!(
        error,
        DataError::UnsupportedTypeCode { code: 0x0A, .. }
    ));
    assert_message(&error, &path, "unsupported IDX type code 0x0a");
}

#[test]
fn truncated_header() {
    let dir = ScratchDir::new("header");
    let path = dir.file("cut", &[0, 0, 8, 3, 0, 0, 0, 2, 0]);
    let error = read_idx(&path).unwrap_err();
    assert!(matches!(
        error,
        DataError::TruncatedHeader {
            found: 9,
            needed: 16,
            ..
        }
    ));
    assert_message(&error, &path, "ends inside the IDX header");
}

#[test]
fn short_and_long_payload_raw_and_gzipped() {
    let dir = ScratchDir::new("payload");
    let good = images_idx(2, 3, 3);
    for (suffix, encode) in [
        ("", (|b: &[u8]| b.to_vec()) as fn(&[u8]) -> Vec<u8>),
        (".gz", |b: &[u8]| gzip(b)),
    ] {
        let short = dir.file(&format!("short{suffix}"), &encode(&good[..good.len() - 1]));
        let error = read_idx(&short).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::ShortPayload {
                    expected: 18,
                    found: 17,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_message(&error, &short, "payload shorter than the header says");

        let mut longer = good.clone();
        longer.push(0);
        let long = dir.file(&format!("long{suffix}"), &encode(&longer));
        let error = read_idx(&long).unwrap_err();
        assert!(
            matches!(error, DataError::LongPayload { expected: 18, .. }),
            "{error:?}"
        );
        assert_message(&error, &long, "payload longer than the header says");
    }
}

#[test]
fn header_claiming_billions_fails_without_allocating_them() {
    let dir = ScratchDir::new("billions");
    // 4e9 images of 28x28: 3 TB claimed by a 100-byte file, raw and gzipped.
    let mut bytes = idx_header(0x08, &[4_000_000_000, 28, 28]);
    bytes.extend_from_slice(&[0; 84]);
    for (name, content) in [("raw", bytes.clone()), ("gz", gzip(&bytes))] {
        let path = dir.file(name, &content);
        let error = read_idx(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::ShortPayload {
                    expected: 3_136_000_000_000,
                    found: 84,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}

#[test]
fn dimension_product_overflow() {
    let dir = ScratchDir::new("overflow");
    let path = dir.file(
        "overflow",
        &idx_header(0x08, &[u32::MAX, u32::MAX, u32::MAX]),
    );
    let error = read_idx(&path).unwrap_err();
    assert!(matches!(error, DataError::DimensionOverflow { .. }));
    assert_message(&error, &path, "multiply to more bytes");
}

#[test]
fn damaged_gzip_streams() {
    let dir = ScratchDir::new("gzip");
    let good = gzip(&images_idx(4, 5, 5));
    // A flipped byte in the deflate data, a wrong CRC, and a cut-off stream.
    let mut flipped = good.clone();
    flipped[20] ^= 0xFF;
    let mut bad_crc = good.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 1;
    let cut = good[..good.len() - 10].to_vec();
    for (name, bytes) in [("flipped", flipped), ("crc", bad_crc), ("cut", cut)] {
        let path = dir.file(name, &bytes);
        let error = read_idx(&path).unwrap_err();
        // A flipped byte may also decode to garbage that ends early or late;
        // whatever it becomes, it must be an error naming the file.
        if name != "flipped" {
            assert!(
                matches!(error, DataError::DamagedGzip { .. }),
                "{name}: {error:?}"
            );
            assert_message(&error, &path, "damaged gzip stream");
        } else {
            assert_message(&error, &path, "");
        }
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = ScratchDir::new("detect");
    let bytes = labels_idx(&[3, 1, 4]);
    let gz_named_plain = dir.file("labels-idx1-ubyte", &gzip(&bytes));
    let plain_named_gz = dir.file("labels-idx1-ubyte.gz", &bytes);
    for path in [gz_named_plain, plain_named_gz] {
        let (dims, _) = read_idx(&path).unwrap().into_parts();
        assert_eq!(dims, [3]);
    }
}

#[test]
fn wrong_dimension_counts_and_element_types() {
    let dir = ScratchDir::new("dims");
    let labels = dir.file("labels", &labels_idx(&[0, 1]));
    let flat_images = dir.file("flat", &labels_idx(&[0, 1]));
    let error = Dataset::from_idx_files(&flat_images, &labels, None).unwrap_err();
    assert!(matches!(
        error,
        DataError::WrongDimensionCount {
            expected: 3,
            found: 1,
            ..
        }
    ));
    assert_message(
        &error,
        &flat_images,
        "images need 3 IDX dimensions, the file has 1",
    );

    let images = dir.file("images", &images_idx(2, 2, 2));
    let error = Dataset::from_idx_files(&images, &images, None).unwrap_err();
    assert_message(
        &error,
        &images,
        "labels need 1 IDX dimensions, the file has 3",
    );

    let mut float_labels = idx_header(0x0D, &[2]);
    float_labels.extend_from_slice(&[0; 8]);
    let float_labels = dir.file("float-labels", &float_labels);
    let error = Dataset::from_idx_files(&images, &float_labels, None).unwrap_err();
    assert!(matches!(
        error,
        DataError::WrongElementType { found: "f32", .. }
    ));
    assert_message(&error, &float_labels, "labels must be IDX type u8");
}

#[test]
fn image_and_label_counts_differ() {
    let dir = ScratchDir::new("count");
    let images = dir.file("images", &images_idx(3, 2, 2));
    let labels = dir.file("labels", &labels_idx(&[0, 1]));
    let error = Dataset::from_idx_files(&images, &labels, None).unwrap_err();
    assert!(matches!(
        error,
        DataError::CountMismatch {
            images: 3,
            labels: 2,
            ..
        }
    ));
    assert_message(&error, &images, "3 images");
    assert_message(&error, &labels, "2 labels");
}

/// Writes a complete four-file directory with the given labels.
fn write_set(dir: &ScratchDir, train_labels: &[u8], test_labels: &[u8], test_cols: u32) {
    dir.file(
        "train-images-idx3-ubyte",
        &images_idx(train_labels.len() as u32, 2, 2),
    );
    dir.file(
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_idx(train_labels)),
    );
    dir.file(
        "t10k-images.idx3-ubyte",
        &images_idx(test_labels.len() as u32, 2, test_cols),
    );
    dir.file("t10k-labels-idx1-ubyte", &labels_idx(test_labels));
}

#[test]
fn label_outside_the_class_range_of_the_file_set() {
    let dir = ScratchDir::new("labels");
    write_set(&dir, &[0, 1, 2], &[0, 3], 2);
    // Inferred classes cover both halves: 0..4.
    let set = MnistSet::load_dir(&dir.0, None).unwrap();
    assert_eq!((set.train.classes(), set.test.classes()), (4, 4));
    assert_eq!(set.train.class_histogram(), [1, 1, 1, 0]);
    // Given 3 classes, the test set's label 3 is out of range.
    let error = MnistSet::load_dir(&dir.0, Some(3)).unwrap_err();
    assert!(matches!(
        error,
        DataError::LabelOutOfRange {
            index: 1,
            label: 3,
            classes: 3,
            ..
        }
    ));
    assert_message(
        &error,
        &dir.0.join("t10k-labels-idx1-ubyte"),
        "label 3 of item 1 is outside the classes 0..3",
    );
}

#[test]
fn train_and_test_image_shapes_differ() {
    let dir = ScratchDir::new("shapes");
    write_set(&dir, &[0, 1], &[1], 3);
    let error = MnistSet::load_dir(&dir.0, None).unwrap_err();
    assert!(matches!(
        error,
        DataError::ImageShapeMismatch {
            expected: (2, 2),
            found: (2, 3),
            ..
        }
    ));
}

#[test]
fn missing_file_names_the_expected_files_and_the_directory() {
    let dir = ScratchDir::new("missing");
    write_set(&dir, &[0], &[0], 2);
    std::fs::remove_file(dir.0.join("t10k-images.idx3-ubyte")).unwrap();
    let error = DatasetFiles::find(&dir.0).unwrap_err();
    let message = error.to_string();
    assert!(matches!(
        error,
        DataError::MissingFile {
            what: "test images",
            ..
        }
    ));
    assert!(message.contains(&dir.0.display().to_string()), "{message}");
    for name in [
        "t10k-images-idx3-ubyte",
        "t10k-images-idx3-ubyte.gz",
        "t10k-images.idx3-ubyte",
        "t10k-images.idx3-ubyte.gz",
    ] {
        assert!(message.contains(name), "{message} lacks {name}");
    }
    let nowhere = dir.0.join("no-such-dir");
    assert!(MnistSet::load_dir(&nowhere, None).is_err());
}

#[test]
fn missing_single_file_is_an_io_error_naming_it() {
    let path = Path::new("/no/such/mnist/file");
    let error = read_idx(path).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
    assert_message(&error, path, "");
}

#[test]
fn csv_errors_name_the_line() {
    let dir = ScratchDir::new("csv");
    let cases: [(&str, &str, usize, &str); 6] = [
        (
            "columns.csv",
            "1,0,0,0,0\n2,0,0,0\n",
            2,
            "4 columns, expected 5",
        ),
        (
            "range.csv",
            "label,a,b,c,d\n1,0,0,0,0\n1,0,256,0,0\n",
            3,
            "column 3: pixel \"256\" is not an integer in 0..=255",
        ),
        ("negative.csv", "1,0,0,0,-1\n", 1, "column 5: pixel \"-1\""),
        (
            "label.csv",
            "1,0,0,0,0\nx,0,0,0,0\n",
            2,
            "column 1: label \"x\"",
        ),
        ("nopixels.csv", "1\n2\n", 1, "a label but no pixels"),
        (
            "notsquare.csv",
            "1,0,0,0\n",
            1,
            "3 pixels per line is not a square",
        ),
    ];
    for (name, text, line, phrase) in cases {
        let path = dir.file(name, text.as_bytes());
        let error = Dataset::from_csv(&path, None, None).unwrap_err();
        assert!(
            matches!(error, DataError::Csv { line: l, .. } if l == line),
            "{name}: {error:?}"
        );
        assert_message(&error, &path, phrase);
    }
    let header_only = dir.file("header.csv", b"label,pixel1\n");
    assert!(matches!(
        Dataset::from_csv(&header_only, None, None),
        Err(DataError::Empty { .. })
    ));
    let labels = dir.file("classes.csv", b"0,1\n5,2\n");
    let error = Dataset::from_csv(&labels, None, Some(5)).unwrap_err();
    assert_message(
        &error,
        &labels,
        "label 5 of item 1 is outside the classes 0..5",
    );
}

#[test]
fn csv_reads_headers_crlf_gzip_and_given_shapes() {
    let dir = ScratchDir::new("csvok");
    let text = "label,1x1,1x2,1x3\r\n7, 0, 128 ,255\r\n\r\n2,1,2,3\r\n";
    let plain = dir.file("plain.csv", text.as_bytes());
    let zipped = dir.file("zipped.csv", &gzip(text.as_bytes()));
    for path in [plain, zipped] {
        let set = Dataset::from_csv(&path, Some((1, 3)), None).unwrap();
        assert_eq!(set.labels(), &[7, 2]);
        assert_eq!(set.images(), &[0, 128, 255, 1, 2, 3]);
        assert_eq!(set.classes(), 8);
    }
    let train = dir.file("train.csv", b"0,1,2,3,4\n1,5,6,7,8\n");
    let test = dir.file("test.csv", b"2,9,9,9,9\n");
    let set = MnistSet::load_csv(&train, &test, None, None).unwrap();
    assert_eq!((set.train.classes(), set.test.classes()), (3, 3));
    assert_eq!(set.test.image_shape(), (2, 2));
}

#[test]
fn write_idx_is_atomic_and_round_trips_gzipped() {
    use mnist_data::{write_idx, Compression, IdxArray, IdxData};
    let dir = ScratchDir::new("write");
    let array = IdxArray::new(vec![2, 2], IdxData::I16(vec![-1, 2, -300, 400])).unwrap();
    for compression in [Compression::None, Compression::Gzip] {
        let path = dir.0.join("out-idx");
        write_idx(&path, &array, compression).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes.starts_with(&[0x1f, 0x8b]),
            compression == Compression::Gzip
        );
        assert_eq!(read_idx(&path).unwrap(), array);
        let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }
    let error = write_idx(dir.0.join("missing-dir/x"), &array, Compression::None).unwrap_err();
    assert!(matches!(error, DataError::Io { .. }));
}

#[test]
fn a_half_with_no_images_is_refused_naming_its_file() {
    // An empty test set gave "accuracy 0.00%" and exit 0.
    let dir = ScratchDir::new("no-images");
    write_set(&dir, &[0, 1], &[], 2);
    let error = MnistSet::load_dir(&dir.0, None).unwrap_err();
    assert!(matches!(error, DataError::NoImages { .. }), "{error}");
    assert_message(
        &error,
        &dir.0.join("t10k-images.idx3-ubyte"),
        "the file holds no images",
    );
    write_set(&dir, &[], &[0], 2);
    let error = MnistSet::load_dir(&dir.0, None).unwrap_err();
    assert_message(
        &error,
        &dir.0.join("train-images-idx3-ubyte"),
        "the file holds no images",
    );
}
