//! Large pseudo-random source files, written and hashed in 1 MiB pieces (never whole in
//! memory), and the digest of a file on disk.

use std::io::{Read, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

const PIECE: usize = 1024 * 1024;

/// Writes `len` bytes to `path`; returns their SHA-256 (hex).
pub fn write_big_file(path: &Path, len: u64, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut hasher = Sha256::new();
    let mut piece = vec![0u8; PIECE];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(PIECE, |l| l.min(PIECE));
        rng.fill_bytes(&mut piece[..n]);
        hasher.update(&piece[..n]);
        file.write_all(&piece[..n]).expect("write");
        left -= n as u64;
    }
    file.flush().expect("flush");
    hex::encode(hasher.finalize())
}

/// SHA-256 (hex) and length of a file on disk.
pub fn digest_of(path: &Path) -> (String, u64) {
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    let mut piece = vec![0u8; PIECE];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut piece).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&piece[..n]);
        len += n as u64;
    }
    (hex::encode(hasher.finalize()), len)
}
