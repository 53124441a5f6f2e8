//! The knobs of a scenario (besides the simulators' own): the file set, the modelled link,
//! the app's life, Ferry's configuration and the naive app's retries. Byte values are
//! unscaled; `scale` shrinks file sizes, the link's rate and byte thresholds alike, so
//! virtual times stay those of the unscaled run.
//!
//! What it must never do: hold behaviour; the runner reads these.

use std::time::Duration;

use crate::sim::{AndroidParams, IosParams, Knob, Knobs};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Everything a scenario run can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioParams {
    /// Multiplies every byte size, rate and byte threshold.
    pub scale: f64,
    /// The uplink shared by every transfer, unscaled bytes per second.
    pub link_bytes_per_sec: u64,
    /// Whether the server (and so the OS tasks) speak HTTP/2.
    pub http2: bool,
    pub charging: bool,
    pub wifi: bool,
    /// Small files (seed's 200 KiB files, photo-backup's photos).
    pub small_count: u64,
    pub small_bytes: u64,
    /// Large files (photo-backup's videos).
    pub large_count: u64,
    pub large_bytes: u64,
    /// When the app goes to the background (`inf`: never).
    pub background_at: Duration,
    /// When the user force-quits the app (`inf`: never).
    pub force_quit_at: Duration,
    /// When the user opens the app again after the force-quit.
    pub reopen_at: Duration,
    /// The run stops here whatever is left.
    pub max_duration: Duration,
    /// Ferry's `max_platform_tasks`.
    pub ferry_max_platform_tasks: u64,
    /// Ferry's `large_file_threshold` (unscaled).
    pub ferry_large_file_threshold: u64,
    pub ferry_platform_stall_timeout: Duration,
    /// Ferry's in-process `stall_timeout`. Raised above Ferry's 30 s default because with
    /// scaled bytes a whole body fits in loopback socket buffers, so the in-process lane
    /// sees its bytes leave at once and then waits for the link for the whole transfer.
    pub ferry_stall_timeout: Duration,
    pub ferry_per_host: u64,
    pub ferry_global: u64,
    /// Ferry's `refill_when_drained`: on for the iOS scenarios, as on Apple targets; off
    /// for Android's.
    pub ferry_refill_when_drained: bool,
    /// With more than 0, Ferry packs small files for the testkit's batch endpoint, up to
    /// this many files per request (off by default: the scenarios' server is a plain one).
    pub ferry_batch_max_files: u64,
    /// ... and up to this many (unscaled) bytes per request.
    pub ferry_batch_max_bytes: u64,
    /// The `ferry-download` strategy: a download's OS segment (unscaled bytes).
    pub ferry_download_segment_bytes: u64,
    /// How often the naive app hands a failed file to the OS again.
    pub naive_max_retries: u64,
    pub ios: IosParams,
    pub android: AndroidParams,
}

impl ScenarioParams {
    /// The defaults of scenario `name` (unknown names get the seed's).
    pub fn for_scenario(name: &str) -> Self {
        let seed = Self {
            scale: 1.0 / 1024.0,
            link_bytes_per_sec: 2 * MIB,
            http2: true,
            charging: true,
            wifi: true,
            small_count: 1000,
            small_bytes: 200 * KIB,
            large_count: 0,
            large_bytes: 200 * MIB,
            background_at: Duration::MAX,
            force_quit_at: Duration::MAX,
            reopen_at: Duration::MAX,
            max_duration: Duration::from_secs(4 * 3600),
            ferry_max_platform_tasks: 6,
            ferry_large_file_threshold: 8 * MIB,
            ferry_platform_stall_timeout: Duration::from_secs(60),
            ferry_stall_timeout: Duration::from_secs(600),
            ferry_per_host: 4,
            ferry_global: 8,
            ferry_refill_when_drained: true,
            ferry_batch_max_files: 0,
            ferry_batch_max_bytes: 128 * MIB,
            ferry_download_segment_bytes: 64 * MIB,
            naive_max_retries: 3,
            ios: IosParams::default(),
            android: AndroidParams::default(),
        };
        let photo_backup = Self {
            small_count: 4900,
            small_bytes: 3 * MIB,
            large_count: 100,
            large_bytes: 200 * MIB,
            background_at: Duration::from_secs(120),
            force_quit_at: Duration::from_secs(3 * 3600),
            reopen_at: Duration::from_secs(4 * 3600),
            max_duration: Duration::from_secs(72 * 3600),
            ..seed.clone()
        };
        match name {
            "photo-backup" => photo_backup,
            // Unplugged, so standby buckets and Doze apply.
            "android-doze" => Self {
                charging: false,
                ferry_refill_when_drained: false,
                ..photo_backup
            },
            _ => seed,
        }
    }

    /// `bytes` scaled, at least 1.
    pub fn scaled(&self, bytes: u64) -> u64 {
        ((bytes as f64 * self.scale).round() as u64).max(1)
    }

    pub fn total_files(&self) -> u64 {
        self.small_count + self.large_count
    }

    /// Unscaled bytes of the whole file set.
    pub fn total_bytes(&self) -> u64 {
        self.small_count * self.small_bytes + self.large_count * self.large_bytes
    }

    /// The no-stall ideal: every byte across the link at its full rate, back to back,
    /// whatever the OS allows (`ideal::ideal_secs` is the OS-bounded one).
    pub fn no_stall_secs(&self) -> f64 {
        self.total_bytes() as f64 / self.link_bytes_per_sec as f64
    }
}

impl Knobs for ScenarioParams {
    fn knobs(&mut self) -> Vec<Knob<'_>> {
        let mut knobs = vec![
            Knob::fraction("scale", &mut self.scale),
            Knob::count("link.bytes_per_sec", &mut self.link_bytes_per_sec),
            Knob::flag("server.http2", &mut self.http2),
            Knob::flag("device.charging", &mut self.charging),
            Knob::flag("device.wifi", &mut self.wifi),
            Knob::count("files.small_count", &mut self.small_count),
            Knob::count("files.small_bytes", &mut self.small_bytes),
            Knob::count("files.large_count", &mut self.large_count),
            Knob::count("files.large_bytes", &mut self.large_bytes),
            Knob::secs("app.background_at", &mut self.background_at),
            Knob::secs("app.force_quit_at", &mut self.force_quit_at),
            Knob::secs("app.reopen_at", &mut self.reopen_at),
            Knob::secs("run.max_secs", &mut self.max_duration),
            Knob::count(
                "ferry.max_platform_tasks",
                &mut self.ferry_max_platform_tasks,
            ),
            Knob::count(
                "ferry.large_file_threshold",
                &mut self.ferry_large_file_threshold,
            ),
            Knob::secs(
                "ferry.platform_stall_timeout",
                &mut self.ferry_platform_stall_timeout,
            ),
            Knob::secs("ferry.stall_timeout", &mut self.ferry_stall_timeout),
            Knob::count("ferry.per_host", &mut self.ferry_per_host),
            Knob::count("ferry.global", &mut self.ferry_global),
            Knob::flag(
                "ferry.refill_when_drained",
                &mut self.ferry_refill_when_drained,
            ),
            Knob::count("ferry.batch_max_files", &mut self.ferry_batch_max_files),
            Knob::count("ferry.batch_max_bytes", &mut self.ferry_batch_max_bytes),
            Knob::count(
                "ferry.download_segment_bytes",
                &mut self.ferry_download_segment_bytes,
            ),
            Knob::count("naive.max_retries", &mut self.naive_max_retries),
        ];
        knobs.extend(self.ios.knobs());
        knobs.extend(self.android.knobs());
        knobs
    }
}
