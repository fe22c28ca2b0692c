//! forma's own packed GEMM: cache blocking, packing into a reusable per-thread
//! workspace, and a register-blocked micro-kernel for the best instruction set
//! the CPU has (AVX-512 or AVX2+FMA intrinsics, or portable code), chosen at
//! run time.
//!
//! Why not only matrixmultiply: it allocates its packing buffer on every call,
//! and forma promises training steps without heap allocation. Here the buffer
//! is kept per thread and grows only when a larger product comes, so after the
//! first step nothing is allocated. The structure is the BLIS one:
//!
//! ```text
//! for each NC-wide column block of B and C
//!   for each KC-deep slice: pack B[KC x NC] into NR-wide panels
//!     for each MC-high row block: pack A[MC x KC] into MR-high panels
//!       for each (MR x NR) tile: micro-kernel, KC rank-1 updates in registers
//! ```
//!
//! Products with at most [`FEW_ROWS`] rows (batch-1 inference) skip packing:
//! the weights would be copied once per use.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use core::any::TypeId;

use super::band::Band;
use super::gemm::FEW_ROWS;
use super::kernels::{Micro, Portable};
use crate::Float;

const KC: usize = 256;
const MC: usize = 96;
const NC: usize = 1024;
/// Largest tile dimensions of any kernel (the workspace is sized for them).
pub(crate) const MAX_MR: usize = 8;
pub(crate) const MAX_NR: usize = 32;

/// The inputs of one product `C[m×n] = A·B + beta·C`: A's `(i, p)` at
/// `a[i*sa.0 + p*sa.1]`, B's `(p, j)` at `b[p*sb.0 + j*sb.1]`. C travels
/// beside them, as a row-major slice or as a [`Band`] of one, so that a
/// split can hand each part the same inputs (`..op`) with its own C.
#[derive(Clone, Copy)]
pub(crate) struct Operands<'a, E> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: &'a [E],
    pub sa: (usize, usize),
    pub b: &'a [E],
    pub sb: (usize, usize),
    pub beta: E,
}

/// The best instruction set available, or a lower one forced (for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Best,
    Avx2,
    Portable,
}

/// Below this many multiply-adds times the element size in bytes a product
/// runs on the calling thread where its parts would share B
/// ([`shared_b_len`]): about 4M f32 or 2M f64 multiply-adds, some 50 µs of
/// one AVX2 core's work.
/// Lowered from 48 MB when the parts began sharing B: on a 2-vCPU Zen 3
/// (2026-12-02, medians of alternating runs) the 64x1000-100-10 step's
/// products then split too (its step 548 -> 366 µs at 2 threads) and the
/// MNIST-size step's 128x256x128 ones (1.62 -> 1.30 ms).
#[cfg(feature = "std")]
const PARALLEL_MIN_BYTES: usize = 16 << 20;
/// [`PARALLEL_MIN_BYTES`] for products whose parts each pack B: the 48 MB
/// measured best on a 2-vCPU Zen 4 with AVX-512 (2026-11-22; from 16 MB its
/// 64x1000 step went 290 -> 317 µs, 2026-12-01).
#[cfg(feature = "std")]
const PARALLEL_MIN_BYTES_OWN_B: usize = 48 << 20;
/// The most memory B's packing shared by a split product's parts may take
/// (the buffer stays with the calling thread, for its next products): 32 MB,
/// a 2048 x 4096 f32 weight. Above it, each part packs B a slice at a time.
#[cfg(feature = "std")]
const SHARED_B_MAX_BYTES: usize = 32 << 20;
/// [`SHARED_B_MAX_BYTES`] for the AVX-512 kernels: 512 KB, half of one
/// Zen 4 core's L2. Measured on a 2-vCPU Zen 4 (2026-12-02, medians of
/// alternating runs, 2 threads): sharing B (400 KB) took the 64x1000-100-10
/// f32 step from 358-385 to 305-317 µs, where each part packing all of B
/// had cost more than the split saved; sharing 800 KB (the f64 step's B,
/// the MNIST-size first layer's) was 1-12% slower than each part packing
/// its own, and 4 MB (a 1024³ product's, packed up front, no longer in the
/// cache a core computes from) 0-10% slower.
#[cfg(feature = "std")]
const SHARED_B_MAX_BYTES_AVX512: usize = 512 << 10;
/// Each part of a shared product has at least this many rows of C.
#[cfg(feature = "std")]
const PARALLEL_MIN_ROWS: usize = 32;
/// Each part of a product split by columns ([`split_cols`]) has at least
/// this many columns of C: the 64x1000-100-10 step's 64x1000x100 forward
/// product (100 columns) stays split by rows, where two parts of 64 and 36
/// columns would be uneven.
#[cfg(feature = "std")]
const PARALLEL_MIN_COLS: usize = 128;

