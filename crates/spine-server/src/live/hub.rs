//! The hub: one task consuming the store's notices and keeping, per tenant with subscribers, a
//! `watch` of the tenant's committed head, the tenant's [`Tail`] (recent events read from the
//! log once for all readers, with the head readers wait on and the purge horizon) and a small
//! broadcast of read-state changes. A slow subscriber costs nothing here: it only falls behind
//! in the tail or the log.

use super::tail::{self, raise, Tail};
use spine_core::{Seq, TenantId};
use spine_store::{Notice, ReadNotice, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

/// Read-state changes a subscriber may fall behind by before it is told to re-read its state.
const READ_DEPTH: usize = 64;

/// A read-state change as the hub passes it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadWake {
    /// One change.
    Change(Arc<ReadNotice>),
    /// Changes were missed (the hub or the subscriber lagged): re-read the read state.
    Resync,
}

/// One tenant's channels.
struct Channels {
    /// The committed head from the notices, which the tail's fill task follows.
    committed: watch::Sender<Seq>,
    tail: Arc<Tail>,
    reads: broadcast::Sender<ReadWake>,
}

/// What a subscriber of one tenant receives.
pub struct Wakeups {
    /// The tenant's recent events.
    pub tail: Arc<Tail>,
    /// The tail's end; a change means "read again".
    pub heads: watch::Receiver<Seq>,
    /// The tenant's purge horizon; a reader below it must reset.
    pub horizon: watch::Receiver<Seq>,
    /// Read-state changes of every user of the tenant (readers keep their user's).
    pub reads: broadcast::Receiver<ReadWake>,
}

/// Per-tenant wake-ups for live readers.
pub struct Hub {
    /// Read on lag, to recover the heads and horizons of notices the hub missed.
    store: Arc<dyn Store>,
    /// One set of channels per tenant, created when a reader subscribes, dropped when none is
    /// left.
    tenants: Mutex<HashMap<TenantId, Channels>>,
    /// Most events a tenant's tail holds.
    tail_events: usize,
}

impl Hub {
    /// A hub fed by `store.notices()`; its task ends when `stopped` turns `true` or the hub is
    /// dropped (checked at each notice).
    pub fn start(
        store: Arc<dyn Store>,
        stopped: watch::Receiver<bool>,
        tail_events: usize,
    ) -> Arc<Self> {
        let notices = store.notices();
        Self::start_with(store, notices, stopped, tail_events)
    }

    /// A hub fed by `notices` (the store's, or a test's), recovering from `store` on lag.
    pub fn start_with(
        store: Arc<dyn Store>,
        notices: broadcast::Receiver<Notice>,
        stopped: watch::Receiver<bool>,
        tail_events: usize,
    ) -> Arc<Self> {
        let hub = Arc::new(Self { store, tenants: Mutex::new(HashMap::new()), tail_events });
        tokio::spawn(run(Arc::downgrade(&hub), notices, stopped));
        hub
    }

