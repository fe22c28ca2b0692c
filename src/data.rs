//! Reading the small data files the tutorials use: comma-separated numbers
//! ([`parse_csv`]) and raw little-endian `f64`s ([`f64s_from_le_bytes`]).
//!
//! Nothing is guessed: a header is skipped only when [`CsvOptions`] says how
//! many lines it has, and every value that is not a finite number is an error
//! that names its line and field.

use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};
use forma_core::{Error, Result};

/// What [`parse_csv`] does with a comma at the end of a row (`1,2,`), that
/// is, with an empty last field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrailingComma {
    /// An error that names the line and the empty field (the default).
    #[default]
    Error,
    /// One empty last field is dropped from every row that has one, so
    /// `1,2,` reads as `1,2` (and `1,2,,` as `1,2,` with an empty field 3:
    /// an error).
    Allow,
}

/// How [`parse_csv`] reads a file. The default reads every non-blank line as
/// data (no header) and refuses trailing commas.
///
/// ```
/// use forma::data::{CsvOptions, parse_csv};
///
/// # fn main() -> forma::Result<()> {
/// let rows = parse_csv("x,y\n1,2\n3,4\n", &CsvOptions::with_header_lines(1))?;
/// assert_eq!(rows, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
///
/// let rows = parse_csv("1,2,\n", &CsvOptions::default().allow_trailing_comma())?;
/// assert_eq!(rows, vec![vec![1.0, 2.0]]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsvOptions {
    /// How many header lines to skip before the data: their content is not
    /// read at all. Blank lines do not count (they are skipped before, among
    /// and after the header lines too), and a header line with a quoted field
    /// that spans lines counts once (it is one CSV record). A file with fewer
    /// non-blank lines than this is an error.
    pub header_lines: usize,
    /// What to do with an empty last field, `1,2,`.
    pub trailing_comma: TrailingComma,
}

impl CsvOptions {
    /// No header (every non-blank line is data); a trailing comma is an
    /// error. The same as `CsvOptions::default()`.
    pub const fn new() -> Self {
        Self {
            header_lines: 0,
            trailing_comma: TrailingComma::Error,
        }
    }

    /// Skips the first `lines` non-blank lines (the header); a trailing comma
    /// is an error.
    pub const fn with_header_lines(lines: usize) -> Self {
        Self {
            header_lines: lines,
            trailing_comma: TrailingComma::Error,
        }
    }

    /// The same options, but a trailing comma is dropped instead of being an
    /// error ([`TrailingComma::Allow`]).
    pub const fn allow_trailing_comma(self) -> Self {
        Self {
            trailing_comma: TrailingComma::Allow,
            ..self
        }
    }
}

/// The `what` of every error [`parse_csv`] returns.
const CSV: &str = "parse_csv";

/// Longest field (in characters) quoted whole in an error message.
const SHOWN_CHARS: usize = 40;

