//! Integers across the FFI: signed, as Kotlin (`Long`, `Int`) and Swift (`Int64`, `Int32`)
//! apps use them, never `ULong`/`UInt`; `ferry`'s unsigned values converted both ways.
//!
//! Outputs saturate (no count or size reaches `i64::MAX`); inputs below zero are refused
//! with a typed error naming the argument. Never clamps an input silently.

use crate::FerryError;

/// A size, count or offset from `ferry`, as the FFI's `Long`.
pub(crate) fn long(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A small count (attempts, limits) from `ferry`, as the FFI's `Int`.
pub(crate) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A size, count or offset given to a call, checked: `InvalidArgument` below zero.
pub(crate) fn unsigned_long(name: &str, value: i64) -> Result<u64, FerryError> {
    u64::try_from(value).map_err(|_| FerryError::negative(name, value))
}

/// A small count given to a call, checked: `InvalidArgument` below zero.
pub(crate) fn unsigned_int(name: &str, value: i32) -> Result<u32, FerryError> {
    u32::try_from(value).map_err(|_| FerryError::negative(name, i64::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_inputs_are_refused_with_the_argument_named() {
        match unsigned_long("offset", -1) {
            Err(FerryError::InvalidArgument { name, description }) => {
                assert_eq!(name, "offset");
                assert!(description.contains("-1"), "{description}");
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        assert!(matches!(
            unsigned_int("limit", i32::MIN),
            Err(FerryError::InvalidArgument { .. })
        ));
        assert_eq!(unsigned_long("offset", 0).ok(), Some(0));
        assert_eq!(unsigned_int("limit", i32::MAX).ok(), Some(i32::MAX as u32));
    }

    #[test]
    fn outputs_saturate_instead_of_wrapping_negative() {
        assert_eq!(long(u64::MAX), i64::MAX);
        assert_eq!(int(u32::MAX), i32::MAX);
        assert_eq!(long(42), 42);
    }
}
