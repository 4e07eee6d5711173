//! File upload throughput: 10 MiB files sent as multipart to a `file` channel (streamed into
//! the blob store in 1 MiB chunks while hashed, the type sniffed, one event per file), beside
//! the baseline of writing the same bytes to files on the same disk and syncing each, in the
//! same run. One upload at a time, then four at once.

use crate::backend::{Backend, Place};
use crate::data::Rng;
use crate::ingest::{client, RunningServer};
use crate::measure::Row;
use futures::future::join_all;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Bytes per file.
const FILE_BYTES: usize = 10 * 1024 * 1024;
/// Files per measurement (200 MiB).
const FILES: usize = 20;
/// Uploads in flight in the concurrent measurement.
const CONCURRENT: usize = 4;
const BOUNDARY: &str = "spine-bench-boundary-3f9a1c";

/// `FILES` different files of `FILE_BYTES` pseudo-random bytes each (incompressible, and each
/// a new hash, so none is a repeat).
fn files(seed: u64) -> Vec<Arc<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    (0..FILES)
        .map(|_| {
            let mut bytes = Vec::with_capacity(FILE_BYTES);
            while bytes.len() < FILE_BYTES {
                bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            Arc::new(bytes)
        })
        .collect()
}

/// One file as a multipart body.
fn multipart(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(bytes.len() + 256);
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn mib_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / seconds
}

/// The baseline: each file written to its own file on disk and synced (as the store's commit
/// syncs), one after another.
fn disk_rate(dir: &std::path::Path, files: &[Arc<Vec<u8>>]) -> BenchResult<f64> {
    let start = Instant::now();
    for (i, bytes) in files.iter().enumerate() {
        let path = dir.join(format!("baseline-{i}.bin"));
        let mut file = std::fs::File::create(&path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    let rate = mib_per_s(files.len() * FILE_BYTES, start.elapsed().as_secs_f64());
    for i in 0..files.len() {
        let _ = std::fs::remove_file(dir.join(format!("baseline-{i}.bin")));
    }
    Ok(rate)
}

/// Uploads `files` with `concurrent` requests in flight; MiB/s of file content.
async fn upload_rate(
    url: &str,
    key: &str,
    files: &[Arc<Vec<u8>>],
    concurrent: usize,
) -> BenchResult<f64> {
    let client = client(concurrent)?;
    let bodies: Vec<Vec<u8>> =
        files.iter().enumerate().map(|(i, f)| multipart(&format!("file-{i}.bin"), f)).collect();
    let start = Instant::now();
    for group in bodies.chunks(concurrent.max(1)) {
        let sends = group.iter().map(|body| {
            client
                .post(url)
                .header("X-Ingestion-Key", key)
                .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(body.clone())
                .send()
        });
        for response in join_all(sends).await {
            let response = response?;
            if response.status() != reqwest::StatusCode::CREATED {
                return Err(format!("upload answered {}", response.status()).into());
            }
        }
    }
    Ok(mib_per_s(files.len() * FILE_BYTES, start.elapsed().as_secs_f64()))
}

/// The file-upload rows: disk baseline, then one and `CONCURRENT` uploads at a time.
pub async fn run(backend: &Backend) -> BenchResult<Vec<Row>> {
    let (place, nodes) = backend.fresh("files", 1).await?;
    let dir = match &place {
        Place::Sqlite(path) => path.parent().map(std::path::Path::to_path_buf),
        Place::Postgres(_) => None,
    }
    .unwrap_or_else(std::env::temp_dir);
    let servers = RunningServer::start_all(nodes).await?;
    let server = servers.first().ok_or("no server")?;
    let created: Value = client(1)?
        .post(format!("{}/v1/channels", server.url))
        .bearer_auth(&server.key)
        .json(&serde_json::json!({"name": "bench uploads", "provider": "file"}))
        .send()
        .await?
        .json()
        .await?;
    let url = format!("{}/files", created["ingest_url"].as_str().ok_or("no ingest_url")?);
    let secret = created["secret"].as_str().ok_or("no secret")?.to_owned();

    let baseline = disk_rate(&dir, &files(101))?;
    let mut rows = vec![Row::new(
        "write + fsync 10 MiB files to disk (baseline)",
        baseline,
        "MiB/s",
        None,
        "",
    )];
    let one = upload_rate(&url, &secret, &files(102), 1).await?;
    rows.push(Row::new("upload 10 MiB files, one at a time", one, "MiB/s", Some(baseline), ""));
    let many = upload_rate(&url, &secret, &files(103), CONCURRENT).await?;
    rows.push(Row::new(
        format!("upload 10 MiB files, {CONCURRENT} at a time"),
        many,
        "MiB/s",
        Some(baseline),
        "",
    ));
    RunningServer::stop_all(servers).await;
    Ok(rows)
}
