//! Packing: which queued files may travel together in one request to a batch endpoint,
//! and how many queued rows a scheduling round reads to fill its slots with full batches.
//! Which files go together is the scheduler's pure decision (`scheduler.rs`); the wire
//! format is the lane's (`http/batch.rs`) and `docs/batching.md`; the launch of a packed
//! batch is the one launch path's (`launch.rs`).
//!
//! Must never touch the store or launch anything: it answers from the configuration.

use crate::config::BatchEndpoint;
use crate::scheduler::BatchLimits;
use crate::store::CandidateRow;

/// How many queued candidates a round reads at least once a narrower read started too
/// little, and always with batch endpoints.
const CANDIDATE_WINDOW: usize = 16;
/// The most queued rows one scheduling round reads.
const MAX_WINDOW: usize = 1024;

pub(super) struct Packing {
    endpoints: Vec<BatchEndpoint>,
    /// Files at or above this size go alone (`PlatformPolicy::large_file_threshold`).
    large_file_threshold: u64,
}

impl Packing {
    pub(super) fn new(endpoints: Vec<BatchEndpoint>, large_file_threshold: u64) -> Self {
        Self {
            endpoints,
            large_file_threshold,
        }
    }

    /// How many queued rows a turn's first round reads. Without batch endpoints that is
    /// one per free slot: the scheduler takes candidates greedily in queue order, so when
    /// these fill every slot a wider read would have started the same transfers, and when
    /// they do not, the next round reads [`Packing::wider_window`]. A freed slot used to
    /// read 16 rows, each with a lookup of its table row (`mixed_sizes`: the due query was
    /// ~8% of the runtime's CPU).
    pub(super) fn first_window(&self, free_slots: usize) -> usize {
        if self.endpoints.is_empty() {
            free_slots.clamp(1, MAX_WINDOW)
        } else {
            self.candidate_window(free_slots)
        }
    }

    /// The window of the round after one that read `window` rows, all of them, and left
    /// slots free: [`CANDIDATE_WINDOW`], as far as a round ever read before the first
    /// window became one row per slot; `None` once it is that wide. (Doubling up to
    /// [`MAX_WINDOW`] re-read ~2,000 rows every turn while unstartable rows headed the
    /// queue: in-process-only downloads in the background, large files behind a full OS
    /// window.)
    pub(super) fn wider_window(window: usize) -> Option<usize> {
        (window < CANDIDATE_WINDOW).then_some(CANDIDATE_WINDOW)
    }

    /// How many queued rows a round reads with batch endpoints: enough to fill every free
    /// request slot with full batches.
    fn candidate_window(&self, free_slots: usize) -> usize {
        let per_request = self
            .endpoints
            .iter()
            .map(|endpoint| endpoint.max_files)
            .max()
            .unwrap_or(1);
        free_slots
            .saturating_mul(per_request)
            .clamp(CANDIDATE_WINDOW, MAX_WINDOW)
    }

    pub(super) fn limits(&self) -> Vec<BatchLimits> {
        self.endpoints
            .iter()
            .map(|endpoint| BatchLimits {
                max_files: endpoint.max_files.max(1),
                max_bytes: endpoint.max_bytes,
            })
            .collect()
    }

    /// The batch endpoint a queued file may be packed for: its destination is under the
    /// endpoint's prefix, it is small (below `large_file_threshold`) and it has no headers
    /// of its own, which a part could not carry. A download is never packed.
    pub(super) fn packable_into(&self, row: &CandidateRow) -> Option<usize> {
        if row.is_download || row.has_own_headers || row.size >= self.large_file_threshold {
            return None;
        }
        self.endpoints
            .iter()
            .position(|endpoint| row.destination.starts_with(&endpoint.destination_prefix))
    }

    /// The URL of the batch endpoint numbered `index` (as `packable_into` numbers them).
    pub(super) fn endpoint(&self, index: usize) -> Option<&str> {
        self.endpoints
            .get(index)
            .map(|endpoint| endpoint.endpoint.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransferId;
    use crate::upload::Constraints;

    fn packing() -> Packing {
        let mut small = BatchEndpoint::new("http://h/small/", "http://h/batch");
        small.max_files = 50;
        Packing::new(
            vec![small, BatchEndpoint::new("http://h/", "http://h/other")],
            1000,
        )
    }

    fn row(destination: &str, size: u64, has_own_headers: bool) -> CandidateRow {
        CandidateRow {
            id: TransferId::generate(),
            host: "h:80".into(),
            constraints: Constraints::default(),
            size,
            destination: destination.into(),
            has_own_headers,
            has_resumable_upload: false,
            seq: 1,
            is_download: false,
            priority: 0,
        }
    }

    #[test]
    fn small_files_without_headers_pack_for_the_first_endpoint_that_matches() {
        let packing = packing();
        assert_eq!(
            packing.packable_into(&row("http://h/small/a", 10, false)),
            Some(0)
        );
        assert_eq!(
            packing.packable_into(&row("http://h/x", 10, false)),
            Some(1)
        );
        assert_eq!(packing.packable_into(&row("http://g/x", 10, false)), None);
        assert_eq!(
            packing.packable_into(&row("http://h/small/a", 1000, false)),
            None
        );
        assert_eq!(
            packing.packable_into(&row("http://h/small/a", 10, true)),
            None
        );
        assert_eq!(packing.endpoint(0), Some("http://h/batch"));
        assert_eq!(packing.endpoint(2), None);
    }

    #[test]
    fn a_round_reads_enough_rows_for_full_batches_within_bounds() {
        let packing = packing();
        assert_eq!(packing.candidate_window(2), 100);
        assert_eq!(packing.candidate_window(0), CANDIDATE_WINDOW);
        assert_eq!(packing.candidate_window(1_000), MAX_WINDOW);
        assert_eq!(packing.first_window(2), 100, "batches read as before");
        let alone = Packing::new(Vec::new(), 0);
        assert_eq!(alone.first_window(4), 4, "one row per free slot");
        assert_eq!(alone.first_window(0), 1);
        assert_eq!(Packing::wider_window(1), Some(CANDIDATE_WINDOW));
        assert_eq!(Packing::wider_window(CANDIDATE_WINDOW), None);
        assert_eq!(Packing::wider_window(MAX_WINDOW), None);
        assert_eq!(packing.limits()[0].max_files, 50);
    }
}
