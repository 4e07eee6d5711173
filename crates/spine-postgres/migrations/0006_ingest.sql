-- Ingestion (SPEC section 6): channels with sealed secrets, the ledger of inbound requests,
-- and the identifiers (e-mail addresses, phone numbers) that put inbound messages on entities;
-- each behind the tenant fence like every tenant table.

-- A channel id is unique across tenants: a provider's request carries only the id.
create table channels (
    id              text primary key,
    tenant          text not null,
    name            text not null,
    provider        text not null,
    event_type      text,
    direction       text not null,
    process         boolean not null,
    queue           text not null,
    mapping         text not null,
    disabled        boolean not null default false,
    secret          text not null,
    previous_secret text,
    previous_until  bigint,
    created_at      bigint not null,
    updated_at      bigint not null
);
create index channels_by_tenant on channels (tenant, created_at);

create table ingest_requests (
    id          bytea primary key,
    tenant      text not null,
    channel_id  text not null,
    provider    text not null,
    received_at bigint not null,
    verdict     text not null,
    reason      text,
    delivery_id text,
    event_ids   text not null,
    headers     text not null,
    body        bytea not null,
    body_bytes  bigint not null
);
create index ingest_requests_newest on ingest_requests (tenant, received_at desc, id desc);
create index ingest_requests_by_channel
    on ingest_requests (tenant, channel_id, received_at desc, id desc);
create index ingest_requests_by_age on ingest_requests (received_at);

-- One entity per value and tenant: the value decides where a message goes.
create table identifiers (
    tenant      text not null,
    value       text not null,
    kind        text not null,
    entity_type text not null,
    entity_id   text not null,
    created_at  bigint not null,
    primary key (tenant, value)
);
create index identifiers_by_entity on identifiers (tenant, entity_type, entity_id);

-- A provider's request names only its channel: the channel with this id, whatever its tenant.
create function spine_find_channel(channel_id text) returns setof channels
    language sql stable security definer set search_path from current
as $$ select * from channels where id = channel_id $$;

-- Ledger retention runs across tenants.
create function spine_purge_ingest_requests(before bigint) returns bigint
    language sql volatile security definer set search_path from current
as $$ with gone as (delete from ingest_requests where received_at < before returning 1)
      select count(*) from gone $$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
    f text;
begin
    foreach t in array array['channels', 'ingest_requests', 'identifiers'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
    foreach f in array array['spine_find_channel(text)', 'spine_purge_ingest_requests(bigint)'] loop
        execute format('revoke all on function %s from public', f);
        execute format('grant execute on function %s to %I', f, fence);
    end loop;
end
$$;
