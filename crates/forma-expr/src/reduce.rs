//! Reductions and broadcasts: `sum`, `mean`, `sum_rows`, `sum_cols`,
//! `broadcast` (a scalar to any shape) and `broadcast_rows` (a row to R rows).

use core::marker::PhantomData;

use forma_core::Float;

use crate::expr::{Ex, Expr, Node};
use crate::grad::Sink;
use crate::shape::{Mat, Scalar, Shape, Val};

/// Shapes with rows and columns to sum over.
pub trait MatShape: Shape {
    /// `Mat<1, C>`: one sum per column.
    type RowSums: Shape;
    /// `Mat<R, 1>`: one sum per row.
    type ColSums: Shape;
    /// `Mat<N, C>` for a `Mat<1, C>`: the row repeated `N` times.
    type Stacked<const N: usize>: Shape;
}

impl<const R: usize, const C: usize> MatShape for Mat<R, C> {
    type RowSums = Mat<1, C>;
    type ColSums = Mat<R, 1>;
    type Stacked<const N: usize> = Mat<N, C>;
}

/// What a reduction or broadcast does to indices: output element `o` gathers
/// input elements `i` with `map(i) == o` (sums), and a broadcast reads input
/// `map(o)` for output `o`.
pub trait IndexMap: Copy + Default {
    /// Input shape.
    type In: Shape;
    /// Output shape.
    type Out: Shape;
    /// Whether each output is a sum of inputs (else each output copies one input).
    const REDUCES: bool;
    /// The partner index: for a reduction the output an input goes to, for a
    /// broadcast the input an output reads.
    fn map(i: usize) -> usize;
    /// Scale applied to every output (1/n for `mean`).
    fn scale<E: Float>() -> E {
        E::ONE
    }
}

/// A reduction or broadcast node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reshape<M, A> {
    a: A,
    _map: PhantomData<M>,
}

/// Sum of all elements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sum<S>(PhantomData<S>);
/// Mean of all elements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mean<S>(PhantomData<S>);
/// Column sums (a sum over the rows).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SumRows<S>(PhantomData<S>);
/// Row sums (a sum over the columns).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SumCols<S>(PhantomData<S>);
/// A scalar copied to every element of `S`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BroadcastTo<S>(PhantomData<S>);
/// A row repeated `N` times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BroadcastRows<S, const N: usize>(PhantomData<S>);

impl<S: Shape> IndexMap for Sum<S> {
    type In = S;
    type Out = Scalar;
    const REDUCES: bool = true;
    fn map(_i: usize) -> usize {
        0
    }
}
impl<S: Shape> IndexMap for Mean<S> {
    type In = S;
    type Out = Scalar;
    const REDUCES: bool = true;
    fn map(_i: usize) -> usize {
        0
    }
    fn scale<E: Float>() -> E {
        E::ONE / E::from_f64((S::ROWS * S::COLS) as f64)
    }
}
impl<S: MatShape> IndexMap for SumRows<S> {
    type In = S;
    type Out = S::RowSums;
    const REDUCES: bool = true;
    fn map(i: usize) -> usize {
        i % S::COLS
    }
}
impl<S: MatShape> IndexMap for SumCols<S> {
    type In = S;
    type Out = S::ColSums;
    const REDUCES: bool = true;
    fn map(i: usize) -> usize {
        i / S::COLS
    }
}
impl<S: Shape> IndexMap for BroadcastTo<S> {
    type In = Scalar;
    type Out = S;
    const REDUCES: bool = false;
    fn map(_o: usize) -> usize {
        0
    }
}
impl<S: MatShape, const N: usize> IndexMap for BroadcastRows<S, N> {
    type In = S;
    type Out = S::Stacked<N>;
    const REDUCES: bool = false;
    fn map(o: usize) -> usize {
        o % S::COLS
    }
}

impl<M: IndexMap, A: Node<Shape = M::In>> Node for Reshape<M, A> {
    type Shape = M::Out;
    type Elem = A::Elem;
}

impl<E: Float, M: IndexMap, A: Expr<E> + Node<Shape = M::In>> Expr<E> for Reshape<M, A> {
    type Cache = A::Cache;

    fn forward(&self) -> (Val<M::Out, E>, A::Cache) {
        let (x, cache) = self.a.forward();
        let mut y = M::Out::zeros::<E>();
        let (xs, ys) = (M::In::flat(&x), M::Out::flat_mut(&mut y));
        if M::REDUCES {
            for (i, &v) in xs.iter().enumerate() {
                ys[M::map(i)] += v;
            }
        } else {
            for (o, y) in ys.iter_mut().enumerate() {
                *y = xs[M::map(o)];
            }
        }
        let scale = M::scale::<E>();
        if scale != E::ONE {
            ys.iter_mut().for_each(|y| *y *= scale);
        }
        (y, cache)
    }

    fn backward<K: Sink<E>>(&self, cache: &A::Cache, upstream: &Val<M::Out, E>, sink: &mut K) {
        let mut d = M::In::zeros::<E>();
        let (us, ds) = (M::Out::flat(upstream), M::In::flat_mut(&mut d));
        let scale = M::scale::<E>();
        if M::REDUCES {
            for (i, g) in ds.iter_mut().enumerate() {
                *g = us[M::map(i)] * scale;
            }
        } else {
            for (o, &u) in us.iter().enumerate() {
                ds[M::map(o)] += u * scale;
            }
        }
        self.a.backward(cache, &d, sink);
    }
}

impl<A: Node> Ex<A> {
    /// The sum of every element, a scalar.
    pub fn sum(self) -> Ex<Reshape<Sum<A::Shape>, A>> {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
    /// The mean of every element, a scalar.
    pub fn mean(self) -> Ex<Reshape<Mean<A::Shape>, A>> {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
    /// Column sums: `Mat<R, C>` to `Mat<1, C>`.
    pub fn sum_rows(self) -> Ex<Reshape<SumRows<A::Shape>, A>>
    where
        A::Shape: MatShape,
    {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
    /// Row sums: `Mat<R, C>` to `Mat<R, 1>`.
    pub fn sum_cols(self) -> Ex<Reshape<SumCols<A::Shape>, A>>
    where
        A::Shape: MatShape,
    {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
    /// A row repeated `N` times: `Mat<1, C>` to `Mat<N, C>`.
    pub fn broadcast_rows<const N: usize>(self) -> Ex<Reshape<BroadcastRows<A::Shape, N>, A>>
    where
        A::Shape: MatShape,
    {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
}

impl<A: Node<Shape = Scalar>> Ex<A> {
    /// This scalar in every element of shape `S`.
    pub fn broadcast<S: Shape>(self) -> Ex<Reshape<BroadcastTo<S>, A>> {
        Ex(Reshape {
            a: self.0,
            _map: PhantomData,
        })
    }
}
