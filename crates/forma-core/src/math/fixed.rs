//! The three layer products when the feature widths are compile-time constants.
//!
//! With `K` and `N` known, LLVM unrolls the inner loops completely and keeps a
//! row in registers: a 4x2x2 product costs a handful of instructions instead
//! of a packed GEMM's packing. Rows are `[E; K]` arrays (see
//! `<[E]>::as_chunks`), the weight is `[[E; K]; N]` (out x in, PyTorch's
//! layout). Only the batch length is a runtime number.
//!
//! Meant for weights of at most [`SMALL_WEIGHTS`] elements ([`is_small`],
//! as the `Cpu` device uses them): larger widths compute the same, but put
//! a `K·N`-element copy of the weight, or accumulator, on the stack.
//!
//! Each product picks, at compile time, the loop order whose innermost loop
//! runs along a contiguous width of at least [`LANES`] elements, so that it
//! vectorises: a narrow weight is transposed onto the stack first (at most
//! [`SMALL_WEIGHTS`] elements), and a dot product along a wide row is summed
//! in [`LANES`] interleaved partial sums. The order of every sum is fixed by
//! the widths alone, so a result is the same at every instruction-set level
//! (the products are compiled for the best one present, see `isa`) and for
//! every batch length.

use super::pointwise::Activation;
use crate::Float;

/// `for $row in $rows $body`, kept off LLVM's loop vectoriser when the
/// product is large. With the widths unrolled, the row loop is the
/// innermost loop left, and the vectoriser runs eight rows side by side: it
/// gathers strided inputs and transposes the outputs back, more than twice
/// the instructions of the straight-line vector code (the SLP vectoriser's)
/// that each row gets alone. An empty `black_box` in the loop is opaque to
/// the vectoriser and costs no instruction; results do not depend on it.
///
/// `$work` is the product's size as `multiversion!` measures it. Below
/// `isa::SMALL` the product runs inline in its caller, and there the loop
/// without the barrier is kept, vectorised across rows as before: for a
/// tiny product (XOR's 4x2x2) that is the faster form (4.2 against 2.9 ns
/// with the barrier in every case). The condition repeats the caller's, so
/// LLVM drops the other loop there.
macro_rules! rows {
    ($work:expr, $row:pat in $rows:expr, $body:block) => {
        if $work >= crate::math::isa::SMALL {
            for $row in $rows {
                core::hint::black_box(());
                $body
            }
        } else {
            for $row in $rows $body
        }
    };
}

/// Weights with at most this many elements use these kernels.
pub const SMALL_WEIGHTS: usize = 512;

/// Whether a `K`-in, `N`-out product should use these kernels rather than
/// [`gemm`](super::gemm). Evaluated at compile time for const widths.
pub const fn is_small(k: usize, n: usize) -> bool {
    match k.checked_mul(n) {
        Some(weights) => weights <= SMALL_WEIGHTS,
        None => false,
    }
}

/// A width from which a loop along it is worth vectorising, and the number
/// of partial sums a long dot product keeps (one AVX2 register of `f32`).
pub const LANES: usize = 8;

crate::math::isa::multiversion! {
    /// `y[r] = W · x[r] + beta·y[r]` for every row `r`: the forward `Y = X·Wᵀ`.
    ///
    /// # Panics
    /// If the two batches have different lengths (no element is read then).
    pub fn matmul_nt<E: Float; const K: usize, const N: usize>(x: &[[E; K]], w: &[[E; K]; N], beta: E, y: &mut [[E; N]]) -> () = matmul_nt_in,
        small if x.len() * K * N;
}

#[inline(always)]
fn matmul_nt_in<E: Float, const K: usize, const N: usize>(
    x: &[[E; K]],
    w: &[[E; K]; N],
    beta: E,
    y: &mut [[E; N]],
) {
    assert_eq!(x.len(), y.len(), "fixed::matmul_nt: batch lengths");
    if N >= LANES {
        // Many outputs: each input broadcast over a row of Wᵀ.
        let wt = transpose(w);
        rows!(x.len() * K * N, (xr, yr) in x.iter().zip(y.iter_mut()), {
            let mut acc = [E::ZERO; N];
            for (&a, wk) in xr.iter().zip(&wt) {
                for (s, &b) in acc.iter_mut().zip(wk) {
                    *s += a * b;
                }
            }
            store(yr, &acc, beta);
        });
    } else {
        // Few outputs: a dot product along the input row per output, eight
        // rows at a time where a kernel does (the same bits), then row by row.
        let done = super::dot_rows::nt_few_outputs(x, w, beta, y);
        let (x, y) = (&x[done..], &mut y[done..]);
        rows!(x.len() * K * N, (xr, yr) in x.iter().zip(y.iter_mut()), {
            let mut acc = [E::ZERO; N];
            for (s, wo) in acc.iter_mut().zip(w) {
                *s = super::reduce::dot(xr, wo);
            }
            store(yr, &acc, beta);
        });
    }
}