/// Parses comma-separated numbers into rows of equal length.
///
/// The rules, all of them:
///
/// - **Splitting** is done by the [`csv`] crate (RFC 4180): fields are
///   separated by `,`, rows by `\n` (a `\r` before it is trimmed with the
///   field, so CRLF files read the same; a lone `\r` is not a line break,
///   as in [`str::lines`]). A field in double quotes may hold
///   commas, newlines and `""` (one quote), exactly as the `csv` crate reads
///   it; the value inside must still be a number.
/// - **A UTF-8 byte order mark** (`U+FEFF`) at the very start of `text` is
///   removed before reading; it never costs a row and does not shift line
///   numbers. Two at the start are an error on line 1 (a file encoded
///   twice); a BOM anywhere else is an ordinary character (not a number).
/// - **Blank lines** (empty, or only whitespace) are skipped wherever they
///   are, but still counted, so line numbers in errors are the lines an
///   editor shows.
/// - **A header** is skipped only when asked: [`CsvOptions::header_lines`]
///   non-blank lines are skipped unread. With the default (0) a header line
///   is an error on line 1 that quotes the first field that is not a number.
/// - **Fields** are trimmed of whitespace and parsed as `f64` (Rust's syntax:
///   `1`, `-2.5`, `.5`, `1e-3`). An empty field, text, `nan`, `inf`,
///   `-inf` and numbers beyond the `f64` range (`1e400`, which would read as
///   infinity) are errors; numbers below the smallest subnormal round to 0.
/// - **A trailing comma** (`1,2,`: an empty last field) is an error unless
///   [`CsvOptions::trailing_comma`] is [`TrailingComma::Allow`].
/// - **Every row** must have as many fields as the first data row.
/// - A file without data rows (empty, only blank lines, or only the header
///   lines asked for) gives `Ok(vec![])`; fewer header lines than asked for
///   is an error.
///
/// # Errors
///
/// [`Error::Data`] with `what: "parse_csv"`, the 1-based `line` and, when one
/// field is at fault, its 1-based `column`; the message says what was
/// expected and what came: `expected a number, got "x"`, `expected a finite
/// number, got "nan"`, `expected 4 fields (as on line 2), got 3`, `expected
/// 2 header lines, got 1 before the end of the file`. An error of the csv
/// crate itself (there should be none for a `&str`) is passed on the same way.
pub fn parse_csv(text: &str, options: &CsvOptions) -> Result<Vec<Vec<f64>>> {
    // The BOM is removed here, explicitly. The csv crate would silently drop
    // one more at the start of what it is given, so a second one is refused
    // rather than lost.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.starts_with('\u{feff}') {
        return Err(Error::Data {
            what: CSV.to_string(),
            line: 1,
            column: None,
            message: "expected at most one byte order mark (U+FEFF) at the start, got two"
                .to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true) // a ragged row is reported below, with both counts
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(body.as_bytes());

    let mut rows: Vec<Vec<f64>> = Vec::new();
    // The first data row's field count and line.
    let mut width: Option<(usize, usize)> = None;
    let mut headers_left = options.header_lines;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(reader_error)? {
        let (line, start) = record_start(body, record.position());
        if is_blank_line(body, start) {
            continue;
        }
        if headers_left > 0 {
            headers_left -= 1;
            continue;
        }

        let mut fields = record.len();
        if fields >= 2 && record.get(fields - 1).is_some_and(|f| f.trim().is_empty()) {
            match options.trailing_comma {
                TrailingComma::Allow => fields -= 1,
                TrailingComma::Error => {
                    return Err(Error::Data {
                        what: CSV.to_string(),
                        line,
                        column: Some(fields),
                        message: "expected a number, got nothing after the last comma \
                                  (a trailing comma; CsvOptions::allow_trailing_comma() \
                                  drops it)"
                            .to_string(),
                    });
                }
            }
        }
        match width {
            None => width = Some((fields, line)),
            Some((expected, first_line)) if expected != fields => {
                return Err(Error::Data {
                    what: CSV.to_string(),
                    line,
                    column: None,
                    message: format!(
                        "expected {expected} field{} (as on line {first_line}), got {fields}",
                        if expected == 1 { "" } else { "s" }
                    ),
                });
            }
            Some(_) => {}
        }
        let row = record
            .iter()
            .take(fields)
            .enumerate()
            .map(|(i, field)| number(field, line, i + 1))
            .collect::<Result<Vec<f64>>>()?;
        rows.push(row);
    }

    if headers_left > 0 {
        let found = options.header_lines - headers_left;
        return Err(Error::Data {
            what: CSV.to_string(),
            line: body.lines().count() + 1,
            column: None,
            message: format!(
                "expected {} header line{}, got {found} before the end of the file",
                options.header_lines,
                if options.header_lines == 1 { "" } else { "s" }
            ),
        });
    }
    Ok(rows)
}

/// The 1-based line and the byte offset in `body` where a record starts.
///
/// The csv crate skips empty lines silently and reports the position where
/// it started looking, before them: the `\n`s at that position are those
/// empty lines, so the record starts after them, that many lines further.
fn record_start(body: &str, position: Option<&csv::Position>) -> (usize, usize) {
    let Some(p) = position else {
        return (0, 0);
    };
    let start = to_usize(p.byte());
    let empty = body
        .as_bytes()
        .get(start..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| b == b'\n').count());
    (to_usize(p.line()).saturating_add(empty), start + empty)
}

