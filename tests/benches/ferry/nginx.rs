//! nginx from Debian's packages as a WebDAV `PUT` server: installed if missing, started
//! on a free loopback port with its own prefix and configuration, stopped (by its pid) when
//! the guard is dropped.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BenchResult, fail, free_port, process_tree_cpu};

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
    root: PathBuf,
    prefix: PathBuf,
}

impl Nginx {
    /// Starts nginx with its prefix, configuration and document root under `dir`.
    pub fn start(binary: &Binary, dir: &Path) -> BenchResult<Self> {
        let prefix = dir.join("nginx");
        let root = dir.join("nginx-root");
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            fs::create_dir_all(prefix.join(sub))?;
        }
        fs::create_dir_all(&root)?;
        let port = free_port()?;
        let conf = prefix.join("nginx.conf");
        fs::write(&conf, configuration(&prefix, &root, port))?;
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
            root,
            prefix,
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

    /// `http://127.0.0.1:PORT/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
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
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "nginx did not listen on port {} within 10 s: {}",
                    self.port,
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

fn configuration(prefix: &Path, root: &Path, port: u16) -> String {
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
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path "{prefix}/client_body";
    proxy_temp_path "{prefix}/proxy";
    fastcgi_temp_path "{prefix}/fastcgi";
    uwsgi_temp_path "{prefix}/uwsgi";
    scgi_temp_path "{prefix}/scgi";
    server {{
        listen 127.0.0.1:{port};
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
