//! The `standard-webhooks` provider: any sender following the Standard Webhooks specification
//! (and Svix-style senders, which it grew from).
//!
//! - [`signature`]: the `webhook-signature` check, `v1` HMAC-SHA256 over `id.timestamp.body`
//!   within five minutes, keyed with the bytes inside the `whsec_...` secret.
//! - [`normalize`]: the body is the specification's recommended `{type, timestamp, data}`
//!   (or `data` squashed into the top level), one event per message. The type is the sender's
//!   own (`invoice.paid`, no prefix), `webhook.received` when it gives none; the title is
//!   `data.title`, or the type with `data`'s name or id; `timestamp` (RFC 3339) is when it
//!   happened, else the attempt's `webhook-timestamp`. Messages are de-duplicated on
//!   `webhook-id`, which the specification keeps the same across retries. A channel's mapping
//!   reads the whole payload (`/data/customer_id`).

pub mod normalize;
pub mod signature;

pub use signature::{
    decode_secret, verify, ID_HEADER, SECRET_PREFIX, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    TOLERANCE_SECS,
};

use super::verify::{parse_timestamp, VerifyError};
use super::{unix_seconds, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The `standard-webhooks` provider.
pub struct StandardWebhooks;

impl Source for StandardWebhooks {
    fn provider(&self) -> Provider {
        Provider::StandardWebhooks
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &[ID_HEADER, TIMESTAMP_HEADER, "content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, request.body, secrets, request.now)
    }

    fn delivery_id(&self, request: &Stored) -> Option<String> {
        request.header(ID_HEADER).filter(|id| !id.is_empty()).map(str::to_owned)
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let payload = request.json()?;
        let attempted_at = request
            .header(TIMESTAMP_HEADER)
            .and_then(|t| parse_timestamp(t).ok())
            .and_then(unix_seconds);
        Ok(vec![normalize::draft(payload, attempted_at)])
    }

    /// `whsec_` and the base64 of the 32 random bytes: the specification's serialisation of a
    /// symmetric secret (24 to 64 random bytes), which [`decode_secret`] reads back.
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        Some(format!("{SECRET_PREFIX}{}", STANDARD.encode(random)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secrets_decode_to_their_random_bytes() {
        let random = [42; 32];
        let secret = StandardWebhooks.new_secret(&random).unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(decode_secret(secret.as_bytes()), Some(random.to_vec()));
        let source = crate::ingest::source(Provider::StandardWebhooks);
        assert_eq!(source.provider(), Provider::StandardWebhooks);
    }
}
