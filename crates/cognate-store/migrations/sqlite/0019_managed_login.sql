-- Managed login branding styles (CreateManagedLoginBranding … DeleteManagedLoginBranding):
-- at most one per app client, its settings document as JSON text (NULL: never given), its
-- image assets one row each (bytes base64-encoded), at most one per category and color
-- mode. Pool-owned like app clients (no tenant rows: no row-level security), deleted with
-- the client.
CREATE TABLE managed_login_brandings (
    id                          TEXT PRIMARY KEY,
    pool_id                     TEXT NOT NULL,
    client_id                   TEXT NOT NULL,
    use_cognito_provided_values BOOLEAN NOT NULL,
    settings                    TEXT,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    UNIQUE (pool_id, client_id),
    FOREIGN KEY (pool_id, client_id) REFERENCES clients (pool_id, id) ON DELETE CASCADE
);

CREATE TABLE managed_login_assets (
    branding_id TEXT NOT NULL REFERENCES managed_login_brandings (id) ON DELETE CASCADE,
    category    TEXT NOT NULL,
    color_mode  TEXT NOT NULL,
    extension   TEXT NOT NULL,
    bytes       TEXT NOT NULL,
    resource_id TEXT,
    PRIMARY KEY (branding_id, category, color_mode)
);
