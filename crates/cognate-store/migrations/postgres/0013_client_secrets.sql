-- App client secret rotation (AddUserPoolClientSecret, DeleteUserPoolClientSecret): every
-- secret a client accepts, as a JSON list of {id, sealed, created_at} (sealed with the
-- master key); NULL for public clients and for clients from before rotation, whose one
-- secret is secret_sealed. secret_sealed stays the secret DescribeUserPoolClient shows.
-- secrets_version orders concurrent changes of the list.
ALTER TABLE clients ADD COLUMN secrets TEXT;
ALTER TABLE clients ADD COLUMN secrets_version BIGINT NOT NULL DEFAULT 0;
