//! Layered configuration (SPEC section 10): command-line flags win over `SPINE_*` environment
//! variables, which win over `spine.toml` (or `--config PATH`), which wins over the defaults here.

use crate::error::{CliError, CliResult};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "spine.toml";

/// Every setting, with its default. Field names are the keys of `spine.toml` and, upper-cased
/// behind `SPINE_`, the environment variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the server binds, `host:port`.
    pub listen: String,
    /// Database URL: `sqlite://PATH`, `sqlite:PATH` or a bare path (PostgreSQL comes later).
    pub db: String,
    /// Operator token for the tenant-administration routes; unset disables them.
    pub admin_token: Option<Secret>,
    /// Browser origins allowed by CORS; a list in TOML, comma-separated in the environment.
    #[serde(deserialize_with = "string_or_list")]
    pub cors_origins: Vec<String>,
    /// A `tracing` filter, e.g. `info` or `spine_server=debug,info`.
    pub log: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// The server `spine emit` talks to.
    pub url: String,
    /// The API key `spine emit` sends; never logged.
    pub key: Option<Secret>,
    /// Whether SQLite syncs every commit to disk (turning it off trades safety for speed).
    pub durable: bool,
    /// Read connections in the SQLite pool.
    pub read_connections: u32,
    /// PostgreSQL connection pool size (per node).
    pub db_max_connections: u32,
    /// Longest a PostgreSQL statement may run, in seconds.
    pub db_statement_timeout_seconds: u64,
    /// Largest accepted request body of a single event (and of the other small JSON bodies).
    pub max_event_body_bytes: usize,
    /// Most events in one `POST /v1/events/batch`.
    pub max_batch_events: usize,
    /// Largest request body of `POST /v1/events/batch`.
    pub max_batch_body_bytes: usize,
    /// Feed page size when `limit` is absent.
    pub page_size_default: u32,
    /// Largest accepted `limit`.
    pub page_size_max: u32,
    /// Characters of an event's `title`.
    pub max_title_chars: usize,
    /// Bytes of an event's `description`.
    pub max_description_bytes: usize,
    /// Bytes of an event's `data` (and `changes`).
    pub max_data_bytes: usize,
    /// Tags per event.
    pub max_tags: usize,
    /// Characters per tag.
    pub max_tag_chars: usize,
    /// Characters of an idempotency key.
    pub max_idempotency_key_chars: usize,
    /// A PEM certificate chain: the server speaks HTTPS (with `tls_key`), reloading it on change.
    pub tls_cert: Option<String>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// Open connections on this node; at the cap no more are accepted until one closes.
    pub max_connections: usize,
    /// Seconds a connection may take to send a request's head, or wait idle between requests.
    pub header_read_timeout_seconds: u64,
    /// Seconds a request body may send nothing before the request is answered 408.
    pub body_read_timeout_seconds: u64,
    /// Open live streams (SSE plus WebSockets) on this node; more get a 503.
    pub max_streams: usize,
    /// Open live streams of one tenant on this node; more get a 429.
    pub max_streams_per_tenant: usize,
    /// Seconds a subscriber may stay behind the log before it is told to resume.
    pub stream_max_lag_seconds: u64,
    /// Recent events per watched tenant kept in memory for live readers.
    pub stream_tail_events: usize,
    /// Subscriptions on one WebSocket.
    pub ws_max_subscriptions: usize,
    /// Seconds between keep-alives on idle streams.
    pub stream_keep_alive_seconds: u64,
    /// The base URL people and providers reach the server at (sign-in links; an `https` URL
    /// marks the session cookie `Secure`); unset: `http://` plus `listen`.
    pub public_url: Option<String>,
    /// How long an Activity Center session lasts after sign-in, in seconds.
    pub session_ttl_seconds: u64,
    /// Largest body a provider may send to `POST /v1/ingest/{channel}`.
    pub max_ingest_body_bytes: usize,
    /// Most body bytes an ingest ledger entry keeps (an entry cut shorter cannot be replayed).
    pub ledger_body_bytes: usize,
    /// Days ingest ledger entries are kept.
    pub ledger_retention_days: u64,
    /// Region (ISO 3166 alpha-2, e.g. `US`) phone numbers without `+` are read in.
    pub default_phone_region: Option<String>,
    /// Largest file one upload part may hold.
    pub max_file_bytes: usize,
    /// How long a file upload may take in all, in seconds.
    pub upload_timeout_seconds: u64,
    /// Whether outbound webhooks may target loopback, private and link-local addresses.
    pub webhook_allow_private: bool,
    /// Days webhook delivery attempts are kept.
    pub webhook_log_retention_days: u64,
    /// Every tenant's default rate limits and quotas, and the most a tenant's admin may set
    /// unless the operator gives the tenant a ceiling of its own: a `[limits]` table
    /// (`writes_per_second`, `write_burst`, `write_bytes_per_second`, `reads_per_second`,
    /// `read_burst`, `key_writes_per_second`, `key_write_bytes_per_second`,
    /// `key_reads_per_second`, `ingest_per_second`, `ingest_burst`, `max_events`,
    /// `max_blob_bytes`); empty: no limits.
    pub limits: spine_core::limits::LimitsInput,
}

