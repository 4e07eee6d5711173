//! The `twilio` provider: SMS and other messages, call status callbacks and recording status
//! callbacks, all `application/x-www-form-urlencoded`, all signed by [`verify`] (the URL and the
//! sorted form pairs under the account's auth token).
//!
//! Which payload a request is comes from its parameters, as Twilio documents them:
//!
//! - a recording (`RecordingSid` with `RecordingStatus`): `twilio.recording.<status>`, of the
//!   call it recorded, de-duplicated on `RecordingSid:status`;
//! - a call (`CallSid` with `CallStatus`, the incoming call webhook included):
//!   `twilio.call.<status>` (`twilio.call.completed`, `twilio.call.no-answer`), from the
//!   caller, de-duplicated on `CallSid:status`, at Twilio's `Timestamp`;
//! - a message (`MessageSid`, or the older `SmsMessageSid`/`SmsSid`): an incoming one is
//!   `twilio.sms.received` from its sender, de-duplicated on `MessageSid`; a status callback of
//!   one sent is `twilio.sms.<status>` (`delivered`, `failed`...) on `MessageSid:status`.
//!   Messages on another channel name it instead of `sms` (`twilio.whatsapp.received`), as the
//!   `whatsapp:` prefix of their addresses says; that prefix is not part of the number, so it
//!   is left out of the draft's `from` and `to`.
//!
//! Twilio gives messages no time of their own: their events happen when Spine receives them.

mod verify;

pub use verify::{verify, SIGNATURE_HEADER};

use super::{clip, dotted, unix_seconds, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use crate::idempotency::hex;
use crate::ingest::verify::VerifyError;
use crate::input::ChangeInput;
use crate::text::clean;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// The `twilio` provider.
pub struct Twilio;

impl Source for Twilio {
    fn provider(&self) -> Provider {
        Provider::Twilio
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(request.body).into_owned().collect();
        let params: Vec<(&str, &str)> =
            pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        verify(request.headers, request.url, &params, secrets)
    }

    fn delivery_id(&self, _: &Stored) -> Option<String> {
        // Each event carries its own (the message, call or recording and its status).
        None
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let form = Form::parse(&request.body);
        let draft = if let (Some(sid), Some(status)) =
            (form.get("RecordingSid"), form.get("RecordingStatus"))
        {
            recording(&form, sid, status)
        } else if let (Some(sid), Some(status)) = (form.get("CallSid"), form.get("CallStatus")) {
            call(&form, sid, status)
        } else if let Some(sid) =
            form.get("MessageSid").or(form.get("SmsMessageSid")).or(form.get("SmsSid"))
        {
            message(&form, sid)
        } else {
            return Err(Unreadable(
                "the form has no MessageSid, CallSid with CallStatus, or RecordingSid".to_owned(),
            ));
        };
        Ok(vec![draft])
    }

    /// An auth token's shape (Twilio issues the real one: the admin passes it).
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        Some(hex(&random[..16]))
    }
}

/// The decoded form: every pair, in order.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        // Values are cleaned as event text is (trimmed, no control characters).
        Self(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), clean(&v))).collect())
    }

    /// The first value of `name`, when it says something.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// A whole-number parameter (counts, durations in seconds).
    fn number(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// Every parameter as a JSON object (the first value of a repeated name): the payload the
    /// channel's mapping reads.
    fn payload(&self) -> Value {
        let mut object = Map::new();
        for (name, value) in &self.0 {
            object.entry(name.clone()).or_insert_with(|| Value::String(value.clone()));
        }
        Value::Object(object)
    }

    /// Copies the named parameters that are present into `data` under their new names.
    fn copy(&self, data: &mut Value, fields: &[(&str, &str)]) {
        for (param, field) in fields {
            if let Some(value) = self.get(param) {
                data[*field] = json!(value);
            }
        }
    }
}

/// Twilio's RFC 2822 time (`Fri, 23 Feb 2024 18:21:07 +0000`) as RFC 3339.
fn rfc2822(text: &str) -> Option<String> {
    unix_seconds(OffsetDateTime::parse(text, &Rfc2822).ok()?.unix_timestamp())
}

