//! Online backups of a SQLite store, and restoring them.
//!
//! A backup is a consistent snapshot taken while the server runs (`VACUUM INTO`, which reads in
//! one transaction: every event committed before it began is in it, none half), compressed with
//! gzip, behind a one-line header that names the snapshot's SHA-256 and size. A restore checks
//! both, and SQLite's `integrity_check`, before the restored file takes the database's place;
//! a corrupted backup file is refused. The index file is not in a backup: it holds nothing the
//! log does not, and the store builds it again from the log when it opens the restored file.
//!
//! File layout: `SPINE-BACKUP 1\n`, then one line of JSON (`sha256`, `bytes`, `last_seq`,
//! `created_at`), then the gzip stream of the database file.

use crate::{indexer, path_from_url};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &str = "SPINE-BACKUP 1";

/// What went wrong with a backup or a restore.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The database refused.
    #[error("the database: {0}")]
    Sql(#[from] sqlx::Error),
    /// The backup file is not one, or it was damaged.
    #[error("the backup file is corrupt: {0}")]
    Corrupt(String),
    /// The restore would replace a database without `--force`.
    #[error("{0}")]
    Refused(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BackupError + 'a {
    move |e| BackupError::Io(format!("{what} {}: {e}", path.display()))
}

/// The header line of a backup.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BackupHeader {
    /// SHA-256 of the database file in the backup, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The highest position in it.
    pub last_seq: i64,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
}

/// What a backup or a restore did.
#[derive(Debug)]
pub struct BackupSummary {
    /// The snapshot's header.
    pub header: BackupHeader,
    /// Bytes of the backup file.
    pub file_bytes: u64,
}

/// A file name beside `path` with `suffix` added.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// SHA-256 and size of the file at `path`.
fn digest(path: &Path) -> Result<(String, u64), BackupError> {
    let mut file = File::open(path).map_err(io("reading", path))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(io("reading", path))?;
    Ok((hex(&hasher.finalize()), bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Takes a backup of the store at `url` (a SQLite URL) into `to`, while it may be serving.
pub async fn backup(url: &str, to: &Path) -> Result<BackupSummary, BackupError> {
    let db = path_from_url(url);
    if !db.is_file() {
        return Err(BackupError::Io(format!("no database file at {}", db.display())));
    }
    let snapshot = beside(to, ".snapshot");
    let _ = std::fs::remove_file(&snapshot);
    let result = take(&db, &snapshot, to).await;
    let _ = std::fs::remove_file(&snapshot);
    result
}

async fn take(db: &Path, snapshot: &Path, to: &Path) -> Result<BackupSummary, BackupError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("vacuum into ?")
        .bind(snapshot.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let mut copy = SqliteConnectOptions::new().filename(snapshot).read_only(true).connect().await?;
    let last_seq: i64 =
        sqlx::query_scalar("select last_seq from meta where id = 1").fetch_one(&mut copy).await?;
    copy.close().await?;

    let (sha256, bytes) = digest(snapshot)?;
    let created_at = spine_core::Timestamp::now().to_rfc3339();
    let header = BackupHeader { sha256, bytes, last_seq, created_at };
    let partial = beside(to, ".partial");
    let written = write_file(snapshot, &partial, &header);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, to).map_err(io("writing", to))?;
    let file_bytes = std::fs::metadata(to).map_err(io("reading", to))?.len();
    Ok(BackupSummary { header, file_bytes })
}

fn write_file(snapshot: &Path, partial: &Path, header: &BackupHeader) -> Result<(), BackupError> {
    let file = File::create(partial).map_err(io("writing", partial))?;
    let mut out = BufWriter::new(file);
    let line = serde_json::to_string(header).map_err(|e| BackupError::Io(e.to_string()))?;
    writeln!(out, "{MAGIC}\n{line}").map_err(io("writing", partial))?;
    let mut gz = GzEncoder::new(out, flate2::Compression::default());
    let mut input = File::open(snapshot).map_err(io("reading", snapshot))?;
    std::io::copy(&mut input, &mut gz).map_err(io("writing", partial))?;
    let out = gz.finish().map_err(io("writing", partial))?;
    let file = out.into_inner().map_err(|e| BackupError::Io(e.to_string()))?;
    file.sync_all().map_err(io("writing", partial))?;
    Ok(())
}

/// Restores the backup at `from` as the database at `url`. An existing database there is
/// replaced only with `force` (stop the server that uses it first).
pub async fn restore(from: &Path, url: &str, force: bool) -> Result<BackupSummary, BackupError> {
    let db = path_from_url(url);
    if db.exists() && !force {
        return Err(BackupError::Refused(format!(
            "a database exists at {}: stop the server that uses it and pass --force to replace it",
            db.display()
        )));
    }
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    let incoming = beside(&db, ".restoring");
    let result = unpack(from, &incoming).await;
    let header = match result {
        Ok(header) => header,
        Err(e) => {
            let _ = std::fs::remove_file(&incoming);
            return Err(e);
        }
    };
    // The old database goes with its WAL and its index; the index is rebuilt from the log.
    let index = indexer::path_of(&db);
    for old in [beside(&db, "-wal"), beside(&db, "-shm"), index.clone()]
        .into_iter()
        .chain([beside(&index, "-wal"), beside(&index, "-shm")])
    {
        match std::fs::remove_file(&old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing", &old)(e));
            }
            _ => {}
        }
    }
    std::fs::rename(&incoming, &db).map_err(io("writing", &db))?;
    let file_bytes = std::fs::metadata(from).map_err(io("reading", from))?.len();
    Ok(BackupSummary { header, file_bytes })
}

/// Checks and unpacks the backup at `from` into `to`; its header.
async fn unpack(from: &Path, to: &Path) -> Result<BackupHeader, BackupError> {
    let file = File::open(from).map_err(io("reading", from))?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let corrupt = |m: &str| BackupError::Corrupt(m.to_owned());
    reader.read_line(&mut line).map_err(|_| corrupt("no header"))?;
    if line.trim_end() != MAGIC {
        return Err(corrupt("it does not start as a Spine backup"));
    }
    line.clear();
    reader.read_line(&mut line).map_err(|_| corrupt("no header"))?;
    let header: BackupHeader =
        serde_json::from_str(line.trim_end()).map_err(|_| corrupt("its header is unreadable"))?;
    {
        let mut out = BufWriter::new(File::create(to).map_err(io("writing", to))?);
        let mut gz = GzDecoder::new(reader);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            let n = gz
                .read(&mut buf)
                .map_err(|e| corrupt(&format!("its data does not unpack ({e})")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io("writing", to))?;
            bytes += n as u64;
        }
        if bytes != header.bytes || hex(&hasher.finalize()) != header.sha256 {
            return Err(corrupt("its checksum does not match its contents"));
        }
        let file = out.into_inner().map_err(|e| BackupError::Io(e.to_string()))?;
        file.sync_all().map_err(io("writing", to))?;
    }
    let mut conn = SqliteConnectOptions::new().filename(to).read_only(true).connect().await?;
    let check: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&mut conn).await?;
    conn.close().await?;
    if check != "ok" {
        return Err(corrupt(&format!(
            "the database in it fails SQLite's integrity check ({check})"
        )));
    }
    Ok(header)
}
