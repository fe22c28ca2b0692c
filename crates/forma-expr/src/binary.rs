//! `+ - * /` between two expressions of equal shapes, or with a scalar on
//! either side, and with plain numbers (`2.0 * x`).

use forma_core::Float;

use crate::expr::{Ex, Expr, Node};
use crate::grad::Sink;
use crate::leaf::{Constant, constant};
use crate::shape::{Broadcast, Scalar, Shape, Val};

/// An elementwise binary operation and its partial derivatives.
pub trait BinaryOp: Copy + Default {
    /// `f(a, b)`.
    fn f<E: Float>(a: E, b: E) -> E;
    /// `(∂f/∂a, ∂f/∂b)`.
    fn df<E: Float>(a: E, b: E) -> (E, E);
}

/// `a + b`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Add;
/// `a - b`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sub;
/// `a * b`, elementwise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mul;
/// `a / b`, elementwise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Div;

impl BinaryOp for Add {
    fn f<E: Float>(a: E, b: E) -> E {
        a + b
    }
    fn df<E: Float>(_a: E, _b: E) -> (E, E) {
        (E::ONE, E::ONE)
    }
}
impl BinaryOp for Sub {
    fn f<E: Float>(a: E, b: E) -> E {
        a - b
    }
    fn df<E: Float>(_a: E, _b: E) -> (E, E) {
        (E::ONE, -E::ONE)
    }
}
impl BinaryOp for Mul {
    fn f<E: Float>(a: E, b: E) -> E {
        a * b
    }
    fn df<E: Float>(a: E, b: E) -> (E, E) {
        (b, a)
    }
}
impl BinaryOp for Div {
    fn f<E: Float>(a: E, b: E) -> E {
        a / b
    }
    fn df<E: Float>(a: E, b: E) -> (E, E) {
        (E::ONE / b, -a / (b * b))
    }
}

/// `Op` applied elementwise to `a` and `b`, a scalar side broadcast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Zip<Op, A, B> {
    op: Op,
    a: A,
    b: B,
}

impl<Op: BinaryOp, A: Node, B: Node<Elem = A::Elem>> Node for Zip<Op, A, B>
where
    A::Shape: Broadcast<B::Shape>,
{
    type Shape = <A::Shape as Broadcast<B::Shape>>::Out;
    type Elem = A::Elem;
}

type Out<A, B> = <<A as Node>::Shape as Broadcast<<B as Node>::Shape>>::Out;

impl<E: Float, Op: BinaryOp, A: Expr<E>, B: Expr<E> + Node<Elem = A::Elem>> Expr<E>
    for Zip<Op, A, B>
where
    A::Shape: Broadcast<B::Shape>,
{
    /// Both children's caches and values.
    type Cache = (A::Cache, B::Cache, Val<A::Shape, E>, Val<B::Shape, E>);

    fn forward(&self) -> (Val<Out<A, B>, E>, Self::Cache) {
        let (va, ca) = self.a.forward();
        let (vb, cb) = self.b.forward();
        let mut out = <Out<A, B>>::zeros::<E>();
        let (fa, fb) = (A::Shape::flat(&va), B::Shape::flat(&vb));
        let (sa, sb) = (
            <A::Shape as Broadcast<B::Shape>>::LHS_SCALAR,
            <A::Shape as Broadcast<B::Shape>>::RHS_SCALAR,
        );
        for (i, o) in <Out<A, B>>::flat_mut(&mut out).iter_mut().enumerate() {
            *o = Op::f(fa[if sa { 0 } else { i }], fb[if sb { 0 } else { i }]);
        }
        (out, (ca, cb, va, vb))
    }

    fn backward<S: Sink<E>>(
        &self,
        (ca, cb, va, vb): &Self::Cache,
        upstream: &Val<Out<A, B>, E>,
        sink: &mut S,
    ) {
        let mut da = A::Shape::zeros::<E>();
        let mut db = B::Shape::zeros::<E>();
        let (fa, fb) = (A::Shape::flat(va), B::Shape::flat(vb));
        let (sa, sb) = (
            <A::Shape as Broadcast<B::Shape>>::LHS_SCALAR,
            <A::Shape as Broadcast<B::Shape>>::RHS_SCALAR,
        );
        {
            let (ga, gb) = (A::Shape::flat_mut(&mut da), B::Shape::flat_mut(&mut db));
            for (i, &u) in <Out<A, B>>::flat(upstream).iter().enumerate() {
                let (ia, ib) = (if sa { 0 } else { i }, if sb { 0 } else { i });
                let (pa, pb) = Op::df(fa[ia], fb[ib]);
                ga[ia] += u * pa;
                gb[ib] += u * pb;
            }
        }
        self.a.backward(ca, &da, sink);
        self.b.backward(cb, &db, sink);
    }
}

macro_rules! operator {
    ($Trait:ident, $method:ident, $Op:ident) => {
        impl<A: Node, B: Node<Elem = A::Elem>> core::ops::$Trait<Ex<B>> for Ex<A>
        where
            A::Shape: Broadcast<B::Shape>,
        {
            type Output = Ex<Zip<$Op, A, B>>;
            fn $method(self, rhs: Ex<B>) -> Self::Output {
                Ex(Zip { op: $Op, a: self.0, b: rhs.0 })
            }
        }
        operator!(@left $Trait, $method, $Op, f32);
        operator!(@left $Trait, $method, $Op, f64);
    };
    (@left $Trait:ident, $method:ident, $Op:ident, $t:ty) => {
        /// A plain number on the right: `x + 2.0`.
        impl<A: Node<Elem = $t>> core::ops::$Trait<$t> for Ex<A>
        where
            A::Shape: Broadcast<Scalar>,
        {
            type Output = Ex<Zip<$Op, A, Constant<Scalar, $t>>>;
            fn $method(self, rhs: $t) -> Self::Output {
                Ex(Zip { op: $Op, a: self.0, b: constant::<Scalar, $t>(rhs).0 })
            }
        }
        /// A plain number on the left: `3.0 * y`.
        impl<B: Node<Elem = $t>> core::ops::$Trait<Ex<B>> for $t
        where
            Scalar: Broadcast<B::Shape>,
        {
            type Output = Ex<Zip<$Op, Constant<Scalar, $t>, B>>;
            fn $method(self, rhs: Ex<B>) -> Self::Output {
                Ex(Zip { op: $Op, a: constant::<Scalar, $t>(self).0, b: rhs.0 })
            }
        }
    };
}

operator!(Add, add, Add);
operator!(Sub, sub, Sub);
operator!(Mul, mul, Mul);
operator!(Div, div, Div);
