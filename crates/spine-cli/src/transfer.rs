//! `spine export` / `spine import`: a tenant's events as NDJSON, directly on the database.
//! Export pages through the log in commit order with keyset cursors; import copies events in
//! batches, keeping their ids and times. Both hold one page or batch in memory at a time.

use crate::config::Settings;
use crate::error::{json_line_error, CliError, CliResult};
use crate::store::{open_existing_store, open_store, require_tenant};
use clap::Args;
use spine_core::{Event, Order, TenantId};
use spine_store::{FeedQuery, ImportOutcome, Store};
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

/// Events read per page while exporting.
const EXPORT_PAGE: u32 = 500;

/// Events per `Store::import` call.
const IMPORT_BATCH: usize = 1000;

/// Arguments of `spine export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Tenant id
    #[arg(long, value_parser = TenantId::parse)]
    pub tenant: TenantId,
    /// File to write [default: stdout]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `spine import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Tenant id (created when missing)
    #[arg(long, value_parser = TenantId::parse)]
    pub tenant: TenantId,
    /// NDJSON file to read, as written by `spine export` [default: stdin]
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
}

/// Runs `spine export`.
pub async fn export(args: ExportArgs, settings: &Settings) -> CliResult<()> {
    let opened = open_existing_store(&settings.db, settings).await?;
    let result = async {
        require_tenant(opened.store.as_ref(), &args.tenant).await?;
        let count = match &args.out {
            Some(path) => {
                let file = tokio::fs::File::create(path)
                    .await
                    .map_err(|e| CliError::from(e).context(path.display()))?;
                write_events(opened.store.as_ref(), &args.tenant, file).await?
            }
            None => write_events(opened.store.as_ref(), &args.tenant, tokio::io::stdout()).await?,
        };
        eprintln!("exported {count} events of tenant {}", args.tenant);
        Ok(())
    }
    .await;
    opened.close().await;
    result
}

/// Writes every event of `tenant` as one JSON line each, oldest commit first; returns the count.
pub async fn write_events(
    store: &dyn Store,
    tenant: &TenantId,
    out: impl AsyncWrite + Unpin,
) -> CliResult<u64> {
    let mut out = BufWriter::new(out);
    // The whole log, the audit trail included.
    let filter = spine_core::EventFilter { with_audit: true, ..Default::default() };
    let mut query =
        FeedQuery { filter, order: Order::Seq, limit: EXPORT_PAGE, ..FeedQuery::default() };
    let mut count = 0u64;
    loop {
        let page = store.query(tenant, &query).await?;
        for item in &page.items {
            let mut line = serde_json::to_vec(&item.event).map_err(|e| {
                CliError::new(format!("cannot encode event {}: {e}", item.event.id))
            })?;
            line.push(b'\n');
            out.write_all(&line).await?;
            count += 1;
        }
        match page.next {
            Some(next) if !page.items.is_empty() => query.after = Some(next),
            _ => break,
        }
    }
    out.flush().await?;
    Ok(count)
}

/// Runs `spine import`.
pub async fn import(args: ImportArgs, settings: &Settings) -> CliResult<()> {
    let opened = open_store(&settings.db, settings).await?;
    let result = async {
        let store = opened.store.as_ref();
        let outcome = match &args.input {
            Some(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| CliError::from(e).context(path.display()))?;
                read_events(store, &args.tenant, file).await?
            }
            None => read_events(store, &args.tenant, tokio::io::stdin()).await?,
        };
        println!(
            "imported into tenant {}: {} inserted, {} skipped (already present)",
            args.tenant, outcome.inserted, outcome.skipped
        );
        Ok(())
    }
    .await;
    opened.close().await;
    result
}

/// Reads NDJSON events into `tenant` in batches, creating the tenant before the first batch if
/// it does not exist. A malformed line stops the import with its line number; the batches before
/// it stay imported, and importing again skips them.
pub async fn read_events(
    store: &dyn Store,
    tenant: &TenantId,
    input: impl AsyncRead + Unpin,
) -> CliResult<ImportOutcome> {
    let mut importer = Importer { store, tenant, total: ImportOutcome::default(), ready: false };
    let mut lines = BufReader::new(input).lines();
    let mut batch: Vec<Event> = Vec::with_capacity(IMPORT_BATCH);
    let mut line_no = 0u64;
    while let Some(line) =
        lines.next_line().await.map_err(|e| CliError::new(format!("line {}: {e}", line_no + 1)))?
    {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut event: Event = serde_json::from_str(&line).map_err(|e| {
            CliError::new(format!(
                "line {line_no}: not an exported event: {}; {} events were imported before it \
                 (importing again skips them)",
                json_line_error(&e),
                importer.total.inserted
            ))
        })?;
        // The events belong to the tenant they are imported into, whatever they were exported from.
        event.tenant = tenant.clone();
        batch.push(event);
        if batch.len() >= IMPORT_BATCH {
            importer.import(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        importer.import(batch).await?;
    }
    Ok(importer.total)
}

/// Imports batches into one tenant, keeping the running totals.
struct Importer<'a> {
    store: &'a dyn Store,
    tenant: &'a TenantId,
    total: ImportOutcome,
    /// Whether the tenant is known to exist.
    ready: bool,
}

impl Importer<'_> {
    async fn import(&mut self, batch: Vec<Event>) -> CliResult<()> {
        if !self.ready {
            if self.store.get_tenant(self.tenant).await?.is_none() {
                self.store.create_tenant(self.tenant, self.tenant.as_str()).await?;
                eprintln!("created tenant {} (it did not exist)", self.tenant);
            }
            self.ready = true;
        }
        let outcome = self.store.import(self.tenant, batch).await?;
        self.total.inserted += outcome.inserted;
        self.total.skipped += outcome.skipped;
        Ok(())
    }
}
