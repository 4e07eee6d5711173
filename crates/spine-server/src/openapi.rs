//! The OpenAPI document (`/openapi.json`) and its browser (`/docs`). The core types do not
//! derive `ToSchema` (the core knows nothing of HTTP), so the wire shapes are mirrored here;
//! the route handlers carry their own `#[utoipa::path]`.

use crate::error::{FieldErrorSchema, Problem};
use crate::routes::{
    admin, agents, audit, channels, consumers, events, feed, files, identifiers, ingest, limits,
    notes, ops, read_state, retention, session, stream, webhooks, work,
};
use crate::state::AppState;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// The body of `POST /v1/channels`, derived from the core's validated input type.
pub type ChannelInputSchema = spine_core::channel::ChannelInput;

/// An identifier on an entity.
#[derive(Serialize, ToSchema)]
pub struct IdentifierSchema {
    /// `email` or `phone`.
    pub kind: String,
    /// Lower-case address or E.164 number.
    pub value: String,
    /// The entity's type.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

/// Where an event came from.
#[derive(Serialize, ToSchema)]
pub struct SourceSchema {
    /// `api`, `github`, `stripe`, ...
    pub system: String,
    /// The provider's id of the object.
    pub object_id: Option<String>,
    /// The provider's type of the object.
    pub object_type: Option<String>,
}

/// Who did it.
#[derive(Serialize, ToSchema)]
pub struct ActorSchema {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// `user`, `agent`, `system` or `service`.
    pub kind: Option<String>,
}

/// What it was done to.
#[derive(Serialize, ToSchema)]
pub struct EntitySchema {
    /// Entity type, e.g. `task`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// One field-level change.
#[derive(Serialize, ToSchema)]
pub struct ChangeSchema {
    /// The field.
    pub field: String,
    /// Value before.
    #[schema(value_type = Object)]
    pub old: serde_json::Value,
    /// Value after.
    #[schema(value_type = Object)]
    pub new: serde_json::Value,
}

/// A stored event (SPEC section 3).
#[derive(Serialize, ToSchema)]
pub struct EventSchema {
    /// UUIDv7.
    pub id: String,
    /// Commit-ordered position.
    pub seq: i64,
    /// The tenant.
    pub tenant: String,
    /// Dotted lower-case type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `created`, `updated`, `deleted`, `state_changed` or `custom`.
    pub action: String,
    /// Where it came from.
    pub source: SourceSchema,
    /// Who did it.
    pub actor: Option<ActorSchema>,
    /// What it was done to.
    pub entity: Option<EntitySchema>,
    /// One line.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// Free JSON object.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Field-level changes.
    pub changes: Option<Vec<ChangeSchema>>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Flow id.
    pub correlation_id: Option<String>,
    /// Cause id.
    pub causation_id: Option<String>,
    /// RFC 3339.
    pub occurred_at: String,
    /// RFC 3339.
    pub received_at: String,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// Rendered one-line message.
    pub summary: String,
    /// Whether the requesting user read it (only when a user is known).
    pub read: Option<bool>,
    /// The jobs processing it (feed pages for keys and sessions; absent when none).
    pub jobs: Option<Vec<JobBriefSchema>>,
}

/// A job of an event, as a feed item shows it.
#[derive(Serialize, ToSchema)]
pub struct JobBriefSchema {
    /// The job's id.
    pub id: String,
    /// Its queue.
    pub queue: String,
    /// `pending`, `processing`, `completed`, `failed` or `dead`.
    pub status: String,
    /// Claims so far.
    pub attempt: u32,
}

/// The body of `POST /v1/events`, derived from the core's input type with its limits.
pub type EventInputSchema = spine_core::EventInput;

/// The body of a batch.
pub type BatchInputSchema = crate::routes::events::BatchInput;

/// One batch outcome.
#[derive(Serialize, ToSchema)]
pub struct BatchItemSchema {
    /// 201, 200 or 409.
    pub status: u16,
    /// The stored event (201, 200).
    pub event: Option<EventSchema>,
    /// The conflict (409).
    pub problem: Option<Problem>,
}

/// The answer of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchResultSchema {
    /// In input order.
    pub items: Vec<BatchItemSchema>,
}

/// A page of the feed.
#[derive(Serialize, ToSchema)]
pub struct FeedPageSchema {
    /// Events.
    pub items: Vec<EventSchema>,
    /// For `cursor=`; null on the last page.
    pub next_cursor: Option<String>,
    /// First pages only: the tenant's head read before the page; open a stream with
    /// `after=position` to miss nothing that commits meanwhile.
    pub position: Option<i64>,
}

/// One group's count.
#[derive(Serialize, ToSchema)]
pub struct GroupCountSchema {
    /// The group key.
    pub key: String,
    /// Events.
    pub count: u64,
}

/// Stats.
#[derive(Serialize, ToSchema)]
pub struct StatsSchema {
    /// Events in the window.
    pub total: u64,
    /// The user's unread count.
    pub unread: Option<u64>,
    /// Per group.
    pub groups: Option<Vec<GroupCountSchema>>,
}

/// A key as listed.
#[derive(Serialize, ToSchema)]
pub struct KeyInfoSchema {
    /// Public id.
    pub id: String,
    /// `ingest`, `read` or `admin`.
    pub role: String,
    /// Label.
    pub name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub revoked_at: Option<String>,
}

/// The tenant's keys.
#[derive(Serialize, ToSchema)]
pub struct KeyListSchema {
    /// Newest first.
    pub items: Vec<KeyInfoSchema>,
}

/// A type's presentation.
#[derive(Serialize, ToSchema)]
pub struct TypeInfoSchema {
    /// Label.
    pub label: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// `#rrggbb`.
    pub color: Option<String>,
    /// Highlight in the UI.
    pub important: Option<bool>,
    /// e.g. `{actor.name} completed "{entity.name}"`.
    pub summary_template: Option<String>,
}

/// A registered type.
#[derive(Serialize, ToSchema)]
pub struct TypeEntrySchema {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Label.
    pub label: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// `#rrggbb`.
    pub color: Option<String>,
    /// Highlight in the UI.
    pub important: bool,
    /// Summary template.
    pub summary_template: Option<String>,
}

/// Registered types.
#[derive(Serialize, ToSchema)]
pub struct TypeListSchema {
    /// By type.
    pub items: Vec<TypeEntrySchema>,
}

/// The feed's query parameters (all combinable; unknown parameters are refused).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Repeatable; exact (`task.created`) or prefix (`task.*`).
    #[serde(rename = "type")]
    pub event_type: Option<Vec<String>>,
    /// `created`, `updated`, `deleted`, `state_changed`, `custom`.
    pub action: Option<String>,
    /// `source.system`.
    pub source: Option<String>,
    /// `actor.id`.
    pub actor: Option<String>,
    /// `entity.type`.
    pub entity_type: Option<String>,
    /// `entity.id`.
    pub entity_id: Option<String>,
    /// Repeatable; all must match.
    pub tag: Option<Vec<String>>,
    /// `low`, `normal`, `high`, `urgent`.
    pub priority: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Full text over title, description, actor and entity names.
    pub q: Option<String>,
    /// Only unread events (needs a user).
    pub unread: Option<bool>,
    /// `occurred` (default, newest first) or `seq` (commit order).
    pub order: Option<String>,
    /// 1..=100, default 30.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The stream's own query parameters; the feed's filters apply too (`order` may only be `seq`,
/// `cursor` is refused, `limit` is ignored).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this position (`Last-Event-ID` wins when both are sent); without either,
    /// the stream starts at the live end.
    pub after: Option<i64>,
    /// A viewer token (`svt.…`), for clients such as `EventSource` that cannot send headers.
    /// API keys are refused here.
    pub token: Option<String>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (spk_...) or a viewer token (svt....)"))
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("operator", bearer());
    }
}

