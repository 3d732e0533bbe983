-- notes-api schema, PostgreSQL. Times are milliseconds since the Unix epoch.
-- Every table carries tenant_id and is confined by row-level security, FORCEd so that even
-- the owner is bound; an unset app.tenant_id sees (and may write) nothing.
CREATE TABLE projects (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE notes (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- A note's project is in the note's tenant, whatever the code does.
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notes_by_project ON notes (tenant_id, project_id, created_at);

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''));

ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''));
