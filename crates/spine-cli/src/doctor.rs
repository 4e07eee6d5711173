//! `spine doctor`: checks a deployment and says what to fix. It reads, never writes: the
//! database must answer and be migrated, the disk under a SQLite file must have room, the
//! clock must agree with PostgreSQL's, the process's file limit must hold the configured
//! connections, and the TLS files (when set) must be a certificate and its key.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::{parse_db_url, redact_db_url, sqlite_path, Backend};
use clap::Args;
use spine_postgres::{PgOptions, PgStore};
use spine_sqlite::SqliteStore;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Arguments of `spine doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object per check: {"check", "status", "detail", "fix"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's finding.
#[derive(Debug, serde::Serialize)]
struct Finding {
    check: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, status: Status::Ok, detail: detail.into(), fix: None }
    }

    fn problem(check: &'static str, status: Status, detail: String, fix: String) -> Self {
        Self { check, status, detail, fix: Some(fix) }
    }
}

/// Free space below which the disk check warns, and fails.
const DISK_WARN_BYTES: u64 = 1 << 30;
const DISK_FAIL_BYTES: u64 = 100 << 20;
/// Clock difference with PostgreSQL that the clock check warns about: positions do not depend
/// on clocks, but `received_at`, sessions, leases and retention do.
const CLOCK_WARN: Duration = Duration::from_secs(2);
/// File descriptors a node needs beside its connections (database, files, logs).
const SPARE_FILES: u64 = 256;

/// Runs every check and prints the findings; fails when one of them failed.
pub async fn run(args: DoctorArgs, settings: &Settings) -> CliResult<()> {
    let mut findings = database(settings).await;
    findings.push(file_limit(settings));
    findings.extend(tls(settings));
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    let warned = findings.iter().filter(|f| f.status == Status::Warn).count();
    for f in &findings {
        if args.json {
            println!("{}", serde_json::to_string(f).unwrap_or_default());
            continue;
        }
        let mark = match f.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        println!("{mark}  {}: {}", f.check, f.detail);
        if let Some(fix) = &f.fix {
            println!("      fix: {fix}");
        }
    }
    if !args.json {
        match (failed, warned) {
            (0, 0) => println!("all checks passed"),
            (0, w) => println!("{w} warning(s), nothing failed"),
            (f, w) => println!("{f} check(s) failed, {w} warning(s)"),
        }
    }
    if failed > 0 {
        return Err(CliError::new(format!("{failed} check(s) failed")));
    }
    Ok(())
}

/// Reachable, migrated; then the disk (SQLite) or the clock (PostgreSQL).
async fn database(settings: &Settings) -> Vec<Finding> {
    let shown = redact_db_url(&settings.db);
    let backend = match parse_db_url(&settings.db) {
        Ok(backend) => backend,
        Err(e) => {
            let fix = "give --db (or SPINE_DB) as sqlite://PATH or postgres://USER@HOST:PORT/DB";
            return vec![Finding::problem("database", Status::Fail, e.to_string(), fix.into())];
        }
    };
    match backend {
        Backend::Sqlite(url) => {
            let path = sqlite_path(&url);
            if !path.exists() {
                let detail = format!("no database file at {}", path.display());
                let fix = "check --db, or create the database with `spine migrate`";
                return vec![Finding::problem("database", Status::Fail, detail, fix.into())];
            }
            let checked = SqliteStore::check_schema(&url).await;
            if let Err(spine_store::StoreError::Other(e)) = &checked {
                let fix = "check the file's permissions and that it is a Spine database";
                let detail = format!("{shown} cannot be read: {e}");
                return vec![Finding::problem("database", Status::Fail, detail, fix.into())];
            }
            let mut findings = vec![Finding::ok("database", format!("{shown} opens"))];
            findings.push(migrations(checked));
            findings.push(disk(&path));
            findings
        }
        Backend::Postgres(url) => {
            let options = PgOptions {
                max_connections: 2,
                statement_timeout: Duration::from_secs(settings.db_statement_timeout_seconds),
                ..PgOptions::default()
            };
            let store = match PgStore::open(&url, options).await {
                Ok(store) => store,
                Err(e) => {
                    let fix =
                        "check that PostgreSQL runs and the URL's host, port, user and database";
                    let detail = format!("{shown} does not answer: {e}");
                    return vec![Finding::problem("database", Status::Fail, detail, fix.into())];
                }
            };
            let mut findings = vec![Finding::ok("database", format!("{shown} answers"))];
            findings.push(migrations(store.check_schema().await));
            store.close().await;
            findings.push(clock(&url).await);
            findings
        }
    }
}

fn migrations(ready: spine_store::StoreResult<()>) -> Finding {
    match ready {
        Ok(()) => Finding::ok("migrations", "the schema is this build's"),
        Err(e) => Finding::problem(
            "migrations",
            Status::Fail,
            e.to_string(),
            "run `spine migrate` with the same --db (every node runs the same version)".into(),
        ),
    }
}

fn disk(db: &Path) -> Finding {
    let dir = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let stat = match rustix::fs::statvfs(dir) {
        Ok(stat) => stat,
        Err(e) => {
            let detail = format!("cannot read the free space of {}: {e}", dir.display());
            return Finding::problem("disk", Status::Warn, detail, "check the directory".into());
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let total = stat.f_blocks.saturating_mul(stat.f_frsize).max(1);
    let detail = format!("{} MiB free of {} MiB under {}", free >> 20, total >> 20, dir.display());
    let fix = "free space or move the database (the WAL, the index file and checkpoints need room \
               beside the log; a full disk stops writes with 503s)";
    if free < DISK_FAIL_BYTES {
        Finding::problem("disk", Status::Fail, detail, fix.into())
    } else if free < DISK_WARN_BYTES || free * 10 < total {
        Finding::problem("disk", Status::Warn, detail, fix.into())
    } else {
        Finding::ok("disk", detail)
    }
}

async fn clock(url: &str) -> Finding {
    use sqlx::Connection;
    let theirs = async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let before = SystemTime::now();
        let theirs: f64 =
            sqlx::query_scalar("select extract(epoch from clock_timestamp())::float8")
                .fetch_one(&mut conn)
                .await?;
        let after = SystemTime::now();
        conn.close().await?;
        Ok::<_, sqlx::Error>((theirs, before, after))
    };
    let (theirs, before, after) = match theirs.await {
        Ok(read) => read,
        Err(e) => {
            let detail = format!("cannot read PostgreSQL's clock: {e}");
            return Finding::problem("clock", Status::Warn, detail, "check the connection".into());
        }
    };
    let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    // Ours at the middle of the round trip.
    let ours = (seconds(before) + seconds(after)) / 2.0;
    let skew = theirs - ours;
    let detail = format!("PostgreSQL's clock is {skew:+.3} s from this machine's");
    if skew.abs() > CLOCK_WARN.as_secs_f64() {
        let fix = "run NTP (chrony or systemd-timesyncd) on this machine and the database server";
        Finding::problem("clock", Status::Warn, detail, fix.into())
    } else {
        Finding::ok("clock", detail)
    }
}

fn file_limit(settings: &Settings) -> Finding {
    // `spine serve` raises its soft limit to the hard one: the hard one is what it gets.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let Some(soft) = limit.maximum.or(limit.current) else {
        return Finding::ok("file limit", "unlimited open files");
    };
    let streams = settings.max_streams as u64 + SPARE_FILES;
    let connections = settings.max_connections as u64 + SPARE_FILES;
    let detail = format!(
        "{soft} open files allowed (the hard limit); max_streams is {}, max_connections {}",
        settings.max_streams, settings.max_connections
    );
    let fix = |need: u64| {
        format!(
            "raise the hard limit to at least {need} (`ulimit -Hn {need}` as root in the shell \
             that starts spine, or LimitNOFILE={need} in its systemd unit), or lower \
             max_connections"
        )
    };
    if soft < streams {
        Finding::problem("file limit", Status::Fail, detail, fix(connections))
    } else if soft < connections {
        Finding::problem("file limit", Status::Warn, detail, fix(connections))
    } else {
        Finding::ok("file limit", detail)
    }
}

fn tls(settings: &Settings) -> Option<Finding> {
    let (cert, key) = (settings.tls_cert.as_ref()?, settings.tls_key.as_ref()?);
    let files = spine_server::tls::TlsFiles { cert: cert.into(), key: key.into() };
    Some(match spine_server::tls::check(&files) {
        Ok(()) => Finding::ok("tls", format!("{cert} and its key are usable")),
        Err(e) => Finding::problem(
            "tls",
            Status::Fail,
            e.to_string(),
            "give a PEM certificate chain (leaf first) and the PEM private key that belongs to it"
                .into(),
        ),
    })
}
