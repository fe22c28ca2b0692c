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
    /// A class index was not below the number of classes.
    ClassOutOfRange {
        /// Row of the offending label.
        row: usize,
        /// The label.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
    /// Data could not be parsed.
    Parse {
        /// What was being read.
        what: &'static str,
        /// 1-based line (or record) number.
        line: usize,
    },
    /// An invalid hyper-parameter (a negative learning rate, a beta outside [0, 1)).
    Config {
        /// Which setting, and what it must be.
        what: &'static str,
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

/// `core::result::Result` with forma's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
                "class label {label} in row {row} is out of range: expected a label below {classes}"
            ),
            Error::Parse { what, line } => write!(f, "{what}: cannot parse line {line}"),
            Error::Config { what } => write!(f, "invalid setting: {what}"),
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
