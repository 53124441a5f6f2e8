//! `cargo xtask swift-toolchain`: a Debian trixie root with Swift, cached outside the repository.
//!
//! Debian 12 has no Swift compiler; Debian 13 (trixie) ships `swiftlang` 6.0, which needs
//! trixie's C library. So Swift runs in a trixie root made by `debootstrap --variant=minbase`,
//! kept in `$FERRY_CACHE_DIR/swift-trixie` (default `$HOME/.cache/ferry/swift-trixie`) and
//! reused by every later run. A marker file beside the root, `swift-trixie.ready`, holds the
//! recipe it was built from; a root without a matching marker (a killed or failed set-up, or
//! an older recipe) is removed and built again. Making the root and running in it need root
//! privileges (debootstrap, unshare, mount, chroot), as on the CI and developer machines.
//!
//! Commands run in the root with **chroot**, inside a private mount and PID namespace
//! (`unshare --mount --pid --fork --kill-child --mount-proc`): /proc and the bind mount of
//! the staged package exist only in that namespace, so nothing stays mounted on the host,
//! even when a run is killed, and removing a stale root can never walk into the work tree.
//!
//! proot (`proot -r ROOT`, no mount at all) was measured too, on a 2-core machine with a
//! UniFFI scratch crate (generated module + 5 async XCTests):
//!
//! | step                                   | proot          | chroot |
//! |----------------------------------------|----------------|--------|
//! | `apt-get install swiftlang ...`        | 47 s           | 46 s   |
//! | `swiftc` module + tests, run           | 2.5 s          | 1.8 s  |
//! | `swift test`, cold `.build`            | 19.2 s, 24.6 s | 9.2 s  |
//! | `swift test`, nothing changed          | 2.9 s          | 1.1 s  |
//!
//! but it is both slower and wrong for us: Debian's proot 5.1.0 does not translate the
//! `statx` system call, which Rust's `std::fs::metadata` uses, so inside proot the Rust
//! library looks up every path on the host instead of in the root (a file the Swift test
//! had just written was "missing"). Never does: touch the host's apt configuration beyond
//! installing `debootstrap`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

const SUITE: &str = "trixie";
/// `libc6-dev`: without it "'sys/param.h' file not found"; `libstdc++-14-dev` for C++
/// interop headers; `ca-certificates`: reqwest's platform verifier refuses to build an HTTP
/// client on a system without root certificates ("builder error"), as every phone has them.
const PACKAGES: &[&str] = &[
    "swiftlang",
    "libc6-dev",
    "libstdc++-14-dev",
    "ca-certificates",
];
const FALLBACK_MIRROR: &str = "http://deb.debian.org/debian";
const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A ready trixie root with Swift installed.
pub struct SwiftRoot {
    root: PathBuf,
}

/// `$FERRY_CACHE_DIR`, or `$HOME/.cache/ferry`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FERRY_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("neither FERRY_CACHE_DIR nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("ferry"))
}

/// What a root is built from; a change here rebuilds cached roots.
fn recipe() -> String {
    format!(
        "debootstrap --variant=minbase {SUITE}\napt-get install --no-install-recommends {}\n",
        PACKAGES.join(" ")
    )
}

/// Return the cached root, building it first if it is missing, half-made or outdated.
pub fn ensure() -> Result<SwiftRoot> {
    let cache = cache_dir()?;
    let root = cache.join(format!("swift-{SUITE}"));
    let marker = cache.join(format!("swift-{SUITE}.ready"));
    if root.is_dir() && std::fs::read_to_string(&marker).is_ok_and(|m| m == recipe()) {
        return Ok(SwiftRoot { root });
    }
    util::timed("swift toolchain set-up", || {
        ensure_host_tools()?;
        let _ = std::fs::remove_file(&marker);
        if root.exists() {
            eprintln!(
                "[xtask] {} is incomplete or outdated; removing it",
                root.display()
            );
            unmount_below(&root)?;
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("removing {}", root.display()))?;
        }
        std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
        let mirror = host_mirror();
        // In a private mount namespace, so the /proc and /sys that debootstrap mounts in
        // the root vanish with it even if it is killed.
        util::run(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "debootstrap"])
                .args(["--variant=minbase", SUITE])
                .arg(&root)
                .arg(&mirror),
        )?;
        std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
            .context("copying /etc/resolv.conf into the root")?;
        let swift = SwiftRoot { root };
        let apt_env = [("DEBIAN_FRONTEND", "noninteractive")];
        util::run(&mut swift.command(&[], "/", &["apt-get", "update", "-q"], &apt_env))?;
        // Fail early and clearly if the suite stops shipping one of the packages.
        let mut policy = vec!["apt-cache", "show", "--no-all-versions"];
        policy.extend(PACKAGES);
        let out = swift.command(&[], "/", &policy, &[]).output()?;
        if !out.status.success() {
            bail!(
                "{SUITE} lacks one of {PACKAGES:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut install = vec!["apt-get", "install", "-y", "-q", "--no-install-recommends"];
        install.extend(PACKAGES);
        util::run(&mut swift.command(&[], "/", &install, &apt_env))?;
        // The downloaded .debs (~450 MB) are not needed once installed.
        util::run(&mut swift.command(&[], "/", &["apt-get", "clean"], &[]))?;
        util::run(&mut swift.command(&[], "/", &["swift", "--version"], &[]))?;
        std::fs::write(&marker, recipe())
            .with_context(|| format!("writing {}", marker.display()))?;
        Ok(swift)
    })
}

