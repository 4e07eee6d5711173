//! Conformance cases for one-time sign-in codes and sessions ([`crate::Sessions`]).

use super::{tenant, user, Db};
use crate::{NewSecret, NewSessionSecret, Redeemed, StoreError};
use spine_core::{Role, Timestamp};
use std::sync::Arc;

fn secret(id: &str, hash: u8, expires_at: Timestamp) -> NewSecret {
    NewSecret {
        id: id.to_owned(),
        secret_hash: vec![hash; 32],
        user: user("ana"),
        role: Role::Admin,
        expires_at,
    }
}

fn session(id: &str, expires_at: Timestamp) -> NewSessionSecret {
    NewSessionSecret { id: id.to_owned(), secret_hash: vec![9; 32], expires_at }
}

/// A code is exchanged once, for a session with the code's user and role; a second use is
/// `Spent`, a wrong secret or another tenant `Unknown`, a late use `Expired`.
pub async fn signin_codes_are_spent_once_for_a_session(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let now = Timestamp::now();
    let later = now.plus_seconds(600);
    store.create_signin_code(&t, secret("c1", 1, later)).await.expect("code");
    assert_eq!(
        store.redeem_signin_code(&t, "c1", &[2; 32], now, session("s0", later)).await.expect("x"),
        Redeemed::Unknown,
        "a wrong secret"
    );
    assert_eq!(
        store
            .redeem_signin_code(&other, "c1", &[1; 32], now, session("s0", later))
            .await
            .expect("x"),
        Redeemed::Unknown,
        "another tenant"
    );
    let redeemed =
        store.redeem_signin_code(&t, "c1", &[1; 32], now, session("s1", later)).await.expect("ok");
    let Redeemed::SignedIn(record) = redeemed else {
        panic!("expected a session, got {redeemed:?}")
    };
    assert_eq!((record.id.as_str(), record.role, record.user.as_str()), ("s1", Role::Admin, "ana"));
    assert_eq!(record.tenant, t);
    assert_eq!(
        store.redeem_signin_code(&t, "c1", &[1; 32], now, session("s2", later)).await.expect("x"),
        Redeemed::Spent
    );
    assert!(store.find_session(&t, "s2").await.expect("find").is_none(), "no second session");
    assert!(store.find_session(&t, "s0").await.expect("find").is_none());

    store.create_signin_code(&t, secret("c2", 3, now.plus_seconds(1))).await.expect("code");
    let too_late = now.plus_seconds(2);
    assert_eq!(
        store
            .redeem_signin_code(&t, "c2", &[3; 32], too_late, session("s3", later))
            .await
            .expect("x"),
        Redeemed::Expired
    );
}

/// Sessions are found by tenant and id with what authentication needs, and deleted.
pub async fn sessions_are_found_and_deleted(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let now = Timestamp::now();
    let ends = now.plus_seconds(3600);
    store.create_signin_code(&t, secret("c1", 1, ends)).await.expect("code");
    store.redeem_signin_code(&t, "c1", &[1; 32], now, session("s1", ends)).await.expect("redeem");
    let found = store.find_session(&t, "s1").await.expect("find").expect("the session");
    assert_eq!(found.secret_hash, vec![9; 32]);
    assert_eq!(found.expires_at, ends);
    assert_eq!(found.role, Role::Admin);
    assert!(store.find_session(&other, "s1").await.expect("find").is_none(), "tenant fenced");
    assert!(!store.delete_session(&other, "s1").await.expect("delete"));
    assert!(store.delete_session(&t, "s1").await.expect("delete"));
    assert!(store.find_session(&t, "s1").await.expect("find").is_none());
    assert!(!store.delete_session(&t, "s1").await.expect("delete again"));
}

/// Concurrent redemptions of one code give exactly one session.
pub async fn concurrent_redemptions_sign_in_once(store: Db) {
    let t = tenant(&store, "acme").await;
    let now = Timestamp::now();
    let ends = now.plus_seconds(600);
    store.create_signin_code(&t, secret("c1", 1, ends)).await.expect("code");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, t) = (Arc::clone(&store), t.clone());
        tasks.push(tokio::spawn(async move {
            store.redeem_signin_code(&t, "c1", &[1; 32], now, session(&format!("s{i}"), ends)).await
        }));
    }
    let mut signed_in = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(Redeemed::SignedIn(_)) => signed_in += 1,
            Ok(Redeemed::Spent) | Err(StoreError::Unavailable(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(signed_in, 1);
}
