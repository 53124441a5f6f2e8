//! nginx from Debian's packages, for tests and benchmarks against a real server: installed
//! with `apt-get` if missing, started on free loopback ports with its own prefix,
//! configuration and document root, stopped (by its pid) when the guard is dropped.
//!
//! One server block serves static files (`GET`, with nginx's strong `mtime-size` ETags,
//! ranges and `If-Range`, `sendfile on`) and takes WebDAV `PUT`s, over cleartext HTTP/1.1
//! on one port and TLS on another (`listen ... ssl http2`: ALPN offers `h2` and
//! `http/1.1`), with a certificate signed by a CA made at start ([`crate::generate_pems`]).
//! Two access logs: each request's `$connection` (so a benchmark can count the TCP
//! connections a client opened), and its URI, status and body bytes sent (so a test can
//! count what was served per file). It must never listen beyond 127.0.0.1, and never
//! touch the system's nginx configuration or service.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry::HttpVersionPolicy;

/// How a client reaches the server.
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
    /// A readable name: `HTTP/1.1 cleartext`, `HTTPS + HTTP/2`...
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

    /// Whether it runs over TLS.
    pub fn is_tls(self) -> bool {
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

/// Worker processes of the server. One leaves the second core of a two-core machine to
/// the client being measured.
const WORKER_PROCESSES: u32 = 1;

/// An nginx binary that has the WebDAV module built in.
#[derive(Clone, Debug)]
pub struct Binary {
    /// Where it is.
    pub path: PathBuf,
    /// `nginx version: nginx/1.22.1`
    pub version: String,
}

/// Finds nginx, installing Debian's `nginx` package if it is missing (bookworm's `nginx`
/// package holds the binary, with `--with-http_dav_module` built in).
///
/// # Errors
///
/// apt-get could not install it (not root, no network to the mirror), or the binary
/// found lacks the WebDAV module.
pub fn ensure_installed() -> io::Result<Binary> {
    let path = match find() {
        Some(path) => path,
        None => {
            eprintln!("nginx is missing: installing Debian's nginx package");
            if !apt_get(&["install", "-y", "nginx"]) {
                // A machine whose package lists were never fetched knows no nginx yet.
                if !apt_get(&["update"]) || !apt_get(&["install", "-y", "nginx"]) {
                    return Err(io::Error::other(
                        "apt-get could not install nginx: run `apt-get install -y nginx` as root",
                    ));
                }
            }
            find().ok_or_else(|| {
                io::Error::other("nginx was installed but its binary was not found")
            })?
        }
    };
    let output = Command::new(&path).arg("-V").output()?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    if !text.contains("with-http_dav_module") {
        return Err(io::Error::other(format!(
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

/// One request as nginx logged it when it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRequest {
    /// The request's path (`$uri`), such as `/big.bin`.
    pub path: String,
    /// The status sent.
    pub status: u16,
    /// Body bytes handed to the connection (`$body_bytes_sent`), also for a request cut
    /// midway.
    pub body_bytes: u64,
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
    /// `dir` (which should be on tmpfs for measurements: the server's disk write-back is
    /// not what they compare).
    ///
    /// # Errors
    ///
    /// `dir` is not writable, or nginx exited or did not listen within 10 s (its error
    /// log is in the message).
    pub fn start(binary: &Binary, dir: &Path) -> io::Result<Self> {
        let prefix = dir.join("nginx");
        let root = dir.join("nginx-root");
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            fs::create_dir_all(prefix.join(sub))?;
        }
        fs::create_dir_all(&root)?;
        let certificates = crate::generate_pems()?;
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

    /// The master process's pid (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The document root: files put here are served at `/{relative path}`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cleartext HTTP/1.1 port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/{path}`, or `https://` on the TLS port.
    pub fn url(&self, protocol: Protocol, path: &str) -> String {
        if protocol.is_tls() {
            format!("https://127.0.0.1:{}/{path}", self.tls_port)
        } else {
            format!("http://127.0.0.1:{}/{path}", self.port)
        }
    }

    /// The CA (PEM) that signed the TLS port's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The same CA as a file, for clients that take a path (`curl --cacert`).
    pub fn ca_path(&self) -> PathBuf {
        self.prefix.join("ca.pem")
    }

    /// TCP connections that carried requests since the last call (distinct `$connection`
    /// numbers in the log, which is emptied).
    ///
    /// # Errors
    ///
    /// The log could not be read or emptied.
    pub fn take_connection_count(&self) -> io::Result<usize> {
        let text = take_log(&self.prefix.join(CONNECTION_LOG))?;
        Ok(text.lines().collect::<HashSet<_>>().len())
    }

    /// Every request logged since the last call, in the order they ended (the log is
    /// emptied). A request is logged when nginx is done with it, a cut one when nginx saw
    /// the connection end.
    ///
    /// # Errors
    ///
    /// The log could not be read or emptied, or holds a line in another format.
    pub fn take_requests(&self) -> io::Result<Vec<ServedRequest>> {
        take_log(&self.prefix.join(REQUEST_LOG))?
            .lines()
            .map(parse_request_line)
            .collect()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "nginx exited at start ({status}): {}",
                    self.error_log()
                )));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok()
            {
                // Those probes are requests-less connections: they log nothing.
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
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

/// A loopback port that was free a moment ago (and now has no listener).
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Reads a log and empties it.
fn take_log(log: &Path) -> io::Result<String> {
    let text = fs::read_to_string(log)?;
    // nginx appends (O_APPEND), so truncating leaves its descriptor writing at the start.
    fs::File::create(log)?;
    Ok(text)
}

fn parse_request_line(line: &str) -> io::Result<ServedRequest> {
    let bad = || io::Error::other(format!("an unexpected line in nginx's request log: {line}"));
    let mut fields = line.split(' ');
    let path = fields.next().ok_or_else(bad)?.to_owned();
    let status = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let body_bytes = fields.next().and_then(|b| b.parse().ok()).ok_or_else(bad)?;
    Ok(ServedRequest {
        path,
        status,
        body_bytes,
    })
}

/// The log of `$connection` per request, in nginx's prefix.
const CONNECTION_LOG: &str = "connections.log";
/// The log of `$uri $status $body_bytes_sent` per request, in nginx's prefix.
const REQUEST_LOG: &str = "requests.log";

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
    log_format served '$uri $status $body_bytes_sent';
    access_log "{prefix}/{CONNECTION_LOG}" connection;
    access_log "{prefix}/{REQUEST_LOG}" served;
    # Static files as a production server sends them (Debian's own nginx.conf has it on).
    sendfile on;
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
