//! The order in which the OS lane takes queued work while it carries everything (the app
//! in the background, or not saying which): large files first, within the highest
//! priority waiting, then the rest in run order.
//!
//! Why: every OS task that ends while the app is suspended relaunches it, and on iOS each
//! such background resume doubles the delay before tasks created then may start
//! (os-model.md rule 1); Apple's advice is "fewer, larger transfers". A window of large
//! bodies holds the link for minutes with few completions, so the OS always holds enough
//! to outlast its own resume delay, while small files wait for the app's own lane in the
//! foreground (or for a packed batch). Priority still wins: a large file never passes a
//! smaller one of higher priority.
//!
//! What it must never do: read the store or decide lanes or limits; it only orders rows
//! the engine read, and `scheduler::pick` decides what starts.

use crate::store::CandidateRow;

/// `large` (due rows of at least the large-file threshold, in run order) before the rest
/// of `due` (every due row in run order), without repeating a row; large rows of a lower
/// priority than the first due row are left where run order puts them.
pub(super) fn large_first(large: Vec<CandidateRow>, due: Vec<CandidateRow>) -> Vec<CandidateRow> {
    let top = due.first().map(|row| row.priority);
    let mut ordered: Vec<CandidateRow> = large
        .into_iter()
        .filter(|row| top.is_none_or(|top| row.priority >= top))
        .collect();
    let mut rest: Vec<CandidateRow> = due
        .into_iter()
        .filter(|row| !ordered.iter().any(|first| first.seq == row.seq))
        .collect();
    ordered.append(&mut rest);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransferId;
    use crate::upload::Constraints;

    fn row(seq: i64, size: u64, priority: i64) -> CandidateRow {
        CandidateRow {
            id: TransferId::generate(),
            host: "h:80".into(),
            constraints: Constraints::default(),
            size,
            destination: "http://h/f".into(),
            has_own_headers: false,
            has_resumable_upload: false,
            is_download: false,
            seq,
            priority,
        }
    }

    fn seqs(rows: &[CandidateRow]) -> Vec<i64> {
        rows.iter().map(|row| row.seq).collect()
    }

    #[test]
    fn large_files_go_first_and_no_row_comes_twice() {
        let due = vec![row(1, 3, 0), row(2, 200, 0), row(3, 3, 0)];
        let large = vec![row(2, 200, 0), row(9, 200, 0)];
        assert_eq!(seqs(&large_first(large, due)), vec![2, 9, 1, 3]);
    }

    #[test]
    fn a_large_file_never_passes_a_file_of_higher_priority() {
        let due = vec![row(1, 3, 5), row(2, 3, 0)];
        let large = vec![row(7, 200, 0)];
        assert_eq!(seqs(&large_first(large, due)), vec![1, 2]);
        let due = vec![row(1, 3, 5)];
        let large = vec![row(8, 200, 5)];
        assert_eq!(seqs(&large_first(large, due)), vec![8, 1]);
    }

    #[test]
    fn with_nothing_else_due_the_large_rows_are_the_order() {
        assert_eq!(
            seqs(&large_first(vec![row(4, 200, 0)], Vec::new())),
            vec![4]
        );
    }
}
