//! Collecting the gradients of the variables asked for.

use forma_core::Float;

use crate::expr::Ex;
use crate::leaf::Var;
use crate::shape::{Shape, Val};

/// Receives `d out / d var` from each variable leaf during `backward`.
pub trait Sink<E: Float> {
    /// The gradient reaching one occurrence of variable `ID` of shape `S`.
    fn accept<const ID: usize, S: Shape>(&mut self, grad: &Val<S, E>);
}

/// The running sum of the gradients of variable `ID`.
#[derive(Clone, Copy, Debug)]
pub struct Acc<const ID: usize, S: Shape, E: Float> {
    /// The sum so far.
    pub sum: Val<S, E>,
    conflict: bool,
}

impl<const ID: usize, S: Shape, E: Float> Sink<E> for Acc<ID, S, E> {
    #[inline]
    fn accept<const J: usize, S2: Shape>(&mut self, grad: &Val<S2, E>) {
        if ID != J {
            return;
        }
        if S2::ROWS != S::ROWS || S2::COLS != S::COLS {
            self.conflict = true;
            return;
        }
        for (d, &g) in S::flat_mut(&mut self.sum).iter_mut().zip(S2::flat(grad)) {
            *d += g;
        }
    }
}

impl<E: Float> Sink<E> for () {
    fn accept<const J: usize, S2: Shape>(&mut self, _grad: &Val<S2, E>) {}
}

/// What `grad` can be asked for: one variable, or a tuple of up to six.
pub trait Targets<E: Float> {
    /// One accumulator per variable.
    type Accs: Sink<E>;
    /// The gradients, each with its variable's shape.
    type Grads;
    /// Zeroed accumulators.
    fn accumulators(&self) -> Self::Accs;
    /// Whether two occurrences of one id had different shapes.
    fn conflicted(accs: &Self::Accs) -> bool;
    /// The sums.
    fn finish(accs: Self::Accs) -> Self::Grads;
}

impl<const ID: usize, S: Shape, E: Float> Targets<E> for Ex<Var<ID, S, E>> {
    type Accs = Acc<ID, S, E>;
    type Grads = Val<S, E>;
    fn accumulators(&self) -> Self::Accs {
        Acc {
            sum: S::zeros(),
            conflict: false,
        }
    }
    fn conflicted(accs: &Self::Accs) -> bool {
        accs.conflict
    }
    fn finish(accs: Self::Accs) -> Self::Grads {
        accs.sum
    }
}

/// Tuples of targets, and tuples of sinks (each element sees every gradient).
macro_rules! tuples {
    ($($T:ident $i:tt),+) => {
        impl<E: Float, $($T: Sink<E>),+> Sink<E> for ($($T,)+) {
            #[inline]
            fn accept<const J: usize, S2: Shape>(&mut self, grad: &Val<S2, E>) {
                $(self.$i.accept::<J, S2>(grad);)+
            }
        }
        impl<E: Float, $($T: Targets<E>),+> Targets<E> for ($($T,)+) {
            type Accs = ($($T::Accs,)+);
            type Grads = ($($T::Grads,)+);
            fn accumulators(&self) -> Self::Accs {
                ($(self.$i.accumulators(),)+)
            }
            fn conflicted(accs: &Self::Accs) -> bool {
                false $(|| $T::conflicted(&accs.$i))+
            }
            fn finish(accs: Self::Accs) -> Self::Grads {
                ($($T::finish(accs.$i),)+)
            }
        }
    };
}

tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, F 4);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5);
