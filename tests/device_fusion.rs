//! Which device primitives a training step uses: a counting wrapper around
//! the [`Cpu`] device shows that a `Linear` followed by an activation runs as
//! one fused `linear_forward` (product, bias and activation in one pass), and
//! that a leaky ReLU with a negative slope, whose derivative needs its input,
//! is not fused.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use forma::core::{AdamStep, Axis, BiasKind, Binary, Layout, SgdStep};
use forma::prelude::*;

/// The Cpu device, counting each primitive it is asked for.
#[derive(Clone, Default)]
struct Counting {
    calls: Rc<RefCell<BTreeMap<&'static str, usize>>>,
}

impl Counting {
    fn count(&self, what: &'static str) {
        *self.calls.borrow_mut().entry(what).or_default() += 1;
    }
    fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }
}

type Buf = [f32];

impl forma::core::LabelStore for Counting {
    type Labels = Vec<usize>;
    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<Vec<usize>> {
        Cpu.upload_labels(labels, classes)
    }
    fn labels_len(labels: &Vec<usize>) -> usize {
        labels.len()
    }
}

impl Device<f32> for Counting {
    type Slice = [f32];
    type Buffer = Vec<f32>;
    fn name(&self) -> String {
        "counting CPU".into()
    }
    fn alloc(&self, len: usize) -> Result<Vec<f32>> {
        Cpu.alloc(len)
    }
    fn len(b: &Buf) -> usize {
        b.len()
    }
    fn resize(&self, b: &mut Vec<f32>, len: usize) -> Result<()> {
        Cpu.resize(b, len)
    }
    fn write(&self, src: &[f32], dst: &mut Buf) -> Result<()> {
        Cpu.write(src, dst)
    }
    fn read(&self, src: &Buf, dst: &mut [f32]) -> Result<()> {
        Cpu.read(src, dst)
    }
    fn fill(&self, len: usize, v: f32, b: &mut Buf) -> Result<()> {
        self.count("fill");
        Cpu.fill(len, v, b)
    }
    fn copy(&self, len: usize, s: &Buf, d: &mut Buf) -> Result<()> {
        self.count("copy");
        Cpu.copy(len, s, d)
    }
    fn matmul(
        &self,
        l: Layout,
        m: usize,
        k: usize,
        n: usize,
        a: &Buf,
        b: &Buf,
        c: &mut Buf,
    ) -> Result<()> {
        self.count("matmul");
        Cpu.matmul(l, m, k, n, a, b, c)
    }
    fn linear_forward(
        &self,
        mkn: (usize, usize, usize),
        a: &Buf,
        b: &Buf,
        bias: Option<&Buf>,
        kind: BiasKind,
        act: Activation,
        c: &mut Buf,
    ) -> Result<()> {
        self.count("linear_forward");
        Cpu.linear_forward(mkn, a, b, bias, kind, act, c)
    }
    fn bias_act(
        &self,
        rows: usize,
        cols: usize,
        x: Option<&Buf>,
        bias: Option<&Buf>,
        kind: BiasKind,
        act: Activation,
        y: &mut Buf,
    ) -> Result<()> {
        self.count("bias_act");
        Cpu.bias_act(rows, cols, x, bias, kind, act, y)
    }
    fn act_backward(
        &self,
        len: usize,
        act: Activation,
        x: &Buf,
        y: &Buf,
        dy: &Buf,
        dx: &mut Buf,
    ) -> Result<()> {
        self.count("act_backward");
        Cpu.act_backward(len, act, x, y, dy, dx)
    }
    fn bias_grad(
        &self,
        rows: usize,
        cols: usize,
        dy: &Buf,
        kind: BiasKind,
        out: &mut Buf,
    ) -> Result<()> {
        self.count("bias_grad");
        Cpu.bias_grad(rows, cols, dy, kind, out)
    }
    fn softmax(&self, rows: usize, cols: usize, x: &Buf, y: &mut Buf) -> Result<()> {
        self.count("softmax");
        Cpu.softmax(rows, cols, x, y)
    }
    fn softmax_backward(
        &self,
        rows: usize,
        cols: usize,
        y: &Buf,
        dy: &Buf,
        dx: &mut Buf,
    ) -> Result<()> {
        self.count("softmax_backward");
        Cpu.softmax_backward(rows, cols, y, dy, dx)
    }
    fn cross_entropy(
        &self,
        rows: usize,
        classes: usize,
        x: &Buf,
        l: &Vec<usize>,
        g: &mut Buf,
    ) -> Result<f32> {
        self.count("cross_entropy");
        Cpu.cross_entropy(rows, classes, x, l, g)
    }
    fn loss(&self, kind: LossKind, len: usize, p: &Buf, t: &Buf, g: &mut Buf) -> Result<f32> {
        self.count("loss");
        Cpu.loss(kind, len, p, t, g)
    }
    fn sgd(
        &self,
        len: usize,
        s: &SgdStep<f32>,
        p: &mut Buf,
        g: &Buf,
        v: Option<&mut Buf>,
    ) -> Result<()> {
        self.count("sgd");
        Cpu.sgd(len, s, p, g, v)
    }
    fn adam(
        &self,
        len: usize,
        s: &AdamStep<f32>,
        p: &mut Buf,
        g: &Buf,
        m: &mut Buf,
        v: &mut Buf,
    ) -> Result<()> {
        self.count("adam");
        Cpu.adam(len, s, p, g, m, v)
    }
    fn binary(&self, op: Binary, len: usize, a: &Buf, b: &Buf, out: &mut Buf) -> Result<()> {
        self.count("binary");
        Cpu.binary(op, len, a, b, out)
    }
    fn axpby(&self, len: usize, alpha: f32, x: &Buf, beta: f32, y: &mut Buf) -> Result<()> {
        self.count("axpby");
        Cpu.axpby(len, alpha, x, beta, y)
    }
    fn sum_axis(&self, rows: usize, cols: usize, x: &Buf, axis: Axis, out: &mut Buf) -> Result<()> {
        self.count("sum_axis");
        Cpu.sum_axis(rows, cols, x, axis, out)
    }
    fn count_nonfinite(&self, len: usize, x: &Buf, counts: &mut Buf, slot: usize) -> Result<()> {
        self.count("count_nonfinite");
        Cpu.count_nonfinite(len, x, counts, slot)
    }
    fn synchronize(&self) -> Result<()> {
        Device::<f32>::synchronize(&Cpu)
    }
}

