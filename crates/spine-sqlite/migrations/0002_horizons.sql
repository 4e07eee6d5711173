-- Spine's SQLite schema, version 2: purge horizons. A tenant's row says every event at or below
-- `through_seq` was removed; a stream resuming below it is told to reload (`event: reset`), and
-- the head never falls below it.
create table horizons (
    tenant      text primary key,
    through_seq integer not null
) without rowid;
