-- Sortie's store on PostgreSQL, version 1.
-- JSON columns are `json`, not `jsonb`: a tool's output may hold "\u0000", which jsonb
-- refuses, and the stored text is what readers get back.

CREATE TABLE missions (
    id          uuid PRIMARY KEY,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    event_count bigint NOT NULL,
    record      json NOT NULL,
    -- The daemon that runs it, until lease_until (see PgStore::claim_queued).
    leased_by   text,
    lease_until timestamptz
);
CREATE INDEX missions_by_status ON missions (status, id);
CREATE INDEX missions_by_update ON missions (updated_at);

CREATE TABLE events (
    mission_id uuid NOT NULL REFERENCES missions (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    at         timestamptz NOT NULL,
    event      json NOT NULL,
    PRIMARY KEY (mission_id, seq)
);

-- Every schedule write takes the next number: the generation a timer compares, and the
-- version an update checks.
CREATE SEQUENCE schedules_generation;
CREATE TABLE schedules (
    id      text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    record  json NOT NULL
);

CREATE TABLE models (
    provider text PRIMARY KEY,
    record   json NOT NULL
);
