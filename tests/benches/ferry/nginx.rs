//! The benchmarks' side of nginx ([`ferry_testkit::nginx`] installs and starts it): its
//! CPU time, Ferry's configuration and curl's options for a [`Protocol`], and a timed
//! curl run against it.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry::QueueConfig;
pub use ferry_testkit::nginx::{Nginx, Protocol, ensure_installed};

use crate::support::{BenchResult, CpuOf, Sample, Stopwatch, fail, ferry_config, process_tree_cpu};

/// What the benchmarks ask of a running nginx besides serving.
pub trait NginxBench {
    /// CPU time used so far by the master and its workers.
    fn cpu_time(&self) -> Duration;
    /// Ferry's benchmark configuration ([`ferry_config`]) for reaching this server over
    /// `protocol`: its HTTP version setting, and the CA trusted.
    fn ferry_config(
        &self,
        database: &std::path::Path,
        in_flight: usize,
        protocol: Protocol,
    ) -> QueueConfig;
    /// curl's options for `protocol`: the HTTP version, and the CA to trust.
    fn curl_args(&self, protocol: Protocol) -> Vec<OsString>;
    /// Runs one curl process against this server, timed with its CPU and the server's.
    fn time_curl(&self, command: &mut Command) -> BenchResult<Sample>;
}

impl NginxBench for Nginx {
    fn cpu_time(&self) -> Duration {
        process_tree_cpu(self.pid())
    }

    fn ferry_config(
        &self,
        database: &std::path::Path,
        in_flight: usize,
        protocol: Protocol,
    ) -> QueueConfig {
        let mut config = ferry_config(database, in_flight);
        config.http_version = protocol.ferry_http_version();
        if protocol.is_tls() {
            config.extra_root_certificates_pem = vec![self.ca_pem().to_owned()];
        }
        config
    }

    fn curl_args(&self, protocol: Protocol) -> Vec<OsString> {
        let mut args: Vec<OsString> = match protocol {
            Protocol::Http1 => vec![],
            Protocol::Https1 => vec!["--http1.1".into()],
            Protocol::Https2 => vec!["--http2".into()],
        };
        if protocol.is_tls() {
            args.push("--cacert".into());
            args.push(self.ca_path().into());
        }
        args
    }

    fn time_curl(&self, command: &mut Command) -> BenchResult<Sample> {
        let server_cpu = || self.cpu_time();
        let stopwatch = Stopwatch::start(CpuOf::Children, &server_cpu);
        let output = command.stdin(Stdio::null()).output()?;
        let sample = stopwatch.stop();
        if !output.status.success() {
            return Err(fail(format!(
                "curl failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(sample)
    }
}
