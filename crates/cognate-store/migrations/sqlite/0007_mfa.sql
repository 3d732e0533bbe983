-- Software-token (TOTP) MFA: one record per user, kept apart from the user row. Secrets are
-- sealed with the master key (label "totp-seed"); a pending secret is an association that
-- no code has verified yet. last_step is the time step of the last accepted code, so each
-- code is accepted once (see MfaRepo::use_totp_step).
CREATE TABLE user_mfa (
    pool_id               TEXT NOT NULL,
    sub                   TEXT NOT NULL,
    totp_secret_sealed    TEXT,
    totp_verified         BOOLEAN NOT NULL,
    totp_enabled          BOOLEAN NOT NULL,
    preferred             BOOLEAN NOT NULL,
    last_step             INTEGER NOT NULL,
    pending_secret_sealed TEXT,
    pending_at            INTEGER,
    friendly_device_name  TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);

-- Whether the sign-in that started a token family passed an MFA challenge; switching into
-- a tenant whose policy requires MFA needs it. Families from before this migration did not.
ALTER TABLE token_families ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
