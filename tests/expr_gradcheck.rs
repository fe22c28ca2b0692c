//! Gradient checks of `forma::expr` in f64: the gradients of expressions
//! against central finite differences.
//!
//! An expression's structure is its type, so "random expressions" are a family
//! of templates (trees and DAGs that reuse variables and subexpressions by
//! copying them), each a function generic over the shape `Mat<R, C>` and
//! instantiated at `Mat<1, 3>`, `Mat<2, 2>`, `Mat<3, 1>` and `Mat<4, 5>`, with
//! every variable and constant drawn by proptest. Together the templates use
//! every node kind:
//!
//! * `+ - * /` between equal shapes, with a `Scalar` variable on either side,
//!   with a plain number on either side, and between two scalars;
//! * `-x`, `powi` (positive, zero and negative exponents), `exp`, `ln` (of
//!   positive inputs only), `sigmoid`, `tanh`, `relu` (inputs at least 1e-3
//!   away from the kink);
//! * `matmul`, `sum`, `mean`, `sum_rows`, `sum_cols`, `broadcast` of a scalar
//!   and `broadcast_rows` of a row.
//!
//! A matrix-valued expression becomes the scalar objective `L = Σ r ⊙ e` with
//! a random constant `r`, either inside the expression (`(e * r).sum()` and
//! `grad`) or outside it (`vjp` with upstream `r`). The gradient with respect
//! to every element of every variable is compared with
//! `(L(p+h) - L(p-h)) / ((p+h) - (p-h))`, `h = 1e-6`; analytic `g` and numeric
//! `fd` must agree within `max(RTOL·max(|g|, |fd|), ATOL·max(1, |L|))` with
//! `RTOL = 1e-6`, `ATOL = 1e-8` (as in `tests/gradcheck.rs`): a wrong sign, a
//! missing factor or a transposed index is off by far more.
//!
//! The last tests take expressions into forma's training API: `RowLoss`
//! against the built-in squared losses, and `RowFn` as a layer between two
//! `Linear`s trained by a `Trainer`.
//!
//! `PROPTEST_CASES` sets the number of cases per template and shape (default
//! [`CASES`]).

use forma::expr::*;
use proptest::prelude::{BoxedStrategy, Strategy, prop};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The finite-difference step.
const H: f64 = 1e-6;
/// Relative tolerance.
const RTOL: f64 = 1e-6;
/// Absolute floor of the tolerance (times `max(1, |L|)`).
const ATOL: f64 = 1e-8;
/// Cases per template and shape.
const CASES: u32 = 32;

// ---------------------------------------------------------------------------
// The checker.
// ---------------------------------------------------------------------------

/// Where a variable's elements are drawn from.
#[derive(Clone, Copy, Debug)]
enum Dom {
    /// Uniform in `[-1, 1)`.
    Any,
    /// `±[0.1, 2)`: kept away from zero (relu kinks, `powi(0)` and `powi(-n)`).
    NonZero,
    /// `[0.5, 2.5)`: `ln` and denominators.
    Pos,
}

impl Dom {
    fn strategy(self) -> BoxedStrategy<f64> {
        match self {
            Dom::Any => (-1.0..1.0f64).boxed(),
            Dom::NonZero => (prop::bool::ANY, 0.1..2.0f64)
                .prop_map(|(neg, m)| if neg { -m } else { m })
                .boxed(),
            Dom::Pos => (0.5..2.5f64).boxed(),
        }
    }
}

/// Reads variables and constants, in order, from a flat list of numbers.
struct Rd<'a>(&'a [f64]);

impl Rd<'_> {
    fn s(&mut self) -> f64 {
        let (&v, rest) = self.0.split_first().expect("too few numbers drawn");
        self.0 = rest;
        v
    }
    fn m<const R: usize, const C: usize>(&mut self) -> [[f64; C]; R] {
        let mut m = [[0.0; C]; R];
        for v in m.as_flattened_mut() {
            *v = self.s();
        }
        m
    }
}

/// Gradients (a scalar, a matrix, or a tuple of them) as one flat list.
trait Flat {
    fn push_to(&self, out: &mut Vec<f64>);
}

impl Flat for f64 {
    fn push_to(&self, out: &mut Vec<f64>) {
        out.push(*self);
    }
}

impl<const R: usize, const C: usize> Flat for [[f64; C]; R] {
    fn push_to(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(self.as_flattened());
    }
}

macro_rules! flat_tuple {
    ($($T:ident $i:tt),+) => {
        impl<$($T: Flat),+> Flat for ($($T,)+) {
            fn push_to(&self, out: &mut Vec<f64>) {
                $(self.$i.push_to(out);)+
            }
        }
    };
}
flat_tuple!(A 0);
flat_tuple!(A 0, B 1);
flat_tuple!(A 0, B 1, C 2);
flat_tuple!(A 0, B 1, C 2, D 3);
flat_tuple!(A 0, B 1, C 2, D 3, F 4);
flat_tuple!(A 0, B 1, C 2, D 3, F 4, G 5);

fn flat(g: impl Flat) -> Vec<f64> {
    let mut v = Vec::new();
    g.push_to(&mut v);
    v
}

