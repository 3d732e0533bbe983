-- Cognate schema, SQLite. Times are milliseconds since the Unix epoch.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE admin_credentials (
    access_key_id TEXT PRIMARY KEY,
    secret_sealed TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE TABLE pools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
);

CREATE TABLE clients (
    pool_id       TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    secret_sealed TEXT,
    settings      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (pool_id, id)
);

CREATE TABLE users (
    pool_id        TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    sub            TEXT NOT NULL,
    username       TEXT NOT NULL,
    username_key   TEXT NOT NULL,
    email_key      TEXT,
    phone_key      TEXT,
    preferred_key  TEXT,
    status         TEXT NOT NULL,
    enabled        BOOLEAN NOT NULL,
    password_hash  TEXT,
    temp_password_expires_at INTEGER,
    attributes     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub)
);
CREATE UNIQUE INDEX users_username_key_uq ON users (pool_id, username_key);
CREATE UNIQUE INDEX users_email_key_uq ON users (pool_id, email_key) WHERE email_key IS NOT NULL;
CREATE UNIQUE INDEX users_phone_key_uq ON users (pool_id, phone_key) WHERE phone_key IS NOT NULL;
CREATE UNIQUE INDEX users_preferred_key_uq ON users (pool_id, preferred_key) WHERE preferred_key IS NOT NULL;
-- ListUsers filters on status and enabled, returned in username order.
CREATE INDEX users_status ON users (pool_id, status, username_key);
CREATE INDEX users_enabled ON users (pool_id, enabled, username_key);

-- The search index behind ListUsers filters; users.attributes is the source of truth.
CREATE TABLE user_attributes (
    pool_id TEXT NOT NULL,
    sub     TEXT NOT NULL,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    -- The owner's username key, so equality filters come back in page order from the index.
    username_key TEXT NOT NULL,
    PRIMARY KEY (pool_id, sub, name),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX user_attributes_lookup ON user_attributes (pool_id, name, value, username_key);

CREATE TABLE groups (
    pool_id     TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    role_arn    TEXT,
    precedence  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (pool_id, name)
);

CREATE TABLE group_members (
    pool_id    TEXT NOT NULL,
    group_name TEXT NOT NULL,
    sub        TEXT NOT NULL,
    PRIMARY KEY (pool_id, group_name, sub),
    FOREIGN KEY (pool_id, group_name) REFERENCES groups (pool_id, name) ON DELETE CASCADE,
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX group_members_by_user ON group_members (pool_id, sub, group_name);

CREATE TABLE resource_servers (
    pool_id    TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    PRIMARY KEY (pool_id, identifier)
);

CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    pool_id     TEXT NOT NULL,
    username    TEXT NOT NULL,
    medium      TEXT NOT NULL,
    destination TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbox_by_time ON outbox (created_at);
