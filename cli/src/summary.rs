//! The end-of-push summary: counts, speed, retries, and every failure with its reason.
//!
//! What it is for: one plain struct, filled from the store's final records (the truth)
//! and the event tally (retries, stalls), printed either as text for people or as exactly
//! one JSON object for scripts (also when a signal stopped the push, `interrupted_by`, or
//! it gave up because nothing moved for `--patience`, `gave_up`), and the exit outcome
//! that follows from it.
//!
//! Names are escaped in both forms (`escape.rs`): a file name never acts on a terminal, and
//! one that is not UTF-8 never makes the JSON fail.
//!
//! What it must never do: include a header value, or count a file as succeeded on any
//! evidence other than its stored `Succeeded` state.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use serde::Serialize;

use crate::error::{CliError, Outcome};
pub use crate::gave_up::GaveUp;
use crate::signals::StopSignal;
use crate::{escape, grouped, plural};

/// Which command a summary tells of: its text's words, and for `pull` the JSON's
/// `files_downloaded` and `bytes_downloaded` in place of `files_uploaded` and
/// `bytes_uploaded`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Way {
    #[default]
    Push,
    Pull,
}

/// What a push or a pull did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Which command ran (not serialised: the JSON's field names say it).
    #[serde(skip)]
    pub way: Way,
    /// The queue database used.
    #[serde(serialize_with = "escape::serialize_path")]
    pub database: PathBuf,
    /// Files found in the arguments (including unreadable ones), plus `files_leftover`.
    pub files_total: u64,
    /// Transfers an earlier run left queued (not among the files of this run's arguments)
    /// that this push sent or tried: counted in every other figure and failure too.
    pub files_leftover: u64,
    /// Files the server has: uploaded now, or already by an earlier run.
    pub files_succeeded: u64,
    /// Of those, uploaded during this run.
    pub files_uploaded: u64,
    /// Of those, already uploaded (and unchanged) before this run started.
    pub files_already_done: u64,
    /// Of `files_uploaded`, downloads an earlier pull saved whose file was gone or no
    /// longer had the SHA-256 given: fetched again (always 0 for a push).
    pub files_fetched_again: u64,
    /// Failed permanently, need credentials, could not be read, or were left unfinished.
    pub files_failed: u64,
    /// Left queued by a push that was interrupted or gave up (or never enqueued): the next
    /// run sends them. Always 0 when `interrupted_by` and `gave_up` are both `null`.
    pub files_unfinished: u64,
    /// The signal that stopped the push (`"SIGINT"`, `"SIGTERM"`, `"SIGHUP"`), if one did.
    pub interrupted_by: Option<StopSignal>,
    /// Set when the push gave up because nothing moved for `--patience` (exit status 4).
    pub gave_up: Option<GaveUp>,
    /// Bytes of all files that have a record.
    pub bytes_total: u64,
    /// Bytes of the files uploaded during this run. For a pull (`bytes_downloaded`) the
    /// whole sizes of the files it finished, bytes an earlier run fetched of a resumed
    /// file included.
    pub bytes_uploaded: u64,
    pub seconds: f64,
    /// Files uploaded during this run per second.
    pub files_per_second: f64,
    pub bytes_per_second: f64,
    /// Attempts that failed and were retried (from events).
    pub retries: u64,
    /// Retries caused by a stall (no bytes moved for the stall timeout).
    pub stalls_recovered: u64,
    /// Downloads queued again to wait for space on their volume (not in `retries`).
    pub space_waits: u64,
    /// Events the summary missed; when not 0, `retries` and `stalls_recovered` are low.
    pub events_missed: u64,
    pub failures: Vec<FailureReport>,
    /// Paths deliberately not sent (links to directories, sockets, ...).
    pub skipped: Vec<SkipReport>,
    /// Downloads saved under another name than their own, because a file of that name
    /// was there (`--on-conflict keep-both`); always empty for a push.
    pub saved_elsewhere: Vec<SavedElsewhere>,
}

