//! INCRBYFLOAT's addition in C `long double`, through the shim in `csrc/longdouble.c`.
//!
//! Redis adds in 80-bit extended precision and prints 17 decimals; doing the same in f64
//! gives other digits (`0.1 + 0.2` would print `0.30000000000000004`), so the addition is
//! delegated to C. This is the only FFI in the crate.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_long};

/// Output room: the same 5 KiB Redis formats into; the widest finite `long double` printed
/// with 17 decimals takes under 5000 bytes.
const OUT_LEN: usize = 5 * 1024;

extern "C" {
    fn keel_ld_add(
        a: *const c_char,
        a_len: usize,
        b: *const c_char,
        b_len: usize,
        out: *mut c_char,
        out_len: usize,
    ) -> c_long;
}

/// Why an addition failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// One of the operands is not a valid number.
    NotFloat,
    /// The sum is NaN or infinite.
    NanOrInfinity,
}

/// Adds the numbers written in `a` and `b` and returns the sum printed with `%.17Lf`
/// (untrimmed).
pub fn add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, AddError> {
    let mut out = vec![0u8; OUT_LEN];
    // SAFETY: both inputs are valid for reads of their stated lengths (the C side copies
    // them and never reads past `len`), and `out` is valid for writes of `OUT_LEN` bytes,
    // which is the bound snprintf is given. Nothing is retained after the call.
    let n = unsafe {
        keel_ld_add(
            a.as_ptr().cast(),
            a.len(),
            b.as_ptr().cast(),
            b.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        -1 => Err(AddError::NotFloat),
        -2 => Err(AddError::NanOrInfinity),
        // 0 means "did not fit": Redis then stores an empty string, and so do we.
        n => {
            out.truncate(usize::try_from(n).unwrap_or(0));
            Ok(out)
        }
    }
}
