-- Browser sign-ins sent to an external identity provider (OIDC or SAML) and not back yet.
-- `state_hash` is the SHA-256 of the value sent as OIDC `state` / SAML `RelayState`;
-- `binding_hash` the SHA-256 of the cookie the starting browser holds, so a callback only
-- completes in the browser that began it (no login CSRF). `payload` (sealed, label
-- "federation-request") keeps the client's authorization request, the OIDC nonce and PKCE
-- verifier. A SAML response verified at the ACS leaves its identity in `result` (sealed)
-- for the browser's next request; `used_at` makes each request single use.
CREATE TABLE federation_requests (
    state_hash   TEXT COLLATE "C" PRIMARY KEY,
    pool_id      TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    request_id   TEXT,
    payload      TEXT NOT NULL,
    result       TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX federation_requests_by_request ON federation_requests (request_id);
CREATE INDEX federation_requests_by_expiry ON federation_requests (expires_at);

-- A browser session that began at a SAML provider keeps who the provider signed in (JSON:
-- provider, NameID and its format, SessionIndex), so sign-out can end the IdP's session too
-- (single logout, the provider's IDPSignout).
ALTER TABLE login_sessions ADD COLUMN federation TEXT;
