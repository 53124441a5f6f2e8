//! The bounds of the app's own data on an upload: its metadata (a small string map) and
//! its group, checked at enqueue so that nothing out of bounds is ever stored.
//!
//! What it is for: keeping a transfer's row small (metadata is read back with every
//! `get` and `list`) and a group usable as a selection. What it must never do: look at
//! anything else of the upload, or let metadata reach a request (it is never sent).

use std::collections::BTreeMap;

use crate::Error;

/// The most metadata entries one upload carries.
pub const MAX_METADATA_ENTRIES: usize = 64;
/// The most bytes one upload's metadata holds, keys and values together (UTF-8).
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// The longest group name, in bytes (UTF-8).
pub const MAX_GROUP_BYTES: usize = 256;

/// Refuses metadata or a group outside the bounds above, saying what to do instead.
pub(crate) fn check(metadata: &BTreeMap<String, String>, group: Option<&str>) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::InvalidMetadata {
            problem: format!("metadata has {} entries", metadata.len()),
            instead: format!(
                "keep at most {MAX_METADATA_ENTRIES}, and keep larger data in the app's own \
                 storage under a key put in the metadata"
            ),
        });
    }
    if metadata.keys().any(String::is_empty) {
        return Err(Error::InvalidMetadata {
            problem: "metadata has an empty key".into(),
            instead: "give every entry a non-empty key".into(),
        });
    }
    let bytes: usize = metadata
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(Error::InvalidMetadata {
            problem: format!("metadata holds {bytes} bytes of keys and values"),
            instead: format!(
                "keep it within {MAX_METADATA_BYTES} bytes, and keep larger data in the app's \
                 own storage under a key put in the metadata"
            ),
        });
    }
    match group {
        Some("") => Err(Error::InvalidMetadata {
            problem: "group is empty".into(),
            instead: "give a group name, or none for an upload in no group".into(),
        }),
        Some(group) if group.len() > MAX_GROUP_BYTES => Err(Error::InvalidMetadata {
            problem: format!("group is {} bytes long", group.len()),
            instead: format!("use a group name of at most {MAX_GROUP_BYTES} bytes"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(count: usize, value_len: usize) -> BTreeMap<String, String> {
        (0..count)
            .map(|index| (format!("k{index:02}"), "v".repeat(value_len)))
            .collect()
    }

    fn problem(metadata: &BTreeMap<String, String>, group: Option<&str>) -> String {
        match check(metadata, group) {
            Err(error @ Error::InvalidMetadata { .. }) => error.to_string(),
            other => panic!("expected InvalidMetadata, got {other:?}"),
        }
    }

    #[test]
    fn metadata_and_a_group_at_their_bounds_pass() {
        // 64 entries of 3 + 125 bytes: 8,192 bytes, the most allowed.
        let full = entries(MAX_METADATA_ENTRIES, 125);
        let group = "g".repeat(MAX_GROUP_BYTES);
        assert!(check(&full, Some(&group)).is_ok());
        assert!(check(&BTreeMap::new(), None).is_ok());
    }

    #[test]
    fn one_entry_too_many_is_refused_with_the_bound() {
        let message = problem(&entries(MAX_METADATA_ENTRIES + 1, 1), None);
        assert!(message.contains("65 entries"), "{message}");
        assert!(message.contains("at most 64"), "{message}");
    }

    #[test]
    fn one_byte_too_many_is_refused_with_the_bound() {
        let mut metadata = entries(MAX_METADATA_ENTRIES, 125);
        metadata.insert("k00".into(), "v".repeat(126));
        let message = problem(&metadata, None);
        assert!(message.contains("8193 bytes"), "{message}");
        assert!(message.contains("within 8192 bytes"), "{message}");
    }

    #[test]
    fn an_empty_key_an_empty_group_and_a_long_group_are_refused() {
        let empty_key = BTreeMap::from([(String::new(), "v".to_owned())]);
        assert!(problem(&empty_key, None).contains("empty key"));
        assert!(problem(&BTreeMap::new(), Some("")).contains("group is empty"));
        let long = "é".repeat(129); // 258 bytes in 129 characters
        let message = problem(&BTreeMap::new(), Some(&long));
        assert!(message.contains("258 bytes"), "{message}");
    }
}