/// Runs the product. Callers in [`gemm`](super::gemm) have checked the sizes:
/// `a`, `b` and `c` hold exactly `m·k`, `k·n` and `m·n` elements (products that
/// fit in `usize`), laid out by the strides. The kernels index them with
/// bounds checks, and the unsafe micro-kernels check their panels' lengths.
/// Large products are split by rows of C over the thread pool
/// ([`parallel`](super::parallel)); every element is computed by one thread,
/// exactly as without the split, so results do not depend on the thread count.
///
/// With `scan`, it also returns the largest [`Float::abs_bits`] of C's final
/// values, read by the thread that wrote them while they are in its cache
/// (at or above [`Float::INF_BITS`] if one is not finite); without, zero.
pub(crate) fn gemm<E: Float>(op: Operands<'_, E>, c: &mut [E], isa: Isa, scan: bool) -> E::AbsBits {
    if op.m <= FEW_ROWS {
        #[cfg(feature = "std")]
        if op.m == 1
            && op
                .k
                .saturating_mul(op.n)
                .saturating_mul(core::mem::size_of::<E>())
                >= PARALLEL_ROW_MIN_BYTES
        {
            let parts = super::parallel::threads().min(op.n / 64);
            if parts >= 2 {
                return split_row(op, c, isa, parts, scan);
            }
        }
        super::kernels::small_m(op, &mut *c, isa);
        return if scan {
            top_bits(c)
        } else {
            E::AbsBits::default()
        };
    }
    #[cfg(feature = "std")]
    let bytes = (op.m.saturating_mul(op.k))
        .saturating_mul(op.n)
        .saturating_mul(core::mem::size_of::<E>());
    #[cfg(feature = "std")]
    if bytes >= PARALLEL_MIN_BYTES
        && (bytes >= PARALLEL_MIN_BYTES_OWN_B
            || shared_b_len::<E>(Kernel::choose(isa), op.k, op.n).is_some())
    {
        // Fewer rows than columns: A is the smaller operand, so the parts
        // each pack all of A and a share of B (see `split_cols`).
        let parts = super::parallel::threads().min(op.n / PARALLEL_MIN_COLS);
        if op.m < op.n && parts >= 2 {
            return split_cols(op, c, isa, parts, scan);
        }
        let parts = super::parallel::threads().min(op.m / PARALLEL_MIN_ROWS);
        if parts >= 2 {
            return split_rows(op, c, isa, parts, scan);
        }
    }
    serial(op, c, isa, scan)
}

/// The largest [`Float::abs_bits`] of `values` (vectorised: an integer maximum).
#[inline]
fn top_bits<E: Float>(values: &[E]) -> E::AbsBits {
    super::pointwise::scan_finite_max(values).1.abs_bits()
}

/// From this many bytes of B a one-row product (batch-1 inference) is split
/// by columns over the pool: it streams B once and does little else, so
/// two cores, each with half of B in its own cache, read it twice as fast
/// (measured on a 784x256 layer, 2026-12-01).
#[cfg(feature = "std")]
const PARALLEL_ROW_MIN_BYTES: usize = 256 << 10;

/// The length (in elements) of B's packing shared by the parts of a split
/// `k x n` product with `kernel`, or `None` where each part packs its own
/// (see [`Kernel::shared_b_max_bytes`]).
#[cfg(feature = "std")]
fn shared_b_len<E: Float>(kernel: Kernel, k: usize, n: usize) -> Option<usize> {
    let nr = kernel.nr::<E>();
    // Each NC-wide block of columns, padded to whole panels, all k deep (as
    // `shared_panels` lays them out).
    let columns = (n / NC) * NC.next_multiple_of(nr) + (n % NC).next_multiple_of(nr);
    let len = columns.saturating_mul(k);
    debug_assert_eq!(
        len,
        shared_panels(k, n, nr)
            .map(|(_, _, _, kc)| nr * kc)
            .sum::<usize>()
    );
    (len.saturating_mul(size_of::<E>()) <= kernel.shared_b_max_bytes()).then_some(len)
}

