-- Customers and privacy: inbound webhook dedupe, per-org transcript retention, erasure marks.

-- One row per provider message accepted, so a webhook the provider retries never stores twice.
CREATE TABLE inbound_receipts (
    org_id              text NOT NULL REFERENCES orgs(id),
    channel             text NOT NULL,
    provider_message_id text NOT NULL,
    interaction_id      uuid NOT NULL REFERENCES interactions(id),
    received_at         timestamptz NOT NULL,
    PRIMARY KEY (org_id, channel, provider_message_id)
);
CREATE INDEX inbound_receipts_received ON inbound_receipts (received_at);

-- Transcripts older than this many days are scrubbed by the purge job; NULL keeps them.
ALTER TABLE orgs ADD COLUMN retention_days integer CHECK (retention_days IS NULL OR retention_days > 0);

ALTER TABLE customers ADD COLUMN erased_at timestamptz;
ALTER TABLE customers ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX customers_org_name ON customers (org_id, lower(name)) WHERE merged_into IS NULL;

-- The purge job walks old messages per org.
CREATE INDEX messages_org_at ON messages (org_id, at);
