//! Models that leave memory: `.safetensors` files (the format PyTorch,
//! candle and burn read), written and read with the `safetensors` crate.
//!
//! Tensors are named by the model's structure ([`Named`]: the names
//! PyTorch's `state_dict()` gives the equivalent `nn.Sequential`), and
//! loading checks every tensor against the model's type: a missing or
//! unexpected name, another dtype (no silent cast), a shape other than the
//! type's `[out, in]` (a transposed weight included, unless the layer is
//! square: then nothing can tell) and a non-finite value
//! are errors ([`Error::Tensor`]) naming the tensor, what was expected and
//! what came. Loading reads from any byte slice (no alignment needed:
//! `include_bytes!` works) and changes the model only when every tensor
//! passed.
//!
//! ```
//! use forma::prelude::*;
//! # fn main() -> forma::Result<()> {
//! let net = Mlp::<2, 4, 1>::initialize(&mut rng(0));
//! let bytes = forma::io::to_bytes(&net)?;
//! let mut other = Mlp::<2, 4, 1>::initialize(&mut rng(1));
//! forma::io::load_bytes(&mut other, &bytes)?;
//! assert_eq!(other, net);
//! // A 4-2-... net does not load a 2-4-... file, although the counts match.
//! let mut wrong = seq!(Linear::<4, 2>::zeros(), Sigmoid, Linear::<2, 1>::zeros());
//! let e = forma::io::load_bytes(&mut wrong, &bytes).unwrap_err();
//! assert!(e.to_string().contains("`0.weight`: expected shape [2, 4]"), "{e}");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use forma_core::{Error, Float, Result};
use forma_layers::{Named, Params};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// An element type a safetensors file can hold, with its dtype.
pub trait FileElement: Float {
    /// The dtype on file (`F32`, `F64`).
    const DTYPE: Dtype;
    /// Appends the little-endian bytes of `values`.
    fn put(values: &[Self], out: &mut Vec<u8>);
    /// Reads one value from its little-endian bytes (`bytes.len()` is the size).
    fn get(bytes: &[u8]) -> Self;
}

impl FileElement for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn put(values: &[f32], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    fn get(bytes: &[u8]) -> f32 {
        let mut b = [0; 4];
        b.copy_from_slice(bytes);
        f32::from_le_bytes(b)
    }
}

impl FileElement for f64 {
    const DTYPE: Dtype = Dtype::F64;
    fn put(values: &[f64], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    fn get(bytes: &[u8]) -> f64 {
        let mut b = [0; 8];
        b.copy_from_slice(bytes);
        f64::from_le_bytes(b)
    }
}

/// How the names on file relate to forma's ([`Named`]): a prefix before
/// every name, and renames of single tensors (applied after the prefix),
/// for a PyTorch model that is not a plain `nn.Sequential`.
///
/// ```
/// use forma::io::Names;
/// // forma's `0.weight` is `encoder.0.weight` on file, and `2.bias` is `head.bias`.
/// let names = Names::prefixed("encoder.").rename("encoder.2.bias", "head.bias");
/// assert_eq!(names.on_file("0.weight"), "encoder.0.weight");
/// assert_eq!(names.on_file("2.bias"), "head.bias");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    renames: Vec<(String, String)>,
}

impl Names {
    /// The names as [`Named`] gives them.
    pub fn plain() -> Self {
        Names::default()
    }

    /// Every name with `prefix` before it.
    pub fn prefixed(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
            renames: Vec::new(),
        }
    }

    /// The tensor called `from` (after the prefix) is `to` on file.
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.to_string(), to.to_string()));
        self
    }

    /// The name on file of forma's tensor `name`.
    pub fn on_file(&self, name: &str) -> String {
        let full = std::format!("{}{name}", self.prefix);
        match self.renames.iter().find(|(from, _)| *from == full) {
            Some((_, to)) => to.clone(),
            None => full,
        }
    }
}

/// One tensor of the model: its name on file, its shape, its length.
struct Expected {
    name: String,
    shape: Vec<usize>,
    len: usize,
}

