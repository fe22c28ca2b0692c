//! Which device primitives a training step uses: a counting wrapper around
//! the [`Cpu`] device shows that a `Linear` followed by an activation runs as
//! one fused `linear_forward` (product, bias and activation in one pass),
//! that on a device that fuses input derivatives an activation followed by
//! a `Linear` runs no backward pass of its own (the `Linear` carries its
//! input gradient through it), bit for bit as when it does, and that a
//! leaky ReLU with a negative slope, whose derivative needs its input, is
//! not fused either way.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use forma::core::{AdamStep, Axis, BiasKind, Binary, Layout, SgdStep};
use forma::prelude::*;

/// How [`Counting`] runs a `Linear`'s backward (`linear_backward_fixed`).
/// The trait's default steps, through the counted primitives.
const DEFAULT: u8 = 0;
/// The Cpu's, without carrying an input gradient through an activation
/// (`FUSES_INPUT_DERIVATIVE` false): the activation runs its own pass.
const CPU_PLAIN: u8 = 1;
/// The Cpu's, carrying it through (`FUSES_INPUT_DERIVATIVE` true).
const CPU_FUSED: u8 = 2;

/// The Cpu device, counting each primitive it is asked for; `MODE` says
/// how it runs a `Linear`'s backward.
#[derive(Clone, Default)]
struct Counting<const MODE: u8 = DEFAULT> {
    calls: Rc<RefCell<BTreeMap<&'static str, usize>>>,
}

impl<const MODE: u8> Counting<MODE> {
    fn count(&self, what: &'static str) {
        *self.calls.borrow_mut().entry(what).or_default() += 1;
    }
    fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }
}

type Buf = [f32];

impl<const MODE: u8> forma::core::LabelStore for Counting<MODE> {
    type Labels = Vec<usize>;
    fn upload_labels(&self, labels: &[usize], classes: usize) -> Result<Vec<usize>> {
        Cpu.upload_labels(labels, classes)
    }
    fn labels_len(labels: &Vec<usize>) -> usize {
        labels.len()
    }
}

