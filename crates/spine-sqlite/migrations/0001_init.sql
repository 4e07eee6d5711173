-- Spine's SQLite schema, version 1. Never edit this file once released: add 0002_*.sql instead.
-- Times are integers of microseconds since the Unix epoch; ids of events are 16-byte UUID blobs.

create table tenants (
    id         text primary key,
    name       text not null,
    created_at integer not null
) without rowid;

-- `id` is the public part of a key and unique across tenants: authentication finds the tenant by it.
create table api_keys (
    id          text primary key,
    tenant      text not null,
    role        text not null,
    name        text,
    secret_hash blob not null,
    created_at  integer not null,
    revoked_at  integer
) without rowid;

create index api_keys_by_tenant on api_keys (tenant, created_at);

-- One row. `last_seq` is the last position ever handed out, so positions are never reused even
-- after deletes; the writer reads and bumps it inside its BEGIN IMMEDIATE transaction, which also
-- serialises a second process writing the same file.
create table meta (
    id       integer primary key check (id = 1),
    secret   blob,
    last_seq integer not null
);

insert into meta (id, secret, last_seq) values (1, null, 0);

-- The log (SPEC principle 1): append-only. `body` is the served JSON (seq included); the other
-- columns exist to be filtered on. `seq` is the rowid, so every index below ends with it.
create table events (
    seq             integer primary key,
    id              blob not null unique,
    tenant          text not null,
    type            text not null,
    action          text not null,
    source_system   text not null,
    actor_id        text,
    entity_type     text,
    entity_id       text,
    priority        text not null,
    correlation_id  text,
    occurred_at     integer not null,
    received_at     integer not null,
    expires_at      integer,
    idempotency_key text,
    fingerprint     text,
    body            text not null
);

-- The default feed order: newest first by (occurred_at, seq).
create index events_by_occurred on events (tenant, occurred_at);
-- order=seq, head, unread counts and live tailing.
create index events_by_seq on events (tenant, seq);
create index events_by_type on events (tenant, type, occurred_at);
create index events_by_entity on events (tenant, entity_type, entity_id, occurred_at)
    where entity_id is not null;
create index events_by_actor on events (tenant, actor_id, occurred_at) where actor_id is not null;
create index events_by_source on events (tenant, source_system, occurred_at);
create index events_by_correlation on events (tenant, correlation_id, occurred_at) where correlation_id is not null;
create unique index events_by_idempotency_key on events (tenant, idempotency_key)
    where idempotency_key is not null;

-- One row per (event, tag): the tag filter reads this in feed order.
create table event_tags (
    tenant      text not null,
    tag         text not null,
    occurred_at integer not null,
    seq         integer not null,
    primary key (tenant, tag, occurred_at, seq)
) without rowid;

-- Full text over title, description, actor and entity names; rowid = events.seq.
create virtual table events_fts using fts5 (
    title, description, actor_name, entity_name,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);

-- Read state (SPEC section 3): "read through seq N" plus individually read positions above N.
create table read_watermarks (
    tenant      text not null,
    user_id     text not null,
    through_seq integer not null,
    primary key (tenant, user_id)
) without rowid;

create table read_marks (
    tenant  text not null,
    user_id text not null,
    seq     integer not null,
    primary key (tenant, user_id, seq)
) without rowid;

-- Registered type presentation (SPEC section 9), as the JSON of `TypeInfo`.
create table event_types (
    tenant text not null,
    type   text not null,
    info   text not null,
    primary key (tenant, type)
) without rowid;
