//! Reading the small data files the tutorials use.

use forma_core::{Error, Result};

/// Parses comma-separated numbers, skipping a first line that does not parse
/// (a header). Every row must have as many fields as the first.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<f64>>> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: core::result::Result<Vec<f64>, _> =
            line.split(',').map(|f| f.trim().parse::<f64>()).collect();
        match parsed {
            Ok(row) => {
                if let Some(first) = rows.first() {
                    forma_core::check_len("parse_csv: fields in a row", first.len(), row.len())?;
                }
                rows.push(row);
            }
            Err(_) if i == 0 => continue,
            Err(_) => {
                return Err(Error::Parse {
                    what: "parse_csv",
                    line: i + 1,
                });
            }
        }
    }
    Ok(rows)
}

/// Little-endian `f64`s from raw bytes (numpy's `tofile` on x86); the length
/// must be a multiple of 8.
pub fn f64s_from_le_bytes(bytes: &[u8]) -> Result<Vec<f64>> {
    if !bytes.len().is_multiple_of(8) {
        return Err(Error::Length {
            what: "f64s_from_le_bytes (a multiple of 8 bytes)",
            expected: bytes.len() / 8 * 8,
            got: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_ragged_rows() {
        assert_eq!(
            parse_csv("a,b\n1,2\n3,4\n").unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        assert!(matches!(
            parse_csv("1,2\n3\n"),
            Err(Error::Length {
                expected: 2,
                got: 1,
                ..
            })
        ));
        assert!(matches!(
            parse_csv("1,2\nx,4\n"),
            Err(Error::Parse { line: 2, .. })
        ));
    }

    #[test]
    fn bytes_must_be_whole_f64s() {
        assert_eq!(
            f64s_from_le_bytes(&1.5f64.to_le_bytes()).unwrap(),
            vec![1.5]
        );
        assert!(f64s_from_le_bytes(&[0u8; 9]).is_err());
    }
}
