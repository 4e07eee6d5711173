//! Logging: `tracing` events to stderr, as text for people or JSON for collectors. Stdout stays
//! free for command output (JSON, NDJSON exports, keys).

use crate::config::LogFormat;
use crate::error::{CliError, CliResult};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `filter` (e.g. `info`, `spine_server=debug,warn`).
pub fn init(filter: &str, format: LogFormat) -> CliResult<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| CliError::new(format!("configuration: invalid log filter `{filter}`: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second install (only possible in tests) keeps the first subscriber; that is fine.
    drop(installed);
    Ok(())
}
