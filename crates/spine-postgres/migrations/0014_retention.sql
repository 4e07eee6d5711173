-- Retention (SPEC section 8): each tenant's policy, behind the tenant fence, and the events that
-- expire by their own `expires_at`, found without scanning the log.

create table retention_policies (
    tenant     text primary key,
    policy     text not null,
    updated_at bigint not null
);

create index events_expiring on events (tenant, expires_at) where expires_at is not null;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    execute format('grant select, insert, update, delete on retention_policies to %I', fence);
    execute 'alter table retention_policies enable row level security';
    execute format(
        'create policy tenant_fence on retention_policies using '
        '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))');
end
$$;
