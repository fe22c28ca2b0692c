//! Sizes whose products overflow `usize` are errors, before anything is read
//! or written, in debug and release builds alike (`cargo test --release
//! --test sizes`): unchecked, `4 · (2^62 + 1)` wraps to 4, and a 4-element
//! buffer would pass for a matrix of 2^62 + 1 rows. Also: error messages say
//! `expected` (what is needed) and `got` (what was given) the right way round.

use std::panic::{AssertUnwindSafe, catch_unwind};

use forma_core::math::gemm::{self, Backend};
use forma_core::{Batch, Const, Cpu, Device, Error, Float, Layout, Tensor};

/// 2^62 + 1: times 4 it wraps to 4.
const HUGE: usize = (1 << 62) + 1;

const BACKENDS: [Backend; 4] = [
    Backend::Forma,
    Backend::MatrixMultiply,
    Backend::FormaAvx2,
    Backend::FormaPortable,
];

/// The message `f` panicked with, or `None` if it returned.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

fn overflow(what: &'static str, got: usize) -> Error {
    Error::Length {
        what,
        expected: usize::MAX,
        got,
    }
}

#[test]
fn gemm_with_k_times_n_overflowing_is_an_error_not_a_wild_read() {
    // Was a segfault: B of 4096 passed for 4096 x (2^62 + 1), and
    // matrixmultiply read far past it.
    let (m, k, n) = (4, 4096, HUGE);
    let a = vec![1.0f32; m * k];
    let b = vec![1.0f32; 4096];
    let mut c = vec![7.0f32; 4];
    for backend in BACKENDS {
        let want = overflow("gemm: B (k·n overflows usize)", 4096);
        assert_eq!(
            backend.matmul_nt(m, k, n, &a, &b, 0.0, &mut c),
            Err(want.clone()),
            "{backend:?}"
        );
        assert_eq!(
            backend.matmul_nn(m, k, n, &a, &b, 0.0, &mut c),
            Err(want.clone()),
            "{backend:?}"
        );
        assert_eq!(
            backend.matmul_tn(m, k, n, &a, &b, 0.0, &mut c),
            Err(want.clone()),
            "{backend:?}"
        );
        assert_eq!(c, [7.0; 4], "C was written");
    }
    let err = gemm::matmul_nt(m, k, n, &a, &b, 0.0, &mut c).unwrap_err();
    assert!(err.to_string().contains("k·n overflows usize"), "{err}");
}

#[test]
fn gemm_with_m_times_k_or_m_times_n_overflowing_is_an_error() {
    let a = vec![1.0f64; 4];
    let b = vec![1.0f64; 16];
    let mut c = vec![0.0f64; 4];
    for backend in BACKENDS {
        // m·k = 4·(2^62 + 1) wraps to 4 = a.len().
        assert_eq!(
            backend.matmul_nt(HUGE, 4, 4, &a, &b, 0.0, &mut c),
            Err(overflow("gemm: A (m·k overflows usize)", 4))
        );
        // k = 0: A and B are empty, m·n = (2^62 + 1)·4 wraps to 4 = c.len().
        assert_eq!(
            backend.matmul_nn(HUGE, 0, 4, &[], &[], 0.0, &mut c),
            Err(overflow("gemm: C (m·n overflows usize)", 4))
        );
    }
    assert!(gemm::matmul_tn(HUGE, 4, 4, &a, &b, 0.0, &mut c).is_err());
}

#[test]
fn gemm_with_wrong_lengths_is_an_error_naming_the_operand() {
    let mut c = vec![0.0f32; 6];
    assert_eq!(
        gemm::matmul_nn(2, 3, 3, &[1.0; 6], &[1.0; 8], 0.0, &mut c),
        Err(Error::Length {
            what: "gemm: B (k·n elements)",
            expected: 9,
            got: 8
        })
    );
    assert_eq!(
        gemm::matmul_nn(2, 3, 3, &[1.0; 6], &[1.0; 9], 0.0, &mut c),
        Ok(())
    );
    assert_eq!(c, [3.0; 6]);
}