/// The keys above, so an unrelated `SPINE_*` variable (such as `SPINE_CONFIG`) is not mistaken
/// for a setting and rejected as unknown.
pub(crate) const KEYS: &[&str] = &[
    "listen",
    "db",
    "admin_token",
    "cors_origins",
    "log",
    "log_format",
    "url",
    "key",
    "durable",
    "read_connections",
    "db_max_connections",
    "db_statement_timeout_seconds",
    "max_event_body_bytes",
    "max_batch_events",
    "max_batch_body_bytes",
    "page_size_default",
    "page_size_max",
    "max_title_chars",
    "max_description_bytes",
    "max_data_bytes",
    "max_tags",
    "max_tag_chars",
    "max_idempotency_key_chars",
    "tls_cert",
    "tls_key",
    "max_connections",
    "header_read_timeout_seconds",
    "body_read_timeout_seconds",
    "max_streams",
    "max_streams_per_tenant",
    "stream_max_lag_seconds",
    "stream_tail_events",
    "ws_max_subscriptions",
    "stream_keep_alive_seconds",
    "public_url",
    "session_ttl_seconds",
    "max_ingest_body_bytes",
    "ledger_body_bytes",
    "ledger_retention_days",
    "default_phone_region",
    "max_file_bytes",
    "upload_timeout_seconds",
    "webhook_allow_private",
    "webhook_log_retention_days",
    "limits",
];

impl Default for Settings {
    fn default() -> Self {
        let limits = spine_core::input::EventLimits::default();
        Self {
            listen: "127.0.0.1:7070".to_owned(),
            db: "sqlite://./spine-data/spine.db".to_owned(),
            admin_token: None,
            cors_origins: Vec::new(),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            url: "http://127.0.0.1:7070".to_owned(),
            key: None,
            durable: true,
            read_connections: 4,
            db_max_connections: 16,
            db_statement_timeout_seconds: 30,
            max_event_body_bytes: 1024 * 1024,
            max_batch_events: 1000,
            max_batch_body_bytes: 16 * 1024 * 1024,
            page_size_default: 30,
            page_size_max: 100,
            max_title_chars: limits.title_chars,
            max_description_bytes: limits.description_bytes,
            max_data_bytes: limits.data_bytes,
            max_tags: limits.tags,
            max_tag_chars: limits.tag_chars,
            max_idempotency_key_chars: limits.idempotency_key_chars,
            tls_cert: None,
            tls_key: None,
            max_connections: 32_768,
            header_read_timeout_seconds: 30,
            body_read_timeout_seconds: 30,
            max_streams: 10_000,
            max_streams_per_tenant: 2_000,
            stream_max_lag_seconds: 60,
            stream_tail_events: 10_000,
            ws_max_subscriptions: 32,
            stream_keep_alive_seconds: 15,
            public_url: None,
            session_ttl_seconds: 12 * 3600,
            max_ingest_body_bytes: 1024 * 1024,
            ledger_body_bytes: 1024 * 1024,
            ledger_retention_days: 30,
            default_phone_region: None,
            max_file_bytes: 50 * 1024 * 1024,
            upload_timeout_seconds: 600,
            webhook_allow_private: false,
            webhook_log_retention_days: 30,
            limits: spine_core::limits::LimitsInput::default(),
        }
    }
}

impl Settings {
    /// The per-event bounds, as the core validates them.
    pub fn event_limits(&self) -> spine_core::input::EventLimits {
        spine_core::input::EventLimits {
            title_chars: self.max_title_chars,
            description_bytes: self.max_description_bytes,
            data_bytes: self.max_data_bytes,
            tags: self.max_tags,
            tag_chars: self.max_tag_chars,
            idempotency_key_chars: self.max_idempotency_key_chars,
        }
    }

