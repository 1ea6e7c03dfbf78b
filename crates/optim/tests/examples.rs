//! The example runs as a user runs it: its work is a function its `main` calls.

#[allow(dead_code)] // its `main` is for `cargo run --example fit_line`
#[path = "../examples/fit_line.rs"]
mod fit_line;

#[test]
fn the_fit_line_example_finds_the_line_and_resumes_exactly() {
    let [w, b] = fit_line::fit_line(300, None).unwrap();
    assert!(
        (w - 3.0).abs() < 0.02 && (b + 2.0).abs() < 0.02,
        "y = {w} x + {b}"
    );
    for resume_after in [1, 10, 150, 299] {
        assert_eq!(fit_line::fit_line(300, Some(resume_after)).unwrap(), [w, b]);
    }
    // Too few steps to get there: the check above can fail.
    let [w, _] = fit_line::fit_line(3, None).unwrap();
    assert!((w - 3.0).abs() > 1.0, "{w}");
}
