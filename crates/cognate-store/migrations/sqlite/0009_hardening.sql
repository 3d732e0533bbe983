-- Outbox messages carry sealed bodies (codes, temporary passwords, invitation links), and
-- each message says when its secret stops being useful: after that, or once delivered, the
-- body is blanked so no copy of the database keeps it.
ALTER TABLE outbox ADD COLUMN secret_expires_at INTEGER;
-- Audit anchors are signed with a key derived from the master key, so nobody who can only
-- write the database can forge one.
ALTER TABLE audit_anchors ADD COLUMN mac TEXT;
-- Bodies written before sealing: delivered and given-up ones are blanked now; pending ones
-- are sealed by the server at start-up and expire within a week at the latest.
UPDATE outbox SET body = '' WHERE delivered_at IS NOT NULL OR next_attempt_at = 9223372036854775807;
UPDATE outbox SET secret_expires_at = created_at + 604800000 WHERE secret_expires_at IS NULL AND body <> '';
