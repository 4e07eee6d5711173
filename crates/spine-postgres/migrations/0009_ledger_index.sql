-- The ledger's age index cost every ingest a fourth B-tree insert for the sake of an hourly
-- sweep; the sweep now removes each tenant's old entries through `ingest_requests_newest`.
drop index ingest_requests_by_age;

create or replace function spine_purge_ingest_requests(before bigint) returns bigint
    language sql volatile security definer set search_path from current
as $$ with gone as (
          delete from ingest_requests r
          using (select id as tenant from tenants) t
          where r.tenant = t.tenant and r.received_at < before
          returning 1)
      select count(*) from gone $$;