/// A download saved beside an existing file of its name, under a free name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SavedElsewhere {
    /// The name it was to be saved under.
    #[serde(serialize_with = "escape::serialize_path")]
    pub path: PathBuf,
    /// The name it was saved under.
    #[serde(serialize_with = "escape::serialize_path")]
    pub saved_as: PathBuf,
}

/// One file that did not make it, and why.
///
/// In JSON an upload's failure names its file `path` and its URL `destination`; a
/// download's names its URL `source` and its file `destination`, as `status --json` names
/// a download's ends.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureReport {
    /// The local file: an upload's source, a download's destination.
    pub path: PathBuf,
    /// The URL: an upload's destination, a download's source. Shown without its query
    /// (where a presigned URL keeps its signature) and without user information; `None`
    /// when an upload never got as far as a destination.
    pub url: Option<String>,
    /// Whether it is a download (which names its fields in JSON).
    pub download: bool,
    /// The transfer's state (`failed`, `auth_required`, ...) or `not_enqueued`.
    pub state: String,
    /// The failure kind (`http_status`, `network`, `source_missing`, ...), if known.
    pub kind: Option<String>,
    pub http_status: Option<u16>,
    pub reason: String,
    /// Whether running the same command again can end it once its cause is fixed: not for
    /// a download whose name is too long for the folder (its reason says what can).
    pub rerun_helps: bool,
}

impl FailureReport {
    /// How a terminal names it: its file, and for a download the URL it comes from
    /// (`URL -> file`, as `status` does): a pull's file names alone do not say which URL
    /// failed.
    fn name_for_terminal(&self) -> String {
        match &self.url {
            Some(url) if self.download => format!(
                "{} -> {}",
                escape::for_terminal(url),
                escape::path_for_terminal(&self.path)
            ),
            _ => escape::path_for_terminal(&self.path),
        }
    }
}

/// What every failure says besides its file and URL, in JSON.
#[derive(Serialize)]
struct FailureFacts<'a> {
    state: &'a str,
    kind: Option<&'a str>,
    http_status: Option<u16>,
    reason: &'a str,
}

/// An upload's failure in JSON: the file is `path`, the URL `destination`.
#[derive(Serialize)]
struct UploadFailureJson<'a> {
    #[serde(serialize_with = "escape::serialize_path")]
    path: &'a Path,
    destination: Option<&'a str>,
    #[serde(flatten)]
    facts: FailureFacts<'a>,
}

/// A download's failure in JSON: the URL is `source`, the file `destination`.
#[derive(Serialize)]
struct DownloadFailureJson<'a> {
    source: Option<&'a str>,
    #[serde(serialize_with = "escape::serialize_path")]
    destination: &'a Path,
    #[serde(flatten)]
    facts: FailureFacts<'a>,
}

