//! [`Cuda`]: an NVIDIA GPU as a forma [`Device`].

use std::sync::{Arc, Mutex, MutexGuard};

use cust::context::Context;
use cust::device::DeviceAttribute;
use cust::stream::{Stream, StreamFlags};
use cust::sys;
use forma_core::{
    Activation, AdamStep, Axis, BiasKind, Binary, Device, Error, Layout, LossKind, Result, SgdStep,
};

use crate::CudaBuffer;
use crate::buffer::Gpu;
use crate::error::{check, from_cust};
use crate::kernels::Kernels;

/// One GPU: its context, a stream every operation is queued on, the loaded
/// kernels and a one-float scratch buffer for loss totals. Cloning is cheap
/// (an `Arc`) and clones share the stream, so work stays in order.
///
/// ```no_run
/// use forma_core::Device;
/// use forma_cuda::Cuda;
/// let gpu = Cuda::new(0)?; // Err(Error::NoDevice { .. }) without a GPU
/// let mut buffer = gpu.alloc(4)?;
/// gpu.write(&[1.0, 2.0, 3.0, 4.0], &mut buffer)?;
/// // With the `forma` crate: `Trainer::on(gpu.clone(), net.to_device(&gpu)?, loss, optimizer)`.
/// # Ok::<(), forma_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<Inner>,
}

struct Inner {
    kernels: Kernels,
    total: Mutex<CudaBuffer>,
    name: String,
    sms: u32,
    // Last: the stream and context outlive the modules and the buffer.
    gpu: Arc<Gpu>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Queued kernels finish before their modules are unloaded, in this
        // context; the thread's current context is restored afterwards.
        let gpu = Arc::clone(&self.gpu);
        gpu.with_current(|| {
            let _ = gpu.stream.synchronize();
            self.kernels.unload();
        });
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
        let context = Context::new(device).map_err(|e| from_cust("cuDevicePrimaryCtxRetain", e))?;
        cust::context::CurrentContext::set_current(&context)
            .map_err(|e| from_cust("cuCtxSetCurrent", e))?;
        let stream = Stream::new(StreamFlags::NON_BLOCKING, None)
            .map_err(|e| from_cust("cuStreamCreate", e))?;
        let gpu = Gpu::new(context, stream);
        let kernels = Kernels::load(&gpu)?;
        let name = device.name().map_err(|e| from_cust("cuDeviceGetName", e))?;
        let sms = device
            .get_attribute(DeviceAttribute::MultiprocessorCount)
            .map_err(|e| from_cust("cuDeviceGetAttribute", e))? as u32;
        let total = Mutex::new(CudaBuffer::zeros(1, &gpu)?);
        Ok(Cuda {
            inner: Arc::new(Inner {
                kernels,
                total,
                name,
                sms,
                gpu,
            }),
        })
    }

    /// The kernels, for callers that launch them directly (benchmarks).
    pub fn kernels(&self) -> &Kernels {
        &self.inner.kernels
    }

    /// The stream every operation of this device is queued on.
    pub fn stream(&self) -> &Stream {
        &self.inner.gpu.stream
    }

    /// The number of streaming multiprocessors.
    pub fn multiprocessors(&self) -> u32 {
        self.inner.sms
    }

    /// Device-side time of the GPU work that `work` queues on this device's
    /// stream: CUDA events are recorded before and after it, and the time
    /// between them is read once the second has completed (so this waits for
    /// the work). Host time spent inside `work` counts only where it leaves
    /// the GPU idle between launches, as it would in a real program. Used by
    /// the benchmarks, and by anyone who wants `torch.cuda.Event`-style
    /// timing of their own training loop.
    pub fn time<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<(T, std::time::Duration)> {
        use cust::event::{Event, EventFlags};
        let stream = self.inner.gpu.bind()?;
        let start = Event::new(EventFlags::DEFAULT).map_err(|e| from_cust("cuEventCreate", e))?;
        let end = Event::new(EventFlags::DEFAULT).map_err(|e| from_cust("cuEventCreate", e))?;
        start
            .record(stream)
            .map_err(|e| from_cust("cuEventRecord", e))?;
        let value = work()?;
        let stream = self.inner.gpu.bind()?;
        end.record(stream)
            .map_err(|e| from_cust("cuEventRecord", e))?;
        end.synchronize()
            .map_err(|e| from_cust("cuEventSynchronize (an earlier kernel failed)", e))?;
        let elapsed = end
            .elapsed(&start)
            .map_err(|e| from_cust("cuEventElapsedTime", e))?;
        Ok((value, elapsed))
    }

    /// The one-float buffer losses add their total into.
    fn total(&self) -> Result<MutexGuard<'_, CudaBuffer>> {
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
}

impl core::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cuda({})", self.inner.name)
    }
}

impl Device<f32> for Cuda {
    /// A GPU buffer is its own slice: primitives take explicit lengths.
    type Slice = CudaBuffer;
    type Buffer = CudaBuffer;

    fn name(&self) -> String {
        self.inner.name.clone()
    }

    fn alloc(&self, len: usize) -> Result<CudaBuffer> {
        CudaBuffer::zeros(len, &self.inner.gpu)
    }

