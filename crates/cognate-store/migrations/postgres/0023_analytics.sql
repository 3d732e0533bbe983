-- Analytics aggregates (see cognate-core's analytics module and docs/operations.md).
--
-- analytics_daily: per tenant, UTC day (days since the epoch) and figure (`sign_ins`,
-- `sign_in_failures`, `tokens.{grant}`), a count that nodes add to in batches
-- (`count = count + n`, exact under concurrent writers).
-- analytics_mau: one row per (tenant, month YYYYMM, user `{poolId}/{sub}`), inserted with
-- ON CONFLICT DO NOTHING, so a user counts once per month however many nodes saw them.
-- Both are tenant-owned with the policies of 0004_tenancy.sql. The platform line ("no
-- tenant": identity operations without a tenant context) is kept in the two
-- analytics_platform_* tables, which belong to no tenant.
CREATE TABLE analytics_daily (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,
    figure    TEXT COLLATE "C" NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, figure)
);

CREATE TABLE analytics_mau (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    month      BIGINT NOT NULL,
    user_key   TEXT COLLATE "C" NOT NULL,
    federated  BOOLEAN NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, user_key)
);

CREATE TABLE analytics_platform_daily (
    day    BIGINT NOT NULL,
    figure TEXT COLLATE "C" NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (day, figure)
);

CREATE TABLE analytics_platform_mau (
    month      BIGINT NOT NULL,
    user_key   TEXT COLLATE "C" NOT NULL,
    federated  BOOLEAN NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (month, user_key)
);

ALTER TABLE analytics_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_daily FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON analytics_daily FOR SELECT USING (cognate_platform_scope());

ALTER TABLE analytics_mau ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_mau FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_mau FOR ALL
    USING (tenant_id = cognate_current_tenant()) WITH CHECK (tenant_id = cognate_current_tenant());
CREATE POLICY platform_read ON analytics_mau FOR SELECT USING (cognate_platform_scope());
