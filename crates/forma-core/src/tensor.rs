//! [`Tensor`]: a heap-backed, row-major matrix whose dimensions are types.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Index, IndexMut};

use core::borrow::{Borrow, BorrowMut};

use crate::Float;
use crate::device::{Cpu, Device};
use crate::dim::{AreMultipliable, Const, Dim, elements};
use crate::error::{Error, Result, check_finite};
use crate::math::{gemm, reduce};

/// A `rows x cols` matrix of `E`, stored row-major in one heap buffer.
///
/// Either dimension can be a compile-time [`Const<N>`] or a runtime `usize`.
/// In forma the columns are features (always `Const` for layer inputs and
/// outputs) and the rows are the batch, whichever is convenient:
///
/// ```
/// use forma_core::{Const, Tensor};
/// // A batch of any length with 2 features.
/// let x = Tensor::<f32, usize, Const<2>>::from_rows(&[[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]);
/// assert_eq!((x.rows(), x.cols()), (3, 2));
/// // A 2x2 whose whole shape is in the type.
/// let w = Tensor::from_array([[1.0f32, 2.0], [3.0, 4.0]]);
/// let y = x.matmul(&w).unwrap(); // (3 x 2) . (2 x 2)
/// assert_eq!(y.row(2), &[4.0, 6.0]);
/// ```
///
/// Every constructor initialises every element: there is no way to observe
/// uninitialised memory (one of the tutorials got NaNs from `torch.Tensor(2, 2)`).
///
/// On the [`Cpu`] the buffer holds exactly `rows · cols` elements (another
/// device may keep a longer buffer; the tensor is its first [`Tensor::len`]
/// elements). That product is computed with `checked_mul`: where it
/// overflows `usize`, the constructors that return a [`Result`] return
/// [`Error::Length`] and the others panic (no buffer could hold it; `vec!`
/// panics on such a capacity too).
///
/// # On a device
///
/// The last parameter is the [`Device`] whose memory holds the elements:
/// [`Cpu`] by default, where every method below is available. On any other
/// device a tensor is made by [`Tensor::zeros_on`] or [`Tensor::upload`],
/// refilled by [`Tensor::write`] and read back by [`Tensor::download`]; its
/// width is still a type, so a width mismatch on a GPU is the same compile
/// error as on the CPU.
pub struct Tensor<E: Float, R: Dim, C: Dim, D: Device<E> = Cpu> {
    data: D::Buffer,
    rows: R,
    cols: C,
}

/// A batch of runtime length with `C` features: the usual activation type
/// (on the [`Cpu`] unless a device is named).
pub type Batch<E, const C: usize, D = Cpu> = Tensor<E, usize, Const<C>, D>;

