-- Managed login branding styles (CreateManagedLoginBranding … DeleteManagedLoginBranding):
-- at most one per app client, its settings document as JSON text (NULL: never given), its
-- image assets one row each (bytes base64-encoded), at most one per category and color
-- mode. Pool-owned like app clients (no tenant rows: no row-level security), deleted with
-- the client.
CREATE TABLE managed_login_brandings (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    pool_id                     TEXT COLLATE "C" NOT NULL,
    client_id                   TEXT COLLATE "C" NOT NULL,
    use_cognito_provided_values BOOLEAN NOT NULL,
    settings                    TEXT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL,
    UNIQUE (pool_id, client_id),
    FOREIGN KEY (pool_id, client_id) REFERENCES clients (pool_id, id) ON DELETE CASCADE
);

CREATE TABLE managed_login_assets (
    branding_id TEXT COLLATE "C" NOT NULL REFERENCES managed_login_brandings (id) ON DELETE CASCADE,
    category    TEXT COLLATE "C" NOT NULL,
    color_mode  TEXT COLLATE "C" NOT NULL,
    extension   TEXT COLLATE "C" NOT NULL,
    bytes       TEXT COLLATE "C" NOT NULL,
    resource_id TEXT,
    PRIMARY KEY (branding_id, category, color_mode)
);