impl Serialize for FailureReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let facts = FailureFacts {
            state: &self.state,
            kind: self.kind.as_deref(),
            http_status: self.http_status,
            reason: &self.reason,
        };
        let url = self.url.as_deref();
        if self.download {
            DownloadFailureJson {
                source: url,
                destination: &self.path,
                facts,
            }
            .serialize(serializer)
        } else {
            UploadFailureJson {
                path: &self.path,
                destination: url,
                facts,
            }
            .serialize(serializer)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkipReport {
    #[serde(serialize_with = "escape::serialize_path")]
    pub path: PathBuf,
    pub reason: String,
}

impl Summary {
    /// `Success` only when every file is on the server.
    pub fn outcome(&self) -> Outcome {
        if self.failures.is_empty() && self.files_failed == 0 {
            Outcome::Success
        } else {
            Outcome::SomeFailed
        }
    }

    /// Whether the push stopped before the queue was drained (a signal, or `--patience`):
    /// then what is still queued is unfinished, not failed.
    pub fn stopped_early(&self) -> bool {
        self.interrupted_by.is_some() || self.gave_up.is_some()
    }

    /// The closing advice after the failures: a rerun, unless it cannot help some of them.
    fn what_to_do(&self) -> String {
        let hopeless = self
            .failures
            .iter()
            .filter(|failure| !failure.rerun_helps)
            .count() as u64;
        if hopeless == 0 {
            "fix the cause and run the same command again".to_owned()
        } else if hopeless == self.failures.len() as u64 {
            "running the same command again cannot help here: do what each reason above says"
                .to_owned()
        } else {
            format!(
                "fix the cause and run the same command again, except for the {} a rerun \
                 cannot help: do what {} reason says",
                plural::count(hopeless, "file", "files"),
                if hopeless == 1 { "its" } else { "their" }
            )
        }
    }

    /// Fills in the speeds from the counts and `seconds`.
    pub fn compute_rates(&mut self) {
        if self.seconds > 0.0 {
            self.files_per_second = self.files_uploaded as f64 / self.seconds;
            self.bytes_per_second = self.bytes_uploaded as f64 / self.seconds;
        }
    }

    pub fn to_json(&self) -> Result<String, CliError> {
        let mut json = Vec::new();
        let mut serializer = serde_json::Serializer::pretty(&mut json);
        as_reported(self, &mut serializer).map_err(|error| {
            CliError::Internal(format!("the summary cannot be serialised: {error}"))
        })?;
        String::from_utf8(json)
            .map_err(|_| CliError::Internal("the summary's JSON is not UTF-8".into()))
    }

    /// The text form, for people.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        // A pull's bytes are the whole sizes of the files it finished, parts an earlier
        // run fetched included (the records do not say what this run fetched): "saved".
        let (there, moved, verb, bytes_moved) = match self.way {
            Way::Push => ("on the server", "uploaded", "sent", "uploaded"),
            Way::Pull => ("saved", "downloaded", "fetched", "saved"),
        };
        writeln!(
            out,
            "{}: {} {there} ({} {moved} now, {} already there), {} failed",
            plural::count(self.files_total, "file", "files"),
            self.files_succeeded,
            self.files_uploaded,
            self.files_already_done,
            self.files_failed
        )?;
        if self.files_fetched_again > 0 {
            writeln!(
                out,
                "{} an earlier pull saved {} gone or changed, and fetched again",
                plural::count(self.files_fetched_again, "file", "files"),
                if self.files_fetched_again == 1 {
                    "was"
                } else {
                    "were"
                }
            )?;
        }
        for saved in self.saved_elsewhere.iter().take(grouped::NAMES_SHOWN) {
            writeln!(
                out,
                "saved as {} ({} was already there; --on-conflict keep-both)",
                escape::path_for_terminal(&saved.saved_as),
                escape::path_for_terminal(&saved.path)
            )?;
        }
        if let Some(more) = self
            .saved_elsewhere
            .len()
            .checked_sub(grouped::NAMES_SHOWN)
            .filter(|more| *more > 0)
        {
            writeln!(
                out,
                "... and {more} more saved under another name (--json lists every one)"
            )?;
        }
        if self.files_leftover > 0 {
            writeln!(
                out,
                "{} of the files were left queued by an earlier run and {verb} now",
                self.files_leftover
            )?;
        }
        writeln!(
            out,
            "{bytes_moved} {} in {:.1} s: {:.1} files/s, {}/s",
            HumanBytes(self.bytes_uploaded),
            self.seconds,
            self.files_per_second,
            HumanBytes(self.bytes_per_second.max(0.0) as u64)
        )?;
        writeln!(
            out,
            "failed attempts queued again: {} (after a stall: {})",
            self.retries, self.stalls_recovered
        )?;
        if self.space_waits > 0 {
            writeln!(
                out,
                "waited for disk space: {} (no attempt used up)",
                self.space_waits
            )?;
        }
        if self.events_missed > 0 {
            writeln!(
                out,
                "note: {} progress events were missed; retry counts are lower bounds",
                self.events_missed
            )?;
        }
        if let Some(by) = self.interrupted_by {
            writeln!(
                out,
                "interrupted by {}: {} left for the next run of the same command",
                by.name(),
                plural::count(self.files_unfinished, "file", "files")
            )?;
        }
        if let Some(gave_up) = &self.gave_up {
            writeln!(
                out,
                "gave up: {}: {} left for the next run of the same command",
                gave_up.why(),
                plural::count(self.files_unfinished, "file", "files")
            )?;
            for line in gave_up.lines() {
                writeln!(out, "  {}", escape::for_terminal(line))?;
            }
        }
        for skip in &self.skipped {
            writeln!(
                out,
                "skipped {}: {}",
                escape::path_for_terminal(&skip.path),
                escape::for_terminal(&skip.reason)
            )?;
        }
        if !self.failures.is_empty() {
            writeln!(out, "failures ({}):", self.failures.len())?;
            let groups = grouped::by_reason(&self.failures, |failure| {
                (failure.state.as_str(), failure.reason.as_str())
            });
            for ((state, reason), members) in groups {
                if let [only] = members.as_slice() {
                    writeln!(
                        out,
                        "  {} [{state}] {}",
                        only.name_for_terminal(),
                        escape::for_terminal(reason)
                    )?;
                    continue;
                }
                writeln!(
                    out,
                    "  {} [{state}] {}:",
                    plural::count(members.len() as u64, "file", "files"),
                    escape::for_terminal(reason)
                )?;
                for failure in members.iter().take(grouped::NAMES_SHOWN) {
                    writeln!(out, "    {}", failure.name_for_terminal())?;
                }
                if let Some(more) = grouped::more_line(members.len()) {
                    writeln!(out, "    {more}")?;
                }
            }
            writeln!(
                out,
                "see `ferry status --db {}` for the queue; {}",
                escape::path_for_terminal(&self.database),
                self.what_to_do()
            )?;
        }
        Ok(())
    }
}

