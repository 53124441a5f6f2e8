//! The batch endpoint: one multipart `POST`, marked `Ferry-Batch: 1`, whose parts are files
//! bound for destinations of their own (format: `docs/batching.md`).
//!
//! Each part is stored under the path of its `Ferry-Destination` header, exactly as if it
//! had been `PUT` there alone, and is deduplicated by its own `Idempotency-Key`. The answer
//! is the per-part results JSON, so a client can retry only the parts that failed. The
//! fault plan's `batch_part_failure_every` fails every n-th part (500, not stored).

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;
use crate::body::BodySink;
use crate::state::{Commit, Reply};

/// Whether a request is a packed batch.
pub(crate) fn is_batch(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("ferry-batch")
}

/// One part's result, as sent back.
struct PartResult {
    id: String,
    status: u16,
}

/// Receives every part; the request itself succeeds unless the body is not multipart.
pub(crate) async fn receive_batch(app: &App, req: Request) -> Response {
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(multipart) => multipart,
        Err(error) => return bad_request(app, &format!("not a multipart body: {error}\n")),
    };
    let mut results = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return bad_request(app, &format!("malformed multipart body: {error}\n")),
        };
        match receive_part(app, field).await {
            Ok(result) => results.push(result),
            Err(message) => return bad_request(app, &message),
        }
    }
    app.state.responded(200);
    let results: Vec<_> = results
        .iter()
        .map(|result| json!({ "id": result.id, "status": result.status }))
        .collect();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "results": results }).to_string(),
    )
        .into_response()
}

async fn receive_part(
    app: &App,
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<PartResult, String> {
    let id = field.name().unwrap_or_default().to_owned();
    let header = |name: &str| {
        field
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let destination = header("ferry-destination")
        .ok_or_else(|| format!("part {id:?} has no Ferry-Destination header\n"))?;
    let path = destination
        .parse::<Uri>()
        .map_err(|error| format!("part {id:?}: bad Ferry-Destination: {error}\n"))?
        .path()
        .to_owned();
    let key = header("idempotency-key");
    let failing = app.next_batch_part_fails();
    let already = key
        .as_deref()
        .and_then(|key| app.state.refuse_duplicate(key));
    if failing || already.is_some() {
        while let Ok(Some(_)) = field.chunk().await {}
        let status = if failing { 500 } else { 200 };
        return Ok(PartResult { id, status });
    }
    let store_dir = app.store_dir.as_deref().map(|dir| dir.as_path());
    let io = |error: std::io::Error| format!("test server storage failed: {error}\n");
    let mut sink = BodySink::new(path, store_dir).await.map_err(io)?;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| format!("part {id:?} broke: {error}\n"))?
    {
        sink.write(&chunk).await.map_err(io)?;
    }
    let finished = sink.finish().await.map_err(io)?;
    let reply = Reply {
        status: 201,
        body: String::new(),
    };
    let status = match app.state.commit(
        key.as_deref(),
        std::slice::from_ref(&finished.stored),
        reply,
    ) {
        Commit::Duplicate(_) => 200,
        Commit::Stored => {
            finished.keep().await.map_err(io)?;
            201
        }
    };
    Ok(PartResult { id, status })
}

fn bad_request(app: &App, message: &str) -> Response {
    app.state.responded(400);
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}
