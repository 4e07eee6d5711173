//! The agent view's reads (issue 13): a tenant's coding-agent sessions and per-tool statistics,
//! folded (by `spine_core::agent`) from the `agent_session` events the `claude-code` provider
//! writes. Nothing is stored for them: each answer reads the period's events, newest first, up
//! to [`MAX_EVENTS_SCANNED`], and says how many it read and whether it stopped there.

use super::QueryPairs;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use spine_core::agent::{
    AgentSession, SessionFold, SessionPosition, ToolFold, ToolStats, SESSION_ENTITY, TOOL_FAILED,
    TOOL_FINISHED,
};
use spine_core::{
    Event, EventFilter, Order, Role, TenantId, Timestamp, TypePattern, ValidationErrors,
};
use spine_store::FeedQuery;

/// The most events one answer reads: the latest this many agent events of the period.
pub const MAX_EVENTS_SCANNED: u64 = 10_000;

/// Events read per store query while scanning.
const SCAN_PAGE: u32 = 1_000;

/// The tools route's period when `since` is not given: the day before `until`.
const DEFAULT_TOOLS_PERIOD_SECONDS: i64 = 24 * 60 * 60;

/// The agent routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/sessions", get(list_sessions))
        .route("/v1/agents/tools", get(tool_stats))
}

/// One coding-agent session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentSessionOut {
    /// The session id (`entity.id` of its events, also their `correlation_id`).
    pub id: String,
    /// Its display name (`Claude Code session in spine`).
    pub name: Option<String>,
    /// The last component of its working directory.
    pub project: Option<String>,
    /// Who ran the agent.
    pub user: Option<String>,
    /// Its earliest event read.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Its latest event read.
    #[schema(value_type = String, format = DateTime)]
    pub last_event_at: Timestamp,
    /// Whether its latest event is its end.
    pub ended: bool,
    /// Not ended and active within the last 30 minutes.
    pub live: bool,
    /// Prompts given.
    pub prompts: u64,
    /// Tool calls (each once, started or done).
    pub tool_calls: u64,
    /// Tool calls that failed or did not succeed.
    pub failures: u64,
}

impl From<AgentSession> for AgentSessionOut {
    fn from(s: AgentSession) -> Self {
        Self {
            id: s.id,
            name: s.name,
            project: s.project,
            user: s.user,
            started_at: s.started_at,
            last_event_at: s.last_event_at,
            ended: s.ended,
            live: s.live,
            prompts: s.prompts,
            tool_calls: s.tool_calls,
            failures: s.failures,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentSessionPage {
    /// Live sessions first, then by latest activity, newest first.
    pub items: Vec<AgentSessionOut>,
    /// Pass as `cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Agent events read to build the list.
    pub events_scanned: u64,
    /// Whether the period held more agent events than were read (older sessions may be
    /// missing, and older sessions' counts cover only their events read).
    pub truncated: bool,
}

/// One tool's figures over the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolStatsOut {
    /// The tool (`Bash`, `Edit`...).
    pub tool: String,
    /// Finished and failed calls.
    pub calls: u64,
    /// Calls that failed or did not succeed.
    pub failures: u64,
    /// Median duration in ms (nearest rank) of the calls that carry one.
    pub p50_ms: Option<u64>,
    /// 95th percentile duration in ms (nearest rank).
    pub p95_ms: Option<u64>,
}

impl From<ToolStats> for ToolStatsOut {
    fn from(t: ToolStats) -> Self {
        Self {
            tool: t.tool,
            calls: t.calls,
            failures: t.failures,
            p50_ms: t.p50_ms,
            p95_ms: t.p95_ms,
        }
    }
}

/// The period figures cover.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PeriodOut {
    /// Inclusive.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Exclusive.
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
}

/// Per-tool statistics.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolStatsPage {
    /// The most called tools first.
    pub items: Vec<ToolStatsOut>,
    /// The period.
    pub period: PeriodOut,
    /// Finished and failed tool calls read.
    pub events_scanned: u64,
    /// Whether the period held more than were read (the figures cover the latest ones).
    pub truncated: bool,
}

/// What a scan read.
struct Scanned {
    events: u64,
    truncated: bool,
}

/// Reads the tenant's events matching `filter`, newest first, up to [`MAX_EVENTS_SCANNED`].
async fn scan(
    state: &AppState,
    tenant: &TenantId,
    filter: EventFilter,
    mut visit: impl FnMut(&Event),
) -> Result<Scanned, ApiError> {
    let mut query = FeedQuery {
        filter,
        scope: None,
        order: Order::Occurred,
        after: None,
        limit: SCAN_PAGE,
        user: None,
    };
    let mut events = 0;
    loop {
        let page = state.store.query(tenant, &query).await?;
        events += page.items.len() as u64;
        page.items.iter().for_each(|item| visit(&item.event));
        match page.next {
            None => return Ok(Scanned { events, truncated: false }),
            Some(_) if events >= MAX_EVENTS_SCANNED => {
                return Ok(Scanned { events, truncated: true })
            }
            next => query.after = next,
        }
    }
}

