-- Tenants' SSO connections: each is an identity provider of the tenant's pool (named by
-- Cognate, unique in the pool) plus the tenant's rules for it (enabled, the roles federated
-- members get). Tenant-owned, with the row-level security of 0004_tenancy.sql:
-- tenant_isolation for the tenant's own reads and writes, platform_read for the lookup by
-- pool provider a federated sign-in makes before it knows the tenant.
CREATE TABLE tenant_connections (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pool_id       TEXT COLLATE "C" NOT NULL,
    provider_name TEXT COLLATE "C" NOT NULL,
    -- OIDC or SAML, fixed at creation.
    provider_type TEXT COLLATE "C" NOT NULL,
    name          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    default_role  TEXT COLLATE "C" NOT NULL,
    -- The claim or SAML attribute carrying the user's groups; NULL when roles are not mapped.
    role_claim    TEXT,
    -- JSON object: group -> role.
    role_mapping  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (pool_id, provider_name)
);
CREATE UNIQUE INDEX tenant_connections_by_tenant ON tenant_connections (tenant_id, id);

ALTER TABLE tenant_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_connections FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON tenant_connections FOR SELECT USING (cognate_platform_scope());
