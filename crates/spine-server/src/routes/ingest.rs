//! Receiving from providers (SPEC section 6 and principle 9): `POST /v1/ingest/{channel}`
//! verifies the raw bytes, then records the request in the ledger, then normalizes it into
//! events (the provider's pure normalizer, the channel's mapping, the tenant's identifiers), and
//! commits the events with their ledger entry. The ledger is read and replayed here too.
//!
//! Answers to providers: accepted and duplicate deliveries 200; a bad signature or key 401 with
//! no detail; a body the normalizer cannot read 200 with verdict `failed` for providers that
//! would retry it forever, 400 for the others (the `FailedAnswer` of each provider).

use super::channels::base_url;
use super::{Path, QueryPairs};
use crate::audit::{self, Action};
use crate::auth::{authenticate_key, Principal};
use crate::error::{ApiError, Problem};
use crate::json::read_limited;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Serialize;
use serde_json::json;
use spine_core::apikey;
use spine_core::identifier::Identifier;
use spine_core::ingest::{self, Auth, Context, FailedAnswer, Ready, Received, Source, Stored};
use spine_core::input::EntityInput;
use spine_core::work::rule::JobSpec;
use spine_core::{Event, IdempotencyKey, Role, TenantId, Timestamp};
use spine_store::ledger::{Ingest, IngestEvent, NewLedgerEntry};
use spine_store::{ChannelRecord, LedgerEntry, LedgerQuery, Verdict};
use std::collections::HashMap;
use uuid::Uuid;

/// The ingest routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ingest/requests", get(list_requests))
        .route("/v1/ingest/requests/{id}", get(get_request))
        .route("/v1/ingest/requests/{id}/replay", post(replay))
        .route("/v1/ingest/{channel}", post(receive).options(handshake))
}

/// What a provider is told about its delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The ledger entry's id.
    pub request_id: Uuid,
    /// `accepted`, `duplicate` or `failed`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// The events it produced (for a duplicate: those delivered before).
    pub event_ids: Vec<Uuid>,
}

/// Receives a provider's delivery on a channel.
#[utoipa::path(post, path = "/v1/ingest/{channel}", tag = "ingest",
    params(("channel" = String, Path, description = "The channel's id")),
    request_body(content = String, description = "The provider's payload, exactly as it sends it"),
    responses(
        (status = 200, description = "Accepted, a duplicate, or kept as failed for a provider that would retry", body = Receipt),
        (status = 400, description = "The body cannot be read into events (providers that do not retry)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Signature or key invalid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not ingest", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel, or disabled", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the channel's delivery rate; nothing was recorded", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_at = Timestamp::now();
    let channel = live_channel(&state, &channel_id).await?;
    // A flood is refused before anything is read or recorded.
    state.limits.ingest(&channel.tenant, &channel.id).await?;
    let source = ingest::source(channel.settings.provider);
    if source.provider() == spine_core::channel::Provider::File {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a file channel takes multipart uploads at /v1/ingest/{}/files",
            channel.id
        )));
    }
    let mut entry = new_entry(&channel, received_at);
    let by_key = key_auth(&state, &channel, source, &headers, &entry).await?;
    let body = match read_limited(&headers, body, state.config.max_ingest_body_bytes).await {
        Ok(body) => body,
        Err(e @ ApiError::PayloadTooLarge(_)) => {
            let reason = format!("the body is over {} bytes", state.config.max_ingest_body_bytes);
            reject(&state, &channel.tenant, entry, &reason).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let pairs: Vec<(&str, &[u8])> =
        headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())).collect();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", base_url(&state, &headers));
    let received = Received {
        method: method.as_str(),
        url: &url,
        headers: &pairs,
        body: &body,
        now: received_at.as_unix_seconds(),
    };
    let stored = Stored::keep(source, &received, received_at, &channel.settings.privacy);
    entry.delivery_id = source.delivery_id(&stored);
    entry.headers = stored.headers.clone();
    // The ledger keeps the body as the provider scrubs it (as received, for most providers).
    entry.body_bytes = stored.body.len() as u64;
    entry.body = stored.body[..stored.body.len().min(state.config.ledger_body_bytes)].to_vec();
    if !by_key {
        secret_auth(&state, &channel, source, &received, &entry).await?;
    }
    let request_id = entry.id;
    let (events, failed) =
        match events_of(&state, &channel, source, &stored, entry.id, false).await? {
            Ok(events) => (events, None),
            Err(reason) => {
                entry.verdict = Verdict::Failed;
                entry.reason = Some(reason.clone());
                (Vec::new(), Some(reason))
            }
        };
    if let Err(over) = state.limits.check_events(&channel.tenant, events.len() as u64).await {
        reject(&state, &channel.tenant, entry, "the tenant is over its event quota").await?;
        return Err(over);
    }
    let outcome = state.store.ingest(&channel.tenant, Ingest::Receipt(entry, events)).await?;
    state.limits.added(&channel.tenant, created(&outcome.outcomes), 0);
    record(source, outcome.verdict);
    tracing::info!(
        channel = %channel.id, provider = source.provider().as_str(),
        verdict = outcome.verdict.as_str(), events = outcome.outcomes.len(), "ingested"
    );
    if let (Some(reason), FailedAnswer::Reject) = (failed, source.failed_answer()) {
        return Err(ApiError::BadRequest(reason));
    }
    if let (Some((content_type, body)), true) =
        (source.accepted_body(), outcome.verdict != Verdict::Failed)
    {
        return Ok(([(header::CONTENT_TYPE, content_type)], body).into_response());
    }
    let event_ids = outcome.outcomes.iter().map(|o| o.event().id).collect();
    Ok(axum::Json(Receipt { request_id, verdict: outcome.verdict, event_ids }).into_response())
}

