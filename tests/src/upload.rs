//! The upload handler: every request outside `/_testkit/`.
//!
//! What it is for: counting the request, checking its credentials (bearer
//! token, presigned URL, Basic: 401/403), applying its fault decision (reset, status,
//! stall, delay, slow read, redirect), honouring `Idempotency-Key`, streaming a
//! raw `PUT`/`POST` body or each part of a `multipart/form-data` `POST` into
//! a digest (and a file), and recording the result only when the whole body
//! arrived.
//!
//! What it must never do: record a body that was faulted or cut short, store
//! a body twice under one idempotency key, buffer a whole body, or sleep with
//! anything but tokio's clock.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};

use crate::app::App;
use crate::auth::Refusal;
use crate::body::{BodySink, Finished, drain, metered};
use crate::conn::ConnHandle;
use crate::faults::RetryAfter;
use crate::injector::{Decision, Failure};
use crate::state::{Commit, FaultKind, InFlight, Reply};
use crate::uplink::PACED_HEADER;

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

/// Handles one upload request.
pub async fn handle(State(app): State<App>, req: Request) -> Response {
    if crate::resumable::claims(&req) {
        return crate::resumable::handle(&app, req).await;
    }
    let conn = req.extensions().get::<ConnHandle>().cloned();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let mut in_flight = app.state.begin(host, req.version());
    let work = serve(&app, req, conn.as_ref(), &mut in_flight);
    match &conn {
        // When the connection is gone there is no one to answer; stop at once
        // (HTTP/2 handlers run as their own tasks and would otherwise linger).
        Some(conn) => tokio::select! {
            response = work => response,
            _ = conn.gone() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
        None => work.await,
    }
}

async fn serve(
    app: &App,
    req: Request,
    conn: Option<&ConnHandle>,
    in_flight: &mut InFlight,
) -> Response {
    let state = &app.state;
    if req.method() != Method::PUT && req.method() != Method::POST {
        in_flight.complete();
        state.responded(405);
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, "PUT or POST only\n").into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("PUT, POST"));
        return response;
    }
    let path = req.uri().path().to_owned();
    let refusal = check_credentials(app, &req, &path);
    let decision = match refusal {
        Some(_) => Decision::default(),
        None => app.decide(&path),
    };
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let multipart = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if decision.delay.is_some() {
        state.fault(FaultKind::Delay);
    }
    if decision.slow_read.is_some() {
        state.fault(FaultKind::SlowRead);
    }
    let uplink = app
        .uplink
        .clone()
        .filter(|_| !req.headers().contains_key(PACED_HEADER));
    let (parts, body) = req.into_parts();
    let broke = Arc::new(AtomicBool::new(false));
    let mut body: BodyStream = Box::pin(watch_break(
        metered(body, Arc::clone(state), decision.slow_read, uplink),
        Arc::clone(&broke),
    ));

    if let Some(refusal) = refusal {
        state.refused(refusal);
        if !drain(&mut body).await {
            return aborted();
        }
        in_flight.complete();
        let mut response = answer(app, refusal.status(), "credentials refused\n");
        let challenge = match refusal {
            Refusal::BasicInvalid => Some("Basic realm=\"ferry-testkit\""),
            _ if refusal.status() == 401 => Some("Bearer error=\"invalid_token\""),
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        return response;
    }

    match decision.failure {
        None => {}
        Some(Failure::Redirect { code, location }) => {
            state.fault(FaultKind::Redirect);
            if !drain(&mut body).await {
                return aborted();
            }
            in_flight.complete();
            let mut response = answer(app, code, "moved\n");
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return response;
        }
        Some(Failure::Reset) => {
            state.fault(FaultKind::Reset);
            in_flight.complete();
            return match conn {
                Some(conn) => {
                    conn.reset();
                    // Answer only once the connection is dropped: the answer goes nowhere.
                    conn.gone().await;
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                }
                // Not served by our listener (no connection to kill): the nearest thing.
                None => answer(app, 500, "reset requested but no connection to reset\n"),
            };
        }
        Some(Failure::Status { code, retry_after }) => {
            state.fault(FaultKind::Status);
            if !drain(&mut body).await {
                return aborted();
            }
            delay(decision.delay).await;
            in_flight.complete();
            let mut response = answer(app, code, "injected fault\n");
            if let Some(value) = retry_after.as_ref().and_then(retry_after_value) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Some(Failure::Stall {
            after_bytes,
            hold_for,
        }) => {
            state.fault(FaultKind::Stall);
            let mut read = 0u64;
            while read < after_bytes {
                match body.next().await {
                    Some(Ok(chunk)) => read += chunk.len() as u64,
                    Some(Err(_)) => return aborted(),
                    None => break,
                }
            }
            // `body` stays alive and unread: the client's sends back up.
            tokio::time::sleep(hold_for).await;
            drop(body);
            in_flight.complete();
            return answer(app, 408, "stalled on purpose, giving up\n");
        }
    }

    if multipart && crate::batch::is_batch(&parts.headers) {
        let req = Request::from_parts(parts, Body::from_stream(body));
        let response = crate::batch::receive_batch(app, req).await;
        in_flight.complete();
        return response;
    }

    if let Some(reply) = idempotency_key
        .as_deref()
        .and_then(|k| state.refuse_duplicate(k))
    {
        if !drain(&mut body).await {
            return aborted();
        }
        delay(decision.delay).await;
        in_flight.complete();
        return replay(app, reply);
    }

    let received = if multipart {
        let req = Request::from_parts(parts, Body::from_stream(body));
        receive_multipart(app, &path, req).await
    } else {
        receive_raw(app, &path, body).await
    };
    let finished = match received {
        Ok(finished) => finished,
        Err(_) if broke.load(Ordering::SeqCst) => return aborted(),
        Err(Refused::Malformed(message)) => {
            in_flight.complete();
            return answer(app, 400, &message);
        }
        Err(Refused::Io(e)) => {
            in_flight.complete();
            return answer(app, 500, &format!("test server storage failed: {e}\n"));
        }
    };

    let stored: Vec<_> = finished.iter().map(|f| f.stored.clone()).collect();
    let reply = Reply {
        status: 201,
        body: stored_json(&stored),
    };
    let outcome = state.commit(idempotency_key.as_deref(), &stored, reply.clone());
    if let Commit::Duplicate(first) = outcome {
        // Lost a race with another request carrying the same key: nothing stored.
        delay(decision.delay).await;
        in_flight.complete();
        return replay(app, first);
    }
    for f in finished {
        if let Err(e) = f.keep().await {
            in_flight.complete();
            return answer(app, 500, &format!("test server storage failed: {e}\n"));
        }
    }
    delay(decision.delay).await;
    in_flight.complete();
    replay(app, reply)
}

/// Counts a request that carried `Authorization` and checks it against the server's
/// credential policy.
fn check_credentials(app: &App, req: &Request, path: &str) -> Option<Refusal> {
    let authorization = req.headers().get(header::AUTHORIZATION);
    if authorization.is_some() {
        app.state.saw_authorization();
    }
    let authorization = authorization.and_then(|value| value.to_str().ok());
    app.auth
        .check(
            req.method().as_str(),
            path,
            req.uri().query(),
            authorization,
        )
        .err()
}

/// Why a body was not stored (besides the client going away).
enum Refused {
    Malformed(String),
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused::Io(e)
    }
}

