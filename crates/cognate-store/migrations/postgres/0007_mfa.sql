-- Software-token (TOTP) MFA: one record per user, kept apart from the user row. Secrets are
-- sealed with the master key (label "totp-seed"); a pending secret is an association that
-- no code has verified yet. last_step is the time step of the last accepted code, so each
-- code is accepted once (see MfaRepo::use_totp_step). Pool-owned like users: no row-level
-- security (users are not tenant-owned either; a user may belong to several tenants).
CREATE TABLE user_mfa (
    pool_id               TEXT COLLATE "C" NOT NULL,
    sub                   TEXT COLLATE "C" NOT NULL,
    totp_secret_sealed    TEXT COLLATE "C",
    totp_verified         BOOLEAN NOT NULL,
    totp_enabled          BOOLEAN NOT NULL,
    preferred             BOOLEAN NOT NULL,
    last_step             BIGINT NOT NULL,
    pending_secret_sealed TEXT COLLATE "C",
    pending_at            BIGINT,
    friendly_device_name  TEXT COLLATE "C",
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users (pool_id, sub) ON DELETE CASCADE
);

-- Whether the sign-in that started a token family passed an MFA challenge; switching into
-- a tenant whose policy requires MFA needs it. Families from before this migration did not.
ALTER TABLE token_families ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
