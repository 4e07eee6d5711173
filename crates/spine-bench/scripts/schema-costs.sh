#!/usr/bin/env bash
# What each part of the SQLite schema costs a durable commit, measured with the sqlite3 shell
# alone (no Spine code): 200,000 synthetic events (ordered 24-byte ids, 50 % with a random
# idempotency key, random entity, actor and correlation ids, two tags, ~400-byte bodies) are
# staged in one file, then inserted into a fresh database per variant, 1,000 per transaction,
# WAL, synchronous=FULL. Prints events/s per variant. Needs `sqlite3` (Debian: sqlite3).
#   crates/spine-bench/scripts/schema-costs.sh [DIR]
set -euo pipefail
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"
echo "working in $dir" >&2

rm -f stage.db*
sqlite3 stage.db >/dev/null <<'SQL'
pragma journal_mode=wal;
create table staged (seq integer primary key, id blob, tenant text, type text, action text,
  source_system text, actor_id text, entity_type text, entity_id text, priority text,
  correlation_id text, occurred_at integer, received_at integer, expires_at integer,
  idempotency_key text, fingerprint text, body text, title text, description text,
  actor_name text, entity_name text, tag1 text, tag2 text);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 200000)
insert into staged select i, cast(printf('%016d', i) as blob) || randomblob(8), 'bench',
  'deal.' || (abs(random()) % 20), 'updated', 'crm' || (i % 4), 'user_' || (abs(random()) % 500),
  'deal', 'deal_' || (abs(random()) % 50000), 'normal',
  case when i % 3 = 0 then 'corr_' || (abs(random()) % 10000) end,
  1700000000000000 + i * 1000, 1700000000000000 + i * 1000, null,
  case when i % 2 = 0 then 'key-' || hex(randomblob(8)) end,
  case when i % 2 = 0 then hex(randomblob(16)) end,
  '{"type":"deal.updated","title":"Deal updated","description":"' || hex(randomblob(150)) || '"}',
  'Deal ' || (abs(random()) % 50000) || ' moved to stage negotiation by Ada',
  'Amount changed from ' || (abs(random()) % 100000) || ' to ' || (abs(random()) % 100000),
  'Ada Lovelace ' || (abs(random()) % 500), 'Deal Acme ' || (abs(random()) % 50000),
  'tag' || (i % 10), 'region' || (i % 5)
from n;
SQL

events="create table events (seq integer primary key, id blob not null unique, tenant text not null,
  type text not null, action text not null, source_system text not null, actor_id text,
  entity_type text, entity_id text, priority text not null, correlation_id text,
  occurred_at integer not null, received_at integer not null, expires_at integer,
  idempotency_key text, fingerprint text, body text not null);
create index events_by_occurred on events (tenant, occurred_at);
create index events_by_seq on events (tenant, seq);
create unique index events_by_idempotency_key on events (tenant, idempotency_key)
  where idempotency_key is not null;"
secondary="create index events_by_type on events (tenant, type, occurred_at);
create index events_by_entity on events (tenant, entity_type, entity_id, occurred_at) where entity_id is not null;
create index events_by_actor on events (tenant, actor_id, occurred_at) where actor_id is not null;
create index events_by_source on events (tenant, source_system, occurred_at);
create index events_by_correlation on events (tenant, correlation_id, occurred_at) where correlation_id is not null;"
tags="create table event_tags (tenant text not null, tag text not null, occurred_at integer not null,
  seq integer not null, primary key (tenant, tag, occurred_at, seq)) without rowid;"
keys="create table event_keys (tenant text not null, kind integer not null, key text not null,
  occurred_at integer not null, seq integer not null,
  primary key (tenant, kind, key, occurred_at, seq)) without rowid;"
fts="create virtual table events_fts using fts5 (title, description, actor_name, entity_name,
  content = '', tokenize = 'unicode61 remove_diacritics 2');"

ins_events="insert into events select seq, id, tenant, type, action, source_system, actor_id,
  entity_type, entity_id, priority, correlation_id, occurred_at, received_at, expires_at,
  idempotency_key, fingerprint, body from s.staged where seq > :lo and seq <= :hi;"
ins_tags="insert into event_tags select tenant, tag1, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_tags select tenant, tag2, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;"
ins_fts="insert into events_fts (rowid, title, description, actor_name, entity_name)
  select seq, title, description, actor_name, entity_name from s.staged where seq > :lo and seq <= :hi;"
