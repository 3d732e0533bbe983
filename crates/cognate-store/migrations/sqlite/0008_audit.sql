-- The audit trail (see cognate_core::audit): hash-chained events, one chain per tenant plus
-- the platform chain '~platform', and the anchors that retention purges leave behind.
-- SQLite has no row-level security; the shared repository SQL filters every statement by
-- chain itself (on PostgreSQL the policies of 0008_audit.sql enforce it as well). No
-- foreign key to tenants: the trail of a deleted tenant outlives it.
CREATE TABLE audit_events (
    chain      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    id         TEXT NOT NULL UNIQUE,
    at         INTEGER NOT NULL,
    pool_id    TEXT,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    outcome    TEXT NOT NULL,
    reason     TEXT,
    source_ip  TEXT,
    user_agent TEXT,
    request_id TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_events_by_time ON audit_events (chain, at);
CREATE INDEX audit_events_by_action ON audit_events (chain, action, seq);
CREATE INDEX audit_events_by_actor ON audit_events (chain, actor, seq);

CREATE TABLE audit_anchors (
    chain     TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    purged_at INTEGER NOT NULL
);

-- Events are only ever appended (and deleted only by the retention purge).
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
