//! `spine key create|list|revoke`: API keys of one tenant, directly on the database. A new key
//! is printed once and stored only as a hash.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::{open_existing_store, require_tenant};
use clap::Subcommand;
use serde_json::json;
use spine_core::apikey::ApiKey;
use spine_core::{Role, TenantId};
use spine_server::audit::{self, Action, Actor};
use spine_server::provision::generate_key;
use spine_store::Store;

/// `spine key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (printed once)
    Create {
        /// Tenant id
        #[arg(long, value_parser = TenantId::parse)]
        tenant: TenantId,
        /// ingest (write events), read (feed, streams, stats) or admin (everything in the tenant)
        #[arg(long, value_parser = Role::parse)]
        role: Role,
        /// A label to recognise the key by
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON object: {"key", "id", "role", "name", "tenant", "created_at"}
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (never their secrets)
    List {
        /// Tenant id
        #[arg(long, value_parser = TenantId::parse)]
        tenant: TenantId,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working at once
    Revoke {
        /// Tenant id
        #[arg(long, value_parser = TenantId::parse)]
        tenant: TenantId,
        /// The key's id (as listed), or the whole key
        id: String,
    },
}

/// Runs a key command against `settings.db`.
pub async fn run(cmd: KeyCommand, settings: &Settings) -> CliResult<()> {
    let opened = open_existing_store(&settings.db, settings).await?;
    let store = opened.store.as_ref();
    let result = match cmd {
        KeyCommand::Create { tenant, role, name, json } => {
            create(store, &tenant, role, name, json).await
        }
        KeyCommand::List { tenant, json } => list(store, &tenant, json).await,
        KeyCommand::Revoke { tenant, id } => revoke(store, &tenant, &id).await,
    };
    opened.close().await;
    result
}

async fn create(
    store: &dyn Store,
    tenant: &TenantId,
    role: Role,
    name: Option<String>,
    json: bool,
) -> CliResult<()> {
    require_tenant(store, tenant).await?;
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    let (key, new_key) = generate_key(role, name);
    let info = store.create_key(tenant, new_key).await?;
    tracing::info!(tenant = %tenant, key_id = %info.id, role = role.as_str(), "key created");
    let title = format!("{} key {} created", role.as_str(), info.id);
    let data = json!({"role": role.as_str(), "name": info.name});
    let action = Action::new("key.created", "api_key", &info.id, title).with(data);
    audit::write(store, &Default::default(), tenant, Actor::CommandLine, action).await;
    if json {
        let out = json!({
            "key": key,
            "id": info.id,
            "role": info.role,
            "name": info.name,
            "tenant": tenant,
            "created_at": info.created_at,
        });
        println!("{out}");
    } else {
        println!("key     {key}");
        println!("id      {}", info.id);
        println!("role    {}", info.role.as_str());
        println!("tenant  {tenant}");
        eprintln!("The key is shown only this once: store it now.");
    }
    Ok(())
}

async fn list(store: &dyn Store, tenant: &TenantId, json: bool) -> CliResult<()> {
    require_tenant(store, tenant).await?;
    let keys = store.list_keys(tenant).await?;
    if json {
        let out = serde_json::to_string(&keys)
            .map_err(|e| CliError::new(format!("cannot encode the key list: {e}")))?;
        println!("{out}");
        return Ok(());
    }
    if keys.is_empty() {
        eprintln!("tenant {tenant} has no keys");
        return Ok(());
    }
    println!("{:<16}  {:<6}  {:<27}  {:<8}  NAME", "ID", "ROLE", "CREATED", "STATUS");
    for k in keys {
        let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
        println!(
            "{:<16}  {:<6}  {:<27}  {:<8}  {}",
            k.id,
            k.role.as_str(),
            k.created_at.to_rfc3339(),
            status,
            k.name.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

async fn revoke(store: &dyn Store, tenant: &TenantId, id_or_key: &str) -> CliResult<()> {
    require_tenant(store, tenant).await?;
    // Accepting the whole key lets an operator revoke a leaked key without looking up its id.
    let id = ApiKey::parse(id_or_key.trim()).map_or_else(|| id_or_key.trim().to_owned(), |k| k.id);
    if store.revoke_key(tenant, &id).await? {
        tracing::info!(tenant = %tenant, key_id = %id, "key revoked");
        let action = Action::new("key.revoked", "api_key", &id, format!("key {id} revoked"));
        audit::write(store, &Default::default(), tenant, Actor::CommandLine, action).await;
        println!("revoked key {id}");
        Ok(())
    } else {
        Err(CliError::new(format!("tenant {tenant} has no key with id `{id}`")))
    }
}
