//! `spine tail`: a live, filterable tail of a tenant's activity from `GET /v1/stream`, one
//! coloured line per event (or NDJSON with `--json`), resuming with `Last-Event-ID` across
//! server restarts and network drops so that no event is printed twice or skipped.

use crate::config::Settings;
use crate::emit::{endpoint, parse_entity};
use crate::error::{CliError, CliResult};
use crate::problem::Problem;
use clap::Args;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// The first wait before reconnecting; doubled after each failed attempt.
const BACKOFF_START: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Arguments of `spine tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Server URL [default: http://127.0.0.1:7070]
    #[arg(long, env = "SPINE_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Read or admin API key, or a viewer token (prefer the SPINE_KEY variable)
    #[arg(long, env = "SPINE_KEY", hide_env_values = true, value_name = "KEY")]
    pub key: Option<String>,
    /// Only this event type; `task.*` for a prefix; repeat for several
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only this action (created, updated, deleted, state_changed, custom)
    #[arg(long)]
    pub action: Option<String>,
    /// Only events from this originating system
    #[arg(long, value_name = "SYSTEM")]
    pub source: Option<String>,
    /// Only events by this actor id
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Only events about this entity, TYPE:ID (e.g. task:T-42)
    #[arg(long, value_name = "TYPE:ID", value_parser = parse_entity)]
    pub entity: Option<(String, String)>,
    /// Only events with this tag; repeat for several (all must match)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only events of this priority (low, normal, high, urgent)
    #[arg(long)]
    pub priority: Option<String>,
    /// Full-text search over title, description, actor and entity names
    #[arg(long, value_name = "TEXT")]
    pub q: Option<String>,
    /// Start after this position [default: the live end]
    #[arg(long, value_name = "SEQ")]
    pub after: Option<u64>,
    /// Print each event as one line of JSON (NDJSON), nothing else on stdout
    #[arg(long)]
    pub json: bool,
}

impl TailArgs {
    /// The stream's query string: the feed's filters.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = Vec::new();
        q.extend(self.types.iter().map(|t| ("type", t.clone())));
        let single = [
            ("action", &self.action),
            ("source", &self.source),
            ("actor", &self.actor),
            ("priority", &self.priority),
            ("q", &self.q),
        ];
        q.extend(single.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))));
        if let Some((entity_type, id)) = &self.entity {
            q.push(("entity_type", entity_type.clone()));
            q.push(("entity_id", id.clone()));
        }
        q.extend(self.tags.iter().map(|t| ("tag", t.clone())));
        q
    }
}

/// Why one connection ended.
enum End {
    /// Worth reconnecting: a drop, a connection error, a 5xx, or a server-ended stream.
    Retry(String),
    /// Stop with this error: a 4xx, an expired token, unreadable output from the server.
    Fail(CliError),
    /// Stop quietly: whoever reads our stdout has gone (e.g. `spine tail | head`).
    Quit,
}

/// What survives reconnections.
struct Tail {
    /// One client, so connections are reused; no total timeout, the stream is endless.
    client: reqwest::Client,
    /// The server's base URL.
    base: String,
    /// The credential sent as a bearer token.
    key: String,
    /// The filters, sent on every connection.
    query: Vec<(&'static str, String)>,
    /// The last position printed; sent as `Last-Event-ID` so the server resumes right after it.
    last: Option<u64>,
    /// NDJSON instead of human lines.
    json: bool,
    /// ANSI colours, only for a terminal.
    colour: bool,
}

/// Runs `spine tail` until Ctrl-C (exit 0) or an error that retrying cannot fix.
pub async fn run(args: TailArgs, settings: &Settings) -> CliResult<()> {
    let key = settings.key.as_ref().map(|k| k.expose().to_owned()).ok_or_else(|| {
        CliError::new("no API key: set SPINE_KEY (or pass --key) to a read key or viewer token")
    })?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("spine-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let mut tail = Tail {
        client,
        base: settings.url.clone(),
        key,
        query: args.query(),
        last: args.after,
        json: args.json,
        colour: !args.json && std::io::stdout().is_terminal(),
    };
    // Ctrl-C is the normal way out; if its handler cannot be installed, run until killed.
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = tail.follow() => result,
        () = interrupted => Ok(()),
    }
}

impl Tail {
    /// Connects, prints, and reconnects with backoff until told to stop.
    async fn follow(&mut self) -> CliResult<()> {
        let mut delay = BACKOFF_START;
        loop {
            let (connected, end) = self.connect_once().await;
            if connected {
                delay = BACKOFF_START;
            }
            match end {
                End::Fail(e) => return Err(e),
                End::Quit => return Ok(()),
                End::Retry(why) => {
                    eprintln!("spine tail: {why}; reconnecting in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// One connection: `true` once the server accepted it, and why it ended.
    async fn connect_once(&mut self) -> (bool, End) {
        let mut request = self
            .client
            .get(endpoint(&self.base, "/v1/stream"))
            .bearer_auth(&self.key)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .query(&self.query);
        if let Some(seq) = self.last {
            request = request.header("Last-Event-ID", seq.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return (false, End::Retry(format!("cannot reach {}: {}", self.base, root(&e))))
            }
        };
        let status = response.status();
        if !status.is_success() {
            let problem = Problem::from_response(response).await;
            // Too many streams and server trouble pass; any other refusal will not.
            let passing = status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT;
            let end =
                if passing { End::Retry(problem.to_string()) } else { End::Fail(problem.into()) };
            return (false, end);
        }
        let mut events = response.bytes_stream().eventsource();
        while let Some(message) = events.next().await {
            let message = match message {
                Ok(message) => message,
                Err(EventStreamError::Transport(e)) => {
                    let why = CliError::from(e).context("the connection dropped");
                    return (true, End::Retry(why.to_string()));
                }
                Err(e) => return (true, End::Retry(format!("the stream broke off: {e}"))),
            };
            match message.event.as_str() {
                "activity" => {
                    if let Err(end) = self.print(&message.id, &message.data) {
                        return (true, end);
                    }
                }
                // The stream's starting position: resume from here if the connection drops
                // before the first event.
                "position" if self.last.is_none() => self.last = message.id.trim().parse().ok(),
                "error" => return (true, stream_error(&message.data)),
                "reset" => {
                    eprintln!(
                        "spine tail: the resume point is older than the server keeps (or beyond \
                         its log); some events are no longer available, continuing live"
                    );
                    // The stream continues from the reset's id; resume from there next time.
                    self.last = message.id.trim().parse().ok().or(self.last);
                }
                _ => {}
            }
        }
        (true, End::Retry("the server closed the stream".to_owned()))
    }

    /// Prints one `activity` message unless it was printed already.
    fn print(&mut self, id: &str, data: &str) -> Result<(), End> {
        let seq: u64 = id.trim().parse().map_err(|_| {
            End::Fail(CliError::new(format!("the server sent an event with a bad id {id:?}")))
        })?;
        if self.last.is_some_and(|last| seq <= last) {
            return Ok(());
        }
        let line = if self.json {
            data.to_owned()
        } else {
            let event: Value = serde_json::from_str(data).map_err(|e| {
                End::Fail(CliError::new(format!("the server sent unreadable event {seq}: {e}")))
            })?;
            human_line(seq, &event, self.colour)
        };
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => {
                self.last = Some(seq);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(End::Quit),
            Err(e) => Err(End::Fail(CliError::from(e).context("writing to stdout"))),
        }
    }
}

/// The innermost cause of an error, e.g. `Connection refused (os error 111)`: the short reason.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `event: error`: an expired token ends the tail; anything else is worth a reconnect.
fn stream_error(data: &str) -> End {
    let body: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or("unknown");
    let detail = body["detail"].as_str().unwrap_or(data);
    if code == "token-expired" {
        End::Fail(CliError::new(format!("the server ended the stream: {detail}")))
    } else {
        End::Retry(format!("the server ended the stream ({code}): {detail}"))
    }
}

/// `12:04:31  #413  task.created  Ana created task "Update docs"  [docs]`, with the UTC time
/// of `occurred_at`; high and urgent priorities are marked, in colour when `colour`.
pub fn human_line(seq: u64, event: &Value, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let time = event["occurred_at"].as_str().map_or_else(|| "--:--:--".to_owned(), utc_clock);
    let kind = clean(event["type"].as_str().unwrap_or("?"));
    let summary = event["summary"].as_str().or_else(|| event["title"].as_str()).unwrap_or("");
    let mut line = format!(
        "{}  {}  {}  {}",
        paint("2", &time),
        paint("2", &format!("#{seq}")),
        paint("36", &kind),
        clean(summary)
    );
    let tags: Vec<String> = event["tags"]
        .as_array()
        .map(|tags| tags.iter().filter_map(Value::as_str).map(clean).collect())
        .unwrap_or_default();
    if !tags.is_empty() {
        line.push_str(&format!("  {}", paint("34", &format!("[{}]", tags.join(", ")))));
    }
    match event["priority"].as_str() {
        Some("urgent") => line.push_str(&format!("  {}", paint("1;31", "!urgent"))),
        Some("high") => line.push_str(&format!("  {}", paint("1;33", "!high"))),
        _ => {}
    }
    line
}

