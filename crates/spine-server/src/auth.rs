//! Authentication and authorization (SPEC section 4): the `Principal` extractor (API key or
//! viewer token from `Authorization: Bearer`, or an Activity Center session cookie), role
//! checks, the short-lived key cache, and the refusal of credentials sent in the URL.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use spine_core::apikey::{self, ApiKey};
use spine_core::session::{SecretKind, TenantSecret};
use spine_core::token::{self, TokenError, ViewerClaims};
use spine_core::{Role, Scope, TenantId, Timestamp, UserId};
use spine_store::{ApiKeyRecord, SecretRecord};

/// The header naming the end user when a read or admin key acts for one.
pub const USER_HEADER: &str = "x-spine-user";

/// The cookie holding an Activity Center session.
pub const SESSION_COOKIE: &str = "spine_session";

/// The header a session-authenticated request must carry to change anything. Browsers send a
/// custom header cross-origin only after a CORS preflight that Spine never grants for it, so a
/// page on another site cannot make a signed-in browser act (the `SameSite=Strict` cookie is
/// the first fence, this the second).
pub const CSRF_HEADER: &str = "x-spine-csrf";

/// Query parameter names that look like credentials and are refused anywhere.
const CREDENTIAL_PARAMS: &[&str] =
    &["api_key", "apikey", "api-key", "key", "access_token", "token", "auth", "authorization"];

/// What a request is allowed to act as.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API key with its role.
    Key {
        /// The key's public id (safe to log).
        id: String,
        /// What it may do.
        role: Role,
    },
    /// A viewer token acting for one end user, narrowed to a scope.
    Viewer {
        /// The end user.
        user: UserId,
        /// What the user may see.
        scope: Scope,
        /// When the token stops being valid, Unix seconds (long-lived streams check it).
        expires_at: i64,
    },
    /// An Activity Center session (a cookie) acting for one user with a key's role.
    Session {
        /// The session's public id (safe to log).
        id: String,
        /// The signed-in user.
        user: UserId,
        /// `read` or `admin`.
        role: Role,
        /// When the session ends, Unix seconds.
        expires_at: i64,
    },
}

/// An authenticated caller. Only this type produces a `TenantId` from a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant the credential belongs to.
    pub tenant: TenantId,
    /// The credential.
    pub credential: Credential,
}

impl Principal {
    /// Requires an API key allowed to act as `role` (viewer tokens never are).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        match &self.credential {
            Credential::Key { role: have, .. } | Credential::Session { role: have, .. }
                if have.allows(role) =>
            {
                Ok(())
            }
            Credential::Key { role: have, .. } => Err(ApiError::Forbidden(format!(
                "this {} key may not do this; it needs the {} role",
                have.as_str(),
                role.as_str()
            ))),
            Credential::Session { role: have, .. } => Err(ApiError::Forbidden(format!(
                "this {} session may not do this; it needs the {} role (spine open --role {})",
                have.as_str(),
                role.as_str(),
                role.as_str()
            ))),
            Credential::Viewer { .. } => {
                Err(ApiError::Forbidden("a viewer token may not do this".into()))
            }
        }
    }

    /// Requires a key or session with any of `roles` (admin always may).
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        match &self.credential {
            Credential::Key { role, .. } | Credential::Session { role, .. }
                if roles.iter().any(|r| role.allows(*r)) =>
            {
                Ok(())
            }
            _ => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                let needed = names.join(" or ");
                Err(ApiError::Forbidden(format!(
                    "this credential may not do this; it needs the {needed} role"
                )))
            }
        }
    }

    /// Who is acting, for the records work and notes keep: the signed-in user, or the key.
    pub fn acting_as(&self) -> (String, bool) {
        match &self.credential {
            Credential::Key { id, .. } => (id.clone(), false),
            Credential::Session { user, .. } | Credential::Viewer { user, .. } => {
                (user.as_str().to_owned(), true)
            }
        }
    }

    /// Requires a credential that may read: a viewer token, or a read or admin key.
    pub fn require_reader(&self) -> Result<(), ApiError> {
        match &self.credential {
            Credential::Viewer { .. } => Ok(()),
            Credential::Key { .. } | Credential::Session { .. } => self.require(Role::Read),
        }
    }

    /// The viewer token's scope, which narrows every read.
    pub fn scope(&self) -> Option<&Scope> {
        match &self.credential {
            Credential::Viewer { scope, .. } => Some(scope),
            Credential::Key { .. } | Credential::Session { .. } => None,
        }
    }

    /// When the credential stops being valid, Unix seconds; `None` for keys, which do not expire.
    pub fn expires_at(&self) -> Option<i64> {
        match &self.credential {
            Credential::Viewer { expires_at, .. } | Credential::Session { expires_at, .. } => {
                Some(*expires_at)
            }
            Credential::Key { .. } => None,
        }
    }

    /// Whether the credential has expired by `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| now.as_unix_seconds() >= at)
    }

    /// The end user: the viewer token's, or a key's `X-Spine-User` header.
    pub fn user(&self, headers: &HeaderMap) -> Result<Option<UserId>, ApiError> {
        match &self.credential {
            Credential::Viewer { user, .. } | Credential::Session { user, .. } => {
                Ok(Some(user.clone()))
            }
            Credential::Key { .. } => match headers.get(USER_HEADER) {
                None => Ok(None),
                Some(v) => {
                    let text = v.to_str().map_err(|_| bad_user_header("must be ASCII"))?;
                    UserId::parse(text).map(Some).map_err(|m| bad_user_header(&m))
                }
            },
        }
    }

    /// Like [`Principal::user`], but a user is required.
    pub fn require_user(&self, headers: &HeaderMap) -> Result<UserId, ApiError> {
        self.user(headers)?.ok_or_else(|| {
            ApiError::BadRequest(
                "read state needs a user: use a viewer token or send the X-Spine-User header"
                    .into(),
            )
        })
    }
}

