-- Spine's SQLite schema, version 3: the rest of a user's inbox state, and Activity Center sign-in.

-- "Seen through seq N" per (tenant, user): opening a feed marks what it showed as seen.
create table seen_watermarks (
    tenant      text not null,
    user_id     text not null,
    through_seq integer not null,
    primary key (tenant, user_id)
) without rowid;

-- Events a user archived (hidden from that user's feed until unarchived).
create table archived_events (
    tenant      text not null,
    user_id     text not null,
    seq         integer not null,
    archived_at integer not null,
    primary key (tenant, user_id, seq)
) without rowid;

-- One-time sign-in codes (`spine open`) and the sessions they are exchanged for. Only the
-- SHA-256 of each secret is kept; `spent_at` makes a code single-use.
create table signin_codes (
    tenant      text not null,
    id          text not null,
    secret_hash blob not null,
    user_id     text not null,
    role        text not null,
    created_at  integer not null,
    expires_at  integer not null,
    spent_at    integer,
    primary key (tenant, id)
) without rowid;

create table sessions (
    tenant      text not null,
    id          text not null,
    secret_hash blob not null,
    user_id     text not null,
    role        text not null,
    created_at  integer not null,
    expires_at  integer not null,
    primary key (tenant, id)
) without rowid;