/// The query's parameters, checked: unknown ones, bad values and an empty period are 400s.
struct Params {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: u32,
    cursor: Option<SessionPosition>,
    session: Option<String>,
}

fn params(state: &AppState, pairs: &QueryPairs, allowed: &[&str]) -> Result<Params, ApiError> {
    let page = state.config.page;
    let mut p =
        Params { since: None, until: None, limit: page.default, cursor: None, session: None };
    let mut errors = ValidationErrors::default();
    for (key, value) in pairs.as_strs() {
        let outcome = match key {
            _ if !allowed.contains(&key) => Err("is not a known parameter".to_owned()),
            "since" => Timestamp::parse(value).map(|t| p.since = Some(t)),
            "until" => Timestamp::parse(value).map(|t| p.until = Some(t)),
            "limit" => page.parse(value).map(|n| p.limit = n),
            "cursor" => SessionPosition::decode(value)
                .map(|c| p.cursor = Some(c))
                .ok_or_else(|| "is not a cursor of this list".to_owned()),
            "session" => (!value.is_empty() && value.len() <= 256)
                .then(|| p.session = Some(value.to_owned()))
                .ok_or_else(|| "must be 1-256 characters".to_owned()),
            _ => Err("is not a known parameter".to_owned()),
        };
        if let Err(message) = outcome {
            errors.push(key, message);
        }
    }
    if let (Some(since), Some(until)) = (p.since, p.until) {
        if since >= until {
            errors.push("since", "must be before until");
        }
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(ApiError::InvalidQuery(errors))
    }
}

/// The tenant's coding-agent sessions: live ones first, then by latest activity (read, worker
/// or admin). Built from the latest 10,000 agent events of the period.
#[utoipa::path(get, path = "/v1/agents/sessions", tag = "agents",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive: only events from then on are read"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, description = "1..=100, default 30"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("session" = Option<String>, Query, description = "Only this session (reading only its events)"),
    ),
    responses(
        (status = 200, description = "A page of sessions", body = AgentSessionPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read, worker or admin key or session", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    pairs: QueryPairs,
) -> Result<Json<AgentSessionPage>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    let p = params(&state, &pairs, &["since", "until", "limit", "cursor", "session"])?;
    let filter = EventFilter {
        entity_type: Some(SESSION_ENTITY.to_owned()),
        entity_id: p.session,
        since: p.since,
        until: p.until,
        ..Default::default()
    };
    let mut fold = SessionFold::default();
    let scanned = scan(&state, &principal.tenant, filter, |e| fold.add(e)).await?;
    let sessions = fold.finish(Timestamp::now());
    let rest = sessions
        .into_iter()
        .filter(|s| p.cursor.as_ref().is_none_or(|after| s.position() > *after));
    let mut items: Vec<AgentSession> = rest.take(p.limit as usize + 1).collect();
    let next_cursor = (items.len() > p.limit as usize)
        .then(|| {
            items.truncate(p.limit as usize);
            items.last().map(|s| s.position().encode())
        })
        .flatten();
    Ok(Json(AgentSessionPage {
        items: items.into_iter().map(AgentSessionOut::from).collect(),
        next_cursor,
        events_scanned: scanned.events,
        truncated: scanned.truncated,
    }))
}

/// Calls, failures and duration percentiles per tool over a period (default: the last 24
/// hours), from finished and failed tool calls (read, worker or admin). Built from the latest
/// 10,000 of them.
#[utoipa::path(get, path = "/v1/agents/tools", tag = "agents",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive; default 24 hours before until"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive; default now"),
        ("session" = Option<String>, Query, description = "Only this session's calls"),
    ),
    responses(
        (status = 200, description = "Per-tool statistics", body = ToolStatsPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read, worker or admin key or session", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn tool_stats(
    State(state): State<AppState>,
    principal: Principal,
    pairs: QueryPairs,
) -> Result<Json<ToolStatsPage>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    let p = params(&state, &pairs, &["since", "until", "session"])?;
    let until = p.until.unwrap_or_else(Timestamp::now);
    let since = p.since.unwrap_or_else(|| until.plus_seconds(-DEFAULT_TOOLS_PERIOD_SECONDS));
    if since >= until {
        return Err(ApiError::InvalidQuery(ValidationErrors::single(
            "until",
            "must be after since (24 hours before until by default)",
        )));
    }
    let types = [TOOL_FINISHED, TOOL_FAILED].map(TypePattern::parse);
    let types = types.into_iter().collect::<Result<Vec<_>, _>>().map_err(|_| ApiError::Internal)?;
    let filter = EventFilter {
        types,
        entity_type: Some(SESSION_ENTITY.to_owned()),
        entity_id: p.session,
        since: Some(since),
        until: Some(until),
        ..Default::default()
    };
    let mut fold = ToolFold::default();
    let scanned = scan(&state, &principal.tenant, filter, |e| fold.add(e)).await?;
    Ok(Json(ToolStatsPage {
        items: fold.finish().into_iter().map(ToolStatsOut::from).collect(),
        period: PeriodOut { since, until },
        events_scanned: scanned.events,
        truncated: scanned.truncated,
    }))
}
