//! The scratch directory of the targets that build a database: one per process, in RAM
//! where Linux has it, so a run costs no disk writes. Each run replaces the database in it.

use std::path::Path;
use std::sync::OnceLock;

pub fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("ferry-fuzz-")
            .tempdir_in(base)
            .unwrap_or_else(|error| panic!("no scratch directory for the fuzz database: {error}"))
    })
    .path()
}
