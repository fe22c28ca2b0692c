//! The PTX modules, loaded once, and one typed, length-checked Rust function
//! per kernel.
//!
//! A raw launch passes untyped pointers, so nothing would stop a wrong
//! argument list or a buffer that is too short; here each wrapper takes
//! [`CudaBuffer`]s, checks every length on the host before launching (an
//! out-of-bounds kernel is undefined behaviour) and converts sizes to the
//! kernels' `int`.

use std::ffi::{CString, c_void};
use std::ptr;

use std::sync::Arc;

use cust::sys::{self, CUfunction, CUjit_option, CUmodule, cudaError_enum};
use forma_core::device::check_fits;
use forma_core::{Activation, AdamStep, BiasKind, Error, Layout, LossKind, Result, SgdStep};

use crate::CudaBuffer;
use crate::buffer::Gpu;
use crate::error::{check, describe};

/// The committed PTX, one module per `.cu` file.
const PTX: [(&str, &str); 6] = [
    ("gemm", include_str!("../kernels/gemm.ptx")),
    ("elementwise", include_str!("../kernels/elementwise.ptx")),
    ("reduce", include_str!("../kernels/reduce.ptx")),
    ("loss", include_str!("../kernels/loss.ptx")),
    ("optim", include_str!("../kernels/optim.ptx")),
    ("rowwise", include_str!("../kernels/rowwise.ptx")),
];

/// Threads per block of the one-dimensional kernels.
const THREADS: u32 = 256;
/// Most blocks a grid-stride kernel is launched with.
const MAX_BLOCKS: usize = 4096;

/// A loaded PTX module, unloaded on drop.
pub struct Module {
    raw: CUmodule,
    name: &'static str,
}

impl Module {
    /// JIT-compiles `ptx` for the current context's GPU. On failure the error
    /// keeps the CUDA code and the JIT compiler's log.
    pub fn load(name: &'static str, ptx: &str) -> Result<Module> {
        let image = CString::new(ptx).map_err(|_| Error::KernelLoad {
            module: name,
            code: cudaError_enum::CUDA_ERROR_INVALID_IMAGE as u32,
            log: String::from("the PTX text contains a NUL byte"),
        })?;
        let mut log = vec![0u8; 64 * 1024];
        let mut options = [
            CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
            CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        ];
        // cuModuleLoadDataEx takes option values that fit in a pointer by
        // value, cast to `void*` (see cust's ModuleJitOption::into_raw).
        let mut values = [log.as_mut_ptr().cast::<c_void>(), log.len() as *mut c_void];
        let mut raw: CUmodule = ptr::null_mut();
        // SAFETY: `image` is a NUL-terminated PTX string alive for the call;
        // `options` and `values` have 2 entries each as passed; the log buffer
        // outlives the call and its size is the one given.
        let r = unsafe {
            sys::cuModuleLoadDataEx(
                &mut raw,
                image.as_ptr().cast(),
                options.len() as u32,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        if r != cudaError_enum::CUDA_SUCCESS {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).into_owned();
            return Err(Error::KernelLoad {
                module: name,
                code: r as u32,
                log: if log.is_empty() { describe(r) } else { log },
            });
        }
        Ok(Module { raw, name })
    }

    /// The kernel `name` in this module.
    pub fn function(&self, name: &str) -> Result<CUfunction> {
        let c = CString::new(name).map_err(|_| Error::Config {
            what: "kernel names contain no NUL byte",
        })?;
        let mut f: CUfunction = ptr::null_mut();
        // SAFETY: `self.raw` is a loaded module (unloaded only on drop) and `c`
        // a NUL-terminated name alive for the call.
        check("cuModuleGetFunction", unsafe {
            sys::cuModuleGetFunction(&mut f, self.raw, c.as_ptr())
        })
        .map_err(|e| match e {
            Error::Device { code, message, .. } => Error::KernelLoad {
                module: self.name,
                code,
                log: format!("kernel {name} not found: {message}"),
            },
            other => other,
        })?;
        Ok(f)
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: `raw` was loaded by cuModuleLoadDataEx and is unloaded once;
        // the owner makes the context current first (`Inner::drop` in device.rs;
        // a module loaded directly by a caller is dropped in the caller's context).
        let _ = unsafe { sys::cuModuleUnload(self.raw) };
    }
}

/// Every kernel, looked up once.
pub struct Kernels {
    sgemm_nt: CUfunction,
    sgemm_nn: CUfunction,
    sgemm_tn: CUfunction,
    sgemm_nt_bias_act: CUfunction,
    bias_act: CUfunction,
    act_backward: CUfunction,
    fill: CUfunction,
    copy: CUfunction,
    column_sums: CUfunction,
    sum: CUfunction,
    loss: CUfunction,
    sgd: CUfunction,
    adam: CUfunction,
    softmax: CUfunction,
    softmax_backward: CUfunction,
    cross_entropy: CUfunction,
    // The functions above belong to these modules.
    modules: Vec<Module>,
    gpu: Arc<Gpu>,
}

// SAFETY: CUfunction and CUmodule handles are plain driver handles, valid in
// every thread that makes their context current (the driver API is
// thread-safe); Kernels never mutates them after loading.
unsafe impl Send for Kernels {}
// SAFETY: as above; launches only read the handles.
unsafe impl Sync for Kernels {}

/// The largest size a kernel takes: `int`, with room for the increments
/// kernels add to an index before comparing it (a K tile, a row stride).
const MAX_INT: usize = i32::MAX as usize - 4096;

/// `n` as the kernels' `int`, or `Err` above [`MAX_INT`].
fn int(what: &'static str, n: usize) -> Result<i32> {
    if n > MAX_INT {
        return Err(Error::Length {
            what,
            expected: MAX_INT,
            got: n,
        });
    }
    Ok(n as i32)
}

/// Blocks of [`THREADS`] for a grid-stride loop over `n` elements.
fn blocks(n: usize) -> u32 {
    n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32
}

/// The bias layout as the kernels' `FORMA_BIAS_*` code.
fn bias_code(kind: BiasKind) -> i32 {
    match kind {
        BiasKind::None => 0,
        BiasKind::Shared => 1,
        BiasKind::PerColumn => 2,
    }
}

/// The activation as the kernels' `FORMA_*` code, and the leaky slope.
fn act_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Identity => (0, 0.0),
        Activation::Sigmoid => (1, 0.0),
        Activation::ReLU => (2, 0.0),
        Activation::Tanh => (3, 0.0),
        Activation::LeakyReLU { slope } => (4, slope as f32),
    }
}

