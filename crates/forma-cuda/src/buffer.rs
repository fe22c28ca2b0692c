//! [`CudaBuffer`]: device memory for `f32`, possibly empty, and [`Gpu`], the
//! context and stream every buffer and launch of one device shares.

use std::sync::Arc;

use cust::context::{Context, CurrentContext};
use cust::memory::DeviceBuffer;
use cust::stream::Stream;
use cust::sys::{self, CUdeviceptr};
use forma_core::{Error, Result};

use crate::error::{check, from_cust};

/// One device's context and its one stream. Every operation is queued on
/// this stream, never on the legacy default stream (which a NON_BLOCKING
/// stream does not synchronise with).
pub(crate) struct Gpu {
    pub(crate) stream: Stream,
    // After the stream: dropped last.
    pub(crate) context: Context,
}

impl Gpu {
    pub(crate) fn new(context: Context, stream: Stream) -> Arc<Gpu> {
        Arc::new(Gpu { stream, context })
    }

    /// Makes the context current on this thread and returns the stream.
    pub(crate) fn bind(&self) -> Result<&Stream> {
        CurrentContext::set_current(&self.context).map_err(|e| from_cust("cuCtxSetCurrent", e))?;
        Ok(&self.stream)
    }

    /// Runs `f` with this context current, then makes current again whatever
    /// context the thread had (for drops, which must not change it behind a
    /// program that also uses other CUDA contexts).
    pub(crate) fn with_current<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut previous: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: cuCtxGetCurrent writes one handle (or null) to `previous`.
        let saved =
            unsafe { sys::cuCtxGetCurrent(&mut previous) } == sys::cudaError_enum::CUDA_SUCCESS;
        let _ = CurrentContext::set_current(&self.context);
        let result = f();
        if saved {
            // SAFETY: `previous` is the handle the driver just gave us, or
            // null (which unbinds): both are valid for cuCtxSetCurrent.
            let _ = unsafe { sys::cuCtxSetCurrent(previous) };
        }
        result
    }

    /// Waits for everything queued on the stream.
    pub(crate) fn synchronize(&self) -> Result<()> {
        self.bind()?;
        self.stream
            .synchronize()
            .map_err(|e| from_cust("cuStreamSynchronize (an earlier kernel failed)", e))
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        // Queued work finishes before the stream and context go.
        self.with_current(|| {
            let _ = self.stream.synchronize();
        });
    }
}

/// A buffer of `f32` in GPU memory. An empty buffer owns no allocation (a
/// layer without bias has an empty bias buffer), and its pointer is null:
/// kernels never read it, since every length they get for it is zero.
///
/// It keeps its device's context and stream alive; dropping it waits for the
/// work queued on that stream (which may still use it) before freeing, so
/// buffers may outlive the [`Cuda`](crate::Cuda) that made them or be dropped
/// on another thread.
pub struct CudaBuffer {
    memory: Option<DeviceBuffer<f32>>,
    len: usize,
    gpu: Arc<Gpu>,
}

impl CudaBuffer {
    /// `len` zeros, zeroed on the device's stream.
    pub(crate) fn zeros(len: usize, gpu: &Arc<Gpu>) -> Result<Self> {
        let stream = gpu.bind()?;
        let memory = if len == 0 {
            None
        } else {
            // SAFETY: the memory is zeroed by the memset queued below, on the
            // stream every later use of this buffer is queued on, before any
            // of them; it is never read uninitialised.
            let memory = unsafe { DeviceBuffer::<f32>::uninitialized(len) }
                .map_err(|e| from_cust("cuMemAlloc", e))?;
            // SAFETY: `memory` holds `len` 4-byte elements.
            check("cuMemsetD32Async", unsafe {
                sys::cuMemsetD32Async(memory.as_device_ptr().as_raw(), 0, len, stream.as_inner())
            })?;
            Some(memory)
        };
        Ok(CudaBuffer {
            memory,
            len,
            gpu: Arc::clone(gpu),
        })
    }

    /// `len` zeros on the device that made `self`.
    pub fn zeros_beside(&self, len: usize) -> Result<Self> {
        Self::zeros(len, &self.gpu)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address, as a kernel argument (0 when empty); `Err` if the
    /// buffer belongs to another device than `gpu` (its address would be
    /// meaningless there).
    pub(crate) fn ptr_on(&self, gpu: &Arc<Gpu>) -> Result<CUdeviceptr> {
        if !Arc::ptr_eq(&self.gpu, gpu) {
            return Err(Error::Device {
                what: "a CudaBuffer used with another Cuda device than the one that made it",
                code: sys::cudaError_enum::CUDA_ERROR_INVALID_CONTEXT as u32,
                message: String::from("buffers belong to the device (context) that allocated them"),
            });
        }
        Ok(self
            .memory
            .as_ref()
            .map_or(0, |m| m.as_device_ptr().as_raw()))
    }
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            // Kernels queued before the drop may still use this memory, and
            // cuMemFree needs the owning context current on this thread.
            self.gpu.with_current(|| {
                let _ = self.gpu.stream.synchronize();
                drop(memory);
            });
        }
    }
}

impl core::fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CudaBuffer({} x f32)", self.len)
    }
}
