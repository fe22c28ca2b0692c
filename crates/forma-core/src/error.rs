//! The error type: what a user's data can get wrong, said with what was
//! expected and what came.

use core::fmt;

/// Everything forma reports instead of panicking.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A buffer, slice or batch had the wrong length.
    Length {
        /// What was being built or checked.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A value that must be finite was NaN or infinite.
    NonFinite {
        /// Where it was found.
        what: &'static str,
        /// Its position (flat index) in that buffer.
        index: usize,
    },
    /// A class label was not a whole number below the number of classes
    /// (negative, fractional, NaN or too large).
    ClassOutOfRange {
        /// Row of the offending label.
        row: usize,
        /// The label as given (so -1, 2.5 and NaN are reported as they came).
        label: f64,
        /// The number of classes.
        classes: usize,
    },
    /// One value of a batch, at a row and column, was not what it must be
    /// (a non-finite input, a probability outside [0, 1]).
    Value {
        /// Which tensor ("input", "target", "Bce prediction").
        what: &'static str,
        /// 0-based row of the batch.
        row: usize,
        /// 0-based column.
        column: usize,
        /// The value found.
        value: f64,
        /// What it must be ("a finite value", "a probability in [0, 1]").
        expected: &'static str,
    },
    /// One scalar (a loss, a setting) was not what it must be.
    Invalid {
        /// Which scalar.
        what: &'static str,
        /// The value found.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
    /// One element of a parameter tensor, or of its gradient or update, was
    /// not finite. Tensors are numbered in [`Params::visit`] order from 0
    /// (for a `Linear`: its weight, then its bias).
    ///
    /// [`Params::visit`]: https://docs.rs/forma-layers
    Parameter {
        /// [`GRADIENT`] when the gradient itself is not finite, else what
        /// the update would have written ("update (...)").
        what: &'static str,
        /// The tensor's number in visiting order.
        tensor: usize,
        /// The element's flat index in that tensor (row-major).
        index: usize,
        /// The value found (for an update: the value it would have become).
        value: f64,
    },
    /// A batch had no rows where a loss (a mean over rows) or a step needs
    /// at least one. Every path (host and device) reports it the same way.
    EmptyBatch {
        /// What was given the empty batch.
        what: &'static str,
    },
    /// Data could not be parsed.
    Parse {
        /// What was being read.
        what: &'static str,
        /// 1-based line (or record) number.
        line: usize,
    },
    /// An invalid hyper-parameter (a negative learning rate, a beta outside
    /// [0, 1)), checked in the element type it will be used in.
    Config {
        /// Which setting, and what it must be.
        what: &'static str,
        /// The value given (as the element type rounds it: `1e39` in `f32` is infinite).
        got: f64,
    },
    #[cfg(feature = "alloc")]
    /// A saved tensor (a `.safetensors` file) that does not fit the model:
    /// which file and tensor, what the model's type expects, what came.
    Tensor {
        /// The file (its path, or "(bytes)").
        file: alloc::string::String,
        /// The tensor's name on file (empty for the file as a whole).
        name: alloc::string::String,
        /// What the model expects.
        expected: alloc::string::String,
        /// What the file holds.
        got: alloc::string::String,
    },
    #[cfg(feature = "alloc")]
    /// Text data (CSV) that could not be read: where, what was expected, what came.
    Data {
        /// What was being read (a file name, or "parse_csv").
        what: alloc::string::String,
        /// 1-based line.
        line: usize,
        /// 1-based field (column), when one field is at fault.
        column: Option<usize>,
        /// What was expected and what came.
        message: alloc::string::String,
    },
    #[cfg(feature = "alloc")]
    /// A training step was refused. Nothing was changed: the model and the
    /// optimizer state are bit for bit as before the step (the values; an
    /// optimizer may have created its zeroed state, as its first step
    /// would). For [`StepCause::Device`] that holds only where the trainer
    /// could restore its snapshot (a checked trainer on a GPU does, and says
    /// so by failing with the restore's error otherwise).
    Step {
        /// The step's number, counted by the trainer from 1.
        step: u64,
        /// Which check refused it.
        cause: StepCause,
        /// The details: which row and column, or which parameter tensor.
        source: alloc::boxed::Box<Error>,
    },
    #[cfg(feature = "alloc")]
    /// No device of the kind asked for is usable (no GPU, or no driver).
    NoDevice {
        /// The kind of device ("CUDA").
        backend: &'static str,
        /// Why, as the driver said it.
        why: alloc::string::String,
    },
    #[cfg(feature = "alloc")]
    /// A device operation failed.
    Device {
        /// The operation.
        what: &'static str,
        /// The driver's error code (`CUresult` for CUDA).
        code: u32,
        /// The driver's description of it.
        message: alloc::string::String,
    },
    #[cfg(feature = "alloc")]
    /// A kernel module (PTX) could not be loaded; `log` is the JIT compiler's.
    KernelLoad {
        /// The module's name.
        module: &'static str,
        /// The driver's error code.
        code: u32,
        /// The JIT compiler's error log.
        log: alloc::string::String,
    },
}

/// [`Error::Parameter`]'s `what` for a gradient that is not finite: the
/// optimizers write it and the trainers read it as [`StepCause::Gradient`].
pub const GRADIENT: &str = "gradient";

/// Which check refused a training step ([`Error::Step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepCause {
    /// The batch had no rows.
    EmptyBatch,
    /// The batch's input held a non-finite value.
    Input,
    /// The target held a non-finite or invalid value.
    Target,
    /// The loss was not finite, or the loss refused the model's output
    /// (a `Bce` prediction outside [0, 1]).
    Loss,
    /// A gradient was not finite.
    Gradient,
    /// The update would have made a parameter or optimizer state non-finite.
    Update,
    /// The device failed.
    Device,
}

