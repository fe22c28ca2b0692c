//! The three bias layouts of a [`Linear`](crate::Linear) layer.

use core::fmt::Debug;

#[cfg(feature = "alloc")]
use forma_core::BiasKind;
use forma_core::Float;
use forma_core::typenum::{U0, U1, Unsigned};

/// How a linear layer adds its bias.
pub trait Bias: Copy + Debug + Default + Send + Sync + 'static {
    /// Number of bias parameters of a layer with `o` outputs.
    const LEN_PER_OUTPUT: usize;
    /// Number of bias parameters that do not scale with the width.
    const LEN_FIXED: usize;
    /// The layout as a value a device dispatches on.
    #[cfg(feature = "alloc")]
    const KIND: BiasKind;
    /// [`Bias::LEN_PER_OUTPUT`] as a type-level number.
    type PerOutputCount: Unsigned;
    /// [`Bias::LEN_FIXED`] as a type-level number.
    type FixedCount: Unsigned;
    /// The bias parameter of a layer with `O` outputs.
    type Param<E: Float, const O: usize>: Copy
        + Debug
        + PartialEq
        + Send
        + Sync
        + AsRef<[E]>
        + AsMut<[E]>;
    /// A zero bias.
    fn zeros<E: Float, const O: usize>() -> Self::Param<E, O>;
    /// The bias of output `j`.
    fn of<E: Float, const O: usize>(b: &Self::Param<E, O>, j: usize) -> E;
    /// The bias gradient from the column sums of the output gradient.
    fn grad_from_column_sums<E: Float, const O: usize>(sums: &[E; O], out: &mut Self::Param<E, O>);
}

/// One bias per output, as `nn.Linear`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerOutput;

/// One scalar bias added to every output (seed 000's `b1 = 0.3`, `b2 = 0.5`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedBias;

/// No bias (the iris tutorial's 2-32-1 net).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoBias;

impl Bias for PerOutput {
    #[cfg(feature = "alloc")]
    const KIND: BiasKind = BiasKind::PerColumn;
    type PerOutputCount = U1;
    type FixedCount = U0;
    const LEN_PER_OUTPUT: usize = 1;
    const LEN_FIXED: usize = 0;
    type Param<E: Float, const O: usize> = [E; O];
    fn zeros<E: Float, const O: usize>() -> [E; O] {
        [E::ZERO; O]
    }
    #[inline(always)]
    fn of<E: Float, const O: usize>(b: &[E; O], j: usize) -> E {
        b[j]
    }
    fn grad_from_column_sums<E: Float, const O: usize>(sums: &[E; O], out: &mut [E; O]) {
        *out = *sums;
    }
}

impl Bias for SharedBias {
    #[cfg(feature = "alloc")]
    const KIND: BiasKind = BiasKind::Shared;
    type PerOutputCount = U0;
    type FixedCount = U1;
    const LEN_PER_OUTPUT: usize = 0;
    const LEN_FIXED: usize = 1;
    type Param<E: Float, const O: usize> = [E; 1];
    fn zeros<E: Float, const O: usize>() -> [E; 1] {
        [E::ZERO]
    }
    #[inline(always)]
    fn of<E: Float, const O: usize>(b: &[E; 1], _j: usize) -> E {
        b[0]
    }
    fn grad_from_column_sums<E: Float, const O: usize>(sums: &[E; O], out: &mut [E; 1]) {
        out[0] = sums.iter().copied().sum();
    }
}

impl Bias for NoBias {
    #[cfg(feature = "alloc")]
    const KIND: BiasKind = BiasKind::None;
    type PerOutputCount = U0;
    type FixedCount = U0;
    const LEN_PER_OUTPUT: usize = 0;
    const LEN_FIXED: usize = 0;
    type Param<E: Float, const O: usize> = [E; 0];
    fn zeros<E: Float, const O: usize>() -> [E; 0] {
        []
    }
    #[inline(always)]
    fn of<E: Float, const O: usize>(_b: &[E; 0], _j: usize) -> E {
        E::ZERO
    }
    fn grad_from_column_sums<E: Float, const O: usize>(_sums: &[E; O], _out: &mut [E; 0]) {}
}
