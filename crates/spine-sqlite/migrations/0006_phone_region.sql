-- A tenant's default phone region: numbers written without `+` are read in it (SPEC section 6).
create table tenant_phone_regions (
    tenant text primary key,
    region text not null
);
