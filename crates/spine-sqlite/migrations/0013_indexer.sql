-- The write path (SPEC section 12): a commit writes only what ordering and idempotency need (the
-- event row, its position, its id and its idempotency key). The filter keys and the full text
-- are built just behind it by the indexer, which follows the log by position in large batches
-- and records how far it got in `meta.indexed_seq`, in the same transaction as the entries it
-- wrote. A feed that walks the keys reads the events above the watermark from the log itself,
-- so no answer depends on how far behind the indexer is.

-- One row per (event, key) a feed can be driven by, in feed order within the key. `kind`:
-- 1 type, 2 actor, 3 entity (`entity_type`, U+001F, `entity_id`), 4 correlation id, 5 tag.
-- It replaces five secondary indexes on `events` (type, entity, actor, source, correlation)
-- and the tag rows: every one of them had random keys that each small commit wrote anew.
create table event_keys (
    tenant      text not null,
    kind        integer not null,
    key         text not null,
    occurred_at integer not null,
    seq         integer not null,
    primary key (tenant, kind, key, occurred_at, seq)
) without rowid;

-- The keys of each event, derived from its row: what the indexer inserts and what purges and
-- expiry delete. Constraints on `seq` reach every branch.
create view event_key_rows (tenant, kind, key, occurred_at, seq) as
    select tenant, 1, type, occurred_at, seq from events
    union all
    select tenant, 2, actor_id, occurred_at, seq from events where actor_id is not null
    union all
    select tenant, 3, entity_type || char(31) || entity_id, occurred_at, seq from events
        where entity_id is not null
    union all
    select tenant, 4, correlation_id, occurred_at, seq from events
        where correlation_id is not null
    union all
    select e.tenant, 5, t.value, e.occurred_at, e.seq from events e, json_each(e.body, '$.tags') t;

-- The full-text fields of each event, derived from its body as the indexer writes them.
create view event_text_rows (seq, title, description, actor_name, entity_name) as
    select seq, body ->> '$.title', body ->> '$.description',
           coalesce(body ->> '$.actor.name', body ->> '$.actor.id'),
           coalesce(body ->> '$.entity.name', body ->> '$.entity.id')
    from events;

insert into event_keys select * from event_key_rows;
drop table event_tags;
drop index events_by_type;
drop index events_by_entity;
drop index events_by_actor;
drop index events_by_source;
drop index events_by_correlation;

-- Everything stored so far was indexed by the commits that wrote it.
alter table meta add column indexed_seq integer not null default 0;
update meta set indexed_seq = last_seq;