/// The types a kernel parameter can have here: CUDA `int`, `float` and a
/// device pointer. A `usize` by mistake would not compile.
trait KernelArg {}
impl KernelArg for i32 {}
impl KernelArg for f32 {}
impl KernelArg for sys::CUdeviceptr {}

/// A kernel argument for `cuLaunchKernel`: the address of a local holding its value.
fn arg_ptr<T: KernelArg>(v: &mut T) -> *mut c_void {
    ptr::from_mut(v).cast()
}

macro_rules! arg {
    ($v:expr) => {
        arg_ptr(&mut $v)
    };
}

impl Kernels {
    /// Loads every module into `gpu`'s context.
    pub(crate) fn load(gpu: &Arc<Gpu>) -> Result<Kernels> {
        gpu.bind()?;
        let modules = PTX
            .iter()
            .map(|(name, ptx)| Module::load(name, ptx))
            .collect::<Result<Vec<_>>>()?;
        let [gemm, elementwise, reduce, loss, optim, rowwise] = &modules[..] else {
            unreachable!("PTX lists six modules")
        };
        Ok(Kernels {
            sgemm_nt: gemm.function("forma_sgemm_nt")?,
            sgemm_nn: gemm.function("forma_sgemm_nn")?,
            sgemm_tn: gemm.function("forma_sgemm_tn")?,
            sgemm_nt_bias_act: gemm.function("forma_sgemm_nt_bias_act")?,
            bias_act: elementwise.function("forma_bias_act")?,
            act_backward: elementwise.function("forma_act_backward")?,
            fill: elementwise.function("forma_fill")?,
            copy: elementwise.function("forma_copy")?,
            column_sums: reduce.function("forma_column_sums")?,
            sum: reduce.function("forma_sum")?,
            loss: loss.function("forma_loss")?,
            sgd: optim.function("forma_sgd")?,
            adam: optim.function("forma_adam")?,
            softmax: rowwise.function("forma_softmax")?,
            softmax_backward: rowwise.function("forma_softmax_backward")?,
            cross_entropy: rowwise.function("forma_cross_entropy")?,
            modules,
            gpu: Arc::clone(gpu),
        })
    }