/// Runs `f(part, band)` on each band of C over the pool and returns the
/// largest of the [`Float::abs_bits`] maxima the parts return.
#[cfg(feature = "std")]
fn over_bands<E: Float, T: Send>(
    bands: impl Iterator<Item = T>,
    parts: usize,
    f: &(dyn Fn(usize, T) -> E::AbsBits + Sync),
) -> E::AbsBits {
    use std::sync::Mutex;
    let top = Mutex::new(E::AbsBits::default());
    super::parallel::run_pieces(bands, parts, &|part, band| {
        let band_top = f(part, band);
        let mut top = top.lock().unwrap_or_else(|p| p.into_inner());
        *top = (*top).max(band_top);
    });
    top.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// A one-row product in `parts` bands of columns of C, one per pool thread:
/// each output is computed as without the split.
#[cfg(feature = "std")]
fn split_row<E: Float>(
    op: Operands<'_, E>,
    c: &mut [E],
    isa: Isa,
    parts: usize,
    scan: bool,
) -> E::AbsBits {
    debug_assert_eq!(op.m, 1);
    let (n, b, sb) = (op.n, op.b, op.sb);
    let cols = n.div_ceil(parts).next_multiple_of(16);
    over_bands::<E, _>(c.chunks_mut(cols), n.div_ceil(cols), &|part, c| {
        let band = Operands {
            n: c.len(),
            b: &b[part * cols * sb.1..],
            ..op
        };
        super::kernels::small_m(band, &mut *c, isa);
        if scan {
            top_bits(c)
        } else {
            E::AbsBits::default()
        }
    })
}

/// The product in `parts` bands of rows of C, one per pool thread. Where B
/// is small enough to share ([`shared_b_len`]), all parts read one packing
/// of B (BLIS's way): first the parts pack B's panels together, each a
/// share, into a buffer of the calling thread; then each computes its band,
/// packing only its rows of A. Otherwise each part packs all of B for
/// itself, a slice at a time.
#[cfg(feature = "std")]
fn split_rows<E: Float>(
    whole: Operands<'_, E>,
    c: &mut [E],
    isa: Isa,
    parts: usize,
    scan: bool,
) -> E::AbsBits {
    let kernel = Kernel::choose(isa);
    let (m, k, n, a, sa) = (whole.m, whole.k, whole.n, whole.a, whole.sa);
    let rows = m.div_ceil(parts).next_multiple_of(MAX_MR);
    let nr = kernel.nr::<E>();
    let Some(len) = shared_b_len::<E>(kernel, k, n) else {
        return over_bands::<E, _>(c.chunks_mut(rows * n), m.div_ceil(rows), &|part, c| {
            let op = Operands {
                m: c.len() / n,
                a: &a[part * rows * sa.0..],
                ..whole
            };
            serial(op, c, isa, scan)
        });
    };
    let panels = shared_panels(k, n, nr).count();
    E::with_workspace(crate::Workspace::SharedB, len, |shared| {
        // The shares: parts * panels / parts panels each, split where they
        // begin.
        let first = |part: usize| part * panels / parts;
        let mut shares: [&mut [E]; super::parallel::MAX_THREADS] = Default::default();
        let (mut rest_of, mut at, mut next) = (&mut *shared, 0, 1);
        for (g, (_, _, _, kc)) in shared_panels(k, n, nr).enumerate() {
            while next < parts && g == first(next) {
                let (share, tail) = core::mem::take(&mut rest_of).split_at_mut(at);
                shares[next - 1] = share;
                (rest_of, at, next) = (tail, 0, next + 1);
            }
            at += nr * kc;
        }
        shares[next - 1] = rest_of;
        over_bands::<E, _>(shares.into_iter().take(parts), parts, &|part, out| {
            let op = Operands {
                m: 0,
                a: &[],
                ..whole
            };
            let from = PackedB::Panels {
                first: first(part),
                out,
            };
            let no_rows = Band::whole(&mut [], 0, n);
            // SAFETY: `kernel` came from `Kernel::choose`.
            unsafe { dispatch(op, no_rows, &mut [], &mut [], from, kernel, false) }
        });
        let shared: &[E] = shared;
        over_bands::<E, _>(c.chunks_mut(rows * n), m.div_ceil(rows), &|part, c| {
            let op = Operands {
                m: c.len() / n,
                a: &a[part * rows * sa.0..],
                ..whole
            };
            let c = Band::whole(c, op.m, n);
            // Sized as `serial` sizes it (only A's part is used), so that a
            // later product of this shape run on one thread (a shorter
            // last batch, say) finds the buffer grown already.
            let (a_len, b_len) = workspace(&op);
            E::with_workspace(crate::Workspace::Packing, a_len + b_len, |ws| {
                // SAFETY: `kernel` came from `Kernel::choose`.
                unsafe {
                    dispatch(
                        op,
                        c,
                        &mut ws[..a_len],
                        &mut [],
                        PackedB::Shared(shared),
                        kernel,
                        scan,
                    )
                }
            })
        })
    })
}

/// The product in `parts` bands of C's columns, one per pool thread: each
/// part packs all of A and only its own columns of B, and computes each of
/// its elements as without the split (whole panels in every band but the
/// last, the same passes over k in the same order).
///
/// Chosen over [`split_rows`] when A has fewer rows than C has columns.
/// Split by rows, each part packs all of B (or, sharing one packing, reads
/// half of it from the other core's cache); split by columns, each packs
/// all of the smaller A and its share of B, and reads only its own rows of
/// a weight matrix (`X·Wᵀ`), which the split optimizer update of the step
/// before left in its own cache. Measured on a 2-vCPU Zen 5 (2026-12-03,
/// AVX-512, fastest of alternating runs): the MNIST-size first layer's
/// 128x784x256 forward product 140-157 µs by rows (each part packing the
/// 800 KB weight) against 130 µs by columns, its 128x128x256 products
/// 21-24 against 20-21 µs; with AVX2 kernels (sharing B) 231-234 against
/// 226-228 µs; the MNIST-size training step 369 -> 348 µs (fastest of five).
#[cfg(feature = "std")]
fn split_cols<E: Float>(
    whole: Operands<'_, E>,
    c: &mut [E],
    isa: Isa,
    parts: usize,
    scan: bool,
) -> E::AbsBits {
    let nr = Kernel::choose(isa).nr::<E>();
    let (m, n, b, sb) = (whole.m, whole.n, whole.b, whole.sb);
    // Whole panels in every band but the last, so that each element of C
    // lies in the same kind of tile as without the split.
    let cols = n.div_ceil(parts).next_multiple_of(nr);
    let mut right = Some(Band::whole(c, m, n));
    let bands = core::iter::from_fn(|| {
        let band = right.take()?;
        if band.cols() <= cols {
            return Some(band);
        }
        let (left, rest_of) = band.split_cols(cols);
        right = Some(rest_of);
        Some(left)
    });
    over_bands::<E, _>(bands, n.div_ceil(cols), &|part, c: Band<'_, E>| {
        let op = Operands {
            n: c.cols(),
            b: &b[part * cols * sb.1..],
            ..whole
        };
        serial_band(op, c, isa, scan)
    })
}

