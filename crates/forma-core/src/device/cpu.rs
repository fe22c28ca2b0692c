//! [`Cpu`]: the host as a [`Device`], through the same slice math the CPU
//! layers use.

use alloc::string::String;
use alloc::vec::Vec;

use super::{BiasKind, Device, LabelStore, Layout, checks};
use crate::math::pointwise::{Activation, AdamStep, Axis, Binary, LossKind, SgdStep};
use crate::math::sigmoid::sigmoid_in_place;
use crate::math::{fixed, gemm, pointwise, reduce, rowwise};
use crate::{Error, Float, Result};

/// The host CPU as a [`Device`]: buffers are `Vec`s and every primitive runs
/// the CPU kernels. It is the reference the CUDA device is tested against, and
/// lets device-generic code run (and be tested) on any machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu;

impl LabelStore for Cpu {
    type Labels = Vec<usize>;

    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<Vec<usize>> {
        super::check_labels(labels, classes)?;
        Ok(labels.to_vec())
    }

    fn labels_len(labels: &Vec<usize>) -> usize {
        labels.len()
    }
}

impl<E: Float> Device<E> for Cpu {
    type Slice = [E];
    type Buffer = Vec<E>;

    #[inline]
    fn name(&self) -> String {
        String::from("CPU")
    }

    /// `Err` (not an abort) when `len` elements cannot be allocated.
    #[inline]
    fn alloc(&self, len: usize) -> Result<Vec<E>> {
        let mut v = Vec::new();
        reserve(&mut v, len, "Cpu::alloc")?;
        v.resize(len, E::ZERO);
        Ok(v)
    }

    #[inline]
    fn len(slice: &[E]) -> usize {
        slice.len()
    }

    /// Every step resizes its caches to the batch, almost always a no-op:
    /// the length test is inlined, the change itself is out of line.
    #[inline]
    fn resize(&self, buffer: &mut Vec<E>, len: usize) -> Result<()> {
        if buffer.len() == len {
            return Ok(());
        }
        resize_to(buffer, len)
    }

    #[inline]
    fn host(slice: &[E]) -> Option<&[E]> {
        Some(slice)
    }

    #[inline]
    fn host_mut(slice: &mut [E]) -> Option<&mut [E]> {
        Some(slice)
    }

    /// Small widths (`K · N` up to [`fixed::SMALL_WEIGHTS`]) take the
    /// unrolled kernels, larger ones the packed GEMM; then one pass adds the
    /// bias and applies the activation.
    #[inline]
    fn linear_forward_fixed<const K: usize, const N: usize>(
        &self,
        m: usize,
        a: &[E],
        b: &[E],
        bias: &[E],
        kind: BiasKind,
        act: Activation,
        c: &mut [E],
    ) -> Result<()> {
        checks::linear_forward(
            (m, K, N),
            (a.len(), b.len(), c.len()),
            Some(bias.len()),
            kind,
        )?;
        let len = m * N; // fits: checked above
        let c = &mut c[..len];
        if unrolled(K, N) {
            fixed::matmul_nt(
                rows::<E, K>(a, m),
                weight::<E, K, N>(b),
                E::ZERO,
                rows_mut::<E, N>(c, m),
            );
        } else {
            gemm::matmul_nt(m, K, N, &a[..m * K], &b[..N * K], E::ZERO, c)?;
        }
        if N > 0 {
            fixed_epilogue::<E, N>(c, bias, kind, act);
        }
        Ok(())
    }

