//! `spine open`: a one-time sign-in URL for the Activity Center, made directly on the database
//! (with or without a server running). The code in it works once and for a limited time; the
//! browser exchanges it for a session cookie, so no reusable credential is ever in a URL.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use crate::store::{open_existing_store, require_tenant};
use clap::Args;
use serde_json::json;
use spine_core::{Role, TenantId, Timestamp, UserId};
use spine_server::audit::{self, Action, Actor};
use spine_server::provision::create_signin_code;
use spine_store::Store;

/// How long a sign-in link works when `--ttl-seconds` is not given.
pub const DEFAULT_TTL_SECONDS: i64 = 15 * 60;

/// Arguments of `spine open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Tenant id
    #[arg(long, value_parser = TenantId::parse)]
    pub tenant: TenantId,
    /// The user to sign in as (their read state, seen and archive are theirs)
    #[arg(long, value_parser = UserId::parse)]
    pub user: UserId,
    /// read (the feed) or admin (also keys, viewer tokens and types)
    #[arg(long, default_value = "read", value_parser = session_role)]
    pub role: Role,
    /// How long the link works before it is used
    #[arg(long, default_value_t = DEFAULT_TTL_SECONDS, value_name = "SECONDS")]
    pub ttl_seconds: i64,
    /// The server's base URL for the link [default: public_url, else http://LISTEN]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Print one JSON object: {"url", "tenant", "user_id", "role", "expires_at"}
    #[arg(long)]
    pub json: bool,
}

/// The roles a browser session may have.
fn session_role(s: &str) -> Result<Role, String> {
    match Role::parse(s) {
        Ok(role @ (Role::Read | Role::Admin)) => Ok(role),
        _ => Err("must be read or admin".to_owned()),
    }
}

/// Prints a one-time sign-in URL.
pub async fn run(args: OpenArgs, settings: &Settings) -> CliResult<()> {
    if !(1..=7 * 86_400).contains(&args.ttl_seconds) {
        return Err(CliError::new("--ttl-seconds must be from 1 to 604800 (a week)"));
    }
    let opened = open_existing_store(&settings.db, settings).await?;
    let result = print_link(opened.store.as_ref(), &args, settings).await;
    opened.close().await;
    result
}

async fn print_link(store: &dyn Store, args: &OpenArgs, settings: &Settings) -> CliResult<()> {
    require_tenant(store, &args.tenant).await?;
    let base = args.url.clone().unwrap_or_else(|| base_url(settings));
    let (url, expires_at) =
        signin_url(store, &base, &args.tenant, args.user.clone(), args.role, args.ttl_seconds)
            .await?;
    if args.json {
        let out = json!({
            "url": url,
            "tenant": args.tenant.as_str(),
            "user_id": args.user.as_str(),
            "role": args.role.as_str(),
            "expires_at": expires_at.to_rfc3339(),
        });
        println!("{out}");
    } else {
        println!("{url}");
        eprintln!(
            "Open it in a browser to sign in to the Activity Center as {} ({}); it works once, until {}.",
            args.user.as_str(),
            args.role.as_str(),
            expires_at.to_rfc3339()
        );
    }
    Ok(())
}

/// Makes a sign-in code and the URL that carries it.
pub async fn signin_url(
    store: &dyn Store,
    base: &str,
    tenant: &TenantId,
    user: UserId,
    role: Role,
    ttl_seconds: i64,
) -> CliResult<(String, Timestamp)> {
    let title = format!("sign-in link made for {} ({})", user.as_str(), role.as_str());
    let data = serde_json::json!({"user_id": user.as_str(), "role": role.as_str(),
                                  "ttl_seconds": ttl_seconds});
    let action = Action::new("signin_link.created", "user", user.as_str(), title).with(data);
    let (code, expires_at) = create_signin_code(store, tenant, user, role, ttl_seconds).await?;
    audit::write(store, &Default::default(), tenant, Actor::CommandLine, action).await;
    Ok((format!("{}/signin?code={code}", base.trim_end_matches('/')), expires_at))
}

/// Where people reach the server: `public_url`, else the listen address (a wildcard address
/// becomes localhost, which a browser on the same machine can open).
pub fn base_url(settings: &Settings) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let listen = settings.listen.as_str();
    let listen = listen
        .strip_prefix("0.0.0.0:")
        .or_else(|| listen.strip_prefix("[::]:"))
        .map_or_else(|| listen.to_owned(), |port| format!("127.0.0.1:{port}"));
    format!("http://{listen}")
}
