//! Elementwise functions of one expression: `-x`, `powi`, `exp`, `ln`,
//! `sigmoid`, `tanh`, `relu`. One node type, [`Map<Op, A>`](Map), and one small
//! type per function saying what it computes and its derivative.

use forma_core::Float;

use crate::expr::{Ex, Expr, Node};
use crate::grad::Sink;
use crate::shape::{Shape, Val};

/// An elementwise function and its derivative.
pub trait UnaryOp: Copy {
    /// `y = f(x)`.
    fn f<E: Float>(&self, x: E) -> E;
    /// `dy/dx`, given `x` and `y`.
    fn df<E: Float>(&self, x: E, y: E) -> E;
}

/// `op` applied to every element of `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Map<Op, A> {
    op: Op,
    a: A,
}

/// `-x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Neg;
/// `x^n` for an integer `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Powi(pub i32);
/// `e^x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Exp;
/// `ln x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ln;
/// `1 / (1 + e^-x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;
/// `tanh x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;
/// `max(0, x)` (derivative 0 at 0, as in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;

fn powi<E: Float>(x: E, n: i32) -> E {
    let mut acc = E::ONE;
    for _ in 0..n.unsigned_abs() {
        acc *= x;
    }
    if n < 0 { E::ONE / acc } else { acc }
}

impl UnaryOp for Neg {
    fn f<E: Float>(&self, x: E) -> E {
        -x
    }
    fn df<E: Float>(&self, _x: E, _y: E) -> E {
        -E::ONE
    }
}
impl UnaryOp for Powi {
    fn f<E: Float>(&self, x: E) -> E {
        powi(x, self.0)
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        // d/dx x^0 = 0 everywhere, including x = 0 (where 0 · x^-1 would be NaN).
        if self.0 == 0 {
            E::ZERO
        } else {
            E::from_f64(self.0 as f64) * powi(x, self.0 - 1)
        }
    }
}
impl UnaryOp for Exp {
    fn f<E: Float>(&self, x: E) -> E {
        x.exp()
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y
    }
}
impl UnaryOp for Ln {
    fn f<E: Float>(&self, x: E) -> E {
        x.ln()
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        E::ONE / x
    }
}
impl UnaryOp for Sigmoid {
    fn f<E: Float>(&self, x: E) -> E {
        E::ONE / (E::ONE + (-x).exp())
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        y * (E::ONE - y)
    }
}
impl UnaryOp for Tanh {
    fn f<E: Float>(&self, x: E) -> E {
        x.tanh()
    }
    fn df<E: Float>(&self, _x: E, y: E) -> E {
        E::ONE - y * y
    }
}
impl UnaryOp for Relu {
    fn f<E: Float>(&self, x: E) -> E {
        if x > E::ZERO { x } else { E::ZERO }
    }
    fn df<E: Float>(&self, x: E, _y: E) -> E {
        if x > E::ZERO { E::ONE } else { E::ZERO }
    }
}

impl<Op: UnaryOp, A: Node> Node for Map<Op, A> {
    type Shape = A::Shape;
    type Elem = A::Elem;
}

impl<E: Float, Op: UnaryOp, A: Expr<E>> Expr<E> for Map<Op, A> {
    /// The child's cache, its value `x` and this node's value `y`.
    type Cache = (A::Cache, Val<A::Shape, E>, Val<A::Shape, E>);

    fn forward(&self) -> (Val<A::Shape, E>, Self::Cache) {
        let (x, cache) = self.a.forward();
        let mut y = x;
        for v in A::Shape::flat_mut(&mut y) {
            *v = self.op.f(*v);
        }
        (y, (cache, x, y))
    }

    fn backward<S: Sink<E>>(
        &self,
        (cache, x, y): &Self::Cache,
        upstream: &Val<A::Shape, E>,
        sink: &mut S,
    ) {
        let mut d = *upstream;
        let (xs, ys) = (A::Shape::flat(x), A::Shape::flat(y));
        for (i, g) in A::Shape::flat_mut(&mut d).iter_mut().enumerate() {
            *g *= self.op.df(xs[i], ys[i]);
        }
        self.a.backward(cache, &d, sink);
    }
}

impl<T: Node> Ex<T> {
    /// `self^n`, elementwise.
    pub fn powi(self, n: i32) -> Ex<Map<Powi, T>> {
        Ex(Map {
            op: Powi(n),
            a: self.0,
        })
    }
    /// `e^self`, elementwise.
    pub fn exp(self) -> Ex<Map<Exp, T>> {
        Ex(Map { op: Exp, a: self.0 })
    }
    /// `ln self`, elementwise.
    pub fn ln(self) -> Ex<Map<Ln, T>> {
        Ex(Map { op: Ln, a: self.0 })
    }
    /// `1 / (1 + e^-self)`, elementwise.
    pub fn sigmoid(self) -> Ex<Map<Sigmoid, T>> {
        Ex(Map {
            op: Sigmoid,
            a: self.0,
        })
    }
    /// `tanh self`, elementwise.
    pub fn tanh(self) -> Ex<Map<Tanh, T>> {
        Ex(Map {
            op: Tanh,
            a: self.0,
        })
    }
    /// `max(0, self)`, elementwise.
    pub fn relu(self) -> Ex<Map<Relu, T>> {
        Ex(Map {
            op: Relu,
            a: self.0,
        })
    }
}

impl<T: Node> core::ops::Neg for Ex<T> {
    type Output = Ex<Map<Neg, T>>;
    fn neg(self) -> Self::Output {
        Ex(Map { op: Neg, a: self.0 })
    }
}
