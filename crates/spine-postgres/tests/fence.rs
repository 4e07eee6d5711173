//! Row-level security, the second tenant fence: with a credential of tenant A, queries that
//! deliberately name no tenant still see only A's rows, and a query outside a fenced transaction
//! sees none.

use spine_core::note::{Author, AuthorKind, NoteInput};
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::Entity;
use spine_postgres::testing as support;

use serde_json::json;
use spine_core::channel::{ChannelInput, Provider};
use spine_core::input::{EventInput, EventLimits};
use spine_core::{EventType, NewEvent, Role, Seq, TenantId, Timestamp, TypeInfo, UserId};
use spine_store::ledger::{Ingest, NewLedgerEntry};
use spine_store::{NewApiKey, NewBlob, NewSecret, NewSessionSecret, Redeemed, Store, Verdict};
use uuid::Uuid;

fn event(title: &str, tag: &str) -> NewEvent {
    let input = json!({"type": "deploy.done", "title": title, "tags": [tag],
                       "actor": {"id": "u1"}, "entity": {"type": "repo", "id": "r1"}});
    serde_json::from_value::<EventInput>(input)
        .expect("json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid")
}

/// Gives `tenant` a row in every tenant table: the tenant, a key, events with tags, a head, read
/// state (watermark and a mark above it), a seen watermark, an archived event, a sign-in code
/// and the session it became, a registered type and a purge horizon.
async fn fill(store: &dyn Store, tenant: &TenantId) -> String {
    store.create_tenant(tenant, tenant.as_str()).await.expect("tenant");
    let key = NewApiKey {
        id: format!("key_{tenant}"),
        secret_hash: vec![7; 32],
        role: Role::parse("admin").expect("role"),
        name: None,
    };
    let key = store.create_key(tenant, key).await.expect("key").id;
    let events = (0..4).map(|i| event(&format!("{tenant} {i}"), tenant.as_str())).collect();
    let stored = store.append(tenant, events).await.expect("append");
    let user = UserId::parse("u1").expect("user");
    store.mark_all_read(tenant, &user, Some(Seq(1))).await.expect("watermark");
    let third = stored[2].event().id;
    assert!(store.mark_read(tenant, &user, third, None).await.expect("mark"));
    store.mark_seen(tenant, &user, Some(Seq(2))).await.expect("seen");
    assert!(store.set_archived(tenant, &user, third, None, true).await.expect("archive"));
    let later = Timestamp::now().plus_seconds(600);
    let code = NewSecret {
        id: "code".into(),
        secret_hash: vec![1; 32],
        user: user.clone(),
        role: Role::Read,
        expires_at: later,
    };
    store.create_signin_code(tenant, code).await.expect("code");
    let session =
        NewSessionSecret { id: "session".into(), secret_hash: vec![2; 32], expires_at: later };
    let redeemed = store.redeem_signin_code(tenant, "code", &[1; 32], Timestamp::now(), session);
    assert!(matches!(redeemed.await.expect("redeem"), Redeemed::SignedIn(_)));
    let info: TypeInfo = serde_json::from_value(json!({"label": "Deploy"})).expect("type info");
    let ty = EventType::parse("deploy.done").expect("type");
    store.put_type(tenant, &ty, &info).await.expect("type");
    store.purge(tenant, Seq(1)).await.expect("purge");
    let channel: ChannelInput =
        serde_json::from_value(json!({"name": "Calls", "provider": "generic"})).expect("input");
    let channel = channel.validate().expect("channel").0;
    let id = format!("ch-{tenant}");
    store.create_channel(tenant, &id, &channel, "sealed").await.expect("channel");
    let entry = NewLedgerEntry {
        id: Uuid::now_v7(),
        channel_id: id,
        provider: Provider::Generic,
        received_at: Timestamp::now(),
        verdict: Verdict::Rejected,
        reason: Some("signature invalid".into()),
        delivery_id: None,
        headers: vec![],
        body: vec![],
        body_bytes: 0,
    };
    store.ingest(tenant, Ingest::Receipt(entry, vec![])).await.expect("ledger");
    store.add_identifier(tenant, "contact", "c1", "email", "a@x.org").await.expect("identifier");
    let upload = Uuid::now_v7();
    store.put_chunk(tenant, upload, 0, b"file".to_vec()).await.expect("chunk");
    let blob =
        NewBlob { sha256: "cd".repeat(32), size: 4, content_type: "text/plain".into(), chunks: 1 };
    store.finish_upload(tenant, upload, blob).await.expect("blob");
    store.add_blob_ref(tenant, &"cd".repeat(32), Uuid::now_v7(), "f.txt").await.expect("ref");
    store.set_phone_region(tenant, Some("US")).await.expect("region");
    let rule: RuleInput = serde_json::from_value(json!({"filter": {}})).expect("rule");
    let rule = QueueRule::parse("all", rule).expect("rule");
    store.put_rule(tenant, &rule).await.expect("put rule");
    store.append(tenant, vec![event("work", tenant.as_str())]).await.expect("job source");
    let entity = Entity { entity_type: "contact".into(), id: "c1".into(), name: None };
    let author = Author { id: "u1".into(), name: None, kind: AuthorKind::User };
    let note = NoteInput { body: "A note".into(), author: None, event_id: None, supersedes: None };
    store.add_note(tenant, note.validate(entity, author).expect("note")).await.expect("add note");
    key
}

