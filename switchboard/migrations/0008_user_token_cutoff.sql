-- A per-user cutoff for bearer tokens: tokens issued before it are refused. Deactivating a user,
-- changing their password or their role moves it to now, which ends every session they had.
-- The durable record behind Redis's hash of cutoffs (web/revocation.py), as revoked_tokens is for
-- single tokens: checks read it while Redis is down, and Redis is refilled from it once it is back.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