    #[inline]
    fn linear_backward_fixed<const K: usize, const N: usize>(
        &self,
        m: usize,
        x: &[E],
        w: &[E],
        dy: &[E],
        (gw, gb): (&mut [E], &mut [E]),
        kind: BiasKind,
        dx: Option<&mut [E]>,
        x_act: Activation,
    ) -> Result<Option<E>> {
        if !x_act.derivative_from_output() {
            return Err(Error::Invalid {
                what: "linear_backward_fixed: the input activation's derivative needs its input (a LeakyReLU slope)",
                value: match x_act {
                    Activation::LeakyReLU { slope } => slope,
                    _ => f64::NAN,
                },
                expected: "an activation whose derivative its output gives (a slope of at least 0)",
            });
        }
        checks::matmul((N, m, K), (dy.len(), x.len(), gw.len()))?;
        checks::bias_grad(m, N, dy.len(), kind, gb.len())?;
        if let Some(dx) = &dx {
            checks::matmul((m, N, K), (dy.len(), w.len(), dx.len()))?;
        }
        let (x, dy) = (&x[..m * K], &dy[..m * N]); // fit: checked above
        // The product measures the gradient as it stores it (free); the
        // unrolled kernels do not: for a few values a later scan costs the
        // same, and a step without checks then pays nothing.
        let measured = if unrolled(K, N) {
            let gw: &mut [[E; K]; N] = weight_mut::<E, K, N>(gw);
            fixed::matmul_tn(rows::<E, N>(dy, m), rows::<E, K>(x, m), E::ZERO, gw);
            None
        } else {
            let (finite, top) =
                gemm::matmul_tn_measured(N, m, K, dy, x, E::ZERO, &mut gw[..N * K])?;
            finite.then_some(top)
        };
        let gb = match kind {
            BiasKind::None => &gb[..0],
            BiasKind::Shared => {
                gb[0] = reduce::sum(dy);
                &gb[..1]
            }
            BiasKind::PerColumn => {
                reduce::sum_over_rows(m, N, dy, E::ZERO, &mut gb[..N]);
                &gb[..N]
            }
        };
        let measured = measured.and_then(|top| {
            let (finite, bias_top) = pointwise::scan_finite_max(gb);
            finite.then_some(top.max(bias_top))
        });
        if let Some(dx) = dx {
            let dx = &mut dx[..m * K];
            if unrolled(K, N) {
                fixed::matmul_nn_act(
                    rows::<E, N>(dy, m),
                    weight::<E, K, N>(w),
                    x_act,
                    rows::<E, K>(x, m),
                    rows_mut::<E, K>(dx, m),
                );
            } else {
                gemm::matmul_nn(m, N, K, dy, &w[..N * K], E::ZERO, dx)?;
                if x_act != Activation::Identity {
                    times_act_derivative_in_place(x_act, x, dx);
                }
            }
        }
        Ok(measured)
    }

    /// The unrolled products apply it as they store a row; the packed ones
    /// in a pass over the gradient after the product.
    const FUSES_INPUT_DERIVATIVE: bool = true;

    #[inline]
    fn write(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        checks::write(src.len(), dst.len())?;
        dst[..src.len()].copy_from_slice(src);
        Ok(())
    }

    #[inline]
    fn read(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        checks::read(src.len(), dst.len())?;
        dst.copy_from_slice(&src[..dst.len()]);
        Ok(())
    }

    #[inline]
    fn fill(&self, len: usize, value: E, buffer: &mut [E]) -> Result<()> {
        checks::fill(len, buffer.len())?;
        buffer[..len].fill(value);
        Ok(())
    }

    #[inline]
    fn copy(&self, len: usize, src: &[E], dst: &mut [E]) -> Result<()> {
        checks::copy(len, src.len(), dst.len())?;
        dst[..len].copy_from_slice(&src[..len]);
        Ok(())
    }

    #[inline]
    fn matmul(
        &self,
        layout: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &[E],
        b: &[E],
        c: &mut [E],
    ) -> Result<()> {
        checks::matmul((m, k, n), (a.len(), b.len(), c.len()))?;
        let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
        match layout {
            Layout::Nt => gemm::matmul_nt(m, k, n, a, b, E::ZERO, c),
            Layout::Nn => gemm::matmul_nn(m, k, n, a, b, E::ZERO, c),
            Layout::Tn => gemm::matmul_tn(m, k, n, a, b, E::ZERO, c),
        }
    }