/// Whether the line of `body` that starts at byte `start` holds only
/// whitespace (a record that starts on such a line is that whitespace alone:
/// there is no quote on it to continue it).
fn is_blank_line(body: &str, start: usize) -> bool {
    body.get(start..)
        .and_then(|rest| rest.split('\n').next())
        .is_some_and(|line| line.trim().is_empty())
}

/// One field as a finite `f64`, or an error that quotes it.
fn number(field: &str, line: usize, column: usize) -> Result<f64> {
    let f = field.trim();
    let error = |message: String| Error::Data {
        what: CSV.to_string(),
        line,
        column: Some(column),
        message,
    };
    if f.is_empty() {
        return Err(error("expected a number, got an empty field".to_string()));
    }
    match f.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => {
            let lower = f.to_ascii_lowercase();
            let why = if lower.contains("inf") || lower.contains("nan") {
                ""
            } else {
                " (beyond the f64 range)"
            };
            Err(error(format!(
                "expected a finite number, got {}{why}",
                shown(f)
            )))
        }
        Err(_) => Err(error(format!("expected a number, got {}", shown(f)))),
    }
}

/// A field as an error message quotes it: escaped, and cut after
/// [`SHOWN_CHARS`] characters.
fn shown(field: &str) -> String {
    match field.char_indices().nth(SHOWN_CHARS) {
        None => format!("{field:?}"),
        Some((cut, _)) => format!(
            "{:?}... ({} characters)",
            &field[..cut],
            field.chars().count()
        ),
    }
}

