-- Delivery state of outbox messages, for the SMTP delivery worker. A message is pending
-- while delivered_at is NULL; a worker claims it by moving next_attempt_at forward (a
-- lease), so several nodes can run workers without sending a message twice.
ALTER TABLE outbox ADD COLUMN delivered_at INTEGER;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
