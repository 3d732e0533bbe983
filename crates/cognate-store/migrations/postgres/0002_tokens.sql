-- Sign-in and tokens: signing keys, refresh token families, the revocation feed, codes.
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;

CREATE TABLE signing_keys (
    pool_id        TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    kid            TEXT COLLATE "C" NOT NULL,
    private_sealed TEXT COLLATE "C" NOT NULL,
    n              TEXT COLLATE "C" NOT NULL,
    e              TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT,
    PRIMARY KEY (pool_id, kid)
);

CREATE TABLE token_families (
    id         TEXT COLLATE "C" PRIMARY KEY,
    pool_id    TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    client_id  TEXT COLLATE "C" NOT NULL,
    sub        TEXT COLLATE "C" NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_by_user ON token_families (pool_id, sub);

CREATE TABLE refresh_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    family_id  TEXT COLLATE "C" NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE revocation_events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id TEXT COLLATE "C" NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX revocation_events_by_pool ON revocation_events (pool_id, seq);

CREATE TABLE one_time_codes (
    pool_id    TEXT COLLATE "C" NOT NULL,
    sub        TEXT COLLATE "C" NOT NULL,
    purpose    TEXT COLLATE "C" NOT NULL,
    code_hash  TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pool_id, sub, purpose),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
