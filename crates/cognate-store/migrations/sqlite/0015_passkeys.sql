-- Passkeys (WebAuthn credentials) of choice-based sign-in. Pool-owned like users and
-- devices, deleted with the user. `credential` is webauthn-rs' record as JSON (the public
-- key and the signature counter; nothing secret); `counter` mirrors the counter so a use
-- can be recorded with a conditional update (a replayed or cloned authenticator's
-- counter does not move forward).
CREATE TABLE passkeys (
    pool_id          TEXT NOT NULL,
    credential_id    TEXT NOT NULL,
    sub              TEXT NOT NULL,
    credential       TEXT NOT NULL,
    friendly_name    TEXT NOT NULL,
    relying_party_id TEXT NOT NULL,
    attachment       TEXT,
    transports       TEXT NOT NULL,
    counter          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    PRIMARY KEY (pool_id, credential_id),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX passkeys_by_user ON passkeys (pool_id, sub, created_at);

-- A registration between StartWebAuthnRegistration and CompleteWebAuthnRegistration: the
-- ceremony's state (its challenge), one per user, removed by the completion that uses it.
CREATE TABLE passkey_registrations (
    pool_id    TEXT NOT NULL,
    sub        TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