    /// Unloads the modules (the context must be current, and no kernel of
    /// them queued); the functions must not be launched afterwards.
    pub(crate) fn unload(&mut self) {
        self.modules.clear();
    }

    /// A buffer's address, if it belongs to this device.
    fn ptr(&self, buffer: &CudaBuffer) -> Result<sys::CUdeviceptr> {
        buffer.ptr_on(&self.gpu)
    }

    /// Launches `f` and checks the launch's own error (errors raised while
    /// the kernel runs surface at the next synchronisation).
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list in number, order and
    /// type, and every buffer it points into must hold what the kernel reads
    /// and writes for these sizes.
    unsafe fn launch(
        &self,
        what: &'static str,
        f: CUfunction,
        grid: (u32, u32, u32),
        block: (u32, u32, u32),
        args: &mut [*mut c_void],
    ) -> Result<()> {
        let stream = self.gpu.bind()?;
        // SAFETY: the caller guarantees the argument list and buffer sizes;
        // `f` is a function of a loaded module and `stream` a live stream.
        check(what, unsafe {
            sys::cuLaunchKernel(
                f,
                grid.0,
                grid.1,
                grid.2,
                block.0,
                block.1,
                block.2,
                0,
                stream.as_inner(),
                args.as_mut_ptr(),
                ptr::null_mut(),
            )
        })
    }

