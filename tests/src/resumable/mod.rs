//! tus 1.0 and the IETF resumable upload draft (interop versions 3 to 8), well enough to
//! test Ferry's resumable uploads against.
//!
//! What it is for: creating upload resources (`POST` with `Tus-Resumable` or
//! `Upload-Draft-Interop-Version` to any path; the completed upload is stored under that
//! path, for tus with `#filename` from `Upload-Metadata`), answering `HEAD` with the
//! offset, appending `PATCH` bodies at the offset (409 elsewhere), `DELETE`
//! (termination), tus discovery (`OPTIONS`) with the checksum extension (sha1, sha256,
//! 460 on mismatch), `Upload-Limit` (413 above `max-size` or `max-append-size`), and the
//! fault plan's `cut_at_offsets`: the connection is reset once the upload's offset
//! reaches each of those bytes, keeping exactly the bytes before it.
//!
//! What it must never do: keep an upload's bytes in memory (only a running digest),
//! accept bytes at any offset but the current one, or send `104` informational answers
//! (hyper's server cannot; clients learn the resource from the final answer's
//! `Location`).

// Each step returns the answer to give instead as its error: built at most once per
// request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod checksum;
pub mod uploads;

use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{Stream, StreamExt};

use crate::app::App;
use crate::body::metered;
use crate::conn::ConnHandle;
use crate::injector::Failure;
use crate::state::{Reply, Stored};
use checksum::expected_checksum;
use uploads::{Info, Protocol, Refusal};

/// Where upload resources live: `/_uploads/<n>`.
pub const RESOURCE_PREFIX: &str = "/_uploads/";
const TUS_VERSION: &str = "1.0.0";
const LATEST_INTEROP_VERSION: u32 = 8;

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

/// Whether a request outside `/_uploads/` belongs here: a creation or tus discovery.
pub fn claims(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        || (req.method() == Method::POST && protocol_of(req.headers()).is_some())
}

/// Creation (`POST`) and discovery (`OPTIONS`) on any path.
pub async fn handle(app: &App, req: Request) -> Response {
    if req.method() == Method::OPTIONS {
        return discovery(app);
    }
    let conn = req.extensions().get::<ConnHandle>().cloned();
    let mut in_flight = app.state.begin(host(&req), req.version());
    let response = counted(app, conn.as_ref(), req, None).await;
    in_flight.complete();
    app.state.responded(response.status().as_u16());
    response
}

/// `HEAD`, `PATCH` and `DELETE` on `/_uploads/<n>`.
pub async fn resource(State(app): State<App>, Path(id): Path<String>, req: Request) -> Response {
    let conn = req.extensions().get::<ConnHandle>().cloned();
    let mut in_flight = app.state.begin(host(&req), req.version());
    let response = match id.parse::<u64>() {
        Ok(id) => counted(&app, conn.as_ref(), req, Some(id)).await,
        Err(_) => (StatusCode::NOT_FOUND, "no such upload\n").into_response(),
    };
    in_flight.complete();
    app.state.responded(response.status().as_u16());
    response
}

fn host(req: &Request) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn counted(app: &App, conn: Option<&ConnHandle>, req: Request, id: Option<u64>) -> Response {
    let decision = app.decide(req.uri().path());
    let uplink = app
        .uplink
        .clone()
        .filter(|_| !req.headers().contains_key(crate::uplink::PACED_HEADER));
    let (parts, body) = req.into_parts();
    let body: BodyStream = Box::pin(metered(
        body,
        Arc::clone(&app.state),
        decision.slow_read,
        uplink,
    ));
    match decision.failure {
        None => {}
        Some(Failure::Reset) => {
            app.state.fault(crate::state::FaultKind::Reset);
            if let Some(conn) = conn {
                conn.reset();
                conn.gone().await;
            }
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Failure::Status { code, .. }) => {
            app.state.fault(crate::state::FaultKind::Status);
            if !crate::body::drain(body).await {
                return StatusCode::BAD_REQUEST.into_response();
            }
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (code, "injected fault\n").into_response();
        }
        Some(Failure::Stall { hold_for, .. }) => {
            app.state.fault(crate::state::FaultKind::Stall);
            tokio::time::sleep(hold_for).await;
            return (StatusCode::REQUEST_TIMEOUT, "stalled on purpose\n").into_response();
        }
        Some(Failure::Redirect { code, location }) => {
            app.state.fault(crate::state::FaultKind::Redirect);
            if !crate::body::drain(body).await {
                return StatusCode::BAD_REQUEST.into_response();
            }
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
            return (code, [(axum::http::header::LOCATION, location)], "moved\n").into_response();
        }
    }
    let response = match (id, &parts.method) {
        (None, _) => create(app, conn, &parts, body).await,
        (Some(id), &Method::HEAD) => head(app, id, &parts.headers),
        (Some(id), &Method::PATCH) => patch(app, conn, id, &parts.headers, body).await,
        (Some(id), &Method::DELETE) => terminate(app, id, &parts.headers),
        (Some(_), _) => (StatusCode::METHOD_NOT_ALLOWED, "HEAD, PATCH or DELETE\n").into_response(),
    };
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    response
}

