//! CUDA errors as forma errors, keeping the driver's code and description.

use std::ffi::CStr;

use cust::error::CudaError;
use cust::sys::{CUresult, cudaError_enum};
use forma_core::Error;

/// A cust error from operation `what`. "No device" (and a driver that cannot
/// initialise) becomes [`Error::NoDevice`].
pub(crate) fn from_cust(what: &'static str, e: CudaError) -> Error {
    match e {
        CudaError::NoDevice | CudaError::NotInitialized | CudaError::InvalidDevice => {
            Error::NoDevice {
                backend: "CUDA",
                why: format!("{what}: {e} (CUDA error {})", e as u32),
            }
        }
        _ => Error::Device {
            what,
            code: e as u32,
            message: e.to_string(),
        },
    }
}

/// `Ok` for `CUDA_SUCCESS`, else the raw driver result of `what` as an error.
pub(crate) fn check(what: &'static str, r: CUresult) -> forma_core::Result<()> {
    if r == cudaError_enum::CUDA_SUCCESS {
        return Ok(());
    }
    Err(Error::Device {
        what,
        code: r as u32,
        message: describe(r),
    })
}

/// The driver's description of a result code.
pub(crate) fn describe(r: CUresult) -> String {
    let mut text: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: cuGetErrorString writes a pointer to a static, NUL-terminated
    // string (or leaves it null for an unknown code); we read it only if set.
    let ok = unsafe { cust::sys::cuGetErrorString(r, &mut text) };
    if ok == cudaError_enum::CUDA_SUCCESS && !text.is_null() {
        // SAFETY: non-null and NUL-terminated, as documented for cuGetErrorString.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    } else {
        format!("unknown CUDA error {}", r as u32)
    }
}
