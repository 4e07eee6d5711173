//! Files (SPEC section 6): `POST /v1/ingest/{channel}/files` takes a multipart upload on a
//! `file` channel and streams each `file` part into the blob store chunk by chunk (never the
//! whole file in memory), hashing as it goes; a part over the per-file limit stops the request
//! with 413 and nothing stored. Each file becomes one event, keyed by its content hash.
//! `GET /v1/files/{sha256}` streams a file back as an attachment, to a reader of the tenant, or
//! to a viewer token whose scope covers an event carrying it.

use super::ingest::{key_auth, live_channel, new_entry, record, secret_auth};
use super::Path;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use spine_core::channel::Provider;
use spine_core::files::{sanitize_name, sniff, SNIFF_BYTES};
use spine_core::idempotency::hex;
use spine_core::ingest::file::{self, StoredFile};
use spine_core::ingest::{self, Context, Received, Stored};
use spine_core::work::rule::JobSpec;
use spine_core::{Event, TenantId, Timestamp};
use spine_store::ledger::{Ingest, IngestEvent, NewLedgerEntry};
use spine_store::{AppendOutcome, Verdict};
use uuid::Uuid;

/// The file routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ingest/{channel}/files", post(upload))
        .route("/v1/files/{sha256}", get(download))
}

/// Bytes per stored chunk: small enough to hold one in memory per upload, large enough that a
/// 50 MiB file is 50 rows.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Most files in one request.
const MAX_FILES: usize = 20;
/// Most bytes of the text parts a request may carry beside its files (they are read and ignored).
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The answer to an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// The ledger entry's id.
    pub request_id: Uuid,
    /// `accepted`, or `duplicate` when every file was sent before.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// One event per file, in the order of the parts.
    #[schema(value_type = Vec<crate::openapi::EventSchema>)]
    pub events: Vec<Event>,
}

/// Why an upload stopped, before anything was named.
enum Stop {
    /// A file over the limit: 413.
    TooLarge(String),
    /// A malformed request: 400.
    Malformed(String),
    /// The client stopped sending the body: 408.
    Stalled(String),
    /// The store failed.
    Store(ApiError),
}

/// An upload in progress: its chunks so far.
struct Upload {
    id: Uuid,
    name: String,
    hasher: Sha256,
    size: u64,
    chunks: u32,
    head: Vec<u8>,
    buffer: Vec<u8>,
}