    #[inline]
    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&[E]>,
        bias: Option<&[E]>,
        kind: BiasKind,
        act: Activation,
        y: &mut [E],
    ) -> Result<()> {
        checks::bias_act(
            (rows, cols),
            x.map(<[E]>::len),
            bias.map(<[E]>::len),
            kind,
            y.len(),
        )?;
        // After the check, which multiplies with overflow checks: this fits.
        let len = rows * cols;
        let bias = bias.unwrap_or(&[]);
        if let Some(x) = x {
            y[..len].copy_from_slice(&x[..len]);
        }
        epilogue(&mut y[..len], cols, bias, kind, act);
        Ok(())
    }

    #[inline]
    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &[E],
        y: &[E],
        dy: &[E],
        dx: &mut [E],
    ) -> Result<()> {
        checks::act_backward(len, x.len(), y.len(), dy.len(), dx.len())?;
        times_act_derivative(act, &x[..len], &y[..len], &dy[..len], &mut dx[..len]);
        Ok(())
    }

    #[inline]
    fn count_nonfinite(&self, len: usize, x: &[E], counts: &mut [E], slot: usize) -> Result<()> {
        checks::count_nonfinite(len, x.len(), counts.len(), slot)?;
        let bad = x[..len].iter().filter(|v| !v.is_finite()).count();
        counts[slot] += E::from_f64(bad as f64);
        Ok(())
    }

    #[inline]
    fn binary(&self, op: Binary, len: usize, a: &[E], b: &[E], out: &mut [E]) -> Result<()> {
        checks::binary(len, a.len(), b.len(), out.len())?;
        for ((o, &a), &b) in out[..len].iter_mut().zip(&a[..len]).zip(&b[..len]) {
            *o = op.apply(a, b);
        }
        Ok(())
    }

    #[inline]
    fn axpby(&self, len: usize, alpha: E, x: &[E], beta: E, y: &mut [E]) -> Result<()> {
        checks::axpby(len, x.len(), y.len())?;
        for (y, &x) in y[..len].iter_mut().zip(&x[..len]) {
            *y = alpha * x + beta * *y;
        }
        Ok(())
    }

    #[inline]
    fn sum_axis(&self, rows: usize, cols: usize, x: &[E], axis: Axis, out: &mut [E]) -> Result<()> {
        checks::sum_axis(rows, cols, x.len(), axis, out.len())?;
        let x = &x[..rows * cols]; // fits: checked above
        match axis {
            Axis::Rows => reduce::sum_over_rows(rows, cols, x, E::ZERO, &mut out[..cols]),
            Axis::Columns => {
                for (o, row) in out[..rows].iter_mut().zip(x.chunks_exact(cols.max(1))) {
                    *o = reduce::sum(row);
                }
                if cols == 0 {
                    out[..rows].fill(E::ZERO);
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &[E],
        kind: BiasKind,
        out: &mut [E],
    ) -> Result<()> {
        checks::bias_grad(rows, cols, dy.len(), kind, out.len())?;
        let dy = &dy[..rows * cols];
        match kind {
            BiasKind::None => {}
            BiasKind::Shared => out[0] = reduce::sum(dy),
            BiasKind::PerColumn => reduce::sum_over_rows(rows, cols, dy, E::ZERO, &mut out[..cols]),
        }
        Ok(())
    }

    #[inline]
    fn softmax(&self, rows: usize, cols: usize, x: &[E], y: &mut [E]) -> Result<()> {
        checks::softmax(rows, cols, x.len(), y.len())?;
        let n = rows * cols; // fits: checked above
        let c = cols.max(1);
        for (xr, yr) in x[..n].chunks_exact(c).zip(y[..n].chunks_exact_mut(c)) {
            rowwise::softmax(xr, yr);
        }
        Ok(())
    }

    #[inline]
    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &[E],
        dy: &[E],
        dx: &mut [E],
    ) -> Result<()> {
        checks::softmax_backward(rows, cols, y.len(), dy.len(), dx.len())?;
        let n = rows * cols; // fits: checked above
        let c = cols.max(1);
        let (ys, dys) = (y[..n].chunks_exact(c), dy[..n].chunks_exact(c));
        for ((yr, gr), dr) in ys.zip(dys).zip(dx[..n].chunks_exact_mut(c)) {
            rowwise::softmax_backward(yr, gr, dr);
        }
        Ok(())
    }

    #[inline]
    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &[E],
        labels: &Vec<usize>,
        grad: &mut [E],
    ) -> Result<E> {
        checks::cross_entropy(rows, classes, logits.len(), labels.len(), grad.len())?;
        let n = rows * classes; // fits: checked above
        if n == 0 {
            return Ok(E::ZERO);
        }
        let scale = E::ONE / E::from_f64(rows as f64);
        let c = classes.max(1);
        let mut total = E::ZERO;
        let rows_iter = logits[..n]
            .chunks_exact(c)
            .zip(grad[..n].chunks_exact_mut(c));
        for (row, ((x, g), &label)) in rows_iter.zip(&labels[..rows]).enumerate() {
            if label >= classes {
                return Err(Error::ClassOutOfRange {
                    row,
                    label: label as f64,
                    classes,
                });
            }
            total += rowwise::cross_entropy(x, label, scale, g);
        }
        Ok(total * scale)
    }

    #[inline]
    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &[E],
        target: &[E],
        grad: &mut [E],
    ) -> Result<E> {
        checks::loss(len, pred.len(), target.len(), grad.len())?;
        if len == 0 {
            return Ok(E::ZERO);
        }
        Ok(loss_terms(
            kind,
            &pred[..len],
            &target[..len],
            &mut grad[..len],
        ))
    }

    #[inline]
    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<E>,
        params: &mut [E],
        grads: &[E],
        velocity: Option<&mut [E]>,
    ) -> Result<()> {
        let momentum = step.momentum != E::ZERO;
        let v_len = velocity.as_ref().map(|v| v.len());
        checks::sgd(len, params.len(), grads.len(), momentum, v_len)?;
        let velocity = velocity.filter(|_| momentum).map(|v| &mut v[..len]);
        step.apply(&mut params[..len], &grads[..len], velocity);
        Ok(())
    }

    #[inline]
    fn adam(
        &self,
        len: usize,
        step: &AdamStep<E>,
        params: &mut [E],
        grads: &[E],
        m: &mut [E],
        v: &mut [E],
    ) -> Result<()> {
        checks::adam(len, params.len(), grads.len(), m.len(), v.len())?;
        step.apply(
            &mut params[..len],
            &grads[..len],
            &mut m[..len],
            &mut v[..len],
        );
        Ok(())
    }

    #[inline]
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}

