-- Terms documents (CreateTerms … DeleteTerms): per app client, at most one document of each
-- kind (terms-of-use, privacy-policy), with its links by managed-login language as a JSON
-- object. Pool-owned like app clients (no tenant rows: no row-level security), deleted with
-- the client.
CREATE TABLE terms (
    id         TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    links      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (pool_id, client_id, name),
    FOREIGN KEY (pool_id, client_id) REFERENCES clients (pool_id, id) ON DELETE CASCADE
);
CREATE INDEX terms_by_pool ON terms (pool_id, id);

-- Session tracking (SetUserPoolSessionConfiguration): a pool without a row has Cognito's
-- defaults (tracking DISABLED, 20 token sessions per user).
CREATE TABLE pool_session_configs (
    pool_id      TEXT PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
    tracking     BOOLEAN NOT NULL,
    max_per_user INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- The SSO session bound of an app client (SetUserPoolClientSessionConfiguration): a client
-- without a row has Cognito's default (60 minutes).
CREATE TABLE client_session_configs (
    pool_id              TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    max_validity_minutes INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (pool_id, client_id),
    FOREIGN KEY (pool_id, client_id) REFERENCES clients (pool_id, id) ON DELETE CASCADE
);
