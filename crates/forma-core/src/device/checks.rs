//! The length checks of every [`Device`](super::Device) primitive, written
//! once: each device calls the same function before it touches memory, so all
//! devices refuse the same calls with the same [`Error::Length`](crate::Error).
//! Lengths are passed as numbers; a buffer may be longer than needed, never
//! shorter.
//!
//! Every length an operation needs that is a product of sizes (`m·k`,
//! `rows·cols`) is computed with `checked_mul`, in release builds too: sizes
//! whose product overflows `usize` are an [`Error::Length`](crate::Error)
//! whose `expected` is `usize::MAX` (saturated: no buffer holds that many)
//! and whose `what` says which product overflowed. The checks are O(1).
//!
//! In every error `expected` is what the operation needs (at least that many
//! elements) and `got` the length of the buffer given.

use super::BiasKind;
use crate::{Error, Result};

/// `Ok` if a buffer of length `have` holds the `need` elements an operation
/// uses; else `Err(Error::Length { what, expected: need, got: have })`.
#[inline]
pub fn fits(what: &'static str, need: usize, have: usize) -> Result<()> {
    if need <= have {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected: need,
            got: have,
        })
    }
}

/// `rows · cols` with `checked_mul`; on overflow an
/// [`Error::Length`](crate::Error) named `what`, `expected` `usize::MAX` and
/// `got` the length `have` of the buffer the product was for.
#[inline]
pub fn elements(what: &'static str, (rows, cols): (usize, usize), have: usize) -> Result<usize> {
    crate::dim::elements(what, rows, cols, have)
}

/// `Ok` if `got` (a count the caller gave) is at most `limit` (what the
/// buffer has room for); else `Err(Error::Length { what, expected: limit, got })`.
#[inline]
pub fn at_most(what: &'static str, limit: usize, got: usize) -> Result<()> {
    if got <= limit {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected: limit,
            got,
        })
    }
}

