-- Full-text matches come with their times, so a page is ordered and cut on the function's
-- output and only the page's events are looked up. Before, `spine_search` returned positions
-- only: every match (thousands for a common word) was looked up by primary key to be sorted.
-- Same fence as before: the fenced tenants from `spine.tenants`, run as the owner so the GIN
-- index serves `@@` (see 0002).

drop function spine_search(tsquery);

create function spine_search(query tsquery) returns table (seq bigint, occurred_at bigint)
    language sql stable security definer set search_path from current rows 1000
as $$
    select e.seq, e.occurred_at from events e
    where e.tenant = any (string_to_array(current_setting('spine.tenants', true), ','))
      and e.search @@ query
$$;

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    revoke all on function spine_search(tsquery) from public;
    execute format('grant execute on function spine_search(tsquery) to %I', fence);
end
$$;
