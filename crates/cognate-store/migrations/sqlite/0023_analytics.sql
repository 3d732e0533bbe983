-- Analytics aggregates (see postgres/0023_analytics.sql for the design). SQLite has no
-- row-level security; the shared repository SQL filters every statement by tenant_id.
CREATE TABLE analytics_daily (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day       INTEGER NOT NULL,
    figure    TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, figure)
);

CREATE TABLE analytics_mau (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    month      INTEGER NOT NULL,
    user_key   TEXT NOT NULL,
    federated  INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month, user_key)
);

CREATE TABLE analytics_platform_daily (
    day    INTEGER NOT NULL,
    figure TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (day, figure)
);

CREATE TABLE analytics_platform_mau (
    month      INTEGER NOT NULL,
    user_key   TEXT NOT NULL,
    federated  INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (month, user_key)
);
