-- The daemons sharing this database: one row per name, held by the running daemon's
-- instance while its heartbeat keeps `until` ahead (see PgStore::register_daemon).
CREATE TABLE daemons (
    name       text COLLATE "C" PRIMARY KEY,
    instance   text NOT NULL,
    host       text NOT NULL,
    pid        integer NOT NULL,
    labels     text[] NOT NULL,
    version    text NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    until      timestamptz NOT NULL,
    stopped_at timestamptz
);
CREATE INDEX missions_by_lease ON missions (leased_by) WHERE leased_by IS NOT NULL;
-- A stop (cancel, pause) asked of the daemon that holds the mission's lease by another
-- daemon or command: "STATUS:REASON", taken by the holder's next heartbeat.
ALTER TABLE missions ADD COLUMN stop_request text;
-- Which start of the daemon `leased_by` names holds the lease: a daemon that stalled past
-- its lease and woke after a new start took its name holds nothing.
ALTER TABLE missions ADD COLUMN lease_instance text;
