//! Conformance cases for the seen watermark and per-user archive ([`crate::ReadState`]).

use super::{append, append_one, created, ids, next_notice, query, tenant, user, walk, Db};
use crate::{FeedQuery, Notice, ReadChange, ReadNotice};
use serde_json::json;
use spine_core::{Event, EventFilter, Order, Scope, Seq};
use uuid::Uuid;

fn with_user(filter: EventFilter, u: &spine_core::UserId) -> FeedQuery {
    FeedQuery { user: Some(u.clone()), ..query(filter, Order::Seq, 100) }
}

async fn five(store: &Db, t: &spine_core::TenantId) -> Vec<Event> {
    let events = (0..5).map(|i| json!({"type": "a.b", "title": format!("event {i}")})).collect();
    append(store, t, events).await.iter().map(|o| created(o).clone()).collect()
}

/// The seen watermark counts exactly, filters `unseen=true`, flags items, never moves back and
/// is per user; unread is independent of it.
pub async fn seen_is_a_per_user_watermark_with_exact_counts(store: Db) {
    let t = tenant(&store, "acme").await;
    let events = five(&store, &t).await;
    let (u, other) = (user("ana"), user("ben"));
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 5);
    assert_eq!(store.mark_seen(&t, &u, Some(events[2].seq)).await.expect("seen"), events[2].seq);
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 2);
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 5, "seen is not read");
    let page = store.query(&t, &with_user(EventFilter::default(), &u)).await.expect("page");
    let seen: Vec<bool> = page.items.iter().map(|i| i.seen.expect("seen flag")).collect();
    assert_eq!(seen, vec![true, true, true, false, false]);
    let unseen =
        walk(&store, &t, with_user(EventFilter { unseen: true, ..Default::default() }, &u)).await;
    assert_eq!(ids(&unseen), ids(&events[3..]));
    assert_eq!(
        store.mark_seen(&t, &u, Some(events[0].seq)).await.expect("lower"),
        events[2].seq,
        "the watermark never moves back"
    );
    let head = events[4].seq;
    assert_eq!(store.mark_seen(&t, &u, None).await.expect("to the head"), head);
    assert_eq!(store.mark_seen(&t, &u, Some(Seq(i64::MAX / 2))).await.expect("beyond"), head);
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 0);
    assert_eq!(store.unseen_count(&t, &other, None).await.expect("other user"), 5);
    append_one(&store, &t, json!({"type": "a.b", "title": "later"})).await;
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 1);
}

/// Archiving hides an event from `archived=false` pages and from both counts, shows it under
/// `archived=true`, flags it, and unarchiving undoes all of that; per user, within scope.
pub async fn archive_hides_per_user_and_unarchive_restores(store: Db) {
    let t = tenant(&store, "acme").await;
    let events = five(&store, &t).await;
    let (u, other) = (user("ana"), user("ben"));
    assert!(store.set_archived(&t, &u, events[1].id, None, true).await.expect("archive"));
    assert!(store.set_archived(&t, &u, events[1].id, None, true).await.expect("again"));
    assert!(!store.set_archived(&t, &u, Uuid::now_v7(), None, true).await.expect("unknown"));
    let visible = EventFilter { archived: Some(false), ..Default::default() };
    let archived = EventFilter { archived: Some(true), ..Default::default() };
    let shown = walk(&store, &t, with_user(visible.clone(), &u)).await;
    assert_eq!(shown.len(), 4);
    assert!(!ids(&shown).contains(&events[1].id));
    assert_eq!(ids(&walk(&store, &t, with_user(archived.clone(), &u)).await), vec![events[1].id]);
    let all = store.query(&t, &with_user(EventFilter::default(), &u)).await.expect("page");
    let flags: Vec<bool> = all.items.iter().map(|i| i.archived.expect("archived flag")).collect();
    assert_eq!(flags, vec![false, true, false, false, false], "no filter: both, flagged");
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 4);
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 4);
    assert_eq!(store.unread_count(&t, &other, None).await.expect("other"), 5, "per user");
    assert_eq!(walk(&store, &t, with_user(visible.clone(), &other)).await.len(), 5);

    assert!(store.set_archived(&t, &u, events[1].id, None, false).await.expect("unarchive"));
    assert!(store.set_archived(&t, &u, events[1].id, None, false).await.expect("again"));
    assert_eq!(walk(&store, &t, with_user(visible, &u)).await.len(), 5);
    assert!(walk(&store, &t, with_user(archived, &u)).await.is_empty());
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 5);

    let scope = Scope { entity_id: Some("nothing".into()), ..Default::default() };
    assert!(
        !store.set_archived(&t, &u, events[0].id, Some(&scope), true).await.expect("scoped"),
        "an event outside the scope cannot be archived"
    );
    let foreign = tenant(&store, "other").await;
    assert!(!store.set_archived(&foreign, &u, events[0].id, None, true).await.expect("foreign"));
}

