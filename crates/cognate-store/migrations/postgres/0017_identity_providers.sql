-- External identity providers of a pool (CreateIdentityProvider): OIDC, SAML and social
-- providers. details, attribute_mapping, identifiers and acr_mapping are JSON in Cognito's
-- shapes; secret details (client_secret, private_key) are sealed with the master key
-- (label "idp-secret").
CREATE TABLE identity_providers (
    pool_id           TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    name              TEXT COLLATE "C" NOT NULL,
    provider_type     TEXT COLLATE "C" NOT NULL,
    details           TEXT NOT NULL,
    attribute_mapping TEXT NOT NULL,
    identifiers       TEXT NOT NULL,
    acr_mapping       TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name)
);

-- IdpIdentifiers are unique in a pool, whatever their case (idp_identifier=, email domain
-- routing): one row per identifier, gone with its provider.
CREATE TABLE idp_identifiers (
    pool_id        TEXT COLLATE "C" NOT NULL,
    identifier_key TEXT COLLATE "C" NOT NULL,
    provider       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (pool_id, identifier_key),
    FOREIGN KEY (pool_id, provider) REFERENCES identity_providers (pool_id, name) ON DELETE CASCADE
);

-- External identities linked to existing users (AdminLinkProviderForUser): a sign-in
-- through `provider` whose `attribute` is `value` signs in as `sub`. Kept when the provider
-- is deleted (a provider created again under the name finds its links), gone with the user.
CREATE TABLE provider_links (
    pool_id    TEXT COLLATE "C" NOT NULL,
    provider   TEXT COLLATE "C" NOT NULL,
    provider_type TEXT COLLATE "C" NOT NULL,
    attribute  TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    sub        TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pool_id, provider, attribute, value),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX provider_links_by_user ON provider_links (pool_id, sub);

-- A user's authentication history (AdminListUserAuthEvents) in pools with threat
-- protection on, with the feedback given on each event. Gone with the user.
CREATE TABLE auth_events (
    pool_id           TEXT COLLATE "C" NOT NULL,
    sub               TEXT COLLATE "C" NOT NULL,
    id                TEXT COLLATE "C" NOT NULL,
    at                BIGINT NOT NULL,
    event_type        TEXT COLLATE "C" NOT NULL,
    response          TEXT COLLATE "C" NOT NULL,
    challenges        TEXT NOT NULL,
    ip                TEXT,
    device            TEXT,
    feedback_value    TEXT COLLATE "C",
    feedback_provider TEXT,
    feedback_at       BIGINT,
    PRIMARY KEY (pool_id, id),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX auth_events_by_user ON auth_events (pool_id, sub, at, id);

-- Each pool's SAML signing key (it signs the pool's authentication requests) and its
-- self-signed certificate (GetSigningCertificate), made at first use. The key is sealed
-- with the master key (label "saml-signing-key").
CREATE TABLE saml_signing_keys (
    pool_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
    certificate TEXT NOT NULL,
    key_sealed  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