impl<E: Float, R: Dim, C: Dim> Clone for Tensor<E, R, C> {
    fn clone(&self) -> Self {
        Tensor {
            data: self.data.clone(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<E: Float, R: Dim, C: Dim> core::fmt::Debug for Tensor<E, R, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tensor")
            .field("rows", &self.rows())
            .field("cols", &self.cols())
            .field("data", &self.data)
            .finish()
    }
}

impl<E: Float, R: Dim, C: Dim> PartialEq for Tensor<E, R, C> {
    fn eq(&self, other: &Self) -> bool {
        self.rows() == other.rows() && self.cols() == other.cols() && self.data == other.data
    }
}

/// What every device offers: shape, the buffer, transfers.
impl<E: Float, R: Dim, C: Dim, D: Device<E>> Tensor<E, R, C, D> {
    /// `rows x cols` zeros in `device`'s memory ([`Error::Length`] if
    /// `rows · cols` overflows `usize`).
    pub fn zeros_on(device: &D, rows: R, cols: C) -> Result<Self> {
        let len = elements(
            "Tensor::zeros_on (rows · cols overflows usize)",
            rows.size(),
            cols.size(),
            0,
        )?;
        Ok(Tensor {
            data: device.alloc(len)?,
            rows,
            cols,
        })
    }

    /// Copies a host tensor to `device`.
    pub fn upload(device: &D, host: &Tensor<E, R, C>) -> Result<Self> {
        let mut data = device.alloc(host.data.len())?;
        device.write(&host.data, data.borrow_mut())?;
        Ok(Tensor {
            data,
            rows: host.rows,
            cols: host.cols,
        })
    }

    /// Replaces the contents with a host tensor of the same width (the rows
    /// follow it). It allocates only for more rows than the tensor ever held,
    /// so refilling a batch each step costs no allocation.
    pub fn write(&mut self, device: &D, host: &Tensor<E, R, C>) -> Result<()> {
        self.resize_rows(device, host.rows)?;
        device.write(&host.data, self.data.borrow_mut())
    }

    /// Copies the tensor back to the host.
    pub fn download(&self, device: &D) -> Result<Tensor<E, R, C>> {
        let mut host = Tensor::<E, R, C>::try_zeros(self.rows, self.cols)?;
        device.read(self.data.borrow(), &mut host.data)?;
        Ok(host)
    }

    /// Changes the number of rows: the first rows are kept, and the buffer
    /// is reallocated only to grow beyond the largest size it had (see
    /// [`Device::resize`]: new rows are zero on the [`Cpu`], unspecified on
    /// a device that keeps a longer buffer, so write before reading).
    #[inline]
    pub fn resize_rows(&mut self, device: &D, rows: R) -> Result<()> {
        let len = elements(
            "Tensor::resize_rows (rows · cols overflows usize)",
            rows.size(),
            self.cols.size(),
            D::len(self.data.borrow()),
        )?;
        device.resize(&mut self.data, len)?;
        self.rows = rows;
        Ok(())
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows.size()
    }

    /// Number of columns.
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols.size()
    }

    /// `rows · cols`: the elements of the tensor (its buffer may be longer on
    /// a device other than the [`Cpu`]).
    #[inline]
    pub fn len(&self) -> usize {
        // Fits: every constructor and `resize_rows` checked the product.
        self.rows() * self.cols()
    }

    /// Whether the tensor has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row dimension, as its type.
    #[inline]
    pub fn row_dim(&self) -> R {
        self.rows
    }

    /// The column dimension, as its type.
    #[inline]
    pub fn col_dim(&self) -> C {
        self.cols
    }

    /// The buffer, as the device's slice (its first [`Tensor::len`]
    /// elements are the tensor, row-major): what device primitives take.
    #[inline]
    pub fn buffer(&self) -> &D::Slice {
        self.data.borrow()
    }

    /// The buffer, mutable.
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut D::Slice {
        self.data.borrow_mut()
    }
}

impl<E: Float, R: Dim, C: Dim> Tensor<E, R, C> {
    /// All zeros, or [`Error::Length`] if `rows · cols` overflows `usize`.
    pub fn try_zeros(rows: R, cols: C) -> Result<Self> {
        let len = elements(
            "Tensor::try_zeros (rows · cols overflows usize)",
            rows.size(),
            cols.size(),
            0,
        )?;
        Ok(Tensor {
            data: vec![E::ZERO; len],
            rows,
            cols,
        })
    }

    /// All zeros.
    ///
    /// # Panics
    /// If `rows · cols` overflows `usize`.
    pub fn zeros(rows: R, cols: C) -> Self {
        Self::full(rows, cols, E::ZERO)
    }

    /// Every element `value`.
    ///
    /// # Panics
    /// If `rows · cols` overflows `usize`.
    pub fn full(rows: R, cols: C, value: E) -> Self {
        Tensor {
            data: vec![value; len_or_panic(rows.size(), cols.size())],
            rows,
            cols,
        }
    }

    /// Element `(r, c)` is `f(r, c)`.
    ///
    /// # Panics
    /// If `rows · cols` overflows `usize`.
    pub fn from_fn(rows: R, cols: C, mut f: impl FnMut(usize, usize) -> E) -> Self {
        let n = cols.size();
        let data = (0..len_or_panic(rows.size(), n))
            .map(|i| f(i / n.max(1), i % n.max(1)))
            .collect();
        Tensor { data, rows, cols }
    }