/// Seen and archive changes are announced to live readers like read changes.
pub async fn seen_and_archive_changes_are_announced(store: Db) {
    let t = tenant(&store, "acme").await;
    let events = five(&store, &t).await;
    let u = user("ana");
    let mut notices = store.notices();
    store.mark_seen(&t, &u, Some(events[3].seq)).await.expect("seen");
    let change = ReadChange::Seen(events[3].seq);
    let expected = ReadNotice { tenant: t.clone(), user: u.clone(), change };
    assert_eq!(next_notice(&mut notices).await, Notice::Read(expected));
    store.set_archived(&t, &u, events[2].id, None, true).await.expect("archive");
    let change = ReadChange::Archived { id: events[2].id, seq: events[2].seq, archived: true };
    let expected = ReadNotice { tenant: t.clone(), user: u.clone(), change };
    assert_eq!(next_notice(&mut notices).await, Notice::Read(expected));
    store.set_archived(&t, &u, events[2].id, None, false).await.expect("unarchive");
    let change = ReadChange::Archived { id: events[2].id, seq: events[2].seq, archived: false };
    let expected = ReadNotice { tenant: t, user: u, change };
    assert_eq!(next_notice(&mut notices).await, Notice::Read(expected));
}

/// Counts stay exact however read marks, archives and watermarks overlap, and within a scope:
/// an event both read and archived is left out once, one below a watermark not at all.
pub async fn counts_stay_exact_when_marks_and_archives_overlap(store: Db) {
    let t = tenant(&store, "acme").await;
    let mut events = Vec::new();
    for i in 0..8 {
        let entity = if i % 2 == 0 { "even" } else { "odd" };
        let v = json!({"type": "a.b", "title": format!("event {i}"),
                       "entity": {"type": "task", "id": entity}});
        events.push(append_one(&store, &t, v).await);
    }
    let u = user("ana");
    store.mark_all_read(&t, &u, Some(events[1].seq)).await.expect("read through 1");
    store.mark_seen(&t, &u, Some(events[3].seq)).await.expect("seen through 3");
    for i in [0, 4, 5] {
        assert!(store.set_archived(&t, &u, events[i].id, None, true).await.expect("archive"));
    }
    for i in [4, 6] {
        assert!(store.mark_read(&t, &u, events[i].id, None).await.expect("read"));
    }
    // Unread: 2..7 above the watermark, less 4 (read and archived), 5 (archived), 6 (read).
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 3);
    // Unseen: 4..7 above the seen watermark, less 4 and 5 (archived).
    assert_eq!(store.unseen_count(&t, &u, None).await.expect("unseen"), 2);
    let even = Scope { entity_id: Some("even".into()), ..Default::default() };
    // Even events above the read watermark: 2, 4, 6; unread and unarchived: 2.
    assert_eq!(store.unread_count(&t, &u, Some(&even)).await.expect("scoped unread"), 1);
    // Even events above the seen watermark: 4, 6; unarchived: 6.
    assert_eq!(store.unseen_count(&t, &u, Some(&even)).await.expect("scoped unseen"), 1);
    let walked = walk(
        &store,
        &t,
        with_user(EventFilter { unread: true, archived: Some(false), ..Default::default() }, &u),
    )
    .await;
    assert_eq!(ids(&walked), vec![events[2].id, events[3].id, events[7].id], "the feed agrees");
}
