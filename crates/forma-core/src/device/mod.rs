//! Where the numbers live: the [`Device`] trait, the [`Cpu`] device, and
//! [`DeviceTensor`], a batch with its feature width in the type that lives on
//! a device.
//!
//! A device offers the dozen primitives a training step needs (three matrix
//! products, bias + activation, activation backward, bias gradients, losses,
//! SGD and Adam updates, fill and copy). Layers, losses and optimizers are
//! written once over these primitives (`OnDevice`, `DeviceLoss`,
//! `DeviceOptimizer` in their crates), so the same network type trains on any
//! device; `forma-cuda` implements `Device<f32>` for an NVIDIA GPU.
//!
//! Transfers are explicit ([`Device::write`], [`Device::read`],
//! [`DeviceTensor::upload`]); nothing copies between host and device behind
//! the user's back, except the one scalar a loss returns.
//!
//! Every primitive checks its buffers' lengths and returns
//! [`Error::Length`](crate::Error) rather than touch memory it does
//! not own: on a GPU an out-of-bounds kernel is undefined behaviour, so the
//! check happens on the host, before the launch.

pub mod checks;
mod cpu;
mod tensor;

pub use cpu::Cpu;
pub use tensor::{DeviceBatch, DeviceTensor};

use alloc::string::String;

use crate::math::pointwise::{Activation, AdamStep, Axis, Binary, LossKind, SgdStep};
use crate::{Float, Result};

/// The three layouts of a matrix product a layer needs, with `C` `m x n`:
///
/// | layout | product | used for |
/// |---|---|---|
/// | `Nt` | `C = A[m×k] · B[n×k]ᵀ` | forward `x · Wᵀ` |
/// | `Nn` | `C = A[m×k] · B[k×n]` | input gradient `dy · W` |
/// | `Tn` | `C = A[k×m]ᵀ · B[k×n]` | weight gradient `dyᵀ · x` |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `A · Bᵀ`.
    Nt,
    /// `A · B`.
    Nn,
    /// `Aᵀ · B`.
    Tn,
}

/// How a bias is added to each row of a `rows x cols` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasKind {
    /// No bias.
    None,
    /// One scalar for every element.
    Shared,
    /// One value per column.
    PerColumn,
}

impl BiasKind {
    /// The bias length for `cols` columns.
    pub fn len(self, cols: usize) -> usize {
        match self {
            BiasKind::None => 0,
            BiasKind::Shared => 1,
            BiasKind::PerColumn => cols,
        }
    }
}

/// A place where tensors live and the primitives of a training step run.
///
/// Buffers are flat arrays of `E`. Sizes are passed explicitly, and a buffer
/// may be longer than an operation needs (a cache built for 128 rows serves a
/// batch of 100), never shorter. Operations are asynchronous on devices that
/// can be: [`Device::read`] and [`Device::loss`] wait for the result.
pub trait Device<E: Float>: Clone {
    /// A buffer of `E` on this device.
    type Buffer;