crate::math::isa::multiversion! {
    /// `dx[r] = Wᵀ · dy[r] + beta·dx[r]`: the input gradient `dX = dY·W`.
    ///
    /// # Panics
    /// If the two batches have different lengths (no element is read then).
    pub fn matmul_nn<E: Float; const N: usize, const K: usize>(dy: &[[E; N]], w: &[[E; K]; N], beta: E, dx: &mut [[E; K]]) -> () = matmul_nn_in,
        small if dy.len() * K * N;
}

#[inline(always)]
fn matmul_nn_in<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    w: &[[E; K]; N],
    beta: E,
    dx: &mut [[E; K]],
) {
    nn_rows(dy, w, dx, Plain(beta));
}

crate::math::isa::multiversion! {
    /// `dx[r] = (Wᵀ · dy[r]) ⊙ act'(y[r])`: the input gradient `dX = dY·W`
    /// carried on through the activation `act` whose output `y` is this
    /// product's input, in the same pass. Each element is the product's
    /// value times [`Activation::derivative`]`(y, y)`, the bits of
    /// [`matmul_nn`] followed by the activation's own backward pass; `act`
    /// must be one whose derivative needs only its output
    /// ([`Activation::derivative_from_output`]).
    ///
    /// Why: the separate pass reads back a gradient this product just
    /// wrote (iris's 100x32 one, a fifth of its step with the product).
    ///
    /// # Panics
    /// If the batches have different lengths (no element is read then).
    pub fn matmul_nn_act<E: Float; const N: usize, const K: usize>(dy: &[[E; N]], w: &[[E; K]; N], act: Activation, y: &[[E; K]], dx: &mut [[E; K]]) -> () = matmul_nn_act_in,
        small if dy.len() * K * N;
}

#[inline(always)]
fn matmul_nn_act_in<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    w: &[[E; K]; N],
    act: Activation,
    y: &[[E; K]],
    dx: &mut [[E; K]],
) {
    assert_eq!(dy.len(), y.len(), "fixed::matmul_nn_act: batch lengths");
    // One loop per activation, so that the derivative's formula is inlined
    // into the row loop rather than chosen per element.
    match act {
        Activation::Identity => matmul_nn_in(dy, w, E::ZERO, dx),
        Activation::Sigmoid => nn_rows(
            dy,
            w,
            dx,
            Through(y, |y| Activation::Sigmoid.derivative(y, y)),
        ),
        Activation::ReLU => nn_rows(dy, w, dx, Through(y, |y| Activation::ReLU.derivative(y, y))),
        Activation::Tanh => nn_rows(dy, w, dx, Through(y, |y| Activation::Tanh.derivative(y, y))),
        Activation::LeakyReLU { slope } => nn_rows(
            dy,
            w,
            dx,
            Through(y, move |y| Activation::LeakyReLU { slope }.derivative(y, y)),
        ),
    }
}

/// How a product stores row `r`'s sums `acc` into its output row. (A
/// trait with inlined methods, not a closure: a closure holding the whole
/// row's store, called from the product's several loops, was compiled out
/// of line, without the product's instruction set, and called per row.
/// [`Through`]'s closure is only the derivative's one-line formula, which
/// is inlined.)
trait RowEnd<E, const W: usize> {
    fn finish(&self, r: usize, out: &mut [E; W], acc: &[E; W]);
}

/// `out = acc + beta·out` (see [`store`]).
struct Plain<E>(E);

impl<E: Float, const W: usize> RowEnd<E, W> for Plain<E> {
    #[inline(always)]
    fn finish(&self, _r: usize, out: &mut [E; W], acc: &[E; W]) {
        store(out, acc, self.0);
    }
}

/// `out[j] = acc[j] · df(y[r][j])`: an activation's derivative, from its
/// output `y`, applied as the row is stored.
struct Through<'y, E, const W: usize, F>(&'y [[E; W]], F);