/// A duration in seconds, for a title: `42 s`, `1 min 5 s`.
fn duration(seconds: u64) -> String {
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// A messaging address without its channel prefix (`whatsapp:+1415...` -> `+1415...`), and
/// the channel it names (`sms` when none).
fn address(raw: &str) -> (&str, String) {
    match raw.split_once(':') {
        Some((channel, rest))
            if !channel.is_empty() && channel.chars().all(char::is_alphabetic) =>
        {
            (rest.trim(), dotted(channel))
        }
        _ => (raw, "sms".to_owned()),
    }
}

/// How a channel is named in a title.
fn channel_name(channel: &str, media: u64) -> String {
    match channel {
        "sms" if media > 0 => "MMS".to_owned(),
        "sms" => "SMS".to_owned(),
        "whatsapp" => "WhatsApp message".to_owned(),
        other => format!("{other} message"),
    }
}

/// A message, received or a status callback of one sent.
fn message(form: &Form, sid: &str) -> Draft {
    let status = form.get("MessageStatus").or(form.get("SmsStatus")).unwrap_or("received");
    let status = dotted(status);
    let (from, from_channel) = address(form.get("From").unwrap_or(""));
    let (to, to_channel) = address(form.get("To").unwrap_or(""));
    let channel = if from_channel == "sms" { to_channel } else { from_channel };
    let media = form.number("NumMedia").unwrap_or(0);
    let body = form.get("Body");
    let name = channel_name(&channel, media);
    let incoming = status == "received" || status == "receiving";
    let title = if incoming {
        let what = match (body, media) {
            (Some(body), _) => format!(": {}", clip(body, 200)),
            (None, 0) => String::new(),
            (None, 1) => ": 1 attachment".to_owned(),
            (None, n) => format!(": {n} attachments"),
        };
        format!("{name} from {}{what}", or_unknown(from))
    } else {
        let error = form.get("ErrorCode").map(|e| format!(" (error {e})")).unwrap_or_default();
        format!("{name} to {} {}{error}", or_unknown(to), status.replace(['-', '_'], " "))
    };
    let mut draft = Draft::new(
        &format!("twilio.{channel}.{status}"),
        clip(&title, 512),
        "twilio",
        form.payload(),
    )
    .entity("twilio.message", sid, body.map(|b| clip(b, 120)).as_deref())
    .object("message", sid)
    .delivery(if incoming { sid.to_owned() } else { format!("{sid}:{status}") });
    draft = if incoming { draft.action("created") } else { state_changed(draft, &status) };
    draft = if incoming && !from.is_empty() {
        // WhatsApp gives the sender's profile name.
        draft.actor(from, form.get("ProfileName"), "user")
    } else {
        draft.actor("twilio", Some("Twilio"), "service")
    };
    let mut data = json!({"sid": sid, "status": status, "channel": channel});
    form.copy(
        &mut data,
        &[
            ("NumSegments", "segments"),
            ("ErrorCode", "error_code"),
            ("MessagingServiceSid", "messaging_service_sid"),
            ("FromCountry", "from_country"),
        ],
    );
    if let Some(body) = body {
        data["body"] = json!(clip(body, 1600));
    }
    if !from.is_empty() {
        data["from"] = json!(from);
    }
    if !to.is_empty() {
        data["to"] = json!(to);
    }
    if media > 0 {
        let items: Vec<Value> = (0..media.min(10))
            .filter_map(|i| {
                let url = form.get(&format!("MediaUrl{i}"))?;
                let kind = form.get(&format!("MediaContentType{i}"));
                Some(json!({"url": url, "content_type": kind}))
            })
            .collect();
        data["media"] = json!(items);
    }
    // Twilio caps a message at 1,600 characters, well within a description's 16 KiB.
    if let Some(body) = body {
        draft.event.description = Some(clip(body, 1600));
    }
    draft.from = (!from.is_empty()).then(|| from.to_owned()).into_iter().collect();
    draft.to = (!to.is_empty()).then(|| to.to_owned()).into_iter().collect();
    draft.data(data)
}

/// A call's status (the incoming call webhook or a status callback).
fn call(form: &Form, sid: &str, status: &str) -> Draft {
    let status = dotted(status);
    let from = form.get("From").unwrap_or("");
    let to = form.get("To").unwrap_or("");
    let seconds = form.number("CallDuration");
    let inbound = form.get("Direction") == Some("inbound");
    let what = match status.as_str() {
        "ringing" if inbound => "is ringing".to_owned(),
        "queued" | "initiated" | "ringing" => status.clone(),
        "in-progress" => "answered".to_owned(),
        "completed" => match seconds {
            Some(s) => format!("completed ({})", duration(s)),
            None => "completed".to_owned(),
        },
        "busy" => "got a busy line".to_owned(),
        "no-answer" => "was not answered".to_owned(),
        "canceled" => "was canceled".to_owned(),
        other => other.replace(['-', '_'], " "),
    };
    let title = format!("Call from {} to {} {what}", or_unknown(from), or_unknown(to));
    let mut draft =
        Draft::new(&format!("twilio.call.{status}"), clip(&title, 512), "twilio", form.payload())
            .entity("twilio.call", sid, None)
            .object("call", sid)
            .at(form.get("Timestamp").and_then(rfc2822))
            .delivery(format!("{sid}:{status}"));
    draft = match status.as_str() {
        "queued" | "initiated" | "ringing" => draft.action("created"),
        _ => state_changed(draft, &status),
    };
    if !from.is_empty() {
        draft = draft.actor(from, form.get("CallerName"), "user");
    }
    let mut data = json!({"sid": sid, "status": status});
    form.copy(
        &mut data,
        &[
            ("From", "from"),
            ("To", "to"),
            ("Direction", "direction"),
            ("CallerName", "caller_name"),
            ("AnsweredBy", "answered_by"),
            ("ParentCallSid", "parent_call_sid"),
            ("ForwardedFrom", "forwarded_from"),
            ("RecordingUrl", "recording_url"),
        ],
    );
    if let Some(seconds) = seconds {
        data["duration"] = json!(seconds);
    }
    draft.from = (!from.is_empty()).then(|| from.to_owned()).into_iter().collect();
    draft.to = (!to.is_empty()).then(|| to.to_owned()).into_iter().collect();
    draft.data(data)
}

/// A recording's status callback: an event of the call it recorded.
fn recording(form: &Form, sid: &str, status: &str) -> Draft {
    let status = dotted(status);
    let seconds = form.number("RecordingDuration");
    let length = seconds.map(|s| format!(" ({})", duration(s))).unwrap_or_default();
    let title = format!("Call recording {}{length}", status.replace(['-', '_'], " "));
    // Twilio's time for the event, else the recording's end: its start plus its length.
    let at = form.get("Timestamp").and_then(rfc2822).or_else(|| {
        let start = OffsetDateTime::parse(form.get("RecordingStartTime")?, &Rfc2822).ok()?;
        let length = i64::try_from(seconds?).ok()?;
        unix_seconds(start.unix_timestamp().checked_add(length)?)
    });
    let call_sid = form.get("CallSid");
    let mut draft = Draft::new(
        &format!("twilio.recording.{status}"),
        clip(&title, 512),
        "twilio",
        form.payload(),
    )
    .actor("twilio", Some("Twilio"), "service")
    .object("recording", sid)
    .at(at)
    .delivery(format!("{sid}:{status}"));
    draft =
        if status == "completed" { draft.action("created") } else { state_changed(draft, &status) };
    draft = match call_sid {
        Some(call_sid) => draft.entity("twilio.call", call_sid, None),
        None => draft.entity("twilio.recording", sid, None),
    };
    let mut data = json!({"sid": sid, "status": status});
    form.copy(
        &mut data,
        &[
            ("CallSid", "call_sid"),
            ("RecordingUrl", "url"),
            ("RecordingChannels", "channels"),
            ("RecordingSource", "source"),
            ("ErrorCode", "error_code"),
        ],
    );
    if let Some(seconds) = seconds {
        data["duration"] = json!(seconds);
    }
    draft.data(data)
}

/// Marks `draft` a `state_changed` event to `status` (the earlier state is Twilio's to know).
fn state_changed(mut draft: Draft, status: &str) -> Draft {
    draft.event.changes = Some(vec![ChangeInput {
        field: Some("state".to_owned()),
        old: Value::Null,
        new: json!(status),
    }]);
    draft.action("state_changed")
}

/// A party for a title, `unknown` when Twilio left it out.
fn or_unknown(party: &str) -> &str {
    if party.is_empty() {
        "unknown"
    } else {
        party
    }
}

#[cfg(test)]
mod tests;
