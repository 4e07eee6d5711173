use super::*;
use crate::channel::{Direction, Mapping};
use crate::ingest::{FailedAnswer, Headers};
use proptest::prelude::*;

const ORG: &str = "00D5e000000HJfgEAG";
const OPPORTUNITY: &[u8] = include_bytes!("../fixtures/salesforce/opportunity.xml");
const CONTACTS: &[u8] = include_bytes!("../fixtures/salesforce/contacts.xml");

fn stored(body: &[u8]) -> Stored {
    Stored {
        headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
        body: body.to_vec(),
        received_at: Timestamp::from_micros(0).unwrap(),
    }
}

fn normalize(body: &[u8]) -> Result<Vec<Draft>, Unreadable> {
    let mapping = Mapping::default();
    let context = Context {
        channel_id: "ch",
        event_type: None,
        direction: Direction::Inbound,
        mapping: &mapping,
        privacy: &crate::channel::Privacy::default(),
    };
    Salesforce.normalize(&stored(body), &context)
}

/// A draft's event passes the API's validation, as the server will check it.
fn assert_valid(draft: &Draft) {
    let limits = crate::input::EventLimits::default();
    let checked = draft.event.clone().validate(uuid::Uuid::nil(), None, &limits);
    assert!(checked.is_ok(), "{:?}", checked.err());
}

/// A message around `inner` (the `notifications` element's content).
fn envelope(inner: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">{inner}</notifications></soapenv:Body></soapenv:Envelope>"#
    )
    .into_bytes()
}

