-- SRP sign-in (Cognito's USER_SRP_AUTH): each user's SRP verifier, sealed with the master
-- key and written with every password; NULL until a password is next set or used.
ALTER TABLE users ADD COLUMN srp_verifier TEXT;

-- One-time values already used (an SRP answer's secret block), kept until they could no
-- longer be presented anyway. Recording one fails on the primary key when it is there, so
-- two concurrent uses cannot both succeed. Holds SHA-256 hashes only.
CREATE TABLE spent_values (
    value_hash TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX spent_values_by_expiry ON spent_values (expires_at);