    /// Takes a row-major buffer; its length must be `rows * cols`
    /// ([`Error::Length`] otherwise, also when that product overflows `usize`).
    pub fn from_vec(rows: R, cols: C, data: Vec<E>) -> Result<Self> {
        let expected = elements(
            "Tensor::from_vec (rows · cols overflows usize)",
            rows.size(),
            cols.size(),
            data.len(),
        )?;
        if data.len() != expected {
            return Err(Error::Length {
                what: "Tensor::from_vec",
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { data, rows, cols })
    }

    /// Copies a row-major slice; its length must be `rows * cols`
    /// ([`Error::Length`] otherwise, also when that product overflows `usize`).
    pub fn from_slice(rows: R, cols: C, data: &[E]) -> Result<Self> {
        let expected = elements(
            "Tensor::from_slice (rows · cols overflows usize)",
            rows.size(),
            cols.size(),
            data.len(),
        )?;
        if data.len() != expected {
            return Err(Error::Length {
                what: "Tensor::from_slice",
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor {
            data: data.to_vec(),
            rows,
            cols,
        })
    }

    /// All elements, row-major.
    #[inline]
    pub fn as_slice(&self) -> &[E] {
        &self.data
    }

    /// All elements, row-major, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [E] {
        &mut self.data
    }

    /// The row-major buffer.
    pub fn into_vec(self) -> Vec<E> {
        self.data
    }

    /// Row `r`. Panics if `r >= rows()`, like slice indexing.
    #[inline]
    pub fn row(&self, r: usize) -> &[E] {
        // Checked first: `r * n` of a huge `r` could wrap to a row in range.
        assert!(
            r < self.rows(),
            "row {r} out of range for {} rows",
            self.rows()
        );
        let n = self.cols();
        &self.data[r * n..(r + 1) * n]
    }

    /// Element `(r, c)`, or `None` outside the matrix.
    pub fn get(&self, r: usize, c: usize) -> Option<E> {
        (r < self.rows() && c < self.cols()).then(|| self.data[r * self.cols() + c])
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: E) {
        self.data.fill(value);
    }

    /// Copies `other` into `self` (same shape type; rows adapt, allocating
    /// only beyond the largest size `self` had).
    pub fn copy_from(&mut self, other: &Self) {
        self.data.clear();
        self.data.extend_from_slice(&other.data);
        self.rows = other.rows;
    }

    /// A new tensor with `f` applied to each element.
    pub fn map(&self, f: impl FnMut(E) -> E) -> Self {
        Tensor {
            data: self.data.iter().copied().map(f).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Applies `f` to each element in place.
    pub fn map_inplace(&mut self, mut f: impl FnMut(E) -> E) {
        self.data.iter_mut().for_each(|v| *v = f(*v));
    }

    /// A new tensor of `f(a, b)` over corresponding elements. Runtime row counts
    /// must agree.
    pub fn zip_map(&self, other: &Self, mut f: impl FnMut(E, E) -> E) -> Result<Self> {
        self.same_rows(other, "Tensor::zip_map (rows of other, the rows of self)")?;
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| f(a, b))
            .collect();
        Ok(Tensor {
            data,
            rows: self.rows,
            cols: self.cols,
        })
    }

    /// `Err` naming the first NaN or infinity.
    pub fn check_finite(&self, what: &'static str) -> Result<()> {
        check_finite(what, &self.data)
    }

    /// Sum of every element.
    pub fn sum(&self) -> E {
        reduce::sum(&self.data)
    }

    /// Mean of every element (NaN for an empty tensor).
    pub fn mean(&self) -> E {
        self.sum() / E::from_f64(self.data.len() as f64)
    }

    /// Column sums: sums over the rows, one value per column.
    pub fn sum_over_rows(&self) -> Tensor<E, Const<1>, C> {
        let mut out = Tensor::zeros(Const, self.cols);
        reduce::sum_over_rows(self.rows(), self.cols(), &self.data, E::ZERO, &mut out.data);
        out
    }

    /// Row sums: sums over the columns, one value per row.
    pub fn sum_over_cols(&self) -> Tensor<E, R, Const<1>> {
        let mut out = Tensor::zeros(self.rows, Const);
        reduce::sum_over_cols(self.rows(), self.cols(), &self.data, E::ZERO, &mut out.data);
        out
    }

    /// Adds `row` to every row (a bias broadcast over the batch).
    pub fn add_row(&mut self, row: &Tensor<E, Const<1>, C>) {
        let n = self.cols();
        if n == 0 {
            return;
        }
        for r in self.data.chunks_exact_mut(n) {
            r.iter_mut().zip(&row.data).for_each(|(a, &b)| *a += b);
        }
    }

    /// The transpose, `cols x rows`.
    pub fn transpose(&self) -> Tensor<E, C, R> {
        let n = self.cols();
        Tensor::from_fn(self.cols, self.rows, |r, c| self.data[c * n + r])
    }

    /// `self · rhs`: `(m x k) · (k x n)`.
    ///
    /// The inner dimensions must satisfy [`AreMultipliable`]: two `Const`
    /// widths are checked by the compiler, a runtime one here.
    pub fn matmul<K2: Dim, N: Dim>(&self, rhs: &Tensor<E, K2, N>) -> Result<Tensor<E, R, N>>
    where
        C: AreMultipliable<K2>,
    {
        inner(
            "Tensor::matmul (rows of rhs, the columns of self)",
            self.cols(),
            rhs.rows(),
        )?;
        let mut out = Tensor::zeros(self.rows, rhs.cols);
        gemm::matmul_nn(
            self.rows(),
            self.cols(),
            rhs.cols(),
            &self.data,
            &rhs.data,
            E::ZERO,
            &mut out.data,
        )?;
        Ok(out)
    }

    /// `self · rhsᵀ`: `(m x k) · (n x k)ᵀ`, the layout of a layer's forward `X·Wᵀ`.
    pub fn matmul_nt<N: Dim, K2: Dim>(&self, rhs: &Tensor<E, N, K2>) -> Result<Tensor<E, R, N>>
    where
        C: AreMultipliable<K2>,
    {
        inner(
            "Tensor::matmul_nt (columns of rhs, the columns of self)",
            self.cols(),
            rhs.cols(),
        )?;
        let mut out = Tensor::zeros(self.rows, rhs.rows);
        gemm::matmul_nt(
            self.rows(),
            self.cols(),
            rhs.rows(),
            &self.data,
            &rhs.data,
            E::ZERO,
            &mut out.data,
        )?;
        Ok(out)
    }

    /// `selfᵀ · rhs`: `(k x m)ᵀ · (k x n)`, the layout of a weight gradient `dYᵀ·X`.
    pub fn matmul_tn<K2: Dim, N: Dim>(&self, rhs: &Tensor<E, K2, N>) -> Result<Tensor<E, C, N>>
    where
        R: AreMultipliable<K2>,
    {
        inner(
            "Tensor::matmul_tn (rows of rhs, the rows of self)",
            self.rows(),
            rhs.rows(),
        )?;
        let mut out = Tensor::zeros(self.cols, rhs.cols);
        gemm::matmul_tn(
            self.cols(),
            self.rows(),
            rhs.cols(),
            &self.data,
            &rhs.data,
            E::ZERO,
            &mut out.data,
        )?;
        Ok(out)
    }

    fn same_rows(&self, other: &Self, what: &'static str) -> Result<()> {
        inner(what, self.rows(), other.rows())
    }
}

/// `rows · cols` for the constructors that cannot return an error.
///
/// # Panics
/// If the product overflows `usize`.
fn len_or_panic(rows: usize, cols: usize) -> usize {
    match rows.checked_mul(cols) {
        Some(len) => len,
        None => panic!("Tensor: {rows} rows · {cols} columns overflows usize"),
    }
}

fn inner(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected,
            got,
        })
    }
}

impl<E: Float, R: Dim, const C: usize> Tensor<E, R, Const<C>> {
    /// The rows as fixed-length arrays.
    #[inline]
    pub fn as_rows(&self) -> &[[E; C]] {
        self.data.as_chunks::<C>().0
    }

