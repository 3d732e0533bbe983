-- Hosted login: authorization codes and browser sessions, stored as SHA-256 hashes of the
-- values handed out. Pool-owned like token families (no row-level security: the code or
-- session id is the capability, and the pool is checked by the code that reads them).
CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    sub            TEXT NOT NULL,
    tenant_id      TEXT,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    -- The token family the exchange starts, chosen at issue, so a replay revokes it.
    family_id      TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    mfa            BOOLEAN NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

CREATE TABLE login_sessions (
    id_hash    TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    sub        TEXT NOT NULL,
    tenant_id  TEXT,
    auth_time  INTEGER NOT NULL,
    mfa        BOOLEAN NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at   INTEGER
);
CREATE INDEX login_sessions_by_user ON login_sessions (pool_id, sub);
CREATE INDEX login_sessions_by_expiry ON login_sessions (expires_at);

-- User pool domains: a prefix or a custom host name serving a pool's hosted login; at most
-- one of each kind per pool.
CREATE TABLE user_pool_domains (
    domain                TEXT PRIMARY KEY,
    pool_id               TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    custom                BOOLEAN NOT NULL,
    certificate_arn       TEXT,
    managed_login_version INTEGER NOT NULL,
    created_at            INTEGER NOT NULL
);
CREATE UNIQUE INDEX user_pool_domains_one_per_kind ON user_pool_domains (pool_id, custom);

-- The hosted login's branding (SetUICustomization): CSS and a logo per pool (client_id
-- 'ALL') or per app client. The logo is kept base64-encoded with its content type.
CREATE TABLE ui_customizations (
    pool_id     TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    css         TEXT,
    image       TEXT,
    image_type  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (pool_id, client_id)
);

-- The scopes a browser sign-in granted, kept by every refresh (NULL: an API sign-in).
ALTER TABLE token_families ADD COLUMN scope TEXT;