/// A ledger entry for a request that just arrived on `channel`, to be filled in as it is read.
pub(super) fn new_entry(channel: &ChannelRecord, received_at: Timestamp) -> NewLedgerEntry {
    NewLedgerEntry {
        id: Uuid::now_v7(),
        channel_id: channel.id.clone(),
        provider: channel.settings.provider,
        received_at,
        verdict: Verdict::Accepted,
        reason: None,
        delivery_id: None,
        headers: Vec::new(),
        body: Vec::new(),
        body_bytes: 0,
    }
}

/// Authenticates a tenant key given as bearer, for providers that take one: `true` when one
/// was given and is good. A key of another tenant learns nothing of the channel (404); a bad
/// key is recorded as a rejected request.
pub(super) async fn key_auth(
    state: &AppState,
    channel: &ChannelRecord,
    source: &dyn Source,
    headers: &HeaderMap,
    entry: &NewLedgerEntry,
) -> Result<bool, ApiError> {
    let Some(presented) = presented_key(source, headers) else { return Ok(false) };
    match authenticate_key(state, presented).await {
        Ok(p) if p.tenant != channel.tenant => Err(ApiError::NotFound),
        Ok(p) => p.require(Role::Ingest).map(|()| true),
        Err(e) => {
            let reason = "the API key is invalid or revoked";
            reject(state, &channel.tenant, entry.clone(), reason).await?;
            Err(e)
        }
    }
}

/// Verifies a request against the channel's live secrets; a failure is recorded as a rejected
/// request and answered 401 with no detail.
pub(super) async fn secret_auth(
    state: &AppState,
    channel: &ChannelRecord,
    source: &dyn Source,
    received: &Received<'_>,
    entry: &NewLedgerEntry,
) -> Result<(), ApiError> {
    let secrets = open_secrets(state, channel, entry.received_at);
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    if let Err(why) = source.verify(received, &secrets) {
        reject(state, &channel.tenant, entry.clone(), &why.to_string()).await?;
        return Err(ApiError::Unauthorized("signature invalid".into()));
    }
    Ok(())
}

