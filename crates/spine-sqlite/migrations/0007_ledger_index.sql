-- The ledger's age index cost every ingest a fourth B-tree insert for the sake of an hourly
-- sweep; the sweep now removes each tenant's old entries through `ingest_requests_newest`.
drop index ingest_requests_by_age;
