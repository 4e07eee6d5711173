-- Spine's PostgreSQL schema, version 1. Never edit this file once released: add 0002_*.sql instead.
-- Times are bigints of microseconds since the Unix epoch (as in the SQLite store, so cursors are
-- the same); event ids are 16-byte UUIDs in bytea.

create table tenants (
    id         text primary key,
    name       text not null,
    created_at bigint not null
);

-- `id` is the public part of a key and unique across tenants: authentication finds the tenant by it.
create table api_keys (
    id          text primary key,
    tenant      text not null,
    role        text not null,
    name        text,
    secret_hash bytea not null,
    created_at  bigint not null,
    revoked_at  bigint
);

create index api_keys_by_tenant on api_keys (tenant, created_at);

-- One row: the installation's signing secret, shared by every node.
create table server_secret (
    id     integer primary key check (id = 1),
    secret bytea not null
);

-- The last position handed out per tenant. Writers lock the row (`select ... for update`) for
-- the whole inserting transaction, so positions of a tenant are assigned and committed one
-- writer at a time, in order, across every node; it never moves back, even after a purge.
create table tenant_heads (
    tenant text primary key,
    head   bigint not null
);

-- The log (SPEC principle 1): append-only. `body` is the served JSON (seq included); the other
-- columns exist to be filtered on. `search` is the full text of title, description, actor and
-- entity names, filled on insert.
create table events (
    tenant          text not null,
    seq             bigint not null,
    id              bytea not null unique,
    -- Bytewise collation, so the `prefix.*` range filter (`collate "C"`) can use the type
    -- indexes whatever the database's default collation.
    type            text collate "C" not null,
    action          text not null,
    source_system   text not null,
    actor_id        text,
    entity_type     text,
    entity_id       text,
    priority        text not null,
    correlation_id  text,
    occurred_at     bigint not null,
    received_at     bigint not null,
    expires_at      bigint,
    idempotency_key text,
    fingerprint     text,
    body            jsonb not null,
    search          tsvector not null,
    primary key (tenant, seq)
);

-- The default feed order: newest first by (occurred_at, seq).
create index events_by_occurred on events (tenant, occurred_at, seq);
create index events_by_type on events (tenant, type, seq);
create index events_by_type_occurred on events (tenant, type, occurred_at, seq);
create index events_by_entity on events (tenant, entity_type, entity_id, seq)
    where entity_id is not null;
create index events_by_actor on events (tenant, actor_id, seq) where actor_id is not null;
create index events_by_source on events (tenant, source_system, seq);
create index events_by_correlation on events (tenant, correlation_id, seq)
    where correlation_id is not null;
create unique index events_by_idempotency_key on events (tenant, idempotency_key)
    where idempotency_key is not null;
create index events_search on events using gin (search);

-- One row per (event, tag): the tag filter reads this in either order.
create table event_tags (
    tenant      text not null,
    tag         text not null,
    seq         bigint not null,
    occurred_at bigint not null,
    primary key (tenant, tag, seq)
);

create index event_tags_by_occurred on event_tags (tenant, tag, occurred_at, seq);

-- Read state (SPEC section 3): "read through seq N" plus individually read positions above N.
create table read_watermarks (
    tenant      text not null,
    user_id     text not null,
    through_seq bigint not null,
    primary key (tenant, user_id)
);

create table read_marks (
    tenant  text not null,
    user_id text not null,
    seq     bigint not null,
    primary key (tenant, user_id, seq)
);

-- Registered type presentation (SPEC section 9), as the JSON of `TypeInfo`.
create table event_types (
    tenant text not null,
    type   text not null,
    info   jsonb not null,
    primary key (tenant, type)
);

-- Purge horizons: every event of the tenant at or below `through_seq` was removed.
create table horizons (
    tenant      text primary key,
    through_seq bigint not null
);
