-- notes-api schema, SQLite. Times are milliseconds since the Unix epoch.
-- SQLite has no row-level security: every query filters by tenant_id in code.
CREATE TABLE projects (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE notes (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notes_by_project ON notes (tenant_id, project_id, created_at);
