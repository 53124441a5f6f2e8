//! The file set of a scenario, written to a temporary directory at its scaled sizes, with
//! what the server must end up holding.
//!
//! What it must never do: write outside its directory or hold more than one file's bytes.

use std::io;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::params::ScenarioParams;

/// One file to upload.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The URL path, also the file's name under the directory (`/small/00001.jpg`).
    pub url_path: String,
    pub path: PathBuf,
    pub len: u64,
    pub sha256_hex: String,
}

/// Writes the scenario's files under `dir`: the large ones first, so a naive app hands
/// them to the OS in the order a photo library lists them (oldest first, mixed).
pub fn write(dir: &Path, params: &ScenarioParams) -> io::Result<Vec<SourceFile>> {
    let small = params.scaled(params.small_bytes);
    let large = params.scaled(params.large_bytes);
    let mut files = Vec::new();
    let total = params.total_files();
    // Spread the large files evenly through the library.
    let every = total
        .checked_div(params.large_count)
        .map_or(u64::MAX, |every| every.max(1));
    let mut large_left = params.large_count;
    let mut small_left = params.small_count;
    for index in 0..total {
        let is_large = large_left > 0 && (index % every == every - 1 || small_left == 0);
        let (kind, len) = if is_large {
            large_left -= 1;
            ("video", large)
        } else {
            small_left -= 1;
            ("photo", small)
        };
        let url_path = format!("/{kind}/{index:05}.bin");
        let path = dir.join(format!("{kind}-{index:05}.bin"));
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        StdRng::seed_from_u64(index).fill_bytes(&mut bytes);
        std::fs::write(&path, &bytes)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))?;
        files.push(SourceFile {
            url_path,
            path,
            len,
            sha256_hex: hex::encode(Sha256::digest(&bytes)),
        });
    }
    Ok(files)
}