/// `HH:MM:SS` in UTC of an RFC 3339 time; the text itself when it does not parse.
fn utc_clock(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
        }
        Err(_) => clean(rfc3339),
    }
}

/// Event text with control characters replaced, so an event cannot drive the terminal.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_human_line_shows_time_seq_type_summary_tags_and_priority() {
        let event = json!({"type": "task.created", "summary": "Ana created task \"Update docs\"",
            "occurred_at": "2026-01-31T12:04:31.123456Z", "tags": ["docs"], "priority": "normal"});
        assert_eq!(
            human_line(413, &event, false),
            "12:04:31  #413  task.created  Ana created task \"Update docs\"  [docs]"
        );
        let urgent = json!({"type": "x.y", "summary": "a\x1b[2Jb",
            "occurred_at": "2026-01-31T13:00:00+01:00", "tags": [], "priority": "urgent"});
        assert_eq!(human_line(1, &urgent, false), "12:00:00  #1  x.y  a [2Jb  !urgent");
        assert!(human_line(1, &urgent, true).contains("\x1b[1;31m!urgent\x1b[0m"));
    }

    #[test]
    fn filters_become_the_stream_query() {
        let args = TailArgs {
            url: None,
            key: None,
            types: vec!["task.*".into(), "lead.created".into()],
            action: Some("created".into()),
            source: None,
            actor: None,
            entity: parse_entity("task:T-1").ok(),
            tags: vec!["docs".into()],
            priority: None,
            q: None,
            after: None,
            json: true,
        };
        let query = args.query();
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            q,
            [
                ("type", "task.*"),
                ("type", "lead.created"),
                ("action", "created"),
                ("entity_type", "task"),
                ("entity_id", "T-1"),
                ("tag", "docs"),
            ]
        );
    }

    #[test]
    fn only_an_expired_token_ends_the_tail() {
        let expired =
            stream_error(r#"{"error":"token-expired","detail":"the viewer token has expired"}"#);
        assert!(matches!(expired, End::Fail(e) if e.to_string().contains("expired")));
        assert!(matches!(stream_error(r#"{"error":"unavailable","detail":"x"}"#), End::Retry(_)));
    }
}
