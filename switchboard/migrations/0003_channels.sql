-- Channels: per-org provider configuration, queue business hours, integrator webhook
-- subscriptions, and the durable outbox that carries agent replies and integrator events.

CREATE TABLE channel_configs (
    org_id            text NOT NULL REFERENCES orgs(id),
    channel           text NOT NULL CHECK (channel IN ('sms', 'whatsapp', 'messenger', 'email')),
    queue             text NOT NULL,
    enabled           boolean NOT NULL DEFAULT true,
    -- Credentials, URLs and secrets of the org's provider account for this channel.
    provider          jsonb NOT NULL DEFAULT '{}',
    allowed_countries text[] NOT NULL DEFAULT '{}',
    ack_template      text,
    closed_template   text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, channel)
);

CREATE TABLE queue_hours (
    org_id        text NOT NULL REFERENCES orgs(id),
    queue         text NOT NULL,
    timezone      text NOT NULL DEFAULT 'UTC',
    weekly        jsonb NOT NULL DEFAULT '{}',
    holidays      date[] NOT NULL DEFAULT '{}',
    closed_action text NOT NULL DEFAULT 'hold' CHECK (closed_action IN ('hold', 'close')),
    PRIMARY KEY (org_id, queue)
);

CREATE TABLE webhook_subscriptions (
    id          uuid PRIMARY KEY,
    org_id      text NOT NULL REFERENCES orgs(id),
    url         text NOT NULL,
    secret      text NOT NULL,
    events      text[] NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions (org_id) WHERE active;

-- Rows are written in the same transaction as the message or state change they announce, so
-- nothing is sent that was not committed and nothing committed is lost; workers claim due rows
-- with FOR UPDATE SKIP LOCKED and retry with backoff (at-least-once, Idempotency-Key outbox-<id>).
CREATE TABLE outbox (
    id                  bigserial PRIMARY KEY,
    org_id              text NOT NULL REFERENCES orgs(id),
    kind                text NOT NULL CHECK (kind IN ('reply', 'event')),
    channel             text NOT NULL,
    target_url          text,
    payload             jsonb NOT NULL,
    headers             jsonb NOT NULL DEFAULT '{}',
    message_id          bigint REFERENCES messages(id),
    subscription_id     uuid REFERENCES webhook_subscriptions(id),
    event_type          text,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    last_error          text,
    last_status_code    integer,
    provider_message_id text,
    created_at          timestamptz NOT NULL,
    sent_at             timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_org_kind ON outbox (org_id, kind, id);
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id IS NOT NULL;

-- Delivery receipts and email threading look messages up by the provider's id.
CREATE INDEX messages_provider ON messages (org_id, provider_id) WHERE provider_id IS NOT NULL;

-- The integrator-facing delivery log.
CREATE VIEW webhook_deliveries AS
SELECT id, org_id, subscription_id, event_type, target_url, payload->>'id' AS event_id, status,
       attempts, last_status_code, last_error, next_attempt_at, created_at, sent_at
FROM outbox
WHERE kind = 'event';
