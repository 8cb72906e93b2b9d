-- Core schema: organisations, users, configuration, customers, interactions, transcripts, decisions.
CREATE TABLE orgs (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    org_id        text NOT NULL REFERENCES orgs(id),
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    display_name  text NOT NULL,
    skills        jsonb NOT NULL DEFAULT '{}',
    capacity      jsonb NOT NULL DEFAULT '{}',
    team          text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_org ON users (org_id, role);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    org_id      text NOT NULL REFERENCES orgs(id),
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE skills (
    org_id  text NOT NULL REFERENCES orgs(id),
    name    text NOT NULL,
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, name)
);

CREATE TABLE idle_codes (
    org_id  text NOT NULL REFERENCES orgs(id),
    code    text NOT NULL,
    label   text NOT NULL,
    PRIMARY KEY (org_id, code)
);

CREATE TABLE wrap_up_codes (
    org_id  text NOT NULL REFERENCES orgs(id),
    code    text NOT NULL,
    label   text NOT NULL,
    PRIMARY KEY (org_id, code)
);

CREATE TABLE queues (
    org_id          text NOT NULL REFERENCES orgs(id),
    name            text NOT NULL,
    channels        text[] NOT NULL,
    skills          jsonb NOT NULL DEFAULT '{}',
    strategy        text NOT NULL DEFAULT 'longest_idle',
    service_level_s integer NOT NULL DEFAULT 20,
    offer_timeout_s integer NOT NULL DEFAULT 20,
    wrap_up_s       integer NOT NULL DEFAULT 30,
    escalation      jsonb NOT NULL DEFAULT '[]',
    max_wait_s      integer,
    last_agent_window_s integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);

CREATE TABLE customers (
    id            uuid PRIMARY KEY,
    org_id        text NOT NULL REFERENCES orgs(id),
    name          text,
    attributes    jsonb NOT NULL DEFAULT '{}',
    last_agent_id uuid,
    last_agent_at timestamptz,
    merged_into   uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_org ON customers (org_id);

CREATE TABLE customer_identities (
    org_id      text NOT NULL REFERENCES orgs(id),
    type        text NOT NULL CHECK (type IN ('phone', 'email', 'whatsapp', 'messenger', 'webchat')),
    value       text NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers(id),
    PRIMARY KEY (org_id, type, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE interactions (
    id              uuid PRIMARY KEY,
    org_id          text NOT NULL REFERENCES orgs(id),
    channel         text NOT NULL,
    queue           text NOT NULL,
    original_queue  text NOT NULL,
    state           text NOT NULL,
    priority        smallint NOT NULL,
    skills          jsonb NOT NULL DEFAULT '{}',
    subject         text,
    customer_id     uuid REFERENCES customers(id),
    idempotency_key text,
    created_by      text,
    agent_id        uuid,
    created_at      timestamptz NOT NULL,
    enqueued_at     timestamptz NOT NULL,
    offered_at      timestamptz,
    connected_at    timestamptz,
    ended_at        timestamptz,
    completed_at    timestamptz,
    wrap_up_code    text,
    wrap_up_notes   text,
    end_reason      text,
    live_version    integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX interactions_idem ON interactions (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX interactions_org_state ON interactions (org_id, state, created_at);
CREATE INDEX interactions_org_created ON interactions (org_id, created_at, id);
CREATE INDEX interactions_customer ON interactions (customer_id, created_at);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    org_id          text NOT NULL,
    interaction_id  uuid NOT NULL REFERENCES interactions(id),
    sender          text NOT NULL CHECK (sender IN ('customer', 'agent', 'system')),
    agent_id        uuid,
    text            text NOT NULL,
    status          text,
    provider_id     text,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_interaction ON messages (interaction_id, id);

CREATE TABLE routing_decisions (
    id              bigserial PRIMARY KEY,
    org_id          text NOT NULL,
    interaction_id  uuid NOT NULL,
    at              timestamptz NOT NULL,
    trigger         text NOT NULL,
    outcome         text NOT NULL,
    winner          uuid,
    rule            text,
    candidates      jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX routing_decisions_interaction ON routing_decisions (interaction_id, id);

-- Every state change of an interaction and an agent, for reports and audits.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    org_id          text NOT NULL,
    at              timestamptz NOT NULL,
    kind            text NOT NULL,
    interaction_id  uuid,
    agent_id        uuid,
    queue           text,
    data            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_org_at ON events (org_id, at);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    org_id      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text,
    action      text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at);
