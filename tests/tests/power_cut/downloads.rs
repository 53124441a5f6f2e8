//! The downloads of the power-cut test: the files the test server serves for them (made
//! run by run, some with a fault that cuts or pauses their body, so that attempts resume,
//! checkpoint and are in flight when the power goes), and what the volume must hold after
//! every cut and at the end.
//!
//! After every cut: each download whose success the queue told has its file at its saved
//! path, byte-identical to what was served (hashed after the first cut that follows the
//! telling, then found with its length after each later one, and hashed again at the
//! end); no destination holds anything else (a file there is absent or byte-identical). At the end: every download is `Succeeded` with its
//! file in place, and no `.ferry-*.partial` is left in the folder.
//!
//! It must never learn what is expected from the volume or from a reopened queue: the
//! expected bytes are the served ones (by SHA-256), the successes those the queue told.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ferry_testkit::power_cut::child::download_name;
use ferry_testkit::power_cut::protocol::Told;
use ferry_testkit::{DownloadFault, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::facts::{Facts, records, saved_paths};

/// Every this many downloads, one is bigger than a checkpoint's stride (8 MiB in
/// `core/src/http/download/mod.rs`), so that cuts land around a mid-body checkpoint.
const BIG_EVERY: usize = 40;
const BIG: std::ops::RangeInclusive<usize> = 8 * 1024 * 1024 + 1..=10 * 1024 * 1024;
const SMALL: std::ops::RangeInclusive<usize> = 1..=256 * 1024;
/// The longest pause a served body takes, so that downloads are in flight at a cut.
const MAX_PAUSE_MS: u64 = 300;

/// The files served for downloads, by SHA-256, and what the checks counted.
pub struct Served {
    folder: PathBuf,
    /// By index: the served file's SHA-256 (hex) and length.
    files: Vec<(String, u64)>,
    /// Told successes already hashed at their destination after a cut.
    hashed: BTreeSet<String>,
    /// Told successes found at their saved path after a run (hashed the first time).
    pub successes_verified: u64,
    /// Destinations of downloads without a told success, found absent or byte-identical
    /// after a run (a success may be done but untold: cut before it was told).
    pub untold_checked: u64,
    /// Of those, the ones found absent.
    pub untold_absent: u64,
}

impl Served {
    /// Downloads go to `folder` (on the power-cut volume; it must exist, durably).
    pub fn new(folder: PathBuf) -> Self {
        Self {
            folder,
            files: Vec::new(),
            hashed: BTreeSet::new(),
            successes_verified: 0,
            untold_checked: 0,
            untold_absent: 0,
        }
    }

    /// How many files are served (downloads `0..count`).
    pub fn count(&self) -> usize {
        self.files.len()
    }

    /// Serves files up to `count` downloads, each of random bytes, some with a fault on
    /// their first answer: a reset part-way (the attempt keeps what it got and the next
    /// resumes with a range), a pause, or a reset after which the file is replaced (the
    /// next attempt's `If-Range` fails and it starts again from zero).
    pub fn serve_up_to(&mut self, server: &TestServer, count: usize, rng: &mut StdRng) {
        while self.files.len() < count {
            let index = self.files.len();
            let size = if index % BIG_EVERY == BIG_EVERY - 1 {
                rng.random_range(BIG)
            } else {
                rng.random_range(SMALL)
            };
            let mut content = vec![0; size];
            rng.fill_bytes(&mut content);
            let at = rng.random_range(0..size as u64);
            let fault = match rng.random_range(0..7) {
                0 | 1 => Some(DownloadFault::ResetAfter(at)),
                2 => Some(DownloadFault::PauseAfter {
                    bytes: at,
                    hold_ms: rng.random_range(1..=MAX_PAUSE_MS),
                }),
                3 => {
                    // The first answer is cut and the file replaced: only the new version
                    // can ever be whole, so it is the one expected.
                    let mut with = vec![0; size];
                    rng.fill_bytes(&mut with);
                    Some(DownloadFault::ReplaceAfter { bytes: at, with })
                }
                _ => None,
            };
            let expected = match &fault {
                Some(DownloadFault::ReplaceAfter { with, .. }) => with.as_slice(),
                _ => content.as_slice(),
            };
            self.files
                .push((hex::encode(Sha256::digest(expected)), size as u64));
            let name = download_name(index);
            server.serve_file(&name, content);
            if let Some(fault) = fault {
                server.add_download_faults(&name, vec![fault]);
            }
        }
    }

    /// After a cut: every told success has its file at its destination, byte-identical
    /// (and the saved path a reopened queue listed for it is that destination); every other
    /// download's destination is absent or byte-identical. `reopened` is what the last run
    /// listed at its open.
    pub fn check_volume(&mut self, facts: &Facts, reopened: &[Told], round: usize) {
        let saved = saved_paths(reopened);
        let told: BTreeMap<&str, bool> = facts
            .downloads()
            .map(|(_, name, succeeded)| (name, succeeded))
            .collect();
        for (id, name, succeeded) in facts.downloads() {
            let destination = self.folder.join(name);
            if let Some(path) = saved.get(id) {
                assert_eq!(
                    Path::new(path),
                    destination,
                    "run {round}: download {id} ({name}) was saved elsewhere"
                );
            }
            if succeeded {
                let held = if self.hashed.contains(id) {
                    self.length_held(&destination)
                } else {
                    self.held(&destination)
                };
                match held {
                    Held::Same => {
                        self.hashed.insert(id.to_owned());
                        self.successes_verified += 1;
                    }
                    Held::Absent => panic!(
                        "POWER-CUT-LOST: after run {round}, told success {id} ({name}) has \
                         no file at {}",
                        destination.display()
                    ),
                    Held::Wrong(len) => panic!(
                        "POWER-CUT-CORRUPT: after run {round}, told success {id} ({name}) \
                         has {len} wrong bytes at {}",
                        destination.display()
                    ),
                }
            }
        }
        // Every download given to a run so far, told or not: nothing half-written or
        // foreign at its destination.
        for index in 0..self.count() {
            let name = download_name(index);
            if told.get(name.as_str()) == Some(&true) {
                continue;
            }
            let destination = self.folder.join(&name);
            match self.held(&destination) {
                Held::Absent => self.untold_absent += 1,
                Held::Same => {}
                Held::Wrong(len) => panic!(
                    "POWER-CUT-CORRUPT: after run {round}, the download {name} (no success told) \
                     has {len} wrong bytes at its destination {}",
                    destination.display()
                ),
            }
            self.untold_checked += 1;
        }
    }

    /// At the end, from what a last reopen listed (`census`): every download told enqueued
    /// is `Succeeded` and saved at its destination, every served file is there
    /// byte-identical, and no partial file is left in the folder. Returns the downloads
    /// verified.
    pub fn check_end(&self, facts: &Facts, census: &[Told]) -> usize {
        let states = records(census);
        let saved = saved_paths(census);
        let mut names = Vec::new();
        for (id, name, _) in facts.downloads() {
            assert_eq!(
                states.get(id).copied(),
                Some("Succeeded"),
                "download {id} ({name}) at the end"
            );
            let destination = self.folder.join(name);
            assert_eq!(
                saved.get(id).map(Path::new),
                Some(destination.as_path()),
                "download {id} ({name}) saved at its destination"
            );
            names.push(name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            self.count(),
            "every served file was told enqueued as a download"
        );
        for index in 0..self.count() {
            let destination = self.folder.join(download_name(index));
            assert!(
                matches!(self.held(&destination), Held::Same),
                "{} is byte-identical at the end",
                destination.display()
            );
        }
        let partials: Vec<String> = std::fs::read_dir(&self.folder)
            .expect("the download folder lists")
            .map(|entry| {
                entry
                    .expect("a folder entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.starts_with(".ferry-") && name.ends_with(".partial"))
            .collect();
        assert!(partials.is_empty(), "partial files left: {partials:?}");
        self.count()
    }

    /// What `destination` holds against the file served under its name.
    fn held(&self, destination: &Path) -> Held {
        let (sha256, _) = self.served_as(destination);
        match std::fs::read(destination) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == *sha256 => Held::Same,
            Ok(bytes) => Held::Wrong(bytes.len() as u64),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Held::Absent,
            Err(error) => panic!("reading {}: {error}", destination.display()),
        }
    }

    /// The same by length alone, for a file already hashed there.
    fn length_held(&self, destination: &Path) -> Held {
        let (_, length) = self.served_as(destination);
        match std::fs::metadata(destination) {
            Ok(found) if found.len() == *length => Held::Same,
            Ok(found) => Held::Wrong(found.len()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Held::Absent,
            Err(error) => panic!("reading {}: {error}", destination.display()),
        }
    }

    /// The served file a destination is named after.
    fn served_as(&self, destination: &Path) -> &(String, u64) {
        let index: usize = destination
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix('d'))
            .and_then(|digits| digits.parse().ok())
            .expect("a download's destination is named by its index");
        &self.files[index]
    }
}

/// What a destination holds.
enum Held {
    Absent,
    Same,
    /// Bytes that are not the served file's: this many.
    Wrong(u64),
}