/// The protocol a request speaks, or the answer refusing its version.
fn protocol_of(headers: &HeaderMap) -> Option<Result<Protocol, Response>> {
    if let Some(value) = headers.get("upload-draft-interop-version") {
        let version = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        return Some(match version {
            Some(v) if (3..=LATEST_INTEROP_VERSION).contains(&v) => {
                Ok(Protocol::Ietf { interop_version: v })
            }
            _ => Err((StatusCode::BAD_REQUEST, "unsupported interop version\n").into_response()),
        });
    }
    let tus = headers.get("tus-resumable")?;
    Some(if tus == TUS_VERSION {
        Ok(Protocol::Tus)
    } else {
        let mut response = (StatusCode::PRECONDITION_FAILED, "tus 1.0.0 only\n").into_response();
        response
            .headers_mut()
            .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        Err(response)
    })
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Whether an IETF request says it carries the upload's last byte.
fn says_complete(headers: &HeaderMap, interop_version: u32) -> bool {
    if interop_version <= 3 {
        headers.get("upload-incomplete").is_some_and(|v| v == "?0")
    } else {
        headers.get("upload-complete").is_some_and(|v| v == "?1")
    }
}

fn limits_value(app: &App) -> Option<HeaderValue> {
    let config = &app.resumable;
    let mut members = vec!["min-size=0".to_owned()];
    if let Some(max) = config.max_size {
        members.push(format!("max-size={max}"));
    }
    if let Some(max) = config.max_append_size {
        members.push(format!("max-append-size={max}"));
    }
    HeaderValue::from_str(&members.join(", ")).ok()
}

/// Headers every answer about a resource carries in its protocol.
fn protocol_headers(app: &App, response: &mut Response, info: &Info, with_limits: bool) {
    let headers = response.headers_mut();
    headers.insert("upload-offset", HeaderValue::from(info.offset));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match info.protocol {
        Protocol::Tus => {
            headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
            headers.insert("upload-length", HeaderValue::from(info.length));
        }
        Protocol::Ietf { interop_version } => {
            headers.insert(
                "upload-draft-interop-version",
                HeaderValue::from(interop_version),
            );
            headers.insert("upload-length", HeaderValue::from(info.length));
            let done = info.offset == info.length;
            if interop_version <= 3 {
                let value = if done { "?0" } else { "?1" };
                headers.insert("upload-incomplete", HeaderValue::from_static(value));
            } else {
                let value = if done { "?1" } else { "?0" };
                headers.insert("upload-complete", HeaderValue::from_static(value));
            }
            if with_limits
                && app.resumable.announce_limits
                && let Some(limits) = limits_value(app)
            {
                headers.insert("upload-limit", limits);
            }
        }
    }
}

fn discovery(app: &App) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    let algorithms = app.resumable.tus_checksum_algorithms.join(",");
    let extensions = if algorithms.is_empty() {
        "creation,termination".to_owned()
    } else {
        "creation,termination,checksum".to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&extensions) {
        headers.insert("tus-extension", value);
    }
    if !algorithms.is_empty()
        && let Ok(value) = HeaderValue::from_str(&algorithms)
    {
        headers.insert("tus-checksum-algorithm", value);
    }
    if let Some(max) = app.resumable.max_size {
        headers.insert("tus-max-size", HeaderValue::from(max));
    }
    response
}

fn too_large(app: &App, text: &str) -> Response {
    let mut response = (StatusCode::PAYLOAD_TOO_LARGE, text.to_owned()).into_response();
    if let Some(limits) = limits_value(app) {
        response.headers_mut().insert("upload-limit", limits);
    }
    if let Some(max) = app.resumable.max_size {
        response
            .headers_mut()
            .insert("tus-max-size", HeaderValue::from(max));
    }
    response
}