impl<const MODE: u8> Device<f32> for Counting<MODE> {
    type Slice = [f32];
    type Buffer = Vec<f32>;
    const FUSES_INPUT_DERIVATIVE: bool = MODE == CPU_FUSED;
    fn linear_backward_fixed<const K: usize, const N: usize>(
        &self,
        m: usize,
        x: &Buf,
        w: &Buf,
        dy: &Buf,
        (gw, gb): (&mut Buf, &mut Buf),
        kind: BiasKind,
        dx: Option<&mut Buf>,
        x_act: Activation,
    ) -> Result<Option<f32>> {
        self.count("linear_backward");
        if MODE == CPU_PLAIN {
            assert_eq!(x_act, Activation::Identity, "asked of a device without");
        }
        if MODE != DEFAULT {
            return Cpu.linear_backward_fixed::<K, N>(m, x, w, dy, (gw, gb), kind, dx, x_act);
        }
        assert_eq!(x_act, Activation::Identity, "asked of a device without");
        self.matmul(Layout::Tn, N, m, K, dy, x, gw)?;
        self.bias_grad(m, N, dy, kind, gb)?;
        if let Some(dx) = dx {
            self.matmul(Layout::Nn, m, N, K, dy, w, dx)?;
        }
        Ok(None)
    }
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

fn step_calls<M, const MODE: u8>(net: M) -> BTreeMap<&'static str, usize>
where
    M: Module<f32, Const<3>, Counting<MODE>, Out = Const<1>>,
{
    let dev = Counting::<MODE>::default();
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
    let calls = step_calls::<_, DEFAULT>(net);
    let want: BTreeMap<_, _> = [
        ("linear_forward", 2), // each Linear with its activation: no separate bias_act
        ("loss", 1),
        ("linear_backward", 2),
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
    let calls = step_calls::<_, CPU_FUSED>(net);
    assert_eq!(calls.get("linear_forward"), Some(&2));
    assert_eq!(
        calls.get("bias_act"),
        Some(&1),
        "the leaky ReLU runs on its own: {calls:?}"
    );
    assert_eq!(
        calls.get("act_backward"),
        Some(&1),
        "and so does its backward: {calls:?}"
    );
}

#[test]
fn an_activation_then_a_linear_has_no_backward_pass_of_its_own_where_the_device_fuses() {
    let net = seq!(
        Linear::<3, 4>::initialize(&mut rng(1)),
        Sigmoid,
        Linear::<4, 1>::initialize(&mut rng(2)),
        ReLU
    );
    let calls = step_calls::<_, CPU_FUSED>(net);
    let want: BTreeMap<_, _> = [
        ("linear_forward", 2),
        ("loss", 1),
        ("linear_backward", 2), // the second carries its input gradient through the Sigmoid
        ("act_backward", 1),    // the last ReLU's, which no Linear follows
        ("sgd", 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(calls, want);
}

/// Every parameter of a trained model, as bits.
fn bits<M: forma::layers::Params<f32, [f32]>>(model: &M) -> Vec<u32> {
    let mut out = Vec::new();
    model.visit(&mut |p: &[f32]| out.extend(p.iter().map(|v| v.to_bits())));
    out
}

/// Trains `net` for a few steps on the Cpu carrying input gradients
/// through activations and on the Cpu not doing so, and returns both
/// models' parameters.
fn trained_both_ways<M, const I: usize>(net: M) -> (Vec<u32>, Vec<u32>)
where
    M: Clone
        + Module<f32, Const<I>, Counting<CPU_FUSED>, Out = Const<2>>
        + Module<f32, Const<I>, Counting<CPU_PLAIN>, Out = Const<2>>
        + forma::layers::Params<f32, [f32]>,
{
    let rows = 7;
    let x: Vec<f32> = (0..rows * I)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    let y: Vec<f32> = (0..rows * 2).map(|i| ((i * 11 % 5) as f32) / 4.0).collect();
    let (x, y) = (
        Batch::<f32, I>::from_flat(&x).unwrap(),
        Batch::<f32, 2>::from_flat(&y).unwrap(),
    );
    fn train<M, D, const I: usize>(dev: D, net: M, x: &Batch<f32, I>, y: &Batch<f32, 2>) -> M
    where
        D: Device<f32, Slice = [f32]> + Clone,
        M: Module<f32, Const<I>, D, Out = Const<2>> + forma::layers::Params<f32, [f32]>,
    {
        let (x, y) = (
            Tensor::upload(&dev, x).unwrap(),
            Tensor::upload(&dev, y).unwrap(),
        );
        let mut trainer = Trainer::on(dev, net, Mse, Sgd::new(0.3).unwrap());
        for _ in 0..5 {
            trainer.step(&x, &y).unwrap();
        }
        trainer.into_model()
    }
    let fused = train(Counting::<CPU_FUSED>::default(), net.clone(), &x, &y);
    let plain = train(Counting::<CPU_PLAIN>::default(), net, &x, &y);
    (bits(&fused), bits(&plain))
}

/// Panics at the first parameter whose bits differ, naming it.
fn same_bits(fused: &[u32], plain: &[u32], what: &str) {
    assert_eq!(fused.len(), plain.len(), "{what}: parameter count");
    if let Some(i) = (0..fused.len()).find(|&i| fused[i] != plain[i]) {
        panic!(
            "{what}: parameter {i} of {}: fused {} against {}",
            fused.len(),
            f32::from_bits(fused[i]),
            f32::from_bits(plain[i])
        );
    }
}

#[test]
fn carrying_the_gradient_through_an_activation_changes_no_bit() {
    // Unrolled widths (weights of 3x4 and 16x2, whose input gradients are
    // broadcast rows, and 4x16, a dot product per input) and packed ones
    // (40x30, above the unrolled kernels' 512 elements, where the
    // derivative is a pass after the product), after each activation
    // that fuses.
    macro_rules! both {
        ($act:expr) => {{
            let small = seq!(
                Linear::<3, 4>::initialize(&mut rng(1)),
                $act,
                Linear::<4, 16>::initialize(&mut rng(2)),
                $act,
                Linear::<16, 2>::initialize(&mut rng(3))
            );
            let (fused, plain) = trained_both_ways::<_, 3>(small);
            same_bits(&fused, &plain, &format!("unrolled, {:?}", $act));
            let large = seq!(
                Linear::<9, 40>::initialize(&mut rng(4)),
                $act,
                Linear::<40, 30>::initialize(&mut rng(5)),
                $act,
                Linear::<30, 2>::initialize(&mut rng(6))
            );
            let (fused, plain) = trained_both_ways::<_, 9>(large);
            same_bits(&fused, &plain, &format!("packed, {:?}", $act));
            // The activation first: it has no input gradient to pass back.
            let first = seq!($act, Linear::<3, 2>::initialize(&mut rng(7)));
            let (fused, plain) = trained_both_ways::<_, 3>(first);
            same_bits(&fused, &plain, &format!("first, {:?}", $act));
            // Nested to the left, where the activation ends the inner pair
            // and keeps its own pass (see `Module::backward_then`).
            let left = chain(
                chain(Linear::<3, 5>::initialize(&mut rng(8)), $act),
                Linear::<5, 2>::initialize(&mut rng(9)),
            );
            let (fused, plain) = trained_both_ways::<_, 3>(left);
            same_bits(&fused, &plain, &format!("left-nested, {:?}", $act));
        }};
    }
    both!(Sigmoid);
    both!(ReLU);
    both!(Tanh);
    both!(LeakyReLU::new(0.1).unwrap());
    both!(LeakyReLU::new(-0.0).unwrap());
    both!(Identity);
}

#[test]
fn a_left_nested_activation_runs_its_own_backward() {
    let net = chain(
        chain(Linear::<3, 4>::initialize(&mut rng(1)), Sigmoid),
        Linear::<4, 1>::initialize(&mut rng(2)),
    );
    let calls = step_calls::<_, CPU_FUSED>(net);
    assert_eq!(calls.get("act_backward"), Some(&1), "{calls:?}");
    let net = seq!(
        Linear::<3, 4>::initialize(&mut rng(1)),
        Sigmoid,
        Linear::<4, 1>::initialize(&mut rng(2))
    );
    let calls = step_calls::<_, CPU_FUSED>(net);
    assert_eq!(calls.get("act_backward"), None, "{calls:?}");
}

#[test]
fn the_cpu_refuses_an_input_derivative_that_needs_its_input() {
    let (x, w, dy) = ([0.5f32; 6], [0.25f32; 6], [1.0f32; 6]);
    let (mut gw, mut gb, mut dx) = ([0.0f32; 6], [0.0f32; 3], [0.0f32; 6]);
    let err = Cpu
        .linear_backward_fixed::<2, 3>(
            2,
            &x,
            &w,
            &dy,
            (&mut gw, &mut gb),
            BiasKind::PerColumn,
            Some(&mut dx),
            Activation::LeakyReLU { slope: -0.2 },
        )
        .unwrap_err();
    assert!(err.to_string().contains("needs its input"), "{err}");
    assert_eq!(dx, [0.0; 6], "nothing written");
}
