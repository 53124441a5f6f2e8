//! Downloads, as the actor sees them: whether the volume has room for one about to launch
//! (`disk_space.rs`), what a launch hands the lane (the stored resume
//! state, the partial file's name), recording what attempts checkpoint, where a finished
//! download was saved, and removing the partial file of a cancelled or purged download.
//!
//! Free functions over the turn's transaction and the progress ledger the engine owns
//! (`attempt_charge.rs`): a download that moved its partial file forward earns the credit
//! a resumable upload does. Must never await I/O inside the turn: a partial file is
//! removed only after the turn is committed (a reply in the turn's effects), on the
//! blocking pool; and never call the engine. The one system call it makes in a turn is the
//! volume's `statvfs` before a launch (`volume_space.rs`), which waits for nothing.

use std::path::PathBuf;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::attempt_charge::ProgressLedger;
use super::effects::Effects;
use crate::disk_space::{self, Reservation};
use crate::download::{DownloadSpec, partial_path, segment_path};
use crate::download_record::DownloadRecord;
use crate::error::TransferError;
use crate::http::{Checkpoint, Checkpoints, DownloadJob, SegmentJob, remove_segments};
use crate::outcome::AttemptOutcome;
use crate::store;
use crate::volume_space;
use crate::{Transfer, TransferId};

/// Whether a download about to launch has room on its volume.
pub(super) enum Room {
    /// Its size is unknown, or its folder's volume cannot be looked at: it starts, and a
    /// full volume shows mid-write (the attempt's outcome).
    Unchecked,
    /// It fits beside the running downloads: launched holding this reservation.
    Reserved(Reservation),
    /// It does not: it waits with this reason.
    Short(TransferError),
}

/// Whether download `transfer` fits on its volume: what it still needs (its size less
/// what its partial file holds, as `record`, its stored resume state, says), with what the `running` downloads still have
/// to write there, against what the volume has available.
pub(super) fn room_for(
    transfer: &Transfer,
    record: &DownloadRecord,
    running: impl IntoIterator<Item = Reservation>,
) -> Room {
    let expected = transfer
        .download
        .as_ref()
        .and_then(|download| download.expected_size);
    let Some(need) = disk_space::still_needed(expected, record.total, record.offset) else {
        return Room::Unchecked;
    };
    let partial = partial_path(&transfer.upload.source, &transfer.id);
    let Some(folder) = partial.parent() else {
        return Room::Unchecked;
    };
    let Ok(volume) = volume_space::probe(folder) else {
        return Room::Unchecked;
    };
    match disk_space::check(need, &volume, running) {
        Ok(()) => Room::Reserved(Reservation {
            device: volume.device,
            bytes: need,
        }),
        Err(shortfall) => Room::Short(shortfall.error(folder)),
    }
}

/// What an attempt of download `transfer` needs: its stored resume state `record` (the
/// default, none yet: from zero), its spec, and where to report. The offset held now is what the attempt's
/// progress is measured from.
pub(super) fn job(
    transfer: &Transfer,
    record: DownloadRecord,
    generation: u64,
    sender: mpsc::UnboundedSender<Checkpoint>,
    ledger: &mut ProgressLedger,
) -> DownloadJob {
    ledger.launched(&transfer.id, generation, record.offset);
    let spec = transfer
        .download
        .as_ref()
        .map(DownloadSpec::of)
        .unwrap_or_default();
    DownloadJob {
        partial: partial_path(&transfer.upload.source, &transfer.id),
        record,
        spec,
        checkpoints: Checkpoints::new(sender, transfer.id.clone(), generation),
        authorizer_headers: Vec::new(),
    }
}

/// What applying an OS segment of download `transfer` needs: its attempt's `job` (the
/// record as stored now says where the segment starts, so which file the shim filled) and
/// the answer the shim reported.
pub(super) fn segment_job(
    transfer: &Transfer,
    job: DownloadJob,
    status: u16,
    headers: Vec<(String, String)>,
    otherwise: AttemptOutcome,
) -> SegmentJob {
    let destination = transfer.upload.source.clone();
    let segment = segment_path(&destination, &transfer.id, job.record.segment_start());
    SegmentJob {
        job,
        destination,
        segment,
        status,
        headers,
        otherwise,
    }
}

/// Persists a current attempt's resume state.
pub(super) fn record(
    tx: &Connection,
    ledger: &mut ProgressLedger,
    id: &TransferId,
    generation: u64,
    state: &DownloadRecord,
    now_ms: i64,
) -> rusqlite::Result<()> {
    store::save_download(tx, id, state, now_ms)?;
    ledger.confirmed(id, generation, state.offset);
    Ok(())
}

