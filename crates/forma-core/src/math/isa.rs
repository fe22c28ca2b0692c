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
/// `name` calls `inner` compiled for AVX-512F (from [`AVX512_MIN`]), for
/// AVX2 + FMA, or for the baseline, whichever the CPU supports; when the
/// expression `LEN` (over the arguments) is below [`SMALL`], it runs `inner`
/// inline instead: for a few elements the call and the feature test cost
/// more than the loop (a tiny network's step checks a dozen values, in
/// nanoseconds).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<$($g:ident: $b:path),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $inner:path, small if $len:expr;) => {
        $(#[$meta])*
        #[inline(always)]
        $vis fn $name<$($g: $b),*>($($arg: $ty),*) -> $ret {
            if $len < $crate::math::isa::SMALL {
                return $inner($($arg),*);
            }
            // Out of line: the caller inlines only the short path above.
            #[inline(never)]
            fn dispatch<$($g: $b),*>($($arg: $ty),*) -> $ret {
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
                match $crate::math::isa::level() {
                    // SAFETY: `level` says AVX-512F only when the CPU has it.
                    $crate::math::isa::Level::Avx512 if $len >= $crate::math::isa::AVX512_MIN => {
                        return unsafe { avx512($($arg),*) };
                    }
                    // SAFETY: `level` says AVX2 only when the CPU has AVX2
                    // and FMA; AVX-512F (the arm above) implies both.
                    $crate::math::isa::Level::Avx512 | $crate::math::isa::Level::Avx2 => {
                        return unsafe { avx2($($arg),*) };
                    }
                    $crate::math::isa::Level::Portable => {}
                }
            }
            $inner($($arg),*)
            }
            dispatch($($arg),*)
        }
    };
    // With const generics after a `;` (a width known from a type): the
    // copies name every generic parameter for the inner call.
    ($(#[$meta:meta])* $vis:vis fn $name:ident<$($g:ident: $b:path),*; $(const $c:ident: $ct:ty),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $inner:ident, small if $len:expr;) => {
        $(#[$meta])*
        #[inline(always)]
        $vis fn $name<$($g: $b,)* $(const $c: $ct,)*>($($arg: $ty),*) -> $ret {
            if $len < $crate::math::isa::SMALL {
                return $inner::<$($g,)* $($c,)*>($($arg),*);
            }
            // Out of line: the caller inlines only the short path above.
            #[inline(never)]
            fn dispatch<$($g: $b,)* $(const $c: $ct,)*>($($arg: $ty),*) -> $ret {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512<$($g: $b,)* $(const $c: $ct,)*>($($arg: $ty),*) -> $ret {
                    $inner::<$($g,)* $($c,)*>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $b,)* $(const $c: $ct,)*>($($arg: $ty),*) -> $ret {
                    $inner::<$($g,)* $($c,)*>($($arg),*)
                }
                match $crate::math::isa::level() {
                    // SAFETY: `level` says AVX-512F only when the CPU has it.
                    $crate::math::isa::Level::Avx512 if $len >= $crate::math::isa::AVX512_MIN => {
                        return unsafe { avx512::<$($g,)* $($c,)*>($($arg),*) };
                    }
                    // SAFETY: `level` says AVX2 only when the CPU has AVX2
                    // and FMA; AVX-512F (the arm above) implies both.
                    $crate::math::isa::Level::Avx512 | $crate::math::isa::Level::Avx2 => {
                        return unsafe { avx2::<$($g,)* $($c,)*>($($arg),*) };
                    }
                    $crate::math::isa::Level::Portable => {}
                }
            }
            $inner::<$($g,)* $($c,)*>($($arg),*)
            }
            dispatch::<$($g,)* $($c,)*>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// The instruction set the `multiversion!` loops run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// AVX-512F, with AVX2 and FMA (passes shorter than [`AVX512_MIN`]
    /// run their AVX2 copy).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    /// The target's baseline (SSE2 on x86-64; everything off x86-64).
    Portable,
}

/// The best level this CPU supports, capped by the environment variable
/// `FORMA_ISA` (`avx2` or `portable`; read once), so that tests and
/// benchmarks can run every copy on one machine: CI runs the finiteness
/// tests and elementwise passes at each level. The GEMM's micro-kernels
/// follow it too (`FORMA_ISA=avx2` measures the AVX2 kernels on an
/// AVX-512 machine).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("FORMA_ISA").unwrap_or_default();
        let avx512 = std::is_x86_feature_detected!("avx512f");
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        match cap.trim() {
            "portable" => Level::Portable,
            "avx2" if avx2 => Level::Avx2,
            _ if avx512 && avx2 && cap.trim() != "avx2" => Level::Avx512,
            _ if avx2 => Level::Avx2,
            _ => Level::Portable,
        }
    })
}

/// Below this many elements a `multiversion!` loop runs inline, for the
/// baseline instruction set.
pub const SMALL: usize = 256;

/// Below this `LEN` (of `multiversion!`) a loop runs its AVX2 copy on a CPU
/// with AVX-512 too: for one or two vectors of work the AVX-512 copy's
/// masked tails and mask-register selects cost more than they save. Measured
/// on a 2-vCPU Zen 4 (2026-12-02, medians of four alternating runs, one
/// thread): the XOR step, whose BCE loss is one padded vector (`LEN` 256),
/// 183 -> 169 ns, its loss pass alone 47 -> 31 ns (`perf record`); with
/// 4096 instead of 512 the 50-30-1 step, whose passes are 900 to 1,500
/// elements long, was 4-7% slower.
pub const AVX512_MIN: usize = 512;
