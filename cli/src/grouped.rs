//! Failures told once per reason: 300 files refused for the same reason are one reason and
//! a few of their names, not 300 copies of the same sentence.
//!
//! What it is for: the text of `ferry push`'s summary and of `ferry status`. `--json` keeps
//! every failure.
//! What it must never do: drop a failure from a count, or merge two different reasons.

use std::collections::HashMap;
use std::hash::Hash;

/// How many names each reason shows before "... and N more".
pub const NAMES_SHOWN: usize = 5;

/// `items` grouped by `reason_of`, in the order each reason first appears. Linear in the
/// items however many reasons differ (a reason that names its file makes each distinct).
pub fn by_reason<'a, T, K: Eq + Hash + Copy>(
    items: &'a [T],
    reason_of: impl Fn(&'a T) -> K,
) -> Vec<(K, Vec<&'a T>)> {
    let mut groups: Vec<(K, Vec<&'a T>)> = Vec::new();
    let mut position: HashMap<K, usize> = HashMap::new();
    for item in items {
        let reason = reason_of(item);
        let index = *position.entry(reason).or_insert_with(|| {
            groups.push((reason, Vec::new()));
            groups.len() - 1
        });
        groups[index].1.push(item);
    }
    groups
}

/// The line that stands for the names not shown, if any are not.
pub fn more_line(members: usize) -> Option<String> {
    (members > NAMES_SHOWN).then(|| {
        format!(
            "... and {} more with the same reason (--json lists every one)",
            members - NAMES_SHOWN
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_once_in_first_seen_order_with_every_member() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("a", 5)];
        let groups = by_reason(&items, |item| item.0);
        let shape: Vec<(&str, Vec<i32>)> = groups
            .iter()
            .map(|(reason, members)| (*reason, members.iter().map(|item| item.1).collect()))
            .collect();
        assert_eq!(
            shape,
            [("a", vec![1, 3, 5]), ("b", vec![2]), ("c", vec![4])]
        );
        assert_eq!(more_line(NAMES_SHOWN), None);
        assert_eq!(
            more_line(NAMES_SHOWN + 295).as_deref(),
            Some("... and 295 more with the same reason (--json lists every one)")
        );
    }
}