/// `Σ a ⊙ b` of two matrices.
fn dot<const R: usize, const C: usize>(a: &[[f64; C]; R], b: &[[f64; C]; R]) -> f64 {
    a.as_flattened()
        .iter()
        .zip(b.as_flattened())
        .map(|(x, y)| x * y)
        .sum()
}

/// A template at one shape: `(variables, constants) -> (L, dL/d variables)`,
/// the variables and their gradients flat, in declaration order.
type Eval = fn(&[f64], &[f64]) -> (f64, Vec<f64>);

/// One template of the family, generic over the shape `Mat<R, C>`.
trait Template {
    const NAME: &'static str;
    /// The variables at shape `r x c`: name, domain, element count.
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)>;
    /// The number of constants (weights, upstreams, data), drawn in `[-1, 1)`.
    fn consts(r: usize, c: usize) -> usize;
    /// The objective and its gradient with respect to every variable.
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES)
}

/// Compares the analytic gradient of `f` at `p` with central differences,
/// perturbing every element of every variable.
fn check(
    what: &str,
    vars: &[(&'static str, Dom, usize)],
    p: &[f64],
    w: &[f64],
    f: Eval,
) -> Result<(), TestCaseError> {
    let (value, grad) = f(p, w);
    if grad.len() != p.len() {
        return Err(TestCaseError::fail(format!(
            "{what}: {} gradient entries for {} variable elements",
            grad.len(),
            p.len()
        )));
    }
    let names = vars
        .iter()
        .flat_map(|&(name, _, n)| (0..n).map(move |j| format!("{name}[{j}]")));
    let scale = value.abs().max(1.0);
    let mut q = p.to_vec();
    for ((i, name), &g) in names.enumerate().zip(&grad) {
        q[i] = p[i] + H;
        let (up, lp) = (q[i], f(&q, w).0);
        q[i] = p[i] - H;
        let (dn, lm) = (q[i], f(&q, w).0);
        q[i] = p[i];
        let fd = (lp - lm) / (up - dn);
        let tol = (RTOL * g.abs().max(fd.abs())).max(ATOL * scale);
        let err = (g - fd).abs();
        if !(g.is_finite() && fd.is_finite() && value.is_finite()) || err > tol {
            return Err(TestCaseError::fail(format!(
                "{what}: d/d{name}: analytic {g:e}, finite difference {fd:e}, \
                 |diff| {err:e} > tol {tol:e} (L = {value:e})\n  variables {p:?}\n  constants {w:?}"
            )));
        }
    }
    Ok(())
}

/// Runs template `T` at shape `Mat<R, C>` on proptest-drawn values.
fn run<T: Template, const R: usize, const C: usize>() {
    let what = format!("{} at Mat<{R}, {C}>", T::NAME);
    let vars = T::vars(R, C);
    let p: Vec<BoxedStrategy<f64>> = vars
        .iter()
        .flat_map(|&(_, d, n)| std::iter::repeat_n(d.strategy(), n))
        .collect();
    let w = prop::collection::vec(-1.0..1.0f64, T::consts(R, C));
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let f: Eval = T::eval::<R, C>;
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&(p, w), |(p, w)| check(&what, &vars, &p, &w, f)) {
        panic!("{what}: {e}");
    }
}

/// Every template at the four shapes.
fn at_shapes<T: Template>() {
    run::<T, 1, 3>();
    run::<T, 2, 2>();
    run::<T, 3, 1>();
    run::<T, 4, 5>();
}

// ---------------------------------------------------------------------------
// The templates.
// ---------------------------------------------------------------------------

/// `+ - * /` between equal shapes; `x`, `y`, `z` each used several times.
struct SameShape;
impl Template for SameShape {
    const NAME: &'static str = "same-shape + - * /";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("y", Dom::Any, r * c),
            ("z", Dom::Pos, r * c),
        ]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let z = var::<2, Mat<R, C>, f64>(rd.m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        let e = ((x + y) * (x - y) + x / z) - y * z + (x + z) / (y * y + z);
        let out = (e * r).sum();
        (out.value(), flat(out.grad((x, y, z)).unwrap()))
    }
}

/// A `Scalar` variable on either side of each of `+ - * /` with a matrix (vjp).
struct ScalarVarBothSides;
impl Template for ScalarVarBothSides {
    const NAME: &'static str = "scalar variable on either side";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("s", Dom::NonZero, 1),
            ("t", Dom::Pos, 1),
        ]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let s = var::<1, Scalar, f64>(rd.s());
        let t = var::<2, Scalar, f64>(rd.s());
        let u: [[f64; C]; R] = Rd(w).m();
        // Left: s + x, s * x, s - x, t / M. Right: x - s, M / t, x + t, x * t.
        let e = (s + x) * (x - s) + (s * x) / t - (s - x) * (x + t) + t / (x * x + 0.5) + x * t;
        let (v, g) = e.vjp(&u, (x, s, t)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// A plain number on either side of each of `+ - * /` with a matrix.
struct LiteralBothSides;
impl Template for LiteralBothSides {
    const NAME: &'static str = "number literal on either side";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let x = var::<0, Mat<R, C>, f64>(Rd(p).m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        // Left: 2 + x, 3 * x, 0.5 - x, 1 / M. Right: x - 1.5, M / 4, x * -2, M + 1.
        let e =
            (2.0 + x) * (x - 1.5) + 3.0 * x / 4.0 - (0.5 - x) * (x * -2.0) + 1.0 / (x * x + 1.0);
        let out = (e * r).sum();
        (out.value(), flat(out.grad(x).unwrap()))
    }
}