/// [`Cpu::resize`]'s change of length: new elements are zero.
#[cold]
#[inline(never)]
fn resize_to<E: Float>(buffer: &mut Vec<E>, len: usize) -> Result<()> {
    reserve(buffer, len, "Cpu::resize")?;
    buffer.resize(len, E::ZERO);
    Ok(())
}

/// Makes room for `len` elements in `v`, or `Err` naming `what` when that
/// many cannot be allocated (more bytes than `isize::MAX`, or no memory).
fn reserve<E>(v: &mut Vec<E>, len: usize, what: &'static str) -> Result<()> {
    match v.try_reserve_exact(len.saturating_sub(v.len())) {
        Ok(()) => Ok(()),
        Err(_) => Err(Error::Length {
            what,
            expected: len,
            got: v.capacity(),
        }),
    }
}

/// Whether a `K`-in, `N`-out layer takes the unrolled kernels: small, and
/// neither width 0 (a width-0 row has no array chunks; the GEMM handles it).
const fn unrolled(k: usize, n: usize) -> bool {
    k > 0 && n > 0 && fixed::is_small(k, n)
}

/// The first `m` rows of a row-major slice of width `W`, as arrays. The
/// caller checked that the slice holds them.
fn rows<E: Float, const W: usize>(a: &[E], m: usize) -> &[[E; W]] {
    &a.as_chunks::<W>().0[..m]
}

/// [`rows`], mutable.
fn rows_mut<E: Float, const W: usize>(a: &mut [E], m: usize) -> &mut [[E; W]] {
    &mut a.as_chunks_mut::<W>().0[..m]
}

/// The first `N x K` elements as a weight matrix. The caller checked that
/// the slice holds them.
fn weight<E: Float, const K: usize, const N: usize>(w: &[E]) -> &[[E; K]; N] {
    match w.as_chunks::<K>().0[..N].try_into() {
        Ok(w) => w,
        Err(_) => unreachable!("a slice of N rows converts to [_; N]"),
    }
}

/// [`weight`], mutable.
fn weight_mut<E: Float, const K: usize, const N: usize>(w: &mut [E]) -> &mut [[E; K]; N] {
    match (&mut w.as_chunks_mut::<K>().0[..N]).try_into() {
        Ok(w) => w,
        Err(_) => unreachable!("a slice of N rows converts to [_; N]"),
    }
}

crate::math::isa::multiversion! {
    /// `y = act(y + bias)` over a `rows x cols` matrix, in place. The match on
    /// the activation and the bias layout happens once, outside the loops, so
    /// each loop is specialised as a fixed-type layer's would be.
    fn epilogue<E: Float>(y: &mut [E], cols: usize, bias: &[E], kind: BiasKind, act: Activation) -> () = epilogue_in,
        small if y.len();
}