async fn create(
    app: &App,
    conn: Option<&ConnHandle>,
    parts: &axum::http::request::Parts,
    body: BodyStream,
) -> Response {
    let headers = &parts.headers;
    let protocol = match protocol_of(headers) {
        Some(Ok(protocol)) => protocol,
        Some(Err(response)) => return response,
        None => return (StatusCode::BAD_REQUEST, "not a resumable creation\n").into_response(),
    };
    let length = match protocol {
        Protocol::Tus => number(headers, "upload-length"),
        Protocol::Ietf { interop_version } => number(headers, "upload-length").or_else(|| {
            says_complete(headers, interop_version)
                .then(|| number(headers, "content-length"))
                .flatten()
        }),
    };
    let Some(length) = length else {
        return (
            StatusCode::BAD_REQUEST,
            "this test server needs Upload-Length on creation\n",
        )
            .into_response();
    };
    if app.resumable.max_size.is_some_and(|max| length > max) {
        return too_large(app, "the upload is larger than max-size\n");
    }
    let mut key = parts.uri.path().to_owned();
    if protocol == Protocol::Tus
        && let Some(name) = tus_file_name(headers)
    {
        key = format!("{key}#{name}");
    }
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (id, new) = app.uploads.create(protocol, key, length, idempotency_key);
    if new {
        app.state.record_resumable(|s| s.uploads_created += 1);
    }
    let content = number(headers, "content-length").unwrap_or(0);
    if new
        && content > 0
        && let Err(response) = receive(app, conn, id, 0, headers, body, protocol).await
    {
        return response;
    }
    let Some(info) = app.uploads.info(id) else {
        return (StatusCode::NOT_FOUND, "the upload vanished\n").into_response();
    };
    let mut response = StatusCode::CREATED.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("{RESOURCE_PREFIX}{id}"))
            .unwrap_or(HeaderValue::from_static("/")),
    );
    protocol_headers(app, &mut response, &info, true);
    response
}

fn tus_file_name(headers: &HeaderMap) -> Option<String> {
    let metadata = headers.get("upload-metadata")?.to_str().ok()?;
    metadata.split(',').find_map(|pair| {
        let mut words = pair.split_whitespace();
        if words.next()? != "filename" {
            return None;
        }
        let decoded = STANDARD.decode(words.next()?).ok()?;
        String::from_utf8(decoded).ok()
    })
}

fn head(app: &App, id: u64, headers: &HeaderMap) -> Response {
    app.state.record_resumable(|s| s.head_requests += 1);
    let Some(info) = app.uploads.info(id) else {
        return (StatusCode::NOT_FOUND, "no such upload\n").into_response();
    };
    if let Some(Err(response)) = protocol_of(headers) {
        return response;
    }
    let code = match info.protocol {
        Protocol::Tus => StatusCode::OK,
        Protocol::Ietf { .. } => StatusCode::NO_CONTENT,
    };
    let mut response = code.into_response();
    protocol_headers(app, &mut response, &info, true);
    response
}

fn terminate(app: &App, id: u64, headers: &HeaderMap) -> Response {
    if let Some(Err(response)) = protocol_of(headers) {
        return response;
    }
    if !app.uploads.remove(id) {
        return (StatusCode::NOT_FOUND, "no such upload\n").into_response();
    }
    app.state.record_resumable(|s| s.terminated += 1);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    response
}