#[test]
fn a_tensor_whose_rows_times_cols_overflow_is_an_error() {
    // Was Ok, a tensor of 4611686018427387905 rows holding 4 elements.
    let t = Tensor::from_vec(HUGE, 4usize, vec![1.0f32; 4]);
    assert_eq!(
        t,
        Err(overflow(
            "Tensor::from_vec (rows · cols overflows usize)",
            4
        ))
    );
    let t = Tensor::<f32, usize, Const<4>>::from_slice(HUGE, Const, &[1.0; 4]);
    assert_eq!(
        t,
        Err(overflow(
            "Tensor::from_slice (rows · cols overflows usize)",
            4
        ))
    );
    // Constructors without a Result panic with a message instead of wrapping.
    let msg = panic_message(|| drop(Tensor::<f32, usize, usize>::zeros(HUGE, 4)));
    assert!(msg.is_some_and(|m| m.contains("overflows usize")));
    // Changing the rows returns the overflow as an error.
    let mut t = Batch::<f32, 4>::zeros(1, Const);
    assert_eq!(
        t.resize_rows(&Cpu, HUGE),
        Err(overflow(
            "Tensor::resize_rows (rows · cols overflows usize)",
            4
        ))
    );
    assert_eq!(t.rows(), 1);
}

#[test]
fn a_huge_row_index_panics_instead_of_wrapping_to_another_row() {
    let t = Batch::<f32, 4>::from_rows(&[[1.0; 4], [2.0; 4]]);
    // HUGE · 4 wraps to 4: unchecked, row HUGE was row 1.
    let msg = panic_message(|| drop(t.row(HUGE).to_vec()));
    assert!(msg.is_some_and(|m| m.contains("out of range")));
    let msg = panic_message(|| {
        let _ = t[(HUGE, 0)];
    });
    assert!(msg.is_some_and(|m| m.contains("out of range")));
    assert_eq!(t[(1, 3)], 2.0);
    assert_eq!(t.row(1), &[2.0; 4]);
}

#[test]
fn a_cpu_matmul_whose_sizes_overflow_is_an_error() {
    // Was Ok after computing one row of a (2^62 + 1)-row product.
    let a = vec![1.0f32; 4];
    let b = vec![1.0f32; 16];
    let mut c = vec![0.0f32; 4];
    let r = Cpu.matmul(Layout::Nt, HUGE, 4, 4, &a, &b, &mut c);
    assert_eq!(r, Err(overflow("matmul: A (m·k overflows usize)", 4)));
    let r = Cpu.matmul(Layout::Nn, 4, 4, HUGE, &b, &a, &mut c);
    assert_eq!(r, Err(overflow("matmul: B (k·n overflows usize)", 4)));
    assert_eq!(c, [0.0; 4], "C was written");
}

#[test]
fn a_device_tensor_whose_rows_times_width_overflow_is_an_error() {
    let r = Tensor::<f32, usize, Const<4>, Cpu>::zeros_on(&Cpu, HUGE, Const);
    assert_eq!(
        r.err(),
        Some(overflow(
            "Tensor::zeros_on (rows · cols overflows usize)",
            0
        ))
    );
    let mut t = Tensor::<f32, usize, Const<4>, Cpu>::zeros_on(&Cpu, 2, Const).unwrap();
    assert_eq!(
        t.resize_rows(&Cpu, HUGE),
        Err(overflow(
            "Tensor::resize_rows (rows · cols overflows usize)",
            8
        ))
    );
    assert_eq!(t.rows(), 2, "a refused resize changes nothing");
}

