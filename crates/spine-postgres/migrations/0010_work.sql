-- The work pipeline (SPEC section 7): queue rules, jobs (created in the commit of their source
-- event, claimed with FOR UPDATE SKIP LOCKED, leased with a fencing number) and notes (each with
-- its note.created event); each behind the tenant fence like every tenant table.

create table queue_rules (
    tenant       text not null,
    name         text not null,
    filter       text not null,
    queue        text not null,
    max_attempts integer not null,
    ordered      boolean not null,
    updated_at   bigint not null,
    primary key (tenant, name)
);

create table jobs (
    id               bytea primary key,
    tenant           text not null,
    queue            text not null,
    status           text not null,
    attempt          integer not null,
    max_attempts     integer not null,
    lease            bigint not null,
    lease_expires_at bigint not null,
    run_after        bigint not null,
    ordered          boolean not null,
    event_id         bytea not null,
    event_seq        bigint not null,
    entity_type      text,
    entity_id        text,
    worker           text,
    last_error       text,
    result           text,
    created_at       bigint not null,
    updated_at       bigint not null
);
-- Claims walk a queue's unsettled jobs in source order; settled jobs leave the index.
create index jobs_active on jobs (tenant, queue, event_seq)
    where status in ('pending', 'processing', 'failed');
-- Per-entity ordering asks whether an earlier job of the entity is unsettled.
create index jobs_entity_active on jobs (tenant, queue, entity_type, entity_id, event_seq)
    where ordered and status in ('pending', 'processing', 'failed');
create index jobs_by_event on jobs (tenant, event_id);
create index jobs_newest on jobs (tenant, id);

create table notes (
    id          bytea primary key,
    tenant      text not null,
    seq         bigint not null,
    entity_type text not null,
    entity_id   text not null,
    entity_name text,
    body        text not null,
    author_id   text not null,
    author_name text,
    author_kind text not null,
    event_id    bytea,
    supersedes  bytea,
    job_id      bytea,
    created_at  bigint not null
);
create index notes_by_entity on notes (tenant, entity_type, entity_id, seq);
create index notes_by_supersedes on notes (tenant, supersedes) where supersedes is not null;

-- Queue depth for metrics is counted across tenants.
create function spine_job_counts() returns table (queue text, status text, jobs bigint)
    language sql stable security definer set search_path from current
as $$ select queue, status, count(*) from jobs group by queue, status order by queue, status $$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
begin
    foreach t in array array['queue_rules', 'jobs', 'notes'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
    execute 'revoke all on function spine_job_counts() from public';
    execute format('grant execute on function spine_job_counts() to %I', fence);
end
$$;
