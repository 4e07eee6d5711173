//! Notices between nodes (cross-node wake-up): every node sends its notices on the PostgreSQL
//! channel [`CHANNEL`] and listens to it, passing the other nodes' notices to its own readers.
//! Commit notices are sent inside the commit's transaction, so PostgreSQL delivers them only
//! once the events are visible; read changes and purges right after their commit. A notice only
//! wakes readers: the data always comes from the log.
//!
//! A node whose listening connection drops reconnects and announces [`Notice::Resync`]: its
//! readers re-read heads, horizons and read state, so nothing sent meanwhile is lost.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use spine_core::{Seq, TenantId, UserId};
use spine_store::group::WriterHandle;
use spine_store::{CommitNotice, Notice, ReadChange, ReadNotice};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// The channel every node sends and listens on.
pub(crate) const CHANNEL: &str = "spine_notices";
/// Wait before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

/// A notice as sent between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The sending node, so a node skips its own notices (it announced them in process).
    node: Uuid,
    #[serde(flatten)]
    notice: WireNotice,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireNotice {
    Commit { tenant: TenantId, head: Seq },
    ReadEvent { tenant: TenantId, user: UserId, id: Uuid, seq: Seq },
    ReadThrough { tenant: TenantId, user: UserId, seq: Seq },
    SeenThrough { tenant: TenantId, user: UserId, seq: Seq },
    Archived { tenant: TenantId, user: UserId, id: Uuid, seq: Seq, archived: bool },
    Purged { tenant: TenantId, horizon: Seq },
    Work { tenant: TenantId },
}

impl WireNotice {
    fn of(notice: &Notice) -> Option<Self> {
        Some(match notice {
            Notice::Commit(c) => Self::Commit { tenant: c.tenant.clone(), head: c.head },
            Notice::Read(r) => match r.change {
                ReadChange::Event { id, seq } => {
                    Self::ReadEvent { tenant: r.tenant.clone(), user: r.user.clone(), id, seq }
                }
                ReadChange::Through(seq) => {
                    Self::ReadThrough { tenant: r.tenant.clone(), user: r.user.clone(), seq }
                }
                ReadChange::Seen(seq) => {
                    Self::SeenThrough { tenant: r.tenant.clone(), user: r.user.clone(), seq }
                }
                ReadChange::Archived { id, seq, archived } => Self::Archived {
                    tenant: r.tenant.clone(),
                    user: r.user.clone(),
                    id,
                    seq,
                    archived,
                },
            },
            Notice::Purged { tenant, horizon } => {
                Self::Purged { tenant: tenant.clone(), horizon: *horizon }
            }
            Notice::Work { tenant } => Self::Work { tenant: tenant.clone() },
            Notice::Resync => return None,
        })
    }

    fn into_notice(self) -> Notice {
        match self {
            Self::Commit { tenant, head } => Notice::Commit(CommitNotice { tenant, head }),
            Self::ReadEvent { tenant, user, id, seq } => {
                Notice::Read(ReadNotice { tenant, user, change: ReadChange::Event { id, seq } })
            }
            Self::ReadThrough { tenant, user, seq } => {
                Notice::Read(ReadNotice { tenant, user, change: ReadChange::Through(seq) })
            }
            Self::SeenThrough { tenant, user, seq } => {
                Notice::Read(ReadNotice { tenant, user, change: ReadChange::Seen(seq) })
            }
            Self::Archived { tenant, user, id, seq, archived } => Notice::Read(ReadNotice {
                tenant,
                user,
                change: ReadChange::Archived { id, seq, archived },
            }),
            Self::Purged { tenant, horizon } => Notice::Purged { tenant, horizon },
            Self::Work { tenant } => Notice::Work { tenant },
        }
    }
}

/// The payload of `notice` from `node` (`None` for notices that never cross nodes).
pub(crate) fn payload(node: Uuid, notice: &Notice) -> Option<String> {
    let notice = WireNotice::of(notice)?;
    serde_json::to_string(&Wire { node, notice }).ok()
}

/// Sends `notice` to the other nodes on `conn` (inside a transaction: on its commit).
pub(crate) async fn send(conn: &mut PgConnection, node: Uuid, notice: &Notice) -> Result<()> {
    if let Some(payload) = payload(node, notice) {
        sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(conn).await?;
    }
    Ok(())
}

/// Sends `notice` to the other nodes after its change committed; a failure is logged (the
/// other nodes' readers then see the change on their next wake-up or reconnect).
pub(crate) async fn send_after(pool: &PgPool, node: Uuid, notice: &Notice) {
    let sent = match pool.acquire().await {
        Ok(mut conn) => send(&mut conn, node, notice).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "telling other nodes of a change failed");
    }
}

/// Listens for the other nodes' notices and announces them through `writer`, until the task is
/// aborted (when the store closes).
pub(crate) async fn listen(pool: PgPool, node: Uuid, writer: WriterHandle) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "listening for other nodes failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "listening for other nodes failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        // Whatever was sent before this point is covered by re-reading.
        writer.announce(Notice::Resync);
        loop {
            match listener.try_recv().await {
                Ok(Some(message)) => match serde_json::from_str::<Wire>(message.payload()) {
                    Ok(wire) if wire.node == node => {}
                    Ok(wire) => writer.announce(wire.notice.into_notice()),
                    Err(e) => tracing::warn!(error = %e, "an unreadable notice from another node"),
                },
                // The connection dropped. Not left to `try_recv`'s own reconnect: the resync
                // must come after LISTEN is in place again, or a commit between the re-read and
                // the LISTEN would go unnoticed; the outer loop listens anew, then resyncs.
                Ok(None) => {
                    tracing::info!("the listening connection dropped; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the listening connection failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crossing_notice_survives_the_wire() {
        let (tenant, user) = (TenantId::parse("acme").unwrap(), UserId::parse("ana").unwrap());
        let notices = [
            Notice::Commit(CommitNotice { tenant: tenant.clone(), head: Seq(7) }),
            Notice::Read(ReadNotice {
                tenant: tenant.clone(),
                user: user.clone(),
                change: ReadChange::Event { id: Uuid::now_v7(), seq: Seq(3) },
            }),
            Notice::Read(ReadNotice {
                tenant: tenant.clone(),
                user: user.clone(),
                change: ReadChange::Through(Seq(5)),
            }),
            Notice::Read(ReadNotice {
                tenant: tenant.clone(),
                user: user.clone(),
                change: ReadChange::Seen(Seq(6)),
            }),
            Notice::Read(ReadNotice {
                tenant: tenant.clone(),
                user,
                change: ReadChange::Archived { id: Uuid::now_v7(), seq: Seq(4), archived: true },
            }),
            Notice::Purged { tenant, horizon: Seq(2) },
        ];
        let node = Uuid::now_v7();
        for notice in notices {
            let wire: Wire = serde_json::from_str(&payload(node, &notice).unwrap()).unwrap();
            assert_eq!(wire.node, node);
            assert_eq!(wire.notice.into_notice(), notice);
        }
        assert!(payload(node, &Notice::Resync).is_none());
    }
}
