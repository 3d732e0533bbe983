-- Token families remember the tenant their tokens speak for (NULL outside tenancy), so
-- suspending a tenant, removing a member or moving a tenant can revoke exactly its
-- families. token_families has no row-level security: it is written with the user's pool.
ALTER TABLE token_families ADD COLUMN tenant_id TEXT COLLATE "C";
-- revoke_tenant_families: a tenant's families, or one member's (tenant_id, sub).
CREATE INDEX token_families_by_tenant ON token_families (tenant_id, sub);
