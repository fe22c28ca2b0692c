//! Helpers shared by the integration tests: golden files (copied from the
//! PyTorch/numpy reference runs into `examples/data/`) and comparisons in f64.
#![allow(dead_code)]

use serde_json::Value;

/// A golden JSON file from `examples/data/`.
pub fn golden(name: &str) -> Value {
    let path = format!("{}/examples/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// A number from a JSON value.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A flat list of numbers from a (possibly nested) JSON array.
pub fn nums(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(nums).collect(),
        other => vec![num(other)],
    }
}

/// Asserts `|got - want| <= tol * |want|`, in f64.
#[track_caller]
pub fn assert_rel(what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs() / want.abs().max(f64::MIN_POSITIVE);
    assert!(
        err <= tol,
        "{what}: got {got:e}, want {want:e}, relative error {err:e} > {tol:e}"
    );
}

/// Asserts `|got - want| <= tol`, in f64.
#[track_caller]
pub fn assert_abs(what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs();
    assert!(
        err <= tol,
        "{what}: got {got:e}, want {want:e}, absolute error {err:e} > {tol:e}"
    );
}