/// The CloudEvents abuse-protection handshake (`OPTIONS` with `WebHook-Request-Origin`).
pub async fn handshake(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let channel = live_channel(&state, &channel_id).await?;
    if channel.settings.provider != spine_core::channel::Provider::Cloudevents {
        return Err(ApiError::MethodNotAllowed);
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let answer = ingest::cloudevents::handshake(
        text("webhook-request-origin"),
        text("webhook-request-rate"),
    );
    let mut response = StatusCode::OK.into_response();
    for (name, value) in answer {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The channel, unless it is missing or disabled (both 404: a provider learns nothing more);
/// read through the channel cache, which changes made on this node evict.
pub(super) async fn live_channel(state: &AppState, id: &str) -> Result<ChannelRecord, ApiError> {
    let channel = match state.channels.get(id) {
        Some(channel) => channel,
        None => {
            let channel = state.store.find_channel(id).await?.ok_or(ApiError::NotFound)?;
            state.channels.put(channel.id.clone(), channel.clone());
            channel
        }
    };
    if channel.disabled {
        return Err(ApiError::NotFound);
    }
    Ok(channel)
}

/// A tenant API key given as the bearer token, for providers that take one.
fn presented_key<'h>(source: &dyn Source, headers: &'h HeaderMap) -> Option<&'h str> {
    if source.auth() != Auth::KeyOrChannelSecret {
        return None;
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(apikey::PREFIX)).then_some(token)
}

/// The channel's secrets that verify now, opened. A secret that does not open (another
/// installation's, a damaged row) verifies nothing, and says so in the log.
fn open_secrets(state: &AppState, channel: &ChannelRecord, now: Timestamp) -> Vec<Vec<u8>> {
    let owner = crate::provision::channel_secret_owner(&channel.tenant, &channel.id);
    channel
        .live_secrets(now)
        .into_iter()
        .filter_map(|sealed| match state.channel_secrets.open(&owner, sealed) {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::error!(channel = %channel.id, error = %e, "a channel secret does not open");
                None
            }
        })
        .collect()
}

/// Records a rejected request (no events) in the ledger.
pub(super) async fn reject(
    state: &AppState,
    tenant: &TenantId,
    mut entry: NewLedgerEntry,
    reason: &str,
) -> Result<(), ApiError> {
    entry.verdict = Verdict::Rejected;
    entry.reason = Some(reason.to_owned());
    let source = ingest::source(entry.provider);
    state.store.ingest(tenant, Ingest::Receipt(entry, Vec::new())).await?;
    record(source, Verdict::Rejected);
    Ok(())
}

/// How many of these outcomes stored a new event (counted against the event quota).
pub(super) fn created(outcomes: &[spine_store::AppendOutcome]) -> u64 {
    outcomes.iter().filter(|o| matches!(o, spine_store::AppendOutcome::Created(_))).count() as u64
}

pub(super) fn record(source: &dyn Source, verdict: Verdict) {
    metrics::counter!("spine_ingest_requests_total",
        "provider" => source.provider().as_str(), "verdict" => verdict.as_str())
    .increment(1);
}

/// How many of a session's latest tool starts a finish is matched against.
const TOOL_STARTS_SEARCHED: u32 = 100;

/// A coding agent's tool call, finished or failed, names the event of its start as its cause
/// (`causation_id`, matched by the tool use's id among the session's latest starts) and takes
/// the time between the two as `data.duration_ms` (from the hooks' own times when the relay
/// recorded them, else from when Spine received them), unless the hook measured it itself.
async fn pair_tool_calls(
    state: &AppState,
    tenant: &TenantId,
    ready: &mut [Ready],
    received_at: Timestamp,
) -> Result<(), ApiError> {
    use spine_core::filter::{EventFilter, Order, TypePattern};
    for item in ready.iter_mut() {
        let e = &mut item.event;
        if !matches!(e.event_type.as_deref(), Some("agent.tool.finished" | "agent.tool.failed")) {
            continue;
        }
        let session = e.entity.as_ref().and_then(|x| x.id.clone());
        let tool_use = e.source.as_ref().and_then(|x| x.object_id.clone());
        let (Some(session), Some(tool_use)) = (session, tool_use) else { continue };
        let started = TypePattern::parse("agent.tool.started").map_err(|_| ApiError::Internal)?;
        let filter = EventFilter {
            types: vec![started],
            entity_type: Some("agent_session".to_owned()),
            entity_id: Some(session),
            ..Default::default()
        };
        let query = spine_store::FeedQuery {
            filter,
            scope: None,
            order: Order::Occurred,
            after: None,
            limit: TOOL_STARTS_SEARCHED,
            user: None,
        };
        let page = state.store.query(tenant, &query).await?;
        let start = page
            .items
            .iter()
            .map(|i| &i.event)
            .find(|start| start.source.object_id.as_deref() == Some(tool_use.as_str()));
        let Some(start) = start else { continue };
        e.causation_id = Some(start.id.to_string());
        let finished =
            e.occurred_at.as_deref().and_then(|t| Timestamp::parse(t).ok()).unwrap_or(received_at);
        let micros = finished.as_micros() - start.occurred_at.as_micros();
        if let Some(serde_json::Value::Object(data)) = e.data.as_mut() {
            if !data.contains_key("duration_ms") && micros >= 0 {
                data.insert("duration_ms".into(), serde_json::json!(micros / 1000));
            }
        }
    }
    Ok(())
}

