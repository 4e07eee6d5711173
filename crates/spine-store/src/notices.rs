//! Waiting on a store's notices: what long-polls, delivery drivers and consumers wake on.

use crate::Notice;
use spine_core::TenantId;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// Returns when the tenant's log grew, or when notices may have been missed (the caller looks
/// again either way). Never returns once the store's notices have closed: the caller's own
/// deadline ends the wait.
pub async fn commit(notices: &mut Receiver<Notice>, tenant: &TenantId) {
    loop {
        match notices.recv().await {
            Ok(Notice::Commit(commit)) if &commit.tenant == tenant => return,
            Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
