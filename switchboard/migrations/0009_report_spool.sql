-- Routing reports that could not reach PostgreSQL wait in Redis (routing/spool.py) and are replayed
-- once it is back. Each spooled entry's id is recorded here in the transaction that applies it, so
-- two nodes replaying the same entry, or a replay interrupted before its entries left Redis, apply
-- it once. A row matters only until its entry has left Redis; the reconciler prunes old ones.
CREATE TABLE report_spool_applied (
    id         text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_spool_applied_at ON report_spool_applied (applied_at);