/// The events a stored request reads as on this channel now, each keyed by its delivery;
/// `Err(reason)` when it cannot be read (the ledger keeps the reason). With `correct`, each
/// event also gets the key a corrected version is stored under (replays).
async fn events_of(
    state: &AppState,
    channel: &ChannelRecord,
    source: &dyn Source,
    stored: &Stored,
    ledger_id: Uuid,
    correct: bool,
) -> Result<Result<Vec<IngestEvent>, String>, ApiError> {
    let s = &channel.settings;
    let context = Context {
        channel_id: &channel.id,
        event_type: s.event_type.as_ref(),
        direction: s.direction,
        mapping: &s.mapping,
        privacy: &s.privacy,
    };
    let drafts = match source.normalize(stored, &context) {
        Ok(drafts) if drafts.is_empty() => return Ok(Err("the request holds no events".into())),
        Ok(drafts) => drafts,
        Err(unreadable) => return Ok(Err(unreadable.0)),
    };
    let delivery = source.delivery_id(stored);
    let mut ready = ingest::finish(drafts, &context, delivery.as_deref(), &ledger_id.to_string());
    match_contacts(state, &channel.tenant, &mut ready).await?;
    if channel.settings.provider == spine_core::channel::Provider::ClaudeCode {
        pair_tool_calls(state, &channel.tenant, &mut ready, stored.received_at).await?;
    }
    let limits = &state.config.event_limits;
    let mut events = Vec::with_capacity(ready.len());
    let job = s.process.then(|| JobSpec::for_channel(&s.queue));
    let mut problems = Vec::new();
    for (index, item) in ready.into_iter().enumerate() {
        let mut input = item.event;
        input.idempotency_key = None;
        match input.validate(Uuid::now_v7(), Some(&item.key), limits) {
            Ok(event) => {
                let correction_key = correct
                    .then(|| {
                        IdempotencyKey::parse(&format!("{}:{}", item.key, event.fingerprint()), 255)
                    })
                    .transpose()
                    .map_err(|_| ApiError::Internal)?;
                events.push(IngestEvent { event, correction_key, job: job.clone() });
            }
            Err(errors) => {
                for e in errors.0.iter().take(5) {
                    problems.push(format!("event {index}: {} {}", e.field, e.message));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Ok(events))
    } else {
        Ok(Err(format!("the events are invalid: {}", problems.join("; "))))
    }
}

/// Puts each event on the entity whose identifier its contact matches, or tags it `unmatched`
/// when it names contacts and none matches. An entity the channel's mapping chose stays.
async fn match_contacts(
    state: &AppState,
    tenant: &TenantId,
    ready: &mut [Ready],
) -> Result<(), ApiError> {
    if ready.iter().all(|r| r.contacts.is_empty()) {
        return Ok(());
    }
    let region = super::identifiers::region_of(state, tenant).await?;
    let region = region.as_deref();
    let mut wanted: Vec<String> = Vec::new();
    let normalized: Vec<Vec<String>> = ready
        .iter()
        .map(|r| {
            r.contacts
                .iter()
                .filter_map(|raw| Identifier::parse_any(raw, region).ok())
                .map(|id| id.as_str().to_owned())
                .collect()
        })
        .collect();
    for values in &normalized {
        wanted.extend(values.iter().cloned());
    }
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    let found: HashMap<String, (String, String)> = state
        .store
        .match_identifiers(tenant, &wanted)
        .await?
        .into_iter()
        .map(|r| (r.value, (r.entity_type, r.entity_id)))
        .collect();
    for (item, values) in ready.iter_mut().zip(normalized) {
        if item.contacts.is_empty() || item.entity_mapped {
            continue;
        }
        match values.iter().find_map(|v| found.get(v)) {
            Some((entity_type, entity_id)) => {
                item.event.entity = Some(EntityInput {
                    entity_type: Some(entity_type.clone()),
                    id: Some(entity_id.clone()),
                    name: None,
                });
            }
            None => item.event.tags.get_or_insert_with(Vec::new).push("unmatched".to_owned()),
        }
    }
    Ok(())
}

/// A ledger entry as the API lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerEntryOut {
    /// Its id.
    pub id: Uuid,
    /// The channel it came in on.
    pub channel_id: String,
    /// The provider.
    pub provider: String,
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// `accepted`, `duplicate`, `rejected` or `failed`.
    pub verdict: String,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// The provider's delivery id.
    pub delivery_id: Option<String>,
    /// The events it produced.
    pub event_ids: Vec<Uuid>,
    /// The headers that matter (never a credential).
    #[schema(value_type = Object)]
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The body's size as received.
    pub body_bytes: u64,
    /// The stored body as text, when it is UTF-8 (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The stored body in base64, when it is not UTF-8 (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// Whether the stored body was cut at the ledger's limit (such an entry cannot be replayed).
    pub body_truncated: bool,
}

/// A page of the ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerPage {
    /// Newest first.
    pub items: Vec<LedgerEntryOut>,
    /// The next page's cursor, when there may be more.
    pub next_cursor: Option<String>,
}

