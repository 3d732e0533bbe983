-- The audit trail (see cognate_core::audit): hash-chained events, one chain per tenant plus
-- the platform chain '~platform', and the anchors that retention purges leave behind.
--
-- Both tables follow the row-level security design of 0004_tenancy.sql with the column
-- `chain` in the place of tenant_id: tenant_isolation (reads and writes of the chain named
-- by the transaction's app.tenant_id — the store sets it to '~platform' for the platform
-- chain, which no tenant id can equal) and platform_read (listing every chain).
--
-- There is deliberately no foreign key to tenants: the trail of a deleted tenant outlives
-- it.
--
-- Append-only. The serving role may read and add events, never rewrite them: it has only
-- SELECT and INSERT on audit_events and only SELECT on audit_anchors (the store's GRANTS
-- re-revoke the rest after its blanket grant), so a compromised server cannot edit history
-- or delete events at will. Retention goes through cognate_purge_audit, a SECURITY DEFINER
-- function that can only cut a chain's oldest events (never the newest) and records where it
-- cut; a compromised server could still call it to shorten a chain early. A trigger refuses
-- UPDATE for every role, the owner included (a superuser can still get around it, which is
-- what the hash chain is for: verification names the altered event).
CREATE TABLE audit_events (
    -- A tenant id, or '~platform'.
    chain      TEXT COLLATE "C" NOT NULL,
    -- 1, 2, 3… within the chain.
    seq        BIGINT NOT NULL,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    at         BIGINT NOT NULL,
    pool_id    TEXT COLLATE "C",
    actor      TEXT COLLATE "C" NOT NULL,
    action     TEXT COLLATE "C" NOT NULL,
    target     TEXT COLLATE "C",
    outcome    TEXT COLLATE "C" NOT NULL,
    reason     TEXT COLLATE "C",
    source_ip  TEXT COLLATE "C",
    user_agent TEXT COLLATE "C",
    request_id TEXT COLLATE "C",
    -- SHA-256 (hex) of the previous event (64 zeros, or the anchor's hash, for the first),
    -- and of this one.
    prev_hash  TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (chain, seq)
);
-- Time ranges and the purge; the filters by action and by actor, newest first.
CREATE INDEX audit_events_by_time ON audit_events (chain, at);
CREATE INDEX audit_events_by_action ON audit_events (chain, action, seq);
CREATE INDEX audit_events_by_actor ON audit_events (chain, actor, seq);

-- Where the last purge cut a chain: events up to seq were deleted, and the first remaining
-- event links to hash.
CREATE TABLE audit_anchors (
    chain     TEXT COLLATE "C" PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      TEXT COLLATE "C" NOT NULL,
    purged_at BIGINT NOT NULL
);

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events FOR ALL
    USING (chain = cognate_current_tenant()) WITH CHECK (chain = cognate_current_tenant());
CREATE POLICY platform_read ON audit_events FOR SELECT USING (cognate_platform_scope());

ALTER TABLE audit_anchors ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_anchors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_anchors FOR ALL
    USING (chain = cognate_current_tenant()) WITH CHECK (chain = cognate_current_tenant());
CREATE POLICY platform_read ON audit_anchors FOR SELECT USING (cognate_platform_scope());

CREATE FUNCTION cognate_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION cognate_audit_append_only();

REVOKE ALL ON audit_events, audit_anchors FROM PUBLIC;
REVOKE ALL ON audit_events, audit_anchors FROM cognate_service;
GRANT SELECT, INSERT ON audit_events TO cognate_service;
GRANT SELECT ON audit_anchors TO cognate_service;

-- Retention: deletes the chain's events older than p_before (ms) and records the anchor
-- (the last deleted event's seq and hash, purged at p_now) in the caller's transaction;
-- returns how many were deleted. Only a prefix of the chain is cut — up to the first event
-- at or after p_before, and never the newest event, so the chain keeps its head and what
-- remains verifies from the anchor. A purge that deletes nothing changes nothing.
--
-- It runs as its owner (the migration login), who alone may delete events. FORCE ROW LEVEL
-- SECURITY binds that owner too, so it enters the chain's scope (app.tenant_id, restored
-- on return) and takes the chain's append lock (the store's AUDIT_LOCK: appenders and
-- purges of one chain queue up). search_path is pinned to pg_catalog (then pg_temp, which
-- is never searched for functions or operators) and tables are schema-qualified, so no
-- object a caller creates can stand in for one used here.
CREATE FUNCTION cognate_purge_audit(p_chain TEXT, p_before BIGINT, p_now BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    caller_scope TEXT := current_setting('app.tenant_id', true);
    head BIGINT;
    first_kept BIGINT;
    cut BIGINT;
    deleted BIGINT;
    last_seq BIGINT;
    last_hash TEXT;
BEGIN
    PERFORM set_config('app.tenant_id', p_chain, true);
    PERFORM pg_advisory_xact_lock(hashtextextended(p_chain, 7270618));
    SELECT max(e.seq) INTO head FROM public.audit_events e WHERE e.chain = p_chain;
    SELECT min(e.seq) INTO first_kept FROM public.audit_events e WHERE e.chain = p_chain AND e.at >= p_before;
    cut := least(coalesce(first_kept, head), head) - 1;
    WITH gone AS (
        DELETE FROM public.audit_events e WHERE e.chain = p_chain AND e.seq <= cut RETURNING e.seq, e.hash
    )
    SELECT count(*), max(g.seq), (array_agg(g.hash ORDER BY g.seq DESC))[1]
        INTO deleted, last_seq, last_hash FROM gone g;
    IF deleted > 0 THEN
        INSERT INTO public.audit_anchors (chain, seq, hash, purged_at)
            VALUES (p_chain, last_seq, last_hash, p_now)
            ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, purged_at = excluded.purged_at;
    END IF;
    PERFORM set_config('app.tenant_id', coalesce(caller_scope, ''), true);
    RETURN deleted;
END $$;
REVOKE ALL ON FUNCTION cognate_purge_audit(TEXT, BIGINT, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cognate_purge_audit(TEXT, BIGINT, BIGINT) TO cognate_service;
