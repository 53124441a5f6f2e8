//! Downloads an earlier pull saved whose file is gone or changed since: fetched again.
//!
//! What it is for: the engine answers a download enqueued again after it succeeded with
//! the old transfer's id and fetches nothing, so a pull would call a deleted (or, with an
//! expected SHA-256, a changed) file "already there". After the enqueue, each download
//! whose record says `Succeeded` is looked at on disk: the file it was saved as missing,
//! not a regular file, of another length than the record's size (when the record knows
//! it), or not matching the SHA-256 this run expects, makes it stale. A stale record is purged
//! when the queue holds exactly that one succeeded record under its URL, and the download
//! is enqueued again (a new transfer, fetched now); one that cannot be purged alone is
//! reported as a failure that says what to do.
//!
//! What it must never do: purge any record but the stale one, call a file there that is
//! not, or hash a file on the runtime's worker (the checks run on the blocking pool).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ferry::{Download, Selection, StateKind, TransferId, TransferQueue};

use crate::error::CliError;
use crate::pump::Pump;
use crate::{escape, plural, verify};

/// How many succeeded records under one URL prefix are listed to tell whether the stale
/// one is alone there: two are enough to know it is not.
const ALONE_CHECK: u64 = 2;

/// What the look at the succeeded downloads found.
#[derive(Debug, Default)]
pub struct Refetched {
    /// Downloads fetched again: their new ids replaced the old ones.
    pub count: u64,
    /// Stale downloads that could not be fetched again, by their position among the
    /// downloads, with the reason to report.
    pub failures: HashMap<usize, String>,
}

/// A succeeded download whose file is not what the record vouches for.
struct Stale {
    position: usize,
    why: String,
}

/// Looks at every download of `downloads` whose result in `ids` (in the same order) is a
/// succeeded transfer, and fetches the stale ones again: their entries in `ids` become the
/// new transfers' ids, counted in `found` as they are (so a signal midway leaves it true).
///
/// # Errors
///
/// A queue call that failed, or a stop signal while waiting for one.
pub async fn fetch_again(
    queue: &TransferQueue,
    pump: &mut Pump<'_>,
    downloads: &[Download],
    ids: &mut [Result<TransferId, ferry::Error>],
    found: &mut Refetched,
) -> Result<(), CliError> {
    let mut saved = Vec::new();
    for (position, id) in ids.iter().enumerate() {
        let (Ok(id), Some(download)) = (id, downloads.get(position)) else {
            continue;
        };
        let record = pump.drive(queue.get(id)).await??;
        if record.state.kind() != StateKind::Succeeded {
            continue;
        }
        let path = record.saved_as.unwrap_or(record.upload.source);
        saved.push(Saved {
            position,
            path,
            size: record.size,
            expected_sha256: download.expected_sha256.clone(),
        });
    }
    if saved.is_empty() {
        return Ok(());
    }
    let stale = pump
        .drive(tokio::task::spawn_blocking(move || stale_of(saved)))
        .await??;
    for Stale { position, why } in stale {
        let (Some(download), Some(Ok(old))) = (downloads.get(position), ids.get(position)) else {
            continue;
        };
        let old = old.clone();
        if purge_alone(queue, pump, &download.url, &old).await? {
            let again = pump.drive(queue.enqueue_download(download.clone())).await?;
            if let Some(slot) = ids.get_mut(position) {
                *slot = again;
            }
            found.count += 1;
            continue;
        }
        found.failures.insert(
            position,
            format!(
                "an earlier pull saved it, but {why}; ferry could not renew that record \
                 alone (other records share its URL prefix), so nothing was fetched: pull it \
                 with another --db, or run `ferry purge --state succeeded --prefix URL` \
                 (it forgets every succeeded record whose URL starts so) and pull again"
            ),
        );
    }
    Ok(())
}

/// A file a succeeded download saved, and what its record and this run say it holds.
struct Saved {
    /// Its position among the downloads.
    position: usize,
    path: PathBuf,
    /// The size the record holds for it; 0 when unknown (then its length is not checked).
    size: u64,
    expected_sha256: Option<String>,
}

