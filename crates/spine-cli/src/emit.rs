//! `spine emit`: posts events to a running server. One event from flags (`--type`, `--title`...)
//! goes to `POST /v1/events`; without them, NDJSON from stdin goes in batches (see
//! [`crate::emit_stream`]).

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::problem::Problem;
use clap::Args;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Arguments of `spine emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// Server URL [default: http://127.0.0.1:7070]
    #[arg(long, env = "SPINE_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Ingest API key (prefer the SPINE_KEY variable: flags show in process lists)
    #[arg(long, env = "SPINE_KEY", hide_env_values = true, value_name = "KEY")]
    pub key: Option<String>,
    /// Read NDJSON events from stdin (the default when --type and --title are absent)
    #[arg(long)]
    pub stdin: bool,
    /// Events per batch when reading stdin, 1..=1000
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch_size: u16,
    /// Print the stored event (or, for stdin, the summary) as JSON
    #[arg(long)]
    pub json: bool,
    /// Event fields, for one event from flags.
    #[command(flatten)]
    pub event: EventFlags,
}

/// One event described by flags.
#[derive(Debug, Default, Args)]
pub struct EventFlags {
    /// Event type, e.g. task.created
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// One-line title
    #[arg(long)]
    pub title: Option<String>,
    /// created, updated, deleted, state_changed or custom
    #[arg(long)]
    pub action: Option<String>,
    /// Originating system [server default: api]
    #[arg(long, value_name = "SYSTEM")]
    pub source: Option<String>,
    /// The object's id in the originating system (derives an idempotency key)
    #[arg(long, value_name = "ID")]
    pub source_id: Option<String>,
    /// Actor id
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Actor display name
    #[arg(long, value_name = "NAME")]
    pub actor_name: Option<String>,
    /// user, agent, system or service
    #[arg(long, value_name = "KIND")]
    pub actor_kind: Option<String>,
    /// The thing acted on, TYPE:ID (e.g. task:T-42)
    #[arg(long, value_name = "TYPE:ID", value_parser = parse_entity)]
    pub entity: Option<(String, String)>,
    /// Entity display name
    #[arg(long, value_name = "NAME")]
    pub entity_name: Option<String>,
    /// Longer text
    #[arg(long)]
    pub description: Option<String>,
    /// A JSON object of free data
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub data: Option<Value>,
    /// Field changes as a JSON array of {field, old, new}
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub changes: Option<Value>,
    /// A tag; repeat for several
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// low, normal, high or urgent
    #[arg(long)]
    pub priority: Option<String>,
    /// Ties the events of one flow together
    #[arg(long, value_name = "ID")]
    pub correlation_id: Option<String>,
    /// The event that caused this one
    #[arg(long, value_name = "ID")]
    pub causation_id: Option<String>,
    /// When it happened, RFC 3339 [default: now]
    #[arg(long, value_name = "TIME")]
    pub occurred_at: Option<String>,
    /// When it expires, RFC 3339
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Makes retries safe: a repeat with the same key returns the original event
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `TYPE:ID` as a pair, for `--entity`.
pub fn parse_entity(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok((t.to_owned(), id.to_owned())),
        _ => Err("must be TYPE:ID, e.g. task:T-42".to_owned()),
    }
}

fn parse_json(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON: {e}"))
}

impl EventFlags {
    /// Whether any flag describes a single event.
    fn any(&self) -> bool {
        self.event_type.is_some() || self.title.is_some()
    }

    /// The JSON body of `POST /v1/events`. The server validates it; only absent flags are left out.
    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                e.insert(k.to_owned(), v);
            }
        };
        let s = |v: &Option<String>| v.clone().map(Value::String);
        put("type", s(&self.event_type));
        put("title", s(&self.title));
        put("action", s(&self.action));
        if self.source.is_some() || self.source_id.is_some() {
            let system = self.source.clone().unwrap_or_else(|| "api".to_owned());
            let mut source = json!({ "system": system });
            if let Some(id) = &self.source_id {
                source["object_id"] = json!(id);
            }
            put("source", Some(source));
        }
        if let Some(id) = &self.actor {
            let mut actor = json!({ "id": id });
            if let Some(name) = &self.actor_name {
                actor["name"] = json!(name);
            }
            if let Some(kind) = &self.actor_kind {
                actor["kind"] = json!(kind);
            }
            put("actor", Some(actor));
        }
        if let Some((entity_type, id)) = &self.entity {
            let mut entity = json!({ "type": entity_type, "id": id });
            if let Some(name) = &self.entity_name {
                entity["name"] = json!(name);
            }
            put("entity", Some(entity));
        }
        put("description", s(&self.description));
        put("data", self.data.clone());
        put("changes", self.changes.clone());
        if !self.tags.is_empty() {
            put("tags", Some(json!(self.tags)));
        }
        put("priority", s(&self.priority));
        put("correlation_id", s(&self.correlation_id));
        put("causation_id", s(&self.causation_id));
        put("occurred_at", s(&self.occurred_at));
        put("expires_at", s(&self.expires_at));
        put("idempotency_key", s(&self.idempotency_key));
        Value::Object(e)
    }
}

/// The HTTP client of `spine emit`: bounded connect and request times, so a dead server fails
/// the command instead of hanging it.
pub fn client() -> CliResult<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("spine-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// `base` joined with an absolute `path`.
pub fn endpoint(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Sends a request, turning a transport failure into a message that names the server.
pub async fn send(request: reqwest::RequestBuilder, base: &str) -> CliResult<reqwest::Response> {
    request
        .send()
        .await
        .map_err(|e| CliError::from(e).context(format!("cannot reach the server at {base}")))
}

/// Runs `spine emit`.
pub async fn run(args: EmitArgs, settings: &Settings) -> CliResult<()> {
    let key = settings.key.as_ref().map(|k| k.expose().to_owned()).ok_or_else(|| {
        CliError::new("no API key: set SPINE_KEY (or pass --key) to an ingest key")
    })?;
    let from_stdin = args.stdin || !args.event.any();
    if from_stdin {
        if args.event.any() {
            return Err(CliError::new(
                "--stdin reads events from stdin: leave out --type and --title",
            ));
        }
        let options = crate::emit_stream::StreamOptions {
            base: settings.url.clone(),
            key,
            batch_size: usize::from(args.batch_size),
            limits: settings.event_limits(),
            json: args.json,
        };
        return crate::emit_stream::run(options).await;
    }
    if args.event.event_type.is_none() || args.event.title.is_none() {
        return Err(CliError::new("one event from flags needs both --type and --title"));
    }
    emit_one(&settings.url, &key, &args.event.to_json(), args.json).await
}

async fn emit_one(base: &str, key: &str, event: &Value, json: bool) -> CliResult<()> {
    let request = client()?.post(endpoint(base, "/v1/events")).bearer_auth(key).json(event);
    let response = send(request, base).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Problem::from_response(response).await.into());
    }
    let stored: Value = response.json().await?;
    if json {
        println!("{stored}");
        return Ok(());
    }
    let what = if status == StatusCode::CREATED { "created" } else { "already stored (repeat)" };
    println!("{what}: event {} at seq {}", stored["id"].as_str().unwrap_or("?"), stored["seq"]);
    if let Some(summary) = stored["summary"].as_str() {
        println!("  {summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_wire_shape() {
        let flags = EventFlags {
            event_type: Some("task.created".into()),
            title: Some("Write docs".into()),
            actor: Some("ana".into()),
            actor_kind: Some("user".into()),
            entity: parse_entity("task:T-1").ok(),
            tags: vec!["docs".into()],
            data: parse_json(r#"{"x": 1}"#).ok(),
            ..EventFlags::default()
        };
        assert_eq!(
            flags.to_json(),
            json!({"type": "task.created", "title": "Write docs",
                   "actor": {"id": "ana", "kind": "user"},
                   "entity": {"type": "task", "id": "T-1"},
                   "tags": ["docs"], "data": {"x": 1}})
        );
        assert!(parse_entity("task").is_err());
        assert!(parse_json("{").is_err());
    }
}