    /// Refuses combinations that would make the server misbehave rather than fail loudly.
    fn check(&self) -> CliResult<()> {
        let mut problems = Vec::new();
        if self.page_size_default == 0 || self.page_size_default > self.page_size_max {
            problems.push("page_size_default must be between 1 and page_size_max");
        }
        if self.max_batch_events == 0 {
            problems.push("max_batch_events must be at least 1");
        }
        if self.session_ttl_seconds == 0 {
            problems.push("session_ttl_seconds must be at least 1");
        }
        if self.public_url.as_deref().is_some_and(|u| {
            !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(char::is_whitespace)
        }) {
            problems.push("public_url must be an http:// or https:// URL");
        }
        if self.stream_max_lag_seconds == 0 || self.stream_keep_alive_seconds == 0 {
            problems
                .push("stream_max_lag_seconds and stream_keep_alive_seconds must be at least 1");
        }
        if self.max_event_body_bytes < 1024 || self.max_batch_body_bytes < 1024 {
            problems.push("max_event_body_bytes and max_batch_body_bytes must be at least 1024");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            problems.push("tls_cert and tls_key must be given together");
        }
        if self.read_connections == 0 {
            problems.push("read_connections must be at least 1");
        }
        if self.max_file_bytes < 1024 || self.upload_timeout_seconds == 0 {
            problems
                .push("max_file_bytes must be at least 1024 and upload_timeout_seconds at least 1");
        }
        if self.webhook_log_retention_days == 0 {
            problems.push("webhook_log_retention_days must be at least 1");
        }
        if self.max_ingest_body_bytes < 1024 || self.ledger_retention_days == 0 {
            problems.push(
                "max_ingest_body_bytes must be at least 1024 and ledger_retention_days at least 1",
            );
        }
        if self
            .default_phone_region
            .as_deref()
            .is_some_and(|r| spine_core::identifier::Region::parse(r).is_err())
        {
            problems.push("default_phone_region must be a region code such as US, GB or DE");
        }
        if self.db_max_connections < 2 || self.db_statement_timeout_seconds == 0 {
            problems.push(
                "db_max_connections must be at least 2 and db_statement_timeout_seconds at least 1",
            );
        }
        let limits = self.limits.validate().err().map(|e| format!("limits: {e}"));
        if problems.is_empty() && limits.is_none() {
            Ok(())
        } else {
            let mut problems: Vec<String> = problems.into_iter().map(str::to_owned).collect();
            problems.extend(limits);
            Err(CliError::new(format!("configuration: {}", problems.join("; "))))
        }
    }
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret setting: kept out of `Debug` output so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Accepts `["a", "b"]` (TOML) as well as `"a,b"` (an environment variable).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        }
        OneOrMany::Many(v) => v,
    })
}

/// Settings given as flags; only those present override the other layers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--db`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// `--log`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// `--log-format`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--cors-origin`, repeatable
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// `--url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `--tls-cert`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// `--tls-key`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// `--key`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Reads the layers in order. `config` is `--config`: when given, the file must exist.
pub fn load(config: Option<&PathBuf>, overrides: &Overrides) -> CliResult<Settings> {
    let file = match config {
        Some(path) if !path.is_file() => {
            return Err(CliError::new(format!(
                "configuration file {} does not exist",
                path.display()
            )));
        }
        Some(path) => path.clone(),
        None => PathBuf::from(DEFAULT_CONFIG_FILE),
    };
    let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::file(file))
        .merge(Env::prefixed("SPINE_").only(KEYS))
        .merge(Serialized::defaults(overrides))
        .extract()?;
    settings.check()?;
    Ok(settings)
}

#[cfg(test)]
// `figment::Jail` closures return figment's own (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_environment_over_file_over_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "spine.toml",
                "listen = \"0.0.0.0:1\"\ndb = \"file.db\"\nlog = \"warn\"",
            )?;
            jail.set_env("SPINE_DB", "env.db");
            jail.set_env("SPINE_CORS_ORIGINS", "http://a, http://b");
            let flags = Overrides { log: Some("debug".to_owned()), ..Default::default() };
            let s = load(None, &flags).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "0.0.0.0:1");
            assert_eq!(s.db, "env.db");
            assert_eq!(s.log, "debug");
            assert_eq!(s.cors_origins, ["http://a", "http://b"]);
            assert_eq!(s.page_size_max, 100);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("spine.toml", "lisen = \"0.0.0.0:1\"")?;
            let err = load(None, &Overrides::default()).err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("lisen")));
            Ok(())
        });
    }

    #[test]
    fn default_limits_come_from_a_table_or_the_environment_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("spine.toml", "[limits]\nwrites_per_second = 500\nmax_events = 9")?;
            let s = load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!((s.limits.writes_per_second, s.limits.max_events), (Some(500), Some(9)));
            jail.set_env("SPINE_LIMITS", "{reads_per_second=20}");
            let s = load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.limits.reads_per_second, Some(20));
            jail.set_env("SPINE_LIMITS", "{reads_per_second=0}");
            let err = load(None, &Overrides::default()).err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("reads_per_second")));
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings { admin_token: Some(Secret("hunter2".to_owned())), ..Default::default() };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
