-- Historical reports: 15-minute interval statistics per queue and per agent, recomputed from events.
CREATE TABLE interval_stats (
    org_id          text NOT NULL REFERENCES orgs(id),
    interval_start  timestamptz NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('queue', 'agent')),
    key             text NOT NULL,
    figures         jsonb NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, interval_start, kind, key)
);
CREATE INDEX interval_stats_kind ON interval_stats (org_id, kind, interval_start);

-- Per org, the moment before which every event has been rolled into interval_stats.
CREATE TABLE interval_rollups (
    org_id        text PRIMARY KEY REFERENCES orgs(id),
    rolled_until  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Rollups look up the interactions that were open during a window by when they were answered.
CREATE INDEX events_org_interaction ON events (interaction_id, id) WHERE interaction_id IS NOT NULL;
