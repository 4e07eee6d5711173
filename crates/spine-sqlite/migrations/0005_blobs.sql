-- Uploaded files (SPEC section 6): chunks written as they stream in under an upload id, then
-- named by their SHA-256 per tenant; the events carrying each file, for who may download it.

create table blob_chunks (
    tenant     text not null,
    upload_id  blob not null,
    n          integer not null,
    data       blob not null,
    created_at integer not null,
    primary key (tenant, upload_id, n)
);
create index blob_chunks_by_age on blob_chunks (created_at);

create table blobs (
    tenant       text not null,
    sha256       text not null,
    upload_id    blob not null,
    size         integer not null,
    content_type text not null,
    chunks       integer not null,
    created_at   integer not null,
    primary key (tenant, sha256)
);
create index blobs_by_upload on blobs (upload_id);

create table blob_refs (
    tenant   text not null,
    sha256   text not null,
    event_id blob not null,
    name     text not null,
    primary key (tenant, sha256, event_id)
);
