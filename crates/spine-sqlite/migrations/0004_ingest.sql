-- Ingestion (SPEC section 6): channels with sealed secrets, the ledger of inbound requests,
-- and the identifiers (e-mail addresses, phone numbers) that put inbound messages on entities.

-- A channel id is unique across tenants: a provider's request carries only the id.
create table channels (
    id              text primary key,
    tenant          text not null,
    name            text not null,
    provider        text not null,
    event_type      text,
    direction       text not null,
    process         integer not null,
    queue           text not null,
    mapping         text not null,
    disabled        integer not null default 0,
    secret          text not null,
    previous_secret text,
    previous_until  integer,
    created_at      integer not null,
    updated_at      integer not null
);
create index channels_by_tenant on channels (tenant, created_at);

create table ingest_requests (
    id          blob primary key,
    tenant      text not null,
    channel_id  text not null,
    provider    text not null,
    received_at integer not null,
    verdict     text not null,
    reason      text,
    delivery_id text,
    event_ids   text not null,
    headers     text not null,
    body        blob not null,
    body_bytes  integer not null
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
    created_at  integer not null,
    primary key (tenant, value)
);
create index identifiers_by_entity on identifiers (tenant, entity_type, entity_id);
