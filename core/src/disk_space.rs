//! Whether a download may start on its volume, and the "no space" reason a download waits
//! with: the bytes it still needs, added to what the downloads already running on the same
//! volume still need, against what the volume has available (issue 21, point 4).
//!
//! The actor asks before it launches a download (`actor/launch.rs`, with the volume's
//! space from `volume_space.rs`); a download short of space is not launched and waits,
//! queued with [`FailureKind::InsufficientSpace`], without using up an attempt, and is
//! checked again every [`RECHECK_EVERY`]. A volume that fills up mid-write (`ENOSPC`)
//! ends the attempt with the same reason (`http/download/`). A download of unknown size
//! needs nothing here: it relies on the second.
//!
//! Pure: no I/O, no clock. It must never probe a file system (`volume_space.rs` does) or
//! decide a verdict (`classify.rs`).

use std::path::Path;
use std::time::Duration;

use crate::error::{FailureKind, TransferError};

/// How long a download that waits for space waits before it is checked again (or, after
/// running out of space mid-write, tried again).
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// What a volume has, as `statvfs` tells it (`volume_space.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VolumeSpace {
    /// The volume's device number (`st_dev` of a folder on it): which downloads share it.
    pub device: u64,
    /// Bytes an unprivileged writer may still use (`f_bavail` × `f_frsize`).
    pub available: u64,
    /// The unit the volume allocates in (`f_frsize`): a file takes whole blocks.
    pub block_size: u64,
}

/// The space a running download holds a claim on: the bytes it still had to write when
/// it was launched, on volume `device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub device: u64,
    pub bytes: u64,
}

impl Reservation {
    /// What is left of the reservation once the attempt wrote `written` bytes.
    pub(crate) fn still_to_write(self, written: u64) -> Self {
        Self {
            device: self.device,
            bytes: self.bytes.saturating_sub(written),
        }
    }
}

/// A download the volume has no room for: what it needs, what the running downloads on
/// the same volume still need, and what the volume has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shortfall {
    pub this_download: u64,
    pub running: u64,
    pub available: u64,
}

impl Shortfall {
    /// All the bytes needed on the volume.
    pub(crate) fn needed(&self) -> u64 {
        self.this_download.saturating_add(self.running)
    }

    /// The reason the download waits, in words that say what to do.
    pub(crate) fn error(&self, folder: &Path) -> TransferError {
        let running = if self.running > 0 {
            format!(
                " ({} for this download, {} still to come for downloads running there)",
                self.this_download, self.running
            )
        } else {
            String::new()
        };
        TransferError::new(
            FailureKind::InsufficientSpace,
            format!(
                "not started: the volume of {} needs {} bytes{running} but has {} available; \
                 free at least {} bytes there, and the download starts on its own (checked \
                 every {} s)",
                folder.display(),
                self.needed(),
                self.available,
                self.needed().saturating_sub(self.available),
                RECHECK_EVERY.as_secs(),
            ),
        )
    }
}

/// The bytes a download still has to write: its size (the app's expected size, else the
/// length the server told an earlier attempt) less what its partial file holds; `None`
/// when the size is unknown.
pub(crate) fn still_needed(expected: Option<u64>, told: Option<u64>, held: u64) -> Option<u64> {
    expected.or(told).map(|size| size.saturating_sub(held))
}

/// Whether a download that still needs `need` bytes fits on `volume`, beside the
/// `running` downloads' reservations (only those on the same volume count), each rounded
/// up to whole blocks.
///
/// # Errors
///
/// The [`Shortfall`] when the bytes needed exceed the bytes available.
pub(crate) fn check(
    need: u64,
    volume: &VolumeSpace,
    running: impl IntoIterator<Item = Reservation>,
) -> Result<(), Shortfall> {
    let blocks = |bytes: u64| whole_blocks(bytes, volume.block_size);
    let running = running
        .into_iter()
        .filter(|reservation| reservation.device == volume.device)
        .fold(0u64, |sum, reservation| {
            sum.saturating_add(blocks(reservation.bytes))
        });
    let shortfall = Shortfall {
        this_download: blocks(need),
        running,
        available: volume.available,
    };
    if need == 0 || shortfall.needed() <= volume.available {
        Ok(())
    } else {
        Err(shortfall)
    }
}