/// Scalar-with-scalar arithmetic (variables, literals, reductions) and unary
/// functions of scalars; the gradient by `vjp` with a random scalar upstream.
struct ScalarArithmetic;
impl Template for ScalarArithmetic {
    const NAME: &'static str = "scalar arithmetic";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("a", Dom::NonZero, 1),
            ("b", Dom::Pos, 1),
        ]
    }
    fn consts(_r: usize, _c: usize) -> usize {
        1
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let a = var::<1, Scalar, f64>(rd.s());
        let b = var::<2, Scalar, f64>(rd.s());
        let u = w[0];
        let m = x.mean() * a + b;
        let v = (a - b) / (b * b + 0.5) - 2.0 / b + (1.0 - a) * 3.0;
        let out = m.tanh() * v + (-a).exp() / b + b.ln() - a.powi(3)
            + (m - v).sigmoid()
            + (a * a + 0.01).relu()
            - (x.sum() - b).powi(2) / 8.0;
        let (value, g) = out.vjp(&u, (x, a, b)).unwrap();
        (value * u, flat(g))
    }
}

/// Chains of `-x`, `sigmoid`, `tanh` and `exp`.
struct UnaryChain;
impl Template for UnaryChain {
    const NAME: &'static str = "unary chain";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c), ("y", Dom::Any, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        let e = (-x).sigmoid() * x.tanh() + (x * 0.5).exp() - (-y)
            + (-(x * y).tanh()).exp().sigmoid()
            - (-(-y.sigmoid())).tanh();
        let out = (e * r).sum();
        (out.value(), flat(out.grad((x, y)).unwrap()))
    }
}

