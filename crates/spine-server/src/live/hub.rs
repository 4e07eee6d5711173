//! The hub: one task consuming the store's commit notices and keeping, per tenant with
//! subscribers, a `watch` of the tenant's head. It holds positions, never events, so a slow
//! subscriber costs nothing here; readers re-read the log when woken.

use spine_core::{Seq, TenantId};
use spine_store::{CommitNotice, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

/// Per-tenant wake-ups for live readers.
pub struct Hub {
    /// Read on lag, to recover the heads of notices the hub missed.
    store: Arc<dyn Store>,
    /// One head watch per tenant, created when a reader subscribes, dropped when none is left.
    tenants: Mutex<HashMap<TenantId, watch::Sender<Seq>>>,
}

impl Hub {
    /// A hub fed by `store.commits()`; its task ends when `stopped` turns `true` or the hub is
    /// dropped (checked at each notice).
    pub fn start(store: Arc<dyn Store>, stopped: watch::Receiver<bool>) -> Arc<Self> {
        let commits = store.commits();
        let hub = Arc::new(Self { store, tenants: Mutex::new(HashMap::new()) });
        tokio::spawn(run(Arc::downgrade(&hub), commits, stopped));
        hub
    }

    /// A receiver of `tenant`'s head; it changes after each commit touching the tenant.
    pub fn subscribe(&self, tenant: &TenantId) -> watch::Receiver<Seq> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants.entry(tenant.clone()).or_insert_with(|| watch::channel(Seq::ZERO).0).subscribe()
    }

    /// Wakes `tenant`'s readers if `head` is new; forgets the tenant when nobody listens.
    fn notify(&self, tenant: &TenantId, head: Seq) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sender) = tenants.get(tenant) else { return };
        if sender.receiver_count() == 0 {
            tenants.remove(tenant);
            return;
        }
        sender.send_if_modified(|current| {
            let newer = head > *current;
            if newer {
                *current = head;
            }
            newer
        });
    }

    /// The tenants that have readers, forgetting the others.
    fn watched(&self) -> Vec<TenantId> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants.retain(|_, sender| sender.receiver_count() > 0);
        tenants.keys().cloned().collect()
    }

    /// After missed notices: re-reads the head of every watched tenant so no wake-up is lost.
    async fn recover(&self) {
        for tenant in self.watched() {
            match self.store.head(&tenant).await {
                Ok(head) => self.notify(&tenant, head),
                Err(e) => tracing::warn!(tenant = %tenant, error = %e, "reading the head failed"),
            }
        }
    }
}

async fn run(
    hub: Weak<Hub>,
    mut commits: broadcast::Receiver<CommitNotice>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            r = commits.recv() => r,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Some(hub) = hub.upgrade() else { return };
        match received {
            Ok(notice) => hub.notify(&notice.tenant, notice.head),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the live hub lagged behind commits; re-reading heads");
                hub.recover().await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}
