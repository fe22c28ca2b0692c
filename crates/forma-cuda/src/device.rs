//! [`Cuda`]: an NVIDIA GPU as a forma [`Device`].

use std::sync::{Arc, Mutex};

use cust::context::{Context, CurrentContext};
use cust::device::DeviceAttribute;
use cust::stream::{Stream, StreamFlags};
use cust::sys;
use forma_core::{
    Activation, AdamStep, BiasKind, Device, Error, Layout, LossKind, Result, SgdStep,
};

use crate::CudaBuffer;
use crate::error::{check, from_cust};
use crate::kernels::Kernels;

/// One GPU: its context, a stream every operation is queued on, the loaded
/// kernels and a one-float scratch buffer for loss totals. Cloning is cheap
/// (an `Arc`) and clones share the stream, so work stays in order.
///
/// ```no_run
/// use forma::prelude::*;
/// use forma::cuda::Cuda;
/// let gpu = Cuda::new(0)?; // Err(Error::NoDevice { .. }) without a GPU
/// let net = Mlp::<2, 2, 1>::initialize(&mut rng(70));
/// let mut trainer = DeviceTrainer::new(gpu.clone(), net, Bce, Sgd::new(0.5)?)?;
/// # Ok::<(), forma::Error>(())
/// ```
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<Inner>,
}

struct Inner {
    stream: Stream,
    kernels: Kernels,
    total: Mutex<CudaBuffer>,
    name: String,
    sms: u32,
    // Last: kept alive (and current) while the fields above are dropped.
    context: Arc<Context>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The stream, modules and buffer are released in this context.
        let _ = CurrentContext::set_current(&*self.context);
    }
}

impl Cuda {
    /// Opens GPU `ordinal`: initialises the driver, retains the device's
    /// primary context, creates a stream and JIT-loads the kernels.
    /// `Err(Error::NoDevice)` when there is no such GPU or no driver.
    pub fn new(ordinal: u32) -> Result<Cuda> {
        cust::init(cust::CudaFlags::empty()).map_err(|e| from_cust("cuInit", e))?;
        let count =
            cust::device::Device::num_devices().map_err(|e| from_cust("cuDeviceGetCount", e))?;
        if ordinal >= count {
            return Err(Error::NoDevice {
                backend: "CUDA",
                why: format!("asked for GPU {ordinal}, but {count} GPU(s) are present"),
            });
        }
        let device =
            cust::device::Device::get_device(ordinal).map_err(|e| from_cust("cuDeviceGet", e))?;
        let context =
            Arc::new(Context::new(device).map_err(|e| from_cust("cuDevicePrimaryCtxRetain", e))?);
        CurrentContext::set_current(&*context).map_err(|e| from_cust("cuCtxSetCurrent", e))?;
        let stream = Stream::new(StreamFlags::NON_BLOCKING, None)
            .map_err(|e| from_cust("cuStreamCreate", e))?;
        let kernels = Kernels::load()?;
        let name = device.name().map_err(|e| from_cust("cuDeviceGetName", e))?;
        let sms = device
            .get_attribute(DeviceAttribute::MultiprocessorCount)
            .map_err(|e| from_cust("cuDeviceGetAttribute", e))? as u32;
        let total = Mutex::new(CudaBuffer::zeros(1, &context)?);
        Ok(Cuda {
            inner: Arc::new(Inner {
                stream,
                kernels,
                total,
                name,
                sms,
                context,
            }),
        })
    }

    /// The kernels, for callers that launch them directly (benchmarks).
    pub fn kernels(&self) -> &Kernels {
        &self.inner.kernels
    }

    /// The stream every operation of this device is queued on.
    pub fn stream(&self) -> &Stream {
        &self.inner.stream
    }

    /// The number of streaming multiprocessors.
    pub fn multiprocessors(&self) -> u32 {
        self.inner.sms
    }

    /// The one-float buffer losses add their total into.
    fn total(&self) -> Result<std::sync::MutexGuard<'_, CudaBuffer>> {
        self.inner.total.lock().map_err(|_| Error::Device {
            what: "loss",
            code: 0,
            message: String::from("a thread panicked while holding the loss scratch buffer"),
        })
    }

    /// Waits for the queued work and returns the first element of `buffer`.
    fn read_scalar(&self, buffer: &CudaBuffer) -> Result<f32> {
        let mut host = [0.0f32];
        self.read(buffer, &mut host)?;
        Ok(host[0])
    }

    /// Makes this device's context current on the calling thread (each
    /// operation does this, so a `Cuda` can be used from any thread).
    fn bind(&self) -> Result<&Stream> {
        CurrentContext::set_current(&*self.inner.context)
            .map_err(|e| from_cust("cuCtxSetCurrent", e))?;
        Ok(&self.inner.stream)
    }
}

