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
//! - [`open`]: `spine open`, a one-time sign-in URL for the Activity Center.
//! - [`tail`]: `spine tail`, the live stream in the terminal, resuming across reconnects.
//! - [`work`]: `spine work`, a worker process running a command per claimed job.
//! - [`profile`], [`hook`] and [`hook_settings`]: `spine login` and `spine hook`, a coding
//!   agent's hook calls relayed to Spine (spooled while the server cannot be reached), and the
//!   hooks written into Claude Code's settings.
//! - [`transfer`]: `spine export` / `spine import`, NDJSON in commit order, in constant memory.
//! - [`demo`] and [`demo_data`]: `spine demo`, a server with a seeded tenant and live activity.
//! - [`bench`]: `spine bench`, the benchmark harness.
//! - [`error`]: `CliError`, the message a failed command prints.

#![warn(missing_docs)]

pub mod backup;
pub mod bench;
pub mod config;
pub mod demo;
pub mod demo_data;
pub mod doctor;
pub mod emit;
pub mod emit_stream;
pub mod error;
pub mod hook;
pub mod hook_settings;
pub mod key;
pub mod logging;
pub mod open;
pub mod problem;
pub mod profile;
pub mod purge;
pub mod serve;
pub mod store;
pub mod tail;
pub mod tenant;
pub mod transfer;
pub mod work;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use config::{LogFormat, Overrides};
use error::CliResult;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// `spine`: an activity event service in one binary.
///
/// Parse it with [`Cli::try_parse_args`] rather than clap's `Cli::parse`: see there why.
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
    // The variable's value is not shown: a PostgreSQL URL may hold a password.
    #[arg(long, global = true, env = "SPINE_DB", hide_env_values = true, value_name = "URL")]
    pub db: Option<String>,
    /// Log filter, e.g. `info` or `spine_server=debug,warn` [default: info]
    #[arg(long, global = true, env = "SPINE_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format on stderr [default: text]
    #[arg(long, global = true, env = "SPINE_LOG_FORMAT", value_enum)]
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
    /// Claim jobs from a queue and run a command for each (a worker process)
    Work(Box<work::WorkArgs>),
    /// Store the server, key and channel that `spine hook` uses (in your profile, mode 0600)
    Login(profile::LoginArgs),
    /// Relay a coding agent's hook calls to Spine, and install or remove its hooks
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// Write a tenant's events as NDJSON, in commit order
    Export(transfer::ExportArgs),
    /// Read NDJSON events (from `spine export`) into a tenant
    Import(transfer::ImportArgs),
    /// Remove a tenant's events through a position (directly on the database)
    Purge(purge::PurgeArgs),
    /// Check a deployment (database, migrations, disk, clock, file limit, TLS files) and say what to fix
    Doctor(doctor::DoctorArgs),
    /// Write a consistent, compressed, checksummed backup of a SQLite store (while it serves)
    Backup(backup::BackupArgs),
    /// Put a backup from `spine backup` back as the database at --db
    Restore(backup::RestoreArgs),
    /// Print a one-time sign-in URL for the Activity Center (directly on the database)
    Open(open::OpenArgs),
    /// Run a server with a seeded demo tenant and live generated activity
    #[command(arg = demo_db_arg())]
    Demo(demo::DemoArgs),
    /// Run the benchmark harness: every figure beside a baseline measured in the same run
    Bench(bench::BenchArgs),
}

/// The demo's own `--db`, in place of the global flag, whose help names SPINE_DB: the demo reads
/// neither SPINE_DB nor spine.toml's `db`, which name the real database, so that it never seeds
/// it (see [`run`]). A value typed here still reaches `GlobalArgs::db`, as clap propagates a
/// subcommand's value for a global flag's id up to the flag.
fn demo_db_arg() -> clap::Arg {
    clap::Arg::new("db")
        .long("db")
        .value_name("URL")
        .value_parser(clap::value_parser!(String))
        .help(format!(
            "Database URL for the demo [default: {}] (SPINE_DB and spine.toml are not read: \
             they name the real database, which the demo must not seed)",
            demo::DEMO_DB
        ))
}

