//! Loading the tutorials' data and reference weights from `examples/data/`.
#![allow(dead_code)]

use serde_json::Value;

/// The path of a file in `examples/data/`.
pub fn data_path(name: &str) -> String {
    format!("{}/examples/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A JSON file from `examples/data/`.
pub fn json(name: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))?)
}

/// All numbers of a (nested) JSON array, flattened row-major.
pub fn numbers(v: &Value) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    match v {
        Value::Array(a) => {
            let mut out = Vec::new();
            for item in a {
                out.extend(numbers(item)?);
            }
            Ok(out)
        }
        other => {
            Ok(vec![other.as_f64().ok_or_else(|| {
                format!("expected a number, got {other}")
            })?])
        }
    }
}

/// A row-major `rows x cols` matrix transposed to `cols x rows` (numpy's `in x out`
/// weights to `nn.Linear`'s `out x in`).
pub fn transpose(v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols)
        .map(|i| v[(i % rows) * cols + i / rows])
        .collect()
}

/// `f64`s narrowed to `E`.
pub fn cast<E: forma::core::Float>(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| E::from_f64(x)).collect()
}
