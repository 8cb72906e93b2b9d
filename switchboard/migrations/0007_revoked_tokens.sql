-- Revoked bearer tokens (a logout), the durable record behind Redis's set of revoked token ids:
-- checks read it while Redis is down, and Redis's set is filled from it again once Redis is back.
-- A row matters only until its token would have expired anyway; revoking prunes expired rows.
CREATE TABLE revoked_tokens (
    token_id   text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
