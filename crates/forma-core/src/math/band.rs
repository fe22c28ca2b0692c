//! [`Band`]: the part of a row-major C one thread of a product writes,
//! either all of it or a band of its columns.
//!
//! Why not a slice: a band of columns is not contiguous. Its rows
//! interleave with the other bands' rows, so a `&mut [E]` covering two of
//! its rows would also cover elements another thread is writing, which
//! Rust forbids even if they are never touched. A band therefore keeps a
//! pointer and lends a micro-kernel one tile's address at a time. The
//! blocked loops check C's shape once per product and keep every tile
//! within it by their bounds, so the tiles are not checked one by one (a
//! check per tile cost the 30x50x30 products of the 50-30-1 regression
//! step 7%).

use core::marker::PhantomData;

/// `rows x cols` elements of a row-major matrix whose rows are `ldc` apart,
/// borrowed mutably and exclusively: no other `Band` or reference reaches
/// any of them while it lives.
pub(crate) struct Band<'a, E> {
    ptr: *mut E,
    rows: usize,
    cols: usize,
    ldc: usize,
    _borrow: PhantomData<&'a mut [E]>,
}

// SAFETY: a band is an exclusive borrow of its elements (as `&mut [E]` is,
// which is `Send` when `E` is): moving it to another thread moves that
// borrow, and no other band reaches its elements.
unsafe impl<E: Send> Send for Band<'_, E> {}

impl<'a, E> Band<'a, E> {
    /// All of `c`, `rows x cols`, row-major.
    ///
    /// # Panics
    /// If `c` does not hold exactly `rows * cols` elements (an internal
    /// invariant: the products check their operands' sizes first).
    pub(crate) fn whole(c: &'a mut [E], rows: usize, cols: usize) -> Self {
        assert!(
            rows.checked_mul(cols) == Some(c.len()),
            "internal error: C holds {} elements, not {rows} x {cols}",
            c.len()
        );
        Band {
            ptr: c.as_mut_ptr(),
            rows,
            cols,
            ldc: cols,
            _borrow: PhantomData,
        }
    }

    /// Columns `0..at` and `at..cols`, two bands that share no element.
    ///
    /// # Panics
    /// If `at > cols` (an internal invariant).
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn split_cols(self, at: usize) -> (Self, Self) {
        assert!(
            at <= self.cols,
            "internal error: a split beyond C's columns"
        );
        let right = Band {
            // `wrapping_add`: for an empty band the pointer may be one past
            // the end; it is never read through then (no element).
            ptr: self.ptr.wrapping_add(at),
            cols: self.cols - at,
            ..self
        };
        (Band { cols: at, ..self }, right)
    }

    /// The band's height.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The band's width.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// The distance between two rows, in elements.
    pub(crate) fn ldc(&self) -> usize {
        self.ldc
    }

    /// The address of element `(r, col)`, for a micro-kernel writing a
    /// tile there (its rows [`Band::ldc`] apart) or for a prefetch hint.
    /// Computing it touches nothing; writing through it is the caller's
    /// promise that the tile is within the band, while `self` is borrowed.
    #[inline]
    pub(crate) fn address(&mut self, r: usize, col: usize) -> *mut E {
        self.ptr.wrapping_add(r * self.ldc + col)
    }

    /// The band with its element type renamed to `T`, which is `E` (the
    /// caller checked: `concrete` in `packed`), else `None`.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    pub(crate) fn same<T: 'static>(self) -> Option<Band<'a, T>>
    where
        E: 'static,
    {
        (core::any::TypeId::of::<E>() == core::any::TypeId::of::<T>()).then(|| Band {
            ptr: self.ptr.cast::<T>(),
            rows: self.rows,
            cols: self.cols,
            ldc: self.ldc,
            _borrow: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn bands_of_columns_reach_exactly_their_elements() {
        let mut c: Vec<u32> = (0..5 * 7).collect();
        let (mut left, right) = Band::whole(&mut c, 5, 7).split_cols(3);
        let (mut mid, mut right) = right.split_cols(2);
        assert_eq!((left.cols(), mid.cols(), right.cols()), (3, 2, 2));
        assert_eq!((left.ldc(), mid.rows()), (7, 5));
        // `len` elements of row `r` from column `from`, through the address.
        let add = |band: &mut Band<'_, u32>, r: usize, from: usize, len: usize, x: u32| {
            assert!(r < band.rows() && from + len <= band.cols());
            let p = band.address(r, from);
            // SAFETY: within the band (asserted), which borrows them.
            unsafe { core::slice::from_raw_parts_mut(p, len) }
                .iter_mut()
                .for_each(|v| *v += x);
        };
        for r in 0..5 {
            add(&mut left, r, 0, 3, 100);
            add(&mut mid, r, 1, 1, 200);
            add(&mut right, r, 0, 2, 300);
        }
        // A tile of the right band, through its address, rows `ldc` apart.
        let p = right.address(3, 0);
        // SAFETY: the 2 x 2 block at (3, 0) is within the 5 x 2 band; rows
        // are `ldc` apart.
        unsafe {
            *p.add(1) += 1000;
            *p.add(right.ldc()) += 1000;
        }
        add(&mut left, 0, 2, 1, 5000);
        let bonus = |i: u32| match i % 7 {
            0..=2 => 100,
            3 => 0,
            4 => 200,
            _ => 300,
        };
        let want: Vec<u32> = (0..35)
            .map(|i| match i {
                27 | 33 => i + bonus(i) + 1000,
                2 => i + bonus(i) + 5000,
                _ => i + bonus(i),
            })
            .collect();
        assert_eq!(c, want);
    }
}
