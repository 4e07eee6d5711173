//! Notes in PostgreSQL (SPEC section 7): written in the group commit of their `note.created`
//! events ([`write`]), read per entity newest first.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::fence;
use spine_core::note::{Author, AuthorKind, NewNote, Note};
use spine_core::{Entity, Seq, TenantId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

const COLUMNS: &str = "n.id, n.seq, n.entity_type, n.entity_id, n.entity_name, n.body, \
     n.author_id, n.author_name, n.author_kind, n.event_id, n.supersedes, n.job_id, n.created_at, \
     (select s.id from notes s where s.tenant = n.tenant and s.supersedes = n.id \
      order by s.seq desc limit 1) as superseded_by";

/// Inserts a commit's notes, inside its transaction.
pub(crate) async fn write(notes: &[(TenantId, Note)], conn: &mut PgConnection) -> Result<()> {
    for (tenant, stored) in notes {
        let n = &stored.note;
        sqlx::query(
            "insert into notes (id, tenant, seq, entity_type, entity_id, entity_name, body,
                 author_id, author_name, author_kind, event_id, supersedes, job_id, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(n.id.as_bytes().as_slice())
        .bind(tenant.as_str())
        .bind(stored.seq.0)
        .bind(&n.entity.entity_type)
        .bind(&n.entity.id)
        .bind(n.entity.name.as_deref())
        .bind(&n.body)
        .bind(&n.author.id)
        .bind(n.author.name.as_deref())
        .bind(n.author.kind.as_str())
        .bind(n.event_id.map(|id| id.as_bytes().to_vec()))
        .bind(n.supersedes.map(|id| id.as_bytes().to_vec()))
        .bind(n.job_id.map(|id| id.as_bytes().to_vec()))
        .bind(stored.created_at.as_micros())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One note.
pub(crate) async fn get(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<Note>> {
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    let row =
        sqlx::query(&format!("select {COLUMNS} from notes n where n.tenant = $1 and n.id = $2"))
            .bind(tenant.as_str())
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    row.as_ref().map(note).transpose()
}

/// An entity's notes, newest first.
pub(crate) async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
    before: Option<Seq>,
    limit: u32,
) -> Result<Vec<Note>> {
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from notes n
         where n.tenant = $1 and n.entity_type = $2 and n.entity_id = $3 and n.seq < $4
         order by n.seq desc limit $5"
    ))
    .bind(tenant.as_str())
    .bind(entity_type)
    .bind(entity_id)
    .bind(before.map_or(i64::MAX, |s| s.0))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter().map(note).collect()
}

fn note(row: &PgRow) -> Result<Note> {
    let unreadable = |what: &str, e: String| Error::Unreadable(format!("note {what}: {e}"));
    let uuid = |column: &str| -> Result<Option<Uuid>> {
        let bytes: Option<Vec<u8>> = row.try_get(column)?;
        bytes
            .map(|b| Uuid::from_slice(&b).map_err(|e| unreadable(column, e.to_string())))
            .transpose()
    };
    Ok(Note {
        note: NewNote {
            id: uuid("id")?.ok_or_else(|| unreadable("id", "missing".into()))?,
            entity: Entity {
                entity_type: row.try_get("entity_type")?,
                id: row.try_get("entity_id")?,
                name: row.try_get("entity_name")?,
            },
            body: row.try_get("body")?,
            author: Author {
                id: row.try_get("author_id")?,
                name: row.try_get("author_name")?,
                kind: AuthorKind::parse(row.try_get("author_kind")?)
                    .map_err(|e| unreadable("author kind", e))?,
            },
            event_id: uuid("event_id")?,
            supersedes: uuid("supersedes")?,
            job_id: uuid("job_id")?,
        },
        seq: Seq(row.try_get("seq")?),
        created_at: timestamp(row.try_get("created_at")?),
        superseded_by: uuid("superseded_by")?,
    })
}