/// The product on this thread, in its packing workspace.
/// With `scan`, each tile of C is measured as it is stored (see `blocked`).
fn serial<E: Float>(op: Operands<'_, E>, c: &mut [E], isa: Isa, scan: bool) -> E::AbsBits {
    let c = Band::whole(c, op.m, op.n);
    serial_band(op, c, isa, scan)
}

/// [`serial`] for C's band `c` (`op.n` is the band's width and `op.b`
/// begins at its first column).
fn serial_band<E: Float>(op: Operands<'_, E>, c: Band<'_, E>, isa: Isa, scan: bool) -> E::AbsBits {
    let (a_len, b_len) = workspace(&op);
    E::with_workspace(crate::Workspace::Packing, a_len + b_len, |ws| {
        let (ap, bp) = ws.split_at_mut(a_len);
        // SAFETY: the kernel comes from `Kernel::choose`.
        unsafe { dispatch(op, c, ap, bp, PackedB::Here, Kernel::choose(isa), scan) }
    })
}

/// The packing workspace a product's panels of A and of B (one `KC x NC`
/// slice) need, in elements.
fn workspace<E>(op: &Operands<'_, E>) -> (usize, usize) {
    let kc = KC.min(op.k);
    ((MC.min(op.m) + MAX_MR) * kc, (NC.min(op.n) + MAX_NR) * kc)
}

/// Where a product's packed panels of B come from.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
enum PackedB<'s, E> {
    /// Packed by this thread into its workspace, one `KC x NC` slice at a
    /// time, as the loops reach it.
    Here,
    /// No product: only the panels of B's shared packing (see
    /// [`shared_panels`]) from number `first` on that fit in `out`, packed
    /// into `out`: one part's share of packing B for every part.
    Panels { first: usize, out: &'s mut [E] },
    /// Already packed, all of B, laid out as [`shared_panels`] lists them.
    Shared(&'s [E]),
}

/// The panels of B packed once for all parts of a shared product, in memory
/// order: `(column, lines, pc, kc)` for each panel of `nr` columns, by
/// `NC`-wide block, then `KC`-deep slice, then column, as [`blocked`] reads
/// them. A panel takes `nr * kc` elements; the `(jc, pc)` slice starts at
/// [`shared_offset`].
fn shared_panels(
    k: usize,
    n: usize,
    nr: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..n).step_by(NC).flat_map(move |jc| {
        let nc = NC.min(n - jc);
        (0..k).step_by(KC).flat_map(move |pc| {
            let kc = KC.min(k - pc);
            (0..nc)
                .step_by(nr)
                .map(move |j| (jc + j, nr.min(nc - j), pc, kc))
        })
    })
}

/// Where the `(jc, pc)` slice (`nc` columns wide) of [`shared_panels`] starts:
/// the `NC`-wide blocks before it are whole, and so are its `KC`-deep slices
/// before `pc`.
fn shared_offset(jc: usize, pc: usize, k: usize, nc: usize, nr: usize) -> usize {
    (jc / NC) * NC.next_multiple_of(nr) * k + pc * nc.next_multiple_of(nr)
}

/// Packs the panels of [`shared_panels`] from number `first` on into `out`,
/// as many as fill it.
///
/// # Safety
/// The CPU must support the instruction set of `K` (whose transpose it uses).
#[inline(always)]
unsafe fn pack_panels<E: Float, K: Micro<E>>(
    k: usize,
    n: usize,
    b: &[E],
    sb: (usize, usize),
    first: usize,
    out: &mut [E],
) {
    let nr = K::NR;
    let mut at = 0;
    for (col, lines, pc, kc) in shared_panels(k, n, nr).skip(first) {
        let Some(dst) = out.get_mut(at..at + nr * kc) else {
            break;
        };
        // SAFETY: the caller guarantees K's instruction set.
        unsafe {
            pack::<E, K>(
                kc,
                lines,
                nr,
                &b[pc * sb.0 + col * sb.1..],
                (sb.1, sb.0),
                dst,
            )
        };
        at += nr * kc;
    }
    // A share ends where a panel does: anything else would leave stale
    // values where the parts read B.
    assert_eq!(
        at,
        out.len(),
        "internal error: a share of B's packing is not whole panels"
    );
}

/// `Some` view of `s` as `&[T]` when `E` is `T`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn same<E: 'static, T: 'static>(s: &[E]) -> Option<&[T]> {
    (TypeId::of::<E>() == TypeId::of::<T>())
        // SAFETY: E and T are the same type (equal TypeIds), so the slice is
        // reinterpreted as itself.
        .then(|| unsafe { core::slice::from_raw_parts(s.as_ptr().cast::<T>(), s.len()) })
}