impl Cli {
    /// Parses a command line (`args[0]` is the program's name), as `main` does.
    ///
    /// Each flag that stands for a setting names its `SPINE_*` variable (clap's `env`), so that
    /// `--help` shows it beside the flag. That also makes clap read the variable, but the
    /// variables are [`config::load`]'s to read, in their place in the layers: flags, then
    /// `SPINE_*` variables, then `spine.toml`, then defaults. So a value clap took from the
    /// environment is forgotten here, and the parsed fields hold only what was typed: the
    /// layering stays figment's alone, the demo still uses its own database unless `--db` is
    /// typed, and `spine bench` never mistakes `SPINE_DB` (which reaches its own `--db` through
    /// the global flag) for a PostgreSQL server to measure.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let mut cli = Self::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        cli.forget_environment(&matches);
        Ok(cli)
    }

    /// Clears every field whose value came from a `SPINE_*` variable rather than a flag.
    /// (`--config` is the exception: `SPINE_CONFIG` is read by clap alone, as the layers'
    /// file cannot name itself.)
    fn forget_environment(&mut self, matches: &ArgMatches) {
        fn forget<T>(field: &mut Option<T>, matches: &ArgMatches, id: &str) {
            if matches.value_source(id) == Some(ValueSource::EnvVariable) {
                *field = None;
            }
        }
        forget(&mut self.global.db, matches, "db");
        forget(&mut self.global.log, matches, "log");
        forget(&mut self.global.log_format, matches, "log_format");
        let Some((_, sub)) = matches.subcommand() else {
            return;
        };
        match &mut self.command {
            Command::Serve(a) => {
                forget(&mut a.listen, sub, "listen");
                forget(&mut a.tls_cert, sub, "tls_cert");
                forget(&mut a.tls_key, sub, "tls_key");
                if sub.value_source("cors_origins") == Some(ValueSource::EnvVariable) {
                    a.cors_origins.clear();
                }
            }
            Command::Emit(a) => {
                forget(&mut a.url, sub, "url");
                forget(&mut a.key, sub, "key");
            }
            Command::Tail(a) => {
                forget(&mut a.url, sub, "url");
                forget(&mut a.key, sub, "key");
            }
            Command::Work(a) => {
                forget(&mut a.url, sub, "url");
                forget(&mut a.key, sub, "key");
            }
            // The global `--db` is propagated into the benchmark's own `--db`, SPINE_DB with it.
            Command::Bench(a) => forget(&mut a.db, sub, "db"),
            _ => {}
        }
    }

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
                o.tls_cert.clone_from(&a.tls_cert);
                o.tls_key.clone_from(&a.tls_key);
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
            Command::Work(a) => {
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
    let cli = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // A coding agent's hook: no configuration file, no logging, no failure; see `hook::relay`.
    if let Command::Hook(hook::HookCommand::ClaudeCode(args)) = cli.command {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            runtime.block_on(hook::relay(args));
        }
        return ExitCode::SUCCESS;
    }
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
        Command::Work(args) => work::run(*args, &settings).await,
        Command::Login(args) => profile::login(args),
        Command::Hook(command) => hook::run(command),
        Command::Export(args) => transfer::export(args, &settings).await,
        Command::Import(args) => transfer::import(args, &settings).await,
        Command::Purge(args) => purge::run(args, &settings).await,
        Command::Doctor(args) => doctor::run(args, &settings).await,
        Command::Backup(args) => backup::backup(args, &settings).await,
        Command::Restore(args) => backup::restore(args, &settings).await,
        Command::Open(args) => open::run(args, &settings).await,
        // The demo keeps its own database unless `--db` is given on the command line: a `db`
        // from spine.toml or SPINE_DB names the real one, which the demo must not seed.
        Command::Demo(args) => demo::run(args, &settings, cli.global.db.as_deref()).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

