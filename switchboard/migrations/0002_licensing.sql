-- Licensing: uploaded license documents, named-agent sets, peak usage per period, licensing audit.
CREATE TABLE licenses (
    org_id       text NOT NULL REFERENCES orgs(id),
    license_id   text NOT NULL,
    model        text NOT NULL CHECK (model IN ('concurrent', 'named')),
    seats        integer NOT NULL CHECK (seats > 0),
    period       text NOT NULL CHECK (period IN ('month', 'week', 'day')),
    timezone     text NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    -- The signed document as uploaded, so it can be re-verified or handed back to the vendor.
    document     text NOT NULL,
    uploaded_by  text,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, license_id)
);
CREATE INDEX licenses_org_valid ON licenses (org_id, valid_until);

-- Distinct agents who logged in per license and measurement period (the named-seat count).
CREATE TABLE license_named_agents (
    org_id          text NOT NULL,
    license_id      text NOT NULL,
    period_key      text NOT NULL,
    agent_id        text NOT NULL,
    first_login_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, license_id, period_key, agent_id)
);

-- Peak concurrent seats per org and period key (license period and each day), kept with GREATEST
-- so reports survive the loss of Redis.
CREATE TABLE license_usage (
    org_id           text NOT NULL,
    period_key       text NOT NULL,
    peak_concurrent  integer NOT NULL DEFAULT 0,
    peak_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, period_key)
);

CREATE TABLE license_audit (
    id        bigserial PRIMARY KEY,
    org_id    text NOT NULL,
    at        timestamptz NOT NULL,
    agent_id  text,
    action    text NOT NULL,
    code      text,
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX license_audit_org_at ON license_audit (org_id, at);