/// An error of the csv reader itself. With a `&str` as input and flexible
/// rows there should be none (no I/O, no invalid UTF-8); if one comes, it is
/// passed on with its line rather than dropped.
fn reader_error(e: csv::Error) -> Error {
    Error::Data {
        what: CSV.to_string(),
        line: e.position().map_or(0, |p| to_usize(p.line())),
        column: None,
        message: format!("the CSV reader failed: {e}"),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Little-endian `f64`s from raw bytes (numpy's `tofile` on x86). The length
/// must be a multiple of 8 and every value finite.
///
/// # Errors
///
/// [`Error::Length`] when the length is not a multiple of 8 (`expected` is
/// the nearest multiple below, the length a truncated last value would
/// leave); [`Error::NonFinite`] with the index of the first NaN or infinity.
pub fn f64s_from_le_bytes(bytes: &[u8]) -> Result<Vec<f64>> {
    let (whole, rest) = bytes.as_chunks::<8>();
    if !rest.is_empty() {
        return Err(Error::Length {
            what: "f64s_from_le_bytes: bytes, a multiple of 8 (the nearest below is shown)",
            expected: bytes.len() - rest.len(),
            got: bytes.len(),
        });
    }
    let values: Vec<f64> = whole.iter().map(|b| f64::from_le_bytes(*b)).collect();
    forma_core::check_finite("f64s_from_le_bytes", &values)?;
    Ok(values)
}

/// The text of a data file; a name ending in `.gz` is decompressed (gzip).
/// `Err(Error::Data)` naming the file if it cannot be read or is not UTF-8.
pub fn read_text(path: impl AsRef<std::path::Path>) -> Result<String> {
    let path = path.as_ref();
    String::from_utf8(read_bytes(path)?).map_err(|e| Error::Data {
        what: path.display().to_string(),
        line: 0,
        column: None,
        message: format!("expected UTF-8 text, got {e}"),
    })
}

/// A classification data set from CSV text: `F` feature columns and one
/// label column (`label_column`, 0-based; the others are features, in
/// order), each label a class index below `C`. Read with [`parse_csv`]'s
/// rules (every row has as many fields as the first, or the error names the
/// line); rows of another number of fields than `F + 1` are an error saying
/// both numbers, a label that is not an integer below `C` one naming its
/// data row (0-based, after the header) and column, and a `label_column`
/// past the last column a `Config` error.
pub fn classification_csv<E: forma_core::Float, const F: usize, const C: usize>(
    text: &str,
    options: &CsvOptions,
    label_column: usize,
) -> Result<crate::dataset::DataSet<E, F, forma_losses::Classes<usize, C>>> {
    if label_column > F {
        return Err(Error::Config {
            what: "classification_csv: the label column must be one of the F + 1 columns",
            got: label_column as f64,
        });
    }
    let rows = parse_csv(text, options)?;
    let mut x = Vec::with_capacity(rows.len() * F);
    let mut labels = Vec::with_capacity(rows.len());
    for (row, fields) in rows.iter().enumerate() {
        forma_core::check_len(
            "classification_csv: fields per row (features + label)",
            F + 1,
            fields.len(),
        )?;
        let label = fields[label_column];
        if !(label >= 0.0 && label < C as f64 && label.fract() == 0.0) {
            return Err(Error::Value {
                what: "classification_csv label",
                row,
                column: label_column,
                value: label,
                expected: "a class index: an integer from 0 to the class count less one",
            });
        }
        labels.push(label as usize);
        let features = fields
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != label_column);
        x.extend(features.map(|(_, v)| E::from_f64(*v)));
    }
    let x = forma_core::Tensor::from_vec(labels.len(), forma_core::Const, x)?;
    crate::dataset::DataSet::new(x, forma_losses::Classes::from_labels(labels)?)
}

/// The bytes of a data file; a name ending in `.gz` is decompressed.
/// `Err(Error::Data)` naming the file if it cannot be read.
pub fn read_bytes(path: impl AsRef<std::path::Path>) -> Result<Vec<u8>> {
    use std::io::Read;
    let path = path.as_ref();
    let fail = |message: String| Error::Data {
        what: path.display().to_string(),
        line: 0,
        column: None,
        message,
    };
    let bytes =
        std::fs::read(path).map_err(|e| fail(format!("expected a readable file, got {e}")))?;
    if path.extension().is_none_or(|e| e != "gz") {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| fail(format!("expected gzip data, got {e}")))?;
    Ok(out)
}

/// An IDX file (the format of MNIST): its dimensions and its unsigned-byte
/// data, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The size of each dimension (MNIST images: `[n, 28, 28]`; labels: `[n]`).
    pub dims: Vec<usize>,
    /// The values, `dims` multiplied together of them.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type `0x08`, as MNIST's). `what`
/// names it in errors: a magic number other than `0 0 8 d`, a header or data
/// shorter than the dimensions say, or bytes left over, are errors saying
/// what was expected and what came.
pub fn parse_idx(what: &str, bytes: &[u8]) -> Result<Idx> {
    let fail = |message: String| Error::Data {
        what: what.to_string(),
        line: 0,
        column: None,
        message,
    };
    let [0, 0, kind, rank, ..] = *bytes else {
        return Err(fail(format!(
            "expected an IDX magic number 0 0 8 d, got {:?}",
            &bytes[..bytes.len().min(4)]
        )));
    };
    if kind != 0x08 {
        return Err(fail(format!(
            "expected IDX type 0x08 (unsigned bytes), got 0x{kind:02x}"
        )));
    }
    let header = 4 + 4 * rank as usize;
    if bytes.len() < header {
        return Err(fail(format!(
            "expected a header of {header} bytes for {rank} dimensions, got {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            fail(format!(
                "expected dimensions whose product fits, got {dims:?}"
            ))
        })?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(fail(format!(
            "expected {count} data bytes for dimensions {dims:?}, got {}",
            data.len()
        )));
    }
    Ok(Idx {
        dims,
        data: data.to_vec(),
    })
}

/// MNIST-style images and labels (two IDX files' bytes) as a classification
/// data set: each image of `F` pixels scaled to [0, 1] (`value / 255`), each
/// label a class below `C`. `Err` if the image size is not `F`, the counts
/// differ, or a label is not a class (naming its row).
pub fn idx_classification<E: forma_core::Float, const F: usize, const C: usize>(
    images: &[u8],
    labels: &[u8],
) -> Result<crate::dataset::DataSet<E, F, forma_losses::Classes<usize, C>>> {
    let images = parse_idx("IDX images", images)?;
    let labels = parse_idx("IDX labels", labels)?;
    let n = images.dims.first().copied().unwrap_or(0);
    let pixels: usize = images.dims.iter().skip(1).product();
    forma_core::check_len(
        "IDX images: pixels per image (the network's input width)",
        F,
        pixels,
    )?;
    forma_core::check_len("IDX labels: one per image", n, labels.data.len())?;
    let x = images
        .data
        .iter()
        .map(|&v| E::from_f64(f64::from(v) / 255.0))
        .collect();
    let x = forma_core::Tensor::from_vec(n, forma_core::Const, x)?;
    let labels = labels.data.iter().map(|&l| usize::from(l)).collect();
    crate::dataset::DataSet::new(x, forma_losses::Classes::from_labels(labels)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<Vec<f64>>> {
        parse_csv(text, &CsvOptions::default())
    }

    /// The error's line, field and message, or a panic naming what came.
    fn data_error(r: Result<Vec<Vec<f64>>>) -> (usize, Option<usize>, String) {
        match r {
            Err(Error::Data {
                what,
                line,
                column,
                message,
            }) => {
                assert_eq!(what, "parse_csv");
                (line, column, message)
            }
            other => panic!("expected Error::Data, got {other:?}"),
        }
    }

    #[test]
    fn plain_numbers() {
        assert_eq!(
            csv("1,2\n3, 4.5\n-1e-3,.5").unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.5], vec![-1e-3, 0.5]]
        );
        assert_eq!(
            csv("1,2\r\n3,4\r\n").unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        assert_eq!(csv("7").unwrap(), vec![vec![7.0]]);
    }

    #[test]
    fn empty_file_is_no_rows() {
        assert_eq!(csv("").unwrap(), Vec::<Vec<f64>>::new());
        assert_eq!(csv("\n \n\r\n").unwrap(), Vec::<Vec<f64>>::new());
        assert_eq!(csv("\u{feff}").unwrap(), Vec::<Vec<f64>>::new());
    }

    // Old code: the bad first line was taken for a header and dropped, one row came back.
    #[test]
    fn a_bad_first_line_is_an_error_not_a_header() {
        let (line, column, message) = data_error(csv("1,x\n3,4"));
        assert_eq!((line, column), (1, Some(2)));
        assert_eq!(message, r#"expected a number, got "x""#);
        let e = csv("1,x\n3,4").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"parse_csv, line 1, field 2: expected a number, got "x""#
        );
    }

    // Old code: the header was skipped without being asked.
    #[test]
    fn a_header_is_an_error_unless_asked_for() {
        let (line, column, message) = data_error(csv("a,b\n1,2\n"));
        assert_eq!((line, column), (1, Some(1)));
        assert_eq!(message, r#"expected a number, got "a""#);
    }

    #[test]
    fn header_lines_one_and_two() {
        let one = CsvOptions::with_header_lines(1);
        assert_eq!(
            parse_csv("a,b\n1,2\n3,4\n", &one).unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        // The header's content is not read: any text, any field count.
        assert_eq!(
            parse_csv("title, with, commas, \"and \"\"quotes\"\"\"\n1,2\n", &one).unwrap(),
            vec![vec![1.0, 2.0]]
        );
        let two = CsvOptions::with_header_lines(2);
        assert_eq!(
            parse_csv("# iris\na,b\n1,2\n3,4\n", &two).unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        // One header line too few asked for: the second one is an error.
        assert_eq!(data_error(parse_csv("# iris\na,b\n1,2\n", &one)).0, 2);
        // Only a header: no rows.
        assert_eq!(parse_csv("a,b\n", &one).unwrap(), Vec::<Vec<f64>>::new());
        // Fewer lines than the header asked for.
        let (line, column, message) = data_error(parse_csv("a,b\n", &two));
        assert_eq!((line, column), (2, None));
        assert_eq!(
            message,
            "expected 2 header lines, got 1 before the end of the file"
        );
        assert_eq!(data_error(parse_csv("", &one)).0, 1);
    }

    // Old code: the BOM made the first field unparsable, so the first row was
    // taken for a header and lost.
    #[test]
    fn a_bom_is_stripped_and_keeps_the_first_row() {
        assert_eq!(
            csv("\u{feff}1,2\n3,4\n").unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        assert_eq!(
            parse_csv("\u{feff}a,b\n1,2\n", &CsvOptions::with_header_lines(1)).unwrap(),
            vec![vec![1.0, 2.0]]
        );
        // Only at the very start: elsewhere it is a character like any other.
        assert_eq!(data_error(csv("1,2\n\u{feff}3,4\n")).0, 2);
        // Found by the parse_csv fuzz target (crash-59e04325): the csv crate
        // dropped a second BOM, which made this line blank, silently.
        let (line, column, message) = data_error(parse_csv(
            "\u{feff}\u{feff}",
            &CsvOptions::with_header_lines(1).allow_trailing_comma(),
        ));
        assert_eq!((line, column), (1, None));
        assert_eq!(
            message,
            "expected at most one byte order mark (U+FEFF) at the start, got two"
        );
        assert_eq!(data_error(csv("\u{feff}\u{feff}1,2\n")).0, 1);
    }

    // Old code: "1,2," split into three fields, the last empty: a parse error
    // on line 1 was taken for a header, then no rows.
    #[test]
    fn a_trailing_comma_is_an_error_unless_allowed() {
        let (line, column, message) = data_error(csv("1,2,\n"));
        assert_eq!((line, column), (1, Some(3)));
        assert!(
            message.starts_with("expected a number, got nothing after the last comma"),
            "{message}"
        );
        assert_eq!(data_error(csv("1,2\n3,4,\n")).0, 2);

        let allow = CsvOptions::default().allow_trailing_comma();
        assert_eq!(parse_csv("1,2,\n", &allow).unwrap(), vec![vec![1.0, 2.0]]);
        // Allowed, not required: rows with and without one agree.
        assert_eq!(
            parse_csv("1,2,\n3,4\n", &allow).unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        // Only one empty field is dropped.
        assert_eq!(
            data_error(parse_csv("1,2,,\n", &allow)),
            (
                1,
                Some(3),
                "expected a number, got an empty field".to_string()
            )
        );
        // An empty field in the middle is never allowed.
        assert_eq!(
            data_error(csv("1,,2\n")),
            (
                1,
                Some(2),
                "expected a number, got an empty field".to_string()
            )
        );
    }

    // Old code: blank lines were skipped, but a blank line before the header
    // made the header line 2, which was then a parse error.
    #[test]
    fn blank_lines_are_skipped_but_counted() {
        assert_eq!(
            parse_csv(
                "\n  \na,b\n\n1,2\n\n3,4\n\n",
                &CsvOptions::with_header_lines(1)
            )
            .unwrap(),
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        );
        // Line numbers count the blank lines.
        assert_eq!(
            data_error(csv("\n\n1,2\n \n3,y\n")),
            (5, Some(2), r#"expected a number, got "y""#.to_string())
        );
        // Runs of empty lines (which the csv crate skips before it reports
        // a record's position) are counted too.
        assert_eq!(data_error(csv("1,2\n\n\n3,z\n")).0, 4);
        assert_eq!(data_error(csv("\n\n\nz\n")).0, 4);
        // A quoted empty field is not a blank line.
        assert_eq!(
            data_error(csv("1\n\"\"\n")),
            (
                2,
                Some(1),
                "expected a number, got an empty field".to_string()
            )
        );
    }

    // Old code: an Error::Length without a line number.
    #[test]
    fn a_ragged_row_names_its_line_and_both_counts() {
        let (line, column, message) = data_error(csv("1,2,3,4\n\n5,6,7\n"));
        assert_eq!((line, column), (3, None));
        assert_eq!(message, "expected 4 fields (as on line 1), got 3");
        assert_eq!(
            data_error(csv("\n1\n2,3\n")).2,
            "expected 1 field (as on line 2), got 2"
        );
    }

    // Old code: "nan", "inf" and "1e400" parsed (to NaN and infinity) and were returned.
    #[test]
    fn non_finite_values_are_errors() {
        for (text, field, message) in [
            ("1,nan\n", 2, r#"expected a finite number, got "nan""#),
            ("NaN,1\n", 1, r#"expected a finite number, got "NaN""#),
            ("1,inf\n", 2, r#"expected a finite number, got "inf""#),
            ("1,-inf\n", 2, r#"expected a finite number, got "-inf""#),
            (
                "1,-Infinity\n",
                2,
                r#"expected a finite number, got "-Infinity""#,
            ),
            (
                "1,1e400\n",
                2,
                r#"expected a finite number, got "1e400" (beyond the f64 range)"#,
            ),
            (
                "-1e309,1\n",
                1,
                r#"expected a finite number, got "-1e309" (beyond the f64 range)"#,
            ),
        ] {
            assert_eq!(
                data_error(csv(&format!("0,0\n{text}"))),
                (2, Some(field), message.to_string()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn quoted_fields_are_read_by_the_csv_crate() {
        assert_eq!(csv("\"1\",\" 2 \"\n").unwrap(), vec![vec![1.0, 2.0]]);
        // A quoted field may span lines; the next row's line is still right.
        assert_eq!(
            data_error(csv("\"1\n\",2\n3,z\n")),
            (3, Some(2), r#"expected a number, got "z""#.to_string())
        );
        assert_eq!(
            data_error(csv("\"1,5\",2\n")),
            (1, Some(1), r#"expected a number, got "1,5""#.to_string())
        );
    }

    #[test]
    fn long_fields_are_cut_in_messages() {
        let long = "x".repeat(100);
        let (_, _, message) = data_error(csv(&long));
        assert_eq!(
            message,
            format!(
                "expected a number, got {:?}... (100 characters)",
                "x".repeat(40)
            )
        );
    }

    #[test]
    fn bytes_must_be_whole_finite_f64s() {
        let mut bytes = 1.5f64.to_le_bytes().to_vec();
        bytes.extend((-2.0f64).to_le_bytes());
        assert_eq!(f64s_from_le_bytes(&bytes).unwrap(), vec![1.5, -2.0]);
        assert_eq!(f64s_from_le_bytes(&[]).unwrap(), Vec::<f64>::new());
        let e = f64s_from_le_bytes(&[0u8; 9]).unwrap_err();
        assert!(matches!(
            e,
            Error::Length {
                expected: 8,
                got: 9,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "f64s_from_le_bytes: bytes, a multiple of 8 (the nearest below is shown): \
             expected length 8, got 9"
        );
        assert!(matches!(
            f64s_from_le_bytes(&[0u8; 7]),
            Err(Error::Length {
                expected: 0,
                got: 7,
                ..
            })
        ));
        bytes.extend(f64::NAN.to_le_bytes());
        assert_eq!(
            f64s_from_le_bytes(&bytes),
            Err(Error::NonFinite {
                what: "f64s_from_le_bytes",
                index: 2
            })
        );
    }
}
