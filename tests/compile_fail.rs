//! Shape errors are compile errors: each program in `tests/compile_fail/` must
//! fail to compile, with the diagnostic recorded in its `.stderr` file.
//!
//! Regenerate the expected output after a deliberate change to a message with
//! `TRYBUILD=overwrite cargo test --test compile_fail`, then read the diff.

#[test]
fn shape_errors_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