/// The model's tensors in visiting order, with their names on file;
/// `Err` if two share a name.
fn expected<E: Float, M: Params<E> + Named>(model: &M, names: &Names) -> Result<Vec<Expected>> {
    let mut out = Vec::new();
    model.names(&mut |name, shape| {
        out.push(Expected {
            name: names.on_file(name),
            shape: shape.to_vec(),
            len: shape.iter().product(),
        })
    });
    let mut lens = Vec::new();
    model.visit(&mut |p| lens.push(p.len()));
    let agree = lens.len() == out.len() && lens.iter().zip(&out).all(|(l, e)| *l == e.len);
    if !agree {
        return Err(tensor_error(
            "(the model)",
            "",
            "a name for every parameter tensor (Named and Params agree)",
            "a type whose Named and Params walk different tensors".to_string(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for e in out.iter().filter(|e| e.len > 0) {
        if !seen.insert(e.name.as_str()) {
            return Err(tensor_error(
                "(the names)",
                &e.name,
                "one tensor per name",
                "two tensors renamed to it".to_string(),
            ));
        }
    }
    Ok(out)
}

fn tensor_error(file: &str, name: &str, expected: &str, got: String) -> Error {
    Error::Tensor {
        file: file.to_string(),
        name: name.to_string(),
        expected: expected.to_string(),
        got,
    }
}

/// One tensor to write: its name on file, shape and little-endian bytes.
pub(crate) struct Written {
    name: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// The tensors of `model` with elements (a layer's absent bias is not
/// written), named by `names`, appended to `out`.
pub(crate) fn tensors_of<E, M>(model: &M, names: &Names, out: &mut Vec<Written>) -> Result<()>
where
    E: FileElement,
    M: Params<E> + Named,
{
    let expected = expected(model, names)?;
    let mut at = 0;
    model.visit(&mut |p| {
        let e = &expected[at];
        at += 1;
        if e.len > 0 {
            let mut bytes = Vec::with_capacity(std::mem::size_of_val(p));
            E::put(p, &mut bytes);
            out.push(Written {
                name: e.name.clone(),
                shape: e.shape.clone(),
                bytes,
            });
        }
    });
    Ok(())
}

/// The bytes of a `.safetensors` file holding `tensors` (of dtype `dtype`)
/// and `metadata`; `Err` if two tensors share a name.
pub(crate) fn serialize(
    dtype: Dtype,
    tensors: &[Written],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let mut views = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert(t.name.as_str()) {
            return Err(tensor_error(
                "(writing)",
                &t.name,
                "one tensor per name",
                "two tensors of that name".to_string(),
            ));
        }
        let view = TensorView::new(dtype, t.shape.clone(), &t.bytes)
            .map_err(|err| tensor_error("(writing)", &t.name, "a valid tensor", err.to_string()))?;
        views.push((t.name.clone(), view));
    }
    safetensors::serialize(views, metadata)
        .map_err(|err| tensor_error("(writing)", "", "a safetensors file", err.to_string()))
}

/// The model as the bytes of a `.safetensors` file, with its tensors named
/// by [`Named`] and `names` (tensors with no elements, a layer's absent
/// bias, are not written) and `metadata` in the header.
pub fn to_bytes_with<E, M>(
    model: &M,
    names: &Names,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>>
where
    E: FileElement,
    M: Params<E> + Named,
{
    let mut tensors = Vec::new();
    tensors_of(model, names, &mut tensors)?;
    serialize(E::DTYPE, &tensors, metadata)
}

/// [`to_bytes_with`] with plain names and no metadata.
pub fn to_bytes<E: FileElement, M: Params<E> + Named>(model: &M) -> Result<Vec<u8>> {
    to_bytes_with(model, &Names::plain(), None)
}

/// Writes the model to a `.safetensors` file (plain names).
pub fn save<E: FileElement, M: Params<E> + Named>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    let bytes = to_bytes(model)?;
    write_file(path.as_ref(), &bytes)
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| {
        tensor_error(
            &path.display().to_string(),
            "",
            "a writable file",
            e.to_string(),
        )
    })
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        tensor_error(
            &path.display().to_string(),
            "",
            "a readable file",
            e.to_string(),
        )
    })
}

/// The parsed file, or an error naming `file`.
pub(crate) fn parse<'a>(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| tensor_error(file, "", "a safetensors file", e.to_string()))
}

/// Decodes tensor `e` from `st`, checked against the model's expectation.
fn decode<E: FileElement>(file: &str, st: &SafeTensors<'_>, e: &Expected) -> Result<Vec<E>> {
    let view = st.tensor(&e.name).map_err(|_| {
        tensor_error(
            file,
            &e.name,
            &std::format!("a tensor of shape {:?} ({:?})", e.shape, E::DTYPE),
            "no tensor of that name".to_string(),
        )
    })?;
    if view.dtype() != E::DTYPE {
        return Err(tensor_error(
            file,
            &e.name,
            &std::format!("dtype {:?} (no conversion is made)", E::DTYPE),
            std::format!("{:?}", view.dtype()),
        ));
    }
    if view.shape() != e.shape.as_slice() {
        let mut reversed = e.shape.clone();
        reversed.reverse();
        let hint = if view.shape() == reversed.as_slice() && e.shape.len() == 2 {
            " (transposed: forma and PyTorch store a weight as [out, in])"
        } else {
            ""
        };
        return Err(tensor_error(
            file,
            &e.name,
            &std::format!("shape {:?}", e.shape),
            std::format!("{:?}{hint}", view.shape()),
        ));
    }
    let size = std::mem::size_of::<E>();
    let data = view.data();
    if data.len() != e.len * size {
        return Err(tensor_error(
            file,
            &e.name,
            &std::format!("{} bytes", e.len * size),
            std::format!("{} bytes", data.len()),
        ));
    }
    let values: Vec<E> = data.chunks_exact(size).map(E::get).collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(tensor_error(
            file,
            &e.name,
            "finite values",
            std::format!("{} at element {i}", values[i].to_f64()),
        ));
    }
    Ok(values)
}

