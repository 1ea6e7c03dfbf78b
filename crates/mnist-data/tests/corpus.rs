//! Regression corpus: small bad files under `tests/corpus/`, each listed in
//! `tests/corpus/EXPECTED` with a phrase its error message must contain.
//! A file that once broke the reader goes here with what it should say.

use mnist_data::{parse_idx, read_idx, Dataset};
use std::path::Path;

#[test]
fn every_corpus_file_fails_with_its_expected_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let manifest = std::fs::read_to_string(dir.join("EXPECTED")).unwrap();
    let mut checked = 0;
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, phrase) = line.split_once('\t').expect("name<TAB>phrase");
        let path = dir.join(name);
        let message = if name.ends_with(".csv") {
            Dataset::from_csv(&path, None, None)
                .unwrap_err()
                .to_string()
        } else {
            // From disk and from memory, the same problem is reported.
            let in_memory = parse_idx(&std::fs::read(&path).unwrap(), &path).unwrap_err();
            let from_disk = read_idx(&path).unwrap_err().to_string();
            assert_eq!(in_memory.to_string(), from_disk);
            from_disk
        };
        assert!(
            message.contains(phrase),
            "{name}: {message:?} lacks {phrase:?}"
        );
        assert!(
            message.contains(&path.display().to_string()),
            "{name}: {message:?}"
        );
        checked += 1;
    }
    // All files but EXPECTED (the folder seeds/ holds the fuzzer's valid seeds).
    let files = (std::fs::read_dir(&dir).unwrap())
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count()
        - 1;
    assert_eq!(checked, files, "every corpus file has an expectation");
}
