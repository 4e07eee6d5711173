//! Signing in to the Activity Center (SPEC section 9), the only routes the web UI has that a
//! product's own app would not use: `GET /signin?code=` exchanges a one-time code (from
//! `spine open`) for a session cookie, `GET /v1/session` says who is signed in, and
//! `POST /v1/session/signout` ends the session. A spent, expired or unknown code gets a page for
//! people, not a JSON problem.

use crate::audit::{self, Action, Actor};
use crate::auth::{
    presented_session, session_cookie, Credential, Principal, CSRF_HEADER, SESSION_COOKIE,
};
use crate::error::{ApiError, Problem};
use crate::provision::generate_secret;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use spine_core::session::{SecretKind, TenantSecret};
use spine_core::Timestamp;
use spine_store::{NewSessionSecret, Redeemed};

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin))
        .route("/v1/session", get(whoami))
        .route("/v1/session/signout", post(signout))
}

/// Exchanges a one-time sign-in code for a session cookie, then sends the browser to the feed.
async fn signin(State(state): State<AppState>, pairs: super::QueryPairs) -> Response {
    let code = pairs.0.iter().find(|(k, _)| k == "code").map(|(_, v)| v.as_str());
    let Some(code) = code.and_then(|c| TenantSecret::parse(SecretKind::SignIn, c)) else {
        return sorry(StatusCode::BAD_REQUEST, Sorry::Invalid);
    };
    let session = generate_secret(SecretKind::Session, code.tenant.clone());
    let now = Timestamp::now();
    let ttl = i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let record = NewSessionSecret {
        id: session.id.clone(),
        secret_hash: session.secret_hash(),
        expires_at: now.plus_seconds(ttl),
    };
    let hash = code.secret_hash();
    let redeemed = state.store.redeem_signin_code(&code.tenant, &code.id, &hash, now, record).await;
    match redeemed {
        Ok(Redeemed::SignedIn(record)) => {
            tracing::info!(tenant = %record.tenant, user = record.user.as_str(), session_id = %record.id, "signed in");
            let title = format!("{} signed in to the Activity Center", record.user.as_str());
            let action = Action::new("session.signed_in", "session", &record.id, title)
                .with(serde_json::json!({"role": record.role.as_str()}));
            let actor = Actor::User(record.user.as_str().to_owned());
            audit::record_as(&state, &record.tenant, actor, action).await;
            let cookie = session_cookie_header(&state, &session.expose(), ttl);
            let mut response = (
                StatusCode::OK,
                Html(page(
                    "Signed in",
                    r#"<meta http-equiv="refresh" content="0;url=/">"#,
                    "<h1>You are signed in</h1><p><a href=\"/\">Open the Activity Center</a></p>",
                )),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            no_store(response)
        }
        Ok(Redeemed::Spent) => sorry(StatusCode::GONE, Sorry::Spent),
        Ok(Redeemed::Expired) => sorry(StatusCode::GONE, Sorry::Expired),
        Ok(Redeemed::Unknown) => sorry(StatusCode::NOT_FOUND, Sorry::Invalid),
        Err(e) => {
            tracing::warn!(error = %e, "sign-in failed");
            sorry(StatusCode::SERVICE_UNAVAILABLE, Sorry::Unavailable)
        }
    }
}

/// Who the request acts as.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The tenant.
    pub tenant: String,
    /// `session`, `key` or `viewer`.
    pub credential: &'static str,
    /// The user it acts for (sessions and viewer tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// What it may do: `ingest`, `read` or `admin` (`read` for viewer tokens).
    pub role: &'static str,
    /// When it stops working (sessions and viewer tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Who is signed in: the Activity Center asks this first.
#[utoipa::path(get, path = "/v1/session", tag = "sign-in",
    responses(
        (status = 200, description = "The credential's tenant, user, role and expiry", body = SessionInfo),
        (status = 401, description = "Signed out, or the session expired", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn whoami(principal: Principal) -> Json<SessionInfo> {
    let expires_at = principal
        .expires_at()
        .map(|at| Timestamp::from_micros(at.saturating_mul(1_000_000)).unwrap_or(Timestamp::MAX))
        .map(Timestamp::to_rfc3339);
    let (credential, user, role) = match &principal.credential {
        Credential::Session { user, role, .. } => ("session", Some(user), role.as_str()),
        Credential::Viewer { user, .. } => ("viewer", Some(user), "read"),
        Credential::Key { role, .. } => ("key", None, role.as_str()),
    };
    Json(SessionInfo {
        tenant: principal.tenant.as_str().to_owned(),
        credential,
        user_id: user.map(|u| u.as_str().to_owned()),
        role,
        expires_at,
    })
}

/// Ends the browser's session and clears its cookie.
#[utoipa::path(post, path = "/v1/session/signout", tag = "sign-in",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "A credential was sent in the URL", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The X-Spine-CSRF header is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !headers.contains_key(CSRF_HEADER) {
        return Err(ApiError::Forbidden(format!("signing out needs the {CSRF_HEADER} header")));
    }
    if let Some(presented) = session_cookie(&headers) {
        if let Some(session) = presented_session(&state, presented).await? {
            state.store.delete_session(&session.tenant, &session.id).await?;
            tracing::info!(tenant = %session.tenant, session_id = %session.id, "signed out");
            let title = format!("{} signed out", session.user.as_str());
            let action = Action::new("session.signed_out", "session", &session.id, title);
            let actor = Actor::User(session.user.as_str().to_owned());
            audit::record_as(&state, &session.tenant, actor, action).await;
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie_header(&state, "", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(no_store(response))
}

/// The `Set-Cookie` value for a session (an empty value with age 0 clears it).
fn session_cookie_header(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Sign-in answers are never cached, and run nothing (the pages have no script).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::routes::ui::PAGE_CSP),
    );
    response
}

/// Why a sign-in link did not work.
enum Sorry {
    Invalid,
    Spent,
    Expired,
    Unavailable,
}

/// A friendly page for a sign-in link that did not work, saying what to do instead.
fn sorry(status: StatusCode, why: Sorry) -> Response {
    let (title, text) = match why {
        Sorry::Invalid => (
            "This sign-in link is not valid",
            "The link may have been copied incompletely.",
        ),
        Sorry::Spent => (
            "This sign-in link has already been used",
            "Each sign-in link works once, so that a link left in a terminal or a browser history cannot be used again.",
        ),
        Sorry::Expired => (
            "This sign-in link has expired",
            "Sign-in links work for a limited time after they are made.",
        ),
        Sorry::Unavailable => (
            "Spine cannot sign you in right now",
            "The server could not reach its database. Try the link again in a moment.",
        ),
    };
    let body = format!(
        "<h1>{title}</h1><p>{text}</p><p>Ask for a new link on the machine that runs Spine:</p>\
         <pre><code>spine open --tenant TENANT --user YOU</code></pre>\
         <p>(add <code>--role admin</code> for the administration pages).</p>"
    );
    no_store((status, Html(page(title, "", &body))).into_response())
}

/// A minimal page in the Activity Center's style. Every argument is static text of this module.
fn page(title: &str, head: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Spine</title>{head}<link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/ui/signin.css\"></head>\
         <body><main class=\"signin\">{body}</main></body></html>"
    )
}
