//! CSV datasets as in the widely shared `mnist_train.csv`: one image per
//! line, the label first, then the pixels (0..=255) row by row; an optional
//! header line; gzipped or not.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::idx::MAX_ITEMS;
use crate::input::{read_error, Input};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

impl Dataset {
    /// Reads a CSV dataset. `image_shape` defaults to a square (784 pixels ->
    /// 28x28); `classes` to the largest label + 1.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("csv-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("tiny.csv");
    /// std::fs::write(&path, "label,p1,p2,p3,p4\n3,0,255,10,20\n1,1,2,3,4\n").unwrap();
    /// let set = mnist_data::Dataset::from_csv(&path, None, None).unwrap();
    /// assert_eq!(set.image_shape(), (2, 2));
    /// assert_eq!(set.labels(), &[3, 1]);
    /// assert_eq!(set.image(0), &[0, 255, 10, 20]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn from_csv(
        path: impl AsRef<Path>,
        image_shape: Option<(usize, usize)>,
        classes: Option<usize>,
    ) -> Result<Dataset> {
        Dataset::from_csv_limited(path, image_shape, classes, None)
    }

    /// [`Dataset::from_csv`] keeping only the first `limit` images: reading
    /// stops after them. Without a limit, more than 10 million images is
    /// an error (no real dataset has them; a bomb would take the memory).
    pub fn from_csv_limited(
        path: impl AsRef<Path>,
        image_shape: Option<(usize, usize)>,
        classes: Option<usize>,
        limit: Option<usize>,
    ) -> Result<Dataset> {
        let path = path.as_ref();
        let input = Input::open(path)?;
        let gzip = input.is_gzip();
        let mut reader = BufReader::with_capacity(1 << 16, input);
        let error = |line: usize, problem: String| DataError::Csv {
            path: path.to_path_buf(),
            line,
            problem,
        };

        let mut expected_columns = image_shape.map(|(r, c)| r.saturating_mul(c).saturating_add(1));
        let mut images = Vec::new();
        let mut labels = Vec::new();
        let mut text = Vec::new();
        let mut line_number = 0;
        loop {
            if Some(labels.len()) == limit {
                break;
            }
            if labels.len() == MAX_ITEMS {
                return Err(error(
                    line_number + 1,
                    format!(
                        "more than {} million images; no real dataset has that many, \
                         so the file is taken to be damaged",
                        MAX_ITEMS / 1_000_000
                    ),
                ));
            }
            text.clear();
            // A line can hold no more than its numbers take, so a longer one
            // is refused as it is read, not after the whole of it (a gzipped
            // 2 GB line once took 2.1 GB of memory before any error).
            let columns = expected_columns.unwrap_or(MNIST_COLUMNS).max(MNIST_COLUMNS);
            let max_line = columns.saturating_mul(BYTES_PER_NUMBER);
            let read = reader
                .by_ref()
                .take(max_line as u64 + 1)
                .read_until(b'\n', &mut text)
                .map_err(|e| read_error(path, gzip, e))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            if text.len() > max_line && !text.ends_with(b"\n") {
                return Err(error(
                    line_number,
                    format!(
                        "the line is longer than {max_line} bytes, more than {columns} numbers \
                         take; not a CSV of images"
                    ),
                ));
            }
            // Some editors and exporters start UTF-8 text with a byte-order
            // mark; left on, it made the first label unreadable, and a
            // headerless file silently lost its first image as a "header".
            let text = match line_number {
                1 => text.strip_prefix(UTF8_BOM).unwrap_or(&text),
                _ => &text[..],
            };
            let line = trim_line(text);
            if line.is_empty() {
                continue;
            }
            let fields = || line.split(|&b| b == b',').map(trim_field);
            if line_number == 1 && parse_byte(fields().next().unwrap_or(b"")).is_none() {
                continue; // a header: its first field is a name, not a label
            }

            // Counting commas is one vectorised pass; splitting is slower.
            let columns = line.iter().filter(|&&b| b == b',').count() + 1;
            let expected = *expected_columns.get_or_insert(columns);
            if columns != expected {
                return Err(error(
                    line_number,
                    format!("{columns} columns, expected {expected} (a label and the pixels)"),
                ));
            }
            if columns < 2 {
                return Err(error(line_number, "a label but no pixels".into()));
            }
            if push_plain_fields(line, &mut labels, &mut images) {
                continue;
            }
            // Spaces, ".0" suffixes or a bad value: the careful path below
            // accepts the first two and names the column of the third.
            for (column, field) in fields().enumerate() {
                let value = parse_byte(field).ok_or_else(|| {
                    let what = if column == 0 { "label" } else { "pixel" };
                    error(
                        line_number,
                        format!(
                            "column {}: {what} {:?} is not an integer in 0..=255",
                            column + 1,
                            String::from_utf8_lossy(field)
                        ),
                    )
                })?;
                if column == 0 {
                    labels.push(value);
                } else {
                    images.push(value);
                }
            }
        }

        let Some(columns) = expected_columns.filter(|_| !labels.is_empty()) else {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        };
        let shape = match image_shape {
            Some(shape) => shape,
            None => square_shape(columns - 1).ok_or_else(|| {
                error(
                    1,
                    format!(
                        "{} pixels per line is not a square image; give the image shape",
                        columns - 1
                    ),
                )
            })?,
        };
        let mut set = Dataset::from_parts_unchecked(images, labels, shape);
        if let Some(classes) = classes {
            set.set_classes(classes, path)?;
        }
        Ok(set)
    }
}

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// MNIST's label and 784 pixels: the line length allowed before the first
/// line says how many columns there are.
const MNIST_COLUMNS: usize = 785;