/// `ln` of positive inputs (a variable, sums of squares, a sigmoid, `exp + y`).
struct Logs;
impl Template for Logs {
    const NAME: &'static str = "ln";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c), ("y", Dom::Pos, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let u: [[f64; C]; R] = Rd(w).m();
        let e =
            y.ln() * x + (y * y + x * x).ln() / (y + 1.0) + x.sigmoid().ln() + (x.exp() + y).ln();
        let (v, g) = e.vjp(&u, (x, y)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// `powi` with exponents 4, 3, 2, 1, 0, -1, -2, -3.
struct Powers;
impl Template for Powers {
    const NAME: &'static str = "powi";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::NonZero, r * c), ("y", Dom::Pos, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        let e = x.powi(3) - x.powi(2) * y.powi(-1)
            + y.powi(-2)
            + (x * y).powi(0) * 2.0
            + x.powi(1) * y
            + y.powi(-3) * x
            + x.powi(4) * 0.1
            + x.powi(0) * y
            + x.powi(-1) * 0.1
            + (x + y).powi(2).powi(2) * 0.01;
        let out = (e * r).sum();
        (out.value(), flat(out.grad((x, y)).unwrap()))
    }
}

/// `relu` on both sides of its kink, each input at least 1e-3 from it.
struct Relus;
impl Template for Relus {
    const NAME: &'static str = "relu";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::NonZero, r * c), ("s", Dom::NonZero, 1)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let s = var::<1, Scalar, f64>(rd.s());
        let u: [[f64; C]; R] = Rd(w).m();
        // |x| >= 0.1 and |s| >= 0.1, so |x·s| >= 0.01 and |tanh x| > 0.099.
        let e = x.relu() * 2.0 + (x * s).relu() - (-x).relu() * x
            + x.tanh().relu() * s
            + (x + 3.0).relu()
            + (x - 3.0).relu() * s;
        let (v, g) = e.vjp(&u, (x, s)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// `matmul` chains, with `w` on both sides of one product (`w · w`).
struct MatMuls;
impl Template for MatMuls {
    const NAME: &'static str = "matmul";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("w", Dom::Any, c * c),
            ("v", Dom::Any, c * r),
        ]
    }
    fn consts(r: usize, _c: usize) -> usize {
        r * r
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let wv = var::<1, Mat<C, C>, f64>(rd.m());
        let v = var::<2, Mat<C, R>, f64>(rd.m());
        let r = constant::<Mat<R, R>, f64>(Rd(w).m());
        let h = x.matmul(wv);
        let e =
            h.tanh().matmul(v) + h.matmul(wv).matmul(v) * 0.5 + x.matmul(wv.matmul(wv)).matmul(v);
        let out = (e * r).sum();
        (out.value(), flat(out.grad((x, wv, v)).unwrap()))
    }
}

/// A dense layer: `sigmoid(x·W + b)` with the row `b` broadcast by
/// `broadcast_rows`, scaled by a scalar.
struct Dense;
impl Template for Dense {
    const NAME: &'static str = "dense layer (broadcast_rows)";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("w", Dom::Any, c * c),
            ("b", Dom::Any, c),
            ("s", Dom::NonZero, 1),
        ]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let wv = var::<1, Mat<C, C>, f64>(rd.m());
        let b = var::<2, Mat<1, C>, f64>(rd.m());
        let s = var::<3, Scalar, f64>(rd.s());
        let u: [[f64; C]; R] = Rd(w).m();
        let bb = b.broadcast_rows::<R>();
        let e = (x.matmul(wv) + bb).sigmoid() * s + bb * x;
        let (v, g) = e.vjp(&u, (x, wv, b, s)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// `sum_rows`, `sum_cols`, `mean`, `sum` and their outer product.
struct Reductions;
impl Template for Reductions {
    const NAME: &'static str = "reductions";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c), ("y", Dom::Any, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        // (R x 1)·(1 x C): the outer product of row sums and column sums.
        let e = x.sum_cols().matmul(y.sum_rows())
            + x.sum_rows().broadcast_rows::<R>() * y
            + x.mean() * y
            - (x * y).sum()
            + y.sum_cols().matmul(x.sum_rows()).tanh()
            + (x.sum_cols().sum() - y.sum_rows().mean()) * 0.5;
        let out = (e * r).sum() + x.mean() * y.sum();
        (out.value(), flat(out.grad((x, y)).unwrap()))
    }
}

/// `broadcast` of scalar variables and scalar expressions to `Mat<R, C>` and `Mat<C, C>`.
struct BroadcastScalar;
impl Template for BroadcastScalar {
    const NAME: &'static str = "broadcast of a scalar";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("s", Dom::Any, 1),
            ("t", Dom::Pos, 1),
        ]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let s = var::<1, Scalar, f64>(rd.s());
        let t = var::<2, Scalar, f64>(rd.s());
        let u: [[f64; C]; R] = Rd(w).m();
        let e = s.broadcast::<Mat<R, C>>() * x
            + (s * t).broadcast::<Mat<R, C>>().exp()
            + (x.sum() + s).broadcast::<Mat<R, C>>() / (x * x + t.broadcast::<Mat<R, C>>())
            + x.matmul(t.broadcast::<Mat<C, C>>()) * 0.25;
        let (v, g) = e.vjp(&u, (x, s, t)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// Softmax over all elements and over each row: a subexpression (`e`) used
/// four times, a matrix divided by a scalar expression.
struct Softmax;
impl Template for Softmax {
    const NAME: &'static str = "softmax (shared subexpression)";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let x = var::<0, Mat<R, C>, f64>(Rd(p).m());
        let r = constant::<Mat<R, C>, f64>(Rd(w).m());
        let ones = constant::<Mat<1, C>, f64>([[1.0; C]]);
        let e = (x - x.mean()).exp();
        let total = e / e.sum();
        let rows = e / e.sum_cols().matmul(ones);
        let out = ((total * 3.0 + rows) * r).sum();
        (out.value(), flat(out.grad(x).unwrap()))
    }
}

/// A regression loss with an L2 penalty: data and targets constant, weights
/// and a shared scalar bias variable.
struct Regression;
impl Template for Regression {
    const NAME: &'static str = "regression loss";
    fn vars(_r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("w", Dom::Any, c), ("b", Dom::Any, 1)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c + r
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let wv = var::<0, Mat<C, 1>, f64>(rd.m());
        let b = var::<1, Scalar, f64>(rd.s());
        let mut cw = Rd(w);
        let x = constant::<Mat<R, C>, f64>(cw.m());
        let t = constant::<Mat<R, 1>, f64>(cw.m());
        let pred = x.matmul(wv) + b;
        let loss =
            ((pred - t).powi(2) * 0.5).mean() + wv.powi(2).sum() * 0.01 + (pred - t).mean().powi(2);
        (loss.value(), flat(loss.grad((wv, b)).unwrap()))
    }
}

/// A DAG of depth five in which every intermediate (`a`, `b`, `c`, `d`) is used
/// two to four times.
struct DeepDag;
impl Template for DeepDag {
    const NAME: &'static str = "deep DAG";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("x", Dom::Any, r * c), ("y", Dom::Any, r * c)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let y = var::<1, Mat<R, C>, f64>(rd.m());
        let u: [[f64; C]; R] = Rd(w).m();
        let a = x * y + x;
        let b = a.tanh();
        let c = b * b + a;
        let d = (c - b.sigmoid()) / (c.powi(2) + 1.0);
        let e = d * a + c.exp() * b - d.powi(2) + (d - y) * x;
        let (v, g) = e.vjp(&u, (x, y)).unwrap();
        (dot(&v, &u), flat(g))
    }
}

/// Binary cross-entropy of `sigmoid(k·p)` written with `ln`, `1 - q` and `mean`.
struct CrossEntropy;
impl Template for CrossEntropy {
    const NAME: &'static str = "binary cross-entropy";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("p", Dom::Any, r * c), ("k", Dom::Pos, 1)]
    }
    fn consts(r: usize, c: usize) -> usize {
        r * c
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let logits = var::<0, Mat<R, C>, f64>(rd.m());
        let k = var::<1, Scalar, f64>(rd.s());
        // Targets in [0, 1).
        let y = constant::<Mat<R, C>, f64>(Rd(w).m()) * 0.5 + 0.5;
        let q = (logits * k).sigmoid();
        let loss = -(y * q.ln() + (1.0 - y) * (1.0 - q).ln()).mean();
        (loss.value(), flat(loss.grad((logits, k)).unwrap()))
    }
}