/// The saved files that are missing or do not match their size or SHA-256.
fn stale_of(saved: Vec<Saved>) -> Vec<Stale> {
    saved
        .into_iter()
        .filter_map(|saved| {
            let Saved {
                position,
                path,
                size,
                expected_sha256: expected,
            } = saved;
            let shown = escape::path_for_terminal(&path);
            let why = match (std::fs::symlink_metadata(&path), expected) {
                (Err(error), _) if error.kind() == std::io::ErrorKind::NotFound => {
                    format!("{shown} is not there any more")
                }
                (Ok(metadata), _) if !metadata.is_file() => {
                    format!("{shown} is not a regular file any more")
                }
                (Ok(metadata), _) if size != 0 && metadata.len() != size => format!(
                    "{shown} is {} long now, not the {} downloaded",
                    plural::count(metadata.len(), "byte", "bytes"),
                    plural::count(size, "byte", "bytes")
                ),
                (_, Some(expected)) => match verify::digest(&path) {
                    Ok((_, actual)) if actual == expected => return None,
                    Ok(_) => format!("{shown} no longer has the SHA-256 given"),
                    Err(error) => format!("{shown} cannot be read to check its SHA-256 ({error})"),
                },
                _ => return None,
            };
            Some(Stale { position, why })
        })
        .collect()
}

/// Purges the succeeded record `id` of `url` when it is the only succeeded record whose
/// URL starts with `url` (a purge selects by prefix); returns whether it did.
async fn purge_alone(
    queue: &TransferQueue,
    pump: &mut Pump<'_>,
    url: &str,
    id: &TransferId,
) -> Result<bool, CliError> {
    let selection = Selection::in_states([StateKind::Succeeded]).with_destination_prefix(url);
    let listed = pump
        .drive(queue.list_where(selection.clone(), 0, ALONE_CHECK))
        .await??;
    if !matches!(listed.as_slice(), [only] if &only.id == id) {
        return Ok(false);
    }
    let purged = pump
        .drive(queue.purge_where(selection, Duration::ZERO))
        .await??;
    Ok(purged == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_resized_or_changed_file_is_stale_and_a_matching_one_is_not() {
        let dir = tempfile::tempdir().expect("dir");
        let kept = dir.path().join("kept");
        std::fs::write(&kept, b"hello").expect("write");
        let changed = dir.path().join("changed");
        std::fs::write(&changed, b"hello!").expect("write");
        let hello = verify::digest(&kept).expect("digest").1;
        let saved = |position, path: &std::path::Path, size, expected: Option<&String>| Saved {
            position,
            path: path.to_path_buf(),
            size,
            expected_sha256: expected.cloned(),
        };
        let stale = stale_of(vec![
            saved(0, &kept, 5, Some(&hello)),
            saved(1, &kept, 0, None),
            saved(2, &changed, 6, Some(&hello)),
            saved(3, &changed, 0, None),
            saved(4, &dir.path().join("gone"), 0, None),
            saved(5, dir.path(), 0, None),
            saved(6, &changed, 5, None),
            saved(7, &kept, 5, None),
        ]);
        let found: Vec<(usize, &str)> = stale
            .iter()
            .map(|stale| (stale.position, stale.why.as_str()))
            .collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found[0].0, 2);
        assert!(
            found[0].1.ends_with("no longer has the SHA-256 given"),
            "{found:?}"
        );
        assert_eq!(found[1].0, 4);
        assert!(found[1].1.ends_with("is not there any more"), "{found:?}");
        assert_eq!(found[2].0, 5);
        assert!(
            found[2].1.ends_with("not a regular file any more"),
            "{found:?}"
        );
        assert_eq!(found[3].0, 6);
        assert!(
            found[3]
                .1
                .ends_with("is 6 bytes long now, not the 5 bytes downloaded"),
            "{found:?}"
        );
    }
}