impl SwiftRoot {
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A command that runs `argv` inside the root, with a clean environment plus `envs`,
    /// each `(host_dir, guest_dir)` of `binds` bind-mounted, in `workdir` (a guest path).
    pub fn command(
        &self,
        binds: &[(&Path, &str)],
        workdir: &str,
        argv: &[&str],
        envs: &[(&str, &str)],
    ) -> Command {
        let root = self.root.to_string_lossy();
        let mut script = String::from("set -e\n");
        for (host, guest) in binds {
            let target = format!("{root}/{}", guest.trim_start_matches('/'));
            script += &format!(
                "mkdir -p {t}\nmount --bind {h} {t}\n",
                h = quote(&host.to_string_lossy()),
                t = quote(&target)
            );
        }
        script += &format!(
            "exec chroot {} /usr/bin/env -i --chdir={} PATH={GUEST_PATH} HOME=/root LANG=C.UTF-8",
            quote(&root),
            quote(workdir)
        );
        for (k, v) in envs {
            script += &format!(" {}", quote(&format!("{k}={v}")));
        }
        for arg in argv {
            script += &format!(" {}", quote(arg));
        }
        let mut cmd = Command::new("unshare");
        // /proc is required: the Swift driver finds its own libraries through
        // /proc/self/exe and crashes (signal 4) without it.
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--kill-child",
        ])
        .arg(format!("--mount-proc={root}/proc"))
        .args(["sh", "-c"])
        .arg(script);
        cmd
    }
}

/// Quote `s` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Install debootstrap on the host if missing (needs root, as apt-get does). `unshare`,
/// `mount` and `chroot` come with every Debian system (util-linux, coreutils).
fn ensure_host_tools() -> Result<()> {
    if on_path("debootstrap") {
        return Ok(());
    }
    let install = || {
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "debootstrap",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    eprintln!("[xtask] installing debootstrap on the host with apt-get");
    if !install().is_ok_and(|s| s.success()) {
        // A fresh machine may have no package lists yet.
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        if !install()?.success() {
            bail!("apt-get install debootstrap failed (run as root?)");
        }
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(bin).is_file())
}

/// Unmount anything still mounted under `root` (nothing should be: every mount is made in a
/// private namespace; this guards against a root made by hand or an older xtask), deepest
/// first, so that removing the root cannot reach into a mounted file system.
fn unmount_below(root: &Path) -> Result<()> {
    let Ok(root) = root.canonicalize() else {
        return Ok(());
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        util::run(Command::new("umount").arg("-l").arg(&p))?;
    }
    Ok(())
}

/// The Debian mirror of the host's apt sources (`$FERRY_DEBIAN_MIRROR` overrides it).
fn host_mirror() -> String {
    if let Ok(m) = std::env::var("FERRY_DEBIAN_MIRROR")
        && !m.is_empty()
    {
        return m;
    }
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str());
            if let (Some(kind @ ("list" | "sources")), Ok(t)) = (ext, std::fs::read_to_string(&p)) {
                texts.push((kind == "sources", t));
            }
        }
    }
    texts
        .iter()
        .flat_map(|(deb822, t)| {
            if *deb822 {
                parse_deb822(t)
            } else {
                parse_one_line(t)
            }
        })
        .find(|(uri, suites)| is_debian_main_archive(uri, suites))
        .map(|(uri, _)| uri)
        .unwrap_or_else(|| FALLBACK_MIRROR.to_string())
}

/// The main Debian archive, not security, updates or a third-party repository.
fn is_debian_main_archive(uri: &str, suites: &[String]) -> bool {
    uri.trim_end_matches('/').ends_with("/debian")
        && suites.iter().any(|s| !s.contains('-') && !s.contains('/'))
}

/// `(uri, suites)` of each `deb` entry of a one-line-style sources.list.
fn parse_one_line(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            let Some(end) = rest.find(']') else { continue };
            rest = rest[end + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push((uri.to_string(), vec![suite.to_string()]));
        }
    }
    out
}

/// `(uri, suites)` of each `Types: deb` stanza of a deb822 `.sources` file.
fn parse_deb822(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let enabled = !field("Enabled").eq_ignore_ascii_case("no");
        if !enabled || !field("Types").split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let suites: Vec<String> = field("Suites")
            .split_whitespace()
            .map(String::from)
            .collect();
        for uri in field("URIs").split_whitespace() {
            out.push((uri.to_string(), suites.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_picks_main_archive_not_security() {
        let text = "Types: deb\n# http://snapshot.example/archive/debian/1\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        let found: Vec<_> = parse_deb822(text)
            .into_iter()
            .filter(|(u, s)| is_debian_main_archive(u, s))
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "http://deb.debian.org/debian");
    }

    #[test]
    fn one_line_sources_skip_options_and_comments() {
        let text = "# deb http://old/debian buster main\ndeb-src http://src/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n";
        let entries = parse_one_line(text);
        assert_eq!(
            entries,
            vec![(
                "http://mirror.example/debian/".to_string(),
                vec!["bookworm".to_string()]
            )]
        );
        assert!(is_debian_main_archive(&entries[0].0, &entries[0].1));
    }

    #[test]
    fn third_party_repository_is_not_a_debian_mirror() {
        assert!(!is_debian_main_archive(
            "https://deb.nodesource.com/node_20.x",
            &["nodistro".to_string()]
        ));
    }
}