    /// The rows as fixed-length arrays, mutable.
    #[inline]
    pub fn as_rows_mut(&mut self) -> &mut [[E; C]] {
        self.data.as_chunks_mut::<C>().0
    }
}

impl<E: Float, const C: usize> Tensor<E, usize, Const<C>> {
    /// A batch from rows; the row count comes from the slice.
    pub fn from_rows(rows: &[[E; C]]) -> Self {
        Tensor {
            data: rows.as_flattened().to_vec(),
            rows: rows.len(),
            cols: Const,
        }
    }

    /// A batch from a flat row-major slice whose length is a multiple of `C`
    /// ([`Error::Length`] otherwise, `expected` the next multiple).
    ///
    /// A batch of width 0 has no elements whatever its rows, so they cannot
    /// be counted from the data: `from_flat(&[])` is the empty batch (0 rows),
    /// and any other slice is an error (`expected` 0). Build a width-0 batch of
    /// `n` rows with `Tensor::zeros(n, Const)`.
    pub fn from_flat(data: &[E]) -> Result<Self> {
        let len = data.len();
        if C == 0 {
            if len != 0 {
                return Err(Error::Length {
                    what: "Tensor::from_flat (a width-0 batch holds no elements)",
                    expected: 0,
                    got: len,
                });
            }
            return Ok(Tensor {
                data: Vec::new(),
                rows: 0,
                cols: Const,
            });
        }
        if !len.is_multiple_of(C) {
            return Err(Error::Length {
                what: "Tensor::from_flat (a multiple of the width)",
                expected: len.checked_next_multiple_of(C).unwrap_or(usize::MAX),
                got: len,
            });
        }
        Ok(Tensor {
            data: data.to_vec(),
            rows: len / C,
            cols: Const,
        })
    }
}

impl<E: Float, const R: usize, const C: usize> Tensor<E, Const<R>, Const<C>> {
    /// A tensor whose whole shape is fixed, from nested arrays: a wrong length
    /// does not compile.
    pub fn from_array(rows: [[E; C]; R]) -> Self {
        Tensor {
            data: rows.as_flattened().to_vec(),
            rows: Const,
            cols: Const,
        }
    }
}

impl<E: Float, R: Dim, C: Dim> Tensor<E, R, C> {
    /// The flat index of `(r, c)`. Both are checked: `r * cols + c` of a huge
    /// `r` could wrap to an index in range.
    fn flat_index(&self, r: usize, c: usize) -> usize {
        assert!(
            r < self.rows(),
            "row {r} out of range for {} rows",
            self.rows()
        );
        assert!(
            c < self.cols(),
            "column {c} out of range for width {}",
            self.cols()
        );
        r * self.cols() + c
    }
}

impl<E: Float, R: Dim, C: Dim> Index<(usize, usize)> for Tensor<E, R, C> {
    type Output = E;
    fn index(&self, (r, c): (usize, usize)) -> &E {
        &self.data[self.flat_index(r, c)]
    }
}

impl<E: Float, R: Dim, C: Dim> IndexMut<(usize, usize)> for Tensor<E, R, C> {
    fn index_mut(&mut self, (r, c): (usize, usize)) -> &mut E {
        let i = self.flat_index(r, c);
        &mut self.data[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_lengths_are_errors_that_say_expected_and_got() {
        let e = Tensor::<f32, usize, Const<3>>::from_vec(2, Const, vec![1.0; 5]).unwrap_err();
        assert_eq!(
            e,
            Error::Length {
                what: "Tensor::from_vec",
                expected: 6,
                got: 5
            }
        );
        assert_eq!(
            alloc::format!("{e}"),
            "Tensor::from_vec: expected length 6, got 5"
        );
        assert!(Tensor::<f64, usize, Const<2>>::from_flat(&[1.0, 2.0, 3.0]).is_err());
        assert!(Tensor::<f64, Const<2>, Const<2>>::from_slice(Const, Const, &[1.0; 3]).is_err());
    }

    #[test]
    fn products_check_runtime_inner_dimensions() {
        let a = Tensor::<f64, usize, usize>::zeros(2, 3);
        let b = Tensor::<f64, usize, usize>::zeros(4, 2);
        assert!(a.matmul(&b).is_err());
        assert!(a.matmul_nt(&b).is_err());
        assert!(b.matmul(&a).is_ok());
    }

    #[test]
    fn resize_rows_shrinks_without_losing_capacity() {
        let mut t = Tensor::<f32, usize, Const<4>>::zeros(8, Const);
        let cap = t.data.capacity();
        t.resize_rows(&Cpu, 3).unwrap();
        assert_eq!(t.as_slice().len(), 12);
        t.resize_rows(&Cpu, 8).unwrap();
        assert_eq!(t.data.capacity(), cap);
    }

    #[test]
    fn nan_is_found_and_located() {
        let t = Tensor::<f32, usize, Const<2>>::from_rows(&[[1.0, 2.0], [f32::NAN, 0.0]]);
        assert_eq!(
            t.check_finite("x"),
            Err(Error::NonFinite {
                what: "x",
                index: 2
            })
        );
    }
}
