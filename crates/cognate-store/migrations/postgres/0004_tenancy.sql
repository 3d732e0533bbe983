-- Tenancy: tenants (platform-owned) and their email domains, memberships and invitations
-- (tenant-owned, under row-level security).
--
-- Row-level security design
-- -------------------------
-- Every tenant-owned table carries tenant_id and two permissive policies:
--
--   tenant_isolation  FOR ALL     rows of cognate_current_tenant(), i.e. the tenant named by
--                                 the transaction-local setting app.tenant_id. Reads AND
--                                 writes; WITH CHECK refuses writing another tenant's row.
--   platform_read     FOR SELECT  every row, but only while cognate_platform_scope() is true,
--                                 i.e. the transaction-local setting app.platform = 'on'.
--
-- So (a) a transaction with app.tenant_id set sees and writes only that tenant's rows; with
-- nothing set it sees nothing and can write nothing; (b) the control plane's legitimate
-- cross-tenant lookups (home-realm discovery by domain, a user's memberships across
-- tenants, finding an invitation by its token) are possible only through an explicit,
-- greppable path: the store's `platform_scope` helper, the one place that sets app.platform.
-- Platform scope is read-only: every write runs in a tenant scope, so a bug in a
-- cross-tenant code path can disclose but never modify another tenant's rows.
--
-- Both settings are set with set_config(..., true), so they end with the transaction and
-- never leak to the next user of a pooled connection. There is deliberately no wildcard
-- tenant value (such as '*'): a tenant id that happens to equal a magic value, or a bug
-- that passes one through, would otherwise switch isolation off for reads and writes.
--
-- FORCE ROW LEVEL SECURITY binds the table owner too. Foreign-key checks and ON DELETE
-- CASCADE actions are not filtered by policies, so deleting a tenant or a user removes its
-- rows here whatever the scope.
CREATE FUNCTION cognate_platform_scope() RETURNS BOOLEAN
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.platform', true), '') = 'on' $$;

CREATE TABLE tenants (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    tier       TEXT COLLATE "C" NOT NULL,
    status     TEXT COLLATE "C" NOT NULL,
    -- Placement. No foreign key to pools: deleting a pool is a pool operation, and moving a
    -- tenant between pools is the control plane's job (it checks the pool exists).
    pool_id    TEXT COLLATE "C" NOT NULL,
    mfa        TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL
);
CREATE INDEX tenants_by_pool ON tenants (pool_id, id);

CREATE TABLE tenant_domains (
    -- One tenant per domain: the primary key is the domain alone (uniqueness is checked
    -- across tenants whatever the policies show).
    domain     TEXT COLLATE "C" PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    verified   BOOLEAN NOT NULL,
    auto_join  BOOLEAN NOT NULL,
    verification_token_hash TEXT COLLATE "C",
    created_at BIGINT NOT NULL
);
CREATE INDEX tenant_domains_by_tenant ON tenant_domains (tenant_id, domain);

CREATE TABLE memberships (
    tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pool_id      TEXT COLLATE "C" NOT NULL,
    sub          TEXT COLLATE "C" NOT NULL,
    role         TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (tenant_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX memberships_by_user ON memberships (pool_id, sub, tenant_id);

CREATE TABLE invitations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        TEXT COLLATE "C" NOT NULL,
    role         TEXT COLLATE "C" NOT NULL,
    token_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    invited_by   TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    revoked_at   BIGINT,
    accepted_sub TEXT COLLATE "C"
);
CREATE INDEX invitations_by_tenant ON invitations (tenant_id, id);

ALTER TABLE tenant_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_domains FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON tenant_domains FOR SELECT USING (cognate_platform_scope());

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON memberships FOR SELECT USING (cognate_platform_scope());

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON invitations FOR SELECT USING (cognate_platform_scope());