    /// A human-readable name ("CPU", "NVIDIA H100 80GB HBM3").
    fn name(&self) -> String;
    /// A buffer of `len` zeros.
    fn alloc(&self, len: usize) -> Result<Self::Buffer>;
    /// The length of a buffer.
    fn buffer_len(buffer: &Self::Buffer) -> usize;
    /// Copies `src` from the host into the first `src.len()` elements of `dst`.
    fn write(&self, src: &[E], dst: &mut Self::Buffer) -> Result<()>;
    /// Copies the first `dst.len()` elements of `src` to the host.
    fn read(&self, src: &Self::Buffer, dst: &mut [E]) -> Result<()>;
    /// Sets the first `len` elements to `value`.
    fn fill(&self, len: usize, value: E, buffer: &mut Self::Buffer) -> Result<()>;
    /// Copies the first `len` elements of `src` into `dst`.
    fn copy(&self, len: usize, src: &Self::Buffer, dst: &mut Self::Buffer) -> Result<()>;
    /// `C = op(A) · op(B)` in `layout` (see [`Layout`]); `C` is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        layout: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &Self::Buffer,
        b: &Self::Buffer,
        c: &mut Self::Buffer,
    ) -> Result<()>;
    /// `C = act(A · Bᵀ + bias)`: a linear layer's forward with its bias and
    /// activation in one pass where the device can (`C` is `m x n`, the bias
    /// per column or shared). The default is [`Device::matmul`] then
    /// [`Device::bias_act`] in place.
    #[allow(clippy::too_many_arguments)]
    fn linear_forward(
        &self,
        (m, k, n): (usize, usize, usize),
        a: &Self::Buffer,
        b: &Self::Buffer,
        bias: Option<&Self::Buffer>,
        kind: BiasKind,
        act: Activation,
        c: &mut Self::Buffer,
    ) -> Result<()> {
        self.matmul(Layout::Nt, m, k, n, a, b, c)?;
        if kind != BiasKind::None || act != Activation::Identity {
            self.bias_act(m, n, None, bias, kind, act, c)?;
        }
        Ok(())
    }
    /// `y = act(x + bias)` over a `rows x cols` matrix; `x = None` works in
    /// place on `y` (the epilogue of a linear layer). `bias` may be `None`
    /// only for [`BiasKind::None`].
    #[allow(clippy::too_many_arguments)]
    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&Self::Buffer>,
        bias: Option<&Self::Buffer>,
        kind: BiasKind,
        act: Activation,
        y: &mut Self::Buffer,
    ) -> Result<()>;
    /// `dx = dy · act'(x, y)` over `len` elements.
    #[allow(clippy::too_many_arguments)]
    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &Self::Buffer,
        y: &Self::Buffer,
        dy: &Self::Buffer,
        dx: &mut Self::Buffer,
    ) -> Result<()>;
    /// `out = a op b` over `len` elements (the algebra a user's layer is
    /// written in: a residual block adds, a gate multiplies).
    fn binary(
        &self,
        op: Binary,
        len: usize,
        a: &Self::Buffer,
        b: &Self::Buffer,
        out: &mut Self::Buffer,
    ) -> Result<()>;
    /// `y = alpha · x + beta · y` over `len` elements: axpy (`beta = 1`),
    /// a scaled copy (`beta = 0`), gradient accumulation. Every element of
    /// `x` and `y` is read whatever `alpha` and `beta` are (a NaN stays NaN).
    fn axpby(
        &self,
        len: usize,
        alpha: E,
        x: &Self::Buffer,
        beta: E,
        y: &mut Self::Buffer,
    ) -> Result<()>;
    /// Sums of a `rows x cols` matrix along `axis` into `out`
    /// ([`Axis::len`] values, overwritten).
    fn sum_axis(
        &self,
        rows: usize,
        cols: usize,
        x: &Self::Buffer,
        axis: Axis,
        out: &mut Self::Buffer,
    ) -> Result<()>;
    /// The bias gradient from a `rows x cols` output gradient: column sums
    /// ([`BiasKind::PerColumn`]), the total ([`BiasKind::Shared`]) or nothing.
    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &Self::Buffer,
        kind: BiasKind,
        out: &mut Self::Buffer,
    ) -> Result<()>;
    /// `y = softmax(x)` over each row of a `rows x cols` matrix.
    fn softmax(
        &self,
        rows: usize,
        cols: usize,
        x: &Self::Buffer,
        y: &mut Self::Buffer,
    ) -> Result<()>;
    /// `dx = y ⊙ (dy - rowsum(dy ⊙ y))`, the input gradient of a softmax with output `y`.
    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &Self::Buffer,
        dy: &Self::Buffer,
        dx: &mut Self::Buffer,
    ) -> Result<()>;
    /// Softmax cross-entropy, the mean over `rows` of `-ln softmax(x)[label]`
    /// (0 for no rows),
    /// with its gradient in `grad`. `labels` holds one class index per row,
    /// as an exact value of `E`, each below `classes` (checked when uploaded,
    /// see `forma_losses::DeviceClasses`). Given a label that is not a class
    /// anyway, the `Cpu` device returns `Error::ClassOutOfRange` and the CUDA
    /// device a NaN loss (its kernel cannot raise an error), which
    /// `DeviceTrainer` reports as `Error::NonFinite`.
    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &Self::Buffer,
        labels: &Self::Buffer,
        grad: &mut Self::Buffer,
    ) -> Result<E>;
    /// The loss of `len` predictions against `target`, and its gradient in
    /// `grad`. An empty batch has loss 0.
    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &Self::Buffer,
        target: &Self::Buffer,
        grad: &mut Self::Buffer,
    ) -> Result<E>;
    /// One SGD update of `len` parameters; `velocity` is needed (and used)
    /// only when the momentum is not 0: without it that is a length error.
    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<E>,
        params: &mut Self::Buffer,
        grads: &Self::Buffer,
        velocity: Option<&mut Self::Buffer>,
    ) -> Result<()>;
    /// One Adam update of `len` parameters with moments `m` and `v`.
    #[allow(clippy::too_many_arguments)]
    fn adam(
        &self,
        len: usize,
        step: &AdamStep<E>,
        params: &mut Self::Buffer,
        grads: &Self::Buffer,
        m: &mut Self::Buffer,
        v: &mut Self::Buffer,
    ) -> Result<()>;
    /// Adds to `counts[slot]` the number of elements of `x[..len]` that are
    /// NaN or infinite. The trainer's finiteness checks queue one per buffer
    /// into one `counts` buffer and read it back once, so a check costs one
    /// transfer however many tensors it covers.
    fn count_nonfinite(
        &self,
        len: usize,
        x: &Self::Buffer,
        counts: &mut Self::Buffer,
        slot: usize,
    ) -> Result<()>;
    /// Waits until all queued work is done, and reports any error it raised.
    fn synchronize(&self) -> Result<()>;
}
