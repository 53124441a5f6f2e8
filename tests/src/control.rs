//! The control API under `/_testkit/`, for test suites in other languages.
//!
//! What it is for: letting a Swift or Kotlin test read the counters
//! (`GET /_testkit/stats`), what was stored (`GET /_testkit/received`), read
//! and install a fault plan (`GET`/`POST /_testkit/faults`, JSON) and start
//! over (`POST /_testkit/reset`), set the credentials uploads need
//! (`GET`/`POST /_testkit/auth`), issue bearer tokens (`POST /_testkit/token`)
//! and presign URLs (`POST /_testkit/presign`), all as JSON over the same
//! listener; serve a file for downloads (`PUT /_testkit/files/NAME` with its bytes as
//! the body, then `GET /_files/NAME`) and read how many of its bytes went out
//! (`GET /_testkit/files/NAME`, JSON `{"bytes_served": N}`).
//!
//! What it must never do: count its own requests in the stats, inject faults
//! into them, or store their bodies.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::auth::AuthPolicy;
use crate::faults::FaultPlan;

/// The routes, to be nested under `/_testkit`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/stats", get(stats))
        .route("/received", get(received))
        .route("/faults", get(faults).post(set_faults))
        .route("/reset", post(reset))
        .route("/auth", get(auth_policy).post(set_auth_policy))
        .route("/token", post(issue_token))
        .route("/presign", post(presign))
        .route("/files/{*name}", get(file_served).put(serve_file))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such control endpoint\n") })
}

async fn stats(State(app): State<App>) -> Response {
    Json(app.state.stats()).into_response()
}

async fn received(State(app): State<App>) -> Response {
    Json(app.state.received_all()).into_response()
}

async fn faults(State(app): State<App>) -> Response {
    Json(app.plan()).into_response()
}

/// Takes the plan as JSON whatever the `Content-Type`, so that any client works.
async fn set_faults(State(app): State<App>, body: Bytes) -> Response {
    let plan: FaultPlan = match serde_json::from_slice(&body) {
        Ok(plan) => plan,
        Err(e) => return bad_request(format!("fault plan is not valid JSON: {e}")),
    };
    if let Err(e) = plan.validate() {
        return bad_request(format!("fault plan refused: {e}"));
    }
    app.set_plan(plan);
    StatusCode::NO_CONTENT.into_response()
}

async fn serve_file(State(app): State<App>, Path(name): Path<String>, body: Bytes) -> Response {
    app.files.put(&name, body.to_vec());
    StatusCode::NO_CONTENT.into_response()
}

async fn file_served(State(app): State<App>, Path(name): Path<String>) -> Response {
    Json(serde_json::json!({ "bytes_served": app.files.served(&name) })).into_response()
}

async fn reset(State(app): State<App>) -> Response {
    app.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn auth_policy(State(app): State<App>) -> Response {
    Json(app.auth.policy()).into_response()
}

async fn set_auth_policy(State(app): State<App>, body: Bytes) -> Response {
    match serde_json::from_slice::<AuthPolicy>(&body) {
        Ok(policy) => {
            app.auth.set_policy(policy);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(format!("auth policy is not valid JSON: {e}")),
    }
}

async fn issue_token(State(app): State<App>) -> Response {
    Json(serde_json::json!({ "token": app.auth.issue_token() })).into_response()
}

/// What `POST /_testkit/presign` takes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PresignRequest {
    method: String,
    path: String,
    ttl_ms: u64,
}

async fn presign(State(app): State<App>, body: Bytes) -> Response {
    let request: PresignRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("presign request is not valid JSON: {e}")),
    };
    let ttl = std::time::Duration::from_millis(request.ttl_ms);
    match app.auth.presign(&request.method, &request.path, ttl) {
        Some(presigned) => Json(presigned).into_response(),
        None => bad_request("no presign_secret is configured; POST /_testkit/auth first".into()),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}
