//! Where the numbers live: the [`Device`] trait and the [`Cpu`] device.
//!
//! A device offers the primitives a training step needs (three matrix
//! products, bias + activation, activation backward, bias gradients,
//! softmax, losses, SGD and Adam updates, fill and copy, counting
//! non-finite values) and the small algebra a user's layer is made of
//! (elementwise `binary`, `axpby`, `sum_axis`). Layers, losses, optimizers
//! and the trainer are written once over these primitives, generic over the
//! device (`Module`, `Loss`, `Optimizer`, `Trainer` in their crates), so the
//! same network type trains on any device; `forma-cuda` implements
//! `Device<f32>` for an NVIDIA GPU.
//!
//! A device has a slice type ([`Device::Slice`]: `[E]` on the CPU) that
//! every primitive takes, so a layer passes its own parameter storage as it
//! is, and an owned buffer type ([`Device::Buffer`]) that a
//! [`Tensor`](crate::Tensor) on the device holds. The widths of a
//! `Linear` reach [`Device::linear_forward_fixed`] and [`Device::linear_backward_fixed`]
//! as constants, which the CPU uses to pick unrolled kernels.
//!
//! Transfers are explicit ([`Device::write`], [`Device::read`],
//! [`Tensor::upload`](crate::Tensor::upload)); nothing copies between host
//! and device behind the user's back, except the one scalar a loss returns.
//!
//! Every primitive checks its buffers' lengths and returns
//! [`Error::Length`](crate::Error) rather than touch memory it does
//! not own: on a GPU an out-of-bounds kernel is undefined behaviour, so the
//! check happens on the host, before the launch.

pub mod checks;
mod cpu;

pub use cpu::Cpu;

use alloc::string::String;
use core::borrow::{Borrow, BorrowMut};

use crate::math::pointwise::{Activation, AdamStep, Axis, Binary, LossKind, SgdStep};
use crate::{Error, Float, Result};

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

/// Where a device keeps class labels: one class index per row, whatever the
/// element type (the [`Cpu`] keeps `usize`s, a GPU codes them in its float
/// buffers).
pub trait LabelStore: Clone {
    /// A buffer of class labels.
    type Labels;
    /// Copies `labels` to the device, each checked below `classes`
    /// (`Error::ClassOutOfRange` naming the row otherwise).
    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<Self::Labels>;
    /// How many labels a buffer holds.
    fn labels_len(labels: &Self::Labels) -> usize;
}

/// `Err(ClassOutOfRange)` for the first label not below `classes`.
pub fn check_labels(labels: &[usize], classes: usize) -> Result<()> {
    match labels.iter().enumerate().find(|(_, l)| **l >= classes) {
        Some((row, &label)) => Err(crate::Error::ClassOutOfRange {
            row,
            label: label as f64,
            classes,
        }),
        None => Ok(()),
    }
}

/// A place where tensors live and the primitives of a training step run.
///
/// Buffers are flat arrays of `E`. Sizes are passed explicitly, and a buffer
/// may be longer than an operation needs (a cache built for 128 rows serves a
/// batch of 100), never shorter. Operations are asynchronous on devices that
/// can be: [`Device::read`] and [`Device::loss`] wait for the result.
pub trait Device<E: Float>: LabelStore {
    /// A run of `E` in this device's memory, borrowed: what every primitive
    /// reads and writes. On the [`Cpu`] it is `[E]`, so a layer's own
    /// parameter storage (a boxed, 64-byte-aligned `[[E; I]; O]`, an inline
    /// array) is passed
    /// to the primitives as it is, without a copy.
    type Slice: ?Sized;
    /// An owned buffer of `E` on this device (the [`Cpu`]'s is a `Vec<E>`).
    type Buffer: Borrow<Self::Slice> + BorrowMut<Self::Slice>;

