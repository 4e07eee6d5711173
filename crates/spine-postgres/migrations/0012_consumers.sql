-- Consumers (SPEC section 8): a tenant's named durable cursors over its log; behind the tenant
-- fence like every tenant table.

create table consumers (
    tenant     text not null,
    name       text not null,
    filter     text not null,
    checkpoint bigint not null,
    created_at bigint not null,
    acked_at   bigint not null,
    primary key (tenant, name)
);

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    execute format('grant select, insert, update, delete on consumers to %I', fence);
    execute 'alter table consumers enable row level security';
    execute format(
        'create policy tenant_fence on consumers using '
        '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))');
end
$$;
