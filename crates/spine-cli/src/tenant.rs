//! `spine tenant create|list`: tenant administration directly on the database, for operators
//! (no server needs to run).

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::{open_existing_store, open_store};
use clap::Subcommand;
use serde_json::json;
use spine_core::TenantId;
use spine_server::audit::{self, Action, Actor};
use spine_server::provision::create_tenant_with_admin_key;
use spine_store::{Store, StoreError};

/// `spine tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its first admin key (the key is shown once)
    Create {
        /// Display name; the tenant id is derived from it (`Acme Inc.` -> `acme-inc`)
        name: String,
        /// Print one JSON object: {"tenant_id", "name", "created_at", "admin_key"}
        #[arg(long)]
        json: bool,
    },
    /// List the tenants
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
}

/// Runs a tenant command against `settings.db`.
pub async fn run(cmd: TenantCommand, settings: &Settings) -> CliResult<()> {
    let opened = match cmd {
        TenantCommand::Create { .. } => open_store(&settings.db, settings).await?,
        TenantCommand::List { .. } => open_existing_store(&settings.db, settings).await?,
    };
    let result = match cmd {
        TenantCommand::Create { name, json } => create(opened.store.as_ref(), &name, json).await,
        TenantCommand::List { json } => list(opened.store.as_ref(), json).await,
    };
    opened.close().await;
    result
}

async fn create(store: &dyn Store, name: &str, json: bool) -> CliResult<()> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::new("the tenant name must not be empty"));
    }
    let (tenant, admin_key) = match create_tenant_with_admin_key(store, name).await {
        Ok(created) => created,
        Err(StoreError::Conflict(detail)) => {
            return Err(match TenantId::slugify(name) {
                Ok(id) => CliError::new(format!("a tenant with id `{id}` already exists")),
                Err(_) => CliError::new(detail),
            });
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(tenant = %tenant.id, "tenant created");
    let title = format!("tenant {} created", tenant.id);
    let action = Action::new("tenant.created", "tenant", tenant.id.as_str(), title)
        .with(json!({"name": tenant.name}));
    audit::write(store, &Default::default(), &tenant.id, Actor::CommandLine, action).await;
    if json {
        let out = json!({
            "tenant_id": tenant.id,
            "name": tenant.name,
            "created_at": tenant.created_at,
            "admin_key": admin_key,
        });
        println!("{out}");
    } else {
        println!("tenant     {} ({})", tenant.id, tenant.name);
        println!("admin key  {admin_key}");
        eprintln!("The key is shown only this once: store it now.");
    }
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> CliResult<()> {
    let tenants = store.list_tenants().await?;
    if json {
        let out = serde_json::to_string(&tenants)
            .map_err(|e| CliError::new(format!("cannot encode the tenant list: {e}")))?;
        println!("{out}");
        return Ok(());
    }
    if tenants.is_empty() {
        eprintln!("no tenants yet (create one with `spine tenant create NAME`)");
        return Ok(());
    }
    let width = tenants.iter().map(|t| t.id.as_str().len()).max().unwrap_or(2).max(2);
    println!("{:<width$}  {:<27}  NAME", "ID", "CREATED");
    for t in tenants {
        println!("{:<width$}  {:<27}  {}", t.id.as_str(), t.created_at.to_rfc3339(), t.name);
    }
    Ok(())
}