/// Every tenant table with the column naming the tenant.
const TABLES: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("api_keys", "tenant"),
    ("tenant_heads", "tenant"),
    ("events", "tenant"),
    ("event_tags", "tenant"),
    ("read_watermarks", "tenant"),
    ("read_marks", "tenant"),
    ("event_types", "tenant"),
    ("horizons", "tenant"),
    ("seen_watermarks", "tenant"),
    ("archived_events", "tenant"),
    ("signin_codes", "tenant"),
    ("sessions", "tenant"),
    ("channels", "tenant"),
    ("ingest_requests", "tenant"),
    ("identifiers", "tenant"),
    ("blob_chunks", "tenant"),
    ("blobs", "tenant"),
    ("blob_refs", "tenant"),
    ("tenant_phone_regions", "tenant"),
    ("queue_rules", "tenant"),
    ("jobs", "tenant"),
    ("notes", "tenant"),
    ("event_search", "tenant"),
    ("index_watermarks", "tenant"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_of_one_tenant_cannot_see_another_even_through_unscoped_queries() {
    let (url, mut db) = support::fresh_database().await;
    let store = support::open(&url).await;
    db.stores.push(store.clone());
    store.migrate().await.expect("migrate");
    let (a, b) = (TenantId::parse("tenant-a").expect("a"), TenantId::parse("tenant-b").expect("b"));
    let key_a = fill(&store, &a).await;
    fill(&store, &b).await;
    // A search waits for the indexer: afterwards both tenants have search rows and watermarks.
    let search = spine_store::FeedQuery {
        filter: spine_core::EventFilter { q: Some("anything".into()), ..Default::default() },
        ..Default::default()
    };
    for t in [&a, &b] {
        store.query(t, &search).await.expect("search");
    }

    // The credential decides the tenant, as the server's authentication does.
    let record = store.find_key(&key_a).await.expect("find").expect("key of a");
    assert_eq!(record.tenant, a);
    let fenced = [&record.tenant];

    for (table, column) in TABLES {
        let unscoped = format!("select {column} from {table}");
        let seen = support::fenced_tenants(&store, &fenced, &unscoped).await.expect("select");
        assert!(!seen.is_empty(), "{table}: tenant a has rows");
        assert!(seen.iter().all(|t| t == a.as_str()), "{table}: saw {seen:?}");

        let named = format!("select {column} from {table} where {column} = 'tenant-b'");
        let seen = support::fenced_tenants(&store, &fenced, &named).await.expect("select b");
        assert!(seen.is_empty(), "{table}: asking for b by name gives nothing, got {seen:?}");

        // An unscoped update touches only the fenced tenant's rows (rolled back by the helper).
        let update = format!("update {table} set {column} = {column} returning {column}");
        let touched = support::fenced_tenants(&store, &fenced, &update).await.expect("update");
        assert!(touched.iter().all(|t| t == a.as_str()), "{table}: updated {touched:?}");

        // A transaction that names no tenant, and a query outside any fenced transaction (one
        // that forgot the fence altogether), see nothing at all.
        let none = support::fenced_tenants(&store, &[], &unscoped).await.expect("no tenant");
        assert!(none.is_empty(), "{table}: no tenant set, saw {none:?}");
        let forgot = support::unfenced_tenants(&store, &unscoped).await.expect("unfenced");
        assert!(forgot.is_empty(), "{table}: outside the fence, saw {forgot:?}");
    }

    // Writing another tenant's rows from inside A's fence is refused by the policy.
    let insert =
        "insert into horizons (tenant, through_seq) values ('tenant-c', 1) returning tenant";
    let refused = support::fenced_tenants(&store, &fenced, insert).await;
    let message = refused.expect_err("refused").to_string();
    assert!(message.contains("row-level security"), "{message}");

    // Search and the cross-tenant lookups go through the owner's functions, which apply the
    // same fence themselves.
    let search = "select e.tenant from events e
                  where e.seq in (select seq from spine_search(plainto_tsquery('simple', 'tenant')))";
    let seen = support::fenced_tenants(&store, &fenced, search).await.expect("search");
    assert!(!seen.is_empty() && seen.iter().all(|t| t == a.as_str()), "search saw {seen:?}");
    let raw = "select tenant from events where id in (select spine_taken_ids(array[]::bytea[]))";
    assert!(support::unfenced_tenants(&store, raw).await.expect("ids").is_empty());
    // A channel is found by its id alone (a provider's request names no tenant), and only that.
    let one = "select tenant from spine_find_channel('ch-tenant-b')";
    assert_eq!(support::fenced_tenants(&store, &[], one).await.expect("find"), ["tenant-b"]);
}
