-- Uploaded files (SPEC section 6): chunks written as they stream in under an upload id, then
-- named by their SHA-256 per tenant; the events carrying each file, for who may download it.
-- Behind the tenant fence like every tenant table.

create table blob_chunks (
    tenant     text not null,
    upload_id  bytea not null,
    n          bigint not null,
    data       bytea not null,
    created_at bigint not null,
    primary key (tenant, upload_id, n)
);
create index blob_chunks_by_age on blob_chunks (created_at);

create table blobs (
    tenant       text not null,
    sha256       text not null,
    upload_id    bytea not null,
    size         bigint not null,
    content_type text not null,
    chunks       bigint not null,
    created_at   bigint not null,
    primary key (tenant, sha256)
);
create index blobs_by_upload on blobs (upload_id);

create table blob_refs (
    tenant   text not null,
    sha256   text not null,
    event_id bytea not null,
    name     text not null,
    primary key (tenant, sha256, event_id)
);

-- Interrupted uploads are swept across tenants.
create function spine_purge_abandoned_uploads(before bigint) returns bigint
    language sql volatile security definer set search_path from current
as $$ with gone as (
          delete from blob_chunks c where c.created_at < before
              and not exists (select 1 from blobs b
                              where b.tenant = c.tenant and b.upload_id = c.upload_id)
          returning 1)
      select count(*) from gone $$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    t text;
begin
    foreach t in array array['blob_chunks', 'blobs', 'blob_refs'] loop
        execute format('grant select, insert, update, delete on %I to %I', t, fence);
        execute format('alter table %I enable row level security', t);
        execute format(
            'create policy tenant_fence on %I using '
            '(tenant = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            t);
    end loop;
    execute 'revoke all on function spine_purge_abandoned_uploads(bigint) from public';
    execute format('grant execute on function spine_purge_abandoned_uploads(bigint) to %I', fence);
end
$$;
