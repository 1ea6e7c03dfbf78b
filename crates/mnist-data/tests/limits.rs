//! Bounds on what a data file can make us read and hold (issue 21): a
//! `--limit` reads only the items it keeps, headers claiming counts or
//! sizes no real dataset has are refused before any body is read, and a
//! limited read still checks that the body is as long as the header says.

mod common;

use common::counting_alloc::{peak_bytes_during, CountingAlloc};
use common::{gzip, idx_header, images_idx, labels_idx, ScratchDir};
use mnist_data::{DataError, Dataset, MnistSet};
use std::io::Write;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn a_limit_reads_only_the_items_it_keeps() {
    // 100 images of 1000x1000 (100 MB inflated, 100 KB on disk), gzipped
    // chunk by chunk so the test itself never holds them.
    let dir = ScratchDir::new("limit-memory");
    let images = dir.0.join("images.gz");
    let file = std::fs::File::create(&images).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(&idx_header(0x08, &[100, 1000, 1000])).unwrap();
    let mut image = vec![0u8; 1000 * 1000];
    for i in 0..100u8 {
        image[0] = i;
        gz.write_all(&image).unwrap();
    }
    gz.finish().unwrap();
    let labels = dir.file("labels", &labels_idx(&[7; 100]));

    let (set, peak) = peak_bytes_during(|| {
        Dataset::from_idx_files_limited(&images, &labels, None, Some(2)).unwrap()
    });
    assert_eq!((set.len(), set.image_shape()), (2, (1000, 1000)));
    assert_eq!((set.image(0)[0], set.image(1)[0]), (0, 1));
    // The two images kept (2 MB) and the decoder's buffers, not 100 MB.
    assert!(peak < 4 << 20, "a limit of 2 images allocated {peak} bytes");
}

#[test]
fn headers_claiming_more_than_any_real_dataset_are_refused() {
    let dir = ScratchDir::new("implausible");
    let labels = dir.file("labels", &labels_idx(&[1, 2]));
    let images = dir.file("images", &images_idx(2, 1, 1));
    // 20 million labels (a 20 MB body that may yet arrive from a gzip bomb).
    let mut many = idx_header(0x08, &[20_000_000]);
    many.extend_from_slice(&[0; 16]);
    let many = dir.file("many-labels", &gzip(&many));
    // Images of 28 x 2000 pixels.
    let mut wide = idx_header(0x08, &[1, 28, 2000]);
    wide.extend_from_slice(&[0; 16]);
    let wide = dir.file("wide-images", &wide);
    // 9 million images of 1000x1: within both bounds, but 9 GB.
    let mut heavy = idx_header(0x08, &[9_000_000, 1000, 1]);
    heavy.extend_from_slice(&[0; 16]);
    let heavy = dir.file("heavy-images", &gzip(&heavy));
    let cases = [
        (&images, &many, "20000000 labels", "10 million"),
        (&wide, &labels, "images of 28x2000 pixels", "1024x1024"),
        (&heavy, &labels, "9000000000 bytes of images", "8 GB"),
    ];
    for (images, labels, claim, bound) in cases {
        let error = Dataset::from_idx_files_limited(images, labels, None, Some(1)).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DataError::Implausible { .. }), "{message}");
        let named = if claim.contains("labels") {
            labels
        } else {
            images
        };
        assert!(message.contains(&named.display().to_string()), "{message}");
        assert!(
            message.contains(claim) && message.contains(bound),
            "{message}"
        );
    }
}

#[test]
fn a_limited_read_still_checks_the_body_length() {
    let dir = ScratchDir::new("limit-length");
    let labels = dir.file("labels", &labels_idx(&[1, 2, 3]));
    let whole = images_idx(3, 2, 2);
    let mut long = whole.clone();
    long.extend_from_slice(&[9; 5]);
    let short = &whole[..whole.len() - 3];
    for (name, bytes) in [
        ("long", long.clone()),
        ("long.gz", gzip(&long)),
        ("short", short.to_vec()),
        ("short.gz", gzip(short)),
    ] {
        let images = dir.file(name, &bytes);
        let error = Dataset::from_idx_files_limited(&images, &labels, None, Some(1)).unwrap_err();
        match (name.starts_with("long"), &error) {
            (true, DataError::LongPayload { expected: 12, .. }) => {}
            (
                false,
                DataError::ShortPayload {
                    expected: 12,
                    found: 9,
                    ..
                },
            ) => {}
            _ => panic!("{name}: {error}"),
        }
    }
    // The whole file, gzipped or not, cut to its first item.
    for (name, bytes) in [("whole", whole.clone()), ("whole.gz", gzip(&whole))] {
        let images = dir.file(name, &bytes);
        let set = Dataset::from_idx_files_limited(&images, &labels, None, Some(1)).unwrap();
        assert_eq!(
            (set.len(), set.images(), set.labels()),
            (1, &[0, 1, 2, 3][..], &[1][..])
        );
    }
}

#[test]
fn a_limit_cuts_csv_files_and_both_halves_of_a_file_set() {
    let dir = ScratchDir::new("limit-csv");
    let train = dir.file("train.csv", b"1,0,0,0,0\n2,0,0,0,0\n3,0,0,0,0\n");
    // Past the limit, even garbage is never read.
    let test = dir.file("test.csv", b"4,1,1,1,1\nnot a line of pixels\n");
    let set = MnistSet::load_csv_limited(&train, &test, None, None, Some(1)).unwrap();
    assert_eq!(
        (set.train.labels(), set.test.labels()),
        (&[1][..], &[4][..])
    );
    assert!(MnistSet::load_csv(&train, &test, None, None).is_err());
}

#[test]
fn an_endless_csv_line_is_refused_as_it_is_read() {
    // A gzipped CSV whose second line is 50 MB of digits: 50 KB on disk.
    let dir = ScratchDir::new("long-line");
    let path = dir.0.join("train.csv.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(b"label,p1,p2,p3,p4\n1,0,0,0,0\n").unwrap();
    let digits = vec![b'7'; 1 << 20];
    for _ in 0..50 {
        gz.write_all(&digits).unwrap();
    }
    gz.write_all(b"\n").unwrap();
    gz.finish().unwrap();

    let (result, peak) = peak_bytes_during(|| Dataset::from_csv(&path, None, None));
    let message = result.unwrap_err().to_string();
    assert!(peak < 1 << 20, "allocated {peak} bytes");
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("line 3: the line is longer than 9420 bytes"),
        "{message}"
    );
}

#[test]
fn devices_and_fifos_are_refused_before_they_are_opened() {
    // Opening a FIFO blocks until a writer comes; /dev/zero never ends.
    let dir = ScratchDir::new("not-files");
    let fifo = dir.0.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    for path in [fifo.as_path(), std::path::Path::new("/dev/zero"), &dir.0] {
        let error = mnist_data::read_idx(path).unwrap_err();
        assert!(
            matches!(error, DataError::NotARegularFile { .. }),
            "{error}"
        );
        let error = Dataset::from_csv(path, None, None).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&path.display().to_string())
                && message.contains("not a regular file"),
            "{message}"
        );
    }
}
