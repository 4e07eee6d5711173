//! `spine backup` and `spine restore`: a consistent, compressed, checksummed snapshot of a
//! SQLite store taken while the server runs, and putting one back. PostgreSQL has its own tools
//! for this (`pg_dump`, or base backups with WAL archiving for point-in-time recovery); the
//! README gives the commands.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::redact_db_url;
use clap::Args;
use spine_sqlite::backup::{self, BackupSummary};
use std::path::PathBuf;

/// Arguments of `spine backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (gzip, with a checksum header)
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Print one JSON object: {"file", "bytes", "file_bytes", "last_seq", "sha256"}
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spine restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file to restore (from `spine backup`)
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace a database that exists at `--db` (stop the server that uses it first)
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object: {"file", "bytes", "file_bytes", "last_seq", "sha256"}
    #[arg(long)]
    pub json: bool,
}

fn sqlite_only(settings: &Settings) -> CliResult<()> {
    if settings.db.starts_with("postgres://") || settings.db.starts_with("postgresql://") {
        return Err(CliError::new(
            "backup and restore are for SQLite stores; back up PostgreSQL with pg_dump or a \
             base backup with WAL archiving (see the README's Backups section)",
        ));
    }
    Ok(())
}

fn report(summary: &BackupSummary, file: &std::path::Path, json: bool, verb: &str, db: &str) {
    let h = &summary.header;
    if json {
        let object = serde_json::json!({
            "file": file.display().to_string(),
            "bytes": h.bytes,
            "file_bytes": summary.file_bytes,
            "last_seq": h.last_seq,
            "sha256": h.sha256,
        });
        println!("{object}");
    } else {
        println!(
            "{verb} {db} through seq {}: {} bytes of database, {} in {} (sha256 {})",
            h.last_seq,
            h.bytes,
            summary.file_bytes,
            file.display(),
            h.sha256
        );
    }
}

/// Takes a backup of `settings.db` while it may be serving.
pub async fn backup(args: BackupArgs, settings: &Settings) -> CliResult<()> {
    sqlite_only(settings)?;
    let summary = backup::backup(&settings.db, &args.to)
        .await
        .map_err(|e| CliError::new(format!("backup: {e}")))?;
    report(&summary, &args.to, args.json, "backed up", &redact_db_url(&settings.db));
    Ok(())
}

/// Restores a backup as `settings.db`.
pub async fn restore(args: RestoreArgs, settings: &Settings) -> CliResult<()> {
    sqlite_only(settings)?;
    let summary = backup::restore(&args.from, &settings.db, args.force)
        .await
        .map_err(|e| CliError::new(format!("restore: {e}")))?;
    report(&summary, &args.from, args.json, "restored", &redact_db_url(&settings.db));
    Ok(())
}
