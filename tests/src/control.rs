//! The control API under `/_testkit/`, for test suites in other languages.
//!
//! What it is for: letting a Swift or Kotlin test read the counters
//! (`GET /_testkit/stats`), what was stored (`GET /_testkit/received`), read
//! and install a fault plan (`GET`/`POST /_testkit/faults`, JSON) and start
//! over (`POST /_testkit/reset`), all as JSON over the same listener.
//!
//! What it must never do: count its own requests in the stats, inject faults
//! into them, or store their bodies.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::faults::FaultPlan;

/// The routes, to be nested under `/_testkit`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/stats", get(stats))
        .route("/received", get(received))
        .route("/faults", get(faults).post(set_faults))
        .route("/reset", post(reset))
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

async fn reset(State(app): State<App>) -> Response {
    app.reset();
    StatusCode::NO_CONTENT.into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}
