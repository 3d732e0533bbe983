-- Bulk user import jobs (CreateUserImportJob, StartUserImportJob, …). Pool-owned like
-- users and devices (no row-level security: pools are platform data, and the users a job
-- creates are pool rows too); deleted with the pool.
--
-- upload_hash is the SHA-256 of the upload URL's capability (the capability itself is
-- never stored); uploaded_at, set by the one upload that completes, makes the URL work once.
-- Lines are numbered as in the file (the header is line 1); next_line is the first line
-- not yet processed, moved in the same transaction as the users a batch creates, so a
-- worker taking a job over resumes where the last one committed. lease_owner and
-- lease_until say which worker (of any node) holds the job.
CREATE TABLE user_import_jobs (
    job_id             TEXT PRIMARY KEY,
    pool_id            TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    role_arn           TEXT NOT NULL,
    status             TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    started_at         INTEGER,
    completed_at       INTEGER,
    upload_hash        TEXT,
    upload_expires_at  INTEGER NOT NULL,
    uploaded_at        INTEGER,
    upload_attempt     TEXT,
    file_bytes         INTEGER NOT NULL DEFAULT 0,
    total_rows         INTEGER NOT NULL DEFAULT 0,
    next_line          INTEGER NOT NULL DEFAULT 2,
    imported           INTEGER NOT NULL DEFAULT 0,
    skipped            INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    completion_message TEXT,
    lease_owner        TEXT,
    lease_until        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX user_import_jobs_by_pool ON user_import_jobs (pool_id, created_at, job_id);
CREATE INDEX user_import_jobs_due ON user_import_jobs (status, lease_until);

-- The uploaded file in whole-line chunks (lines first_line .. first_line + lines - 1),
-- per upload attempt; only the accepted attempt's chunks outlive the upload, and they are
-- deleted when the job ends.
CREATE TABLE user_import_chunks (
    job_id     TEXT NOT NULL REFERENCES user_import_jobs (job_id) ON DELETE CASCADE,
    attempt    TEXT NOT NULL,
    first_line INTEGER NOT NULL,
    lines      INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, first_line)
);

-- Why a line was not imported (what Cognito writes to CloudWatch Logs), read by operators
-- with `cognate user-import errors`.
CREATE TABLE user_import_errors (
    job_id   TEXT NOT NULL REFERENCES user_import_jobs (job_id) ON DELETE CASCADE,
    line     INTEGER NOT NULL,
    username TEXT,
    message  TEXT NOT NULL,
    PRIMARY KEY (job_id, line)
);
