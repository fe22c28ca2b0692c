//! The PTX modules, loaded once, and one typed, length-checked Rust function
//! per kernel.
//!
//! A raw launch passes untyped pointers, so nothing would stop a wrong
//! argument list or a buffer that is too short; here each wrapper takes
//! [`CudaBuffer`]s, checks every length on the host before launching (an
//! out-of-bounds kernel is undefined behaviour) and converts sizes to the
//! kernels' `int`. One file per `.cu` file holds its wrappers.

use std::ffi::{CString, c_void};
use std::ptr;

use std::sync::Arc;

use cust::sys::{self, CUfunction, CUjit_option, CUmodule, cudaError_enum};
use forma_core::device::checks;
use forma_core::{
    Activation, AdamStep, Axis, BiasKind, Binary, Error, Layout, LossKind, Result, SgdStep,
};

use crate::CudaBuffer;
use crate::buffer::Gpu;
use crate::error::{check, describe};

/// The committed PTX, one module per `.cu` file.
const PTX: [(&str, &str); 6] = [
    ("gemm", include_str!("../../kernels/gemm.ptx")),
    ("elementwise", include_str!("../../kernels/elementwise.ptx")),
    ("reduce", include_str!("../../kernels/reduce.ptx")),
    ("loss", include_str!("../../kernels/loss.ptx")),
    ("optim", include_str!("../../kernels/optim.ptx")),
    ("rowwise", include_str!("../../kernels/rowwise.ptx")),
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
            got: f64::NAN,
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
    binary: CUfunction,
    axpby: CUfunction,
    column_sums: CUfunction,
    sum: CUfunction,
    count_nonfinite: CUfunction,
    row_sums: CUfunction,
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

// After `arg!`, which they use.
mod elementwise;
mod gemm;
mod loss;
mod optim;
mod reduce;
mod rowwise;

pub use gemm::split_k;

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
            binary: elementwise.function("forma_binary")?,
            axpby: elementwise.function("forma_axpby")?,
            column_sums: reduce.function("forma_column_sums")?,
            sum: reduce.function("forma_sum")?,
            count_nonfinite: reduce.function("forma_count_nonfinite")?,
            row_sums: reduce.function("forma_row_sums")?,
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

    /// Launches a grid-stride kernel over `n` items (elements or rows):
    /// [`THREADS`] per block, [`blocks`]`(n)` blocks.
    ///
    /// # Safety
    /// As for [`Kernels::launch`].
    unsafe fn launch_1d(
        &self,
        what: &'static str,
        f: CUfunction,
        n: usize,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        // SAFETY: the caller's guarantees, passed on unchanged.
        unsafe { self.launch(what, f, (blocks(n), 1, 1), (THREADS, 1, 1), args) }
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
}