/// `Some` mutable view of `s` as `&mut [T]` when `E` is `T`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn same_mut<E: 'static, T: 'static>(s: &mut [E]) -> Option<&mut [T]> {
    (TypeId::of::<E>() == TypeId::of::<T>())
        // SAFETY: as in `same`; the unique borrow of `s` moves into the result.
        .then(|| unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<T>(), s.len()) })
}

/// [`dispatch`]'s arguments with a concrete element type.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
type Concrete<'a, T> = (
    Operands<'a, T>,
    Band<'a, T>,
    &'a mut [T],
    &'a mut [T],
    PackedB<'a, T>,
);

/// The same operands with `E` seen as the concrete `T` (which it is).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn concrete<'a, E: Float, T: Float>(
    op: Operands<'a, E>,
    c_band: Band<'a, E>,
    ap: &'a mut [E],
    bp: &'a mut [E],
    from: PackedB<'a, E>,
) -> Option<Concrete<'a, T>> {
    let a = same::<E, T>(op.a)?;
    let b = same::<E, T>(op.b)?;
    let c_band = c_band.same::<T>()?;
    let ap = same_mut::<E, T>(ap)?;
    let bp = same_mut::<E, T>(bp)?;
    let from = match from {
        PackedB::Here => PackedB::Here,
        PackedB::Panels { first, out } => PackedB::Panels {
            first,
            out: same_mut::<E, T>(out)?,
        },
        PackedB::Shared(all) => PackedB::Shared(same::<E, T>(all)?),
    };
    let beta = T::from_f64(op.beta.to_f64());
    Some((
        Operands {
            m: op.m,
            k: op.k,
            n: op.n,
            a,
            sa: op.sa,
            b,
            sb: op.sb,
            beta,
        },
        c_band,
        ap,
        bp,
        from,
    ))
}

/// The micro-kernel family a product runs with: chosen once from the
/// instruction set, so that a shared product's parts and the packing of its
/// shared B (whose panel width is the kernel's `NR`) agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX-512F kernels ([`Avx512F32`](super::kernels::x86::Avx512F32), ...).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx512,
    /// AVX2 and FMA kernels.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx2,
    /// [`Portable`]`<4, 8>`.
    Portable,
}

impl Kernel {
    /// The best kernel for `isa` on this CPU (the few-row products of
    /// `kernels::small_m` follow it too).
    pub(crate) fn choose(isa: Isa) -> Kernel {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if isa != Isa::Portable {
            use crate::math::isa::{Level, level};
            if isa == Isa::Best && level() == Level::Avx512 {
                return Kernel::Avx512;
            }
            if level() != Level::Portable
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
            {
                return Kernel::Avx2;
            }
        }
        let _ = isa;
        Kernel::Portable
    }

    /// The most bytes of packed B the parts of a split product share (one
    /// packing of B, made by all parts together, rather than each packing
    /// all of it a slice at a time). Measured on 2-vCPU machines: on a Zen 3
    /// (AVX2, 512 KB of L2 a core; 2026-12-02) sharing took the MNIST-size
    /// step at 2 threads from 1.50 to 1.41 ms and batch-1024 inference from
    /// 4.23 to 3.96 ms; on a Zen 4 (AVX-512, 1 MB of L2) it paid only for
    /// a B of at most half its L2 ([`SHARED_B_MAX_BYTES_AVX512`]). The instruction
    /// set stands in for the cache here: the AVX-512 machines measured have
    /// the larger L2.
    #[cfg(feature = "std")]
    fn shared_b_max_bytes(self) -> usize {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if self == Kernel::Avx512 {
            return SHARED_B_MAX_BYTES_AVX512;
        }
        SHARED_B_MAX_BYTES
    }

    /// The panel width (`NR`) of this kernel for `E`.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    fn nr<E: Float>(self) -> usize {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            use super::kernels::x86::{Avx2F32, Avx2F64, Avx512F32, Avx512F64};
            // As `dispatch` runs them: another element type takes the
            // portable kernel.
            let f32 = TypeId::of::<E>() == TypeId::of::<f32>();
            let f64 = TypeId::of::<E>() == TypeId::of::<f64>();
            match self {
                Kernel::Avx512 if f32 => return <Avx512F32 as Micro<f32>>::NR,
                Kernel::Avx512 if f64 => return <Avx512F64 as Micro<f64>>::NR,
                Kernel::Avx2 if f32 => return <Avx2F32 as Micro<f32>>::NR,
                Kernel::Avx2 if f64 => return <Avx2F64 as Micro<f64>>::NR,
                _ => {}
            }
        }
        <Portable<4, 8> as Micro<E>>::NR
    }
}

