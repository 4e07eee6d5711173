//! Conformance cases for ingestion: channels ([`crate::Channels`]), the ledger
//! ([`crate::Ledger`]) and identifiers ([`crate::Identifiers`]).

use super::{at, new_event, tenant, Db};
use crate::ledger::{Ingest, IngestEvent, NewLedgerEntry};
use crate::{AppendOutcome, LedgerQuery, StoreError, Verdict};
use serde_json::json;
use spine_core::channel::{ChannelInput, NewChannel, Provider};
use spine_core::{IdempotencyKey, TenantId};
use uuid::Uuid;

fn channel(name: &str, provider: &str) -> NewChannel {
    let input: ChannelInput = serde_json::from_value(json!({
        "name": name, "provider": provider, "event_type": "crm.call",
        "mapping": {"title": "/subject", "entity.type": "deal"}
    }))
    .expect("channel json");
    input.validate().expect("valid channel").0
}

fn entry(channel_id: &str, verdict: Verdict, seconds: i64) -> NewLedgerEntry {
    NewLedgerEntry {
        id: Uuid::now_v7(),
        channel_id: channel_id.to_owned(),
        provider: Provider::Github,
        received_at: at(seconds),
        verdict,
        reason: (verdict != Verdict::Accepted).then(|| "signature invalid".to_owned()),
        delivery_id: Some(format!("d-{seconds}")),
        headers: vec![("x-github-event".to_owned(), "push".to_owned())],
        body: b"{\"a\":1}".to_vec(),
        body_bytes: 7,
    }
}

fn keyed(title: &str, key: &str) -> IngestEvent {
    IngestEvent {
        event: new_event(json!({"type": "github.push", "title": title, "idempotency_key": key})),
        correction_key: None,
        job: None,
    }
}

/// Channels are created with their sealed secret, found by id from any tenant's point of view
/// (a provider's request carries no tenant), listed, updated without touching the secret,
/// rotated with a grace deadline, and deleted; another tenant never sees them.
pub async fn channels_are_stored_found_rotated_and_fenced(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let created = store
        .create_channel(&t, "ch_a", &channel("Calls", "generic"), "sealed.v1.one")
        .await
        .expect("create");
    assert_eq!((created.tenant.clone(), created.id.as_str()), (t.clone(), "ch_a"));
    assert_eq!(created.settings, channel("Calls", "generic"));
    assert_eq!(created.secret, "sealed.v1.one");
    assert!(!created.disabled && created.previous_secret.is_none());
    let taken = store.create_channel(&other, "ch_a", &channel("X", "github"), "s").await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "ids are unique across tenants");
    store.create_channel(&t, "ch_b", &channel("Pushes", "github"), "s2").await.expect("second");

    let found = store.find_channel("ch_a").await.expect("find").expect("found");
    assert_eq!(found, created);
    assert!(store.find_channel("nope").await.expect("find").is_none());
    assert!(store.get_channel(&other, "ch_a").await.expect("get").is_none(), "fenced");
    assert_eq!(store.get_channel(&t, "ch_a").await.expect("get"), Some(created.clone()));
    let listed = store.list_channels(&t).await.expect("list");
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ch_a", "ch_b"]);
    assert!(store.list_channels(&other).await.expect("list").is_empty());

    let mut settings = channel("Calls renamed", "generic");
    settings.process = true;
    assert!(store.update_channel(&other, "ch_a", &settings, true).await.expect("x").is_none());
    let updated = store.update_channel(&t, "ch_a", &settings, true).await.expect("update");
    let updated = updated.expect("exists");
    assert_eq!((updated.settings.name.as_str(), updated.disabled), ("Calls renamed", true));
    assert_eq!(updated.secret, "sealed.v1.one", "settings never touch the secret");

    // A claude-code channel's privacy settings round-trip, created and changed.
    let agents = |max_chars: u64| -> NewChannel {
        let input: ChannelInput = serde_json::from_value(json!({
            "name": "Agents", "provider": "claude-code",
            "privacy": {"max_chars": max_chars, "redact": ["ACME-[0-9]{6}", "(?i)falcon"]}
        }))
        .expect("channel json");
        input.validate().expect("valid channel").0
    };
    let made = store.create_channel(&t, "ch_c", &agents(64), "s3").await.expect("create");
    assert_eq!(made.settings, agents(64));
    let changed = store.update_channel(&t, "ch_c", &agents(512), false).await.expect("update");
    assert_eq!(changed.expect("exists").settings.privacy, agents(512).privacy);
    let found = store.find_channel("ch_c").await.expect("find").expect("found");
    assert_eq!(found.settings.privacy.max_chars, 512);
    assert_eq!(
        found.settings.privacy.patterns().collect::<Vec<_>>(),
        ["ACME-[0-9]{6}", "(?i)falcon"]
    );

    let until = at(86_400);
    assert!(store.rotate_channel_secret(&other, "ch_a", "x", until).await.expect("x").is_none());
    let rotated = store.rotate_channel_secret(&t, "ch_a", "sealed.v1.two", until).await;
    let rotated = rotated.expect("rotate").expect("exists");
    assert_eq!(rotated.secret, "sealed.v1.two");
    assert_eq!(rotated.previous_secret.as_deref(), Some("sealed.v1.one"));
    assert_eq!(rotated.previous_until, Some(until));
    assert_eq!(rotated.live_secrets(at(0)), ["sealed.v1.two", "sealed.v1.one"]);
    assert_eq!(rotated.live_secrets(until), ["sealed.v1.two"], "the grace period ends");

    assert!(!store.delete_channel(&other, "ch_a").await.expect("delete"), "fenced");
    assert!(store.delete_channel(&t, "ch_a").await.expect("delete"));
    assert!(!store.delete_channel(&t, "ch_a").await.expect("delete"));
    assert!(store.find_channel("ch_a").await.expect("find").is_none());
}

