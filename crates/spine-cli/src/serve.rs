//! `spine serve` and `spine migrate`: the server's lifecycle from the command line, including the
//! mapping of settings onto `ServerConfig` and graceful shutdown on SIGTERM or Ctrl-C.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::{open_store, redact_db_url};
use clap::Args;
use spine_core::filter::PageLimits;
use spine_server::ServerConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Arguments of `spine serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, `host:port` (port 0 picks a free one) [default: 127.0.0.1:7070]
    #[arg(long, env = "SPINE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Browser origin allowed by CORS; repeat for several (comma-separated in the variable)
    #[arg(long = "cors-origin", env = "SPINE_CORS_ORIGINS", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); reloaded when it changes
    #[arg(long, env = "SPINE_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// The private key of `--tls-cert` (PEM)
    #[arg(long, env = "SPINE_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<String>,
}

/// The server's configuration from the settings (SPEC section 11 limits included).
pub fn server_config(settings: &Settings) -> ServerConfig {
    ServerConfig {
        cors_origins: settings.cors_origins.clone(),
        admin_token: settings.admin_token.as_ref().map(|t| t.expose().to_owned()),
        max_event_body_bytes: settings.max_event_body_bytes,
        max_batch_events: settings.max_batch_events,
        max_batch_body_bytes: settings.max_batch_body_bytes,
        event_limits: settings.event_limits(),
        page: PageLimits { default: settings.page_size_default, max: settings.page_size_max },
        max_connections: settings.max_connections,
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_seconds),
        body_read_timeout: Duration::from_secs(settings.body_read_timeout_seconds),
        default_limits: settings.limits,
        max_streams: settings.max_streams,
        max_streams_per_tenant: settings.max_streams_per_tenant,
        stream_max_lag: Duration::from_secs(settings.stream_max_lag_seconds),
        stream_tail_events: settings.stream_tail_events,
        ws_max_subscriptions: settings.ws_max_subscriptions,
        stream_keep_alive: Duration::from_secs(settings.stream_keep_alive_seconds),
        session_ttl: Duration::from_secs(settings.session_ttl_seconds),
        public_url: settings.public_url.clone(),
        max_ingest_body_bytes: settings.max_ingest_body_bytes,
        ledger_body_bytes: settings.ledger_body_bytes,
        ledger_retention: Duration::from_secs(settings.ledger_retention_days * 86_400),
        max_file_bytes: settings.max_file_bytes,
        upload_timeout: Duration::from_secs(settings.upload_timeout_seconds),
        webhook_allow_private: settings.webhook_allow_private,
        webhook_log_retention: Duration::from_secs(settings.webhook_log_retention_days * 86_400),
        default_phone_region: settings
            .default_phone_region
            .as_deref()
            .and_then(|r| spine_core::identifier::Region::parse(r).ok())
            .map(|r| r.as_str().to_owned()),
        tls: match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => {
                Some(spine_server::tls::TlsFiles { cert: cert.into(), key: key.into() })
            }
            _ => None,
        },
        ..ServerConfig::default()
    }
}

/// Binds `addr`, with an error that says which address could not be used.
pub async fn bind(addr: &str) -> CliResult<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Migrates, then serves until SIGTERM or Ctrl-C. The first line on stdout is
/// `listening on http://ADDR` (`https://` with TLS), so scripts and tests can find a port-0 server.
pub async fn serve(settings: &Settings) -> CliResult<()> {
    raise_file_limit();
    let opened = open_store(&settings.db, settings).await?;
    tracing::info!(db = %redact_db_url(&settings.db), "database ready");
    let (listener, addr) = bind(&settings.listen).await?;
    let scheme = if settings.tls_cert.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    let result = spine_server::run(
        listener,
        opened.store.clone(),
        server_config(settings),
        shutdown_signal(),
    )
    .await;
    opened.close().await;
    result.map_err(|e| CliError::new(format!("server: {e}")))?;
    tracing::info!("spine stopped");
    Ok(())
}

/// Raises this process's soft limit on open files to its hard limit (the soft one is often
/// 1,024, far below `max_connections`), as servers commonly do; `spine doctor` checks the hard
/// limit against the configured connections.
fn raise_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(maximum)) = (limit.current, limit.maximum) else { return };
    if current >= maximum {
        return;
    }
    let raised = Rlimit { current: Some(maximum), maximum: Some(maximum) };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(from = current, to = maximum, "raised the open file limit"),
        Err(e) => tracing::warn!(error = %e, current, "the open file limit could not be raised"),
    }
}

/// Opens the database, which applies pending migrations, and closes it.
pub async fn migrate(settings: &Settings) -> CliResult<()> {
    let opened = open_store(&settings.db, settings).await?;
    opened.close().await;
    println!("database {} is migrated", redact_db_url(&settings.db));
    Ok(())
}

/// Resolves on the first Ctrl-C or SIGTERM. A signal that cannot be installed just never fires.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
