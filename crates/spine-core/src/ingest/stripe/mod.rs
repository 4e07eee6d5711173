//! The `stripe` provider: Stripe's signed webhooks.
//!
//! - [`signature`]: the `Stripe-Signature` check, `t=..,v1=..` over `t.body` within five
//!   minutes, keyed with the `whsec_...` secret as text.
//! - [`normalize`]: the body is one Event object, so one event per delivery, typed
//!   `stripe.<event type>` (`stripe.invoice.paid`, `stripe.customer.subscription.updated`) and
//!   de-duplicated on the event's `id`. The entity is the customer when `data.object` belongs
//!   to one (else the object itself); `source` names the object (`invoice`, `in_...`);
//!   `created` is when it happened. The title carries the amount in the currency's major unit
//!   (Stripe sends minor units) and whom it was for; a `*.updated` event lists
//!   `data.previous_attributes` against the object as its changes. Stripe is the actor when it
//!   acted by itself (`request.id` null: renewals, retries). A channel's mapping reads the
//!   whole Event (`/data/object/metadata/deal_id`).

pub mod normalize;
pub mod signature;

pub use signature::{verify, SIGNATURE_HEADER, TOLERANCE_SECS};

use super::verify::VerifyError;
use super::{clip, str_at, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The `stripe` provider.
pub struct Stripe;

impl Source for Stripe {
    fn provider(&self) -> Provider {
        Provider::Stripe
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, request.body, secrets, request.now)
    }

    /// The event's own `id` (`evt_...`): a redelivery, or the same event sent to a second
    /// endpoint, carries it again.
    fn delivery_id(&self, request: &Stored) -> Option<String> {
        let event = request.json().ok()?;
        str_at(&event, "/id").map(|id| clip(id, 256))
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let event = request.json()?;
        if str_at(&event, "/type").is_none() {
            return Err(Unreadable("the body is not a Stripe event (no `type`)".to_owned()));
        }
        Ok(vec![normalize::draft(event)])
    }

    /// `whsec_` and the base64 of the random bytes, the shape of Stripe's signing secrets. Only
    /// useful where the admin can set the endpoint's secret (Stripe itself issues its own).
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        Some(format!("whsec_{}", STANDARD.encode(random)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secrets_look_like_stripe_ones() {
        let secret = Stripe.new_secret(&[7; 32]).unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret[6..]).unwrap(), vec![7; 32]);
        assert_eq!(crate::ingest::source(Provider::Stripe).provider(), Provider::Stripe);
    }
}
