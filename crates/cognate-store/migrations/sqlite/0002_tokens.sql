-- Sign-in and tokens: signing keys, refresh token families, the revocation feed, codes.
ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER NOT NULL DEFAULT 0;

CREATE TABLE signing_keys (
    pool_id        TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    kid            TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    n              TEXT NOT NULL,
    e              TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    PRIMARY KEY (pool_id, kid)
);

CREATE TABLE token_families (
    id         TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX token_families_by_user ON token_families (pool_id, sub);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE revocation_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id TEXT NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX revocation_events_by_pool ON revocation_events (pool_id, seq);

CREATE TABLE one_time_codes (
    pool_id    TEXT NOT NULL,
    sub        TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub, purpose),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
