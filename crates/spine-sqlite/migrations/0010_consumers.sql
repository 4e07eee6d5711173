-- Consumers (SPEC section 8): a tenant's named durable cursors over its log.

create table consumers (
    tenant     text not null,
    name       text not null,
    filter     text not null,
    checkpoint integer not null,
    created_at integer not null,
    acked_at   integer not null,
    primary key (tenant, name)
);