#[inline(always)]
fn epilogue_in<E: Float>(y: &mut [E], cols: usize, bias: &[E], kind: BiasKind, act: Activation) {
    match act {
        Activation::Identity if kind == BiasKind::None => {}
        Activation::Identity => add_bias(y, cols, bias, kind, |v| v),
        Activation::Sigmoid => {
            // The bias first, then the sigmoid's own kernel (blocks of
            // vectors side by side, see `math::sigmoid`); both passes stay
            // in L1.
            if kind != BiasKind::None {
                add_bias(y, cols, bias, kind, |v| v);
            }
            sigmoid_in_place(y);
        }
        Activation::ReLU => add_bias(y, cols, bias, kind, |v| Activation::ReLU.apply(v)),
        Activation::Tanh => add_bias(y, cols, bias, kind, |v| Activation::Tanh.apply(v)),
        Activation::LeakyReLU { slope } => add_bias(y, cols, bias, kind, |v| {
            Activation::LeakyReLU { slope }.apply(v)
        }),
    }
}

crate::math::isa::multiversion! {
    /// [`epilogue`] with the width a constant (a `Linear`'s): rows are arrays,
    /// so a small layer's loop is unrolled as its product's is. `N > 0`.
    fn fixed_epilogue<E: Float; const N: usize>(y: &mut [E], bias: &[E], kind: BiasKind, act: Activation) -> () = fixed_epilogue_in,
        // A sigmoid picks its instruction set itself (`math::sigmoid`),
        // from one vector on; the bias pass around it is short work.
        small if y.len();
}

#[inline(always)]
fn fixed_epilogue_in<E: Float, const N: usize>(
    y: &mut [E],
    bias: &[E],
    kind: BiasKind,
    act: Activation,
) {
    match act {
        Activation::Identity if kind == BiasKind::None => {}
        Activation::Identity => add_fixed_bias::<E, N>(y, bias, kind, |v| v),
        Activation::Sigmoid => {
            // As in `epilogue_in`.
            if kind != BiasKind::None {
                add_fixed_bias::<E, N>(y, bias, kind, |v| v);
            }
            sigmoid_in_place(y);
        }
        Activation::ReLU => add_fixed_bias::<E, N>(y, bias, kind, |v| Activation::ReLU.apply(v)),
        Activation::Tanh => add_fixed_bias::<E, N>(y, bias, kind, |v| Activation::Tanh.apply(v)),
        Activation::LeakyReLU { slope } => {
            add_fixed_bias::<E, N>(y, bias, kind, |v| Activation::LeakyReLU { slope }.apply(v))
        }
    }
}

#[inline(always)]
fn add_fixed_bias<E: Float, const N: usize>(
    y: &mut [E],
    bias: &[E],
    kind: BiasKind,
    f: impl Fn(E) -> E,
) {
    match kind {
        BiasKind::PerColumn => {
            let b: &[E; N] = match bias[..N].try_into() {
                Ok(b) => b,
                Err(_) => unreachable!("a slice of N converts to [_; N]"),
            };
            for row in y.as_chunks_mut::<N>().0 {
                for (v, &b) in row.iter_mut().zip(b) {
                    *v = f(*v + b);
                }
            }
        }
        _ => add_bias(y, N, bias, kind, f),
    }
}

#[inline(always)]
fn add_bias<E: Float>(y: &mut [E], cols: usize, bias: &[E], kind: BiasKind, f: impl Fn(E) -> E) {
    match kind {
        BiasKind::None => y.iter_mut().for_each(|v| *v = f(*v)),
        BiasKind::Shared => {
            let b = bias[0];
            y.iter_mut().for_each(|v| *v = f(*v + b));
        }
        BiasKind::PerColumn => {
            for row in y.chunks_exact_mut(cols.max(1)) {
                for (v, &b) in row.iter_mut().zip(&bias[..cols]) {
                    *v = f(*v + b);
                }
            }
        }
    }
}