impl<E: Float, const W: usize, F: Fn(E) -> E> RowEnd<E, W> for Through<'_, E, W, F> {
    #[inline(always)]
    fn finish(&self, r: usize, out: &mut [E; W], acc: &[E; W]) {
        for ((d, &a), &y) in out.iter_mut().zip(acc).zip(&self.0[r]) {
            *d = a * (self.1)(y);
        }
    }
}

/// The rows of `dY · W`, each stored by `end`.
#[inline(always)]
fn nn_rows<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    w: &[[E; K]; N],
    dx: &mut [[E; K]],
    end: impl RowEnd<E, K>,
) {
    assert_eq!(dy.len(), dx.len(), "fixed::matmul_nn: batch lengths");
    if K >= LANES || N < LANES {
        // Each output gradient broadcast over a row of W.
        rows!(dy.len() * K * N, (r, (dyr, dxr)) in dy.iter().zip(dx.iter_mut()).enumerate(), {
            let mut acc = [E::ZERO; K];
            for (&g, wo) in dyr.iter().zip(w) {
                for (s, &b) in acc.iter_mut().zip(wo) {
                    *s += g * b;
                }
            }
            end.finish(r, dxr, &acc);
        });
    } else {
        // Few inputs, many outputs: a dot product along the gradient row
        // with each row of Wᵀ.
        let wt = transpose(w);
        rows!(dy.len() * K * N, (r, (dyr, dxr)) in dy.iter().zip(dx.iter_mut()).enumerate(), {
            let mut acc = [E::ZERO; K];
            for (s, wk) in acc.iter_mut().zip(&wt) {
                *s = super::reduce::dot(dyr, wk);
            }
            end.finish(r, dxr, &acc);
        });
    }
}

crate::math::isa::multiversion! {
    /// `dW = dYᵀ · X + beta·dW`: the weight gradient, summed over the batch
    /// in row order.
    ///
    /// # Panics
    /// If the two batches have different lengths (no element is read then).
    pub fn matmul_tn<E: Float; const N: usize, const K: usize>(dy: &[[E; N]], x: &[[E; K]], beta: E, dw: &mut [[E; K]; N]) -> () = matmul_tn_in,
        small if dy.len() * K * N;
}

#[inline(always)]
fn matmul_tn_in<E: Float, const N: usize, const K: usize>(
    dy: &[[E; N]],
    x: &[[E; K]],
    beta: E,
    dw: &mut [[E; K]; N],
) {
    assert_eq!(dy.len(), x.len(), "fixed::matmul_tn: batch lengths");
    // An outer product per row, accumulated along the wider width.
    if K >= N || N < LANES {
        let mut acc = [[E::ZERO; K]; N];
        rows!(dy.len() * K * N, (dyr, xr) in dy.iter().zip(x), {
            for (row, &g) in acc.iter_mut().zip(dyr) {
                for (s, &b) in row.iter_mut().zip(xr) {
                    *s += g * b;
                }
            }
        });
        for (drow, arow) in dw.iter_mut().zip(&acc) {
            store(drow, arow, beta);
        }
    } else {
        let mut acc_t = [[E::ZERO; N]; K];
        rows!(dy.len() * K * N, (dyr, xr) in dy.iter().zip(x), {
            for (col, &b) in acc_t.iter_mut().zip(xr) {
                for (s, &g) in col.iter_mut().zip(dyr) {
                    *s += g * b;
                }
            }
        });
        // Stored transposed in place: a transposed copy returned by value
        // compiled to scatters and a memcpy (twice the whole product's time
        // at 100x2x32). And through memory: with the sums in registers up
        // to the transposed store, LLVM laid them out as that store's (out,
        // in) pairs, and each row cost a permutation per vector (iris's
        // 100x2x32 weight gradient was 10.9% of its step on a Zen 4, 7.4%
        // with this; the store and reload cost one vector each, once).
        let acc_t = core::hint::black_box(acc_t);
        for (j, drow) in dw.iter_mut().enumerate() {
            for (k, d) in drow.iter_mut().enumerate() {
                let a = acc_t[k][j];
                *d = if beta == E::ZERO { a } else { a + beta * *d };
            }
        }
    }
}

/// `out = acc + beta·out`; `out = acc` for `beta = 0`, whatever `out` held.
#[inline(always)]
fn store<E: Float, const W: usize>(out: &mut [E; W], acc: &[E; W], beta: E) {
    for (d, &a) in out.iter_mut().zip(acc) {
        *d = if beta == E::ZERO { a } else { a + beta * *d };
    }
}