    /// `y[..n] = value`.
    pub fn fill(&self, n: usize, value: f32, y: &mut CudaBuffer) -> Result<()> {
        check_fits("fill", n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut v, mut py) = (int("fill", n)?, value, self.ptr(y)?);
        let mut args = [arg!(n32), arg!(v), arg!(py)];
        // SAFETY: forma_fill(int, float, float*) writes y[0..n), and y holds n.
        unsafe {
            self.launch(
                "forma_fill",
                self.fill,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// `y[..n] = x[..n]`.
    pub fn copy(&self, n: usize, x: &CudaBuffer, y: &mut CudaBuffer) -> Result<()> {
        check_fits("copy: source", n, x.len())?;
        check_fits("copy: destination", n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        let (mut n32, mut px, mut py) = (int("copy", n)?, self.ptr(x)?, self.ptr(y)?);
        let mut args = [arg!(n32), arg!(px), arg!(py)];
        // SAFETY: forma_copy(int, const float*, float*) reads x[0..n) and
        // writes y[0..n); both hold n.
        unsafe {
            self.launch(
                "forma_copy",
                self.copy,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// `C[m×n] = op(A) · op(B)` in `layout` (see [`Layout`]), split along `k`
    /// when `m x n` gives too few blocks to fill the GPU.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
        &self,
        layout: Layout,
        (m, k, n): (usize, usize, usize),
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
        sms: u32,
    ) -> Result<()> {
        forma_core::device::check_matmul((m, k, n), (a.len(), b.len(), c.len()))?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        let tiles = (m.div_ceil(128), n.div_ceil(128));
        let (gx, gy) = (int("sgemm rows", tiles.0)?, int("sgemm columns", tiles.1)?);
        if gy > 65535 {
            return Err(Error::Length {
                what: "sgemm columns / 128 (grid y limit)",
                expected: 65535,
                got: gy as usize,
            });
        }
        let splits = split_k(tiles.0 * tiles.1, k, sms);
        if k == 0 || splits > 1 {
            self.fill(m * n, 0.0, c)?;
        }
        if k == 0 {
            return Ok(());
        }
        let f = match layout {
            Layout::Nt => self.sgemm_nt,
            Layout::Nn => self.sgemm_nn,
            Layout::Tn => self.sgemm_tn,
        };
        let (mut m32, mut n32, mut k32) =
            (int("sgemm m", m)?, int("sgemm n", n)?, int("sgemm k", k)?);
        let (mut pa, mut pb, mut pc) = (self.ptr(a)?, self.ptr(b)?, self.ptr(c)?);
        let mut args = [
            arg!(m32),
            arg!(n32),
            arg!(k32),
            arg!(pa),
            arg!(pb),
            arg!(pc),
        ];
        // SAFETY: forma_sgemm_*(int m, int n, int k, const float* A, const
        // float* B, float* C) reads m·k of A, k·n of B and writes m·n of C,
        // all checked above; the grid covers C in 128 x 128 tiles.
        unsafe {
            self.launch(
                "forma_sgemm",
                f,
                (gx as u32, gy as u32, splits),
                (256, 1, 1),
                &mut args,
            )
        }
    }

    /// `C = act(A · Bᵀ + bias)` (`C` is `m x n`): one kernel, the bias and
    /// activation applied as the product is written, unless `k` is split
    /// (then the product, and bias + activation after it).
    #[allow(clippy::too_many_arguments)]
    pub fn linear_forward(
        &self,
        (m, k, n): (usize, usize, usize),
        a: &CudaBuffer,
        b: &CudaBuffer,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        c: &mut CudaBuffer,
        sms: u32,
    ) -> Result<()> {
        forma_core::device::check_matmul((m, k, n), (a.len(), b.len(), c.len()))?;
        forma_core::device::check_bias(kind, n, bias.map(CudaBuffer::len))?;
        let tiles = (m.div_ceil(128), n.div_ceil(128));
        if m == 0 || n == 0 || k == 0 || split_k(tiles.0 * tiles.1, k, sms) > 1 {
            self.sgemm(Layout::Nt, (m, k, n), a, b, c, sms)?;
            return self.bias_act((m, n), None, bias, kind, act, c);
        }
        let (gx, gy) = (int("sgemm rows", tiles.0)?, int("sgemm columns", tiles.1)?);
        if gy > 65535 {
            return Err(Error::Length {
                what: "sgemm columns / 128 (grid y limit)",
                expected: 65535,
                got: gy as usize,
            });
        }
        let (mut m32, mut n32, mut k32) =
            (int("sgemm m", m)?, int("sgemm n", n)?, int("sgemm k", k)?);
        let (mut pa, mut pb, mut pc) = (self.ptr(a)?, self.ptr(b)?, self.ptr(c)?);
        let mut pbias = bias.map_or(Ok(0), |b| self.ptr(b))?;
        let mut bk = bias_code(kind);
        let (code, slope) = act_code(act);
        let (mut code, mut slope) = (code, slope);
        let mut args = [
            arg!(m32),
            arg!(n32),
            arg!(k32),
            arg!(pa),
            arg!(pb),
            arg!(pc),
            arg!(pbias),
            arg!(bk),
            arg!(code),
            arg!(slope),
        ];
        // SAFETY: forma_sgemm_nt_bias_act(int m, int n, int k, const float*
        // A, const float* B, float* C, const float* bias, int kind, int act,
        // float slope) reads m·k of A, n·k of B, kind.len(n) of bias and
        // writes m·n of C, all checked above; one split (grid z = 1).
        unsafe {
            self.launch(
                "forma_sgemm_nt_bias_act",
                self.sgemm_nt_bias_act,
                (gx as u32, gy as u32, 1),
                (256, 1, 1),
                &mut args,
            )
        }
    }

    /// `y = act(x + bias)`; `x = None` is in place on `y`.
    #[allow(clippy::too_many_arguments)]
    pub fn bias_act(
        &self,
        (rows, cols): (usize, usize),
        x: Option<&CudaBuffer>,
        bias: Option<&CudaBuffer>,
        kind: BiasKind,
        act: Activation,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * cols;
        check_fits("bias_act: y", n, y.len())?;
        forma_core::device::check_bias(kind, cols, bias.map(CudaBuffer::len))?;
        if let Some(x) = x {
            check_fits("bias_act: x", n, x.len())?;
        }
        if n == 0 {
            return Ok(());
        }
        int("bias_act elements", n)?;
        let (mut r, mut c) = (int("bias_act rows", rows)?, int("bias_act cols", cols)?);
        let mut px = x.map_or(Ok(self.ptr(y)?), |x| self.ptr(x))?;
        let mut pb = bias.map_or(Ok(0), |b| self.ptr(b))?;
        let mut bk = bias_code(kind);
        let (code, slope) = act_code(act);
        let (mut code, mut slope, mut py) = (code, slope, self.ptr(y)?);
        let mut args = [
            arg!(r),
            arg!(c),
            arg!(px),
            arg!(pb),
            arg!(bk),
            arg!(code),
            arg!(slope),
            arg!(py),
        ];
        // SAFETY: forma_bias_act(int rows, int cols, const float* x, const
        // float* bias, int kind, int act, float slope, float* y) touches
        // rows·cols elements of x and y and kind.len(cols) of bias, checked above.
        unsafe {
            self.launch(
                "forma_bias_act",
                self.bias_act,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// `dx = dy · act'(x, y)` over `n` elements.
    #[allow(clippy::too_many_arguments)]
    pub fn act_backward(
        &self,
        n: usize,
        act: Activation,
        x: &CudaBuffer,
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        for (what, have) in [
            ("act_backward: x", x.len()),
            ("act_backward: y", y.len()),
            ("act_backward: dy", dy.len()),
            ("act_backward: dx", dx.len()),
        ] {
            check_fits(what, n, have)?;
        }
        if n == 0 {
            return Ok(());
        }
        let (code, slope) = act_code(act);
        let (mut n32, mut code, mut slope) = (int("act_backward", n)?, code, slope);
        let (mut px, mut py, mut pdy, mut pdx) =
            (self.ptr(x)?, self.ptr(y)?, self.ptr(dy)?, self.ptr(dx)?);
        let mut args = [
            arg!(n32),
            arg!(code),
            arg!(slope),
            arg!(px),
            arg!(py),
            arg!(pdy),
            arg!(pdx),
        ];
        // SAFETY: forma_act_backward(int n, int act, float slope, const float*
        // x, const float* y, const float* dy, float* dx) touches n of each.
        unsafe {
            self.launch(
                "forma_act_backward",
                self.act_backward,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// The bias gradient of a `rows x cols` output gradient into `out`.
    pub fn bias_grad(
        &self,
        (rows, cols): (usize, usize),
        dy: &CudaBuffer,
        kind: BiasKind,
        out: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * cols;
        check_fits("bias_grad: dy", n, dy.len())?;
        check_fits("bias_grad: out", kind.len(cols), out.len())?;
        if kind == BiasKind::None {
            return Ok(());
        }
        self.fill(kind.len(cols), 0.0, out)?;
        if n == 0 {
            return Ok(());
        }
        let (mut pdy, mut pout) = (self.ptr(dy)?, self.ptr(out)?);
        if kind == BiasKind::Shared {
            let mut n32 = int("bias_grad", n)?;
            let mut args = [arg!(n32), arg!(pdy), arg!(pout)];
            // SAFETY: forma_sum(int n, const float* x, float* out) reads n of
            // dy and adds into out[0]; both checked.
            return unsafe {
                self.launch(
                    "forma_sum",
                    self.sum,
                    (blocks(n), 1, 1),
                    (THREADS, 1, 1),
                    &mut args,
                )
            };
        }
        let chunk = rows.div_ceil(65535).max(256);
        let grid = (cols.div_ceil(32) as u32, rows.div_ceil(chunk) as u32, 1);
        let (mut r, mut c, mut ch) = (
            int("bias_grad rows", rows)?,
            int("bias_grad cols", cols)?,
            int("chunk", chunk)?,
        );
        let mut args = [arg!(r), arg!(c), arg!(ch), arg!(pdy), arg!(pout)];
        // SAFETY: forma_column_sums(int rows, int cols, int chunk, const float*
        // dy, float* out) reads rows·cols of dy and adds into out[0..cols).
        unsafe {
            self.launch(
                "forma_column_sums",
                self.column_sums,
                grid,
                (32, 8, 1),
                &mut args,
            )
        }
    }

    /// The loss over `n` elements: gradient into `grad`, the scaled sum added
    /// into `total[0]` (which this zeroes first).
    #[allow(clippy::too_many_arguments)]
    pub fn loss(
        &self,
        kind: LossKind,
        n: usize,
        pred: &CudaBuffer,
        target: &CudaBuffer,
        grad: &mut CudaBuffer,
        total: &mut CudaBuffer,
    ) -> Result<()> {
        check_fits("loss: prediction", n, pred.len())?;
        check_fits("loss: target", n, target.len())?;
        check_fits("loss: gradient", n, grad.len())?;
        self.fill(1, 0.0, total)?;
        if n == 0 {
            return Ok(());
        }
        let (mut code, mut factor): (i32, f32) = match kind {
            LossKind::SquaredError { factor, .. } => (0, factor as f32),
            LossKind::Bce => (1, 1.0),
            LossKind::BceWithLogits => (2, 1.0),
        };
        let (mut n32, mut scale) = (int("loss", n)?, kind.scale::<f32>(n));
        let (mut pp, mut pt, mut pg, mut ptot) = (
            self.ptr(pred)?,
            self.ptr(target)?,
            self.ptr(grad)?,
            self.ptr(total)?,
        );
        let mut args = [
            arg!(code),
            arg!(n32),
            arg!(factor),
            arg!(scale),
            arg!(pp),
            arg!(pt),
            arg!(pg),
            arg!(ptot),
        ];
        // SAFETY: forma_loss(int kind, int n, float factor, float scale, const
        // float* pred, const float* target, float* grad, float* total) touches
        // n of pred, target and grad, and total[0]; all checked.
        unsafe {
            self.launch(
                "forma_loss",
                self.loss,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// One SGD update of `n` parameters.
    pub fn sgd(
        &self,
        n: usize,
        step: &SgdStep<f32>,
        p: &mut CudaBuffer,
        g: &CudaBuffer,
        v: Option<&mut CudaBuffer>,
    ) -> Result<()> {
        check_fits("sgd: params", n, p.len())?;
        check_fits("sgd: grads", n, g.len())?;
        let momentum = if step.momentum != 0.0 {
            let v = v.as_ref().map_or(0, |v| v.len());
            check_fits("sgd: velocity", n, v)?;
            step.momentum
        } else {
            0.0
        };
        if n == 0 {
            return Ok(());
        }
        let mut pv = v.map_or(Ok(0), |v| self.ptr(v))?;
        let (mut n32, mut lr, mut mu, mut wd) =
            (int("sgd", n)?, step.lr, momentum, step.weight_decay);
        let (mut nesterov, mut first) = (step.nesterov as i32, step.first as i32);
        let (mut pp, mut pg) = (self.ptr(p)?, self.ptr(g)?);
        let mut args = [
            arg!(n32),
            arg!(lr),
            arg!(mu),
            arg!(wd),
            arg!(nesterov),
            arg!(first),
            arg!(pp),
            arg!(pg),
            arg!(pv),
        ];
        // SAFETY: forma_sgd(int n, float lr, float momentum, float wd, int
        // nesterov, int first, float* p, const float* g, float* v) touches n of
        // p and g, and n of v only when momentum != 0 (then v holds n, checked).
        unsafe {
            self.launch(
                "forma_sgd",
                self.sgd,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// One Adam update of `n` parameters.
    #[allow(clippy::too_many_arguments)]
    pub fn adam(
        &self,
        n: usize,
        step: &AdamStep<f32>,
        p: &mut CudaBuffer,
        g: &CudaBuffer,
        m: &mut CudaBuffer,
        v: &mut CudaBuffer,
    ) -> Result<()> {
        for (what, have) in [
            ("adam: params", p.len()),
            ("adam: grads", g.len()),
            ("adam: m", m.len()),
            ("adam: v", v.len()),
        ] {
            check_fits(what, n, have)?;
        }
        if n == 0 {
            return Ok(());
        }
        let s = *step;
        let (mut n32, mut lr, mut b1, mut b2, mut eps, mut wd) = (
            int("adam", n)?,
            s.lr,
            s.beta1,
            s.beta2,
            s.eps,
            s.weight_decay,
        );
        let (mut dec, mut bias1, mut bias2) = (s.decoupled as i32, s.bias1, s.bias2);
        let (mut pp, mut pg, mut pm, mut pv) =
            (self.ptr(p)?, self.ptr(g)?, self.ptr(m)?, self.ptr(v)?);
        let mut args = [
            arg!(n32),
            arg!(lr),
            arg!(b1),
            arg!(b2),
            arg!(eps),
            arg!(wd),
            arg!(dec),
            arg!(bias1),
            arg!(bias2),
            arg!(pp),
            arg!(pg),
            arg!(pm),
            arg!(pv),
        ];
        // SAFETY: forma_adam(int n, float lr, float b1, float b2, float eps,
        // float wd, int decoupled, float bias1, float bias2, float* p, const
        // float* g, float* m, float* v) touches n of p, g, m, v; all checked.
        unsafe {
            self.launch(
                "forma_adam",
                self.adam,
                (blocks(n), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// `y = softmax(x)` per row of a `rows x cols` matrix.
    pub fn softmax(
        &self,
        (rows, cols): (usize, usize),
        x: &CudaBuffer,
        y: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * cols;
        check_fits("softmax: x", n, x.len())?;
        check_fits("softmax: y", n, y.len())?;
        if n == 0 {
            return Ok(());
        }
        int("softmax elements", n)?;
        let (mut r, mut c) = (int("softmax rows", rows)?, int("softmax cols", cols)?);
        let (mut px, mut py) = (self.ptr(x)?, self.ptr(y)?);
        let mut args = [arg!(r), arg!(c), arg!(px), arg!(py)];
        // SAFETY: forma_softmax(int rows, int cols, const float* x, float* y)
        // touches rows·cols of x and y, both checked.
        unsafe {
            self.launch(
                "forma_softmax",
                self.softmax,
                (blocks(rows), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// `dx = y ⊙ (dy - rowsum(dy ⊙ y))` per row.
    pub fn softmax_backward(
        &self,
        (rows, cols): (usize, usize),
        y: &CudaBuffer,
        dy: &CudaBuffer,
        dx: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * cols;
        check_fits("softmax_backward: y", n, y.len())?;
        check_fits("softmax_backward: dy", n, dy.len())?;
        check_fits("softmax_backward: dx", n, dx.len())?;
        if n == 0 {
            return Ok(());
        }
        int("softmax_backward elements", n)?;
        let (mut r, mut c) = (
            int("softmax_backward rows", rows)?,
            int("softmax_backward cols", cols)?,
        );
        let (mut py, mut pdy, mut pdx) = (self.ptr(y)?, self.ptr(dy)?, self.ptr(dx)?);
        let mut args = [arg!(r), arg!(c), arg!(py), arg!(pdy), arg!(pdx)];
        // SAFETY: forma_softmax_backward(int rows, int cols, const float* y,
        // const float* dy, float* dx) touches rows·cols of each, all checked.
        unsafe {
            self.launch(
                "forma_softmax_backward",
                self.softmax_backward,
                (blocks(rows), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }

    /// Softmax cross-entropy over `rows` rows of `classes` logits: gradient
    /// into `grad`, the mean loss added into `total[0]` (zeroed here first).
    #[allow(clippy::too_many_arguments)]
    pub fn cross_entropy(
        &self,
        (rows, classes): (usize, usize),
        logits: &CudaBuffer,
        labels: &CudaBuffer,
        grad: &mut CudaBuffer,
        total: &mut CudaBuffer,
    ) -> Result<()> {
        let n = rows * classes;
        check_fits("cross_entropy: logits", n, logits.len())?;
        check_fits("cross_entropy: labels", rows, labels.len())?;
        check_fits("cross_entropy: gradient", n, grad.len())?;
        check_fits("cross_entropy: total", 1, total.len())?;
        self.fill(1, 0.0, total)?;
        if n == 0 {
            return Ok(());
        }
        int("cross_entropy elements", n)?;
        let (mut r, mut c) = (
            int("cross_entropy rows", rows)?,
            int("cross_entropy classes", classes)?,
        );
        let mut scale = 1.0f32 / rows as f32;
        let (mut px, mut pl, mut pg, mut pt) = (
            self.ptr(logits)?,
            self.ptr(labels)?,
            self.ptr(grad)?,
            self.ptr(total)?,
        );
        let mut args = [
            arg!(r),
            arg!(c),
            arg!(scale),
            arg!(px),
            arg!(pl),
            arg!(pg),
            arg!(pt),
        ];
        // SAFETY: forma_cross_entropy(int rows, int classes, float scale, const
        // float* x, const float* labels, float* grad, float* total) touches
        // rows·classes of x and grad, rows of labels and total[0]; all checked,
        // and a label outside [0, classes) is not used as an index.
        unsafe {
            self.launch(
                "forma_cross_entropy",
                self.cross_entropy,
                (blocks(rows), 1, 1),
                (THREADS, 1, 1),
                &mut args,
            )
        }
    }
}

/// How many ways to split `k` so that a product of `tiles` 128 x 128 tiles
/// gives about two blocks per SM; 1 unless `k` is long and tiles are few.
pub fn split_k(tiles: usize, k: usize, sms: u32) -> u32 {
    let want = 2 * sms as usize;
    if tiles >= want || k < 1024 {
        return 1;
    }
    let by_blocks = want.div_ceil(tiles);
    let by_depth = k / 256;
    by_blocks.min(by_depth).clamp(1, 64) as u32
}
