-- Tenant API keys and their daily usage totals. Both tables are tenant-owned and follow
-- the row-level security design of 0004_tenancy.sql: tenant_isolation (reads and writes of
-- the transaction's app.tenant_id) and platform_read (cross-tenant reads in the platform
-- scope: a verifier finds a key by its hash before it knows the tenant).
CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- SHA-256 (hex) of the key; unique across tenants whatever the policies show.
    key_hash        TEXT COLLATE "C" NOT NULL UNIQUE,
    display_prefix  TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    -- JSON array of scope names.
    scopes          TEXT COLLATE "C" NOT NULL,
    service_account TEXT COLLATE "C",
    created_by      TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    rotated_from    TEXT COLLATE "C",
    grace_until     BIGINT,
    -- JSON of a RateLimit ({"requests": …, "perSeconds": …}), or NULL for none.
    rate_limit      TEXT COLLATE "C"
);
-- Listing a tenant's keys; unique so that usage rows can reference (tenant_id, id) and
-- can never name another tenant's key.
CREATE UNIQUE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

-- Accepted requests per key and UTC day (days since the epoch), added to in batches.
-- Keys are revoked, not deleted; the cascades clean up when a tenant is deleted.
CREATE TABLE api_key_usage (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_id    TEXT COLLATE "C" NOT NULL,
    day       BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, key_id),
    FOREIGN KEY (tenant_id, key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON api_keys FOR SELECT USING (cognate_platform_scope());

ALTER TABLE api_key_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_key_usage FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON api_key_usage FOR SELECT USING (cognate_platform_scope());