fn bad_user_header(message: &str) -> ApiError {
    ApiError::BadRequest(format!("the X-Spine-User header {message}"))
}

/// The bearer credential of a request, if the header is well formed.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing =
        || ApiError::Unauthorized("send a credential as Authorization: Bearer <key>".into());
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, rest) = value.trim().split_once(' ').ok_or_else(missing)?;
    let token = rest.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

/// Whether the query string carries something that looks like a credential. Stream endpoints
/// pass `allow_viewer_token` to accept `?token=svt...`.
pub fn query_has_credential(pairs: &[(String, String)], allow_viewer_token: bool) -> bool {
    pairs.iter().any(|(k, v)| {
        let key = k.to_ascii_lowercase();
        let viewer_ok = allow_viewer_token && key == "token" && v.starts_with(token::PREFIX);
        (!viewer_ok && CREDENTIAL_PARAMS.contains(&key.as_str()))
            || k.contains(apikey::PREFIX)
            || v.contains(apikey::PREFIX)
            || (!viewer_ok && v.starts_with(token::PREFIX))
    })
}

/// Recently verified key records, by key id (see [`crate::cache`]).
pub type KeyCache = crate::cache::TtlCache<ApiKeyRecord>;

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        if let Some(session) = session_cookie(headers) {
            return authenticate_session(state, session).await;
        }
    }
    authenticate_presented(state, bearer(headers)?).await
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The stored session a presented cookie value names, if its secret matches.
pub async fn presented_session(
    state: &AppState,
    presented: &str,
) -> Result<Option<SecretRecord>, ApiError> {
    let Some(session) = TenantSecret::parse(SecretKind::Session, presented) else {
        return Ok(None);
    };
    let record = state.store.find_session(&session.tenant, &session.id).await?;
    Ok(record.filter(|r| session.matches(&r.secret_hash)))
}

/// Authenticates an Activity Center session cookie.
async fn authenticate_session(state: &AppState, presented: &str) -> Result<Principal, ApiError> {
    let record = presented_session(state, presented).await?.ok_or_else(|| {
        ApiError::Unauthorized(
            "you are signed out: sign in again with a link from spine open".into(),
        )
    })?;
    if record.expires_at <= Timestamp::now() {
        return Err(ApiError::Unauthorized(
            "the session has expired: sign in again with a link from spine open".into(),
        ));
    }
    Ok(Principal {
        tenant: record.tenant,
        credential: Credential::Session {
            id: record.id,
            user: record.user,
            role: record.role,
            expires_at: record.expires_at.as_unix_seconds(),
        },
    })
}

/// Authenticates a stream request: the `Authorization` header when present, otherwise a viewer
/// token in `?token=` (browsers' `EventSource` cannot send headers). The middleware has already
/// refused anything else credential-like in the URL, such as an API key in `?token=`.
pub async fn authenticate_stream(
    state: &AppState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Principal, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) || session_cookie(headers).is_some() {
        return authenticate(state, headers).await;
    }
    match pairs.iter().find(|(k, _)| k == "token") {
        Some((_, v)) if v.starts_with(token::PREFIX) => authenticate_presented(state, v).await,
        Some(_) => Err(ApiError::Unauthorized("only a viewer token may be sent as ?token=".into())),
        // No credential at all: the header check answers with the usual 401.
        None => authenticate(state, headers).await,
    }
}

/// Authenticates an API key presented as a bearer token (ingest endpoints that take either a
/// tenant key or a channel's own key).
pub async fn authenticate_key(state: &AppState, presented: &str) -> Result<Principal, ApiError> {
    if presented.starts_with(token::PREFIX) {
        return Err(ApiError::Forbidden("viewer tokens cannot write".into()));
    }
    authenticate_presented(state, presented).await
}

