-- The index moves to a file of its own (`<database>.index`): the filter keys and the full text
-- are built there by the indexer's own connection, on its own thread, while the writer commits.
-- Both are derived from the log (through `event_key_rows` and `event_text_rows`, kept here), so
-- the new file is built from the log from position 1; until it has caught up, feeds read the
-- unindexed events from the log itself and searches wait for it.
drop table event_keys;
drop table events_fts;
alter table meta drop column indexed_seq;
