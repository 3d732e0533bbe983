-- Remembered devices (Cognito's device tracking): one row per device key handed to a
-- sign-in; the verifier (the device password's SRP verifier, sealed with the master key,
-- label "device-verifier") arrives with ConfirmDevice. Pool-owned like users, deleted with
-- the user.
CREATE TABLE devices (
    device_key            TEXT PRIMARY KEY,
    pool_id               TEXT NOT NULL,
    sub                   TEXT NOT NULL,
    group_key             TEXT NOT NULL,
    name                  TEXT,
    verifier_sealed       TEXT,
    remembered            BOOLEAN NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    last_authenticated_at INTEGER NOT NULL,
    last_ip               TEXT,
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX devices_by_user ON devices (pool_id, sub, device_key);

-- The device a token family's sign-in proved or was handed: its access tokens' device_key
-- claim, which ConfirmDevice requires to name the device being confirmed.
ALTER TABLE token_families ADD COLUMN device_key TEXT;