/// Each named buffer holds `need` elements.
#[inline]
fn all_fit(need: usize, buffers: &[(&'static str, usize)]) -> Result<()> {
    buffers
        .iter()
        .try_for_each(|&(what, have)| fits(what, need, have))
}

/// [`Device::write`](super::Device::write): the destination holds the source.
#[inline]
pub fn write(src: usize, dst: usize) -> Result<()> {
    fits("Device::write destination", src, dst)
}

/// [`Device::read`](super::Device::read): the source holds what is read.
#[inline]
pub fn read(src: usize, dst: usize) -> Result<()> {
    fits("Device::read source", dst, src)
}

/// [`Device::fill`](super::Device::fill).
#[inline]
pub fn fill(len: usize, buffer: usize) -> Result<()> {
    fits("Device::fill buffer", len, buffer)
}

/// [`Device::copy`](super::Device::copy).
#[inline]
pub fn copy(len: usize, src: usize, dst: usize) -> Result<()> {
    fits("Device::copy source", len, src)?;
    fits("Device::copy destination", len, dst)
}

/// [`Device::matmul`](super::Device::matmul): whatever the layout, `A` holds
/// `m·k` elements, `B` `k·n` and `C` `m·n`.
#[inline]
pub fn matmul((m, k, n): (usize, usize, usize), (a, b, c): (usize, usize, usize)) -> Result<()> {
    fits(
        "matmul: A",
        elements("matmul: A (m·k overflows usize)", (m, k), a)?,
        a,
    )?;
    fits(
        "matmul: B",
        elements("matmul: B (k·n overflows usize)", (k, n), b)?,
        b,
    )?;
    fits(
        "matmul: C",
        elements("matmul: C (m·n overflows usize)", (m, n), c)?,
        c,
    )
}

/// [`Device::bias_act`](super::Device::bias_act): `x` (if given) and `y` hold
/// `rows·cols`, the bias what `kind` reads of it.
#[inline]
pub fn bias_act(
    (rows, cols): (usize, usize),
    x: Option<usize>,
    bias: Option<usize>,
    kind: BiasKind,
    y: usize,
) -> Result<()> {
    let n = elements("bias_act: y (rows·cols overflows usize)", (rows, cols), y)?;
    fits("bias_act: y", n, y)?;
    fits("bias_act: bias", kind.len(cols), bias.unwrap_or(0))?;
    x.map_or(Ok(()), |x| fits("bias_act: x", n, x))
}

/// [`Device::linear_forward`](super::Device::linear_forward): the product's
/// operands and the bias.
#[inline]
pub fn linear_forward(
    mkn: (usize, usize, usize),
    abc: (usize, usize, usize),
    bias: Option<usize>,
    kind: BiasKind,
) -> Result<()> {
    matmul(mkn, abc)?;
    fits("linear_forward: bias", kind.len(mkn.2), bias.unwrap_or(0))
}

/// [`Device::act_backward`](super::Device::act_backward).
#[inline]
pub fn act_backward(len: usize, x: usize, y: usize, dy: usize, dx: usize) -> Result<()> {
    all_fit(
        len,
        &[
            ("act_backward: x", x),
            ("act_backward: y", y),
            ("act_backward: dy", dy),
            ("act_backward: dx", dx),
        ],
    )
}

/// [`Device::bias_grad`](super::Device::bias_grad).
#[inline]
pub fn bias_grad(rows: usize, cols: usize, dy: usize, kind: BiasKind, out: usize) -> Result<()> {
    let n = elements(
        "bias_grad: dy (rows·cols overflows usize)",
        (rows, cols),
        dy,
    )?;
    fits("bias_grad: dy", n, dy)?;
    fits("bias_grad: out", kind.len(cols), out)
}

/// [`Device::softmax`](super::Device::softmax).
#[inline]
pub fn softmax(rows: usize, cols: usize, x: usize, y: usize) -> Result<()> {
    let n = elements("softmax: x (rows·cols overflows usize)", (rows, cols), x)?;
    all_fit(n, &[("softmax: x", x), ("softmax: y", y)])
}

/// [`Device::softmax_backward`](super::Device::softmax_backward).
#[inline]
pub fn softmax_backward(rows: usize, cols: usize, y: usize, dy: usize, dx: usize) -> Result<()> {
    let n = elements(
        "softmax_backward: y (rows·cols overflows usize)",
        (rows, cols),
        y,
    )?;
    all_fit(
        n,
        &[
            ("softmax_backward: y", y),
            ("softmax_backward: dy", dy),
            ("softmax_backward: dx", dx),
        ],
    )
}

/// [`Device::cross_entropy`](super::Device::cross_entropy).
#[inline]
pub fn cross_entropy(
    rows: usize,
    classes: usize,
    logits: usize,
    labels: usize,
    grad: usize,
) -> Result<()> {
    let n = elements(
        "cross_entropy: logits (rows·classes overflows usize)",
        (rows, classes),
        logits,
    )?;
    fits("cross_entropy: logits", n, logits)?;
    fits("cross_entropy: labels", rows, labels)?;
    fits("cross_entropy: gradient", n, grad)
}

/// [`Device::loss`](super::Device::loss).
#[inline]
pub fn loss(len: usize, pred: usize, target: usize, grad: usize) -> Result<()> {
    all_fit(
        len,
        &[
            ("loss: prediction", pred),
            ("loss: target", target),
            ("loss: gradient", grad),
        ],
    )
}

/// [`Device::sgd`](super::Device::sgd): the velocity is checked (and needed)
/// only with momentum.
#[inline]
pub fn sgd(len: usize, p: usize, g: usize, momentum: bool, v: Option<usize>) -> Result<()> {
    all_fit(len, &[("sgd: params", p), ("sgd: grads", g)])?;
    if momentum {
        fits("sgd: velocity", len, v.unwrap_or(0))?;
    }
    Ok(())
}

/// [`Device::adam`](super::Device::adam).
#[inline]
pub fn adam(len: usize, p: usize, g: usize, m: usize, v: usize) -> Result<()> {
    all_fit(
        len,
        &[
            ("adam: params", p),
            ("adam: grads", g),
            ("adam: m", m),
            ("adam: v", v),
        ],
    )
}

/// [`Device::count_nonfinite`](super::Device::count_nonfinite): `x` holds
/// `len` elements and `slot` is an element of `counts`.
#[inline]
pub fn count_nonfinite(len: usize, x: usize, counts: usize, slot: usize) -> Result<()> {
    fits("Device::count_nonfinite input", len, x)?;
    fits(
        "Device::count_nonfinite counts",
        slot.saturating_add(1),
        counts,
    )
}

/// [`Device::binary`](super::Device::binary): `a`, `b` and `out` hold `len`.
#[inline]
pub fn binary(len: usize, a: usize, b: usize, out: usize) -> Result<()> {
    all_fit(
        len,
        &[("binary: a", a), ("binary: b", b), ("binary: out", out)],
    )
}

/// [`Device::axpby`](super::Device::axpby): `x` and `y` hold `len`.
#[inline]
pub fn axpby(len: usize, x: usize, y: usize) -> Result<()> {
    all_fit(len, &[("axpby: x", x), ("axpby: y", y)])
}

/// [`Device::sum_axis`](super::Device::sum_axis): `x` holds `rows·cols`,
/// `out` one value per sum.
#[inline]
pub fn sum_axis(rows: usize, cols: usize, x: usize, axis: crate::Axis, out: usize) -> Result<()> {
    let n = elements("sum_axis: x (rows·cols overflows usize)", (rows, cols), x)?;
    fits("sum_axis: x", n, x)?;
    fits("sum_axis: out", axis.len(rows, cols), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUGE: usize = (1 << 62) + 1;

    fn length(what: &'static str, expected: usize, got: usize) -> Result<()> {
        Err(Error::Length {
            what,
            expected,
            got,
        })
    }

    #[test]
    fn size_products_that_overflow_are_length_errors() {
        // 4 · (2^62 + 1) wraps to 4: unchecked, these buffers of 4 would pass.
        assert_eq!(
            matmul((HUGE, 4, 4), (4, 16, 4)),
            length("matmul: A (m·k overflows usize)", usize::MAX, 4)
        );
        assert_eq!(
            matmul((4, 4, HUGE), (16, 4, 4)),
            length("matmul: B (k·n overflows usize)", usize::MAX, 4)
        );
        assert_eq!(
            matmul((HUGE, 0, 4), (0, 0, 4)),
            length("matmul: C (m·n overflows usize)", usize::MAX, 4)
        );
        let none = BiasKind::None;
        assert!(bias_act((HUGE, 4), None, None, none, 4).is_err());
        assert!(linear_forward((HUGE, 4, 4), (4, 16, 4), None, none).is_err());
        assert!(bias_grad(HUGE, 4, 4, none, 0).is_err());
        assert!(softmax(HUGE, 4, 4, 4).is_err());
        assert!(softmax_backward(4, HUGE, 4, 4, 4).is_err());
        assert!(cross_entropy(HUGE, 4, 4, usize::MAX, 4).is_err());
    }

    #[test]
    fn expected_is_what_is_needed_and_got_what_was_given() {
        assert_eq!(matmul((2, 3, 4), (6, 12, 8)), Ok(()));
        assert_eq!(matmul((2, 3, 4), (5, 12, 8)), length("matmul: A", 6, 5));
        assert_eq!(write(64, 32), length("Device::write destination", 64, 32));
        assert_eq!(read(32, 64), length("Device::read source", 64, 32));
        assert_eq!(fill(10, 5), length("Device::fill buffer", 10, 5));
        assert_eq!(at_most("rows", 32, 64), length("rows", 32, 64));
        assert_eq!(at_most("rows", 32, 32), Ok(()));
        assert_eq!(
            linear_forward((2, 3, 4), (6, 12, 8), Some(3), BiasKind::PerColumn),
            length("linear_forward: bias", 4, 3)
        );
    }
}
