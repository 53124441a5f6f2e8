//! The demo's files: a seeded, reproducible phone-like mix of sizes and names.
//!
//! What it is for: writing `count` files under a directory, mostly small documents, some
//! photos, a few multi-MiB videos (about 150 KiB on average, so 2,000 files are ~300 MiB),
//! with names that need percent-encoding (spaces, `#`, `%`, parentheses, non-ASCII). The
//! same seed always gives the same names, sizes and bytes.
//!
//! What it must never do: write outside `root`, or produce anything near 1 GiB for the
//! default count. Blocking: run it on the blocking pool.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::error::CliError;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Path segments under the root.
    pub segments: Vec<String>,
    pub size: u64,
}

/// Writes the files and returns them in generation order.
pub fn generate(root: &Path, count: u32, seed: u64) -> Result<Vec<Generated>, CliError> {
    let mut plan_rng = SmallRng::seed_from_u64(seed);
    let mut generated = Vec::with_capacity(count as usize);
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..count {
        let (segments, size) = draw(&mut plan_rng, index);
        let content_seed = plan_rng.next_u64();
        let mut path = root.to_path_buf();
        path.extend(&segments);
        write_file(&path, size, content_seed, &mut buffer)?;
        generated.push(Generated { segments, size });
    }
    Ok(generated)
}

/// Name and size of file `index`: 70 % small documents, 25 % photos, 5 % videos.
fn draw(rng: &mut SmallRng, index: u32) -> (Vec<String>, u64) {
    let class = rng.random_range(0..100u32);
    let strings = |parts: &[String]| parts.to_vec();
    if class < 70 {
        let size = rng.random_range(512..=64 * KIB);
        let segments = match index % 3 {
            0 => strings(&[
                "Documents".into(),
                "notes".into(),
                format!("note-{index:04}.txt"),
            ]),
            1 => strings(&[
                "Documents".into(),
                "Reçus 2024".into(),
                format!("reçu n°{index:04}.pdf"),
            ]),
            _ => strings(&["Contacts".into(), format!("{index:04}.vcf")]),
        };
        (segments, size)
    } else if class < 95 {
        let size = rng.random_range(64 * KIB..=256 * KIB);
        let album = format!("{}APPLE", 100 + index / 500);
        (
            strings(&["DCIM".into(), album, format!("IMG_{index:04}.HEIC")]),
            size,
        )
    } else {
        let size = rng.random_range(MIB..=3 * MIB);
        (
            strings(&["Movies".into(), format!("clip #{index:04} (50% speed).mov")]),
            size,
        )
    }
}

fn write_file(path: &Path, size: u64, seed: u64, buffer: &mut [u8]) -> Result<(), CliError> {
    let failed = |error| CliError::io(format!("cannot write demo file {}", path.display()), error);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut content = SmallRng::seed_from_u64(seed);
    let mut out = BufWriter::new(File::create(path).map_err(failed)?);
    let mut left = size;
    while left > 0 {
        let chunk = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
        let slice = &mut buffer[..chunk];
        content.fill_bytes(slice);
        out.write_all(slice).map_err(failed)?;
        left -= chunk as u64;
    }
    out.flush().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_files() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        let a = generate(first.path(), 40, 7).expect("generate");
        let b = generate(second.path(), 40, 7).expect("generate");
        assert_eq!(a, b);
        let path: std::path::PathBuf = a[5].segments.iter().collect();
        assert_eq!(
            fs::read(first.path().join(&path)).expect("read"),
            fs::read(second.path().join(&path)).expect("read")
        );
        assert_eq!(
            fs::metadata(first.path().join(&path)).expect("stat").len(),
            a[5].size
        );
    }

    #[test]
    fn the_default_mix_is_a_few_hundred_mib() {
        let mut rng = SmallRng::seed_from_u64(2024);
        let total: u64 = (0..2000)
            .map(|index| {
                let size = draw(&mut rng, index).1;
                rng.next_u64(); // the content seed, as `generate` draws it
                size
            })
            .sum();
        assert!(total > 150 * MIB && total < 600 * MIB, "{total}");
    }
}
