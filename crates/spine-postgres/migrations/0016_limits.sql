-- Rate limits and quotas: each tenant's two layers (the operator's ceiling, the tenant's own)
-- behind the tenant fence, and the roll of live nodes each node divides a limit by.

create table tenant_limits (
    tenant     text not null,
    layer      text not null check (layer in ('ceiling', 'own')),
    limits     text not null,
    updated_at bigint not null,
    primary key (tenant, layer)
);

-- No tenant's data: a node's id (random per process) and when it last said it was alive.
create table cluster_nodes (
    id      text primary key,
    seen_at bigint not null
);

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    execute format('grant select, insert, update, delete on tenant_limits to %I', fence);
    execute 'alter table tenant_limits enable row level security';
    execute format(
        'create policy tenant_fence on tenant_limits using '
        '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))');
    execute format('grant select, insert, update, delete on cluster_nodes to %I', fence);
end
$$;
