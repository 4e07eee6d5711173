-- A tenant's default phone region: numbers written without `+` are read in it (SPEC section 6).
create table tenant_phone_regions (
    tenant text primary key,
    region text not null
);

do $$
declare
    fence text := 'spine_fence_' || substr(md5(current_database()), 1, 20);
begin
    execute format('grant select, insert, update, delete on tenant_phone_regions to %I', fence);
    alter table tenant_phone_regions enable row level security;
    create policy tenant_fence on tenant_phone_regions using
        (tenant = any (string_to_array(current_setting('spine.tenants', true), ',')));
end
$$;