async fn receive_raw(
    app: &App,
    path: &str,
    mut body: BodyStream,
) -> Result<Vec<Finished>, Refused> {
    let mut sink = BodySink::new(
        path.to_owned(),
        app.store_dir.as_deref().map(|p| p.as_path()),
    )
    .await?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Refused::Malformed(format!("body broke: {e}\n")))?;
        sink.write(&chunk).await?;
    }
    Ok(vec![sink.finish().await?])
}

async fn receive_multipart(app: &App, path: &str, req: Request) -> Result<Vec<Finished>, Refused> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        Refused::Malformed(format!("malformed multipart body: {e}\n"))
    };
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| Refused::Malformed(format!("not a multipart body: {e}\n")))?;
    let mut finished = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.file_name().or(field.name()).unwrap_or_default();
        let key = format!("{path}#{name}");
        let mut sink = BodySink::new(key, app.store_dir.as_deref().map(|p| p.as_path())).await?;
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            sink.write(&chunk).await?;
        }
        finished.push(sink.finish().await?);
    }
    Ok(finished)
}

/// Passes a stream through, noting whether it ever failed (the client went
/// away or broke the stream), so that a parse error can be told from an abort.
fn watch_break<S>(stream: S, broke: Arc<AtomicBool>) -> impl Stream<Item = S::Item> + Send
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send,
{
    stream.inspect(move |item| {
        if item.is_err() {
            broke.store(true, Ordering::SeqCst);
        }
    })
}

async fn delay(delay: Option<Duration>) {
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
}

/// The request ended early; its `InFlight` guard, dropped uncompleted, counts it.
fn aborted() -> Response {
    StatusCode::BAD_REQUEST.into_response()
}

fn answer(app: &App, code: u16, text: &str) -> Response {
    app.state.responded(code);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, text.to_owned()).into_response()
}

/// The `Set-Cookie` of every answer to a stored upload.
pub const STORED_COOKIE: &str = "testkit-session=not-for-storage; Path=/";

fn replay(app: &App, reply: Reply) -> Response {
    app.state.responded(reply.status);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::CREATED);
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            // A credential the client must never store (issue 19): its value is checked
            // to be redacted in the answer the client keeps.
            (header::SET_COOKIE, STORED_COOKIE),
        ],
        reply.body,
    )
        .into_response()
}

fn stored_json(stored: &[crate::state::Stored]) -> String {
    let items: Vec<_> = stored
        .iter()
        .map(|s| serde_json::json!({"key": s.key, "len": s.len, "sha256": s.sha256_hex}))
        .collect();
    serde_json::json!({ "stored": items }).to_string()
}

pub(crate) fn retry_after_value(retry_after: &RetryAfter) -> Option<HeaderValue> {
    let text = match retry_after {
        RetryAfter::Seconds(s) => s.to_string(),
        RetryAfter::DateAfter(s) => {
            // HTTP dates have whole seconds: round up, so the date is never
            // sooner than `s` seconds from now.
            let at = SystemTime::now() + Duration::from_secs(*s);
            let sub = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let at = if sub == 0 {
                at
            } else {
                at + Duration::from_nanos(u64::from(1_000_000_000 - sub))
            };
            httpdate::fmt_http_date(at)
        }
        RetryAfter::Raw(raw) => raw.clone(),
    };
    HeaderValue::from_str(&text).ok()
}