/// A receipt commits its events and its ledger entry together; a redelivery (same delivery
/// keys) is a `duplicate` naming the first events, even when its content reads differently;
/// rejected and failed requests are entries without events. Lists are newest first, filter by
/// channel and verdict, page, and stay inside the tenant.
pub async fn the_ledger_records_every_request_with_its_events(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let first = entry("ch_a", Verdict::Accepted, 1);
    let first_id = first.id;
    let events = vec![keyed("Pushed", "ingest:k1"), keyed("Pushed again", "ingest:k2")];
    let done = store.ingest(&t, Ingest::Receipt(first, events)).await.expect("ingest");
    assert_eq!(done.verdict, Verdict::Accepted);
    assert!(done.outcomes.iter().all(|o| matches!(o, AppendOutcome::Created(_))));
    let ids: Vec<Uuid> = done.outcomes.iter().map(|o| o.event().id).collect();

    let redelivery = vec![keyed("Pushed", "ingest:k1"), keyed("Read differently", "ingest:k2")];
    let again = store
        .ingest(&t, Ingest::Receipt(entry("ch_a", Verdict::Accepted, 2), redelivery))
        .await
        .expect("again");
    assert_eq!(again.verdict, Verdict::Duplicate);
    assert_eq!(again.outcomes.iter().map(|o| o.event().id).collect::<Vec<_>>(), ids);
    assert!(again.outcomes.iter().all(|o| matches!(o, AppendOutcome::Repeat(_))));

    let rejected = entry("ch_b", Verdict::Rejected, 3);
    let done = store.ingest(&t, Ingest::Receipt(rejected, vec![])).await.expect("rejected");
    assert_eq!(done.verdict, Verdict::Rejected);
    let failed = entry("ch_a", Verdict::Failed, 4);
    let failed_id = failed.id;
    store.ingest(&t, Ingest::Receipt(failed, vec![])).await.expect("failed");
    store
        .ingest(&other, Ingest::Receipt(entry("ch_x", Verdict::Accepted, 5), vec![]))
        .await
        .expect("other tenant");

    let page = |channel: Option<&str>, verdict: Option<Verdict>, limit: usize| LedgerQuery {
        channel: channel.map(str::to_owned),
        verdict,
        before: None,
        limit,
    };
    let all = store.list_requests(&t, &page(None, None, 10)).await.expect("list");
    let verdicts: Vec<Verdict> = all.iter().map(|e| e.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Failed, Verdict::Rejected, Verdict::Duplicate, Verdict::Accepted],
        "newest first, this tenant only"
    );
    assert_eq!(all[3].event_ids, ids);
    assert_eq!(all[2].event_ids, ids, "a duplicate names the events delivered before");
    assert_eq!(all[3].headers, vec![("x-github-event".to_owned(), "push".to_owned())]);
    assert_eq!((all[3].body.as_slice(), all[3].body_bytes), (&b"{\"a\":1}"[..], 7));
    assert_eq!(all[3].delivery_id.as_deref(), Some("d-1"));
    assert_eq!(all[1].reason.as_deref(), Some("signature invalid"));
    let ch_b = store.list_requests(&t, &page(Some("ch_b"), None, 10)).await.expect("list");
    assert_eq!(ch_b.len(), 1);
    let accepted =
        store.list_requests(&t, &page(None, Some(Verdict::Accepted), 10)).await.expect("list");
    assert_eq!(accepted.iter().map(|e| e.id).collect::<Vec<_>>(), [first_id]);
    let first_two = store.list_requests(&t, &page(None, None, 2)).await.expect("list");
    let mut rest = page(None, None, 10);
    rest.before = first_two.last().map(|e| (e.received_at, e.id));
    let rest = store.list_requests(&t, &rest).await.expect("list");
    assert_eq!(first_two.len() + rest.len(), 4);
    assert_eq!(rest.first().map(|e| e.verdict), Some(Verdict::Duplicate));

    let got = store.get_request(&t, failed_id).await.expect("get").expect("found");
    assert_eq!(got.verdict, Verdict::Failed);
    assert!(store.get_request(&other, failed_id).await.expect("get").is_none(), "fenced");

    let gone = store.purge_requests(at(3)).await.expect("purge");
    assert_eq!(gone, 2, "entries before the cut-off, of every tenant");
    assert_eq!(store.list_requests(&t, &page(None, None, 10)).await.expect("list").len(), 2);
    assert_eq!(store.list_requests(&other, &page(None, None, 10)).await.expect("l").len(), 1);
}

