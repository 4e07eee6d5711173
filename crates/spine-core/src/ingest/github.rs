//! GitHub webhook signature verification (`X-Hub-Signature-256`).
//!
//! From GitHub's "Validating webhook deliveries":
//!
//! - The header `X-Hub-Signature-256` is `sha256=` followed by the lower-case hex HMAC-SHA256
//!   of the raw payload body ("the hash signature always starts with `sha256=`").
//! - The key is the webhook's secret token, as its UTF-8 bytes.
//! - Compare in constant time, never with `==`.
//! - There is no signed timestamp, so this scheme cannot refuse a replay by itself: callers
//!   should de-duplicate on the `X-GitHub-Delivery` id. The legacy SHA-1 `X-Hub-Signature`
//!   header is not accepted.
//!
//! GitHub sends one signature per delivery; rotation is handled by passing the new and the old
//! secret while the webhook's setting changes over.
//!
//! Normalizing: one event per delivery, typed `github.<event>[.<action>]` from `X-GitHub-Event`
//! and the payload's `action` (`github.issues.opened`, `github.push`); the sender is the actor
//! (a `Bot` sender is a service); the issue, pull request or repository is the entity; the
//! object's own `updated_at` (or the head commit's time) is when it happened. Deliveries are
//! de-duplicated on `X-GitHub-Delivery`. Both content types GitHub offers are read:
//! `application/json` and the form-encoded `payload=` parameter.

