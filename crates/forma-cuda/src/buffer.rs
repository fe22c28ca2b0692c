//! [`CudaBuffer`]: device memory for `f32`, possibly empty.

use std::sync::Arc;

use cust::context::{Context, CurrentContext};
use cust::memory::DeviceBuffer;
use cust::sys::CUdeviceptr;

use crate::error::from_cust;

/// A buffer of `f32` in GPU memory. An empty buffer owns no allocation (a
/// layer without bias has an empty bias buffer), and its pointer is null:
/// kernels never read it, since every length they get for it is zero.
///
/// It keeps its context alive, and makes it current when dropped, so buffers
/// may outlive the [`Cuda`](crate::Cuda) that made them or be dropped on
/// another thread.
pub struct CudaBuffer {
    memory: Option<DeviceBuffer<f32>>,
    len: usize,
    context: Arc<Context>,
}

impl CudaBuffer {
    /// `len` zeros (the caller has made `context` current).
    pub(crate) fn zeros(len: usize, context: &Arc<Context>) -> forma_core::Result<Self> {
        let memory = if len == 0 {
            None
        } else {
            Some(DeviceBuffer::zeroed(len).map_err(|e| from_cust("cuMemAlloc", e))?)
        };
        Ok(CudaBuffer {
            memory,
            len,
            context: Arc::clone(context),
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address, as a kernel argument (0 when empty).
    pub(crate) fn ptr(&self) -> CUdeviceptr {
        self.memory
            .as_ref()
            .map_or(0, |m| m.as_device_ptr().as_raw())
    }
}

impl core::fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CudaBuffer({} x f32)", self.len)
    }
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        if self.memory.is_some() {
            // cuMemFree needs the owning context current on this thread.
            let _ = CurrentContext::set_current(&*self.context);
        }
    }
}