/// A replay repeats the events it had produced, stores corrected events under their correction
/// keys when the content changed, and updates the entry: its event list grows and a `failed`
/// entry that now produces events becomes `accepted`.
pub async fn replays_repeat_or_correct_and_update_the_entry(store: Db) {
    let t = tenant(&store, "acme").await;
    let original = entry("ch_a", Verdict::Accepted, 1);
    let id = original.id;
    let done = store
        .ingest(&t, Ingest::Receipt(original, vec![keyed("Old title", "ingest:k1")]))
        .await
        .expect("receipt");
    let first = done.outcomes[0].event().clone();

    let same = store
        .ingest(
            &t,
            Ingest::Replay {
                id,
                previous: vec![first.id],
                events: vec![IngestEvent {
                    correction_key: Some(key("ingest:k1:fix")),
                    ..keyed("Old title", "ingest:k1")
                }],
            },
        )
        .await
        .expect("replay");
    assert!(matches!(&same.outcomes[0], AppendOutcome::Repeat(e) if e.id == first.id));

    let corrected = store
        .ingest(
            &t,
            Ingest::Replay {
                id,
                previous: vec![first.id],
                events: vec![IngestEvent {
                    correction_key: Some(key("ingest:k1:fix")),
                    ..keyed("New title", "ingest:k1")
                }],
            },
        )
        .await
        .expect("replay");
    let AppendOutcome::Created(fixed) = &corrected.outcomes[0] else {
        panic!("a corrected event, got {:?}", corrected.outcomes[0])
    };
    assert_eq!(fixed.title, "New title");
    assert_eq!(fixed.idempotency_key.as_ref().map(IdempotencyKey::as_str), Some("ingest:k1:fix"));
    let stored = store.get_request(&t, id).await.expect("get").expect("found");
    assert_eq!(stored.event_ids, vec![first.id, fixed.id]);
    assert_eq!(stored.verdict, Verdict::Accepted);

    let failed = entry("ch_a", Verdict::Failed, 2);
    let failed_id = failed.id;
    store.ingest(&t, Ingest::Receipt(failed, vec![])).await.expect("failed");
    let fixed_later = store
        .ingest(
            &t,
            Ingest::Replay {
                id: failed_id,
                previous: vec![],
                events: vec![keyed("Now readable", "ingest:k9")],
            },
        )
        .await
        .expect("replay");
    assert_eq!(fixed_later.verdict, Verdict::Accepted);
    let stored = store.get_request(&t, failed_id).await.expect("get").expect("found");
    assert_eq!((stored.verdict, stored.reason), (Verdict::Accepted, None));
    assert_eq!(stored.event_ids, vec![fixed_later.outcomes[0].event().id]);
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::parse(s, 255).expect("key")
}