impl core::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cuda({})", self.inner.name)
    }
}

impl Device<f32> for Cuda {
    type Buffer = CudaBuffer;

    fn name(&self) -> String {
        self.inner.name.clone()
    }

    fn alloc(&self, len: usize) -> Result<CudaBuffer> {
        self.bind()?;
        CudaBuffer::zeros(len, &self.inner.context)
    }

    fn buffer_len(buffer: &CudaBuffer) -> usize {
        buffer.len()
    }

    fn write(&self, src: &[f32], dst: &mut CudaBuffer) -> Result<()> {
        forma_core::device::check_fits("Device::write destination", src.len(), dst.len())?;
        let stream = self.bind()?;
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: dst holds at least src.len() floats (checked); the driver
        // stages pageable host memory before returning, so `src` may go away
        // after the call, and the copy is ordered on our stream.
        check("cuMemcpyHtoDAsync", unsafe {
            sys::cuMemcpyHtoDAsync_v2(
                dst.ptr(),
                src.as_ptr().cast(),
                size_of_val(src),
                stream.as_inner(),
            )
        })
    }

    fn read(&self, src: &CudaBuffer, dst: &mut [f32]) -> Result<()> {
        forma_core::device::check_fits("Device::read source", dst.len(), src.len())?;
        let stream = self.bind()?;
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: src holds at least dst.len() floats (checked) and `dst` is
        // borrowed mutably until the stream is synchronised below.
        check("cuMemcpyDtoHAsync", unsafe {
            sys::cuMemcpyDtoHAsync_v2(
                dst.as_mut_ptr().cast(),
                src.ptr(),
                size_of_val(dst),
                stream.as_inner(),
            )
        })?;
        self.synchronize()
    }

    fn fill(&self, len: usize, value: f32, buffer: &mut CudaBuffer) -> Result<()> {
        let stream = self.bind()?;
        self.inner.kernels.fill(stream, len, value, buffer)
    }

    fn copy(&self, len: usize, src: &CudaBuffer, dst: &mut CudaBuffer) -> Result<()> {
        let stream = self.bind()?;
        self.inner.kernels.copy(stream, len, src, dst)
    }

    fn matmul(
        &self,
        layout: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .sgemm(stream, layout, (m, k, n), a, b, c, self.inner.sms)
    }

    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&CudaBuffer>,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .bias_act(stream, (rows, cols), x, bias, kind, act, y)
    }

    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &CudaBuffer,
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .act_backward(stream, len, act, x, y, dy, dx)
    }

    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &CudaBuffer,
        kind: BiasKind,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .bias_grad(stream, (rows, cols), dy, kind, out)
    }

    fn softmax(&self, rows: usize, cols: usize, x: &CudaBuffer, y: &mut CudaBuffer) -> Result<()> {
        let stream = self.bind()?;
        self.inner.kernels.softmax(stream, (rows, cols), x, y)
    }

    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .softmax_backward(stream, (rows, cols), y, dy, dx)
    }

    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &CudaBuffer,
        labels: &CudaBuffer,
        grad: &mut CudaBuffer,
    ) -> Result<f32> {
        let stream = self.bind()?;
        let mut total = self.total()?;
        self.inner.kernels.cross_entropy(
            stream,
            (rows, classes),
            logits,
            labels,
            grad,
            &mut total,
        )?;
        self.read_scalar(&total)
    }

    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &CudaBuffer,
        target: &CudaBuffer,
        grad: &mut CudaBuffer,
    ) -> Result<f32> {
        let stream = self.bind()?;
        let mut total = self.total()?;
        self.inner
            .kernels
            .loss(stream, kind, len, pred, target, grad, &mut total)?;
        self.read_scalar(&total)
    }

    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<f32>,
        params: &mut CudaBuffer,
        grads: &CudaBuffer,
        velocity: Option<&mut CudaBuffer>,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .sgd(stream, len, step, params, grads, velocity)
    }

    fn adam(
        &self,
        len: usize,
        step: &AdamStep<f32>,
        params: &mut CudaBuffer,
        grads: &CudaBuffer,
        m: &mut CudaBuffer,
        v: &mut CudaBuffer,
    ) -> Result<()> {
        let stream = self.bind()?;
        self.inner
            .kernels
            .adam(stream, len, step, params, grads, m, v)
    }

    fn synchronize(&self) -> Result<()> {
        self.bind()?;
        self.inner
            .stream
            .synchronize()
            .map_err(|e| from_cust("cuStreamSynchronize (an earlier kernel failed)", e))
    }
}