/// Uploads files to a `file` channel (multipart, one or more `file` parts).
#[utoipa::path(post, path = "/v1/ingest/{channel}/files", tag = "ingest",
    params(("channel" = String, Path, description = "A file channel's id")),
    request_body(content = String, content_type = "multipart/form-data", description = "One or more parts with a file name"),
    responses(
        (status = 201, description = "One event per file", body = Uploaded),
        (status = 400, description = "Malformed multipart, or no file part", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Key invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not ingest, or the tenant is over a storage quota", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file channel", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A file over the limit: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the channel's delivery rate", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_at = Timestamp::now();
    let channel = live_channel(&state, &channel_id).await?;
    if channel.settings.provider != Provider::File {
        return Err(ApiError::NotFound);
    }
    let source = ingest::source(Provider::File);
    let pairs: Vec<(&str, &[u8])> =
        headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())).collect();
    let received =
        Received { method: method.as_str(), url: uri.path(), headers: &pairs, body: &[], now: 0 };
    let kept = Stored::keep(source, &received, received_at, &channel.settings.privacy);
    let entry = NewLedgerEntry { headers: kept.headers, ..new_entry(&channel, received_at) };
    let tenant = channel.tenant.clone();
    state.limits.ingest(&tenant, &channel.id).await?;
    if !key_auth(&state, &channel, source, &headers, &entry).await? {
        secret_auth(&state, &channel, source, &received, &entry).await?;
    }
    // A tenant whose files already fill its quota is told before anything is read.
    state.limits.check_blob_bytes(&tenant, 1).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(boundary) = content_type.and_then(|ct| multer::parse_boundary(ct).ok()) else {
        return Err(ApiError::UnsupportedMediaType(
            "upload files as multipart/form-data with a boundary".into(),
        ));
    };
    let mut uploads = Vec::new();
    let read = read_parts(&state, &tenant, body, boundary, &mut uploads).await;
    let total: u64 = uploads.iter().map(|u| u.size).sum();
    let mut entry = NewLedgerEntry { body_bytes: total, ..entry };
    if let Err(stop) = read {
        for upload in &uploads {
            // Best effort: what is left is swept as abandoned later.
            let _ = state.store.abort_upload(&tenant, upload.id).await;
        }
        let (error, reason) = match stop {
            Stop::TooLarge(m) => (ApiError::PayloadTooLarge(m.clone()), m),
            Stop::Malformed(m) => (ApiError::BadRequest(m.clone()), m),
            Stop::Stalled(m) => (ApiError::BodyTimeout(m.clone()), m),
            Stop::Store(e) => return Err(e),
        };
        entry.verdict = Verdict::Failed;
        entry.reason = Some(reason);
        state.store.ingest(&tenant, Ingest::Receipt(entry, Vec::new())).await?;
        record(source, Verdict::Failed);
        return Err(error);
    }
    if uploads.is_empty() {
        entry.verdict = Verdict::Failed;
        entry.reason = Some("the request holds no file part".to_owned());
        state.store.ingest(&tenant, Ingest::Receipt(entry, Vec::new())).await?;
        record(source, Verdict::Failed);
        return Err(ApiError::BadRequest("the request holds no file part".into()));
    }
    let quota = match state.limits.check_blob_bytes(&tenant, total).await {
        Ok(()) => state.limits.check_events(&tenant, uploads.len() as u64).await,
        over => over,
    };
    if let Err(over) = quota {
        for upload in &uploads {
            let _ = state.store.abort_upload(&tenant, upload.id).await;
        }
        entry.verdict = Verdict::Rejected;
        entry.reason = Some("the tenant is over a storage quota".to_owned());
        state.store.ingest(&tenant, Ingest::Receipt(entry, Vec::new())).await?;
        record(source, Verdict::Rejected);
        return Err(over);
    }
    let mut files = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let blob = spine_store::NewBlob {
            sha256: hex(&upload.hasher.finalize()),
            size: upload.size,
            content_type: sniff(&upload.head).to_owned(),
            chunks: upload.chunks,
        };
        let stored = state.store.finish_upload(&tenant, upload.id, blob).await?;
        files.push(StoredFile {
            sha256: stored.sha256,
            name: upload.name,
            size: stored.size,
            content_type: stored.content_type,
        });
    }
    let s = &channel.settings;
    let context = Context {
        channel_id: &channel.id,
        event_type: s.event_type.as_ref(),
        direction: s.direction,
        mapping: &s.mapping,
        privacy: &s.privacy,
    };
    let drafts = files.iter().map(file::draft).collect();
    let ready = ingest::finish(drafts, &context, None, &entry.id.to_string());
    let job = s.process.then(|| JobSpec::for_channel(&s.queue));
    let mut events = Vec::with_capacity(ready.len());
    for item in ready {
        let mut input = item.event;
        input.idempotency_key = None;
        let event = input.validate(Uuid::now_v7(), Some(&item.key), &state.config.event_limits)?;
        events.push(IngestEvent { event, correction_key: None, job: job.clone() });
    }
    let request_id = entry.id;
    let outcome = state.store.ingest(&tenant, Ingest::Receipt(entry, events)).await?;
    state.limits.added(&tenant, super::ingest::created(&outcome.outcomes), total);
    record(source, outcome.verdict);
    let mut answered = Vec::with_capacity(outcome.outcomes.len());
    for (file, result) in files.iter().zip(outcome.outcomes) {
        let event = match result {
            AppendOutcome::Created(e) | AppendOutcome::Repeat(e) => e,
            AppendOutcome::Conflict { existing, .. } => existing,
        };
        state.store.add_blob_ref(&tenant, &file.sha256, event.id, &file.name).await?;
        answered.push(event);
    }
    tracing::info!(channel = %channel.id, files = files.len(), bytes = total, "files uploaded");
    let body = Uploaded { request_id, verdict: outcome.verdict, events: answered };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Streams every part: file parts into uploads, text parts read and dropped (bounded).
