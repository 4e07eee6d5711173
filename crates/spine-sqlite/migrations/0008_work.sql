-- The work pipeline (SPEC section 7): queue rules, jobs (created in the commit of their source
-- event, leased with a fencing number) and notes (each with its note.created event).

create table queue_rules (
    tenant       text not null,
    name         text not null,
    filter       text not null,
    queue        text not null,
    max_attempts integer not null,
    ordered      integer not null,
    updated_at   integer not null,
    primary key (tenant, name)
) without rowid;

create table jobs (
    id               blob primary key,
    tenant           text not null,
    queue            text not null,
    status           text not null,
    attempt          integer not null,
    max_attempts     integer not null,
    lease            integer not null,
    lease_expires_at integer not null,
    run_after        integer not null,
    ordered          integer not null,
    event_id         blob not null,
    event_seq        integer not null,
    entity_type      text,
    entity_id        text,
    worker           text,
    last_error       text,
    result           text,
    created_at       integer not null,
    updated_at       integer not null
);
-- Claims walk a queue's unsettled jobs in source order; settled jobs leave the index.
create index jobs_active on jobs (tenant, queue, event_seq)
    where status in ('pending', 'processing', 'failed');
-- Per-entity ordering asks whether an earlier job of the entity is unsettled.
create index jobs_entity_active on jobs (tenant, queue, entity_type, entity_id, event_seq)
    where ordered = 1 and status in ('pending', 'processing', 'failed');
create index jobs_by_event on jobs (tenant, event_id);
create index jobs_newest on jobs (tenant, id);

create table notes (
    id          blob primary key,
    tenant      text not null,
    seq         integer not null,
    entity_type text not null,
    entity_id   text not null,
    entity_name text,
    body        text not null,
    author_id   text not null,
    author_name text,
    author_kind text not null,
    event_id    blob,
    supersedes  blob,
    job_id      blob,
    created_at  integer not null
);
create index notes_by_entity on notes (tenant, entity_type, entity_id, seq);
create index notes_by_supersedes on notes (tenant, supersedes) where supersedes is not null;
