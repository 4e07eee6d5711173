-- Rate limits and quotas: each tenant's two layers (the operator's ceiling, the tenant's own),
-- each a JSON document of the limits fields.

create table tenant_limits (
    tenant     text not null,
    layer      text not null check (layer in ('ceiling', 'own')),
    limits     text not null,
    updated_at integer not null,
    primary key (tenant, layer)
);