/// The product (or, with [`PackedB::Panels`], a share of B's packing) with
/// `kernel`'s micro-kernels.
///
/// # Safety
/// `kernel` must come from [`Kernel::choose`] on this machine, which picks
/// a kernel only when the CPU supports its instruction set.
unsafe fn dispatch<E: Float>(
    op: Operands<'_, E>,
    c: Band<'_, E>,
    ap: &mut [E],
    bp: &mut [E],
    from: PackedB<'_, E>,
    kernel: Kernel,
    scan: bool,
) -> E::AbsBits {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if kernel != Kernel::Portable {
        use super::kernels::x86::{Avx2F32, Avx2F64, Avx512F32, Avx512F64};
        if TypeId::of::<E>() == TypeId::of::<f32>() {
            let Some((op, c, ap, bp, from)) = concrete::<E, f32>(op, c, ap, bp, from) else {
                unreachable!("E is f32")
            };
            // SAFETY: the caller's promise: `Kernel::choose` picked the
            // kernel because the CPU supports its instruction set.
            return same_bits::<f32, E>(unsafe {
                match kernel {
                    Kernel::Avx512 => blocked_avx512::<f32, Avx512F32>(op, c, ap, bp, from, scan),
                    _ => blocked_avx2::<f32, Avx2F32>(op, c, ap, bp, from, scan),
                }
            });
        }
        if TypeId::of::<E>() == TypeId::of::<f64>() {
            let Some((op, c, ap, bp, from)) = concrete::<E, f64>(op, c, ap, bp, from) else {
                unreachable!("E is f64")
            };
            // SAFETY: as above.
            return same_bits::<f64, E>(unsafe {
                match kernel {
                    Kernel::Avx512 => blocked_avx512::<f64, Avx512F64>(op, c, ap, bp, from, scan),
                    _ => blocked_avx2::<f64, Avx2F64>(op, c, ap, bp, from, scan),
                }
            });
        }
        // Another element type: the portable kernel, below. Its panel width
        // is `Kernel::nr`'s for such a type too.
    }
    let _ = kernel;
    // SAFETY: the portable kernel needs no CPU feature.
    unsafe { blocked::<E, Portable<4, 8>>(op, c, ap, bp, from, scan) }
}

/// `T::AbsBits` as `E::AbsBits`, for `E` that is `T` (`dispatch` calls
/// this only there): through the value, which keeps infinity and NaN.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn same_bits<T: Float, E: Float>(bits: T::AbsBits) -> E::AbsBits {
    E::from_f64(T::from_abs_bits(bits).to_f64()).abs_bits()
}

/// [`blocked`] compiled for AVX-512F as a whole, so that the packing loops
/// and the epilogue are vectorised for it too, not only the micro-kernel.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f")]
unsafe fn blocked_avx512<E: Float, K: Micro<E>>(
    op: Operands<'_, E>,
    c: Band<'_, E>,
    ap: &mut [E],
    bp: &mut [E],
    from: PackedB<'_, E>,
    scan: bool,
) -> E::AbsBits {
    // SAFETY: the caller guarantees AVX-512F, the instruction set of the
    // AVX-512 micro-kernels this is called with.
    unsafe { blocked::<E, K>(op, c, ap, bp, from, scan) }
}

/// [`blocked`] compiled for AVX2 and FMA as a whole (see [`blocked_avx512`]).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked_avx2<E: Float, K: Micro<E>>(
    op: Operands<'_, E>,
    c: Band<'_, E>,
    ap: &mut [E],
    bp: &mut [E],
    from: PackedB<'_, E>,
    scan: bool,
) -> E::AbsBits {
    // SAFETY: the caller guarantees AVX2 and FMA, the instruction set of
    // the AVX2 micro-kernels this is called with.
    unsafe { blocked::<E, K>(op, c, ap, bp, from, scan) }
}

/// The blocked loops around the micro-kernel `K`.
///
/// # Safety
/// The CPU must support the instruction set `K` is compiled for.
#[inline(always)]
unsafe fn blocked<E: Float, K: Micro<E>>(
    op: Operands<'_, E>,
    c: Band<'_, E>,
    ap: &mut [E],
    bp: &mut [E],
    from: PackedB<'_, E>,
    scan: bool,
) -> E::AbsBits {
    let Operands {
        m,
        k,
        n,
        a,
        sa,
        b,
        sb,
        beta,
    } = op;
    // Every tile below lies within the m x n band: the loops keep
    // i + rows <= m and j + cols <= n.
    assert!(
        (c.rows(), c.cols()) == (m, n),
        "internal error: C's band is not m x n"
    );
    let mut c = c;
    let (mr, nr) = (K::MR, K::NR);
    let mut from = match from {
        PackedB::Panels { first, out } => {
            // SAFETY: the caller guarantees K's instruction set.
            unsafe { pack_panels::<E, K>(k, n, b, sb, first, out) };
            return E::AbsBits::default();
        }
        PackedB::Here => Ok(bp),
        PackedB::Shared(all) => Err(all),
    };
    // The measurement keeps one maximum per column of a tile, reduced once
    // at the end: a maximum per stored row took a horizontal reduction per
    // row, a fifth of this function's time in the MNIST-size step.
    let mut top = [E::AbsBits::default(); MAX_NR];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let bp: &[E] = match &mut from {
                Ok(bp) => {
                    let src = &b[pc * sb.0 + jc * sb.1..];
                    // SAFETY: the caller guarantees K's instruction set.
                    unsafe { pack::<E, K>(kc, nc, nr, src, (sb.1, sb.0), bp) };
                    bp
                }
                Err(all) => &all[shared_offset(jc, pc, k, nc, nr)..],
            };
            let beta = if pc == 0 { beta } else { E::ONE };
            // C's final values are stored in the last pass over k: measured
            // then, as each tile is stored (in L1).
            let measure = scan && pc + kc == k;
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                // SAFETY: the caller guarantees K's instruction set.
                unsafe { pack::<E, K>(kc, mc, mr, &a[ic * sa.0 + pc * sa.1..], sa, ap) };
                for jr in (0..nc).step_by(nr) {
                    let bpanel = &bp[jr * kc..(jr + nr) * kc];
                    for ir in (0..mc).step_by(mr) {
                        let apanel = &ap[ir * kc..(ir + mr) * kc];
                        let (rows, cols) = (mr.min(mc - ir), nr.min(nc - jr));
                        let (i, j) = (ic + ir, jc + jr);
                        if beta != E::ZERO {
                            prefetch_rows(&mut c, (i, j), rows, cols);
                        }
                        let (at, ldc) = (c.address(i, j), c.ldc());
                        let top = measure.then_some(&mut top[..]);
                        if rows == K::MR && cols == K::NR {
                            // SAFETY: the caller guarantees K's instruction
                            // set; the panels hold kc*MR and kc*NR elements
                            // (packed above); C's MR x NR tile at `at` is
                            // within the band (the loops' bounds, C's shape
                            // asserted above), which `c` borrows exclusively.
                            unsafe { K::tile_to_c(kc, apanel, bpanel, at, ldc, beta, top) };
                        } else {
                            // SAFETY: as above, for C's rows x cols block.
                            unsafe {
                                K::edge_to_c(kc, apanel, bpanel, at, ldc, beta, top, (rows, cols))
                            };
                        }
                    }
                }
            }
        }
    }
    top.iter().fold(E::AbsBits::default(), |t, &c| t.max(c))
}

