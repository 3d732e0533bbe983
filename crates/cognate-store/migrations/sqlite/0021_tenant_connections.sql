-- Tenants' SSO connections (tenant-owned). SQLite has no row-level security; the shared
-- repository SQL filters every tenant statement by tenant_id itself (on PostgreSQL the
-- policies of 0021_tenant_connections.sql enforce it as well).
CREATE TABLE tenant_connections (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pool_id       TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    name          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    default_role  TEXT NOT NULL,
    role_claim    TEXT,
    role_mapping  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (pool_id, provider_name)
);
CREATE UNIQUE INDEX tenant_connections_by_tenant ON tenant_connections (tenant_id, id);