/// The reason an attempt ends when its volume filled up while it wrote: `held` bytes are
/// in the partial file (kept, if the download can resume), `total` is its size if known.
pub(crate) fn ran_out(held: u64, total: Option<u64>, os_text: &str) -> TransferError {
    let rest = match total {
        Some(total) => format!("{} more bytes are needed", total.saturating_sub(held)),
        None => "its size is unknown".to_owned(),
    };
    TransferError::new(
        FailureKind::InsufficientSpace,
        format!(
            "the destination's volume filled up after {held} bytes of this download ({os_text}); \
             {rest}: free space there, and it continues on its own (tried again every {} s)",
            RECHECK_EVERY.as_secs(),
        ),
    )
}

/// `bytes` rounded up to whole blocks of `block_size` (a size of 0 counts as 1).
fn whole_blocks(bytes: u64, block_size: u64) -> u64 {
    let block = block_size.max(1);
    bytes.div_ceil(block).saturating_mul(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE: u64 = 7;

    fn volume(available: u64) -> VolumeSpace {
        VolumeSpace {
            device: DEVICE,
            available,
            block_size: 4096,
        }
    }

    fn on(device: u64, bytes: u64) -> Reservation {
        Reservation { device, bytes }
    }

    #[test]
    fn a_download_alone_fits_when_its_blocks_fit() {
        assert_eq!(check(8192, &volume(8192), []), Ok(()));
        assert_eq!(
            check(8193, &volume(8192), []),
            Err(Shortfall {
                this_download: 12_288,
                running: 0,
                available: 8192
            }),
            "a byte past a block takes a whole block"
        );
    }

    #[test]
    fn the_running_downloads_on_the_same_volume_count_together() {
        let space = volume(100 * 4096);
        // Each fits alone; together with the two running ones it does not.
        let running = [on(DEVICE, 40 * 4096), on(DEVICE, 40 * 4096)];
        assert_eq!(check(30 * 4096, &space, []), Ok(()));
        assert_eq!(
            check(30 * 4096, &space, running),
            Err(Shortfall {
                this_download: 30 * 4096,
                running: 80 * 4096,
                available: 100 * 4096
            })
        );
        assert_eq!(check(20 * 4096, &space, running), Ok(()), "exactly full");
    }

    #[test]
    fn downloads_on_other_volumes_do_not_count() {
        let space = volume(10 * 4096);
        let elsewhere = [on(DEVICE + 1, 1 << 40), on(DEVICE + 2, 1 << 40)];
        assert_eq!(check(10 * 4096, &space, elsewhere), Ok(()));
    }

    #[test]
    fn what_a_running_download_wrote_is_no_longer_reserved() {
        let reservation = on(DEVICE, 50 * 4096).still_to_write(45 * 4096);
        assert_eq!(reservation.bytes, 5 * 4096);
        assert_eq!(check(5 * 4096, &volume(10 * 4096), [reservation]), Ok(()));
        assert_eq!(on(DEVICE, 10).still_to_write(99).bytes, 0);
    }

    #[test]
    fn nothing_needed_always_fits_and_unknown_sizes_need_nothing_known() {
        assert_eq!(check(0, &volume(0), [on(DEVICE, 1 << 30)]), Ok(()));
        assert_eq!(still_needed(None, None, 100), None);
        assert_eq!(
            still_needed(Some(1000), Some(5), 100),
            Some(900),
            "the app's size first"
        );
        assert_eq!(still_needed(None, Some(1000), 100), Some(900));
        assert_eq!(still_needed(Some(10), None, 100), Some(0));
    }

    #[test]
    fn the_reason_says_what_is_needed_what_is_available_and_what_to_do() {
        let shortfall = Shortfall {
            this_download: 4096,
            running: 8192,
            available: 1000,
        };
        let error = shortfall.error(Path::new("/data/in"));
        assert_eq!(error.kind, FailureKind::InsufficientSpace);
        for part in [
            "/data/in",
            "12288 bytes",
            "1000 available",
            "free at least 11288",
        ] {
            assert!(error.message.contains(part), "{part}: {}", error.message);
        }
        let error = ran_out(300, Some(1000), "No space left on device");
        assert_eq!(error.kind, FailureKind::InsufficientSpace);
        assert!(
            error.message.contains("700 more bytes"),
            "{}",
            error.message
        );
    }
}
