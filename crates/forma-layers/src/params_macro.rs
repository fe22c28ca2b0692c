//! [`params!`](crate::params): the parameter walkers of a user's layer,
//! written by a macro.

/// Writes [`Params`](crate::Params) for a layer: for one without parameters
/// (`params!(SiLU)`, which also writes [`Initialize`](crate::Initialize)
/// from `Default`, and, with the `alloc` feature,
/// [`ToDevice`](crate::ToDevice) and [`ToHost`](crate::ToHost) as the same
/// value everywhere), or for a struct whose fields hold the parameters, in
/// visiting order, with their types (`params!([F] Residual<F> { f: F })`:
/// generic parameters in brackets, then the type, then every field).
///
/// ```
/// use forma_layers::{Linear, Params, params};
///
/// #[derive(Clone, Copy, Debug, Default)]
/// struct Swish;
/// params!(Swish);
///
/// struct TwoBranches<A, B> {
///     left: A,
///     right: B,
/// }
/// params!([A, B] TwoBranches<A, B> { left: A, right: B });
///
/// type Net = TwoBranches<Linear<2, 3>, Linear<2, 4>>;
/// assert_eq!(<Net as Params<f32>>::COUNT, 9 + 12);
/// assert_eq!(<Swish as Params<f32>>::COUNT, 0);
/// ```
#[macro_export]
macro_rules! params {
    ([$($g:tt)*] $t:ty { $($field:ident : $fty:ty),+ $(,)? }) => {
        impl<E: $crate::__core::Float, P: ?Sized, $($g)*> $crate::Params<E, P> for $t
        where
            $($fty: $crate::Params<E, P>,)+
        {
            const COUNT: usize = 0 $(+ <$fty as $crate::Params<E, P>>::COUNT)+;
            fn zeros_like(&self) -> $crate::__core::Result<Self> {
                Ok(Self { $($field: self.$field.zeros_like()?),+ })
            }
            fn visit(&self, f: &mut impl FnMut(&P)) {
                $(self.$field.visit(f);)+
            }
            fn visit_mut(&mut self, f: &mut impl FnMut(&mut P)) {
                $(self.$field.visit_mut(f);)+
            }
            fn zip_mut(&mut self, g: &Self, f: &mut impl FnMut(&mut P, &P)) {
                $(self.$field.zip_mut(&g.$field, f);)+
            }
            fn zip2_mut(&mut self, g: &Self, s: &mut Self, f: &mut impl FnMut(&mut P, &P, &mut P)) {
                $(self.$field.zip2_mut(&g.$field, &mut s.$field, f);)+
            }
            fn zip3_mut(
                &mut self,
                g: &Self,
                s: &mut Self,
                t: &mut Self,
                f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
            ) {
                $(self.$field.zip3_mut(&g.$field, &mut s.$field, &mut t.$field, f);)+
            }
            fn zip3(&self, g: &Self, s: &Self, t: &Self, f: &mut impl FnMut(&P, &P, &P, &P)) {
                $(self.$field.zip3(&g.$field, &s.$field, &t.$field, f);)+
            }
            fn known_max(&self) -> Option<E> {
                let mut top = E::ZERO;
                $(top = top.max(self.$field.known_max()?);)+
                Some(top)
            }
        }
        $crate::__named_fields!([$($g)*] $t { $($field: $fty),+ });
    };
    ($t:ty { $($field:ident : $fty:ty),+ $(,)? }) => {
        $crate::params!([] $t { $($field: $fty),+ });
    };
    ($t:ty) => {
        impl<E: $crate::__core::Float, P: ?Sized> $crate::Params<E, P> for $t {
            const COUNT: usize = 0;
            fn zeros_like(&self) -> $crate::__core::Result<Self> {
                Ok(::core::clone::Clone::clone(self))
            }
            fn visit(&self, _f: &mut impl FnMut(&P)) {}
            fn visit_mut(&mut self, _f: &mut impl FnMut(&mut P)) {}
            fn zip_mut(&mut self, _g: &Self, _f: &mut impl FnMut(&mut P, &P)) {}
            fn zip2_mut(&mut self, _g: &Self, _s: &mut Self, _f: &mut impl FnMut(&mut P, &P, &mut P)) {}
            fn zip3_mut(
                &mut self,
                _g: &Self,
                _s: &mut Self,
                _t: &mut Self,
                _f: &mut impl FnMut(&mut P, &P, &mut P, &mut P),
            ) {
            }
            fn zip3(&self, _g: &Self, _s: &Self, _t: &Self, _f: &mut impl FnMut(&P, &P, &P, &P)) {}
        }
        impl $crate::Initialize for $t {
            fn initialize(_rng: &mut $crate::__core::Rng) -> Self {
                <$t as ::core::default::Default>::default()
            }
        }
        $crate::__same_everywhere!($t);
    };
}

/// `Named` for a struct of layers: each field's names under `field.`.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __named_fields {
    ([$($g:tt)*] $t:ty { $($field:ident : $fty:ty),+ }) => {
        impl<$($g)*> $crate::Named for $t
        where
            $($fty: $crate::Named,)+
        {
            fn names_at(
                &self,
                prefix: &mut $crate::__alloc::string::String,
                f: &mut dyn FnMut(&str, &[usize]),
            ) {
                $(
                    let len = prefix.len();
                    prefix.push_str(concat!(stringify!($field), "."));
                    self.$field.names_at(prefix, f);
                    prefix.truncate(len);
                )+
            }
        }
    };
}

/// Nothing to write without `alloc` (no names).
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __named_fields {
    ($($t:tt)*) => {};
}

/// `ToDevice` and `ToHost` for a layer without parameters (with `alloc`).
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __same_everywhere {
    ($t:ty) => {
        impl<E: $crate::__core::Float, D: $crate::Resident<E>> $crate::ToDevice<E, D> for $t {
            type On = $t;
            fn to_device(&self, _device: &D) -> $crate::__core::Result<$t> {
                Ok(::core::clone::Clone::clone(self))
            }
        }
        impl<E: $crate::__core::Float, D: $crate::Resident<E>> $crate::ToHost<E, D> for $t {
            type Host = $t;
            fn to_host(&self, _device: &D) -> $crate::__core::Result<$t> {
                Ok(::core::clone::Clone::clone(self))
            }
        }
        impl $crate::Named for $t {
            fn names_at(
                &self,
                _prefix: &mut $crate::__alloc::string::String,
                _f: &mut dyn FnMut(&str, &[usize]),
            ) {
            }
        }
    };
}

/// Nothing to write without `alloc` (no devices).
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __same_everywhere {
    ($t:ty) => {};
}
