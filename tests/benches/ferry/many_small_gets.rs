//! many_small_gets: 10,000 files of 16 KiB fetched from nginx (static files on tmpfs) with
//! 8 requests in flight, by Ferry and by `curl --parallel --parallel-max 8` (then `sync`),
//! in alternating order, over each [`Protocol`](crate::nginx::Protocol) selected. Every
//! completion is durable on both sides (see `get_many.rs`).

use crate::get_many::{Comparison, compare};
use crate::nginx::{self, Nginx};
use crate::support::{
    BenchResult, Prng, Settings, scratch_dir, server_scratch_dir, write_random_file,
};

pub const NAME: &str = "many_small_gets";
const FILES: usize = 10_000;
const FILE_SIZE: u64 = 16 * 1024;

pub fn run(settings: &Settings) -> BenchResult<()> {
    let binary = nginx::ensure_installed()?;
    let work = scratch_dir(NAME);
    let server_dir = server_scratch_dir(NAME);
    let server = Nginx::start(&binary, server_dir.path())?;
    std::fs::create_dir_all(server.root().join("small"))?;
    let mut prng = Prng::new(0x5EED_0011);
    let names = (0..FILES)
        .map(|index| {
            let name = format!("small/f{index:05}.bin");
            write_random_file(&server.root().join(&name), FILE_SIZE, &mut prng)?;
            Ok(name)
        })
        .collect::<BenchResult<Vec<_>>>()?;
    let comparison = Comparison {
        name: NAME,
        names: &names,
        bytes: FILES as u64 * FILE_SIZE,
        in_flight: 8,
        unit: "files/s",
        rate: |sample| FILES as f64 / sample.seconds,
        goal: 1.0,
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
