-- Row-level security, the second tenant fence (the first: every store query names its tenant).
--
-- Spine's queries run as a role of their own, `spine_fence_<hash of the database name>`: a
-- NOLOGIN role that the connecting user (who runs the migrations and owns the tables) is a member
-- of and switches to on every connection and in every transaction. RLS applies to that role and
-- not to the owner, so:
-- - a transaction sees and writes only the tenants named in the setting `spine.tenants` (a comma
--   separated list, set by the store when it begins the transaction); with no tenant set, nothing;
-- - the few lookups that must cross tenants (finding an API key by its id, listing tenants,
--   checking imported ids) and full-text search are SECURITY DEFINER functions below, run as the
--   owner. Search needs that because `@@` is not leakproof: under RLS PostgreSQL will not use it
--   as an index condition, so the GIN index would go unused; the function applies the same fence
--   from `spine.tenants` itself.
-- The role is named after the database so two installations sharing a PostgreSQL server never
-- share a role (a member of one could otherwise use the other's grants).

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    if not exists (select from pg_roles where rolname = fence) then
        begin
            execute format('create role %I nologin', fence);
        exception when insufficient_privilege then
            raise exception 'spine needs the role % for row-level security', fence
                using hint = format(
                    'Run once as a superuser: create role %I nologin; grant %I to %I;',
                    fence, fence, current_user);
        end;
    end if;
    if not pg_has_role(current_user, fence, 'member') then
        execute format('grant %I to %I', fence, current_user);
    end if;
    execute format(
        'grant select, insert, update, delete on tenants, api_keys, tenant_heads, events,
             event_tags, read_watermarks, read_marks, event_types, horizons to %I', fence);
    execute format('grant select, insert on server_secret to %I', fence);
    execute format('grant select on spine_migrations to %I', fence);
end
$$;

-- The policy: a row is visible and writable when its tenant is named in `spine.tenants`.
do $$
declare
    fenced text[][] := array[
        ['tenants', 'id'], ['api_keys', 'tenant'], ['tenant_heads', 'tenant'],
        ['events', 'tenant'], ['event_tags', 'tenant'], ['read_watermarks', 'tenant'],
        ['read_marks', 'tenant'], ['event_types', 'tenant'], ['horizons', 'tenant']];
    pair text[];
begin
    foreach pair slice 1 in array fenced loop
        execute format('alter table %I enable row level security', pair[1]);
        execute format(
            'create policy tenant_fence on %I using '
            '(%I = any (string_to_array(current_setting(''spine.tenants'', true), '','')))',
            pair[1], pair[2]);
    end loop;
end
$$;

-- The positions of the fenced tenants' events matching `query`, through the GIN index.
create function spine_search(query tsquery) returns setof bigint
    language sql stable security definer set search_path from current
as $$
    select seq from events
    where tenant = any (string_to_array(current_setting('spine.tenants', true), ','))
      and search @@ query
$$;

-- Authentication: the key with this public id, whatever its tenant.
create function spine_find_key(key_id text) returns setof api_keys
    language sql stable security definer set search_path from current
as $$ select * from api_keys where id = key_id $$;

-- Every tenant (administration: `spine tenant list`).
create function spine_tenants() returns setof tenants
    language sql stable security definer set search_path from current
as $$ select * from tenants $$;

-- Which of these event ids are stored in any tenant (ids are unique across tenants; an import
-- skips those).
create function spine_taken_ids(ids bytea[]) returns setof bytea
    language sql stable security definer set search_path from current
as $$ select id from events where id = any (ids) $$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
    f text;
begin
    foreach f in array array['spine_search(tsquery)', 'spine_find_key(text)', 'spine_tenants()',
                             'spine_taken_ids(bytea[])'] loop
        execute format('revoke all on function %s from public', f);
        execute format('grant execute on function %s to %I', f, fence);
    end loop;
end
$$;
