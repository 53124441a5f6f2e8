//! The identity key of an upload: one 64-bit number for its source, destination, method
//! and multipart field, so finding an upload's existing transfer is one integer seek.
//!
//! Enqueue looks every upload up by its identity, to return the existing transfer. The
//! index over the three texts held about 30% of a database's bytes, and its long string
//! comparisons were most of an insert's B-tree work (`many_small_puts`, where nothing can
//! start before the batch commits). The key is a hash, so a lookup still compares the
//! texts themselves: a collision costs one more row read, never a wrong answer.
//!
//! The function must never change: the keys are stored. A new one needs a migration
//! that recomputes every row's key (`schema.rs`).

use std::hash::Hasher;

/// FNV-1a over each part, length-prefixed so no two different uploads share an encoding.
/// `source` is the path's bytes: a UTF-8 path's are its text's, as they always were.
pub(crate) fn identity_key(
    source: &[u8],
    destination: &str,
    method: &str,
    multipart_field: Option<&str>,
) -> i64 {
    let mut hasher = fnv::FnvHasher::default();
    for part in [source, destination.as_bytes(), method.as_bytes()] {
        write_part(&mut hasher, part);
    }
    match multipart_field {
        Some(field) => {
            hasher.write_u8(1);
            write_part(&mut hasher, field.as_bytes());
        }
        None => hasher.write_u8(0),
    }
    // SQLite stores signed integers; keep all 64 bits.
    i64::from_ne_bytes(hasher.finish().to_ne_bytes())
}

fn write_part(hasher: &mut fnv::FnvHasher, part: &[u8]) {
    hasher.write(&(part.len() as u64).to_le_bytes());
    hasher.write(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_fixed_forever_since_it_is_stored() {
        // Computed apart from this code (a few lines of Python over FNV-1a's definition and
        // the encoding above). If this changes, every stored key stops matching.
        assert_eq!(
            identity_key(b"/a", "http://h/a", "PUT", None),
            -7_085_884_635_411_130_111
        );
    }

    #[test]
    fn moving_a_byte_between_parts_gives_another_key() {
        let keys = [
            identity_key(b"/ab", "c", "PUT", None),
            identity_key(b"/a", "bc", "PUT", None),
            identity_key(b"/a", "bc", "POST", None),
            identity_key(b"/a", "bc", "POST_MULTIPART", Some("")),
            identity_key(b"/a", "bc", "POST_MULTIPART", Some("file")),
        ];
        for (index, key) in keys.iter().enumerate() {
            assert!(!keys[index + 1..].contains(key), "{index}: {keys:?}");
        }
    }
}