use super::verify::{any_match, decode_lower_hex, header, hmac_sha256, Headers, VerifyError};
use super::{str_at, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use crate::input::ChangeInput;
use serde_json::{json, Value};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Verifies a GitHub delivery against the webhook `secrets` (UTF-8 bytes of each token).
pub fn verify(headers: &Headers, body: &[u8], secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let value = header(headers, SIGNATURE_HEADER)?;
    let tag = value
        .strip_prefix("sha256=")
        .and_then(decode_lower_hex)
        .filter(|tag| tag.len() == 32)
        .ok_or(VerifyError::Malformed)?;
    if any_match(&[tag], secrets, |secret| hmac_sha256(secret, &[body]).map(Vec::from)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The `github` provider.
pub struct GitHub;

impl Source for GitHub {
    fn provider(&self) -> Provider {
        Provider::Github
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type", "x-github-event", "x-github-delivery", "x-github-hook-id"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, request.body, secrets)
    }

    fn delivery_id(&self, request: &Stored) -> Option<String> {
        request.header("x-github-delivery").map(str::to_owned)
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let event = request
            .header("x-github-event")
            .ok_or_else(|| Unreadable("the X-GitHub-Event header is missing".to_owned()))?;
        let payload = payload(request)?;
        if !payload.is_object() {
            return Err(Unreadable("the payload is not a JSON object".to_owned()));
        }
        Ok(vec![draft(event, payload)])
    }
}

/// The payload, from a JSON body or the `payload` field of a form-encoded one.
fn payload(request: &Stored) -> Result<Value, Unreadable> {
    let form = request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return request.json();
    }
    let text = form_urlencoded::parse(&request.body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| Unreadable("the form has no payload field".to_owned()))?;
    serde_json::from_str(&text).map_err(|e| Unreadable(format!("the payload is not JSON ({e})")))
}

/// Spine's action for a GitHub action, with the changes it needs: `updated` lists what an
/// `edited` payload says changed (`changes.<field>.from`), `state_changed` the object's state.
fn action_of(
    action: Option<&str>,
    payload: &Value,
    object: Option<&Value>,
) -> (&'static str, Vec<ChangeInput>) {
    let change = |field: &str, old: Value, new: Value| ChangeInput {
        field: Some(field.to_owned()),
        old,
        new,
    };
    match action {
        Some("opened" | "created" | "added") => ("created", Vec::new()),
        Some("deleted" | "removed") => ("deleted", Vec::new()),
        Some("edited") => {
            let changes: Vec<ChangeInput> = payload
                .get("changes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(field, what)| {
                    let old = what.get("from")?.clone();
                    let new = object.and_then(|o| o.get(field)).cloned().unwrap_or(Value::Null);
                    (old != new).then(|| change(field, old, new))
                })
                .take(32)
                .collect();
            if changes.is_empty() {
                ("custom", changes)
            } else {
                ("updated", changes)
            }
        }
        Some(verb @ ("closed" | "reopened")) => {
            let merged =
                object.and_then(|o| o.get("merged")).and_then(Value::as_bool) == Some(true);
            let (old, new) = match (verb, merged) {
                ("closed", true) => ("open", "merged"),
                ("closed", false) => ("open", "closed"),
                _ => ("closed", "open"),
            };
            ("state_changed", vec![change("state", json!(old), json!(new))])
        }
        _ => ("custom", Vec::new()),
    }
}

/// One delivery as a draft.
fn draft(event: &str, payload: Value) -> Draft {
    let action = str_at(&payload, "/action");
    let event_type = match action {
        Some(action) => format!("github.{}.{}", super::dotted(event), super::dotted(action)),
        None => format!("github.{}", super::dotted(event)),
    };
    let repo = str_at(&payload, "/repository/full_name");
    let sender = str_at(&payload, "/sender/login").unwrap_or("someone");
    let (object_kind, object) = if let Some(issue) = payload.get("issue") {
        ("issue", Some(issue))
    } else if let Some(pr) = payload.get("pull_request") {
        ("pull_request", Some(pr))
    } else {
        ("", None)
    };
    let in_repo = repo.map(|r| format!(" in {r}")).unwrap_or_default();
    let title = match (event, object) {
        ("ping", _) => format!("GitHub webhook connected{in_repo}"),
        ("push", _) => {
            let commits = payload.get("commits").and_then(Value::as_array).map_or(0, Vec::len);
            let branch = str_at(&payload, "/ref").map(|r| r.trim_start_matches("refs/heads/"));
            let s = if commits == 1 { "" } else { "s" };
            format!("{sender} pushed {commits} commit{s} to {}{in_repo}", branch.unwrap_or("?"))
        }
        (_, Some(object)) => {
            let number = object.get("number").and_then(Value::as_i64).unwrap_or_default();
            let name = str_at(object, "/title").unwrap_or("");
            let merged = object.get("merged").and_then(Value::as_bool) == Some(true);
            let verb = if merged && action == Some("closed") {
                "merged"
            } else {
                action.unwrap_or("updated")
            };
            let noun = if object_kind == "issue" { "issue" } else { "pull request" };
            format!("{sender} {verb} {noun} #{number}{in_repo}: {name}")
        }
        _ => format!("{sender}: {} {}{in_repo}", event.replace('_', " "), action.unwrap_or("")),
    };
    let (spine_action, changes) = action_of(action, &payload, object);
    let mut draft = Draft::new(&event_type, super::clip(&title, 512), "github", payload.clone())
        .action(spine_action);
    if !changes.is_empty() {
        draft.event.changes = Some(changes);
    }
    if let Some(login) = str_at(&payload, "/sender/login") {
        let kind = if str_at(&payload, "/sender/type") == Some("Bot") { "service" } else { "user" };
        draft = draft.actor(login, Some(login), kind);
    }
    let mut data = json!({"event": event});
    if let Some(repo) = repo {
        data["repository"] = json!(repo);
    }
    match object {
        Some(object) => {
            let number = object.get("number").and_then(Value::as_i64).unwrap_or_default();
            let id = format!("{}#{number}", repo.unwrap_or("?"));
            draft = draft.entity(&format!("github.{object_kind}"), &id, str_at(object, "/title"));
            if let Some(object_id) = object.get("id").and_then(Value::as_i64) {
                draft = draft.object(object_kind, &object_id.to_string());
            }
            draft = draft.at(str_at(object, "/updated_at").map(str::to_owned));
            for field in ["number", "state", "html_url", "merged"] {
                if let Some(value) = object.get(field).filter(|v| !v.is_null()) {
                    data[field] = value.clone();
                }
            }
        }
        None => {
            if let Some(repo) = repo {
                draft = draft.entity("github.repository", repo, Some(repo));
            }
            if event == "push" {
                draft = draft.at(str_at(&payload, "/head_commit/timestamp").map(str::to_owned));
                for field in ["ref", "compare", "forced"] {
                    if let Some(value) = payload.get(field) {
                        data[field] = value.clone();
                    }
                }
                let commits = payload.get("commits").and_then(Value::as_array).map_or(0, Vec::len);
                data["commits"] = json!(commits);
            }
        }
    }
    draft.data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Direction, Mapping};
    use crate::time::Timestamp;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use sha2::Sha256;

    // GitHub's documented test values ("Testing the webhook payload validation").
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    // Computed offline with Python's standard library:
    // hmac.new(b"previous secret", b"Hello, World!", hashlib.sha256).hexdigest()
    const OLD_SECRET: &str = "previous secret";
    const OLD_SIG: &str = "sha256=cee9dc257995e894f9f166188c62ad732e87d501db6798810256f4c9102d87e3";

    fn check(sig: &str, body: &[u8], secrets: &[&str]) -> Result<(), VerifyError> {
        let headers: &Headers = &[("X-Hub-Signature-256", sig.as_bytes())];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, body, &secrets)
    }

    /// An independent signer for the property tests: the hmac crate used directly.
    fn sign_independently(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn documented_example_passes() {
        assert_eq!(check(SIG, BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_body_mismatch() {
        assert_eq!(check(SIG, BODY, &[OLD_SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, b"Hello, World?", &[SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, b"Hello, World! ", &[SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, BODY, &[]), Err(VerifyError::Mismatch));
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            verify(&[], BODY, &[SECRET.as_bytes()]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        // The legacy SHA-1 header does not stand in for the SHA-256 one.
        let legacy: &Headers =
            &[("X-Hub-Signature", b"sha1=0000000000000000000000000000000000000000")];
        assert_eq!(
            verify(legacy, BODY, &[SECRET.as_bytes()]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        for sig in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700",
            "sha256=",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert_eq!(check(sig, BODY, &[SECRET]), Err(VerifyError::Malformed), "{sig}");
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        assert_eq!(check(SIG, BODY, &[SECRET, OLD_SECRET]), Ok(()));
        assert_eq!(check(OLD_SIG, BODY, &[SECRET, OLD_SECRET]), Ok(()));
        assert_eq!(check(OLD_SIG, BODY, &[SECRET]), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign_independently(SECRET.as_bytes(), &body);
            prop_assert_eq!(check(&sig, &body, &[SECRET]), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(&sig, &tampered, &[SECRET]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_signature_byte_change_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut sig = SIG.as_bytes().to_vec();
            let i = at.index(sig.len());
            sig[i] ^= flip;
            let headers: &Headers = &[("x-hub-signature-256", &sig)];
            prop_assert!(verify(headers, BODY, &[SECRET.as_bytes()]).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, "X-Hub-Signature-256", "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "sha256=[0-9a-f]{0,66}".prop_map(String::into_bytes),
                    ],
                ),
                0..4,
            ),
            body in prop::collection::vec(any::<u8>(), 0..50),
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, &body, &[SECRET.as_bytes()]).is_err());
        }
    }

    fn fixture(event: &str, name: &str) -> Vec<Draft> {
        let body = match name {
            "issues-opened" => include_str!("fixtures/github/issues-opened.json"),
            "push" => include_str!("fixtures/github/push.json"),
            "ping" => include_str!("fixtures/github/ping.json"),
            _ => include_str!("fixtures/github/pull_request-closed.json"),
        };
        let request = Stored {
            headers: vec![
                ("x-github-event".into(), event.into()),
                ("x-github-delivery".into(), "72d3162e-cc78-11e3-81ab-4c9367dc0958".into()),
            ],
            body: body.as_bytes().to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        assert_eq!(
            GitHub.delivery_id(&request).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        GitHub.normalize(&request, &context).unwrap()
    }

    #[test]
    fn documented_payloads_become_events() {
        let issue = &fixture("issues", "issues-opened")[0].event;
        assert_eq!(issue.event_type.as_deref(), Some("github.issues.opened"));
        assert_eq!(issue.action.as_deref(), Some("created"));
        assert_eq!(
            issue.title.as_deref(),
            Some("octocat opened issue #1347 in octo-org/hello-world: Found a bug")
        );
        let entity = issue.entity.as_ref().unwrap();
        assert_eq!(entity.entity_type.as_deref(), Some("github.issue"));
        assert_eq!(entity.id.as_deref(), Some("octo-org/hello-world#1347"));
        assert_eq!(issue.occurred_at.as_deref(), Some("2011-04-22T13:33:48Z"));
        assert_eq!(issue.actor.as_ref().unwrap().id.as_deref(), Some("octocat"));

        let push = &fixture("push", "push")[0].event;
        assert_eq!(push.event_type.as_deref(), Some("github.push"));
        assert_eq!(
            push.title.as_deref(),
            Some("baxterthehacker pushed 1 commit to main in octo-org/hello-world")
        );
        assert_eq!(push.occurred_at.as_deref(), Some("2015-05-05T19:40:15-04:00"));
        assert_eq!(push.data.as_ref().unwrap()["commits"], json!(1));

        let pr = &fixture("pull_request", "pull_request-closed")[0].event;
        assert_eq!(pr.event_type.as_deref(), Some("github.pull_request.closed"));
        assert_eq!(pr.action.as_deref(), Some("state_changed"));
        assert!(pr.title.as_deref().unwrap().starts_with("dependabot[bot] merged pull request #2"));
        assert_eq!(pr.actor.as_ref().unwrap().kind.as_deref(), Some("service"));

        let ping = &fixture("ping", "ping")[0].event;
        assert_eq!(ping.event_type.as_deref(), Some("github.ping"));
    }

    #[test]
    fn every_fixture_makes_a_valid_event() {
        use crate::input::EventLimits;
        for (event, name) in [
            ("issues", "issues-opened"),
            ("push", "push"),
            ("ping", "ping"),
            ("pull_request", "pull_request-closed"),
        ] {
            for draft in fixture(event, name) {
                let valid = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
                assert!(valid.is_ok(), "{name}: {valid:?}");
            }
        }
        let pr = fixture("pull_request", "pull_request-closed").remove(0).event;
        let changes = pr.changes.unwrap();
        assert_eq!(
            (changes[0].old.clone(), changes[0].new.clone()),
            (json!("open"), json!("merged"))
        );
    }

    #[test]
    fn edits_list_what_changed() {
        let payload = json!({
            "action": "edited",
            "changes": {"title": {"from": "Old"}},
            "issue": {"number": 1, "title": "New", "id": 9},
            "repository": {"full_name": "o/r"},
            "sender": {"login": "ana", "type": "User"}
        });
        let draft = draft("issues", payload);
        assert_eq!(draft.event.action.as_deref(), Some("updated"));
        let change = &draft.event.changes.as_ref().unwrap()[0];
        assert_eq!((change.old.clone(), change.new.clone()), (json!("Old"), json!("New")));
    }

    #[test]
    fn form_encoded_payloads_are_read_too() {
        let json = include_str!("fixtures/github/ping.json");
        let body: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish();
        let request = Stored {
            headers: vec![
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ("x-github-event".into(), "ping".into()),
            ],
            body: body.into_bytes(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        let drafts = GitHub.normalize(&request, &context).unwrap();
        assert_eq!(drafts[0].event.event_type.as_deref(), Some("github.ping"));
        let no_event = Stored { headers: vec![], ..request };
        assert!(GitHub.normalize(&no_event, &context).is_err());
    }
}
