-- Cognate schema, PostgreSQL. Times are milliseconds since the Unix epoch.
CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE admin_credentials (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    secret_sealed TEXT COLLATE "C" NOT NULL,
    description   TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE pools (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    settings   TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL
);

CREATE TABLE clients (
    pool_id       TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    id            TEXT COLLATE "C" NOT NULL UNIQUE,
    name          TEXT COLLATE "C" NOT NULL,
    secret_sealed TEXT COLLATE "C",
    settings      TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (pool_id, id)
);

CREATE TABLE users (
    pool_id        TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    sub            TEXT COLLATE "C" NOT NULL,
    username       TEXT COLLATE "C" NOT NULL,
    username_key   TEXT COLLATE "C" NOT NULL,
    email_key      TEXT COLLATE "C",
    phone_key      TEXT COLLATE "C",
    preferred_key  TEXT COLLATE "C",
    status         TEXT COLLATE "C" NOT NULL,
    enabled        BOOLEAN NOT NULL,
    password_hash  TEXT COLLATE "C",
    temp_password_expires_at BIGINT,
    attributes     TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
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
    pool_id TEXT COLLATE "C" NOT NULL,
    sub     TEXT COLLATE "C" NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    value   TEXT COLLATE "C" NOT NULL,
    -- The owner's username key, so equality filters come back in page order from the index.
    username_key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (pool_id, sub, name),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX user_attributes_lookup ON user_attributes (pool_id, name, value, username_key);

CREATE TABLE groups (
    pool_id     TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    role_arn    TEXT COLLATE "C",
    precedence  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name)
);

CREATE TABLE group_members (
    pool_id    TEXT COLLATE "C" NOT NULL,
    group_name TEXT COLLATE "C" NOT NULL,
    sub        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (pool_id, group_name, sub),
    FOREIGN KEY (pool_id, group_name) REFERENCES groups (pool_id, name) ON DELETE CASCADE,
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX group_members_by_user ON group_members (pool_id, sub, group_name);

CREATE TABLE resource_servers (
    pool_id    TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    identifier TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    scopes     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (pool_id, identifier)
);

CREATE TABLE outbox (
    id          TEXT COLLATE "C" PRIMARY KEY,
    pool_id     TEXT COLLATE "C" NOT NULL,
    username    TEXT COLLATE "C" NOT NULL,
    medium      TEXT COLLATE "C" NOT NULL,
    destination TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    body        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX outbox_by_time ON outbox (created_at);

-- Row-level security plumbing. Tenant-owned tables carry tenant_id and a policy that reads
-- the transaction-local setting app.tenant_id; with no tenant set, a tenant-owned table
-- shows nothing. cognate_current_tenant() is the one place that setting is read.
CREATE FUNCTION cognate_current_tenant() RETURNS TEXT
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$;
