//! [`Opaque`]: the CPU's primitives behind a device whose memory the trainer
//! may not read in place, so that the GPU's code path (checks counted on the
//! device, a snapshot restored on refusal, the default `linear_forward_fixed` and
//! `linear_backward_fixed`) runs and is tested on any machine.

#![allow(dead_code)] // each test binary uses the parts it needs
use forma::core::{AdamStep, Axis, BiasKind, Binary, LabelStore, Layout, SgdStep};
use forma::layers::{Bias, Heap, Resident};
use forma::prelude::*;

/// The CPU, seen as a device the host cannot address (`Device::host` is
/// `None`, its default). Its layers keep their parameters on the heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opaque;

impl LabelStore for Opaque {
    type Labels = Vec<usize>;
    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<Vec<usize>> {
        Cpu.upload_labels(labels, classes)
    }
    fn labels_len(labels: &Vec<usize>) -> usize {
        labels.len()
    }
}

impl<E: Float> Resident<E> for Opaque {
    type Storage = Heap;
    fn upload_mat<const R: usize, const C: usize>(
        &self,
        host: &[[E; C]; R],
    ) -> Result<<Heap as forma::layers::Storage<E>>::Mat<R, C>> {
        Cpu.upload_mat(host)
    }
    fn upload_bias<B: Bias, const O: usize>(
        &self,
        host: &B::Param<E, O>,
    ) -> Result<B::Param<E, O>> {
        <Cpu as Resident<E>>::upload_bias::<B, O>(&Cpu, host)
    }
}

impl<E: Float> Device<E> for Opaque {
    type Slice = [E];
    type Buffer = Vec<E>;
    fn name(&self) -> String {
        "opaque CPU".into()
    }
    fn alloc(&self, len: usize) -> Result<Vec<E>> {
        Cpu.alloc(len)
    }
    fn len(s: &[E]) -> usize {
        s.len()
    }
    /// Grow-only, as CUDA's: a buffer stays as long as it ever was, so the
    /// device path is tested with buffers longer than their tensors.
    fn resize(&self, b: &mut Vec<E>, len: usize) -> Result<()> {
        if len > b.len() {
            Cpu.resize(b, len)?;
        }
        Ok(())
    }
    fn write(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        Cpu.write(src, dst)
    }
    fn read(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        Cpu.read(src, dst)
    }
    fn fill(&self, len: usize, v: E, b: &mut [E]) -> Result<()> {
        Cpu.fill(len, v, b)
    }
    fn copy(&self, len: usize, s: &[E], d: &mut [E]) -> Result<()> {
        Cpu.copy(len, s, d)
    }
    fn matmul(
        &self,
        l: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &[E],
        b: &[E],
        c: &mut [E],
    ) -> Result<()> {
        Cpu.matmul(l, m, k, n, a, b, c)
    }
    fn linear_forward(
        &self,
        mkn: (usize, usize, usize),
        a: &[E],
        b: &[E],
        bias: Option<&[E]>,
        kind: BiasKind,
        act: Activation,
        c: &mut [E],
    ) -> Result<()> {
        Cpu.linear_forward(mkn, a, b, bias, kind, act, c)
    }
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
        Cpu.bias_act(rows, cols, x, bias, kind, act, y)
    }
    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &[E],
        y: &[E],
        dy: &[E],
        dx: &mut [E],
    ) -> Result<()> {
        Cpu.act_backward(len, act, x, y, dy, dx)
    }
    fn binary(&self, op: Binary, len: usize, a: &[E], b: &[E], out: &mut [E]) -> Result<()> {
        Cpu.binary(op, len, a, b, out)
    }
    fn axpby(&self, len: usize, alpha: E, x: &[E], beta: E, y: &mut [E]) -> Result<()> {
        Cpu.axpby(len, alpha, x, beta, y)
    }
    fn sum_axis(&self, rows: usize, cols: usize, x: &[E], axis: Axis, out: &mut [E]) -> Result<()> {
        Cpu.sum_axis(rows, cols, x, axis, out)
    }
    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &[E],
        kind: BiasKind,
        out: &mut [E],
    ) -> Result<()> {
        Cpu.bias_grad(rows, cols, dy, kind, out)
    }
    fn softmax(&self, rows: usize, cols: usize, x: &[E], y: &mut [E]) -> Result<()> {
        Cpu.softmax(rows, cols, x, y)
    }
    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &[E],
        dy: &[E],
        dx: &mut [E],
    ) -> Result<()> {
        Cpu.softmax_backward(rows, cols, y, dy, dx)
    }
    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        logits: &[E],
        labels: &Vec<usize>,
        grad: &mut [E],
    ) -> Result<E> {
        Cpu.cross_entropy(rows, classes, logits, labels, grad)
    }
    fn loss(
        &self,
        kind: LossKind,
        len: usize,
        pred: &[E],
        target: &[E],
        grad: &mut [E],
    ) -> Result<E> {
        Cpu.loss(kind, len, pred, target, grad)
    }
    fn sgd(
        &self,
        len: usize,
        step: &SgdStep<E>,
        p: &mut [E],
        g: &[E],
        v: Option<&mut [E]>,
    ) -> Result<()> {
        Cpu.sgd(len, step, p, g, v)
    }
    fn adam(
        &self,
        len: usize,
        step: &AdamStep<E>,
        p: &mut [E],
        g: &[E],
        m: &mut [E],
        v: &mut [E],
    ) -> Result<()> {
        Cpu.adam(len, step, p, g, m, v)
    }
    fn count_nonfinite(&self, len: usize, x: &[E], counts: &mut [E], slot: usize) -> Result<()> {
        Cpu.count_nonfinite(len, x, counts, slot)
    }
    fn synchronize(&self) -> Result<()> {
        Device::<E>::synchronize(&Cpu)
    }
}
