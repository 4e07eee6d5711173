-- The write path (SPEC section 12): full text is built just behind the commit. A commit writes
-- the event row and its filter indexes; the indexer (on any node) follows each tenant's log by
-- position in batches, writes the search vectors here and raises the tenant's watermark in the
-- same transaction, so a crash loses a whole step or nothing. A search waits until the
-- watermark has reached the tenant's head.

create table event_search (
    tenant      text not null,
    seq         bigint not null,
    occurred_at bigint not null,
    search      tsvector not null,
    primary key (tenant, seq)
);

insert into event_search (tenant, seq, occurred_at, search)
    select tenant, seq, occurred_at, search from events;
create index event_search_words on event_search using gin (search);

create table index_watermarks (
    tenant      text primary key,
    indexed_seq bigint not null
);

-- Everything stored so far was indexed by the commits that wrote it.
insert into index_watermarks (tenant, indexed_seq) select tenant, head from tenant_heads;

drop index events_search;
alter table events drop column search;

-- Matches come from the index table now; same fence and same answer as before (0004).
create or replace function spine_search(query tsquery) returns table (seq bigint, occurred_at bigint)
    language sql stable security definer set search_path from current rows 1000
as $$
    select s.seq, s.occurred_at from event_search s
    where s.tenant = any (string_to_array(current_setting('spine.tenants', true), ','))
      and s.search @@ query
$$;

-- The tenants whose log is ahead of their watermark, for an indexer starting up: it cannot
-- see across the fence, and needs no more than the names and positions.
create function spine_index_backlog() returns table (tenant text, head bigint, indexed bigint)
    language sql stable security definer set search_path from current
as $$
    select h.tenant, h.head, coalesce(w.indexed_seq, 0) from tenant_heads h
    left join index_watermarks w on w.tenant = h.tenant
    where h.head > coalesce(w.indexed_seq, 0)
$$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
begin
    foreach t in array array['event_search', 'index_watermarks'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
    revoke all on function spine_index_backlog() from public;
    execute format('grant execute on function spine_index_backlog() to %I', fence);
end
$$;
