-- Webhooks (see cognate-core's webhook module). Every row has an owner: a tenant id, or
-- '~platform' for platform-wide endpoints and events outside any tenant. Tenant-owned with
-- the row-level security of 0004_tenancy.sql keyed on owner: owner_isolation for the
-- owner's own reads and writes (app.tenant_id = owner, '~platform' included), platform_read
-- for the delivery worker's cross-owner reads.

-- Receiving endpoints. Secrets are sealed with the master key; the previous secret keeps
-- signing until previous_until during a rotation.
CREATE TABLE webhook_endpoints (
    id                     TEXT COLLATE "C" PRIMARY KEY,
    owner                  TEXT COLLATE "C" NOT NULL,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    -- JSON array of event types; [] hears every event.
    event_types            TEXT NOT NULL,
    enabled                BOOLEAN NOT NULL,
    disabled_reason        TEXT,
    secret_sealed          TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_until         BIGINT,
    failing_since          BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE UNIQUE INDEX webhook_endpoints_by_owner ON webhook_endpoints (owner, id);

-- The transactional outbox: written in the transaction of the change it reports, fanned
-- out to deliveries by the worker (fanned_out_at set, in the fan-out's transaction).
CREATE TABLE webhook_events (
    id            TEXT COLLATE "C" PRIMARY KEY,
    owner         TEXT COLLATE "C" NOT NULL,
    event_type    TEXT COLLATE "C" NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    fanned_out_at BIGINT
);
CREATE INDEX webhook_events_pending ON webhook_events (created_at) WHERE fanned_out_at IS NULL;

-- One message to one endpoint; its id is the webhook-id of every attempt. The body is
-- copied so a delivery is complete in its owner's scope.
CREATE TABLE webhook_deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    owner            TEXT COLLATE "C" NOT NULL,
    endpoint_id      TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT COLLATE "C" NOT NULL,
    event_type       TEXT COLLATE "C" NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (owner, endpoint_id, id);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at);

-- The delivery log: one row per attempt (status code, short error, body excerpt, latency).
CREATE TABLE webhook_attempts (
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    owner       TEXT COLLATE "C" NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    excerpt     TEXT,
    latency_ms  BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, at);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_isolation ON webhook_endpoints FOR ALL
    USING (owner = cognate_current_tenant()) WITH CHECK (owner = cognate_current_tenant());
CREATE POLICY platform_read ON webhook_endpoints FOR SELECT USING (cognate_platform_scope());

ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_isolation ON webhook_events FOR ALL
    USING (owner = cognate_current_tenant()) WITH CHECK (owner = cognate_current_tenant());
CREATE POLICY platform_read ON webhook_events FOR SELECT USING (cognate_platform_scope());

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_isolation ON webhook_deliveries FOR ALL
    USING (owner = cognate_current_tenant()) WITH CHECK (owner = cognate_current_tenant());
CREATE POLICY platform_read ON webhook_deliveries FOR SELECT USING (cognate_platform_scope());

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_isolation ON webhook_attempts FOR ALL
    USING (owner = cognate_current_tenant()) WITH CHECK (owner = cognate_current_tenant());
CREATE POLICY platform_read ON webhook_attempts FOR SELECT USING (cognate_platform_scope());
