-- Webhooks (see cognate-core's webhook module). Every row has an owner: a tenant id, or
-- '~platform' for platform-wide endpoints and events outside any tenant. SQLite has no
-- row-level security; the shared repository SQL filters every statement by owner itself
-- (on PostgreSQL the policies of 0022_webhooks.sql enforce it as well).

-- Receiving endpoints. Secrets are sealed with the master key; the previous secret keeps
-- signing until previous_until during a rotation.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    owner                  TEXT NOT NULL,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    -- JSON array of event types; [] hears every event.
    event_types            TEXT NOT NULL,
    enabled                BOOLEAN NOT NULL,
    disabled_reason        TEXT,
    secret_sealed          TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_until         INTEGER,
    failing_since          INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE UNIQUE INDEX webhook_endpoints_by_owner ON webhook_endpoints (owner, id);

-- The transactional outbox: written in the transaction of the change it reports, fanned
-- out to deliveries by the worker (fanned_out_at set, in the fan-out's transaction).
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    fanned_out_at INTEGER
);
CREATE INDEX webhook_events_pending ON webhook_events (created_at) WHERE fanned_out_at IS NULL;

-- One message to one endpoint; its id is the webhook-id of every attempt. The body is
-- copied so a delivery is complete in its owner's scope.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (owner, endpoint_id, id);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at);

-- The delivery log: one row per attempt (status code, short error, body excerpt, latency).
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    excerpt     TEXT,
    latency_ms  INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, at);
