//! Counts in words: "1 file", "2 files".
//!
//! What it is for: every line `ferry` prints about a count reads as English.
//! What it must never do: change a number.

/// `count` followed by the word for it: `one` when it is 1, `many` otherwise.
pub fn count(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_takes_the_singular_and_every_other_count_the_plural() {
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(2, "attempt", "attempts"), "2 attempts");
    }
}
