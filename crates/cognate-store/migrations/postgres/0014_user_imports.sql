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
    job_id             TEXT COLLATE "C" PRIMARY KEY,
    pool_id            TEXT COLLATE "C" NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    name               TEXT COLLATE "C" NOT NULL,
    role_arn           TEXT COLLATE "C" NOT NULL,
    status             TEXT COLLATE "C" NOT NULL,
    created_at         BIGINT NOT NULL,
    started_at         BIGINT,
    completed_at       BIGINT,
    upload_hash        TEXT COLLATE "C",
    upload_expires_at  BIGINT NOT NULL,
    uploaded_at        BIGINT,
    upload_attempt     TEXT COLLATE "C",
    file_bytes         BIGINT NOT NULL DEFAULT 0,
    total_rows         BIGINT NOT NULL DEFAULT 0,
    next_line          BIGINT NOT NULL DEFAULT 2,
    imported           BIGINT NOT NULL DEFAULT 0,
    skipped            BIGINT NOT NULL DEFAULT 0,
    failed             BIGINT NOT NULL DEFAULT 0,
    completion_message TEXT COLLATE "C",
    lease_owner        TEXT COLLATE "C",
    lease_until        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX user_import_jobs_by_pool ON user_import_jobs (pool_id, created_at, job_id);
CREATE INDEX user_import_jobs_due ON user_import_jobs (status, lease_until);

-- The uploaded file in whole-line chunks (lines first_line .. first_line + lines - 1),
-- per upload attempt; only the accepted attempt's chunks outlive the upload, and they are
-- deleted when the job ends.
CREATE TABLE user_import_chunks (
    job_id     TEXT COLLATE "C" NOT NULL REFERENCES user_import_jobs (job_id) ON DELETE CASCADE,
    attempt    TEXT COLLATE "C" NOT NULL,
    first_line BIGINT NOT NULL,
    lines      BIGINT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, first_line)
);

-- Why a line was not imported (what Cognito writes to CloudWatch Logs), read by operators
-- with `cognate user-import errors`.
CREATE TABLE user_import_errors (
    job_id   TEXT COLLATE "C" NOT NULL REFERENCES user_import_jobs (job_id) ON DELETE CASCADE,
    line     BIGINT NOT NULL,
    username TEXT,
    message  TEXT NOT NULL,
    PRIMARY KEY (job_id, line)
);