/// Asks the CPU to bring the `rows x cols` block of C at `at` (row stride
/// `ldc`) into L2 while the micro-kernel runs, so that adding the tile to
/// C after it (on a pass with beta != 0, which reads C: every pass over k
/// after the first, and the first when the caller's beta is not 0; the
/// only passes that call this) does not wait for memory. Without
/// it, on a Zen 3 with C's rows 4 KB apart (1024 columns of f32), those
/// additions took a third of a 1024³ product: six rows, each a miss,
/// every few thousand cycles, which the hardware prefetchers do not
/// foresee. (Into L1, or on every pass, measured no better.)
#[inline(always)]
fn prefetch_rows<E>(c: &mut Band<'_, E>, (i, j): (usize, usize), rows: usize, cols: usize) {
    for r in i..i + rows {
        // A row of a tile may straddle two cache lines: its first and last.
        prefetch_at(c.address(r, j), Cache::L2);
        prefetch_at(c.address(r, j + cols.max(1) - 1), Cache::L2);
    }
}

/// The cache a [`prefetch`] fills.
#[derive(Clone, Copy)]
enum Cache {
    /// The first level: for data read within a few hundred cycles.
    L1,
    /// The second level: for data read only after the micro-kernel's few
    /// thousand cycles, kept out of the L1 its packed panels fill.
    L2,
}

/// Asks the CPU to bring the cache line of `s[at]` into `cache`; nothing
/// when `at` is past the end of `s` (or off x86-64).
#[inline(always)]
fn prefetch<E>(s: &[E], at: usize, cache: Cache) {
    if let Some(v) = s.get(at) {
        prefetch_at(v, cache);
    }
}

/// [`prefetch`] of the cache line holding `p`, which need not point to
/// anything valid: a prefetch never faults nor changes memory.
#[inline(always)]
fn prefetch_at<E>(p: *const E, cache: Cache) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
        let v = p.cast();
        // SAFETY: a prefetch is a hint that never faults nor changes memory,
        // whatever the address.
        unsafe {
            match cache {
                Cache::L1 => _mm_prefetch::<_MM_HINT_T0>(v),
                Cache::L2 => _mm_prefetch::<_MM_HINT_T1>(v),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, cache);
}

/// `out = acc + beta·out` (`out = acc` for beta 0, whatever `out` held).
#[inline(always)]
pub(crate) fn store_row<E: Float>(out: &mut [E], acc: &[E], beta: E) {
    if beta == E::ZERO {
        out.copy_from_slice(acc);
    } else {
        for (o, &v) in out.iter_mut().zip(acc) {
            *o = v + beta * *o;
        }
    }
}

/// `top[j] = max(top[j], values[j].abs_bits())`: a stored row's values
/// folded into per-column maxima.
#[inline(always)]
pub(crate) fn fold_abs_bits<E: Float>(top: &mut [E::AbsBits], values: &[E]) {
    for (t, v) in top.iter_mut().zip(values) {
        *t = (*t).max(v.abs_bits());
    }
}