#[test]
fn the_org_id_authenticates() {
    assert_eq!(verify(OPPORTUNITY, &[ORG.as_bytes()]), Ok(()));
    assert_eq!(verify(OPPORTUNITY, &[b"00D000000000001AAA", ORG.as_bytes()]), Ok(()));
    assert_eq!(verify(OPPORTUNITY, &[b"00D000000000001AAA"]), Err(VerifyError::Mismatch));
    assert_eq!(verify(OPPORTUNITY, &[&ORG.as_bytes()[..15]]), Err(VerifyError::Mismatch));
    assert_eq!(verify(OPPORTUNITY, &[]), Err(VerifyError::Mismatch));
    let no_org = envelope("<ActionId>04k</ActionId>");
    assert_eq!(verify(&no_org, &[ORG.as_bytes()]), Err(VerifyError::Missing("organizationid")));
    assert_eq!(verify(b"{\"OrganizationId\": 1}", &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    let headers: &Headers = &[];
    let request =
        Received { method: "POST", url: "https://x/", headers, body: OPPORTUNITY, now: 0 };
    assert_eq!(Salesforce.verify(&request, &[ORG.as_bytes()]), Ok(()));
}

#[test]
fn hostile_xml_is_refused_before_and_after_verification() {
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        String::from_utf8_lossy(&envelope(&format!("<OrganizationId>{ORG}</OrganizationId>&x;")))
            .trim_start_matches(r#"<?xml version="1.0"?>"#)
    );
    assert_eq!(verify(xxe.as_bytes(), &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    assert!(normalize(xxe.as_bytes()).unwrap_err().0.contains("document type"));
    let laughs = r#"<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>"#;
    assert_eq!(verify(laughs.as_bytes(), &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    let entity = envelope(&format!("<OrganizationId>{ORG}&c;</OrganizationId>"));
    assert_eq!(verify(&entity, &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    let deep = envelope(&format!("{}{}", "<x>".repeat(40), "</x>".repeat(40)));
    assert_eq!(verify(&deep, &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    assert!(normalize(&deep).unwrap_err().0.contains("too large or too deeply nested"));
    let huge = vec![b' '; xml::MAX_BYTES + 1];
    assert_eq!(verify(&huge, &[ORG.as_bytes()]), Err(VerifyError::Malformed));
    for bad in [&b"<soapenv:Envelope>"[..], b"", b"<a></b>", b"not xml"] {
        assert_eq!(verify(bad, &[ORG.as_bytes()]), Err(VerifyError::Malformed));
        assert!(normalize(bad).is_err());
    }
}

#[test]
fn an_opportunity_notification_becomes_an_event() {
    let drafts = normalize(OPPORTUNITY).unwrap();
    assert_eq!(drafts.len(), 1);
    assert_valid(&drafts[0]);
    let draft = &drafts[0];
    let event = &draft.event;
    assert_eq!(event.event_type.as_deref(), Some("salesforce.opportunity.changed"));
    assert_eq!(event.action, None, "custom: the message has no old values to list as changes");
    assert_eq!(event.title.as_deref(), Some("Opportunity updated: Acme & Co - 1,200 Widgets"));
    let actor = event.actor.as_ref().unwrap();
    assert_eq!(
        (actor.id.as_deref(), actor.kind.as_deref()),
        (Some("0055e000003kYtBAAU"), Some("user"))
    );
    let entity = event.entity.as_ref().unwrap();
    assert_eq!(entity.entity_type.as_deref(), Some("salesforce.opportunity"));
    assert_eq!(entity.id.as_deref(), Some("0065e00000BnCpTAAV"));
    assert_eq!(entity.name.as_deref(), Some("Acme & Co - 1,200 Widgets"));
    let source = event.source.as_ref().unwrap();
    assert_eq!(source.system.as_deref(), Some("salesforce"));
    assert_eq!(source.object_type.as_deref(), Some("Opportunity"));
    assert_eq!(event.occurred_at.as_deref(), Some("2024-05-14T16:20:05.000Z"));
    assert_eq!(draft.delivery_id.as_deref(), Some("04l5e00000FqN7CAAV"));
    let data = event.data.as_ref().unwrap();
    assert_eq!(data["StageName"], json!("Closed Won"));
    assert_eq!(data["Amount"], json!("120000.0"));
    assert!(data.get("NextStep").is_none(), "nil fields stay out of data");
    assert_eq!(draft.payload["NextStep"], Value::Null);
    assert_eq!(draft.payload["Id"], json!("0065e00000BnCpTAAV"));
    assert!(!data.to_string().contains(ORG), "the org id is the channel secret");
}

#[test]
fn each_notification_is_an_event_and_the_session_id_is_never_kept() {
    let drafts = normalize(CONTACTS).unwrap();
    assert_eq!(drafts.len(), 2);
    drafts.iter().for_each(assert_valid);
    assert_eq!(drafts[0].event.event_type.as_deref(), Some("salesforce.contact.changed"));
    assert_eq!(drafts[0].event.title.as_deref(), Some("Contact updated: Ana Lima"));
    assert_eq!(drafts[1].event.title.as_deref(), Some("Contact 0035e00000Xk2QqAAJ updated"));
    assert_eq!(drafts[1].event.occurred_at, None);
    assert!(drafts[1].event.actor.is_none());
    assert_eq!(drafts[1].delivery_id.as_deref(), Some("04l5e00000FqN8BAAV"));
    for draft in &drafts {
        let everything = format!("{:?} {}", draft.event, draft.payload);
        assert!(!everything.contains("FakeSessionToken"), "{everything}");
    }
    assert_eq!(Salesforce.delivery_id(&stored(CONTACTS)), None);
}

#[test]
fn answers_and_secrets() {
    let (content_type, body) = Salesforce.accepted_body().unwrap();
    assert_eq!(content_type, "text/xml; charset=utf-8");
    let ack = xml::parse(body.as_bytes()).unwrap();
    let response = ack.child("Body").and_then(|b| b.child("notificationsResponse")).unwrap();
    assert_eq!(response.child_text("Ack"), Some("true"));
    assert_eq!(Salesforce.new_secret(&[7; 32]), None);
    assert_eq!(Salesforce.failed_answer(), FailedAnswer::Accept);
    assert_eq!(Salesforce.kept_headers(), &["content-type", "soapaction"]);
}

#[test]
fn unreadable_messages_say_why() {
    for (inner, why) in [
        ("", "no Notification"),
        ("<Notification><Id>1</Id></Notification>", "no sObject"),
        (
            "<Notification><sObject><sf:Id xmlns:sf='u'>1</sf:Id></sObject></Notification>",
            "xsi:type",
        ),
        ("<Notification><sObject xsi:type='sf:Lead' xmlns:xsi='x'/></Notification>", "no Id"),
    ] {
        let error = normalize(&envelope(inner)).unwrap_err();
        assert!(error.0.contains(why), "{inner}: {error}");
    }
    assert!(normalize(b"<a/>").unwrap_err().0.contains("SOAP envelope"));
}

proptest! {
    #[test]
    fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = normalize(&body);
        let _ = verify(&body, &[ORG.as_bytes()]);
    }

    #[test]
    fn any_notification_content_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec!["<Notification>", "</Notification>", "<Id>n1</Id>",
                "<sObject xsi:type='sf:Case' xmlns:xsi='x' xmlns:sf='y'>", "</sObject>",
                "<sf:Id xmlns:sf='y'>5001</sf:Id>", "<Name>É &amp; ü</Name>", "<a xsi:nil='true'/>",
                "<LastModifiedDate>2024-01-01T00:00:00Z</LastModifiedDate>", "text", "&#x1F600;"]),
            0..16,
        ),
    ) {
        if let Ok(drafts) = normalize(&envelope(&parts.concat())) {
            for draft in drafts {
                let event_type = draft.event.event_type.unwrap();
                prop_assert!(crate::text::is_dotted_name(&event_type, 128));
            }
        }
    }
}