/// Seed 000's two-layer sigmoid net generalised: six targets (the input, both
/// weights, scalar biases and a broadcast row bias).
struct TwoLayerNet;
impl Template for TwoLayerNet {
    const NAME: &'static str = "two-layer net, six targets";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![
            ("x", Dom::Any, r * c),
            ("w1", Dom::Any, c * c),
            ("b1", Dom::Any, 1),
            ("bb", Dom::Any, c),
            ("w2", Dom::Any, c),
            ("b2", Dom::Any, 1),
        ]
    }
    fn consts(r: usize, _c: usize) -> usize {
        r
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let x = var::<0, Mat<R, C>, f64>(rd.m());
        let w1 = var::<1, Mat<C, C>, f64>(rd.m());
        let b1 = var::<2, Scalar, f64>(rd.s());
        let bb = var::<3, Mat<1, C>, f64>(rd.m());
        let w2 = var::<4, Mat<C, 1>, f64>(rd.m());
        let b2 = var::<5, Scalar, f64>(rd.s());
        let t = constant::<Mat<R, 1>, f64>(Rd(w).m());
        let h = (x.matmul(w1) + b1 + bb.broadcast_rows::<R>()).sigmoid();
        let o = (h.matmul(w2) + b2).sigmoid();
        let loss = ((t - o).powi(2) * 0.5).sum();
        (
            loss.value(),
            flat(loss.grad((x, w1, b1, bb, w2, b2)).unwrap()),
        )
    }
}

#[test]
fn template_same_shape_arithmetic() {
    at_shapes::<SameShape>();
}

#[test]
fn template_scalar_variable_either_side() {
    at_shapes::<ScalarVarBothSides>();
}

#[test]
fn template_literal_either_side() {
    at_shapes::<LiteralBothSides>();
}

#[test]
fn template_scalar_arithmetic() {
    at_shapes::<ScalarArithmetic>();
}

#[test]
fn template_unary_chain() {
    at_shapes::<UnaryChain>();
}

#[test]
fn template_ln() {
    at_shapes::<Logs>();
}

#[test]
fn template_powi() {
    at_shapes::<Powers>();
}

#[test]
fn template_relu() {
    at_shapes::<Relus>();
}

#[test]
fn template_matmul() {
    at_shapes::<MatMuls>();
}

#[test]
fn template_dense_broadcast_rows() {
    at_shapes::<Dense>();
}

#[test]
fn template_reductions() {
    at_shapes::<Reductions>();
}

#[test]
fn template_broadcast_scalar() {
    at_shapes::<BroadcastScalar>();
}

#[test]
fn template_softmax() {
    at_shapes::<Softmax>();
}

#[test]
fn template_regression() {
    at_shapes::<Regression>();
}

#[test]
fn template_deep_dag() {
    at_shapes::<DeepDag>();
}

#[test]
fn template_cross_entropy() {
    at_shapes::<CrossEntropy>();
}

#[test]
fn template_two_layer_net() {
    at_shapes::<TwoLayerNet>();
}

/// [`SameShape`] at `Mat<2, 2>` with its gradient corrupted as `MODE` says.
fn corrupted<const MODE: usize>(p: &[f64], w: &[f64]) -> (f64, Vec<f64>) {
    let (value, mut g) = SameShape::eval::<2, 2>(p, w);
    match MODE {
        1 => g[0] = -g[0],       // a wrong sign
        2 => g[5] *= 2.0,        // a factor of 2
        3 => g.swap(1, 2),       // a transposed index
        4 => g[9] *= 1.0 + 1e-4, // a relative error of 1e-4
        5 => g[11] += 1e-6,      // an absolute error of 1e-6
        6 => g[3] = f64::NAN,    // not a number
        7 => g.truncate(11),     // a missing entry
        _ => {}
    }
    (value, g)
}

#[test]
fn the_checker_rejects_broken_gradients() {
    let vars = SameShape::vars(2, 2);
    let p = [
        0.3, -0.7, 0.9, 0.1, // x
        -0.4, 0.8, 0.2, -0.6, // y
        1.1, 0.7, 2.0, 1.4, // z
    ];
    let w = [0.5, -0.9, 0.3, 0.8];
    assert!(check("exact", &vars, &p, &w, corrupted::<0>).is_ok());
    let broken: [(&str, Eval); 7] = [
        ("sign", corrupted::<1>),
        ("factor", corrupted::<2>),
        ("transposed", corrupted::<3>),
        ("relative 1e-4", corrupted::<4>),
        ("absolute 1e-6", corrupted::<5>),
        ("NaN", corrupted::<6>),
        ("missing", corrupted::<7>),
    ];
    for (what, f) in broken {
        assert!(
            check(what, &vars, &p, &w, f).is_err(),
            "{what} was accepted"
        );
    }
}

