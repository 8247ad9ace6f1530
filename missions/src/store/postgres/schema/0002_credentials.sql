-- Sortie's store on PostgreSQL, version 2: the credential pool and pending logins, shared
-- by every daemon of the store. Each record is sealed (ChaCha20-Poly1305, the key named
-- by `[store] key_env`); the columns beside it hold nothing secret.

CREATE TABLE credentials (
    id            text COLLATE "C" PRIMARY KEY,
    provider      text NOT NULL,
    created_at    timestamptz NOT NULL,
    -- The record's status, and until when it cools down: readable without the key.
    status        text NOT NULL,
    cooling_until timestamptz,
    record        bytea NOT NULL
);
CREATE INDEX credentials_by_provider ON credentials (provider, created_at, id);

-- Use counters, beside the record: counting a lease never waits for a refresh that holds
-- the credential's row. (No foreign key: its check would lock that row too.)
CREATE TABLE credential_uses (
    id        text COLLATE "C" PRIMARY KEY,
    use_count bigint NOT NULL,
    last_used timestamptz
);

CREATE TABLE pending_logins (
    state      text PRIMARY KEY,
    provider   text NOT NULL,
    expires_at timestamptz NOT NULL,
    record     bytea NOT NULL
);

-- A known text sealed with the key of the first daemon that stored credentials: a daemon
-- given another key is refused at start, not at its first lease.
CREATE TABLE credential_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    probe    bytea NOT NULL
);
