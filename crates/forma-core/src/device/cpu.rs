//! [`Cpu`]: the host as a [`Device`], through the same slice math the CPU
//! layers use.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{BiasKind, Device, Layout, checks};
use crate::math::pointwise::{Activation, AdamStep, Axis, Binary, LossKind, SgdStep};
use crate::math::{gemm, reduce, rowwise};
use crate::{Error, Float, Result};

/// The host CPU as a [`Device`]: buffers are `Vec`s and every primitive runs
/// the CPU kernels. It is the reference the CUDA device is tested against, and
/// lets device-generic code run (and be tested) on any machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu;

impl<E: Float> Device<E> for Cpu {
    type Buffer = Vec<E>;

    fn name(&self) -> String {
        String::from("CPU")
    }

    fn alloc(&self, len: usize) -> Result<Vec<E>> {
        Ok(vec![E::ZERO; len])
    }

    fn buffer_len(buffer: &Vec<E>) -> usize {
        buffer.len()
    }

    fn write(&self, src: &[E], dst: &mut Vec<E>) -> Result<()> {
        checks::write(src.len(), dst.len())?;
        dst[..src.len()].copy_from_slice(src);
        Ok(())
    }

    fn read(&self, src: &Vec<E>, dst: &mut [E]) -> Result<()> {
        checks::read(src.len(), dst.len())?;
        dst.copy_from_slice(&src[..dst.len()]);
        Ok(())
    }

    fn fill(&self, len: usize, value: E, buffer: &mut Vec<E>) -> Result<()> {
        checks::fill(len, buffer.len())?;
        buffer[..len].fill(value);
        Ok(())
    }

    fn copy(&self, len: usize, src: &Vec<E>, dst: &mut Vec<E>) -> Result<()> {
        checks::copy(len, src.len(), dst.len())?;
        dst[..len].copy_from_slice(&src[..len]);
        Ok(())
    }

    fn matmul(
        &self,
        layout: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &Vec<E>,
        b: &Vec<E>,
        c: &mut Vec<E>,
    ) -> Result<()> {
        checks::matmul((m, k, n), (a.len(), b.len(), c.len()))?;
        let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
        match layout {
            Layout::Nt => gemm::matmul_nt(m, k, n, a, b, E::ZERO, c),
            Layout::Nn => gemm::matmul_nn(m, k, n, a, b, E::ZERO, c),
            Layout::Tn => gemm::matmul_tn(m, k, n, a, b, E::ZERO, c),
        }
    }

    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&Vec<E>>,
        bias: Option<&Vec<E>>,
        kind: BiasKind,
        act: Activation,
        y: &mut Vec<E>,
    ) -> Result<()> {
        checks::bias_act(
            (rows, cols),
            x.map(Vec::len),
            bias.map(Vec::len),
            kind,
            y.len(),
        )?;
        // After the check, which multiplies with overflow checks: this fits.
        let len = rows * cols;
        let bias = bias.map_or(&[][..], |b| &b[..]);
        if let Some(x) = x {
            y[..len].copy_from_slice(&x[..len]);
        }
        for row in y[..len].chunks_exact_mut(cols.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                let b = match kind {
                    BiasKind::None => E::ZERO,
                    BiasKind::Shared => bias[0],
                    BiasKind::PerColumn => bias[j],
                };
                *v = act.apply(*v + b);
            }
        }
        Ok(())
    }

    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &Vec<E>,
        y: &Vec<E>,
        dy: &Vec<E>,
        dx: &mut Vec<E>,
    ) -> Result<()> {
        checks::act_backward(len, x.len(), y.len(), dy.len(), dx.len())?;
        for (i, d) in dx[..len].iter_mut().enumerate() {
            *d = dy[i] * act.derivative(x[i], y[i]);
        }
        Ok(())
    }

    fn count_nonfinite(
        &self,
        len: usize,
        x: &Vec<E>,
        counts: &mut Vec<E>,
        slot: usize,
    ) -> Result<()> {
        checks::count_nonfinite(len, x.len(), counts.len(), slot)?;
        let bad = x[..len].iter().filter(|v| !v.is_finite()).count();
        counts[slot] += E::from_f64(bad as f64);
        Ok(())
    }

    fn binary(
        &self,
        op: Binary,
        len: usize,
        a: &Vec<E>,
        b: &Vec<E>,
        out: &mut Vec<E>,
    ) -> Result<()> {
        checks::binary(len, a.len(), b.len(), out.len())?;
        for ((o, &a), &b) in out[..len].iter_mut().zip(&a[..len]).zip(&b[..len]) {
            *o = op.apply(a, b);
        }
        Ok(())
    }

    fn axpby(&self, len: usize, alpha: E, x: &Vec<E>, beta: E, y: &mut Vec<E>) -> Result<()> {
        checks::axpby(len, x.len(), y.len())?;
        for (y, &x) in y[..len].iter_mut().zip(&x[..len]) {
            *y = alpha * x + beta * *y;
        }
        Ok(())
    }

    fn sum_axis(
        &self,
        rows: usize,
        cols: usize,
        x: &Vec<E>,
        axis: Axis,
        out: &mut Vec<E>,
    ) -> Result<()> {
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

    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &Vec<E>,
        kind: BiasKind,
        out: &mut Vec<E>,
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

    fn softmax(&self, rows: usize, cols: usize, x: &Vec<E>, y: &mut Vec<E>) -> Result<()> {
        checks::softmax(rows, cols, x.len(), y.len())?;
        let n = rows * cols; // fits: checked above
        let c = cols.max(1);
        for (xr, yr) in x[..n].chunks_exact(c).zip(y[..n].chunks_exact_mut(c)) {
            rowwise::softmax(xr, yr);
        }
        Ok(())
    }

    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &Vec<E>,
        dy: &Vec<E>,
        dx: &mut Vec<E>,
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

    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &Vec<E>,
        labels: &Vec<E>,
        grad: &mut Vec<E>,
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
            let label = label.to_f64();
            if !(label >= 0.0 && label < classes as f64 && libm::trunc(label) == label) {
                return Err(Error::ClassOutOfRange {
                    row,
                    label,
                    classes,
                });
            }
            total += rowwise::cross_entropy(x, label as usize, scale, g);
        }
        Ok(total * scale)
    }

    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &Vec<E>,
        target: &Vec<E>,
        grad: &mut Vec<E>,
    ) -> Result<E> {
        checks::loss(len, pred.len(), target.len(), grad.len())?;
        if len == 0 {
            return Ok(E::ZERO);
        }
        Ok(kind.value_and_grad(&pred[..len], &target[..len], &mut grad[..len]))
    }

    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<E>,
        params: &mut Vec<E>,
        grads: &Vec<E>,
        velocity: Option<&mut Vec<E>>,
    ) -> Result<()> {
        let momentum = step.momentum != E::ZERO;
        let v_len = velocity.as_ref().map(|v| v.len());
        checks::sgd(len, params.len(), grads.len(), momentum, v_len)?;
        let velocity = velocity.filter(|_| momentum).map(|v| &mut v[..len]);
        step.apply(&mut params[..len], &grads[..len], velocity);
        Ok(())
    }

    fn adam(
        &self,
        len: usize,
        step: &AdamStep<E>,
        params: &mut Vec<E>,
        grads: &Vec<E>,
        m: &mut Vec<E>,
        v: &mut Vec<E>,
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

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
