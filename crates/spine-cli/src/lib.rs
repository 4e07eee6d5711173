//! The `spine` command line (SPEC section 10). `main.rs` only calls [`main`]; each command group
//! lives in its own module:
//!
//! - [`config`]: layered settings (flags, `SPINE_*` variables, `spine.toml`, defaults).
//! - [`store`]: `open_store`, the one place a database URL becomes a migrated `Store`.
//! - [`logging`]: `tracing` to stderr, as text or JSON.
//! - [`serve`]: `spine serve` and `spine migrate`, with graceful shutdown on SIGTERM / Ctrl-C.
//! - [`tenant`]: `spine tenant create|list`, directly on the database.
//! - [`key`]: `spine key create|list|revoke`, directly on the database.
//! - [`emit`], [`emit_stream`] and [`problem`]: `spine emit`, posting events to a running server (one from flags, or
//!   NDJSON from stdin in batches), and the readable form of the server's problems.
//! - [`tail`]: `spine tail`, the live stream in the terminal, resuming across reconnects.
//! - [`transfer`]: `spine export` / `spine import`, NDJSON in commit order, in constant memory.
//! - [`demo`] and [`demo_data`]: `spine demo`, a server with a seeded tenant and live activity.
//! - [`bench`]: `spine bench`, the benchmark harness.
//! - [`error`]: `CliError`, the message a failed command prints.

#![warn(missing_docs)]

pub mod bench;
pub mod config;
pub mod demo;
pub mod demo_data;
pub mod emit;
pub mod emit_stream;
pub mod error;
pub mod key;
pub mod logging;
pub mod problem;
pub mod purge;
pub mod serve;
pub mod store;
pub mod tail;
pub mod tenant;
pub mod transfer;

use clap::{Args, Parser, Subcommand};
use config::{LogFormat, Overrides};
use error::CliResult;
use std::path::PathBuf;
use std::process::ExitCode;

/// `spine`: an activity event service in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "spine",
    version,
    about = "Spine: an activity event service in one binary",
    long_about = None
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts; each overrides the matching setting of every other layer.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./spine.toml when it exists]
    #[arg(long, global = true, env = "SPINE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH, sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DB [default: sqlite://./spine-data/spine.db]
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
    /// Log filter, e.g. `info` or `spine_server=debug,warn` [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format on stderr [default: text]
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first)
    Serve(serve::ServeArgs),
    /// Apply pending database migrations and exit
    Migrate,
    /// Create and list tenants (directly on the database)
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Create, list and revoke API keys (directly on the database)
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Post events to a running server: one from flags, or NDJSON from stdin
    Emit(Box<emit::EmitArgs>),
    /// Follow a tenant's activity live: coloured lines, or NDJSON with --json
    Tail(tail::TailArgs),
    /// Write a tenant's events as NDJSON, in commit order
    Export(transfer::ExportArgs),
    /// Read NDJSON events (from `spine export`) into a tenant
    Import(transfer::ImportArgs),
    /// Remove a tenant's events through a position (directly on the database)
    Purge(purge::PurgeArgs),
    /// Run a server with a seeded demo tenant and live generated activity
    Demo(demo::DemoArgs),
    /// Run the benchmark harness: every figure beside a baseline measured in the same run
    Bench(bench::BenchArgs),
}

impl Cli {
    /// The settings given as flags, global and per command.
    fn overrides(&self) -> Overrides {
        let mut o = Overrides {
            db: self.global.db.clone(),
            log: self.global.log.clone(),
            log_format: self.global.log_format,
            ..Overrides::default()
        };
        match &self.command {
            Command::Serve(a) => {
                o.listen.clone_from(&a.listen);
                if !a.cors_origins.is_empty() {
                    o.cors_origins = Some(a.cors_origins.clone());
                }
            }
            Command::Demo(a) => o.listen.clone_from(&a.listen),
            Command::Emit(a) => {
                o.url.clone_from(&a.url);
                o.key.clone_from(&a.key);
            }
            Command::Tail(a) => {
                o.url.clone_from(&a.url);
                o.key.clone_from(&a.key);
            }
            _ => {}
        }
        o
    }
}

/// Parses the command line, runs the command on a Tokio runtime, prints any error, and returns
/// the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the settings, installs logging and runs the command.
pub async fn run(cli: Cli) -> CliResult<()> {
    let settings = config::load(cli.global.config.as_ref(), &cli.overrides())?;
    // The benchmark's report goes to the terminal: at the default level, the servers and
    // migrations it starts would interleave their INFO lines with its rows.
    let log = match (&cli.command, settings.log.as_str()) {
        (Command::Bench(_), "info") if cli.global.log.is_none() => "warn",
        (_, log) => log,
    };
    logging::init(log, settings.log_format)?;
    match cli.command {
        Command::Serve(_) => serve::serve(&settings).await,
        Command::Migrate => serve::migrate(&settings).await,
        Command::Tenant(cmd) => tenant::run(cmd, &settings).await,
        Command::Key(cmd) => key::run(cmd, &settings).await,
        Command::Emit(args) => emit::run(*args, &settings).await,
        Command::Tail(args) => tail::run(args, &settings).await,
        Command::Export(args) => transfer::export(args, &settings).await,
        Command::Import(args) => transfer::import(args, &settings).await,
        Command::Purge(args) => purge::run(args, &settings).await,
        // The demo keeps its own database unless `--db` is given on the command line: a `db`
        // from spine.toml or SPINE_DB names the real one, which the demo must not seed.
        Command::Demo(args) => demo::run(args, &settings, cli.global.db.as_deref()).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