/// `Mᵀ`, on the stack (at most [`SMALL_WEIGHTS`] elements as the `Cpu`
/// device calls these products).
/// Plain loops: `core::array::from_fn`'s closure is not reliably inlined
/// into an instruction-set copy, and then runs as an out-of-line call.
#[inline(always)]
fn transpose<E: Float, const R: usize, const C: usize>(m: &[[E; C]; R]) -> [[E; R]; C] {
    let mut t = [[E::ZERO; R]; C];
    for (r, row) in m.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c][r] = v;
        }
    }
    t
}

#[cfg(test)]
mod isa_level_tests {
    //! Each product compiled for the instruction set `FORMA_ISA` selects
    //! gives the baseline build's bits (run at each level by `.ci/run`).
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn values<E: Float>(n: usize, seed: usize) -> Vec<E> {
        (0..n)
            .map(|i| E::from_f64(((((i + seed) * 7919) % 2001) as f64 - 1000.0) / 97.0))
            .collect()
    }

    fn check<E: Float, const K: usize, const N: usize>() {
        let bits = |v: &[E]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        let w_flat = values::<E>(K * N, 1);
        let w: [[E; K]; N] = core::array::from_fn(|o| core::array::from_fn(|k| w_flat[o * K + k]));
        for m in [1usize, 5, 100] {
            let x: Vec<[E; K]> = values::<E>(m * K, 2).as_chunks::<K>().0.to_vec();
            let dy: Vec<[E; N]> = values::<E>(m * N, 3).as_chunks::<N>().0.to_vec();
            for beta in [E::ZERO, E::from_f64(0.5)] {
                let (mut y, mut y0) = (vec![[E::ONE; N]; m], vec![[E::ONE; N]; m]);
                matmul_nt(&x, &w, beta, &mut y);
                matmul_nt_in(&x, &w, beta, &mut y0);
                assert_eq!(
                    bits(y.as_flattened()),
                    bits(y0.as_flattened()),
                    "nt {K}x{N} m={m}"
                );
                let (mut dx, mut dx0) = (vec![[E::ONE; K]; m], vec![[E::ONE; K]; m]);
                matmul_nn(&dy, &w, beta, &mut dx);
                matmul_nn_in(&dy, &w, beta, &mut dx0);
                assert_eq!(
                    bits(dx.as_flattened()),
                    bits(dx0.as_flattened()),
                    "nn {K}x{N} m={m}"
                );
                let (mut dw, mut dw0) = ([[E::ONE; K]; N], [[E::ONE; K]; N]);
                matmul_tn(&dy, &x, beta, &mut dw);
                matmul_tn_in(&dy, &x, beta, &mut dw0);
                assert_eq!(
                    bits(dw.as_flattened()),
                    bits(dw0.as_flattened()),
                    "tn {K}x{N} m={m}"
                );
            }
            // Through each activation: the product's bits, then the
            // derivative from the output, as the separate pass makes it.
            let y: Vec<[E; K]> = values::<E>(m * K, 4)
                .iter()
                .map(|&v| v / E::from_f64(11.0))
                .collect::<Vec<_>>()
                .as_chunks::<K>()
                .0
                .to_vec();
            for act in [
                Activation::Identity,
                Activation::Sigmoid,
                Activation::ReLU,
                Activation::Tanh,
                Activation::LeakyReLU { slope: 0.1 },
            ] {
                let mut through = vec![[E::ONE; K]; m];
                matmul_nn_act(&dy, &w, act, &y, &mut through);
                let mut want = vec![[E::ONE; K]; m];
                matmul_nn_in(&dy, &w, E::ZERO, &mut want);
                for (row, yr) in want.iter_mut().zip(&y) {
                    for (d, &yv) in row.iter_mut().zip(yr) {
                        *d *= act.derivative(yv, yv);
                    }
                }
                assert_eq!(
                    bits(through.as_flattened()),
                    bits(want.as_flattened()),
                    "nn through {act:?} {K}x{N} m={m}"
                );
            }
        }
    }

    #[test]
    fn fixed_products_match_the_baseline_build_at_each_isa_level() {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        std::eprintln!("fixed products at {:?}", crate::math::isa::level());
        fn both<const K: usize, const N: usize>() {
            check::<f32, K, N>();
            check::<f64, K, N>();
        }
        both::<2, 32>();
        both::<32, 1>();
        both::<2, 2>();
        both::<7, 3>();
        both::<3, 9>();
        both::<16, 32>();
        both::<17, 20>();
    }
}
