//! Salesforce outbound messages: SOAP 1.1 XML sent by a workflow rule or flow.
//!
//! The body is `soapenv:Envelope/soapenv:Body/notifications` with `OrganizationId`,
//! `ActionId`, `SessionId`, `EnterpriseUrl`, `PartnerUrl` and one to 100 `Notification`s, each
//! an `Id` and an `sObject` (`xsi:type="sf:Opportunity"`...) holding `sf:Id` and the fields the
//! message was set up to send. Salesforce expects `notificationsResponse/Ack` `true` back, or
//! it retries for 24 hours.
//!
//! Authentication: the channel's secret is the org's 18-character id, and `OrganizationId` must
//! equal it (compared in constant time). Salesforce signs nothing, so this only tells one org's
//! messages from another's; the channel's unguessable URL is the rest of the protection.
//! `SessionId` (an API session of the org) is never put in events, data or payloads; the
//! ledger's raw body still holds it when the outbound message is set up to send it, so leave
//! "Send Session ID" unchecked in Salesforce.
//!
//! The XML is read by [`xml`], which refuses DTDs and unknown entities and bounds size and
//! depth. Normalizing: one event per `Notification`, typed `salesforce.<sobject>.changed`
//! (`salesforce.opportunity.changed`), the record as entity, `LastModifiedDate` as its time,
//! `LastModifiedById` as the actor, the notification `Id` as the delivery id. The action is
//! `custom`: a message carries the record's current values, not which fields changed or what
//! they were, and an `updated` event must list its changes with their old values.

pub mod xml;

use self::xml::{Element, XmlError};
use super::generic::MAX_BATCH;
use super::verify::{any_match, VerifyError};
use super::{clip, dotted, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use crate::time::Timestamp;
use serde_json::{json, Map, Value};

/// The answer Salesforce needs to stop retrying.
pub const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// Largest `data` kept per event (serialized field values).
const MAX_DATA: usize = 48 * 1024;

/// The `salesforce` provider.
pub struct Salesforce;

impl Source for Salesforce {
    fn provider(&self) -> Provider {
        Provider::Salesforce
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type", "soapaction"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.body, secrets)
    }

    /// Each notification has its own id; the message as a whole has none.
    fn delivery_id(&self, _: &Stored) -> Option<String> {
        None
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let root = xml::parse(&request.body).map_err(|e| Unreadable(e.to_string()))?;
        let notifications = notifications(&root).ok_or_else(|| {
            Unreadable("the body is not a SOAP envelope holding notifications".into())
        })?;
        let items: Vec<&Element> =
            notifications.children.iter().filter(|c| c.local_name() == "Notification").collect();
        if items.is_empty() {
            return Err(Unreadable("the message holds no Notification".into()));
        }
        if items.len() > MAX_BATCH {
            return Err(Unreadable(format!("at most {MAX_BATCH} notifications per message")));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(index, notification)| {
                draft(notification)
                    .map_err(|why| Unreadable(format!("notification {index}: {why}")))
            })
            .collect()
    }

    /// Only Salesforce issues an org id: the admin passes it.
    fn new_secret(&self, _: &[u8; 32]) -> Option<String> {
        None
    }

    fn accepted_body(&self) -> Option<(&'static str, &'static str)> {
        Some(("text/xml; charset=utf-8", ACK))
    }
}

/// Checks the message's `OrganizationId` against the channel's org ids.
pub fn verify(body: &[u8], secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let root = xml::parse(body).map_err(|_: XmlError| VerifyError::Malformed)?;
    let org = notifications(&root)
        .and_then(|n| n.child_text("OrganizationId"))
        .ok_or(VerifyError::Missing("organizationid"))?;
    if any_match(&[org.as_bytes()], secrets, |secret| Some(secret.to_vec())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// `Envelope/Body/notifications`.
fn notifications(root: &Element) -> Option<&Element> {
    if root.local_name() != "Envelope" {
        return None;
    }
    root.child("Body")?.child("notifications")
}

/// Whether an element is `xsi:nil="true"`.
fn is_nil(element: &Element) -> bool {
    element.attribute("nil").is_some_and(|v| v.trim() == "true" || v.trim() == "1")
}

/// One `Notification` as a draft.
fn draft(notification: &Element) -> Result<Draft, String> {
    let object = notification.child("sObject").ok_or("it has no sObject")?;
    let sobject = object
        .attribute("type")
        .map(|t| t.rsplit(':').next().unwrap_or(t).trim())
        .filter(|t| !t.is_empty())
        .ok_or("its sObject has no xsi:type")?;
    let id = object.child_text("Id").ok_or("its sObject has no Id")?;
    let name = object.child_text("Name");
    let mut payload = Map::new();
    let mut data = Map::new();
    let mut budget = MAX_DATA;
    for field in object.children.iter().filter(|f| f.children.is_empty()) {
        let key = field.local_name();
        if is_nil(field) {
            payload.insert(key.to_owned(), Value::Null);
            continue;
        }
        let value = field.text.trim();
        payload.insert(key.to_owned(), json!(value));
        let kept = clip(value, 2000);
        let cost = key.len() + kept.len() + 6;
        if cost <= budget {
            budget -= cost;
            data.insert(key.to_owned(), json!(kept));
        }
    }
    let title = match name {
        Some(name) => format!("{sobject} updated: {name}"),
        None => format!("{sobject} {id} updated"),
    };
    let occurred_at = object.child_text("LastModifiedDate").filter(|t| Timestamp::parse(t).is_ok());
    let mut draft = Draft::new(
        &format!("salesforce.{}.changed", dotted(sobject)),
        clip(&title, 512),
        "salesforce",
        Value::Object(payload),
    )
    .entity(&format!("salesforce.{sobject}"), id, name)
    .object(sobject, id)
    .at(occurred_at.map(str::to_owned))
    .data(Value::Object(data));
    if let Some(user) = object.child_text("LastModifiedById") {
        draft = draft.actor(user, None, "user");
    }
    if let Some(notification_id) = notification.child_text("Id") {
        draft = draft.delivery(notification_id);
    }
    Ok(draft)
}

#[cfg(test)]
mod tests;