/// The values of every tensor of `model` (in visiting order) from a parsed
/// file, checked, without changing the model.
pub(crate) fn decode_all<E, M>(
    model: &M,
    st: &SafeTensors<'_>,
    names: &Names,
    extra: Extra,
    file: &str,
) -> Result<Vec<Vec<E>>>
where
    E: FileElement,
    M: Params<E> + Named,
{
    let expected = expected(model, names)?;
    let mut decoded = Vec::with_capacity(expected.len());
    for e in &expected {
        decoded.push(if e.len == 0 {
            Vec::new()
        } else {
            decode::<E>(file, st, e)?
        });
    }
    if extra == Extra::Refuse {
        let mut on_file = st.names();
        on_file.sort();
        if let Some(unexpected) = on_file
            .iter()
            .find(|n| !expected.iter().any(|e| e.len > 0 && e.name == ***n))
        {
            let known: Vec<&str> = expected
                .iter()
                .filter(|e| e.len > 0)
                .map(|e| e.name.as_str())
                .collect();
            return Err(tensor_error(
                file,
                unexpected,
                &std::format!("only the model's tensors ({})", known.join(", ")),
                "a tensor the model does not have".to_string(),
            ));
        }
    }
    Ok(decoded)
}

/// Writes decoded values (from [`decode_all`] for the same type) into `model`.
pub(crate) fn write_all<E: Float, M: Params<E>>(model: &mut M, decoded: &[Vec<E>]) {
    let mut at = 0;
    model.visit_mut(&mut |p| {
        p.copy_from_slice(&decoded[at]);
        at += 1;
    });
}

/// Loads every parameter of `model` from the bytes of a `.safetensors`
/// file, named as `names` says, checking each tensor (see the module's
/// docs). The model is changed only if every tensor passed. Tensors on file
/// that the model does not have are an error unless `extra` is
/// [`Extra::Ignore`]. `file` names the source in errors.
pub fn load_bytes_with<E, M>(
    model: &mut M,
    bytes: &[u8],
    names: &Names,
    extra: Extra,
    file: &str,
) -> Result<()>
where
    E: FileElement,
    M: Params<E> + Named,
{
    let st = parse(file, bytes)?;
    let decoded = decode_all(model, &st, names, extra, file)?;
    write_all(model, &decoded);
    Ok(())
}

/// What to do with tensors on file that the model does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// An error naming the first one (the default: a file for another model
    /// is not loaded by accident).
    Refuse,
    /// Skip them (a checkpoint that also holds optimizer state, a larger
    /// PyTorch model of which this is a part).
    Ignore,
}

/// [`load_bytes_with`] with plain names, refusing extra tensors.
pub fn load_bytes<E: FileElement, M: Params<E> + Named>(model: &mut M, bytes: &[u8]) -> Result<()> {
    load_bytes_with(model, bytes, &Names::plain(), Extra::Refuse, "(bytes)")
}

/// Loads a `.safetensors` file into `model` (plain names, extra tensors
/// refused); errors name the file.
pub fn load<E: FileElement, M: Params<E> + Named>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = path.display().to_string();
    load_bytes_with(model, &bytes, &Names::plain(), Extra::Refuse, &file)
}

/// Every parameter in visiting order as little-endian bytes: forma's flat
/// format, which a network with `Inline` storage reads at compile time
/// (`Linear::from_le_bytes`, `forma::layers::embed`) with no allocator.
/// It has no names or shapes: the reading type is the check.
pub fn to_flat_bytes<E: FileElement, M: Params<E>>(model: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(M::COUNT * std::mem::size_of::<E>());
    model.visit(&mut |p| E::put(p, &mut out));
    out
}

/// Writes [`to_flat_bytes`] to a file.
pub fn save_flat<E: FileElement, M: Params<E>>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    write_file(path.as_ref(), &to_flat_bytes(model))
}