ins_keys="insert into event_keys select tenant, 1, type, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select tenant, 2, actor_id, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select tenant, 3, entity_type || char(31) || entity_id, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select tenant, 4, correlation_id, occurred_at, seq from s.staged where seq > :lo and seq <= :hi and correlation_id is not null;
insert into event_keys select tenant, 5, tag1, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select tenant, 5, tag2, occurred_at, seq from s.staged where seq > :lo and seq <= :hi;"

# run NAME SCHEMA COMMIT_SQL [EVERY INDEX_SQL]: COMMIT_SQL per 1,000 events in a durable
# transaction; INDEX_SQL (if given) per EVERY thousand, in a transaction without fsync.
run() {
  local name=$1 schema=$2 commit=$3 every=${4:-0} index=${5:-}
  rm -f "v_$name.db"*
  sqlite3 "v_$name.db" "pragma journal_mode=wal;" >/dev/null
  sqlite3 "v_$name.db" "$schema"
  {
    echo "pragma synchronous=full; pragma wal_autocheckpoint=0; pragma cache_size=-65536;"
    echo "attach 'stage.db' as s;"
    for ((c = 0; c < 200; c++)); do
      lo=$((c * 1000)); hi=$((lo + 1000))
      echo "begin;"; echo "${commit//:lo/$lo}" | sed "s/:hi/$hi/g"; echo "commit;"
      if ((every > 0 && (c + 1) % every == 0)); then
        ilo=$((hi - every * 1000))
        echo "pragma synchronous=normal; begin;"
        echo "${index//:lo/$ilo}" | sed "s/:hi/$hi/g"
        echo "commit; pragma synchronous=full;"
      fi
    done
  } > "script_$name.sql"
  local start end
  start=$(date +%s.%N)
  sqlite3 "v_$name.db" < "script_$name.sql" >/dev/null
  end=$(date +%s.%N)
  printf '%-58s %8.0f events/s\n' "$name" "$(echo "200000 / ($end - $start)" | bc -l)"
}

run "before: everything in the commit" "$events $secondary $tags $fts" "$ins_events $ins_tags $ins_fts"
run "before, without the full text" "$events $secondary $tags" "$ins_events $ins_tags"
for index in type entity actor source correlation; do
  rest=$(echo "$secondary" | grep -v "events_by_$index ")
  run "before, without the full text and events_by_$index" "$events $rest $tags" "$ins_events $ins_tags"
done
run "the commit alone: row, id, occurred, seq, idempotency key" "$events" "$ins_events"
run "after: commit alone + keys and full text per 4,000" "$events $keys $fts" "$ins_events" 4 "$ins_keys $ins_fts"
run "after: commit alone + keys and full text per 20,000" "$events $keys $fts" "$ins_events" 20 "$ins_keys $ins_fts"

# Tenants as small integers in the key rows: the key rows alone per 4,000, with a 20-character
# tenant id in every entry, then with the integer 1 instead.
long_tenant="select 'acme-production-eu-1',"
long_keys="${ins_keys//select tenant,/$long_tenant}"
int_keys="${ins_keys//select tenant,/select 1,}"
run "keys alone per 4,000, 20-character tenant text" "$events $keys" "$ins_events" 4 "$long_keys"
run "keys alone per 4,000, tenant as an integer" "$events $keys" "$ins_events" 4 "$int_keys"

# Each key row as integers only: the tenant, kind and key folded into one 64-bit number (as a
# hash would; here a distinct number per distinct key, which touches the same pages), with and
# without the full text, against the text rows of today.
int_key_rows="create table event_keys (h integer not null, occurred_at integer not null,
  seq integer not null, primary key (h, occurred_at, seq)) without rowid;"
ins_int_key_rows="insert into event_keys select 1000000 + cast(substr(type, 6) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select 2000000 + cast(substr(actor_id, 6) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select 3000000 + cast(substr(entity_id, 6) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select 4000000 + cast(substr(correlation_id, 6) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi and correlation_id is not null;
insert into event_keys select 5000000 + cast(substr(tag1, 4) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi;
insert into event_keys select 5000100 + cast(substr(tag2, 7) as integer), occurred_at, seq from s.staged where seq > :lo and seq <= :hi;"
run "keys per 4,000, text rows" "$events $keys" "$ins_events" 4 "$ins_keys"
run "keys per 4,000, one integer per key" "$events $int_key_rows" "$ins_events" 4 "$ins_int_key_rows"
run "keys and full text per 4,000, text rows" "$events $keys $fts" "$ins_events" 4 "$ins_keys $ins_fts"
run "keys and full text per 4,000, one integer per key" "$events $int_key_rows $fts" "$ins_events" 4 "$ins_int_key_rows $ins_fts"