#[test]
fn a_buffer_too_large_to_allocate_is_an_error_not_an_abort() {
    // The element count fits usize; the bytes do not.
    let r = Tensor::<f32, usize, Const<4>, Cpu>::zeros_on(&Cpu, usize::MAX / 8, Const);
    assert!(
        matches!(
            r,
            Err(Error::Length {
                what: "Cpu::alloc",
                ..
            })
        ),
        "{r:?}"
    );
    let mut t = Tensor::<f32, usize, Const<4>, Cpu>::zeros_on(&Cpu, 1, Const).unwrap();
    let r = t.resize_rows(&Cpu, usize::MAX / 8);
    assert!(
        matches!(
            r,
            Err(Error::Length {
                what: "Cpu::resize",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(t.rows(), 1);
}

#[test]
fn writing_64_rows_into_a_32_row_tensor_grows_it_and_a_short_write_keeps_the_buffer() {
    let mut t =
        Tensor::<f32, usize, Const<2>, Cpu>::upload(&Cpu, &Batch::zeros(32, Const)).unwrap();
    let big = Batch::<f32, 2>::from_fn(64, Const, |r, c| (2 * r + c) as f32);
    t.write(&Cpu, &big).unwrap();
    assert_eq!(t.download(&Cpu).unwrap(), big);
    let small = Batch::<f32, 2>::from_fn(3, Const, |r, c| -((2 * r + c) as f32));
    t.write(&Cpu, &small).unwrap();
    assert_eq!((t.rows(), t.len()), (3, 6));
    assert_eq!(t.download(&Cpu).unwrap(), small);
}

#[test]
fn a_device_write_into_a_short_buffer_says_what_it_needs_expected_and_the_buffer_got() {
    let mut short = vec![0.0f32; 32];
    let e = Cpu.write(&[1.0; 64], &mut short).unwrap_err();
    assert_eq!(
        e,
        Error::Length {
            what: "Device::write destination",
            expected: 64,
            got: 32
        }
    );
}

#[test]
fn a_width_0_batch_from_no_data_is_the_empty_batch() {
    // Was "expected length 0, got 0".
    let b = Batch::<f32, 0>::from_flat(&[]).unwrap();
    assert_eq!((b.rows(), b.cols(), b.as_slice().len()), (0, 0, 0));
    // Any data at all cannot be a width-0 batch.
    assert_eq!(
        Batch::<f32, 0>::from_flat(&[1.0, 2.0]),
        Err(Error::Length {
            what: "Tensor::from_flat (a width-0 batch holds no elements)",
            expected: 0,
            got: 2
        })
    );
    // Width-0 batches of n rows exist all the same.
    assert_eq!(Batch::<f32, 0>::zeros(5, Const).rows(), 5);
    // A length that is not a multiple: expected is the next multiple.
    assert_eq!(
        Batch::<f32, 3>::from_flat(&[1.0; 7])
            .unwrap_err()
            .to_string(),
        "Tensor::from_flat (a multiple of the width): expected length 9, got 7"
    );
}

/// The doc-hidden `Float::packed_gemm` is reachable from safe code: sizes
/// whose extent wraps in release builds (a huge row stride here) must stop
/// at its bounds check, never reach the kernel.
#[test]
#[should_panic(expected = "packed_gemm: operand out of bounds")]
fn packed_gemm_with_a_wrapping_extent_stops_at_its_check() {
    let a = [1.0f32; 4];
    let b = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    // (m-1)·rs wraps around usize to a small number without checked maths.
    let rs = usize::MAX / 2 + 2;
    <f32 as Float>::packed_gemm((3, 1, 1), &a, (rs, 1), &b, (1, 1), 0.0, &mut c);
}

#[test]
fn an_overflowing_size_reads_as_an_overflow_not_a_length() {
    let err = Tensor::<f32, usize, Const<4>>::from_vec(HUGE, Const, vec![1.0; 4]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("more elements than usize can count"),
        "{text}"
    );
    assert!(!text.contains("18446744073709551615"), "{text}");
}