async fn read_parts(
    state: &AppState,
    tenant: &TenantId,
    body: Body,
    boundary: String,
    uploads: &mut Vec<Upload>,
) -> Result<(), Stop> {
    let limit = state.config.max_file_bytes;
    let malformed = |e: multer::Error| {
        if crate::body_timeout::BodyStalled::is(&e) {
            Stop::Stalled("no part of the request body arrived in time".into())
        } else {
            Stop::Malformed(format!("the multipart body is malformed ({e})"))
        }
    };
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut text_bytes = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let Some(raw_name) = field.file_name().map(str::to_owned) else {
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                text_bytes += chunk.len();
                if text_bytes > MAX_TEXT_BYTES {
                    return Err(Stop::TooLarge(format!(
                        "text parts may hold at most {MAX_TEXT_BYTES} bytes"
                    )));
                }
            }
            continue;
        };
        if uploads.len() == MAX_FILES {
            return Err(Stop::TooLarge(format!("at most {MAX_FILES} files per request")));
        }
        uploads.push(Upload {
            id: Uuid::now_v7(),
            name: sanitize_name(&raw_name),
            hasher: Sha256::new(),
            size: 0,
            chunks: 0,
            head: Vec::new(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
        });
        let Some(upload) = uploads.last_mut() else { continue };
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            upload.size += chunk.len() as u64;
            if upload.size > limit as u64 {
                return Err(Stop::TooLarge(format!("each file must be at most {limit} bytes")));
            }
            upload.hasher.update(&chunk);
            if upload.head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - upload.head.len()).min(chunk.len());
                upload.head.extend_from_slice(&chunk[..take]);
            }
            upload.buffer.extend_from_slice(&chunk);
            while upload.buffer.len() >= CHUNK_BYTES {
                let rest = upload.buffer.split_off(CHUNK_BYTES);
                let full = std::mem::replace(&mut upload.buffer, rest);
                flush(state, tenant, upload, full).await?;
            }
        }
        if !upload.buffer.is_empty() || upload.chunks == 0 {
            let last = std::mem::take(&mut upload.buffer);
            flush(state, tenant, upload, last).await?;
        }
    }
    Ok(())
}

async fn flush(
    state: &AppState,
    tenant: &TenantId,
    upload: &mut Upload,
    data: Vec<u8>,
) -> Result<(), Stop> {
    state
        .store
        .put_chunk(tenant, upload.id, upload.chunks, data)
        .await
        .map_err(|e| Stop::Store(e.into()))?;
    upload.chunks += 1;
    Ok(())
}

/// `attachment` with the name twice: a plain ASCII fallback, and the exact name per RFC 6266
/// (`filename*=UTF-8''...`).
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Downloads a file by its SHA-256.
#[utoipa::path(get, path = "/v1/files/{sha256}", tag = "ingest",
    params(("sha256" = String, Path, description = "The file's SHA-256, lower-case hex")),
    responses(
        (status = 200, description = "The file, as an attachment", content_type = "application/octet-stream"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file, or none the viewer may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    principal.require_reader()?;
    if sha256.len() != 64
        || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::NotFound);
    }
    let tenant = principal.tenant.clone();
    let blob = state.store.get_blob(&tenant, &sha256).await?.ok_or(ApiError::NotFound)?;
    let mut name = None;
    for (event_id, ref_name) in &blob.refs {
        if state.store.get_event(&tenant, *event_id, principal.scope()).await?.is_some() {
            name = Some(ref_name.clone());
            break;
        }
    }
    // A viewer sees a file only through an event it may see; readers of the tenant see all.
    let name = match (name, principal.scope()) {
        (Some(name), _) => name,
        (None, None) => "file".to_owned(),
        (None, Some(_)) => return Err(ApiError::NotFound),
    };
    let (store, hash, chunks) = (state.store.clone(), blob.sha256.clone(), blob.chunks);
    let stream = futures::stream::unfold(0u32, move |index| {
        let (store, tenant, hash) = (store.clone(), tenant.clone(), hash.clone());
        async move {
            if index >= chunks {
                return None;
            }
            let chunk = match store.blob_chunk(&tenant, &hash, index).await {
                Ok(Some(data)) => Ok(bytes::Bytes::from(data)),
                Ok(None) => Err(std::io::Error::other("a chunk of the file is missing")),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            Some((chunk, index + 1))
        }
    })
    .boxed();
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    let value = |text: &str| HeaderValue::from_str(text).map_err(|_| ApiError::Internal);
    headers.insert(header::CONTENT_TYPE, value(&blob.content_type)?);
    headers.insert(header::CONTENT_LENGTH, value(&blob.size.to_string())?);
    headers.insert(header::CONTENT_DISPOSITION, value(&disposition(&name))?);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::ETAG, value(&format!("\"{}\"", blob.sha256))?);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn dispositions_carry_an_ascii_fallback_and_the_exact_name() {
        assert_eq!(
            disposition("élève \"x\".pdf"),
            "attachment; filename=\"_l_ve _x_.pdf\"; filename*=UTF-8''%C3%A9l%C3%A8ve%20%22x%22.pdf"
        );
    }
}
