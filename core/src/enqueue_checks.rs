//! Validation of a whole `enqueue_many` call, with its file checks spread over threads.
//!
//! Checking a source takes three system calls (open, fstat, close), and they were most
//! of the time `enqueue_many` spent before the actor saw the batch: every request slot
//! idles meanwhile, since nothing is queued yet. Large batches check their files on a few
//! scoped threads; everything else in [`validate_with`] runs on the calling thread, in
//! order, as before.
//!
//! The helper threads only make system calls into results the caller allocated. They must
//! never allocate for a good file (an error, rare, carries its path): a thread that
//! allocates gets a glibc malloc arena of its own, and arenas keep their memory (a whole
//! validation on a second thread cost `queue_scale` 14 MiB of peak RSS).

use std::num::NonZeroUsize;

use crate::Error;
use crate::upload::{SourceSnapshot, Upload, ValidatedUpload, inspect_source, validate_with};

/// Below this many uploads, a thread costs more than it saves.
const PARALLEL_FROM: usize = 256;
/// Threads checking files at once, the caller's included.
const MAX_THREADS: usize = 4;

/// Validates every upload; each gets its own result, in order.
pub(crate) fn validate_all(uploads: Vec<Upload>) -> Vec<Result<ValidatedUpload, Error>> {
    let checks = check_sources(&uploads);
    uploads
        .into_iter()
        .zip(checks)
        .map(|(upload, check)| validate_with(upload, check))
        .collect()
}

/// `inspect_source` of every upload, on up to [`MAX_THREADS`] threads.
fn check_sources(uploads: &[Upload]) -> Vec<Result<SourceSnapshot, Error>> {
    let threads = if uploads.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS)
    };
    check_sources_on(uploads, threads)
}

/// `inspect_source` of every upload, split over `threads` threads, the caller's included.
fn check_sources_on(uploads: &[Upload], threads: usize) -> Vec<Result<SourceSnapshot, Error>> {
    let threads = threads.max(1);
    let mut checks: Vec<Option<Result<SourceSnapshot, Error>>> = Vec::new();
    checks.resize_with(uploads.len(), || None);
    let per_thread = uploads.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let mut parts = uploads
            .chunks(per_thread)
            .zip(checks.chunks_mut(per_thread));
        // The caller checks the first part itself, while helpers check the rest.
        let first = parts.next();
        for (sources, results) in parts {
            let spawned = std::thread::Builder::new()
                .name("ferry-enqueue-check".into())
                .spawn_scoped(scope, move || check_into(sources, results));
            if let Err(error) = spawned {
                // No thread to be had: those results stay empty and are checked below.
                log::debug!("checking sources on this thread only: {error}");
            }
        }
        if let Some((sources, results)) = first {
            check_into(sources, results);
        }
    });
    checks
        .into_iter()
        .zip(uploads)
        .map(|(check, upload)| check.unwrap_or_else(|| inspect_source(&upload.source)))
        .collect()
}

fn check_into(sources: &[Upload], results: &mut [Option<Result<SourceSnapshot, Error>>]) {
    for (upload, result) in sources.iter().zip(results) {
        *result = Some(inspect_source(&upload.source));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed_sources(dir: &std::path::Path, count: usize) -> Vec<Upload> {
        (0..count)
            .map(|index| {
                let path = dir.join(format!("f{index}"));
                // Every seventh source is missing; the rest hold `index` bytes.
                if index % 7 != 0 {
                    std::fs::write(&path, vec![b'x'; index]).expect("write source");
                }
                Upload::put(path, format!("http://127.0.0.1:9/{index}"))
            })
            .collect()
    }

    /// The check at `index` of [`mixed_sources`]: missing every seventh, else `index` bytes.
    fn assert_in_place(index: usize, size: Result<u64, &Error>) {
        match size {
            Ok(size) => {
                assert_ne!(index % 7, 0, "{index} should be missing");
                assert_eq!(size, index as u64, "{index}");
            }
            Err(error) => {
                assert_eq!(index % 7, 0, "{index}: {error}");
                assert!(matches!(error, Error::SourceMissing { .. }), "{error}");
            }
        }
    }

    #[test]
    fn checks_split_over_three_threads_land_in_their_places() {
        let dir = tempfile::tempdir().expect("dir");
        let uploads = mixed_sources(dir.path(), 100);
        let checks = check_sources_on(&uploads, 3);
        assert_eq!(checks.len(), 100);
        for (index, check) in checks.iter().enumerate() {
            assert_in_place(index, check.as_ref().map(|snapshot| snapshot.size));
        }
    }

    #[test]
    fn a_large_batch_keeps_each_result_in_its_place() {
        let dir = tempfile::tempdir().expect("dir");
        let uploads = mixed_sources(dir.path(), PARALLEL_FROM * 2 + 3);
        let results = validate_all(uploads);
        assert_eq!(results.len(), PARALLEL_FROM * 2 + 3);
        for (index, result) in results.iter().enumerate() {
            assert_in_place(index, result.as_ref().map(|valid| valid.snapshot.size));
            if let Ok(valid) = result {
                assert!(valid.upload.destination.ends_with(&format!("/{index}")));
            }
        }
    }

    #[test]
    fn a_bad_url_is_reported_before_a_missing_file() {
        let uploads = vec![Upload::put("/nonexistent/ferry/file", "ftp://h/a")];
        let results = validate_all(uploads);
        assert!(
            matches!(results.as_slice(), [Err(Error::InvalidUrl { .. })]),
            "{results:?}"
        );
    }
}
