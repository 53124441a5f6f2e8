//! `ferry demo`'s second half: a few of the uploaded files pulled back from the same
//! loopback server, through the same code path as `ferry pull`, and proven identical.
//!
//! What it is for: showing downloads under faults. The server serves each chosen file
//! (the largest and a few others) at `/_files/NAME`; the largest is cut part-way through
//! its body and the next answered 503 with `Retry-After`, so the pull resumes one with a
//! `Range` request and waits out the other. Each download carries the SHA-256 the server
//! computed when the file was uploaded, so Ferry itself checks the bytes; then every
//! pulled file is compared with the original on disk, and the bytes the server handed out
//! are counted against the files' sizes.
//!
//! What it must never do: listen on anything but loopback, write outside the demo's
//! temporary directory, or report success without comparing every pulled file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry::Download;
use ferry_testkit::{DownloadFault, ReceivedBody, RetryAfter, TestServer};
use serde::Serialize;

use crate::demo_files::Generated;
use crate::destination::{BaseUrl, request_path};
use crate::error::CliError;
use crate::run_options::RunOptions;
use crate::summary::{self, Summary, Way};
use crate::transfer_run::{self, TransferPlan};
use crate::verify;

/// How many files are pulled back at most.
const PULLED: usize = 6;

/// What the pull-back did and what the comparison found.
#[derive(Debug, Serialize)]
pub struct PullReport {
    pub files: u64,
    pub bytes: u64,
    pub faults_planned: Vec<String>,
    #[serde(serialize_with = "summary::as_reported")]
    pub summary: Summary,
    /// Pulled files whose length and SHA-256 equal the original's.
    pub identical: u64,
    /// Body bytes the server handed out for them, all attempts together.
    pub bytes_served: u64,
    /// Whether the cut file continued where it was cut: fewer bytes were served in all
    /// than the files' sizes plus the part before the cut.
    pub resumed: bool,
    pub problems: Vec<String>,
}

impl PullReport {
    pub fn all_good(&self) -> bool {
        self.problems.is_empty()
            && self.identical == self.files
            && self.summary.files_succeeded == self.files
    }
}

/// One file pulled back: where the original is and what the server serves it as.
struct Chosen {
    original: PathBuf,
    name: String,
    size: u64,
    sha256: Option<String>,
}

/// Pulls a few of `generated` (found under `files_dir`, uploaded under `base`) back from
/// `server` into `workdir/pulled`, on the queue `options` uses, and compares them.
pub async fn pull_back(
    server: &TestServer,
    base: &BaseUrl,
    files_dir: &Path,
    generated: &[Generated],
    received: &BTreeMap<String, ReceivedBody>,
    options: &RunOptions,
    workdir: &Path,
) -> Result<PullReport, CliError> {
    let chosen = choose(base, files_dir, generated, received)?;
    let into = workdir.join("pulled");
    let originals: Vec<PathBuf> = chosen.iter().map(|file| file.original.clone()).collect();
    let folder = into.clone();
    let contents = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&folder)?;
        originals
            .iter()
            .map(std::fs::read)
            .collect::<std::io::Result<Vec<_>>>()
    })
    .await?
    .map_err(|error| CliError::io("cannot read the demo's files to serve them", error))?;
    for (file, bytes) in chosen.iter().zip(contents) {
        server.serve_file(&file.name, bytes);
    }
    let faults_planned = plan_faults(server, &chosen);
    let downloads = chosen
        .iter()
        .map(|file| Download {
            expected_sha256: file.sha256.clone(),
            ..Download::new(server.file_url(&file.name), into.join(&file.name))
        })
        .collect();
    let plan = TransferPlan {
        downloads,
        ..TransferPlan::default()
    };
    let mut summary = transfer_run::execute(plan, options).await?;
    summary.way = Way::Pull;
    let pairs: Vec<(PathBuf, PathBuf)> = chosen
        .iter()
        .map(|file| (file.original.clone(), into.join(&file.name)))
        .collect();
    let (identical, problems) = tokio::task::spawn_blocking(move || compare(&pairs)).await?;
    let bytes: u64 = chosen.iter().map(|file| file.size).sum();
    let bytes_served = chosen
        .iter()
        .map(|file| server.bytes_served(&file.name))
        .sum();
    let cut = chosen.first().map_or(0, |largest| largest.size / 2);
    Ok(PullReport {
        files: chosen.len() as u64,
        bytes,
        faults_planned,
        summary,
        identical,
        bytes_served,
        resumed: bytes_served < bytes + cut,
        problems,
    })
}

/// The largest file, then the first others, each with the digest the server computed
/// when it stored the upload.
fn choose(
    base: &BaseUrl,
    files_dir: &Path,
    generated: &[Generated],
    received: &BTreeMap<String, ReceivedBody>,
) -> Result<Vec<Chosen>, CliError> {
    let largest = generated
        .iter()
        .enumerate()
        .max_by_key(|(_, file)| file.size)
        .map(|(index, _)| index);
    let order = largest
        .into_iter()
        .chain((0..generated.len()).filter(|index| Some(*index) != largest))
        .take(PULLED);
    let mut chosen = Vec::new();
    for (position, index) in order.enumerate() {
        let file = &generated[index];
        let key = request_path(&base.join(&file.segments)?).unwrap_or_default();
        let mut original = files_dir.to_path_buf();
        original.extend(&file.segments);
        chosen.push(Chosen {
            original,
            name: format!("round-trip-{position}.bin"),
            size: file.size,
            sha256: received.get(&key).map(|body| body.sha256_hex.clone()),
        });
    }
    Ok(chosen)
}

/// A cut halfway through the largest file's body, and a 503 for the next file.
fn plan_faults(server: &TestServer, chosen: &[Chosen]) -> Vec<String> {
    let mut described = Vec::new();
    if let Some(largest) = chosen.first() {
        let cut = largest.size / 2;
        server.add_download_faults(&largest.name, vec![DownloadFault::ResetAfter(cut)]);
        described.push(format!(
            "{}: the connection is cut after {cut} of its {} bytes (the pull resumes with a Range request)",
            largest.name, largest.size
        ));
    }
    if let Some(second) = chosen.get(1) {
        server.add_download_faults(
            &second.name,
            vec![DownloadFault::Status {
                code: 503,
                retry_after: Some(RetryAfter::Seconds(1)),
            }],
        );
        described.push(format!(
            "{}: 503 Service Unavailable with Retry-After: 1",
            second.name
        ));
    }
    described
}

/// How many pulled files equal their originals, and what is wrong with the others.
fn compare(pairs: &[(PathBuf, PathBuf)]) -> (u64, Vec<String>) {
    let mut identical = 0;
    let mut problems = Vec::new();
    for (original, pulled) in pairs {
        match (verify::digest(original), verify::digest(pulled)) {
            (Ok(want), Ok(got)) if want == got => identical += 1,
            (Ok(_), Ok(_)) => {
                problems.push(format!("{} differs from its original", pulled.display()))
            }
            (Err(error), _) | (_, Err(error)) => {
                problems.push(format!("{}: {error}", pulled.display()));
            }
        }
    }
    (identical, problems)
}
