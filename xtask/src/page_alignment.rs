//! Android 15 and later run on devices with 16 KB memory pages, where a native library
//! loads only if every `PT_LOAD` segment is aligned to at least 16 KB
//! (<https://developer.android.com/guide/practices/page-sizes>). `.cargo/config.toml` links
//! the Android targets with `-z max-page-size=16384`; this module checks the result, so a
//! `RUSTFLAGS` that overrides the config, or an older NDK, cannot ship a library that fails to
//! load. It only reads ELF files; it must never change one.

use std::path::Path;

use anyhow::{Context, Result, bail};
use goblin::elf::{Elf, program_header::PT_LOAD};

/// The page size Android's 16 KB devices use.
pub const ANDROID_PAGE_SIZE: u64 = 16 * 1024;

/// The alignment of each `PT_LOAD` segment of the ELF file `bytes`, in file order.
fn load_segment_alignments(bytes: &[u8]) -> Result<Vec<u64>> {
    let elf = Elf::parse(bytes).context("not an ELF file")?;
    Ok(elf
        .program_headers
        .iter()
        .filter(|header| header.p_type == PT_LOAD)
        .map(|header| header.p_align)
        .collect())
}

/// Fails, naming the file and the smallest alignment found, unless every `PT_LOAD` segment
/// of the ELF file at `path` is aligned to at least `page_size`.
pub fn require_aligned(path: &Path, page_size: u64) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let alignments =
        load_segment_alignments(&bytes).with_context(|| format!("reading {}", path.display()))?;
    let smallest = alignments.iter().copied().min();
    match smallest {
        None => bail!("{} has no loadable segment", path.display()),
        Some(align) if align < page_size => bail!(
            "{} has a segment aligned to {align} bytes; Android's 16 KB page devices need \
             {page_size}: link with `-C link-arg=-Wl,-z,max-page-size={page_size}` (see \
             .cargo/config.toml; a RUSTFLAGS variable replaces the config's flags)",
            path.display()
        ),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_executable_linked_for_4_kb_pages_is_refused_with_its_alignment() {
        // Linux x86_64 links for 4 KB pages by default: this test's own executable.
        let exe = std::env::current_exe().expect("the test's own path");
        let bytes = std::fs::read(&exe).expect("the test's own executable");
        let alignments = load_segment_alignments(&bytes).expect("an ELF file");
        assert!(!alignments.is_empty());
        let smallest = alignments.iter().copied().min().expect("segments");
        if smallest >= ANDROID_PAGE_SIZE {
            // A toolchain that already links for large pages: the check must accept it.
            require_aligned(&exe, ANDROID_PAGE_SIZE).expect("aligned");
            return;
        }
        let error = require_aligned(&exe, ANDROID_PAGE_SIZE)
            .expect_err("4 KB segments are refused")
            .to_string();
        assert!(
            error.contains(&format!("aligned to {smallest} bytes")),
            "{error}"
        );
        assert!(error.contains("max-page-size=16384"), "{error}");
        // The same file passes a check for the page size it was linked for.
        require_aligned(&exe, smallest).expect("aligned to its own page size");
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error() {
        assert!(load_segment_alignments(b"not an elf file at all").is_err());
    }
}