crate::math::isa::multiversion! {
    /// [`LossKind::value_and_grad`] compiled for the best instruction set.
    /// A term costs about eight elementwise operations, so the dispatch pays
    /// off at an eighth of the usual length; a BCE term (two logarithms and a
    /// division) about thirty, and its shortest pass is eight padded lanes:
    /// XOR's four rows run them as one AVX vector rather than two SSE ones.
    fn loss_terms<E: Float>(kind: LossKind, pred: &[E], target: &[E], grad: &mut [E]) -> E = loss_terms_in,
        small if match kind {
            LossKind::SquaredError { .. } => grad.len() * 8,
            _ => grad.len().max(8) * 32,
        };
}

#[inline(always)]
fn loss_terms_in<E: Float>(kind: LossKind, pred: &[E], target: &[E], grad: &mut [E]) -> E {
    kind.value_and_grad(pred, target, grad)
}

crate::math::isa::multiversion! {
    /// `dx = dy · act'(x, y)`, elementwise.
    fn times_act_derivative<E: Float>(act: Activation, x: &[E], y: &[E], dy: &[E], dx: &mut [E]) -> () = times_act_derivative_in,
        small if dx.len();
}

#[inline(always)]
fn times_act_derivative_in<E: Float>(act: Activation, x: &[E], y: &[E], dy: &[E], dx: &mut [E]) {
    match act {
        Activation::Identity => dx.copy_from_slice(dy),
        Activation::Sigmoid => {
            times_derivative(x, y, dy, dx, |x, y| Activation::Sigmoid.derivative(x, y))
        }
        Activation::ReLU => {
            times_derivative(x, y, dy, dx, |x, y| Activation::ReLU.derivative(x, y))
        }
        Activation::Tanh => {
            times_derivative(x, y, dy, dx, |x, y| Activation::Tanh.derivative(x, y))
        }
        Activation::LeakyReLU { slope } => times_derivative(x, y, dy, dx, |x, y| {
            Activation::LeakyReLU { slope }.derivative(x, y)
        }),
    }
}

crate::math::isa::multiversion! {
    /// `g = g · act'(y, y)`, elementwise, for an activation whose derivative
    /// needs only its output `y`: [`times_act_derivative`] in place.
    fn times_act_derivative_in_place<E: Float>(act: Activation, y: &[E], g: &mut [E]) -> () = times_act_derivative_in_place_in,
        small if g.len();
}

#[inline(always)]
fn times_act_derivative_in_place_in<E: Float>(act: Activation, y: &[E], g: &mut [E]) {
    // The same formula per activation as `times_act_derivative_in`, each
    // inlined into its own loop.
    #[inline(always)]
    fn each<E: Float>(y: &[E], g: &mut [E], df: impl Fn(E) -> E) {
        for (g, &y) in g.iter_mut().zip(y) {
            *g *= df(y);
        }
    }
    match act {
        Activation::Identity => {}
        Activation::Sigmoid => each(y, g, |y| Activation::Sigmoid.derivative(y, y)),
        Activation::ReLU => each(y, g, |y| Activation::ReLU.derivative(y, y)),
        Activation::Tanh => each(y, g, |y| Activation::Tanh.derivative(y, y)),
        Activation::LeakyReLU { slope } => {
            each(y, g, |y| Activation::LeakyReLU { slope }.derivative(y, y))
        }
    }
}

#[inline(always)]
fn times_derivative<E: Float>(x: &[E], y: &[E], dy: &[E], dx: &mut [E], df: impl Fn(E, E) -> E) {
    for (((d, &x), &y), &g) in dx.iter_mut().zip(x).zip(y).zip(dy) {
        *d = g * df(x, y);
    }
}

#[cfg(test)]
mod isa_level_tests {
    //! The elementwise passes compiled for each instruction set (run with
    //! `FORMA_ISA=avx2` and `portable` too, as `.ci/run` does) give the
    //! scalar formula's result bit for bit: no fused multiply-add is
    //! contracted, so vector lanes round as the scalar code does.
    use super::*;
    use crate::math::pointwise::{AdamStep, SgdStep};
    use alloc::vec;