/// Serialises `summary` as a report shows it: a pull's `files_uploaded` and
/// `bytes_uploaded` are named `files_downloaded` and `bytes_downloaded`. For
/// `#[serde(serialize_with)]` in reports that hold a summary (`demo`).
pub fn as_reported<S: serde::Serializer>(
    summary: &Summary,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if summary.way == Way::Push {
        return summary.serialize(serializer);
    }
    let mut value = serde_json::to_value(summary).map_err(serde::ser::Error::custom)?;
    if let Some(fields) = value.as_object_mut() {
        for (from, to) in [
            ("files_uploaded", "files_downloaded"),
            ("bytes_uploaded", "bytes_downloaded"),
        ] {
            if let Some(moved) = fields.remove(from) {
                fields.insert(to.to_owned(), moved);
            }
        }
    }
    value.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_makes_the_outcome_a_failure() {
        let mut summary = Summary::default();
        assert_eq!(summary.outcome(), Outcome::Success);
        summary.failures.push(FailureReport {
            path: "a".into(),
            url: None,
            download: false,
            state: "not_enqueued".into(),
            kind: None,
            http_status: None,
            reason: "x".into(),
            rerun_helps: true,
        });
        assert_eq!(summary.outcome(), Outcome::SomeFailed);
    }

    fn text_of(summary: &Summary) -> String {
        let mut text = Vec::new();
        summary.write_text(&mut text).expect("written");
        String::from_utf8(text).expect("utf-8")
    }

    fn json_of(summary: &Summary) -> serde_json::Value {
        serde_json::from_str(&summary.to_json().expect("json")).expect("parses")
    }

    #[test]
    fn an_interrupted_summary_names_the_signal_and_what_is_left() {
        let summary = Summary {
            files_total: 5,
            files_succeeded: 2,
            files_unfinished: 3,
            interrupted_by: Some(StopSignal::Hangup),
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(
            text.contains("interrupted by SIGHUP: 3 files left"),
            "{text}"
        );
        let json = json_of(&summary);
        assert_eq!(json["interrupted_by"], "SIGHUP");
        assert_eq!(json["files_unfinished"], 3);
        let finished = Summary::default().to_json().expect("json");
        assert!(finished.contains("\"interrupted_by\": null"), "{finished}");
    }

    #[test]
    fn a_summary_of_a_push_that_gave_up_says_so_with_what_blocks_it() {
        let summary = Summary {
            files_total: 20,
            files_unfinished: 20,
            gave_up: Some(GaveUp {
                idle_secs: 6,
                hosts: vec!["127.0.0.1:9: 20 waiting".into()],
                ..GaveUp::default()
            }),
            ..Summary::default()
        };
        assert!(summary.stopped_early());
        let text = text_of(&summary);
        assert!(
            text.contains("gave up: nothing moved for 6s (--patience): 20 files left"),
            "{text}"
        );
        assert!(text.contains("  127.0.0.1:9: 20 waiting"), "{text}");
        let json = json_of(&summary);
        assert_eq!(json["gave_up"]["idle_secs"], 6);
        assert_eq!(json["gave_up"]["hosts"][0], "127.0.0.1:9: 20 waiting");
        let finished = Summary::default().to_json().expect("json");
        assert!(finished.contains("\"gave_up\": null"), "{finished}");
    }

    #[test]
    fn a_failed_download_is_named_by_its_url_and_file_an_upload_by_its_file() {
        let failure = |download: bool, path: &str, url: &str| FailureReport {
            path: path.into(),
            url: Some(url.into()),
            download,
            state: "failed".into(),
            kind: None,
            http_status: Some(404),
            reason: "not found".into(),
            rerun_helps: true,
        };
        let summary = Summary {
            way: Way::Pull,
            failures: vec![
                failure(true, "/out/a.bin", "http://h/a.bin"),
                failure(false, "/src/b.txt", "http://h/up/b.txt"),
            ],
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(
            text.contains("    http://h/a.bin -> /out/a.bin\n"),
            "{text}"
        );
        assert!(text.contains("    /src/b.txt\n"), "{text}");
    }

    #[test]
    fn a_rerun_is_advised_only_for_failures_it_can_end() {
        let failure = |rerun_helps: bool| FailureReport {
            path: "/out/f".into(),
            url: Some("http://h/f".into()),
            download: true,
            state: "not_enqueued".into(),
            kind: None,
            http_status: None,
            reason: "the file name is too long".into(),
            rerun_helps,
        };
        let closing = |failures: Vec<FailureReport>| {
            let summary = Summary {
                way: Way::Pull,
                failures,
                ..Summary::default()
            };
            let text = text_of(&summary);
            text.lines().last().unwrap_or_default().to_owned()
        };
        assert!(
            closing(vec![failure(true)]).ends_with("fix the cause and run the same command again"),
            "{}",
            closing(vec![failure(true)])
        );
        let hopeless = closing(vec![failure(false)]);
        assert!(
            hopeless.ends_with(
                "running the same command again cannot help here: do what each reason above says"
            ),
            "{hopeless}"
        );
        let mixed = closing(vec![failure(true), failure(false), failure(false)]);
        assert!(
            mixed
                .ends_with("except for the 2 files a rerun cannot help: do what their reason says"),
            "{mixed}"
        );
    }

    #[test]
    fn failures_with_one_reason_are_told_once_with_a_few_names() {
        let failure = |index: usize, reason: &str| FailureReport {
            path: format!("f{index}.txt").into(),
            url: None,
            download: false,
            state: "auth_required".into(),
            kind: None,
            http_status: Some(401),
            reason: reason.into(),
            rerun_helps: true,
        };
        let mut failures: Vec<FailureReport> = (0..300)
            .map(|index| failure(index, "needs credentials"))
            .collect();
        failures.push(failure(300, "something else"));
        let summary = Summary {
            failures,
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(text.contains("failures (301):"), "{text}");
        assert!(
            text.contains("  300 files [auth_required] needs credentials:\n    f0.txt\n"),
            "{text}"
        );
        assert!(
            text.contains("    ... and 295 more with the same reason"),
            "{text}"
        );
        assert!(!text.contains("f5.txt"), "five names shown: {text}");
        assert!(
            text.contains("  f300.txt [auth_required] something else"),
            "{text}"
        );
        assert_eq!(
            json_of(&summary)["failures"].as_array().map(Vec::len),
            Some(301)
        );
    }

    #[test]
    fn one_file_reads_as_one_file() {
        let summary = Summary {
            files_total: 1,
            files_unfinished: 1,
            interrupted_by: Some(StopSignal::Hangup),
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(text.starts_with("1 file: 0 on the server"), "{text}");
        assert!(text.contains("SIGHUP: 1 file left"), "{text}");
    }

    #[test]
    fn a_download_failure_names_its_url_source_and_its_file_destination() {
        let failure = |download: bool| FailureReport {
            path: "/local/f.txt".into(),
            url: Some("http://h/f.txt".into()),
            download,
            state: "failed".into(),
            kind: Some("http_status".into()),
            http_status: Some(404),
            reason: "gone".into(),
            rerun_helps: true,
        };
        let summary = Summary {
            failures: vec![failure(false), failure(true)],
            ..Summary::default()
        };
        let json = json_of(&summary);
        let (upload, download) = (&json["failures"][0], &json["failures"][1]);
        assert_eq!(upload["path"], "/local/f.txt", "{json}");
        assert_eq!(upload["destination"], "http://h/f.txt", "{json}");
        assert!(upload.get("source").is_none(), "{json}");
        assert_eq!(download["source"], "http://h/f.txt", "{json}");
        assert_eq!(download["destination"], "/local/f.txt", "{json}");
        assert!(download.get("path").is_none(), "{json}");
        for one in [upload, download] {
            assert_eq!(one["state"], "failed", "{json}");
            assert_eq!(one["kind"], "http_status", "{json}");
            assert_eq!(one["http_status"], 404, "{json}");
            assert_eq!(one["reason"], "gone", "{json}");
        }
    }

    #[test]
    fn a_pull_says_downloaded_in_its_text_and_json() {
        let summary = Summary {
            way: Way::Pull,
            files_total: 3,
            files_succeeded: 3,
            files_uploaded: 2,
            files_already_done: 1,
            bytes_uploaded: 7,
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(
            text.starts_with("3 files: 3 saved (2 downloaded now, 1 already there), 0 failed"),
            "{text}"
        );
        assert!(text.contains("\nsaved 7 B in "), "{text}");
        assert!(!text.contains("downloaded 7 B"), "{text}");
        let json = json_of(&summary);
        assert_eq!(json["files_downloaded"], 2, "{json}");
        assert_eq!(json["bytes_downloaded"], 7, "{json}");
        assert!(json.get("files_uploaded").is_none(), "{json}");
        assert_eq!(json_of(&Summary::default())["files_uploaded"], 0);
    }

    #[test]
    fn names_saved_under_are_told_a_few_at_a_time() {
        let summary = Summary {
            way: Way::Pull,
            saved_elsewhere: (0..7)
                .map(|index| SavedElsewhere {
                    path: format!("/out/f{index}.txt").into(),
                    saved_as: format!("/out/f{index} (1).txt").into(),
                })
                .collect(),
            ..Summary::default()
        };
        let text = text_of(&summary);
        assert!(
            text.contains("saved as /out/f0 (1).txt (/out/f0.txt was already there"),
            "{text}"
        );
        assert!(!text.contains("f5 (1).txt"), "{text}");
        assert!(
            text.contains("... and 2 more saved under another name"),
            "{text}"
        );
        let json = json_of(&summary);
        assert_eq!(json["saved_elsewhere"][6]["saved_as"], "/out/f6 (1).txt");
    }

    #[test]
    fn rates_are_per_second_of_this_run() {
        let mut summary = Summary {
            files_uploaded: 10,
            bytes_uploaded: 1000,
            seconds: 2.0,
            ..Summary::default()
        };
        summary.compute_rates();
        assert_eq!(summary.files_per_second, 5.0);
        assert_eq!(summary.bytes_per_second, 500.0);
    }
}