// ---------------------------------------------------------------------------
// Shared variables and conflicting targets.
// ---------------------------------------------------------------------------

/// A variable used in several places (and built twice with the same id) gets
/// the sum of its gradients: against the hand-derived sum and finite differences.
struct Reuse;
impl Template for Reuse {
    const NAME: &'static str = "one variable in several places";
    fn vars(r: usize, c: usize) -> Vec<(&'static str, Dom, usize)> {
        vec![("a", Dom::Any, 1), ("x", Dom::Any, r * c)]
    }
    fn consts(_r: usize, _c: usize) -> usize {
        0
    }
    fn eval<const R: usize, const C: usize>(p: &[f64], _w: &[f64]) -> (f64, Vec<f64>) {
        let mut rd = Rd(p);
        let av = rd.s();
        let xv: [[f64; C]; R] = rd.m();
        let a = var::<0, Scalar, f64>(av);
        // A second leaf with the same id is the same variable.
        let a2 = var::<0, Scalar, f64>(av);
        let x = var::<1, Mat<R, C>, f64>(xv);
        let f = a * a + a.exp() + 3.0 * a2 + a / (a2 * a + 1.0);
        let g = (x * x).sum() + x.sum() * x.sum() + x.sum() * a;
        let out = f + g;
        // Targets may repeat a variable: each copy gets the whole sum.
        let (da, dx, da2) = out.grad((a, x, a2)).unwrap();
        let want_da = 2.0 * av
            + av.exp()
            + 3.0
            + (1.0 - av * av) / (av * av + 1.0).powi(2)
            + xv.as_flattened().iter().sum::<f64>();
        assert_eq!(da, da2, "two targets of one variable differ");
        assert!(
            (da - want_da).abs() <= 1e-12 * want_da.abs().max(1.0),
            "d/da: {da:e}, by hand {want_da:e}"
        );
        let sx: f64 = xv.as_flattened().iter().sum();
        for (got, &xi) in dx.as_flattened().iter().zip(xv.as_flattened()) {
            let want = 2.0 * xi + 2.0 * sx + av;
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "d/dx: {got:e}, by hand {want:e}"
            );
        }
        (out.value(), flat((da, dx)))
    }
}

#[test]
fn a_variable_used_several_times_gets_summed_gradients() {
    at_shapes::<Reuse>();
}

#[test]
fn targets_sharing_an_id_with_different_shapes_are_an_error() {
    let x = var::<0, Mat<2, 2>, f64>([[1.0, 2.0], [3.0, 4.0]]);
    let y = var::<0, Scalar, f64>(0.5);
    let z = var::<1, Mat<2, 3>, f64>([[0.5; 3]; 2]);
    let zt = var::<1, Mat<3, 2>, f64>([[0.5; 2]; 3]);
    let out = x.sum() * y;
    assert!(out.grad((x, y)).is_err());
    assert!(
        out.grad(x).is_err(),
        "the scalar leaf with id 0 reaches x's sum"
    );
    assert!(out.vjp(&1.0, (y, x)).is_err());
    // Same element count, transposed shape: still a conflict.
    let out2 = z.sum() + zt.mean();
    assert!(out2.grad((z, zt)).is_err());
    assert!(out2.grad(z).is_err());
    assert!((x.sum() * z.mean()).vjp(&2.0, (z, zt)).is_err());
    // Distinct ids are fine, and an unused target gets a zero gradient.
    let w = var::<2, Scalar, f64>(3.0);
    let (dx, dw) = (x.sum() * w).grad((x, w)).unwrap();
    assert_eq!((dx, dw), ([[3.0; 2]; 2], 10.0));
    let (dx, dz) = (x.sum() * w).grad((x, z)).unwrap();
    assert_eq!((dx, dz), ([[3.0; 2]; 2], [[0.0; 3]; 2]));
}

// ---------------------------------------------------------------------------
// Expressions in the training API.
// ---------------------------------------------------------------------------

