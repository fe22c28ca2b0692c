//! Leaves: variables (differentiated) and constants.

use core::marker::PhantomData;

use forma_core::Float;

use crate::expr::{Ex, Expr, Node};
use crate::grad::Sink;
use crate::shape::{Shape, Val};

/// Variable number `ID` of shape `S`: its gradient is collected by `grad`.
/// Every copy of a variable is the same variable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Var<const ID: usize, S: Shape, E: Float> {
    /// The value.
    pub value: Val<S, E>,
}

/// A constant of shape `S`: no gradient flows into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant<S: Shape, E: Float> {
    /// The value.
    pub value: Val<S, E>,
    _shape: PhantomData<S>,
}

/// Variable `ID` with `value`: `var::<0, Scalar, f64>(4.0)`,
/// `var::<1, Mat<2, 2>, f64>([[1.0, 2.0], [3.0, 4.0]])`.
pub fn var<const ID: usize, S: Shape, E: Float>(value: Val<S, E>) -> Ex<Var<ID, S, E>> {
    Ex(Var { value })
}

/// A constant: `constant::<Mat<1, 2>, f64>([[0.99, 0.01]])`.
pub fn constant<S: Shape, E: Float>(value: Val<S, E>) -> Ex<Constant<S, E>> {
    Ex(Constant {
        value,
        _shape: PhantomData,
    })
}

impl<const ID: usize, S: Shape, E: Float> Node for Var<ID, S, E> {
    type Shape = S;
    type Elem = E;
}

impl<const ID: usize, S: Shape, E: Float> Expr<E> for Var<ID, S, E> {
    type Cache = ();
    #[inline]
    fn forward(&self) -> (Val<S, E>, ()) {
        (self.value, ())
    }
    #[inline]
    fn backward<K: Sink<E>>(&self, _cache: &(), upstream: &Val<S, E>, sink: &mut K) {
        sink.accept::<ID, S>(upstream);
    }
}

impl<S: Shape, E: Float> Node for Constant<S, E> {
    type Shape = S;
    type Elem = E;
}

impl<S: Shape, E: Float> Expr<E> for Constant<S, E> {
    type Cache = ();
    #[inline]
    fn forward(&self) -> (Val<S, E>, ()) {
        (self.value, ())
    }
    #[inline]
    fn backward<K: Sink<E>>(&self, _cache: &(), _upstream: &Val<S, E>, _sink: &mut K) {}
}
