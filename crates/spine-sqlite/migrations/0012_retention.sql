-- Retention (SPEC section 8): each tenant's policy, and the events that expire by their own
-- `expires_at`, found without scanning the log.

create table retention_policies (
    tenant     text primary key,
    policy     text not null,
    updated_at integer not null
);

create index events_expiring on events (tenant, expires_at) where expires_at is not null;
