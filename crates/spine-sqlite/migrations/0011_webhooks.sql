-- Outbound webhooks (SPEC section 8): endpoints with their sealed secret, delivery position and
-- the lease of the node driving them, and the log of delivery attempts.

create table webhooks (
    id              text primary key,
    tenant          text not null,
    url             text not null,
    filter          text not null,
    description     text,
    secret          text not null,
    status          text not null,
    disabled_reason text,
    cursor          integer not null,
    attempt         integer not null,
    next_attempt_at integer,
    failing_since   integer,
    lease_owner     text,
    lease_until     integer,
    created_at      integer not null,
    updated_at      integer not null
);
create index webhooks_by_tenant on webhooks (tenant, created_at);

create table webhook_attempts (
    id              blob primary key,
    tenant          text not null,
    webhook_id      text not null,
    event_id        blob,
    event_seq       integer,
    attempt         integer not null,
    at              integer not null,
    outcome         text not null,
    status_code     integer,
    error           text,
    latency_ms      integer not null,
    response        text,
    next_attempt_at integer
);
create index webhook_attempts_by_webhook on webhook_attempts (tenant, webhook_id, id);
create index webhook_attempts_by_age on webhook_attempts (at);