impl fmt::Display for StepCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepCause::EmptyBatch => "empty batch",
            StepCause::Input => "input",
            StepCause::Target => "target",
            StepCause::Loss => "loss",
            StepCause::Gradient => "gradient",
            StepCause::Update => "update",
            StepCause::Device => "device",
        })
    }
}

/// `core::result::Result` with forma's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A size product that overflowed is reported with `expected`
            // saturated at usize::MAX: say that, not a 20-digit length.
            Error::Length {
                what,
                expected: usize::MAX,
                got,
            } => write!(
                f,
                "{what}: the sizes given need more elements than usize can count; \
                 the buffer holds {got}"
            ),
            Error::Length {
                what,
                expected,
                got,
            } => {
                write!(f, "{what}: expected length {expected}, got {got}")
            }
            Error::NonFinite { what, index } => {
                write!(
                    f,
                    "{what}: expected finite values, found NaN or infinity at index {index}"
                )
            }
            Error::ClassOutOfRange {
                row,
                label,
                classes,
            } => write!(
                f,
                "class label in row {row}: expected a whole number in 0..{classes}, got {label}"
            ),
            Error::Value {
                what,
                row,
                column,
                value,
                expected,
            } => write!(
                f,
                "{what}, row {row}, column {column}: expected {expected}, got {value}"
            ),
            Error::Invalid {
                what,
                value,
                expected,
            } => write!(f, "{what}: expected {expected}, got {value}"),
            Error::Parameter {
                what,
                tensor,
                index,
                value,
            } => write!(
                f,
                "{what}: parameter tensor {tensor} (in visiting order), element {index}: \
                 expected a finite value, got {value}"
            ),
            Error::EmptyBatch { what } => write!(
                f,
                "{what}: expected a batch of at least 1 row, got an empty batch"
            ),
            Error::Parse { what, line } => write!(f, "{what}: cannot parse line {line}"),
            Error::Config { what, got } => write!(f, "invalid setting: {what}, got {got}"),
            #[cfg(feature = "alloc")]
            Error::Tensor {
                file,
                name,
                expected,
                got,
            } => {
                if name.is_empty() {
                    write!(f, "{file}: expected {expected}, got {got}")
                } else {
                    write!(f, "{file}: tensor `{name}`: expected {expected}, got {got}")
                }
            }
            #[cfg(feature = "alloc")]
            Error::Data {
                what,
                line,
                column,
                message,
            } => match column {
                Some(c) => write!(f, "{what}, line {line}, field {c}: {message}"),
                None => write!(f, "{what}, line {line}: {message}"),
            },
            #[cfg(feature = "alloc")]
            Error::Step {
                step,
                cause: StepCause::Device,
                source,
            } => write!(f, "training step {step} failed on the device: {source}"),
            #[cfg(feature = "alloc")]
            Error::Step {
                step,
                cause,
                source,
            } => write!(
                f,
                "training step {step} refused ({cause}): {source}; the model and optimizer \
                 state are unchanged"
            ),
            #[cfg(feature = "alloc")]
            Error::NoDevice { backend, why } => write!(f, "no {backend} device: {why}"),
            #[cfg(feature = "alloc")]
            Error::Device {
                what,
                code,
                message,
            } => write!(f, "{what} failed with device error {code}: {message}"),
            #[cfg(feature = "alloc")]
            Error::KernelLoad { module, code, log } => write!(
                f,
                "kernel module {module} failed to load (device error {code}); JIT log: {log}"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// `Ok(())` if every value is finite, else the first offender.
pub fn check_finite<E: crate::Float>(what: &'static str, values: &[E]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite { what, index }),
    }
}

/// `Ok(())` if every value of a row-major batch of `cols` columns is finite,
/// else [`Error::Value`] naming the first offender's row and column. The
/// happy path is one vectorised pass (an integer maximum of the values'
/// `abs_bits`, see [`Float::AbsBits`](crate::Float::AbsBits)); the
/// position is looked up only on failure.
pub fn check_finite_rows<E: crate::Float>(
    what: &'static str,
    cols: usize,
    values: &[E],
) -> Result<()> {
    let (all_finite, _) = crate::math::pointwise::scan_finite_max(values);
    if all_finite {
        return Ok(());
    }
    let index = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
    let cols = cols.max(1);
    Err(Error::Value {
        what,
        row: index / cols,
        column: index % cols,
        value: values.get(index).map_or(f64::NAN, |v| v.to_f64()),
        expected: "a finite value",
    })
}

/// `Ok(())` if `got == expected`.
pub fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected,
            got,
        })
    }
}
