//! The length checks of every [`Device`](super::Device) primitive, written
//! once: each device calls the same function before it touches memory, so all
//! devices refuse the same calls with the same [`Error::Length`](crate::Error).
//! Lengths are passed as numbers; a buffer may be longer than needed, never
//! shorter.

use super::BiasKind;
use crate::{Error, Result};

/// `Ok` if a buffer of length `have` holds the `need` elements an operation uses.
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

/// Each named buffer holds `need` elements.
fn all_fit(need: usize, buffers: &[(&'static str, usize)]) -> Result<()> {
    buffers
        .iter()
        .try_for_each(|&(what, have)| fits(what, need, have))
}

/// [`Device::write`](super::Device::write): the destination holds the source.
pub fn write(src: usize, dst: usize) -> Result<()> {
    fits("Device::write destination", src, dst)
}

/// [`Device::read`](super::Device::read): the source holds what is read.
pub fn read(src: usize, dst: usize) -> Result<()> {
    fits("Device::read source", dst, src)
}

/// [`Device::fill`](super::Device::fill).
pub fn fill(len: usize, buffer: usize) -> Result<()> {
    fits("Device::fill", len, buffer)
}

/// [`Device::copy`](super::Device::copy).
pub fn copy(len: usize, src: usize, dst: usize) -> Result<()> {
    fits("Device::copy source", len, src)?;
    fits("Device::copy destination", len, dst)
}

/// [`Device::matmul`](super::Device::matmul): whatever the layout, `A` holds
/// `m·k` elements, `B` `k·n` and `C` `m·n`.
pub fn matmul((m, k, n): (usize, usize, usize), (a, b, c): (usize, usize, usize)) -> Result<()> {
    fits("matmul: A", m * k, a)?;
    fits("matmul: B", k * n, b)?;
    fits("matmul: C", m * n, c)
}

/// [`Device::bias_act`](super::Device::bias_act): `x` (if given) and `y` hold
/// `rows·cols`, the bias what `kind` reads of it.
pub fn bias_act(
    (rows, cols): (usize, usize),
    x: Option<usize>,
    bias: Option<usize>,
    kind: BiasKind,
    y: usize,
) -> Result<()> {
    let n = rows * cols;
    fits("bias_act: y", n, y)?;
    fits("bias_act: bias", kind.len(cols), bias.unwrap_or(0))?;
    x.map_or(Ok(()), |x| fits("bias_act: x", n, x))
}

/// [`Device::linear_forward`](super::Device::linear_forward): the product's
/// operands and the bias.
pub fn linear_forward(
    mkn: (usize, usize, usize),
    abc: (usize, usize, usize),
    bias: Option<usize>,
    kind: BiasKind,
) -> Result<()> {
    matmul(mkn, abc)?;
    fits("bias_act: bias", kind.len(mkn.2), bias.unwrap_or(0))
}

/// [`Device::act_backward`](super::Device::act_backward).
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
pub fn bias_grad(rows: usize, cols: usize, dy: usize, kind: BiasKind, out: usize) -> Result<()> {
    fits("bias_grad: dy", rows * cols, dy)?;
    fits("bias_grad: out", kind.len(cols), out)
}

/// [`Device::softmax`](super::Device::softmax).
pub fn softmax(rows: usize, cols: usize, x: usize, y: usize) -> Result<()> {
    all_fit(rows * cols, &[("softmax: x", x), ("softmax: y", y)])
}

/// [`Device::softmax_backward`](super::Device::softmax_backward).
pub fn softmax_backward(rows: usize, cols: usize, y: usize, dy: usize, dx: usize) -> Result<()> {
    all_fit(
        rows * cols,
        &[
            ("softmax_backward: y", y),
            ("softmax_backward: dy", dy),
            ("softmax_backward: dx", dx),
        ],
    )
}

/// [`Device::cross_entropy`](super::Device::cross_entropy).
pub fn cross_entropy(
    rows: usize,
    classes: usize,
    logits: usize,
    labels: usize,
    grad: usize,
) -> Result<()> {
    fits("cross_entropy: logits", rows * classes, logits)?;
    fits("cross_entropy: labels", rows, labels)?;
    fits("cross_entropy: gradient", rows * classes, grad)
}

/// [`Device::loss`](super::Device::loss).
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
pub fn sgd(len: usize, p: usize, g: usize, momentum: bool, v: Option<usize>) -> Result<()> {
    all_fit(len, &[("sgd: params", p), ("sgd: grads", g)])?;
    if momentum {
        fits("sgd: velocity", len, v.unwrap_or(0))?;
    }
    Ok(())
}

/// [`Device::adam`](super::Device::adam).
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
