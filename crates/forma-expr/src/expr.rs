//! The expression traits and the `Ex` wrapper that carries the operators.

use forma_core::{Error, Float, Result};

use crate::grad::{Sink, Targets};
use crate::shape::{Scalar, Shape, Val};

/// The shape of a node, independent of the element type, so that operators
/// can check shapes where they are written.
pub trait Node: Copy {
    /// The shape of the node's value.
    type Shape: Shape;
    /// The element type (`f32` or `f64`).
    type Elem: Float;
}

/// A differentiable expression over `E`.
///
/// ```text
/// forward()                      -> (value, cache)      values every node needs
/// backward(cache, upstream, sink)                       sink receives d out / d var
/// ```
pub trait Expr<E: Float>: Node {
    /// What `backward` needs from `forward` (child caches and values).
    type Cache;
    /// The value, and the cache for `backward`.
    fn forward(&self) -> (Val<Self::Shape, E>, Self::Cache);
    /// Given `upstream` = d out / d self, sends d out / d var to `sink` for every
    /// variable below this node.
    fn backward<S: Sink<E>>(
        &self,
        cache: &Self::Cache,
        upstream: &Val<Self::Shape, E>,
        sink: &mut S,
    );
}

/// What [`Ex::vjp`] returns: the expression's value and the gradients.
pub type ValueAndGrads<S, E, G> = (Val<S, E>, G);

/// An expression, wrapped so that `+ - * /` and the methods below build nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ex<T>(pub T);

impl<T: Node> Node for Ex<T> {
    type Shape = T::Shape;
    type Elem = T::Elem;
}

impl<E: Float, T: Expr<E>> Expr<E> for Ex<T> {
    type Cache = T::Cache;
    #[inline]
    fn forward(&self) -> (Val<T::Shape, E>, T::Cache) {
        self.0.forward()
    }
    #[inline]
    fn backward<S: Sink<E>>(&self, cache: &T::Cache, upstream: &Val<T::Shape, E>, sink: &mut S) {
        self.0.backward(cache, upstream, sink)
    }
}

impl<T: Node> Ex<T> {
    /// The value.
    pub fn value<E: Float>(&self) -> Val<T::Shape, E>
    where
        T: Expr<E>,
    {
        self.0.forward().0
    }

    /// The vector-Jacobian product: given `upstream` = d L / d self, the
    /// gradients of L with respect to `targets` (a variable or a tuple of them),
    /// each with its variable's shape. Also returns the value.
    pub fn vjp<E: Float, V: Targets<E>>(
        &self,
        upstream: &Val<T::Shape, E>,
        targets: V,
    ) -> Result<ValueAndGrads<T::Shape, E, V::Grads>>
    where
        T: Expr<E>,
    {
        let (value, cache) = self.0.forward();
        let mut acc = targets.accumulators();
        self.0.backward(&cache, upstream, &mut acc);
        if V::conflicted(&acc) {
            return Err(Error::Config {
                what: "two variables share an id but not a shape",
                got: f64::NAN,
            });
        }
        Ok((value, V::finish(acc)))
    }
}

impl<T: Node<Shape = Scalar>> Ex<T> {
    /// The gradient of this scalar with respect to `targets` (a variable or a
    /// tuple of variables), each with its variable's shape. A variable that
    /// occurs several times gets the sum of its gradients. `Err` only if two
    /// targets share an id but not a shape.
    pub fn grad<E: Float, V: Targets<E>>(&self, targets: V) -> Result<V::Grads>
    where
        T: Expr<E>,
    {
        Ok(self.vjp(&E::ONE, targets)?.1)
    }
}
