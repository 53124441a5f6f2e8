//! one_large_get: one 1 GiB file of pseudo-random bytes fetched from nginx (a static file
//! on tmpfs) by Ferry and by `curl -o` (then `sync`), in alternating order, over each
//! [`Protocol`](crate::nginx::Protocol) selected. The download is durable on both sides
//! (see `get_many.rs`). MB are 10^6 bytes.

use crate::get_many::{Comparison, compare};
use crate::nginx::{self, Nginx};
use crate::support::{
    BenchResult, Prng, Settings, scratch_dir, server_scratch_dir, write_random_file,
};

pub const NAME: &str = "one_large_get";
const SIZE: u64 = 1 << 30;

pub fn run(settings: &Settings) -> BenchResult<()> {
    let binary = nginx::ensure_installed()?;
    let work = scratch_dir(NAME);
    let server_dir = server_scratch_dir(NAME);
    let server = Nginx::start(&binary, server_dir.path())?;
    let names = vec!["large.bin".to_owned()];
    let source = server.root().join(&names[0]);
    write_random_file(&source, SIZE, &mut Prng::new(0x5EED_0012))?;
    let comparison = Comparison {
        name: NAME,
        names: &names,
        bytes: SIZE,
        in_flight: 8,
        unit: "MB/s",
        rate: |sample| SIZE as f64 / sample.seconds / 1e6,
        goal: 0.95,
    };
    compare(
        settings,
        &comparison,
        &binary.version,
        &server,
        server_dir.path(),
        work.path(),
    )
}
