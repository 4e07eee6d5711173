//! The audit trail: every administrative action becomes an `audit.*` event in the tenant's own
//! log, with the acting key, session user or the operator as its actor, the thing acted on as
//! its entity, and what changed (never a secret) as its data. It is read like any feed
//! (`GET /v1/audit`, the Activity Center's Audit page).
//!
//! The event is written after the action succeeded, in a commit of its own: a failure to write
//! it is logged at error level and counted (`spine_audit_failures_total`), and does not undo
//! or fail the action that already happened.

use crate::auth::{Credential, Principal};
use crate::state::AppState;
use serde_json::{json, Value};
use spine_core::input::{EventInput, EventLimits};
use spine_core::TenantId;
use spine_store::Store;
use uuid::Uuid;

/// Prometheus counter of audit events written, by type.
pub const AUDITED: &str = "spine_audit_events_total";
/// Prometheus counter of audit events that could not be written.
pub const FAILED: &str = "spine_audit_failures_total";

/// Who acted.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An API key, by its public id.
    Key(String),
    /// A person: an Activity Center session's user (or one signing in or out).
    User(String),
    /// The server operator (the admin token).
    Operator,
    /// The operator at the command line, on the database (`spine tenant`, `spine key`...).
    CommandLine,
}

impl Actor {
    /// The actor of a request's principal.
    pub fn of(principal: &Principal) -> Self {
        match &principal.credential {
            Credential::Key { id, .. } => Self::Key(id.clone()),
            Credential::Session { user, .. } | Credential::Viewer { user, .. } => {
                Self::User(user.as_str().to_owned())
            }
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Key(id) => {
                json!({"id": format!("key:{id}"), "name": format!("API key {id}"), "kind": "service"})
            }
            Self::User(user) => json!({"id": user, "name": user, "kind": "user"}),
            Self::Operator => {
                json!({"id": "operator", "name": "Server operator", "kind": "system"})
            }
            Self::CommandLine => {
                json!({"id": "operator", "name": "Operator (command line)", "kind": "system"})
            }
        }
    }
}

/// One administrative action.
#[derive(Debug, Clone)]
pub struct Action {
    /// The type after `audit.`: `key.created`, `channel.secret_rotated`, ...
    pub kind: &'static str,
    /// What kind of thing was acted on (`api_key`, `channel`, `webhook`...).
    pub target_type: &'static str,
    /// Its id.
    pub target_id: String,
    /// What happened, in a sentence (no secret).
    pub title: String,
    /// The details that changed (no secret).
    pub data: Value,
}

impl Action {
    /// An action on `target_type` `target_id`, titled `title`, with no further data.
    pub fn new(
        kind: &'static str,
        target_type: &'static str,
        target_id: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            target_type,
            target_id: target_id.into(),
            title: title.into(),
            data: Value::Null,
        }
    }

    /// The same action with `data`.
    pub fn with(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Records `action` by `principal` in its tenant's log.
pub async fn record(state: &AppState, principal: &Principal, action: Action) {
    record_as(state, &principal.tenant, Actor::of(principal), action).await;
}

/// Records `action` by `actor` in `tenant`'s log.
pub async fn record_as(state: &AppState, tenant: &TenantId, actor: Actor, action: Action) {
    write(state.store.as_ref(), &state.config.event_limits, tenant, actor, action).await;
}

/// Appends `action` by `actor` to `tenant`'s log in `store`, events bounded by `limits`: what
/// the server's routes and the command line's administrative commands both call.
pub async fn write(
    store: &dyn Store,
    limits: &EventLimits,
    tenant: &TenantId,
    actor: Actor,
    action: Action,
) {
    let event_type = format!("audit.{}", action.kind);
    // Clients may not post `audit.*` types, so the event is validated under a neutral type
    // and given its own after.
    let Ok(audit_type) = spine_core::EventType::parse(&event_type) else {
        tracing::error!(r#type = %event_type, "not an event type");
        return;
    };
    // `updated` events must list their changes; an audit event carries its details as data.
    let verb = match action.kind.rsplit('.').next() {
        Some(v @ ("created" | "deleted")) => v,
        Some("revoked") => "deleted",
        _ => "custom",
    };
    let mut input = json!({
        "type": "spine.audit",
        "action": verb,
        "title": action.title,
        "actor": actor.json(),
        "entity": {"type": action.target_type, "id": action.target_id},
        "source": {"system": "spine"},
        "tags": ["audit"],
    });
    if !action.data.is_null() {
        input["data"] = action.data;
    }
    let written = async {
        let input: EventInput = serde_json::from_value(input).map_err(|e| e.to_string())?;
        let mut event = input.validate(Uuid::now_v7(), None, limits).map_err(|e| e.to_string())?;
        event.event_type = audit_type;
        store.append(tenant, vec![event]).await.map_err(|e| e.to_string())
    };
    match written.await {
        Ok(_) => {
            metrics::counter!(AUDITED, "type" => event_type).increment(1);
        }
        Err(error) => {
            metrics::counter!(FAILED).increment(1);
            tracing::error!(%error, r#type = %event_type, "an administrative action was not audited");
        }
    }
}