/// A download enqueued without a size, whose server told `told` as its length: recorded
/// as its size at the checkpoint that first records it (not only with `Succeeded`), so
/// that the queue's totals, progress and `status` count its bytes while it runs and
/// after an interruption; `totals` moves with it.
pub(super) fn learn_size(
    tx: &Connection,
    transfer: &mut Transfer,
    told: Option<u64>,
    totals: &mut store::TotalsDelta,
) -> rusqlite::Result<()> {
    let Some(told) = told.filter(|&told| enqueued_without_size(transfer) && told != transfer.size)
    else {
        return Ok(());
    };
    store::set_size(tx, transfer.seq, told)?;
    totals.resized(transfer.state.kind(), transfer.size, told);
    transfer.size = told;
    Ok(())
}

fn enqueued_without_size(transfer: &Transfer) -> bool {
    transfer
        .download
        .as_ref()
        .map_or(transfer.size == 0, |download| {
            download.expected_size.is_none()
        })
}

/// A download succeeded: records where its file is (the name its attempt placed it at,
/// also in `transfer.saved_as`) and, for one enqueued without a size, the length its
/// server gave ([`learn_size`]: so that progress, snapshots and reports count its
/// bytes), and forgets its resume state.
pub(super) fn finished(
    tx: &Connection,
    transfer: &mut Transfer,
    totals: &mut store::TotalsDelta,
) -> rusqlite::Result<()> {
    let record = store::load_download(tx, &transfer.id)?.unwrap_or_default();
    let saved_as = record
        .placing
        .unwrap_or_else(|| transfer.upload.source.clone());
    store::set_saved_as(tx, transfer.seq, &saved_as)?;
    transfer.saved_as = Some(saved_as);
    learn_size(tx, transfer, record.total, totals)?;
    store::forget_download(tx, &transfer.id)
}

/// A download was cancelled: its resume state is forgotten now, its partial file (and any
/// OS segment beside it) removed once the cancellation is committed.
pub(super) fn discard(
    tx: &Connection,
    transfer: &Transfer,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    store::forget_download(tx, &transfer.id)?;
    remove_partials_after_commit(
        vec![(
            transfer.id.clone(),
            partial_path(&transfer.upload.source, &transfer.id),
        )],
        effects,
    );
    Ok(())
}

/// A download failed for good. A partial file that holds no recorded byte (a 404, a
/// refused connection, a redirect loop: it was opened before the answer came) is worth
/// nothing to a retry, so it goes after the commit, with the resume state; one that holds
/// bytes is kept for a retry until the download is cancelled or purged.
pub(super) fn failed(
    tx: &Connection,
    transfer: &Transfer,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    let holds_bytes =
        store::load_download(tx, &transfer.id)?.is_some_and(|record| record.offset > 0);
    if holds_bytes {
        return Ok(());
    }
    discard(tx, transfer, effects)
}

/// Bulk-cancelled or purged downloads (`files`: their ids and local files): their resume
/// state is forgotten now (for a purge, with their rows), their partial files removed
/// once the turn is committed. A download that failed for good may have kept its partial
/// file for a retry; once purged, nothing will.
pub(super) fn discard_chunk(
    tx: &Connection,
    files: Vec<(TransferId, PathBuf)>,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    let mut partials = Vec::with_capacity(files.len());
    for (id, file) in files {
        store::forget_download(tx, &id)?;
        let partial = partial_path(&file, &id);
        partials.push((id, partial));
    }
    remove_partials_after_commit(partials, effects);
    Ok(())
}

/// Removes `partials` (with any OS segment files beside them, `remove_segments`) on the
/// blocking pool once the turn is committed (never when it was rolled back: the store
/// would still vouch for them).
fn remove_partials_after_commit(partials: Vec<(TransferId, PathBuf)>, effects: &mut Effects) {
    if partials.is_empty() {
        return;
    }
    effects.replies.push(Box::new(move |failed| {
        if failed.is_none() {
            tokio::task::spawn_blocking(move || {
                remove_segments(&partials);
                for (_, partial) in partials {
                    match std::fs::remove_file(&partial) {
                        Ok(()) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => log::warn!(
                            "could not remove a download's partial file {}: {error}",
                            partial.display()
                        ),
                    }
                }
            });
        }
    }));
}
