//! The `ferry-testkit serve` process and its control API, as the Swift and
//! Kotlin suites use them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use reqwest::{Client, StatusCode};

const BIN: &str = env!("CARGO_BIN_EXE_ferry-testkit");

/// A running `serve` process, killed on drop if still alive.
struct Served {
    child: Child,
    base_url: String,
    /// What stdout says after the ready line (`None`: it closed).
    rest: std::sync::mpsc::Receiver<Option<std::io::Result<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Anything more on stdout would break callers that read one line.
        let _ = tx.send(lines.next());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a ready line within 30 s")
        .expect("stdout open")
        .unwrap();
    let base_url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_owned();
    Served {
        child,
        base_url,
        rest: rx,
    }
}

async fn get_json(client: &Client, url: String) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn control_api_drives_faults_and_reports() {
    let faults = r#"{"scripted":[{"when":"request","n":1,
        "fault":{"status":{"code":503,"retry_after":{"seconds":2}}}}]}"#;
    let served = serve(&["--faults", faults]);
    let base = &served.base_url;
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with('/'));
    let client = h1();
    let data = bytes(80_000, 30);

    let first = client
        .put(format!("{base}f"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.headers()["retry-after"], "2");
    let second = client
        .put(format!("{base}f"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);

    let received = get_json(&client, format!("{base}_testkit/received")).await;
    assert_eq!(received["/f"]["len"], 80_000);
    assert_eq!(received["/f"]["sha256"], sha256_hex(&data));
    assert_eq!(received["/f"]["stored_count"], 1);

    let stats = get_json(&client, format!("{base}_testkit/stats")).await;
    // Control requests are not counted.
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["by_status"]["503"], 1);
    assert_eq!(stats["by_status"]["201"], 1);
    assert_eq!(stats["faults"]["status"], 1);

    let refused = client
        .post(format!("{base}_testkit/faults"))
        .body(r#"{"reset_probability": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("between 0 and 1"));

    let set = client
        .post(format!("{base}_testkit/faults"))
        .body(r#"{"reset_probability": 1.0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let plan = get_json(&client, format!("{base}_testkit/faults")).await;
    assert_eq!(plan["reset_probability"], 1.0);
    assert!(h1().put(format!("{base}g")).body("x").send().await.is_err());

    let reset = client
        .post(format!("{base}_testkit/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let stats = get_json(&client, format!("{base}_testkit/stats")).await;
    assert_eq!(stats["requests"], 0);
    let received = get_json(&client, format!("{base}_testkit/received")).await;
    assert_eq!(received, serde_json::json!({}));

    let unknown = client
        .get(format!("{base}_testkit/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_api_issues_expiring_tokens_and_presigned_urls() {
    let served = serve(&["--auth", r#"{"bearer":{"expire_after_requests":1}}"#]);
    let base = &served.base_url;
    let client = h1();
    let put = |url: String, token: Option<String>| {
        let mut request = client.put(url).body("x");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        put(format!("{base}a"), None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let issued = client
        .post(format!("{base}_testkit/token"))
        .send()
        .await
        .unwrap();
    let token = serde_json::from_slice::<serde_json::Value>(&issued.bytes().await.unwrap())
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = put(format!("{base}a"), Some(token.clone())).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let used_up = put(format!("{base}b"), Some(token)).await.unwrap();
    assert_eq!(used_up.status(), StatusCode::UNAUTHORIZED);

    let policy = client
        .post(format!("{base}_testkit/auth"))
        .body(r#"{"presign_secret":"s3cr3t"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), StatusCode::NO_CONTENT);
    let presigned = client
        .post(format!("{base}_testkit/presign"))
        .body(r#"{"method":"PUT","path":"/c","ttl_ms":60000}"#)
        .send()
        .await
        .unwrap();
    let presigned: serde_json::Value =
        serde_json::from_slice(&presigned.bytes().await.unwrap()).unwrap();
    let path_and_query = presigned["path_and_query"].as_str().unwrap();
    assert!(path_and_query.starts_with("/c?expires="), "{presigned}");
    let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
    assert_eq!(put(url, None).await.unwrap().status(), StatusCode::CREATED);
    let unsigned = put(format!("{base}c"), None).await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);

    let stats = get_json(&client, format!("{base}_testkit/stats")).await;
    assert_eq!(stats["auth"]["bearer_missing"], 1);
    assert_eq!(stats["auth"]["bearer_expired"], 1);
    assert_eq!(stats["auth"]["presign_invalid"], 1);
    assert_eq!(stats["auth"]["with_authorization"], 2);
}

#[tokio::test]
async fn tls_serve_writes_the_ca_for_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let served = serve(&["--tls", "--ca-out", ca_path.to_str().unwrap()]);
    assert!(served.base_url.starts_with("https://localhost:"));
    let pem = std::fs::read(&ca_path).expect("the CA is written before the ready line");
    let port: u16 = served
        .base_url
        .trim_start_matches("https://localhost:")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let client = untimed()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let response = client
        .put(format!("{}secure", served.base_url))
        .body("over tls")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut served = serve(&[]);
    let pid = served.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut served.child);
    assert!(exit.success(), "{exit:?}");
    let after = served.rest.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        after.is_none(),
        "exactly one line on stdout, then {after:?}"
    );
}

#[test]
fn stdin_eof_stops_the_server_when_asked() {
    let mut served = serve(&["--stop-on-stdin-eof"]);
    drop(served.child.stdin.take());
    let exit = wait_exit(&mut served.child);
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn bad_arguments_are_refused() {
    let out = Command::new(BIN)
        .args(["serve", "--ca-out", "/tmp/x.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--ca-out needs --tls");
    let out = Command::new(BIN)
        .args(["serve", "--faults", "{not json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--faults"));
    assert!(out.stdout.is_empty(), "no ready line when not ready");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
