//! The identities every other part passes around: `TenantId`, `UserId`, `Seq` and `Role`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant's id: a lower-case slug. Storage calls require one, so a query without a tenant does
/// not compile; the server only ever builds it from an authenticated credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Accepts `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = crate::text::is_dotted_name(s, 64) && !s.contains(['.', ':']);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
                .to_owned())
        }
    }

    /// Turns a display name such as `Acme Inc.` into a valid id (`acme-inc`).
    pub fn slugify(name: &str) -> Result<Self, String> {
        let mut slug = String::new();
        for c in name.trim().chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() || c == '_' {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        Self::parse(&slug.chars().take(64).collect::<String>())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An end user of a tenant's product, for read state. Opaque to spine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// 1 to 256 printable characters.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) {
            return Err("must be 1-256 printable characters".to_owned());
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<UserId> for String {
    fn from(u: UserId) -> String {
        u.0
    }
}

/// A position in the log: increases in commit order; once a reader has seen N, nothing below N
/// can still appear (SPEC principle 3). The cursor, SSE id and consumer checkpoint are all a `Seq`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Seq(pub i64);

impl Seq {
    /// Before the first event.
    pub const ZERO: Seq = Seq(0);

    /// Parses a non-negative decimal position, as sent in `?after=` or `Last-Event-ID`.
    pub fn parse(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Seq)
            .ok_or_else(|| "must be a non-negative integer".to_owned())
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an API key may do inside its tenant (SPEC section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Write events.
    Ingest,
    /// Read the feed, streams and stats.
    Read,
    /// Claim and settle jobs, write notes.
    Worker,
    /// Everything in the tenant.
    Admin,
}

impl Role {
    /// Parses `ingest`, `read`, `worker` or `admin`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "ingest" => Ok(Self::Ingest),
            "read" => Ok(Self::Read),
            "worker" => Ok(Self::Worker),
            "admin" => Ok(Self::Admin),
            _ => Err("must be one of ingest, read, worker, admin".to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Worker => "worker",
            Self::Admin => "admin",
        }
    }

    /// Whether a credential with this role may act with `required`. Admin may do everything;
    /// the others only their own thing.
    pub fn allows(self, required: Role) -> bool {
        self == Role::Admin || self == required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_makes_valid_ids() {
        assert_eq!(TenantId::slugify("Acme Inc.").unwrap().as_str(), "acme-inc");
        assert_eq!(TenantId::slugify("  demo ").unwrap().as_str(), "demo");
        assert!(TenantId::slugify("!!!").is_err());
    }

    #[test]
    fn admin_allows_everything_others_only_their_role() {
        assert!(Role::Admin.allows(Role::Read));
        assert!(Role::Ingest.allows(Role::Ingest));
        assert!(!Role::Ingest.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Admin));
    }
}