async fn patch(
    app: &App,
    conn: Option<&ConnHandle>,
    id: u64,
    headers: &HeaderMap,
    body: BodyStream,
) -> Response {
    let Some(info) = app.uploads.info(id) else {
        return (StatusCode::NOT_FOUND, "no such upload\n").into_response();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match (protocol_of(headers), info.protocol) {
        (Some(Err(response)), _) => return response,
        (Some(Ok(Protocol::Tus)), Protocol::Tus)
            if content_type == "application/offset+octet-stream" => {}
        (Some(Ok(Protocol::Ietf { interop_version })), Protocol::Ietf { .. })
            if interop_version < 6 || content_type == "application/partial-upload" => {}
        _ => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "wrong protocol headers or Content-Type for this upload\n",
            )
                .into_response();
        }
    }
    let Some(offset) = number(headers, "upload-offset") else {
        return (StatusCode::BAD_REQUEST, "Upload-Offset missing\n").into_response();
    };
    let length = number(headers, "content-length").unwrap_or(0);
    app.state.record_resumable(|s| {
        s.patch_requests += 1;
        s.patch_offsets.push(offset);
        s.largest_patch = s.largest_patch.max(length);
    });
    if offset != info.offset {
        if !crate::body::drain(body).await {
            return StatusCode::BAD_REQUEST.into_response();
        }
        let mut response = (StatusCode::CONFLICT, "offset mismatch\n").into_response();
        protocol_headers(app, &mut response, &info, false);
        return response;
    }
    if matches!(info.protocol, Protocol::Ietf { .. })
        && app
            .resumable
            .max_append_size
            .is_some_and(|max| length > max)
    {
        // Read the part away first: an HTTP/1.1 client still sending it would otherwise
        // see the connection close instead of the answer.
        if !crate::body::drain(body).await {
            return StatusCode::BAD_REQUEST.into_response();
        }
        return too_large(app, "the part is larger than max-append-size\n");
    }
    let end = match receive(app, conn, id, offset, headers, body, info.protocol).await {
        Ok(end) => end,
        Err(response) => return response,
    };
    if let Protocol::Ietf { interop_version } = info.protocol
        && says_complete(headers, interop_version)
        && end != info.length
    {
        return (
            StatusCode::BAD_REQUEST,
            "Upload-Complete before the declared length\n",
        )
            .into_response();
    }
    let Some(info) = app.uploads.info(id) else {
        return (StatusCode::NOT_FOUND, "the upload vanished\n").into_response();
    };
    if let Some((key, len, sha256_hex)) = app.uploads.complete(id) {
        let stored = Stored {
            key,
            len,
            sha256_hex,
            file: None,
        };
        let reply = Reply {
            status: 204,
            body: String::new(),
        };
        app.state.commit(None, &[stored], reply);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    protocol_headers(app, &mut response, &info, false);
    response
}

/// Appends a body at `offset`, cutting the connection at the plan's offsets and checking
/// a tus `Upload-Checksum`. Returns the new offset, or the answer to give instead.
async fn receive(
    app: &App,
    conn: Option<&ConnHandle>,
    id: u64,
    mut offset: u64,
    headers: &HeaderMap,
    mut body: BodyStream,
    protocol: Protocol,
) -> Result<u64, Response> {
    let mut checksum = match (protocol, headers.get("upload-checksum")) {
        (Protocol::Tus, Some(value)) => Some(expected_checksum(app, value)?),
        _ => None,
    };
    let mark = app.uploads.mark(id);
    let cuts = app.plan().cut_at_offsets;
    let drop_part = |to: u64| {
        if let Some(mark) = mark.clone() {
            app.uploads.restore(id, mark, to);
        }
    };
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            // The client went away: the bytes so far stay (unless the part had a checksum).
            if checksum.is_some() {
                drop_part(offset);
            }
            return Err(StatusCode::BAD_REQUEST.into_response());
        };
        let end = offset + chunk.len() as u64;
        let cut = app.uploads.take_cut(&cuts, offset, end);
        let keep = cut.map_or(chunk.len(), |at| (at - offset) as usize);
        let data = &chunk[..keep];
        offset = app.uploads.append(id, offset, data).map_err(refused)?;
        if let Some(sum) = &mut checksum {
            sum.update(data);
        }
        if cut.is_some() {
            app.state.record_resumable(|s| s.cuts += 1);
            if checksum.is_some() {
                drop_part(offset);
            }
            if let Some(conn) = conn {
                conn.reset();
                conn.gone().await;
            }
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    }
    if let Some(sum) = checksum {
        let algorithm = sum.algorithm;
        if !sum.matches() {
            drop_part(offset);
            app.state.record_resumable(|s| s.checksum_mismatches += 1);
            return Err((
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum mismatch\n",
            )
                .into_response());
        }
        app.state
            .record_resumable(|s| *s.checksums.entry(algorithm.to_owned()).or_insert(0) += 1);
    }
    Ok(offset)
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Gone => (StatusCode::NOT_FOUND, "no such upload\n").into_response(),
        Refusal::Conflict { .. } => (StatusCode::CONFLICT, "offset mismatch\n").into_response(),
        Refusal::TooLong => {
            (StatusCode::PAYLOAD_TOO_LARGE, "past the declared length\n").into_response()
        }
    }
}