async fn authenticate_presented(state: &AppState, presented: &str) -> Result<Principal, ApiError> {
    if presented.starts_with(token::PREFIX) {
        let claims = ViewerClaims::verify(presented, &state.secret, Timestamp::now()).map_err(
            |e| match e {
                TokenError::Expired => {
                    ApiError::Unauthorized("the viewer token has expired".into())
                }
                TokenError::Invalid => ApiError::Unauthorized("the viewer token is invalid".into()),
            },
        )?;
        return Ok(Principal {
            tenant: claims.tenant,
            credential: Credential::Viewer {
                user: claims.user,
                scope: claims.scope,
                expires_at: claims.expires_at,
            },
        });
    }
    let invalid = || ApiError::Unauthorized("the API key is invalid or revoked".into());
    let key = ApiKey::parse(presented).ok_or_else(invalid)?;
    let record = match state.keys.get(&key.id) {
        Some(r) => r,
        None => {
            let r = state.store.find_key(&key.id).await?.ok_or_else(invalid)?;
            state.keys.put(r.info.id.clone(), r.clone());
            r
        }
    };
    if !key.matches(&record.secret_hash) || record.info.revoked_at.is_some() {
        return Err(invalid());
    }
    Ok(Principal {
        tenant: record.tenant,
        credential: Credential::Key { id: record.info.id, role: record.info.role },
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(state, &parts.headers).await?;
        let span = tracing::Span::current();
        span.record("tenant", principal.tenant.as_str());
        match &principal.credential {
            Credential::Key { id, .. } => {
                span.record("key_id", id.as_str());
            }
            Credential::Session { id, .. } => {
                span.record("session_id", id.as_str());
                if !parts.method.is_safe() && !parts.headers.contains_key(CSRF_HEADER) {
                    return Err(ApiError::Forbidden(format!(
                        "a signed-in browser must send the {CSRF_HEADER} header to change anything"
                    )));
                }
            }
            Credential::Viewer { .. } => {}
        }
        count_request(state, parts, &principal).await?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// The routes whose handlers count the events they write themselves (a batch counts each).
const COUNTS_ITS_OWN_EVENTS: &[&str] = &["/v1/events/batch"];

/// Counts a request against the rate limits ([`crate::limits`]): a read, or a write of one
/// event (none for the routes that count their own) and its declared body bytes.
async fn count_request(
    state: &AppState,
    parts: &Parts,
    principal: &Principal,
) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return state.limits.read(principal).await;
    }
    let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|p| p.as_str());
    let events = u64::from(!route.is_some_and(|r| COUNTS_ITS_OWN_EVENTS.contains(&r)));
    let bytes = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    state.limits.write(principal, events, bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn credentials_in_the_query_are_detected() {
        assert!(query_has_credential(&pairs(&[("api_key", "x")]), false));
        assert!(query_has_credential(&pairs(&[("Access_Token", "x")]), false));
        assert!(query_has_credential(&pairs(&[("q", "spk_0123_abc")]), false));
        assert!(query_has_credential(&pairs(&[("token", "svt.abc.def")]), false));
        assert!(!query_has_credential(&pairs(&[("token", "svt.abc.def")]), true));
        assert!(query_has_credential(&pairs(&[("token", "spk_1_2")]), true));
        assert!(!query_has_credential(&pairs(&[("type", "task.*"), ("q", "keys")]), false));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer spk_x".parse().unwrap());
        assert_eq!(bearer(&h).ok(), Some("spk_x"));
        h.insert(header::AUTHORIZATION, "bearer   svt.a.b ".parse().unwrap());
        assert_eq!(bearer(&h).ok(), Some("svt.a.b"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(bearer(&h).is_err());
    }

    #[test]
    fn roles_and_viewers() {
        let tenant = TenantId::parse("t").unwrap();
        let key = |role| Principal {
            tenant: tenant.clone(),
            credential: Credential::Key { id: "k".into(), role },
        };
        assert!(key(Role::Ingest).require(Role::Ingest).is_ok());
        assert!(key(Role::Ingest).require_reader().is_err());
        assert!(key(Role::Read).require_reader().is_ok());
        assert!(key(Role::Admin).require(Role::Ingest).is_ok());
        let viewer = Principal {
            tenant: tenant.clone(),
            credential: Credential::Viewer {
                user: UserId::parse("u").unwrap(),
                scope: Scope::default(),
                expires_at: i64::MAX,
            },
        };
        assert!(viewer.require_reader().is_ok());
        assert!(viewer.require(Role::Ingest).is_err());
        let mut h = HeaderMap::new();
        h.insert(USER_HEADER, "someone-else".parse().unwrap());
        assert_eq!(viewer.user(&h).ok().flatten().map(|u| u.as_str().to_owned()), Some("u".into()));
        assert!(key(Role::Read).user(&h).ok().flatten().is_some());
    }
}