/// Packs `len` lines (rows of A, or columns of B) of `kc` elements into panels
/// of `w` lines, interleaved: panel, then `p`, then line. Line `l`'s element `p`
/// is at `src[l*stride.0 + p*stride.1]`. Lines past `len` are zero.
///
/// # Safety
/// The CPU must support the instruction set of `K` (whose transpose it uses).
#[inline(always)]
unsafe fn pack<E: Float, K: Micro<E>>(
    kc: usize,
    len: usize,
    w: usize,
    src: &[E],
    (ls, ps): (usize, usize),
    out: &mut [E],
) {
    if ls == 1 && w * size_of::<E>() < 64 {
        // Lines contiguous for fixed p, in runs shorter than a cache line
        // (A of a Cᵀ-style product `Aᵀ·B`, in the kernel's MR-wide panels):
        // each source row's `len` values read once, in order, and dealt into
        // the panels. Panel by panel, the next panel read the same cache
        // lines again, `kc` rows apart (4 KB for a 1024-wide A: all in one
        // of L1's sets, evicted in between): a 1024³ `tn` product on a
        // 2-vCPU Xeon took 16.8-17.3 ms against 15.4-16.5 ms this way (the
        // AVX2 kernel's 6-wide panels: unchanged within noise; f64's 8-wide
        // AVX-512 panels are a whole line and keep the panel order).
        let whole = len / w;
        let lines = len % w;
        let out = &mut out[..len.next_multiple_of(w) * kc];
        for p in 0..kc {
            let row = &src[p * ps..p * ps + len];
            for panel in 0..whole {
                out[(panel * kc + p) * w..][..w].copy_from_slice(&row[panel * w..][..w]);
            }
            if lines > 0 {
                let dst = &mut out[(whole * kc + p) * w..][..w];
                let (have, zeros) = dst.split_at_mut(lines);
                have.copy_from_slice(&row[whole * w..]);
                zeros.fill(E::ZERO);
            }
        }
        return;
    }
    for (panel, chunk) in out[..len.next_multiple_of(w) * kc]
        .chunks_exact_mut(w * kc)
        .enumerate()
    {
        let l0 = panel * w;
        let lines = w.min(len - l0);
        if ls == 1 && lines == w {
            // Lines are contiguous for fixed p: copy runs of `w`.
            for (p, dst) in chunk.chunks_exact_mut(w).enumerate() {
                dst.copy_from_slice(&src[p * ps + l0..p * ps + l0 + w]);
            }
        } else if ls == 1 {
            // The last panel, short: runs of `lines`, then zeros. (Element
            // by element, with an index computed and checked for each, this
            // was a fifth of a 50-30-1 training step on a Zen 4, whose
            // 30-wide products are all one short panel of 32 for AVX-512.)
            for (p, dst) in chunk.chunks_exact_mut(w).enumerate() {
                let (have, zeros) = dst.split_at_mut(lines);
                have.copy_from_slice(&src[p * ps + l0..p * ps + l0 + lines]);
                zeros.fill(E::ZERO);
            }
        } else if ps == 1 && K::BLOCK > 0 {
            // Each line is contiguous in p (A row-major, or B as the rows of
            // Bᵀ): a transpose, by the kernel's vector blocks of BLOCK lines
            // by BLOCK values of p where the lines exist, element by element
            // for the rest (lines past `len` are zero).
            let tb = K::BLOCK;
            let full = kc - kc % tb;
            for g in (0..w).step_by(tb) {
                if g >= lines && g + tb <= w {
                    // A group past the last line: zeros, one short vector
                    // store per p (tb is the kernel's constant). Selecting
                    // element by element here was a fifth of the packing
                    // time of a 100-wide product (3 of its last panel's 4
                    // groups are empty).
                    for p in 0..kc {
                        chunk[p * w + g..][..tb].fill(E::ZERO);
                    }
                    continue;
                }
                // The group's lines that exist, and its width in the panel
                // (short in the last group when `w` is no multiple of tb).
                let (have, wide) = (lines.saturating_sub(g).min(tb), (w - g).min(tb));
                if have > 0 {
                    for p0 in (0..full).step_by(tb) {
                        let at = (l0 + g) * ls + p0;
                        if (p0 * size_of::<E>()).is_multiple_of(64) {
                            // The same cache line of the next panel's lines:
                            // each line is read in runs of kc (a KB of a
                            // 3 KB row), too short for the hardware
                            // prefetchers to learn; with this a batch-1024
                            // MNIST-size inference on a Zen 3 went from 9.6
                            // to 8.5 ms on one thread.
                            for l in 0..have {
                                prefetch(src, at + (w + l) * ls, Cache::L1);
                            }
                        }
                        let dst = &mut chunk[p0 * w + g..];
                        // SAFETY: the caller guarantees K's instruction set.
                        // A whole block with constant counts, so that the
                        // transpose's loops and tests fold away.
                        unsafe {
                            if have == tb && wide == tb {
                                K::transpose(&src[at..], ls, K::BLOCK, dst, w, K::BLOCK);
                            } else {
                                K::transpose(&src[at..], ls, have, dst, w, wide);
                            }
                        }
                    }
                }
                for p in if have > 0 { full } else { 0 }..kc {
                    for l in g..g + wide {
                        chunk[p * w + l] = if l < lines {
                            src[(l0 + l) * ls + p]
                        } else {
                            E::ZERO
                        };
                    }
                }
            }
        } else {
            for (p, dst) in chunk.chunks_exact_mut(w).enumerate() {
                for (l, d) in dst.iter_mut().enumerate() {
                    *d = if l < lines {
                        src[(l0 + l) * ls + p * ps]
                    } else {
                        E::ZERO
                    };
                }
            }
        }
    }
}
