-- The rest of a user's inbox state (seen watermark, archived events) and Activity Center
-- sign-in (one-time codes, sessions), each behind the tenant fence like every tenant table.

create table seen_watermarks (
    tenant      text not null,
    user_id     text not null,
    through_seq bigint not null,
    primary key (tenant, user_id)
);

create table archived_events (
    tenant      text not null,
    user_id     text not null,
    seq         bigint not null,
    archived_at bigint not null,
    primary key (tenant, user_id, seq)
);

-- Only the SHA-256 of each secret is kept; `spent_at` makes a code single-use.
create table signin_codes (
    tenant      text not null,
    id          text not null,
    secret_hash bytea not null,
    user_id     text not null,
    role        text not null,
    created_at  bigint not null,
    expires_at  bigint not null,
    spent_at    bigint,
    primary key (tenant, id)
);

create table sessions (
    tenant      text not null,
    id          text not null,
    secret_hash bytea not null,
    user_id     text not null,
    role        text not null,
    created_at  bigint not null,
    expires_at  bigint not null,
    primary key (tenant, id)
);

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
begin
    foreach t in array array['seen_watermarks', 'archived_events', 'signin_codes', 'sessions'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
end
$$;
