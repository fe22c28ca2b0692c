//! Short, memory-bound loops compiled for the best instruction set the CPU
//! has (AVX-512 or AVX2 on x86-64, chosen at run time), written once.
//!
//! The finiteness checks of a training step read every input value and
//! every gradient once; compiled for the x86-64 baseline (SSE2, four lanes)
//! they cost more than the memory they read (measured: 87 µs for the
//! 235,146 gradients of the 784-256-128-10 net, against 1.27 ms a step).
//!
//! `multiversion!` turns one `#[inline(always)]` generic loop into a
//! dispatcher and two copies that carry the target feature: the loop (and
//! the small closures it calls) is inlined into each copy, so it is
//! compiled for that instruction set. (A closure handed to a
//! `#[target_feature]` function is not reliably inlined, and then runs
//! baseline code; seen in the disassembly.)

/// `multiversion!(pub fn name<E: Float>(args) -> Ret = inner, small if LEN;)`:
/// `name` calls `inner` compiled for AVX-512F, for AVX2 + FMA, or for the
/// baseline, whichever the CPU supports; when the expression `LEN` (over
/// the arguments) is below [`SMALL`], it runs `inner` inline instead: for a
/// few elements the call and the feature test cost more than the loop (a
/// tiny network's step checks a dozen values, in nanoseconds).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<$($g:ident: $b:path),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $inner:path, small if $len:expr;) => {
        $(#[$meta])*
        #[inline(always)]
        $vis fn $name<$($g: $b),*>($($arg: $ty),*) -> $ret {
            if $len < $crate::math::isa::SMALL {
                return $inner($($arg),*);
            }
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512<$($g: $b),*>($($arg: $ty),*) -> $ret {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $b),*>($($arg: $ty),*) -> $ret {
                    $inner($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Below this many elements a `multiversion!` loop runs inline, for the
/// baseline instruction set.
pub const SMALL: usize = 256;
