//! `spine purge`: removes a tenant's oldest events through a position, directly on the database
//! (retention by hand, or erasure of an old range). The tenant's horizon is raised first, so a
//! live subscriber that resumes from a removed position is told to reload (`event: reset`)
//! instead of missing events silently. A server on the same database learns of it at once when
//! it runs the purge itself; a server in another process notices the new horizon when a client
//! reconnects.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::open_existing_store;
use clap::Args;
use spine_core::{Seq, TenantId};
use spine_server::audit::{self, Action, Actor};

/// Arguments of `spine purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The tenant whose events go
    #[arg(long)]
    pub tenant: String,
    /// Remove every event at or below this position (`seq`)
    #[arg(long, value_name = "SEQ")]
    pub through_seq: i64,
    /// Print one JSON object: {"removed", "horizon"}
    #[arg(long)]
    pub json: bool,
}

/// Runs the purge against `settings.db`.
pub async fn run(args: PurgeArgs, settings: &Settings) -> CliResult<()> {
    let tenant =
        TenantId::parse(&args.tenant).map_err(|e| CliError::new(format!("--tenant: {e}")))?;
    let through = Seq::parse(&args.through_seq.to_string())
        .map_err(|_| CliError::new("--through-seq must be a non-negative integer"))?;
    let opened = open_existing_store(&settings.db, settings).await?;
    let result = purge(&opened.store, &tenant, through, args.json).await;
    opened.close().await;
    result
}

async fn purge(
    store: &std::sync::Arc<dyn spine_store::Store>,
    tenant: &TenantId,
    through: Seq,
    json: bool,
) -> CliResult<()> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(CliError::new(format!("no tenant `{tenant}`")));
    }
    let outcome = store.purge(tenant, through).await?;
    let title = format!("{} events purged through position {}", outcome.removed, outcome.horizon);
    let action = Action::new("events.purged", "tenant", tenant.as_str(), title)
        .with(serde_json::json!({"removed": outcome.removed, "through_seq": outcome.horizon}));
    audit::write(store.as_ref(), &Default::default(), tenant, Actor::CommandLine, action).await;
    if json {
        println!("{}", serde_json::json!({"removed": outcome.removed, "horizon": outcome.horizon}));
    } else {
        println!(
            "removed {} events of {tenant}; nothing at or below seq {} is held any more",
            outcome.removed, outcome.horizon
        );
    }
    Ok(())
}