    const ACTIVATIONS: [Activation; 5] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::ReLU,
        Activation::Tanh,
        Activation::LeakyReLU { slope: 0.01 },
    ];

    fn values<E: Float>(n: usize, seed: usize) -> Vec<E> {
        (0..n)
            .map(|i| E::from_f64(((((i + seed) * 7919) % 2001) as f64 - 1000.0) / 97.0))
            .collect()
    }

    fn bits<E: Float>(v: &[E]) -> Vec<u64> {
        v.iter().map(|x| x.to_f64().to_bits()).collect()
    }

    fn agree<E: Float>() -> Result<()> {
        for (rows, cols) in [(1usize, 3usize), (3, 85), (16, 16), (10, 100), (41, 100)] {
            let n = rows * cols;
            let (x, bias) = (values::<E>(n, 1), values::<E>(cols, 2));
            for act in ACTIVATIONS {
                let mut y = vec![E::ZERO; n];
                Cpu.bias_act(
                    rows,
                    cols,
                    Some(&x),
                    Some(&bias),
                    BiasKind::PerColumn,
                    act,
                    &mut y,
                )?;
                let want: Vec<E> = x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| act.apply(v + bias[i % cols]))
                    .collect();
                assert_eq!(bits(&y), bits(&want), "{act:?} forward, {rows}x{cols}");
                if cols == 100 {
                    let mut fixed = vec![E::ZERO; n];
                    fixed.copy_from_slice(&x);
                    fixed_epilogue::<E, 100>(&mut fixed, &bias, BiasKind::PerColumn, act);
                    assert_eq!(bits(&fixed), bits(&want), "{act:?} fixed-width forward");
                }
                let dy = values::<E>(n, 3);
                let mut dx = vec![E::ZERO; n];
                Cpu.act_backward(n, act, &x, &y, &dy, &mut dx)?;
                let want: Vec<E> = (0..n).map(|i| dy[i] * act.derivative(x[i], y[i])).collect();
                assert_eq!(bits(&dx), bits(&want), "{act:?} backward, {n}");
                // In place, from the output (as a packed product's input
                // gradient is carried through the activation before it).
                let mut g = dy.clone();
                times_act_derivative_in_place(act, &y, &mut g);
                let want: Vec<E> = (0..n).map(|i| dy[i] * act.derivative(y[i], y[i])).collect();
                assert_eq!(bits(&g), bits(&want), "{act:?} backward in place, {n}");
            }
        }
        // Tiny fixed widths (XOR's layers), where the sigmoid dispatches
        // from 8 elements and the rest runs inline.
        for act in ACTIVATIONS {
            let (x, bias) = (values::<E>(8, 4), values::<E>(2, 5));
            let want: Vec<E> = (0..8).map(|i| act.apply(x[i] + bias[i % 2])).collect();
            let mut two = x.clone();
            fixed_epilogue::<E, 2>(&mut two, &bias, BiasKind::PerColumn, act);
            assert_eq!(bits(&two), bits(&want), "{act:?} fixed-width forward, 4x2");
            let mut one = x[..4].to_vec();
            fixed_epilogue::<E, 1>(&mut one, &bias[..1], BiasKind::Shared, act);
            let want: Vec<E> = (0..4).map(|i| act.apply(x[i] + bias[0])).collect();
            assert_eq!(bits(&one), bits(&want), "{act:?} fixed-width forward, 4x1");
        }
        // The last size is above PARALLEL_MIN_BYTES: the updates are split
        // over the pool where it has two threads or more.
        let split = 2 * crate::math::pointwise::PARALLEL_MIN_BYTES / core::mem::size_of::<E>() + 5;
        for n in [5usize, 300, 5000, split] {
            let (p0, g) = (values::<E>(n, 4), values::<E>(n, 5));
            let sgd = SgdStep {
                lr: E::from_f64(0.1),
                momentum: E::from_f64(0.9),
                nesterov: true,
                weight_decay: E::from_f64(0.01),
                first: false,
            };
            let (mut p, mut v) = (p0.clone(), values::<E>(n, 6));
            let want: Vec<(E, E)> = (0..n)
                .map(|i| {
                    let g = g[i] + sgd.weight_decay * p0[i];
                    let v = sgd.momentum * v[i] + g;
                    (p0[i] - sgd.lr * (g + sgd.momentum * v), v)
                })
                .collect();
            let (p_top, v_top) = sgd.apply(&mut p, &g, Some(&mut v));
            let top = |x: &[E]| x.iter().fold(E::ZERO, |m, &x| m.max(x.abs()));
            assert_eq!((p_top, v_top), (top(&p), top(&v)), "sgd maxima {n}");
            let plain = SgdStep {
                momentum: E::ZERO,
                ..sgd
            };
            let mut q = p0.clone();
            let (q_top, none) = plain.apply(&mut q, &g, None);
            let plain_want: Vec<E> = (0..n)
                .map(|i| p0[i] - plain.lr * (g[i] + plain.weight_decay * p0[i]))
                .collect();
            assert_eq!(bits(&q), bits(&plain_want), "plain sgd {n}");
            assert_eq!((q_top, none), (top(&q), E::ZERO), "plain sgd maxima {n}");
            // A NaN written anywhere (here in the last part of a split)
            // makes the bound NaN, never a finite number that hides it.
            let mut g_nan = g.clone();
            g_nan[n - 1] = E::from_f64(f64::NAN);
            let (nan_top, _) = plain.apply(&mut p0.clone(), &g_nan, None);
            assert!(nan_top.to_f64().is_nan(), "a NaN update's bound, {n}");
            assert_eq!(
                bits(&p),
                bits(&want.iter().map(|w| w.0).collect::<Vec<_>>()),
                "sgd {n}"
            );
            assert_eq!(
                bits(&v),
                bits(&want.iter().map(|w| w.1).collect::<Vec<_>>()),
                "sgd v {n}"
            );

            let adam = AdamStep::at(
                2,
                E::from_f64(1e-3),
                E::from_f64(0.9),
                E::from_f64(0.999),
                E::from_f64(1e-8),
                E::ZERO,
                false,
            );
            let (mut p, mut m) = (p0.clone(), values::<E>(n, 7));
            let mut s: Vec<E> = values::<E>(n, 8).iter().map(|x| x.abs()).collect();
            let want: Vec<(E, E, E)> = (0..n)
                .map(|i| adam.element(p0[i], g[i], m[i], s[i]))
                .collect();
            adam.apply(&mut p, &g, &mut m, &mut s);
            let parts = |k: usize| -> Vec<E> { want.iter().map(|w| [w.0, w.1, w.2][k]).collect() };
            assert_eq!(bits(&p), bits(&parts(0)), "adam p {n}");
            assert_eq!(bits(&m), bits(&parts(1)), "adam m {n}");
            assert_eq!(bits(&s), bits(&parts(2)), "adam v {n}");
        }
        let kinds = [
            LossKind::SquaredError {
                factor: 0.5,
                mean: true,
            },
            LossKind::Bce,
            LossKind::BceWithLogits,
        ];
        // Every tail length (n mod 8 from 0 to 7), chunks of sixteen with
        // and without a chunk of eight after them, and long runs.
        for n in [2usize, 3, 5, 6, 7, 8, 9, 16, 24, 33, 100, 301] {
            for kind in kinds {
                let mut pred = values::<E>(n, 9);
                let target: Vec<E> = values::<E>(n, 10)
                    .iter()
                    .map(|t| t.abs().min(E::ONE))
                    .collect();
                if kind == LossKind::Bce {
                    // Probabilities, both ends exactly, and one that is not.
                    pred.iter_mut()
                        .for_each(|p| *p = p.abs() / E::from_f64(10.4));
                    pred[0] = E::ZERO;
                    pred[n - 1] = E::ONE;
                    pred[n / 2] = E::from_f64(1.5);
                }
                let mut grad = vec![E::ZERO; n];
                let got = Cpu.loss(kind, n, &pred, &target, &mut grad)?;
                let scale: E = kind.scale(n);
                let mut sums = [E::ZERO; 8];
                let mut want = vec![E::ZERO; n];
                for i in 0..n {
                    let (v, d) = kind.term(pred[i], target[i]);
                    sums[i % 8] += v;
                    want[i] = scale * d;
                }
                let [a, b, c, d, e, f, g, h] = sums;
                let total = scale * (((a + e) + (c + g)) + ((b + f) + (d + h)));
                assert_eq!(bits(&grad), bits(&want), "{kind:?} gradient, {n}");
                assert_eq!(bits(&[got]), bits(&[total]), "{kind:?} value, {n}");
                if kind == LossKind::Bce {
                    assert!(got.to_f64().is_nan() && grad[n / 2].to_f64().is_nan());
                    assert!(grad[n / 2 - 1].is_finite(), "only the bad element is NaN");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn elementwise_passes_match_the_scalar_formula_at_each_isa_level() -> Result<()> {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        std::eprintln!("elementwise passes at {:?}", crate::math::isa::level());
        agree::<f32>()?;
        agree::<f64>()
    }
}
