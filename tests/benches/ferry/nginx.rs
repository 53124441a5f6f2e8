//! nginx from Debian's packages as a WebDAV `PUT` server: installed if missing, started
//! on free loopback ports with its own prefix and configuration, stopped (by its pid) when
//! the guard is dropped.
//!
//! It serves each [`Protocol`] a benchmark compares clients on: cleartext HTTP/1.1 on one
//! port, and TLS on another (`listen ... ssl http2`: ALPN offers `h2` and `http/1.1`), with
//! a certificate signed by a CA the benchmark makes at start (`ferry_testkit::generate_pems`).
//! Every request's `$connection` goes to a log, so a benchmark can count the TCP connections
//! each client opened.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry::{HttpVersionPolicy, QueueConfig};

use crate::support::{
    BenchResult, CpuOf, Sample, Stopwatch, fail, ferry_config, free_port, process_tree_cpu,
};

/// How a client reaches the server, the same for Ferry and for curl in one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 over cleartext TCP.
    Http1,
    /// HTTP/1.1 over TLS (ALPN `http/1.1`).
    Https1,
    /// HTTP/2 over TLS (ALPN `h2`).
    Https2,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Self::Http1 => "HTTP/1.1 cleartext",
            Self::Https1 => "HTTPS + HTTP/1.1",
            Self::Https2 => "HTTPS + HTTP/2",
        }
    }

    /// A short name for benchmark lines: `http1`, `https1`, `https2`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::Https1 => "https1",
            Self::Https2 => "https2",
        }
    }

    /// The protocol whose [`tag`](Self::tag) is `tag`.
    pub fn from_tag(tag: &str) -> Option<Self> {
        [Self::Http1, Self::Https1, Self::Https2]
            .into_iter()
            .find(|protocol| protocol.tag() == tag)
    }

    fn is_tls(self) -> bool {
        self != Self::Http1
    }

    /// Ferry's setting: HTTP/2 is negotiated by ALPN, as an app would leave it.
    pub fn ferry_http_version(self) -> HttpVersionPolicy {
        match self {
            Self::Http1 | Self::Https1 => HttpVersionPolicy::Http1Only,
            Self::Https2 => HttpVersionPolicy::Negotiate,
        }
    }
}

/// Worker processes of the server, the same for Ferry and for curl. One leaves the second
/// core of the two-core machine to the client being measured.
const WORKER_PROCESSES: u32 = 1;

/// An nginx binary that has the WebDAV module built in.
pub struct Binary {
    pub path: PathBuf,
    /// `nginx version: nginx/1.22.1`
    pub version: String,
}

/// Finds nginx, installing Debian's `nginx` package if it is missing (bookworm's `nginx`
/// package holds the binary, with `--with-http_dav_module` built in; `nginx-light` is a
/// metapackage that adds the echo module on top of it).
pub fn ensure_installed() -> BenchResult<Binary> {
    let path = match find() {
        Some(path) => path,
        None => {
            eprintln!("nginx is missing: installing Debian's nginx package");
            if !apt_get(&["install", "-y", "nginx"]) {
                // A machine whose package lists were never fetched knows no nginx yet.
                if !apt_get(&["update"]) || !apt_get(&["install", "-y", "nginx"]) {
                    return Err(fail("apt-get could not install nginx"));
                }
            }
            find().ok_or_else(|| fail("nginx was installed but its binary was not found"))?
        }
    };
    let output = Command::new(&path).arg("-V").output()?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    if !text.contains("with-http_dav_module") {
        return Err(fail(format!(
            "{} was built without the WebDAV module (nginx -V shows no --with-http_dav_module)",
            path.display()
        )));
    }
    let version = text
        .lines()
        .next()
        .unwrap_or("nginx version unknown")
        .to_owned();
    Ok(Binary { path, version })
}

fn find() -> Option<PathBuf> {
    let mut candidates = vec![
        PathBuf::from("/usr/sbin/nginx"),
        PathBuf::from("/usr/bin/nginx"),
    ];
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|dir| dir.join("nginx")));
    }
    candidates.into_iter().find(|path| path.is_file())
}

