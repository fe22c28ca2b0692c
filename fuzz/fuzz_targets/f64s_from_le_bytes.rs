//! `forma::data::f64s_from_le_bytes` on arbitrary bytes: it never panics, an
//! `Ok` holds exactly the input's values (bit for bit), all finite, and an
//! `Err` says the right thing.

#![no_main]

use forma::Error;
use forma::data::f64s_from_le_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let result = f64s_from_le_bytes(bytes);
    let whole = bytes.len() / 8 * 8;
    match result {
        Ok(values) => {
            assert_eq!(values.len() * 8, bytes.len());
            assert!(values.iter().all(|v| v.is_finite()));
            let back: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(back, bytes);
        }
        Err(ref e @ Error::Length { expected, got, .. }) => {
            assert_ne!(bytes.len() % 8, 0, "{e}");
            assert_eq!((expected, got), (whole, bytes.len()));
            assert!(e.to_string().contains("a multiple of 8"));
        }
        Err(ref e @ Error::NonFinite { index, .. }) => {
            assert_eq!(bytes.len() % 8, 0, "{e}");
            let value = |i: usize| f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
            assert!(!value(index).is_finite());
            assert!((0..index).all(|i| value(i).is_finite()));
        }
        Err(e) => panic!("unexpected error variant: {e:?}"),
    }
});
