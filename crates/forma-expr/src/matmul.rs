//! Matrix product of two expressions, `(R x K) · (K x C)`.

use forma_core::Float;
use forma_core::math::gemm;

use crate::expr::{Ex, Expr, Node};
use crate::grad::Sink;
use crate::shape::{MatMulShape, Shape, Val};

/// `a · b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatMul<A, B> {
    a: A,
    b: B,
}

impl<A: Node, B: Node<Elem = A::Elem>> Node for MatMul<A, B>
where
    A::Shape: MatMulShape<B::Shape>,
{
    type Shape = <A::Shape as MatMulShape<B::Shape>>::Out;
    type Elem = A::Elem;
}

type Out<A, B> = <<A as Node>::Shape as MatMulShape<<B as Node>::Shape>>::Out;

impl<E: Float, A: Expr<E>, B: Expr<E> + Node<Elem = A::Elem>> Expr<E> for MatMul<A, B>
where
    A::Shape: MatMulShape<B::Shape>,
{
    /// Both children's caches and values.
    type Cache = (A::Cache, B::Cache, Val<A::Shape, E>, Val<B::Shape, E>);

    fn forward(&self) -> (Val<Out<A, B>, E>, Self::Cache) {
        let (va, ca) = self.a.forward();
        let (vb, cb) = self.b.forward();
        let (m, k, n) = (A::Shape::ROWS, A::Shape::COLS, B::Shape::COLS);
        let mut out = <Out<A, B>>::zeros::<E>();
        gemm::sizes_from_types(gemm::matmul_nn(
            m,
            k,
            n,
            A::Shape::flat(&va),
            B::Shape::flat(&vb),
            E::ZERO,
            <Out<A, B>>::flat_mut(&mut out),
        ));
        (out, (ca, cb, va, vb))
    }

    /// `dA = U · Bᵀ`, `dB = Aᵀ · U`.
    fn backward<S: Sink<E>>(
        &self,
        (ca, cb, va, vb): &Self::Cache,
        upstream: &Val<Out<A, B>, E>,
        sink: &mut S,
    ) {
        let (m, k, n) = (A::Shape::ROWS, A::Shape::COLS, B::Shape::COLS);
        let u = <Out<A, B>>::flat(upstream);
        let mut da = A::Shape::zeros::<E>();
        let mut db = B::Shape::zeros::<E>();
        gemm::sizes_from_types(gemm::matmul_nt(
            m,
            n,
            k,
            u,
            B::Shape::flat(vb),
            E::ZERO,
            A::Shape::flat_mut(&mut da),
        ));
        gemm::sizes_from_types(gemm::matmul_tn(
            k,
            m,
            n,
            A::Shape::flat(va),
            u,
            E::ZERO,
            B::Shape::flat_mut(&mut db),
        ));
        self.a.backward(ca, &da, sink);
        self.b.backward(cb, &db, sink);
    }
}

impl<A: Node> Ex<A> {
    /// The matrix product `self · rhs`; the inner dimensions must agree at compile time.
    pub fn matmul<B: Node<Elem = A::Elem>>(self, rhs: Ex<B>) -> Ex<MatMul<A, B>>
    where
        A::Shape: MatMulShape<B::Shape>,
    {
        Ex(MatMul {
            a: self.0,
            b: rhs.0,
        })
    }
}