/// The whole API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Spine", description = "Activity event service: record, query and read activity events."),
    paths(
        events::create_event, events::create_batch,
        feed::list_events, feed::get_event, feed::timeline, feed::stats,
        read_state::mark_read, read_state::read_all, read_state::unread_count,
        read_state::seen, read_state::archive, read_state::unarchive,
        session::whoami, session::signout,
        admin::create_key, admin::list_keys, admin::revoke_key, admin::create_viewer_token,
        admin::put_type, admin::preview_type, admin::get_type, admin::list_types, admin::create_tenant,
        channels::create_channel, channels::list_channels, channels::get_channel,
        channels::update_channel, channels::rotate_secret, channels::delete_channel,
        ingest::receive, ingest::list_requests, ingest::get_request, ingest::replay,
        files::upload, files::download,
        identifiers::add_identifier, identifiers::list_identifiers, identifiers::delete_identifier,
        identifiers::get_phone_region, identifiers::put_phone_region,
        work::claim, work::heartbeat, work::complete, work::fail, work::retry, work::get_job,
        work::list_jobs, work::list_queues, work::put_rule, work::get_rule, work::list_rules,
        work::delete_rule, notes::add_note, notes::list_notes,
        agents::list_sessions, agents::tool_stats,
        consumers::create_consumer, consumers::list_consumers, consumers::get_consumer,
        consumers::next, consumers::ack, consumers::delete_consumer,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook,
        webhooks::update_webhook, webhooks::delete_webhook, webhooks::list_deliveries,
        webhooks::replay, webhooks::test_send,
        retention::put_retention, retention::get_retention,
        audit::list_audit,
        limits::put_limits, limits::get_limits, limits::put_ceiling, limits::get_ceiling,
        stream::stream,
        stream::ws,
        ops::healthz, ops::readyz, ops::prometheus,
    ),
    components(schemas(Problem, FieldErrorSchema, EventSchema, EventInputSchema)),
    modifiers(&Security),
    tags(
        (name = "events", description = "Writing events"),
        (name = "feed", description = "Reading events"),
        (name = "read state", description = "Per-user read state"),
        (name = "live", description = "Live delivery (Server-Sent Events)"),
        (name = "admin", description = "Tenant administration"),
        (name = "ingest", description = "Channels, provider webhooks and the ingest ledger"),
        (name = "work", description = "Jobs under leases, queue rules and notes"),
        (name = "agents", description = "Coding agents' sessions and tool statistics"),
        (name = "consumers", description = "Durable consumers: named cursors over the log"),
        (name = "webhooks", description = "Outbound webhooks: endpoints, deliveries, replay"),
        (name = "sign-in", description = "Activity Center sessions"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// `/openapi.json` and the Swagger UI at `/docs`.
pub fn router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