    /// `tenant`'s tail and receivers of its head, horizon and read changes. For a tenant nobody
    /// watched before, the tail starts filling now: until it has read the store's head
    /// ([`Tail::positions`] is `None`), callers read the store's values after subscribing.
    pub fn subscribe(&self, tenant: &TenantId) -> Wakeups {
        let mut tenants = self.lock();
        let channels = tenants.entry(tenant.clone()).or_insert_with(|| {
            let committed = watch::channel(Seq::ZERO).0;
            let tail = Tail::new(self.tail_events);
            let fill = tail::fill(
                Arc::downgrade(&tail),
                self.store.clone(),
                tenant.clone(),
                committed.subscribe(),
            );
            tokio::spawn(fill);
            Channels { committed, tail, reads: broadcast::channel(READ_DEPTH).0 }
        });
        Wakeups {
            tail: channels.tail.clone(),
            heads: channels.tail.heads(),
            horizon: channels.tail.horizon(),
            reads: channels.reads.subscribe(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Channels>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Passes one notice to its tenant's subscribers; forgets the tenant when nobody listens.
    /// (A resync is handled by [`Hub::recover`].)
    fn notify(&self, notice: Notice) {
        let tenant = match &notice {
            Notice::Commit(c) => &c.tenant,
            Notice::Read(r) => &r.tenant,
            Notice::Purged { tenant, .. } => tenant,
            // Waiting claims listen to the store's notices themselves; streams follow the log.
            Notice::Work { .. } | Notice::Resync => return,
        };
        let mut tenants = self.lock();
        let Some(channels) = tenants.get(tenant) else { return };
        if !channels.tail.watched() {
            tenants.remove(tenant);
            return;
        }
        match notice {
            Notice::Commit(c) => {
                raise(&channels.committed, c.head);
            }
            Notice::Purged { horizon, .. } => channels.tail.raise_horizon(horizon),
            Notice::Read(r) => {
                // Without receivers `send` fails; nobody is listening, so that is fine.
                let _ = channels.reads.send(ReadWake::Change(Arc::new(r)));
            }
            Notice::Work { .. } | Notice::Resync => {}
        }
    }

    /// Wakes every reader (at shutdown, after the signal is set).
    pub fn wake_all(&self) {
        for channels in self.lock().values() {
            channels.tail.wake();
        }
    }

    /// The tenants that have readers, forgetting the others.
    fn watched(&self) -> Vec<TenantId> {
        let mut tenants = self.lock();
        tenants.retain(|_, channels| channels.tail.watched());
        tenants.keys().cloned().collect()
    }

    /// After missed notices: re-reads the head and horizon of every watched tenant so no
    /// wake-up is lost, and tells readers to re-read their read state.
    async fn recover(&self) {
        for tenant in self.watched() {
            match (self.store.head(&tenant).await, self.store.horizon(&tenant).await) {
                (Ok(head), Ok(horizon)) => {
                    let tenants = self.lock();
                    if let Some(channels) = tenants.get(&tenant) {
                        raise(&channels.committed, head);
                        channels.tail.raise_horizon(horizon);
                        let _ = channels.reads.send(ReadWake::Resync);
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(tenant = %tenant, error = %e, "re-reading the head failed");
                }
            }
        }
    }
}

async fn run(
    hub: Weak<Hub>,
    mut notices: broadcast::Receiver<Notice>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            r = notices.recv() => r,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Some(hub) = hub.upgrade() else { return };
        match received {
            Ok(Notice::Resync) => {
                tracing::debug!("notices may have been missed; re-reading heads");
                hub.recover().await;
            }
            Ok(notice) => hub.notify(notice),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the live hub lagged behind notices; re-reading heads");
                metrics::counter!(super::HUB_LAGS).increment(1);
                hub.recover().await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spine_core::input::{EventInput, EventLimits};
    use spine_sqlite::{SqliteOptions, SqliteStore};
    use spine_store::CommitNotice;
    use std::time::Duration;

    /// A hub whose notice channel overflowed re-reads the head from the store (the log is the
    /// truth), tells readers to re-read their read state, and keeps going with later notices.
    #[tokio::test]
    async fn a_lagging_hub_recovers_heads_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = SqliteStore::open(&url, SqliteOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let t = TenantId::parse("acme").unwrap();
        store.create_tenant(&t, "Acme").await.unwrap();
        let events = (0..5)
            .map(|i| {
                let input: EventInput = serde_json::from_value(
                    serde_json::json!({"type": "a.b", "title": format!("e{i}")}),
                )
                .unwrap();
                input.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).unwrap()
            })
            .collect();
        store.append(&t, events).await.unwrap();
        let head = store.head(&t).await.unwrap();

        // A channel of two, fed three stale notices before the hub runs: the hub lags.
        let (sender, notices) = broadcast::channel(2);
        let (_stop, stopped) = watch::channel(false);
        let hub = Hub::start_with(store.clone(), notices, stopped, 100);
        let mut wakeups = hub.subscribe(&t);
        for stale in 1..=3 {
            let notice = CommitNotice { tenant: t.clone(), head: Seq(stale) };
            sender.send(Notice::Commit(notice)).unwrap();
        }
        let guard = Duration::from_secs(10);
        tokio::time::timeout(guard, wakeups.heads.wait_for(|h| *h == head))
            .await
            .expect("the hub recovers the store's head")
            .unwrap();
        let wake = tokio::time::timeout(guard, wakeups.reads.recv()).await.unwrap().unwrap();
        assert_eq!(wake, ReadWake::Resync);
        // The stale notices left in the channel never move the head back.
        let later = Seq(head.0 + 10);
        sender.send(Notice::Commit(CommitNotice { tenant: t.clone(), head: later })).unwrap();
        tokio::time::timeout(guard, wakeups.heads.wait_for(|h| *h == later))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*wakeups.heads.borrow(), later);
    }
}