#[cfg(test)]
// `figment::Jail` closures return figment's own (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command of the tree with its path (`["key", "create"]`), built so that global flags
    /// have been propagated into each subcommand as `--help` shows them.
    fn commands() -> Vec<(Vec<String>, clap::Command)> {
        fn walk(
            path: Vec<String>,
            cmd: &mut clap::Command,
            out: &mut Vec<(Vec<String>, clap::Command)>,
        ) {
            // clap's generated `help` subcommands are not commands of ours.
            for sub in cmd.get_subcommands_mut().filter(|sub| sub.get_name() != "help") {
                let mut sub_path = path.clone();
                sub_path.push(sub.get_name().to_owned());
                walk(sub_path, sub, out);
            }
            out.push((path, cmd.clone()));
        }
        let mut root = Cli::command();
        root.build();
        let mut out = Vec::new();
        walk(Vec::new(), &mut root, &mut out);
        out
    }

    /// Flags standing for a setting that deliberately have no variable: the demo's `--db` (the
    /// demo never reads SPINE_DB, see `demo_db_arg`), the benchmark's `--db` (a PostgreSQL server
    /// to measure, not the setting), the demo's `--listen`, which is defined in demo.rs, and
    /// `spine login`'s values, which it stores in the profile (it reads no variable).
    const WITHOUT_VARIABLE: &[(&str, &str)] = &[
        ("demo", "db"),
        ("bench", "db"),
        ("demo", "listen"),
        ("open", "url"),
        ("login", "url"),
        ("login", "key"),
    ];

    #[test]
    fn serve_help_names_its_variables() {
        let mut serve = commands()
            .into_iter()
            .find(|(path, _)| path == &["serve"])
            .map(|(_, cmd)| cmd)
            .expect("a serve command");
        let help = serve.render_long_help().to_string();
        for name in ["SPINE_LISTEN", "SPINE_DB", "SPINE_LOG", "SPINE_LOG_FORMAT", "SPINE_CONFIG"] {
            assert!(help.contains(&format!("[env: {name}")), "{name} missing from:\n{help}");
        }
    }

    /// For every argument of every command that has a variable, `--help` shows it; and every
    /// flag standing for a setting of `spine.toml` has the variable figment reads for it.
    #[test]
    fn every_flag_with_a_variable_shows_it_in_help() {
        let mut checked = 0;
        for (path, mut cmd) in commands() {
            let help = cmd.render_long_help().to_string();
            let command = path.join(" ");
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                let expected = (id == "config" || config::KEYS.contains(&id))
                    .then(|| format!("SPINE_{}", id.to_uppercase()));
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                let exempt = WITHOUT_VARIABLE.contains(&(command.as_str(), id));
                match (&env, &expected) {
                    (Some(env), _) => {
                        assert!(!arg.is_hide_env_set(), "spine {command} --{id} hides {env}");
                        assert!(
                            help.contains(&format!("[env: {env}")),
                            "spine {command} --help does not show {env}:\n{help}"
                        );
                        assert_eq!(Some(env), expected.as_ref(), "spine {command} --{id}");
                        checked += 1;
                    }
                    (None, Some(expected)) => assert!(
                        exempt,
                        "spine {command} --{id} should name {expected} (`env = \"{expected}\"`), \
                         or be listed in WITHOUT_VARIABLE if it is not that setting"
                    ),
                    (None, None) => {}
                }
            }
        }
        assert!(checked >= 20, "only {checked} flags with a variable were found");
    }

    /// A valid command line for each command that a variable's value can reach other than
    /// through the global flags, and a few more.
    const COMMAND_LINES: &[&[&str]] = &[
        &["serve"],
        &["migrate"],
        &["tenant", "create", "acme"],
        &["tenant", "list"],
        &["key", "create", "--tenant", "acme", "--role", "read"],
        &["key", "list", "--tenant", "acme"],
        &["key", "revoke", "--tenant", "acme", "0123"],
        &["emit"],
        &["tail"],
        &["work", "--", "true"],
        &["export", "--tenant", "acme"],
        &["import", "--tenant", "acme"],
        &["purge", "--tenant", "acme", "--through-seq", "1"],
        &["demo"],
        &["bench"],
    ];

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_args(std::iter::once("spine").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    /// With every variable the command line knows set, no parsed field holds one of their values:
    /// they are left to `config::load`, in their place among the layers.
    #[test]
    fn values_from_variables_never_reach_the_parsed_flags() {
        // Commands with a flag of their own that has a variable, or that shares its id with a
        // global flag that has one (clap propagates the global value into it, as for bench's
        // --db): each must be parsed below, or its variables could reach its fields unnoticed.
        let all = commands();
        let global_env_ids: Vec<&str> = all
            .iter()
            .filter(|(path, _)| path.is_empty())
            .flat_map(|(_, root)| root.get_arguments())
            .filter(|a| a.is_global_set() && a.get_env().is_some())
            .map(|a| a.get_id().as_str())
            .collect();
        for (path, cmd) in &all {
            let reachable = cmd.get_arguments().any(|a| {
                !a.is_global_set()
                    && (a.get_env().is_some() || global_env_ids.contains(&a.get_id().as_str()))
            });
            if !path.is_empty() && reachable {
                assert!(
                    COMMAND_LINES.iter().any(|line| line
                        .starts_with(&path.iter().map(String::as_str).collect::<Vec<_>>())),
                    "COMMAND_LINES lacks `spine {}`",
                    path.join(" ")
                );
            }
        }
        let names: Vec<String> = commands()
            .iter()
            .flat_map(|(_, cmd)| cmd.get_arguments().filter_map(|a| a.get_env()))
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|name| name != "SPINE_CONFIG")
            .collect();
        Jail::expect_with(|jail| {
            for name in &names {
                let value = if name == "SPINE_LOG_FORMAT" {
                    "json".to_owned()
                } else {
                    format!("from-{name}")
                };
                jail.set_env(name, value);
            }
            for line in COMMAND_LINES {
                let cli = parse(line)?;
                let parsed = format!("{cli:?}");
                assert!(
                    !parsed.contains("from-SPINE_") && !parsed.contains("Json"),
                    "{line:?}: {parsed}"
                );
            }
            Ok(())
        });
    }

    /// Flags, then SPINE_* variables, then spine.toml, then defaults, whether clap saw the
    /// variables or not; the demo and the benchmark ignore SPINE_DB unless `--db` is typed.
    #[test]
    fn flags_win_over_variables_over_spine_toml_over_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "spine.toml",
                "listen = \"0.0.0.0:1\"\ndb = \"file.db\"\nlog = \"warn\"\nurl = \"http://file\"\n\
                 key = \"file-key\"\nlog_format = \"json\"",
            )?;
            let settings = |args: &[&str]| {
                let cli = parse(args)?;
                config::load(None, &cli.overrides()).map_err(|e| e.to_string())
            };
            let s = settings(&["serve"])?;
            assert_eq!(
                (s.listen.as_str(), s.db.as_str(), s.log.as_str()),
                ("0.0.0.0:1", "file.db", "warn")
            );
            assert_eq!(s.log_format, LogFormat::Json);
            assert!(s.cors_origins.is_empty());

            jail.set_env("SPINE_LISTEN", "0.0.0.0:2");
            jail.set_env("SPINE_DB", "env.db");
            jail.set_env("SPINE_LOG", "error");
            jail.set_env("SPINE_LOG_FORMAT", "text");
            jail.set_env("SPINE_CORS_ORIGINS", "http://a, http://b");
            jail.set_env("SPINE_URL", "http://env");
            jail.set_env("SPINE_KEY", "env-key");
            let s = settings(&["serve"])?;
            assert_eq!(
                (s.listen.as_str(), s.db.as_str(), s.log.as_str()),
                ("0.0.0.0:2", "env.db", "error")
            );
            assert_eq!(s.log_format, LogFormat::Text);
            assert_eq!(s.cors_origins, ["http://a", "http://b"]);
            let s = settings(&["emit"])?;
            assert_eq!(s.url, "http://env");
            assert_eq!(s.key.as_ref().map(config::Secret::expose), Some("env-key"));

            let s = settings(&[
                "--log",
                "debug",
                "--log-format",
                "json",
                "serve",
                "--listen",
                "0.0.0.0:3",
                "--db",
                "flag.db",
                "--cors-origin",
                "http://c",
            ])?;
            assert_eq!(
                (s.listen.as_str(), s.db.as_str(), s.log.as_str()),
                ("0.0.0.0:3", "flag.db", "debug")
            );
            assert_eq!(s.log_format, LogFormat::Json);
            assert_eq!(s.cors_origins, ["http://c"]);
            let s = settings(&["tail", "--url", "http://flag", "--key", "flag-key"])?;
            assert_eq!(s.url, "http://flag");
            assert_eq!(s.key.as_ref().map(config::Secret::expose), Some("flag-key"));

            // What the demo and the benchmark decide from the typed flags alone.
            let demo = parse(&["demo"])?;
            assert_eq!(demo.global.db, None, "the demo must not seed SPINE_DB");
            let demo = parse(&["demo", "--db", "mine.db"])?;
            assert_eq!(demo.global.db.as_deref(), Some("mine.db"));
            let bench = parse(&["bench"])?;
            assert!(bench.global.log.is_none());
            assert!(matches!(bench.command, Command::Bench(ref a) if a.db.is_none()));
            Ok(())
        });
    }
}