/// The most bytes one number of a line can take: "255.0" (5) with spaces
/// around it and a comma, and a generous margin.
const BYTES_PER_NUMBER: usize = 12;

/// The fast path for lines of plain digits and commas (what exporters
/// write): parses and appends the label and pixels in one pass. Returns
/// `false`, having appended nothing, on anything else.
fn push_plain_fields(line: &[u8], labels: &mut Vec<u8>, images: &mut Vec<u8>) -> bool {
    let images_before = images.len();
    let (mut value, mut digits, mut column) = (0u32, 0, 0);
    for &b in line.iter().chain(std::iter::once(&b',')) {
        if b.is_ascii_digit() && digits < 3 {
            value = value * 10 + u32::from(b - b'0');
            digits += 1;
        } else if b == b',' && digits > 0 && value <= 255 {
            if column == 0 {
                labels.push(value as u8);
            } else {
                images.push(value as u8);
            }
            (value, digits, column) = (0, 0, column + 1);
        } else {
            if column > 0 {
                labels.pop();
            }
            images.truncate(images_before);
            return false;
        }
    }
    true
}

/// Strips the line ending (`\n` or `\r\n`) and surrounding spaces.
fn trim_line(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

fn trim_field(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}

/// A decimal integer in 0..=255 (a trailing ".0" is accepted, as some
/// exporters write floats).
fn parse_byte(field: &[u8]) -> Option<u8> {
    let digits = field.strip_suffix(b".0").unwrap_or(field);
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u8::try_from(value).ok()
}

fn square_shape(pixels: usize) -> Option<(usize, usize)> {
    let side = (pixels as f64).sqrt().round() as usize;
    (side * side == pixels).then_some((side, side))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_byte_accepts_exactly_0_to_255() {
        assert_eq!(parse_byte(b"0"), Some(0));
        assert_eq!(parse_byte(b"255"), Some(255));
        assert_eq!(parse_byte(b"007"), Some(7));
        assert_eq!(parse_byte(b"12.0"), Some(12));
        for bad in [&b"256"[..], b"-1", b"", b"1.5", b"0x10", b"1000", b"label"] {
            assert_eq!(parse_byte(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn fast_path_agrees_with_the_careful_parse_or_declines() {
        let fields = [
            "0", "7", "255", "256", "007", "1000", "", " 3", "4.0", "x", "99",
        ];
        // Every line of up to three of these fields.
        let mut lines = vec![Vec::new()];
        for _ in 0..3 {
            lines = lines
                .iter()
                .flat_map(|line: &Vec<&str>| {
                    fields
                        .iter()
                        .map(move |f| [line.clone(), vec![*f]].concat())
                })
                .collect();
        }
        let (mut fast_taken, mut declined) = (0, 0);
        for line in lines {
            let text = line.join(",");
            let (mut labels, mut images) = (vec![9u8], vec![9u8]);
            let careful: Option<Vec<u8>> = text
                .split(',')
                .map(|f| parse_byte(f.trim().as_bytes()))
                .collect();
            if push_plain_fields(text.as_bytes(), &mut labels, &mut images) {
                fast_taken += 1;
                let careful = careful.expect("fast path accepted what the careful one rejects");
                assert_eq!(labels, [9, careful[0]], "{text:?}");
                assert_eq!(images[1..], careful[1..], "{text:?}");
            } else {
                declined += 1;
                assert_eq!(
                    (labels, images),
                    (vec![9], vec![9]),
                    "{text:?} left values behind"
                );
            }
        }
        assert!(
            fast_taken > 100 && declined > 100,
            "{fast_taken} {declined}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_a_header() {
        let dir = std::env::temp_dir().join(format!("csv-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let headerless = dir.join("headerless.csv");
        std::fs::write(&headerless, b"\xEF\xBB\xBF3,1,2,3,4\n5,5,6,7,8\n").unwrap();
        let set = Dataset::from_csv(&headerless, None, None).unwrap();
        assert_eq!(
            (set.labels(), set.image(0)),
            (&[3, 5][..], &[1, 2, 3, 4][..])
        );
        // With a header after the mark, the header still goes.
        let headed = dir.join("headed.csv");
        std::fs::write(&headed, b"\xEF\xBB\xBFlabel,a,b,c,d\n5,5,6,7,8\n").unwrap();
        assert_eq!(
            Dataset::from_csv(&headed, None, None).unwrap().labels(),
            &[5]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn square_shape_only_for_squares() {
        assert_eq!(square_shape(784), Some((28, 28)));
        assert_eq!(square_shape(1), Some((1, 1)));
        assert_eq!(square_shape(783), None);
    }
}