mod training {
    use super::{ATOL, H, RTOL};
    use forma::expr::{PredRow, TargetRow, Var};
    use forma::prelude::*;
    use proptest::collection::vec;
    use proptest::prelude::{ProptestConfig, Strategy, any, prop_assert, proptest};
    use proptest::test_runner::TestCaseError;
    use std::result::Result;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    /// `(pred, target)` batches of width 3, 1 to 6 rows.
    fn batch() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (1usize..=6).prop_flat_map(|b| (vec(-2.0..2.0f64, b * 3), vec(-2.0..2.0f64, b * 3)))
    }

    /// `loss` against `want(p, t) -> (term, d term / d p)` summed and scaled by `scale`.
    fn same_loss<L: Loss<f64, Const<3>, Target<usize> = Batch<f64, 3>>>(
        name: &str,
        loss: &L,
        pred: &Batch<f64, 3>,
        target: &Batch<f64, 3>,
        scale: f64,
        want: impl Fn(f64, f64) -> (f64, f64),
    ) -> Result<(), TestCaseError> {
        let mut grad = Batch::<f64, 3>::zeros(pred.rows(), Const);
        let value = loss.value_and_grad(&Cpu, pred, target, &mut grad).unwrap();
        let mut want_value = 0.0;
        for ((&p, &t), &g) in pred
            .as_slice()
            .iter()
            .zip(target.as_slice())
            .zip(grad.as_slice())
        {
            let (l, d) = want(p, t);
            want_value += l;
            prop_assert!(
                close(g, scale * d),
                "{name}: gradient {g:e}, by hand {:e}",
                scale * d
            );
        }
        prop_assert!(
            close(value, scale * want_value),
            "{name}: value {value:e}, by hand {:e}",
            scale * want_value
        );
        Ok(())
    }

    /// Value and gradient of two losses on one batch.
    fn compare<A, B>(
        name: &str,
        a: &A,
        b: &B,
        pred: &Batch<f64, 3>,
        target: &Batch<f64, 3>,
    ) -> Result<(), TestCaseError>
    where
        A: Loss<f64, Const<3>, Target<usize> = Batch<f64, 3>>,
        B: Loss<f64, Const<3>, Target<usize> = Batch<f64, 3>>,
    {
        let (mut ga, mut gb) = (
            Batch::<f64, 3>::zeros(0, Const),
            Batch::<f64, 3>::zeros(0, Const),
        );
        let va = a.value_and_grad(&Cpu, pred, target, &mut ga).unwrap();
        let vb = b.value_and_grad(&Cpu, pred, target, &mut gb).unwrap();
        prop_assert!(close(va, vb), "{name}: value {va:e} vs {vb:e}");
        prop_assert!(ga.rows() == pred.rows() && gb.rows() == pred.rows());
        for (x, y) in ga.as_slice().iter().zip(gb.as_slice()) {
            prop_assert!(close(*x, *y), "{name}: gradient {x:e} vs {y:e}");
        }
        Ok(())
    }

    /// `RowLoss` written as each squared loss equals the built-in loss and the
    /// hand formula, in value and gradient.
    fn row_loss_squared_case(p: &[f64], t: &[f64]) -> Result<(), TestCaseError> {
        let pred = Batch::<f64, 3>::from_flat(p).unwrap();
        let target = Batch::<f64, 3>::from_flat(t).unwrap();
        let (b, n) = (pred.rows() as f64, p.len() as f64);
        let half_sse =
            RowLoss::sum(|o: PredRow<f64, 3>, t: TargetRow<f64, 3>| ((t - o).powi(2) * 0.5).sum());
        let sse = RowLoss::sum(|o: PredRow<f64, 3>, t: TargetRow<f64, 3>| (o - t).powi(2).sum());
        let mse = RowLoss::mean(|o: PredRow<f64, 3>, t: TargetRow<f64, 3>| (o - t).powi(2).mean());
        let half_mse = RowLoss::mean(|o: PredRow<f64, 3>, t: TargetRow<f64, 3>| {
            ((o - t).powi(2) * 0.5).mean()
        });
        // RowLoss::mean averages the rows' losses: 1/B of the sum.
        let mean_sse =
            RowLoss::mean(|o: PredRow<f64, 3>, t: TargetRow<f64, 3>| (o - t).powi(2).sum());
        compare("HalfSumSquares", &half_sse, &HalfSumSquares, &pred, &target)?;
        compare("SumSquares", &sse, &SumSquares, &pred, &target)?;
        compare("Mse", &mse, &Mse, &pred, &target)?;
        compare("HalfMse", &half_mse, &HalfMse, &pred, &target)?;
        let half = |p: f64, t: f64| (0.5 * (p - t) * (p - t), p - t);
        let full = |p: f64, t: f64| ((p - t) * (p - t), 2.0 * (p - t));
        same_loss("RowLoss half SSE", &half_sse, &pred, &target, 1.0, half)?;
        same_loss("RowLoss SSE", &sse, &pred, &target, 1.0, full)?;
        same_loss("RowLoss MSE", &mse, &pred, &target, 1.0 / n, full)?;
        same_loss("RowLoss half MSE", &half_mse, &pred, &target, 1.0 / n, half)?;
        same_loss(
            "RowLoss mean of row SSE",
            &mean_sse,
            &pred,
            &target,
            1.0 / b,
            full,
        )?;
        Ok(())
    }

    /// A non-standard `RowLoss` against finite differences of its own value.
    fn row_loss_fd_case(p: &[f64], t: &[f64], mean: bool) -> Result<(), TestCaseError> {
        let f = |o: PredRow<f64, 3>, t: TargetRow<f64, 3>| {
            ((o - t).powi(2) + 1.0).ln().sum() + (o * t).sigmoid().mean() * 2.0
                - (o.tanh() * t).sum()
        };
        let loss = if mean {
            RowLoss::mean(f)
        } else {
            RowLoss::sum(f)
        };
        let target = Batch::<f64, 3>::from_flat(t).unwrap();
        let mut pred = Batch::<f64, 3>::from_flat(p).unwrap();
        let mut grad = Batch::<f64, 3>::zeros(0, Const);
        let value = loss
            .value_and_grad(&Cpu, &pred, &target, &mut grad)
            .unwrap();
        prop_assert!(grad.rows() == pred.rows());
        for (i, (&pi, &g)) in p.iter().zip(grad.as_slice()).enumerate() {
            pred.as_mut_slice()[i] = pi + H;
            let (up, lp) = (
                pred.as_slice()[i],
                loss.value(&Cpu, &pred, &target).unwrap(),
            );
            pred.as_mut_slice()[i] = pi - H;
            let (dn, lm) = (
                pred.as_slice()[i],
                loss.value(&Cpu, &pred, &target).unwrap(),
            );
            pred.as_mut_slice()[i] = pi;
            let fd = (lp - lm) / (up - dn);
            let tol = (RTOL * g.abs().max(fd.abs())).max(ATOL * value.abs().max(1.0));
            prop_assert!(
                (g - fd).abs() <= tol,
                "d/dpred[{i}]: analytic {g:e}, finite difference {fd:e}"
            );
        }
        Ok(())
    }

    /// `Linear -> RowFn -> Linear` under a `RowLoss`, in a `Trainer`: the
    /// gradients of both `Linear`s (the first one's through the `RowFn`'s
    /// backward) match finite differences of the loss, and training lowers it.
    fn row_fn_case(
        w1: &[f64],
        m: &[f64],
        w2: &[f64],
        xs: &[f64],
        ts: &[f64],
    ) -> Result<(), TestCaseError> {
        let mut mm = [[0.0; 2]; 4];
        mm.as_flattened_mut().copy_from_slice(m);
        // 4 -> 2: x·tanh(x)·sigmoid(x) through a fixed 4x2 matrix, plus the
        // row's sum as a shared scalar.
        let layer = RowFn::<_, 4, 2>::new(move |h: Ex<Var<0, Mat<1, 4>, f64>>| {
            (h * h.tanh() * h.sigmoid()).matmul(constant::<Mat<4, 2>, f64>(mm)) + h.sum() * 0.1
        });
        let net = seq!(
            Linear::<3, 4, f64>::from_slices(&w1[..12], &w1[12..]).unwrap(),
            layer,
            Linear::<2, 1, f64>::from_slices(&w2[..2], &w2[2..]).unwrap()
        );
        let loss = RowLoss::mean(|o: PredRow<f64, 1>, t: TargetRow<f64, 1>| {
            ((o - t).powi(2) + 1.0).ln().sum() + (o - t).powi(2).sum() * 0.5
        });
        let x = Batch::<f64, 3>::from_flat(xs).unwrap();
        let t = Batch::<f64, 1>::from_flat(ts).unwrap();
        let mut trainer = Trainer::new(net, loss, Sgd::new(0.05).unwrap());
        let first = trainer.compute_gradients(&x, &t).unwrap();
        let grads = trainer.grads().unwrap().to_vec();
        let params = trainer.model().to_vec();
        prop_assert!(grads.len() == 16 + 3 && params.len() == 16 + 3);
        let mut q = params.clone();
        for (i, (&pi, &g)) in params.iter().zip(&grads).enumerate() {
            q[i] = pi + H;
            trainer.model_mut().load(&q).unwrap();
            let (up, lp) = (q[i], trainer.evaluate(&x, &t).unwrap());
            q[i] = pi - H;
            trainer.model_mut().load(&q).unwrap();
            let (dn, lm) = (q[i], trainer.evaluate(&x, &t).unwrap());
            q[i] = pi;
            let fd = (lp - lm) / (up - dn);
            let tol = (RTOL * g.abs().max(fd.abs())).max(ATOL * first.abs().max(1.0));
            prop_assert!(
                (g - fd).abs() <= tol,
                "d/dparam[{i}]: analytic {g:e}, finite difference {fd:e}"
            );
        }
        trainer.model_mut().load(&params).unwrap();
        prop_assert!(trainer.evaluate(&x, &t).unwrap() == first);
        let mut last = first;
        for _ in 0..100 {
            last = trainer.step(&x, &t).unwrap();
        }
        let norm2: f64 = grads.iter().map(|g| g * g).sum();
        prop_assert!(last <= first, "loss rose from {first:e} to {last:e}");
        prop_assert!(
            norm2 < 1e-8 || last < first,
            "loss did not fall: {first:e} -> {last:e}"
        );
        Ok(())
    }

    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn row_loss_matches_the_squared_losses((p, t) in batch()) {
            row_loss_squared_case(&p, &t)?;
        }

        #[test]
        fn row_loss_gradient_matches_finite_differences((p, t) in batch(), mean in any::<bool>()) {
            row_loss_fd_case(&p, &t, mean)?;
        }
    }

    proptest! {
        #![proptest_config(config(24))]

        #[test]
        fn row_fn_layer_trains_with_exact_gradients(
            w1 in vec(-1.0..1.0f64, 12 + 4),
            m in vec(-1.0..1.0f64, 8),
            w2 in vec(-1.0..1.0f64, 2 + 1),
            (xs, ts) in (1usize..=5)
                .prop_flat_map(|b| (vec(-2.0..2.0f64, b * 3), vec(-1.0..1.0f64, b))),
        ) {
            row_fn_case(&w1, &m, &w2, &xs, &ts)?;
        }
    }
}
