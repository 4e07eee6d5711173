-- Outbound webhooks (SPEC section 8): endpoints with their sealed secret, delivery position and
-- the lease of the node driving them, and the log of delivery attempts; behind the tenant
-- fence. The delivery engine leases endpoints across tenants, and the sweeper purges old
-- attempts across tenants, through the functions below.

create table webhooks (
    id              text primary key,
    tenant          text not null,
    url             text not null,
    filter          text not null,
    description     text,
    secret          text not null,
    status          text not null,
    disabled_reason text,
    cursor          bigint not null,
    attempt         integer not null,
    next_attempt_at bigint,
    failing_since   bigint,
    lease_owner     text,
    lease_until     bigint,
    created_at      bigint not null,
    updated_at      bigint not null
);
create index webhooks_by_tenant on webhooks (tenant, created_at);

create table webhook_attempts (
    id              bytea primary key,
    tenant          text not null,
    webhook_id      text not null,
    event_id        bytea,
    event_seq       bigint,
    attempt         integer not null,
    at              bigint not null,
    outcome         text not null,
    status_code     integer,
    error           text,
    latency_ms      integer not null,
    response        text,
    next_attempt_at bigint
);
create index webhook_attempts_by_webhook on webhook_attempts (tenant, webhook_id, id);
create index webhook_attempts_by_age on webhook_attempts (at);

create function spine_lease_webhooks(node text, now_us bigint, until_us bigint)
    returns table (tenant text, id text)
    language sql volatile security definer set search_path from current
as $$ update webhooks w set lease_owner = node, lease_until = until_us
      where w.status = 'active'
        and (w.lease_owner = node or w.lease_until is null or w.lease_until < now_us)
      returning w.tenant, w.id $$;

create function spine_release_webhooks(node text) returns void
    language sql volatile security definer set search_path from current
as $$ update webhooks set lease_until = null where lease_owner = node $$;

create function spine_purge_webhook_attempts(before bigint) returns bigint
    language sql volatile security definer set search_path from current
as $$ with gone as (delete from webhook_attempts where at < before returning 1)
      select count(*) from gone $$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
begin
    foreach t in array array['webhooks', 'webhook_attempts'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
    foreach t in array array['spine_lease_webhooks(text, bigint, bigint)',
                             'spine_release_webhooks(text)',
                             'spine_purge_webhook_attempts(bigint)'] loop
        execute format('revoke all on function %s from public', t);
        execute format('grant execute on function %s to %I', t, fence);
    end loop;
end
$$;