fn step_calls<M>(net: M) -> BTreeMap<&'static str, usize>
where
    M: Module<f32, Const<3>, Counting, Out = Const<1>>,
{
    let dev = Counting::default();
    let x = Tensor::upload(&dev, &Batch::<f32, 3>::from_flat(&[0.5; 12]).unwrap()).unwrap();
    let y = Tensor::upload(&dev, &Batch::<f32, 1>::from_flat(&[1.0; 4]).unwrap()).unwrap();
    // Checks off: this counts the step's compute calls (the checks add
    // fills, counts, copies and reads, tested in tests/checked_steps.rs).
    let mut trainer = Trainer::on(dev.clone(), net, Mse, Sgd::new(0.1).unwrap()).with_checks(false);
    dev.take();
    trainer.step(&x, &y).unwrap();
    dev.take()
}

#[test]
fn linear_then_activation_is_one_fused_forward() {
    let net = seq!(
        Linear::<3, 4>::initialize(&mut rng(1)),
        Sigmoid,
        Linear::<4, 1>::initialize(&mut rng(2)),
        ReLU
    );
    let calls = step_calls(net);
    let want: BTreeMap<_, _> = [
        ("linear_forward", 2), // each Linear with its activation: no separate bias_act
        ("loss", 1),
        ("act_backward", 2),
        ("matmul", 3), // two weight gradients, one input gradient
        ("bias_grad", 2),
        ("sgd", 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(calls, want);
}

#[test]
fn an_activation_that_needs_its_input_is_not_fused() {
    let net = seq!(
        Linear::<3, 4>::initialize(&mut rng(1)),
        LeakyReLU::new(-0.2).unwrap(),
        Linear::<4, 1>::initialize(&mut rng(2))
    );
    let calls = step_calls(net);
    assert_eq!(calls.get("linear_forward"), Some(&2));
    assert_eq!(
        calls.get("bias_act"),
        Some(&1),
        "the leaky ReLU runs on its own: {calls:?}"
    );
}