fn apt_get(args: &[&str]) -> bool {
    Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A running nginx. Dropping it stops it.
pub struct Nginx {
    child: Child,
    port: u16,
    tls_port: u16,
    root: PathBuf,
    prefix: PathBuf,
    ca_pem: String,
}

impl Nginx {
    /// Starts nginx with its prefix, configuration, certificates and document root under
    /// `dir`.
    pub fn start(binary: &Binary, dir: &Path) -> BenchResult<Self> {
        let prefix = dir.join("nginx");
        let root = dir.join("nginx-root");
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            fs::create_dir_all(prefix.join(sub))?;
        }
        fs::create_dir_all(&root)?;
        let certificates = ferry_testkit::generate_pems()?;
        fs::write(prefix.join("ca.pem"), &certificates.ca_pem)?;
        fs::write(prefix.join("server-chain.pem"), &certificates.chain_pem)?;
        fs::write(prefix.join("server-key.pem"), &certificates.key_pem)?;
        let port = free_port()?;
        let tls_port = loop {
            let candidate = free_port()?;
            if candidate != port {
                break candidate;
            }
        };
        let conf = prefix.join("nginx.conf");
        fs::write(&conf, configuration(&prefix, &root, port, tls_port))?;
        let child = Command::new(&binary.path)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let mut server = Self {
            child,
            port,
            tls_port,
            root,
            prefix,
            ca_pem: certificates.ca_pem,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// CPU time used so far by the master and its workers.
    pub fn cpu_time(&self) -> Duration {
        process_tree_cpu(self.child.id())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://127.0.0.1:PORT/{path}`, or `https://` on the TLS port.
    pub fn url(&self, protocol: Protocol, path: &str) -> String {
        if protocol.is_tls() {
            format!("https://127.0.0.1:{}/{path}", self.tls_port)
        } else {
            format!("http://127.0.0.1:{}/{path}", self.port)
        }
    }

    /// Ferry's benchmark configuration ([`ferry_config`]) for reaching this server over
    /// `protocol`: its HTTP version setting, and the CA trusted.
    pub fn ferry_config(
        &self,
        database: &Path,
        in_flight: usize,
        protocol: Protocol,
    ) -> QueueConfig {
        let mut config = ferry_config(database, in_flight);
        config.http_version = protocol.ferry_http_version();
        if protocol.is_tls() {
            config.extra_root_certificates_pem = vec![self.ca_pem.clone()];
        }
        config
    }

    /// curl's options for `protocol`: the HTTP version, and the CA to trust.
    pub fn curl_args(&self, protocol: Protocol) -> Vec<OsString> {
        let mut args: Vec<OsString> = match protocol {
            Protocol::Http1 => vec![],
            Protocol::Https1 => vec!["--http1.1".into()],
            Protocol::Https2 => vec!["--http2".into()],
        };
        if protocol.is_tls() {
            args.push("--cacert".into());
            args.push(self.prefix.join("ca.pem").into());
        }
        args
    }

    /// Runs one curl process against this server, timed with its CPU and the server's.
    pub fn time_curl(&self, command: &mut Command) -> BenchResult<Sample> {
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

    /// TCP connections that carried requests since the last call (distinct `$connection`
    /// numbers in the log, which is emptied).
    pub fn take_connection_count(&self) -> BenchResult<usize> {
        let log = self.prefix.join(CONNECTION_LOG);
        let text = fs::read_to_string(&log)?;
        // nginx appends (O_APPEND), so truncating leaves its descriptor writing at the start.
        fs::File::create(&log)?;
        Ok(text.lines().collect::<HashSet<_>>().len())
    }

    fn wait_ready(&mut self) -> BenchResult<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(fail(format!(
                    "nginx exited at start ({status}): {}",
                    self.error_log()
                )));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "nginx did not listen on ports {} and {} within 10 s: {}",
                    self.port,
                    self.tls_port,
                    self.error_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM is nginx's fast shutdown: the master stops its workers, then exits.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log of `$connection` per request, in nginx's prefix.
const CONNECTION_LOG: &str = "connections.log";

fn configuration(prefix: &Path, root: &Path, port: u16, tls_port: u16) -> String {
    // SAFETY: geteuid(2) cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    // As root, workers would otherwise run as nobody and could not write to our temp dir.
    let user = if is_root { "user root;" } else { "" };
    let prefix = prefix.display();
    let root = root.display();
    format!(
        r#"worker_processes {WORKER_PROCESSES};
daemon off;
{user}
pid "{prefix}/nginx.pid";
error_log "{prefix}/error.log" warn;
events {{ worker_connections 1024; }}
http {{
    log_format connection '$connection';
    access_log "{prefix}/{CONNECTION_LOG}" connection;
    # keepalive_requests stays at its default, 1,000, as on production servers: every
    # connection ends after 1,000 requests (over HTTP/2 with a GOAWAY that leaves the
    # client's streams above it unprocessed), and each client must carry on.
    client_body_temp_path "{prefix}/client_body";
    proxy_temp_path "{prefix}/proxy";
    fastcgi_temp_path "{prefix}/fastcgi";
    uwsgi_temp_path "{prefix}/uwsgi";
    scgi_temp_path "{prefix}/scgi";
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate "{prefix}/server-chain.pem";
        ssl_certificate_key "{prefix}/server-key.pem";
        root "{root}";
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
        }}
    }}
}}
"#
    )
}