    fn len(buffer: &CudaBuffer) -> usize {
        buffer.len()
    }

    /// Grows by a new allocation and a copy of the old contents; never
    /// shrinks (kernels are given the length to use).
    fn resize(&self, buffer: &mut CudaBuffer, len: usize) -> Result<()> {
        if len > buffer.len() {
            let mut grown = self.alloc(len)?;
            self.copy(buffer.len(), buffer, &mut grown)?;
            *buffer = grown;
        }
        Ok(())
    }

    /// Queues the copy on the device's stream and waits for it: the host
    /// slice may be freed as soon as this returns (for pageable memory CUDA
    /// does not promise that an async copy has read it by then).
    fn write(&self, src: &[f32], dst: &mut CudaBuffer) -> Result<()> {
        forma_core::device::checks::write(src.len(), dst.len())?;
        if src.is_empty() {
            return Ok(());
        }
        let gpu = &self.inner.gpu;
        let (stream, ptr) = (gpu.bind()?, dst.ptr_on(gpu)?);
        // SAFETY: dst holds at least src.len() floats (checked), and `src` is
        // borrowed until the stream is synchronised below.
        check("cuMemcpyHtoDAsync", unsafe {
            sys::cuMemcpyHtoDAsync_v2(
                ptr,
                src.as_ptr().cast(),
                size_of_val(src),
                stream.as_inner(),
            )
        })?;
        gpu.synchronize()
    }

    fn read(&self, src: &CudaBuffer, dst: &mut [f32]) -> Result<()> {
        forma_core::device::checks::read(src.len(), dst.len())?;
        if dst.is_empty() {
            return Ok(());
        }
        let gpu = &self.inner.gpu;
        let (stream, ptr) = (gpu.bind()?, src.ptr_on(gpu)?);
        // SAFETY: src holds at least dst.len() floats (checked) and `dst` is
        // borrowed mutably until the stream is synchronised below.
        check("cuMemcpyDtoHAsync", unsafe {
            sys::cuMemcpyDtoHAsync_v2(
                dst.as_mut_ptr().cast(),
                ptr,
                size_of_val(dst),
                stream.as_inner(),
            )
        })?;
        gpu.synchronize()
    }

    fn fill(&self, len: usize, value: f32, buffer: &mut CudaBuffer) -> Result<()> {
        self.inner.kernels.fill(len, value, buffer)
    }

    fn copy(&self, len: usize, src: &CudaBuffer, dst: &mut CudaBuffer) -> Result<()> {
        self.inner.kernels.copy(len, src, dst)
    }

    fn count_nonfinite(
        &self,
        len: usize,
        x: &CudaBuffer,
        counts: &mut CudaBuffer,
        slot: usize,
    ) -> Result<()> {
        self.inner.kernels.count_nonfinite(len, x, counts, slot)
    }

    fn binary(
        &self,
        op: Binary,
        len: usize,
        a: &CudaBuffer,
        b: &CudaBuffer,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner.kernels.binary(op, len, a, b, out)
    }

    fn axpby(
        &self,
        len: usize,
        alpha: f32,
        x: &CudaBuffer,
        beta: f32,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner.kernels.axpby(len, alpha, x, beta, y)
    }

    fn sum_axis(
        &self,
        rows: usize,
        cols: usize,
        x: &CudaBuffer,
        axis: Axis,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner.kernels.sum_axis((rows, cols), x, axis, out)
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
        self.inner
            .kernels
            .sgemm(layout, (m, k, n), a, b, c, self.inner.sms)
    }

    fn linear_forward(
        &self,
        mkn: (usize, usize, usize),
        a: &CudaBuffer,
        b: &CudaBuffer,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner
            .kernels
            .linear_forward(mkn, a, b, bias, kind, act, c, self.inner.sms)
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
        self.inner
            .kernels
            .bias_act((rows, cols), x, bias, kind, act, y)
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
        self.inner.kernels.act_backward(len, act, x, y, dy, dx)
    }

    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &CudaBuffer,
        kind: BiasKind,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner.kernels.bias_grad((rows, cols), dy, kind, out)
    }

    fn softmax(&self, rows: usize, cols: usize, x: &CudaBuffer, y: &mut CudaBuffer) -> Result<()> {
        self.inner.kernels.softmax((rows, cols), x, y)
    }

    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        self.inner.kernels.softmax_backward((rows, cols), y, dy, dx)
    }

    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &CudaBuffer,
        labels: &CudaBuffer,
        grad: &mut CudaBuffer,
    ) -> Result<f32> {
        let mut total = self.total()?;
        self.inner
            .kernels
            .cross_entropy((rows, classes), logits, labels, grad, &mut total)?;
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
        let mut total = self.total()?;
        self.inner
            .kernels
            .loss(kind, len, pred, target, grad, &mut total)?;
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
        self.inner.kernels.sgd(len, step, params, grads, velocity)
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
        self.inner.kernels.adam(len, step, params, grads, m, v)
    }

    fn synchronize(&self) -> Result<()> {
        self.inner.gpu.synchronize()
    }
}