fn entry_out(entry: LedgerEntry, with_body: bool) -> LedgerEntryOut {
    let truncated = (entry.body.len() as u64) < entry.body_bytes;
    let (body, body_base64) = match (with_body, String::from_utf8(entry.body)) {
        (false, _) => (None, None),
        (true, Ok(text)) => (Some(text), None),
        (true, Err(bytes)) => (None, Some(STANDARD.encode(bytes.as_bytes()))),
    };
    LedgerEntryOut {
        id: entry.id,
        channel_id: entry.channel_id,
        provider: entry.provider.as_str().to_owned(),
        received_at: entry.received_at.to_rfc3339(),
        verdict: entry.verdict.as_str().to_owned(),
        reason: entry.reason,
        delivery_id: entry.delivery_id,
        event_ids: entry.event_ids,
        headers: entry
            .headers
            .into_iter()
            .map(|(n, v)| (n, serde_json::Value::String(v)))
            .collect(),
        body_bytes: entry.body_bytes,
        body,
        body_base64,
        body_truncated: truncated,
    }
}

/// Default and largest page of the ledger.
const LEDGER_PAGE: usize = 50;
const LEDGER_PAGE_MAX: usize = 200;

fn ledger_cursor(entry: &LedgerEntry) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", entry.received_at.as_micros(), entry.id))
}

fn parse_cursor(text: &str) -> Option<(Timestamp, Uuid)> {
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let (micros, id) = decoded.split_once('.')?;
    Some((Timestamp::from_micros(micros.parse().ok()?)?, id.parse().ok()?))
}