/// Identifiers sit on one entity per tenant: adding again is harmless, another entity gets a
/// conflict, matching finds them, deleting removes them, and tenants never see each other's.
pub async fn identifiers_name_one_entity_per_tenant(store: Db) {
    let t = tenant(&store, "acme").await;
    let other: TenantId = tenant(&store, "other").await;
    let added =
        store.add_identifier(&t, "contact", "c1", "email", "ana@example.com").await.expect("add");
    assert_eq!(
        (added.kind.as_str(), added.entity_type.as_str(), added.entity_id.as_str()),
        ("email", "contact", "c1")
    );
    let again = store.add_identifier(&t, "contact", "c1", "email", "ana@example.com").await;
    assert_eq!(again.expect("again"), added);
    let taken = store.add_identifier(&t, "contact", "c2", "email", "ana@example.com").await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    store.add_identifier(&t, "contact", "c1", "phone", "+14155550100").await.expect("phone");
    store.add_identifier(&other, "contact", "z9", "phone", "+14155550100").await.expect("other");

    let listed = store.list_identifiers(&t, "contact", "c1").await.expect("list");
    assert_eq!(
        listed.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(),
        ["+14155550100", "ana@example.com"]
    );
    let values = vec!["+14155550100".to_owned(), "nobody@example.com".to_owned()];
    let matched = store.match_identifiers(&t, &values).await.expect("match");
    assert_eq!(matched.len(), 1);
    assert_eq!((matched[0].entity_id.as_str(), matched[0].kind.as_str()), ("c1", "phone"));
    let theirs = store.match_identifiers(&other, &values).await.expect("match");
    assert_eq!(theirs[0].entity_id, "z9", "each tenant matches its own");
    assert!(store.match_identifiers(&t, &[]).await.expect("none").is_empty());

    assert!(!store.delete_identifier(&t, "contact", "c2", "+14155550100").await.expect("d"));
    assert!(store.delete_identifier(&t, "contact", "c1", "+14155550100").await.expect("d"));
    assert!(store.match_identifiers(&t, &values).await.expect("match").is_empty());
    assert_eq!(store.list_identifiers(&other, "contact", "z9").await.expect("l").len(), 1);

    assert_eq!(store.phone_region(&t).await.expect("region"), None);
    store.set_phone_region(&t, Some("DE")).await.expect("set");
    store.set_phone_region(&t, Some("GB")).await.expect("replace");
    assert_eq!(store.phone_region(&t).await.expect("region").as_deref(), Some("GB"));
    assert_eq!(store.phone_region(&other).await.expect("region"), None, "per tenant");
    store.set_phone_region(&t, None).await.expect("clear");
    assert_eq!(store.phone_region(&t).await.expect("region"), None);
}

/// Files stream in as chunks under an upload id, are named by their hash when finished (a
/// second upload of the same content is dropped, the first kept), read back chunk by chunk
/// with the events carrying them, and stay inside their tenant; aborted and abandoned
/// uploads leave nothing.
pub async fn blobs_are_chunked_named_by_hash_and_fenced(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let blob = |chunks: u32| crate::NewBlob {
        sha256: "ab".repeat(32),
        size: 6,
        content_type: "text/plain; charset=utf-8".to_owned(),
        chunks,
    };
    let first = Uuid::now_v7();
    store.put_chunk(&t, first, 0, b"hel".to_vec()).await.expect("chunk");
    store.put_chunk(&t, first, 1, b"lo!".to_vec()).await.expect("chunk");
    let stored = store.finish_upload(&t, first, blob(2)).await.expect("finish");
    assert_eq!((stored.size, stored.chunks, stored.refs.len()), (6, 2, 0));
    let read = |i| store.blob_chunk(&t, &stored.sha256, i);
    assert_eq!(read(0).await.expect("read"), Some(b"hel".to_vec()));
    assert_eq!(read(1).await.expect("read"), Some(b"lo!".to_vec()));
    assert_eq!(read(2).await.expect("read"), None);

    let again = Uuid::now_v7();
    store.put_chunk(&t, again, 0, b"hello!".to_vec()).await.expect("chunk");
    let same = store.finish_upload(&t, again, blob(1)).await.expect("finish");
    assert_eq!((same.chunks, same.created_at), (2, stored.created_at), "the first upload stands");
    assert_eq!(store.blob_chunk(&t, &same.sha256, 1).await.expect("read"), Some(b"lo!".to_vec()));

    let event = Uuid::now_v7();
    store.add_blob_ref(&t, &stored.sha256, event, "hello.txt").await.expect("ref");
    store.add_blob_ref(&t, &stored.sha256, event, "hello.txt").await.expect("ref again");
    let meta = store.get_blob(&t, &stored.sha256).await.expect("get").expect("found");
    assert_eq!(meta.refs, vec![(event, "hello.txt".to_owned())]);

    assert!(store.get_blob(&other, &stored.sha256).await.expect("get").is_none(), "fenced");
    assert_eq!(store.blob_chunk(&other, &stored.sha256, 0).await.expect("read"), None);

    let aborted = Uuid::now_v7();
    store.put_chunk(&t, aborted, 0, b"partial".to_vec()).await.expect("chunk");
    store.abort_upload(&t, aborted).await.expect("abort");
    let abandoned = Uuid::now_v7();
    store.put_chunk(&other, abandoned, 0, b"left".to_vec()).await.expect("chunk");
    let later = spine_core::Timestamp::now().plus_seconds(60);
    let gone = store.purge_abandoned_uploads(later).await.expect("purge");
    assert_eq!(gone, 1, "only the unfinished upload's chunk, of any tenant");
    assert_eq!(store.blob_chunk(&t, &stored.sha256, 0).await.expect("read"), Some(b"hel".to_vec()));
}
