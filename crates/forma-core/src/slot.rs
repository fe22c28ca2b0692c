//! [`get_or_try_insert`]: state made on first use, by a fallible maker.

use crate::Result;

/// The value in `slot`, made by `make` first if there is none: buffers and
/// optimizer state that the first step creates (std's
/// `Option::get_or_try_insert_with` is not stable yet). On `Err` the slot is
/// left empty, as it was.
#[inline]
pub fn get_or_try_insert<T>(
    slot: &mut Option<T>,
    make: impl FnOnce() -> Result<T>,
) -> Result<&mut T> {
    let value = match slot.take() {
        Some(value) => value,
        None => make()?,
    };
    Ok(slot.insert(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_and_keeps_an_empty_slot_on_error() {
        let mut slot = None;
        assert_eq!(*get_or_try_insert(&mut slot, || Ok(3)).unwrap(), 3);
        assert_eq!(*get_or_try_insert(&mut slot, || Ok(4)).unwrap(), 3);
        let mut empty: Option<i32> = None;
        let e = crate::Error::EmptyBatch { what: "test" };
        assert!(get_or_try_insert(&mut empty, || Err(e)).is_err());
        assert_eq!(empty, None);
    }
}
