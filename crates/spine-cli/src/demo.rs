//! `spine demo`: a server with a `demo` tenant, seeded history and live generated activity, for a
//! first look. It uses its own database (`./spine-data/demo.db`) unless `--db` is given, and on a
//! restart reuses the tenant and its events. Its main line is a one-time sign-in URL that lands
//! the visitor in the Activity Center, signed in. Each run revokes the previous run's keys
//! before minting fresh ones (their secrets were shown once), so keys never pile up, and a run
//! that cannot listen creates nothing.

use crate::config::Settings;
use crate::demo_data::{Rng, World};
use crate::error::{CliError, CliResult};
use crate::open::signin_url;
use crate::serve::{bind, server_config, shutdown_signal};
use crate::store::open_store;
use clap::Args;
use serde_json::Value;
use spine_core::channel::ChannelInput;
use spine_core::input::EventLimits;
use spine_core::note::{Author, AuthorKind, NewNote};
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::Entity;
use spine_core::{
    EventInput, EventType, NewEvent, Role, Seq, TenantId, Timestamp, TypeInfo, UserId,
};
use spine_server::provision::{self, generate_key};
use spine_store::{ClaimRequest, Settle, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The demo's database when `--db` is not given.
pub const DEMO_DB: &str = "sqlite://./spine-data/demo.db";

/// The user the demo's sign-in link signs in (an admin, so every page is there to see).
const DEMO_USER: &str = "ana";

/// How long the demo's sign-in link works.
const DEMO_LINK_TTL_SECONDS: i64 = 3600;

/// Names the demo's keys carry, so a later run can revoke them.
const KEY_NAME_PREFIX: &str = "demo ";

/// Stories played into an empty demo tenant (about 1.5 events each), over the last three days.
const SEED_STORIES: u64 = 220;

/// Arguments of `spine demo` (`--db` is the global flag).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on [default: 127.0.0.1:7070]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// The keys printed for the visitor.
struct DemoKeys {
    read: String,
    ingest: String,
    admin: String,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(_args: DemoArgs, settings: &Settings, db_flag: Option<&str>) -> CliResult<()> {
    let db = db_flag.unwrap_or(DEMO_DB);
    // The port first: a run that cannot serve must not create keys or seed anything.
    let (listener, addr) = bind(&settings.listen).await.map_err(|e| {
        CliError::new(format!(
            "{e}\n(is another spine demo running? pick another port with --listen 127.0.0.1:7071)"
        ))
    })?;
    let opened = open_store(db, settings).await?;
    let store = opened.store.clone();
    let tenant = TenantId::parse("demo").map_err(CliError::new)?;
    let keys = ensure_tenant(store.as_ref(), &tenant).await?;
    let webhook = ensure_channel(store.as_ref(), &tenant).await?;
    register_types(store.as_ref(), &tenant).await?;
    ensure_calls_rule(store.as_ref(), &tenant).await?;
    let head = store.head(&tenant).await?;
    let mut world = World::new(Rng::from_clock(), head.0.unsigned_abs());
    if head == Seq::ZERO {
        let n = seed(store.as_ref(), &tenant, &mut world).await?;
        // The seeded calls' jobs were done long ago.
        while summarise_calls(store.as_ref(), &tenant, 100, &mut Rng::from_clock()).await? > 0 {}
        tracing::info!(events = n, "seeded the demo tenant");
    }
    let total = store.head(&tenant).await?;
    let base = browser_base(addr);
    let user = UserId::parse(DEMO_USER).map_err(CliError::new)?;
    let ttl = DEMO_LINK_TTL_SECONDS;
    let (link, _) = signin_url(store.as_ref(), &base, &tenant, user, Role::Admin, ttl).await?;
    print_banner(&base, &link, db, total, &keys, &webhook);
    let live = tokio::spawn(live_activity(store.clone(), tenant, world));
    let served =
        spine_server::run(listener, store, server_config(settings), shutdown_signal()).await;
    live.abort();
    opened.close().await;
    served.map_err(|e| CliError::new(format!("server: {e}")))
}

/// Creates the `demo` tenant on first run; revokes the keys of earlier runs (their secrets were
/// shown once and are gone) and mints fresh read, ingest and admin keys.
async fn ensure_tenant(store: &dyn Store, tenant: &TenantId) -> CliResult<DemoKeys> {
    if store.get_tenant(tenant).await?.is_none() {
        store.create_tenant(tenant, "Demo").await?;
    }
    for key in store.list_keys(tenant).await? {
        let from_a_demo = key.name.as_deref().is_some_and(|n| n.starts_with(KEY_NAME_PREFIX));
        if from_a_demo && key.revoked_at.is_none() {
            store.revoke_key(tenant, &key.id).await?;
        }
    }
    Ok(DemoKeys {
        read: mint(store, tenant, Role::Read).await?,
        ingest: mint(store, tenant, Role::Ingest).await?,
        admin: mint(store, tenant, Role::Admin).await?,
    })
}

/// The name of the demo's webhook channel.
const CHANNEL_NAME: &str = "Demo CRM webhook";

/// Creates, on first run, a `generic` channel that maps a CRM's note webhook (`subject`,
/// `contact`, `id`) to `crm.note` events on contacts; answers its id. The demo's curl line
/// authenticates with the ingest key, so the channel's own secret is not needed again.
async fn ensure_channel(store: &dyn Store, tenant: &TenantId) -> CliResult<String> {
    if let Some(found) =
        store.list_channels(tenant).await?.into_iter().find(|c| c.settings.name == CHANNEL_NAME)
    {
        return Ok(found.id);
    }
    let input: ChannelInput = serde_json::from_value(serde_json::json!({
        "name": CHANNEL_NAME, "provider": "generic", "event_type": "crm.note",
        "mapping": {"title": "/subject", "entity.type": "contact", "entity.id": "/contact",
                    "idempotency_key": "/id"}
    }))
    .map_err(|e| CliError::new(format!("the demo channel: {e}")))?;
    let key = provision::channel_sealing_key(&store.server_secret().await?);
    match provision::create_channel(store, &key, tenant, input).await {
        Ok((record, _)) => Ok(record.id),
        Err(provision::ChannelError::Store(e)) => Err(e.into()),
        Err(provision::ChannelError::Invalid(e)) => {
            Err(CliError::new(format!("the demo channel is invalid: {e:?}")))
        }
    }
}

async fn mint(store: &dyn Store, tenant: &TenantId, role: Role) -> CliResult<String> {
    let (key, new_key) = generate_key(role, Some(format!("{KEY_NAME_PREFIX}{}", role.as_str())));
    store.create_key(tenant, new_key).await?;
    Ok(key)
}

/// The demo's event types: label, icon, colour, importance and summary template.
pub fn demo_types() -> Vec<(&'static str, TypeInfo)> {
    let t = |label: &str, icon: &str, color: &str, important: bool, template: &str| TypeInfo {
        label: Some(label.to_owned()),
        icon: Some(icon.to_owned()),
        color: Some(color.to_owned()),
        important,
        summary_template: Some(template.to_owned()),
    };
    let agent = |label: &str| TypeInfo {
        label: Some(label.to_owned()),
        icon: Some("bot".to_owned()),
        color: Some("#9333ea".to_owned()),
        important: false,
        summary_template: None,
    };
    vec![
        (
            "task.created",
            t(
                "Task created",
                "plus",
                "#2563eb",
                false,
                "{actor.name} created task \"{entity.name}\"",
            ),
        ),
        (
            "task.state_changed",
            t(
                "Task moved",
                "zap",
                "#7c3aed",
                false,
                "{actor.name} moved \"{entity.name}\" to {data.state}",
            ),
        ),
        (
            "task.completed",
            t(
                "Task completed",
                "check",
                "#16a34a",
                false,
                "{actor.name} completed \"{entity.name}\"",
            ),
        ),
        (
            "comment.created",
            t(
                "Comment",
                "message",
                "#64748b",
                false,
                "{actor.name} commented on \"{entity.name}\"",
            ),
        ),
        (
            "lead.high_intent",
            t("High-intent lead", "star", "#ea580c", true, "{entity.name} is showing high intent"),
        ),
        (
            "deploy.succeeded",
            t(
                "Deployed",
                "rocket",
                "#0d9488",
                false,
                "{actor.name} deployed {entity.name} {data.version}",
            ),
        ),
        (
            "deploy.failed",
            t(
                "Deploy failed",
                "alert",
                "#dc2626",
                true,
                "Deploy of {entity.name} {data.version} failed",
            ),
        ),
        (
            "call.inbound",
            t("Inbound call", "phone", "#0891b2", false, "Inbound call from {entity.name}"),
        ),
        // A coding agent's events keep Spine's own summaries (`Claude ran Bash "..." (2.3 s)`).
        ("agent.session.started", agent("Agent session started")),
        ("agent.prompt", agent("Agent prompt")),
        ("agent.tool.started", agent("Agent tool call")),
        ("agent.tool.finished", agent("Agent tool call")),
        (
            "agent.tool.failed",
            TypeInfo { color: Some("#dc2626".into()), ..agent("Agent tool failed") },
        ),
        ("agent.session.ended", agent("Agent session ended")),
        (
            "task.updated",
            t("Task updated", "edit", "#0284c7", false, "{actor.name} updated \"{entity.name}\""),
        ),
        (
            "lead.created",
            t("New lead", "users", "#c2410c", false, "{actor.name} added lead {entity.name}"),
        ),
        (
            "lead.stage_changed",
            t(
                "Lead stage",
                "zap",
                "#b45309",
                false,
                "{actor.name} moved {entity.name} to {data.state}",
            ),
        ),
        (
            "deploy.started",
            t(
                "Deploy started",
                "clock",
                "#0f766e",
                false,
                "{actor.name} started deploying {entity.name} {data.version}",
            ),
        ),
        (
            "call.completed",
            t(
                "Call ended",
                "phone",
                "#0e7490",
                false,
                "{actor.name} finished a call with {entity.name} ({data.duration_s} s)",
            ),
        ),
        (
            "invoice.paid",
            t("Invoice paid", "dollar", "#15803d", false, "{entity.name} paid an invoice"),
        ),
    ]
}

async fn register_types(store: &dyn Store, tenant: &TenantId) -> CliResult<()> {
    for (name, info) in demo_types() {
        let event_type = EventType::parse(name).map_err(CliError::new)?;
        store.put_type(tenant, &event_type, &info).await?;
    }
    Ok(())
}

/// A generated event through the same validation a posted one gets.
fn to_new_event(value: Value) -> Option<NewEvent> {
    let input: EventInput = serde_json::from_value(value).ok()?;
    input.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).ok()
}

/// Plays stories at random moments of the last three days, oldest first, so commit order
/// follows time; returns the number of events stored.
async fn seed(store: &dyn Store, tenant: &TenantId, world: &mut World) -> CliResult<usize> {
    let now = Timestamp::now();
    let mut rng = Rng::from_clock();
    let mut ages: Vec<u64> = (0..SEED_STORIES).map(|_| rng.range(120, 3 * 86_400)).collect();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    let events: Vec<NewEvent> = ages
        .into_iter()
        .flat_map(|age| world.step(now.plus_seconds(-(age as i64))))
        .filter_map(to_new_event)
        .collect();
    let n = events.len();
    for chunk in events.chunks(500) {
        store.append(tenant, chunk.to_vec()).await?;
    }
    Ok(n)
}

/// The queue rule that makes each inbound call a job of the `calls` queue.
async fn ensure_calls_rule(store: &dyn Store, tenant: &TenantId) -> CliResult<()> {
    let input: RuleInput = serde_json::from_value(
        serde_json::json!({"filter": {"type": "call.inbound"}, "queue": "calls"}),
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    let rule = QueueRule::parse("calls", input).map_err(|e| CliError::new(format!("{e:?}")))?;
    Ok(store.put_rule(tenant, &rule).await?)
}

/// The demo's "AI agent" worker: claims up to `limit` calls and completes each with a note on
/// the caller (one in eight fails first, and is retried after its backoff). Returns how many
/// it claimed.
async fn summarise_calls(
    store: &dyn Store,
    tenant: &TenantId,
    limit: u32,
    rng: &mut Rng,
) -> CliResult<usize> {
    let request = ClaimRequest {
        queue: "calls".to_owned(),
        limit,
        lease_micros: 60_000_000,
        worker: "call-summariser".to_owned(),
    };
    let claimed = store.claim(tenant, request).await?;
    if limit == 1 && !claimed.is_empty() {
        // Live, the job stays `processing` for a moment, as a model's call would keep it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    for record in &claimed {
        let lease = record.job.state.lease;
        let settle = match (&record.event, rng.chance(12) && limit == 1) {
            (Some(event), false) => {
                let caller = event.entity.clone().unwrap_or(Entity {
                    entity_type: "contact".into(),
                    id: "unknown".into(),
                    name: None,
                });
                let who = caller.name.clone().unwrap_or_else(|| caller.id.clone());
                let topic = *rng.pick(&[
                    "a quote for ten seats",
                    "a billing question",
                    "an outage report",
                    "an upgrade",
                ]);
                let body = format!(
                    "**{who}** called about {topic}.\n\n- Next step: call back within a day"
                );
                let note = NewNote {
                    id: Uuid::now_v7(),
                    entity: caller,
                    body,
                    author: Author {
                        id: "call-summariser".into(),
                        name: Some("Call summariser".into()),
                        kind: AuthorKind::Agent,
                    },
                    event_id: Some(event.id),
                    supersedes: None,
                    job_id: None,
                };
                let result = serde_json::json!({"topic": topic});
                Settle::Complete { lease, result: Some(result), note: Some(Box::new(note)) }
            }
            _ => Settle::Fail {
                lease,
                error: "the transcription service timed out".into(),
                retry_micros: Some(20_000_000),
                jitter: 0.5,
            },
        };
        if let Err(e) = store.settle(tenant, record.job.id, settle).await? {
            tracing::warn!(error = ?e, "demo: could not settle a job");
        }
    }
    Ok(claimed.len())
}

/// One story every 1-3 seconds, through the store (so streams see it like any other write),
/// and the demo's worker taking the calls' jobs a little later.
async fn live_activity(store: Arc<dyn Store>, tenant: TenantId, mut world: World) {
    let mut rng = Rng::from_clock();
    loop {
        tokio::time::sleep(Duration::from_millis(rng.range(1000, 3000))).await;
        let events: Vec<NewEvent> =
            world.step(Timestamp::now()).into_iter().filter_map(to_new_event).collect();
        if let Err(e) = store.append(&tenant, events).await {
            tracing::warn!(error = %e, "demo: could not store a live event");
        }
        if let Err(e) = summarise_calls(store.as_ref(), &tenant, 1, &mut rng).await {
            tracing::warn!(error = %e, "demo: the call summariser failed");
        }
    }
}

/// The server's URL as a browser on this machine opens it (0.0.0.0 is where the server
/// listens, not an address a browser can open).
fn browser_base(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    format!("http://{host}")
}

fn print_banner(base: &str, link: &str, db: &str, events: Seq, keys: &DemoKeys, channel: &str) {
    let example = r#"{"type":"task.created","action":"created","title":"Hello from curl","actor":{"id":"you","name":"You"},"entity":{"type":"task","id":"T-1","name":"Try spine"}}"#;
    println!("Spine demo is running (tenant \"demo\", {events} events, database {db}).");
    println!();
    println!("  Open          {link}");
    println!(
        "                (signs you in as {DEMO_USER}, an admin; the link works once, for an hour:"
    );
    println!("                 spine open --tenant demo --user {DEMO_USER} --role admin --db {db} makes another)");
    println!("  API docs      {base}/docs");
    println!();
    println!("  Read key      {}", keys.read);
    println!("  Ingest key    {}", keys.ingest);
    println!("  Admin key     {}", keys.admin);
    println!();
    println!("Post an event:");
    println!(
        "  curl -X POST {base}/v1/events -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{example}'",
        keys.ingest
    );
    println!();
    println!("Send a webhook to the demo's CRM channel (Admin > Channels and the ledger show it):");
    println!(
        "  curl -X POST {base}/v1/ingest/{channel} -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"id\":\"n-1\",\"subject\":\"Call Ana back about pricing\",\"contact\":\"c-17\"}}'",
        keys.ingest
    );
    println!();
    println!("A new event is generated every 1-3 seconds. Press Ctrl-C to stop.");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type the generator emits is registered, so each has its label, icon and colour.
    #[test]
    fn every_generated_type_is_registered() {
        let registered: Vec<&str> = demo_types().iter().map(|(name, _)| *name).collect();
        let mut world = World::new(Rng::from_clock(), 0);
        for _ in 0..2000 {
            for event in world.step(Timestamp::now()) {
                let event_type = event["type"].as_str().unwrap_or_default().to_owned();
                assert!(
                    registered.contains(&event_type.as_str()),
                    "{event_type} is not registered"
                );
            }
        }
    }

    #[test]
    fn demo_types_are_valid() {
        for (name, info) in demo_types() {
            assert!(EventType::parse(name).is_ok(), "{name}");
            assert!(info.validate().is_ok(), "{name}: {:?}", info.validate());
        }
    }

    /// The Activity Center draws icons from its own set; a name outside it would show a dot.
    #[test]
    fn demo_icons_are_in_the_activity_centers_icon_set() {
        let icons = include_str!("../../spine-server/web/embed/lib/icons.js");
        for (name, info) in demo_types() {
            let icon = info.icon.unwrap_or_default();
            assert!(icons.contains(&format!("\n  {icon}: [")), "{name}: icon {icon} is not drawn");
        }
    }
}
