-- Tenancy: tenants and their email domains, memberships and invitations. SQLite has no
-- row-level security; the shared repository SQL filters every tenant-owned statement by
-- tenant_id itself (on PostgreSQL the policies of 0004_tenancy.sql enforce it as well).
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    tier       TEXT NOT NULL,
    status     TEXT NOT NULL,
    pool_id    TEXT NOT NULL,
    mfa        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
);
CREATE INDEX tenants_by_pool ON tenants (pool_id, id);

CREATE TABLE tenant_domains (
    domain     TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    verified   BOOLEAN NOT NULL,
    auto_join  BOOLEAN NOT NULL,
    verification_token_hash TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX tenant_domains_by_tenant ON tenant_domains (tenant_id, domain);

CREATE TABLE memberships (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pool_id      TEXT NOT NULL,
    sub          TEXT NOT NULL,
    role         TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (tenant_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX memberships_by_user ON memberships (pool_id, sub, tenant_id);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    revoked_at   INTEGER,
    accepted_sub TEXT
);
CREATE INDEX invitations_by_tenant ON invitations (tenant_id, id);