    /// A human-readable name ("CPU", "NVIDIA H100 80GB HBM3").
    fn name(&self) -> String;
    /// A buffer of `len` zeros.
    fn alloc(&self, len: usize) -> Result<Self::Buffer>;
    /// The length of a slice.
    fn len(slice: &Self::Slice) -> usize;
    /// Makes `buffer` hold at least `len` elements (the [`Cpu`]: exactly),
    /// keeping the first `min(len, old)`. It allocates only to grow beyond
    /// the largest length the buffer had (a shorter last batch costs
    /// nothing). Elements past the old length are zero on the [`Cpu`]; a
    /// device that keeps a longer buffer (CUDA never shrinks one) may leave
    /// earlier values there, so callers write before they read.
    fn resize(&self, buffer: &mut Self::Buffer, len: usize) -> Result<()>;
    /// The slice as host memory, if the host can address it (the [`Cpu`]:
    /// always; a GPU: never). A trainer on such a device checks an update
    /// before making it, by reading parameters and gradients in place; on
    /// other devices it counts non-finite values on the device and keeps a
    /// snapshot to restore.
    fn host(slice: &Self::Slice) -> Option<&[E]> {
        let _ = slice;
        None
    }
    /// [`Device::host`], mutable.
    fn host_mut(slice: &mut Self::Slice) -> Option<&mut [E]> {
        let _ = slice;
        None
    }
    /// Copies `src` from the host into the first `src.len()` elements of `dst`.
    fn write(&self, src: &[E], dst: &mut Self::Slice) -> Result<()>;
    /// Copies the first `dst.len()` elements of `src` to the host.
    fn read(&self, src: &Self::Slice, dst: &mut [E]) -> Result<()>;
    /// Sets the first `len` elements to `value`.
    fn fill(&self, len: usize, value: E, buffer: &mut Self::Slice) -> Result<()>;
    /// Copies the first `len` elements of `src` into `dst`.
    fn copy(&self, len: usize, src: &Self::Slice, dst: &mut Self::Slice) -> Result<()>;
    /// `C = op(A) · op(B)` in `layout` (see [`Layout`]); `C` is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        layout: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &Self::Slice,
        b: &Self::Slice,
        c: &mut Self::Slice,
    ) -> Result<()>;
    /// `C = act(A · Bᵀ + bias)`: a linear layer's forward with its bias and
    /// activation in one pass where the device can (`C` is `m x n`, the bias
    /// per column or shared). The default is [`Device::matmul`] then
    /// [`Device::bias_act`] in place.
    #[allow(clippy::too_many_arguments)]
    fn linear_forward(
        &self,
        (m, k, n): (usize, usize, usize),
        a: &Self::Slice,
        b: &Self::Slice,
        bias: Option<&Self::Slice>,
        kind: BiasKind,
        act: Activation,
        c: &mut Self::Slice,
    ) -> Result<()> {
        self.matmul(Layout::Nt, m, k, n, a, b, c)?;
        if kind != BiasKind::None || act != Activation::Identity {
            self.bias_act(m, n, None, bias, kind, act, c)?;
        }
        Ok(())
    }
    /// What a `Linear<K, N>` layer's forward calls: `C = act(A · Bᵀ + bias)`
    /// for `m` rows, with the widths `K` and `N` compile-time constants. The
    /// default is [`Device::linear_forward`]; the [`Cpu`] overrides it to
    /// pick unrolled fixed-width kernels for small widths (a GPU has no use
    /// for the constants).
    #[allow(clippy::too_many_arguments)]
    fn linear_forward_fixed<const K: usize, const N: usize>(
        &self,
        m: usize,
        a: &Self::Slice,
        b: &Self::Slice,
        bias: &Self::Slice,
        kind: BiasKind,
        act: Activation,
        c: &mut Self::Slice,
    ) -> Result<()> {
        self.linear_forward((m, K, N), a, b, Some(bias), kind, act, c)
    }
    /// What a `Linear<K, N>` layer's backward calls, for `m` rows of input
    /// `x` (`m x K`) and output gradient `dy` (`m x N`) with weight `w`
    /// (`N x K`): the weight gradient `gw = dyᵀ · x`, the bias gradient `gb`
    /// (by `kind`) and, if asked, the input gradient `dx = dy · w`. The
    /// default is [`Device::matmul`] and [`Device::bias_grad`]; the [`Cpu`]
    /// overrides it as [`Device::linear_forward_fixed`].
    ///
    /// With `x_act` other than [`Activation::Identity`] (only on a device
    /// whose [`Device::FUSES_INPUT_DERIVATIVE`] is true), `x` is the output
    /// of that activation and the input gradient is carried on through it:
    /// `dx = (dy · w) · x_act.derivative(x, x)` elementwise (the derivative
    /// as a function of the output), the activation's backward pass done in
    /// the product's. Its derivative must need only its output
    /// ([`Activation::derivative_from_output`]; `Err(Invalid)` otherwise),
    /// and the default, which does not fuse, refuses any `x_act` but
    /// `Identity`.
    ///
    /// Returns `Some(m)` when the device measured the gradients it wrote
    /// (`gw` and `gb`) and found every one finite and at most `m` in
    /// magnitude, `None` when it did not measure them (the default) or found
    /// one that is not finite. The CPU measures them as its packed product
    /// stores them, so that a checked step need not read them again (its
    /// unrolled small-width kernels do not measure: a later scan of a few
    /// values costs the same).
    #[allow(clippy::too_many_arguments)]
    fn linear_backward_fixed<const K: usize, const N: usize>(
        &self,
        m: usize,
        x: &Self::Slice,
        w: &Self::Slice,
        dy: &Self::Slice,
        (gw, gb): (&mut Self::Slice, &mut Self::Slice),
        kind: BiasKind,
        dx: Option<&mut Self::Slice>,
        x_act: Activation,
    ) -> Result<Option<E>> {
        if x_act != Activation::Identity {
            return Err(Error::Invalid {
                what: "linear_backward_fixed: an input activation (x_act not Identity) on a device that does not fuse it",
                value: f64::NAN,
                expected: "Activation::Identity where Device::FUSES_INPUT_DERIVATIVE is false",
            });
        }
        self.matmul(Layout::Tn, N, m, K, dy, x, gw)?;
        self.bias_grad(m, N, dy, kind, gb)?;
        if let Some(dx) = dx {
            self.matmul(Layout::Nn, m, N, K, dy, w, dx)?;
        }
        Ok(None)
    }
    /// Whether [`Device::linear_backward_fixed`] can carry the input
    /// gradient on through the activation its input came out of (its
    /// `x_act`). Where it can, a `Linear` after an activation layer writes
    /// the activation's input gradient itself, and the activation's own
    /// backward pass (a read of the gradient just written, and a write) is
    /// skipped; elsewhere the two run one after the other as before.
    ///
    /// A device that sets it overrides `linear_backward_fixed` and honours
    /// `x_act` there: with the default implementation every such backward
    /// is refused, and one that ignored `x_act` would pass back wrong
    /// gradients.
    const FUSES_INPUT_DERIVATIVE: bool = false;
    /// `y = act(x + bias)` over a `rows x cols` matrix; `x = None` works in
    /// place on `y` (the epilogue of a linear layer). `bias` may be `None`
    /// only for [`BiasKind::None`].
    #[allow(clippy::too_many_arguments)]
    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&Self::Slice>,
        bias: Option<&Self::Slice>,
        kind: BiasKind,
        act: Activation,
        y: &mut Self::Slice,
    ) -> Result<()>;
    /// `dx = dy · act'(x, y)` over `len` elements.
    #[allow(clippy::too_many_arguments)]
    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &Self::Slice,
        y: &Self::Slice,
        dy: &Self::Slice,
        dx: &mut Self::Slice,
    ) -> Result<()>;
    /// `out = a op b` over `len` elements (the algebra a user's layer is
    /// written in: a residual block adds, a gate multiplies).
    fn binary(
        &self,
        op: Binary,
        len: usize,
        a: &Self::Slice,
        b: &Self::Slice,
        out: &mut Self::Slice,
    ) -> Result<()>;
    /// `y = alpha · x + beta · y` over `len` elements: axpy (`beta = 1`),
    /// a scaled copy (`beta = 0`), gradient accumulation. Every element of
    /// `x` and `y` is read whatever `alpha` and `beta` are (a NaN stays NaN).
    fn axpby(
        &self,
        len: usize,
        alpha: E,
        x: &Self::Slice,
        beta: E,
        y: &mut Self::Slice,
    ) -> Result<()>;
    /// Sums of a `rows x cols` matrix along `axis` into `out`
    /// ([`Axis::len`] values, overwritten).
    fn sum_axis(
        &self,
        rows: usize,
        cols: usize,
        x: &Self::Slice,
        axis: Axis,
        out: &mut Self::Slice,
    ) -> Result<()>;
    /// The bias gradient from a `rows x cols` output gradient: column sums
    /// ([`BiasKind::PerColumn`]), the total ([`BiasKind::Shared`]) or nothing.
    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &Self::Slice,
        kind: BiasKind,
        out: &mut Self::Slice,
    ) -> Result<()>;
    /// `y = softmax(x)` over each row of a `rows x cols` matrix.
    fn softmax(&self, rows: usize, cols: usize, x: &Self::Slice, y: &mut Self::Slice)
    -> Result<()>;
    /// `dx = y ⊙ (dy - rowsum(dy ⊙ y))`, the input gradient of a softmax with output `y`.
    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &Self::Slice,
        dy: &Self::Slice,
        dx: &mut Self::Slice,
    ) -> Result<()>;
    /// Softmax cross-entropy, the mean over `rows` of `-ln softmax(x)[label]`
    /// (0 for no rows), with its gradient in `grad`. `labels` holds one
    /// class index per row, each below `classes` (checked when uploaded, see
    /// [`LabelStore::upload_labels`]). Given a label that is not a class
    /// anyway, the `Cpu` device returns `Error::ClassOutOfRange` and the CUDA
    /// device a NaN loss (its kernel cannot raise an error), which the
    /// trainer reports as a non-finite loss.
    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &Self::Slice,
        labels: &Self::Labels,
        grad: &mut Self::Slice,
    ) -> Result<E>;
    /// The loss of `len` predictions against `target`, and its gradient in
    /// `grad`. An empty batch has loss 0. For [`LossKind::Bce`] a
    /// prediction outside [0, 1] (or NaN) must make the loss NaN, as
    /// [`LossKind::term`] does: that is how a refused prediction is found
    /// (the scan that names it runs only on a loss that is not finite).
    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &Self::Slice,
        target: &Self::Slice,
        grad: &mut Self::Slice,
    ) -> Result<E>;
    /// One SGD update of `len` parameters; `velocity` is needed (and used)
    /// only when the momentum is not 0: without it that is a length error.
    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<E>,
        params: &mut Self::Slice,
        grads: &Self::Slice,
        velocity: Option<&mut Self::Slice>,
    ) -> Result<()>;
    /// One Adam update of `len` parameters with moments `m` and `v`.
    #[allow(clippy::too_many_arguments)]
    fn adam(
        &self,
        len: usize,
        step: &AdamStep<E>,
        params: &mut Self::Slice,
        grads: &Self::Slice,
        m: &mut Self::Slice,
        v: &mut Self::Slice,
    ) -> Result<()>;
    /// Adds to `counts[slot]` the number of elements of `x[..len]` that are
    /// NaN or infinite. The trainer's finiteness checks queue one per buffer
    /// into one `counts` buffer and read it back once, so a check costs one
    /// transfer however many tensors it covers.
    fn count_nonfinite(
        &self,
        len: usize,
        x: &Self::Slice,
        counts: &mut Self::Slice,
        slot: usize,
    ) -> Result<()>;
    /// Waits until all queued work is done, and reports any error it raised.
    fn synchronize(&self) -> Result<()>;
}