/// Lists inbound requests, newest first (admin).
#[utoipa::path(get, path = "/v1/ingest/requests", tag = "ingest",
    params(
        ("channel" = Option<String>, Query, description = "Only this channel's"),
        ("verdict" = Option<String>, Query, description = "accepted, duplicate, rejected or failed"),
        ("cursor" = Option<String>, Query, description = "From a previous page's next_cursor"),
        ("limit" = Option<usize>, Query, description = "1-200, default 50"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = LedgerPage),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_requests(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryPairs,
) -> Result<axum::Json<LedgerPage>, ApiError> {
    principal.require(Role::Admin)?;
    let mut q = LedgerQuery { limit: LEDGER_PAGE, ..LedgerQuery::default() };
    let mut errors = spine_core::ValidationErrors::default();
    for (name, value) in query.as_strs() {
        match name {
            "channel" => q.channel = Some(value.to_owned()),
            "verdict" => q.verdict = Verdict::parse(value).map_err(|m| errors.push(name, m)).ok(),
            "cursor" => {
                q.before = parse_cursor(value).or_else(|| {
                    errors.push(name, "is not a cursor this API gave");
                    None
                })
            }
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=LEDGER_PAGE_MAX).contains(&n) => q.limit = n,
                _ => errors.push(name, format!("must be 1 to {LEDGER_PAGE_MAX}")),
            },
            _ => errors.push(name, "is not a parameter of this route"),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let entries = state.store.list_requests(&principal.tenant, &q).await?;
    let next_cursor =
        (entries.len() == q.limit).then(|| entries.last().map(ledger_cursor)).flatten();
    let items = entries.into_iter().map(|e| entry_out(e, false)).collect();
    Ok(axum::Json(LedgerPage { items, next_cursor }))
}

/// One inbound request with its stored headers and body (admin).
#[utoipa::path(get, path = "/v1/ingest/requests/{id}", tag = "ingest",
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = 200, description = "The entry", body = LedgerEntryOut),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_request(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<LedgerEntryOut>, ApiError> {
    principal.require(Role::Admin)?;
    let entry = state.store.get_request(&principal.tenant, id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(entry_out(entry, true)))
}

/// The answer to a replay.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// `accepted` when it produced new events, else `duplicate`.
    pub verdict: String,
    /// The resulting events: repeats of those produced before, and corrected ones.
    #[schema(value_type = Vec<crate::openapi::EventSchema>)]
    pub events: Vec<Event>,
}

/// Re-runs the channel's current normalizer over a stored request (admin). Verification is not
/// repeated: the verdict at receipt stands, so a rejected request is never replayed.
#[utoipa::path(post, path = "/v1/ingest/requests/{id}/replay", tag = "ingest",
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = 200, description = "The resulting events", body = Replayed),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Rejected at receipt, its body was cut, or its channel is gone", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current channel cannot read it", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Replayed>, ApiError> {
    principal.require(Role::Admin)?;
    let tenant = &principal.tenant;
    let entry = state.store.get_request(tenant, id).await?.ok_or(ApiError::NotFound)?;
    let conflict = |detail: &str| ApiError::Conflict { detail: detail.to_owned(), errors: vec![] };
    if entry.verdict == Verdict::Rejected {
        return Err(conflict("a rejected request is never replayed: it was not verified"));
    }
    if (entry.body.len() as u64) < entry.body_bytes {
        return Err(conflict("the stored body was cut at the ledger's limit"));
    }
    let channel = state
        .store
        .get_channel(tenant, &entry.channel_id)
        .await?
        .ok_or_else(|| conflict("the request's channel no longer exists"))?;
    let source = ingest::source(channel.settings.provider);
    let stored =
        Stored { headers: entry.headers, body: entry.body, received_at: entry.received_at };
    let events = match events_of(&state, &channel, source, &stored, entry.id, true).await? {
        Ok(events) => events,
        Err(reason) => return Err(ApiError::invalid("body", reason)),
    };
    let outcome = state
        .store
        .ingest(tenant, Ingest::Replay { id, previous: entry.event_ids, events })
        .await?;
    tracing::info!(request = %id, channel = %channel.id, verdict = outcome.verdict.as_str(), "replayed");
    let title = format!("ingest request {id} replayed");
    let data = json!({"channel_id": channel.id, "verdict": outcome.verdict.as_str(),
                      "events": outcome.outcomes.len()});
    let action = Action::new("ingest.replayed", "ingest_request", id.to_string(), title);
    audit::record(&state, &principal, action.with(data)).await;
    let events = outcome.outcomes.into_iter().map(|o| o.event().clone()).collect();
    Ok(axum::Json(Replayed { verdict: outcome.verdict.as_str().to_owned(), events }))
}
