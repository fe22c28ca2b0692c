//! `forma::data::parse_csv` on arbitrary text and options. It never panics;
//! an `Ok` is a rectangle of finite numbers; an `Err` is an `Error::Data`
//! whose line and field exist. Text without quotes (where the csv crate only
//! splits on `,` and `\n`) is also checked against a plain reference reader
//! that follows the documented rules line by line: same rows, bit for bit,
//! or an error on the same line and field.

#![no_main]

use forma::Error;
use forma::data::{CsvOptions, TrailingComma, parse_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options, the rest is the text (invalid UTF-8
    // is replaced by U+FFFD, so every input reaches the parser).
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let options = CsvOptions {
        header_lines: usize::from(first & 3),
        trailing_comma: if first & 4 == 0 {
            TrailingComma::Error
        } else {
            TrailingComma::Allow
        },
    };
    let text = String::from_utf8_lossy(rest);
    let result = parse_csv(&text, &options);

    let lines = text.split('\n').count();
    match &result {
        Ok(rows) => {
            assert!(rows.len() <= lines);
            if let Some(row) = rows.first() {
                assert!(!row.is_empty());
                assert!(rows.iter().all(|r| r.len() == row.len()), "ragged rows");
            }
            assert!(
                rows.iter().flatten().all(|v| v.is_finite()),
                "non-finite value"
            );
        }
        Err(
            e @ Error::Data {
                what,
                line,
                column,
                message,
            },
        ) => {
            assert_eq!(what, "parse_csv");
            assert!(
                (1..=lines + 1).contains(line),
                "line {line} of {lines}: {e}"
            );
            assert!(column.is_none_or(|c| c >= 1), "{e}");
            assert!(message.starts_with("expected "), "{e}");
        }
        Err(e) => panic!("unexpected error variant: {e:?}"),
    }

    if !text.contains('"') {
        let want = reference(&text, &options);
        match (&result, &want) {
            (Ok(got), Ok(want)) => {
                let bits = |rows: &[Vec<f64>]| -> Vec<Vec<u64>> {
                    rows.iter()
                        .map(|r| r.iter().map(|v| v.to_bits()).collect())
                        .collect()
                };
                assert_eq!(bits(got), bits(want));
            }
            (Err(Error::Data { line, column, .. }), Err(want)) => {
                assert_eq!((*line, *column), *want, "{result:?}");
            }
            _ => panic!("parse_csv gave {result:?}, the reference {want:?}"),
        }
    }
});

/// The documented rules for text without quotes, line by line: the rows, or
/// the (line, field) of the first error.
fn reference(text: &str, options: &CsvOptions) -> Result<Vec<Vec<f64>>, (usize, Option<usize>)> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.starts_with('\u{feff}') {
        return Err((1, None));
    }
    let mut headers = options.header_lines;
    let mut width = None;
    let mut rows = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if headers > 0 {
            headers -= 1;
            continue;
        }
        let mut fields: Vec<&str> = line.split(',').collect();
        if fields.len() >= 2 && fields.last().is_some_and(|f| f.trim().is_empty()) {
            match options.trailing_comma {
                TrailingComma::Allow => {
                    fields.pop();
                }
                TrailingComma::Error => return Err((n, Some(fields.len()))),
            }
        }
        match width {
            None => width = Some(fields.len()),
            Some(w) if w != fields.len() => return Err((n, None)),
            Some(_) => {}
        }
        let mut row = Vec::new();
        for (j, f) in fields.iter().enumerate() {
            match f.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => row.push(v),
                _ => return Err((n, Some(j + 1))),
            }
        }
        rows.push(row);
    }
    if headers > 0 {
        return Err((body.lines().count() + 1, None));
    }
    Ok(rows)
}
