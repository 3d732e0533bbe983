-- Tenant API keys and their daily usage totals (tenant-owned). SQLite has no row-level
-- security; the shared repository SQL filters every statement by tenant_id itself (on
-- PostgreSQL the policies of 0006_api_keys.sql enforce it as well).
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash        TEXT NOT NULL UNIQUE,
    display_prefix  TEXT NOT NULL,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    service_account TEXT,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    revoked_at      INTEGER,
    rotated_from    TEXT,
    grace_until     INTEGER,
    rate_limit      TEXT
);
CREATE UNIQUE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

CREATE TABLE api_key_usage (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_id    TEXT NOT NULL,
    day       INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, key_id),
    FOREIGN KEY (tenant_id, key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);
