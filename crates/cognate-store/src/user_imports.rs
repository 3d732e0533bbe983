//! Bulk user import jobs, their uploaded files (in whole-line chunks) and per-line errors,
//! written once as generic code over [`Backend`]. The rules that must hold across nodes are
//! single conditional statements or one transaction each: an upload URL works once (the
//! capability hash is cleared by the upload that wins), a job is held by one worker at a time
//! (a lease taken by compare-and-set), and a batch's users commit together with the job's
//! progress, so a worker that takes a job over never imports a line twice nor skips one.

use async_trait::async_trait;
use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::repo::{ImportBatch, TakenKeys, UserImportRepo};
use cognate_core::user::UserKeys;
use cognate_core::user_import::{ImportChunk, ImportJob, ImportStatus, RowError};

use crate::backend::{Backend, Bind as _};
use crate::backend_err;
use crate::sql::{pool_id, write_err};
use crate::store::SqlStore;
use crate::users::{insert_many, rows_per_statement, values};

type Result<T> = std::result::Result<T, StoreError>;

fn job_from<B: Backend>(row: &B::Row) -> Result<ImportJob> {
    Ok(ImportJob {
        pool_id: pool_id(&B::text_col(row, "pool_id")?)?,
        job_id: B::text_col(row, "job_id")?,
        name: B::text_col(row, "name")?,
        role_arn: B::text_col(row, "role_arn")?,
        status: B::text_col(row, "status")?.parse().map_err(StoreError::Corrupt)?,
        created_at: B::int_col(row, "created_at")?,
        started_at: B::opt_int_col(row, "started_at")?,
        completed_at: B::opt_int_col(row, "completed_at")?,
        upload_hash: B::opt_text_col(row, "upload_hash")?,
        upload_expires_at: B::int_col(row, "upload_expires_at")?,
        uploaded_at: B::opt_int_col(row, "uploaded_at")?,
        upload_attempt: B::opt_text_col(row, "upload_attempt")?,
        file_bytes: B::int_col(row, "file_bytes")?,
        total_rows: B::int_col(row, "total_rows")?,
        next_line: B::int_col(row, "next_line")?,
        imported: B::int_col(row, "imported")?,
        skipped: B::int_col(row, "skipped")?,
        failed: B::int_col(row, "failed")?,
        completion_message: B::opt_text_col(row, "completion_message")?,
        lease_owner: B::opt_text_col(row, "lease_owner")?,
        lease_until: B::int_col(row, "lease_until")?,
    })
}

/// Inserts per-line errors on `conn`, several per statement.
async fn insert_errors<B: Backend>(conn: &mut B::Connection, job_id: &str, errors: &[RowError]) -> Result<()> {
    for part in errors.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO user_import_errors (job_id, line, username, message) VALUES {}",
            values(part.len(), 4)
        );
        let mut q = sqlx::query::<B>(&sql);
        for e in part {
            q = q.text(job_id).int(e.line).opt_text(e.username.as_deref()).text(&e.message);
        }
        B::execute_on(q, &mut *conn).await.map_err(|e| write_err(e, "import error"))?;
    }
    Ok(())
}

#[async_trait]
impl<B: Backend> UserImportRepo for SqlStore<B> {
    async fn create_import_job(&self, j: &ImportJob) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO user_import_jobs (job_id, pool_id, name, role_arn, status, created_at, upload_hash, \
             upload_expires_at, next_line) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .text(&j.job_id)
        .text(j.pool_id.as_str())
        .text(&j.name)
        .text(&j.role_arn)
        .text(j.status.as_str())
        .int(j.created_at)
        .opt_text(j.upload_hash.as_deref())
        .int(j.upload_expires_at)
        .int(j.next_line);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "import job"))?;
        Ok(())
    }

    async fn get_import_job(&self, pool: &PoolId, job_id: &str) -> Result<Option<ImportJob>> {
        let q = sqlx::query::<B>("SELECT * FROM user_import_jobs WHERE job_id = $1 AND pool_id = $2")
            .text(job_id)
            .text(pool.as_str());
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(job_from::<B>).transpose()
    }

    async fn find_import_job(&self, job_id: &str) -> Result<Option<ImportJob>> {
        let q = sqlx::query::<B>("SELECT * FROM user_import_jobs WHERE job_id = $1").text(job_id);
        let row = B::fetch_optional(q, &self.db).await.map_err(backend_err)?;
        row.as_ref().map(job_from::<B>).transpose()
    }

    async fn list_import_jobs(&self, pool: &PoolId, page: &PageRequest) -> Result<Vec<ImportJob>> {
        let (after_at, after_id) = match page.after.as_deref().and_then(|k| k.split_once(':')) {
            Some((at, id)) => (at.parse::<i64>().unwrap_or(i64::MAX), id.to_owned()),
            None => (-1, String::new()),
        };
        let q = sqlx::query::<B>(
            "SELECT * FROM user_import_jobs WHERE pool_id = $1 AND (created_at > $2 OR (created_at = $2 AND job_id > $3)) \
             ORDER BY created_at, job_id LIMIT $4",
        )
        .text(pool.as_str())
        .int(after_at)
        .text(&after_id)
        .int(page.fetch_limit());
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter().map(job_from::<B>).collect()
    }

    async fn put_import_chunk(&self, job_id: &str, attempt: &str, c: &ImportChunk) -> Result<()> {
        let q = sqlx::query::<B>(
            "INSERT INTO user_import_chunks (job_id, attempt, first_line, lines, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .text(job_id)
        .text(attempt)
        .int(c.first_line)
        .int(c.lines)
        .text(&c.data);
        B::execute(q, &self.db).await.map_err(|e| write_err(e, "import job"))?;
        Ok(())
    }

    async fn finish_import_upload(
        &self,
        job_id: &str,
        attempt: &str,
        upload_hash: &str,
        now: i64,
        total_rows: i64,
        file_bytes: i64,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET uploaded_at = $1, upload_attempt = $2, total_rows = $3, \
             file_bytes = $4 WHERE job_id = $5 AND status = 'Created' AND uploaded_at IS NULL AND upload_hash = $6 \
             AND upload_expires_at > $1",
        )
        .int(now)
        .text(attempt)
        .int(total_rows)
        .int(file_bytes)
        .text(job_id)
        .text(upload_hash);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        let q = sqlx::query::<B>("DELETE FROM user_import_chunks WHERE job_id = $1 AND attempt <> $2")
            .text(job_id)
            .text(attempt);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn discard_import_upload(&self, job_id: &str, attempt: &str) -> Result<()> {
        // Only an attempt that did not become the job's file.
        let q = sqlx::query::<B>(
            "DELETE FROM user_import_chunks WHERE job_id = $1 AND attempt = $2 AND NOT EXISTS \
             (SELECT 1 FROM user_import_jobs j WHERE j.job_id = $1 AND j.upload_attempt = $2)",
        )
        .text(job_id)
        .text(attempt);
        B::execute(q, &self.db).await.map_err(backend_err)?;
        Ok(())
    }

    async fn start_import_job(&self, pool: &PoolId, job_id: &str, now: i64) -> Result<bool> {
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET status = 'Pending', started_at = $1 \
             WHERE job_id = $2 AND pool_id = $3 AND status = 'Created' AND uploaded_at IS NOT NULL",
        )
        .int(now)
        .text(job_id)
        .text(pool.as_str());
        Ok(B::execute(q, &self.db).await.map_err(backend_err)? == 1)
    }

    async fn stop_import_job(&self, pool: &PoolId, job_id: &str) -> Result<bool> {
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET status = 'Stopping' \
             WHERE job_id = $1 AND pool_id = $2 AND status IN ('Pending', 'InProgress')",
        )
        .text(job_id)
        .text(pool.as_str());
        Ok(B::execute(q, &self.db).await.map_err(backend_err)? == 1)
    }

    async fn claim_import_job(&self, now: i64, owner: &str, lease_until: i64) -> Result<Option<ImportJob>> {
        let q = sqlx::query::<B>(
            "SELECT * FROM user_import_jobs WHERE status IN ('Pending', 'InProgress', 'Stopping') AND lease_until <= $1 \
             ORDER BY started_at, job_id LIMIT 5",
        )
        .int(now);
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        for row in &rows {
            let mut job = job_from::<B>(row)?;
            // Compare-and-set on what was just read: a worker that claimed the job in between
            // changed its lease, so this update matches nothing.
            let q = sqlx::query::<B>(
                "UPDATE user_import_jobs SET lease_owner = $1, lease_until = $2, \
                 status = CASE WHEN status = 'Pending' THEN 'InProgress' ELSE status END \
                 WHERE job_id = $3 AND lease_until = $4 AND COALESCE(lease_owner, '') = $5 AND status = $6",
            )
            .text(owner)
            .int(lease_until)
            .text(&job.job_id)
            .int(job.lease_until)
            .text(job.lease_owner.as_deref().unwrap_or(""))
            .text(job.status.as_str());
            if B::execute(q, &self.db).await.map_err(backend_err)? == 1 {
                job.lease_owner = Some(owner.to_owned());
                job.lease_until = lease_until;
                if job.status == ImportStatus::Pending {
                    job.status = ImportStatus::InProgress;
                }
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    async fn import_chunk(&self, job_id: &str, attempt: &str, line: i64) -> Result<Option<ImportChunk>> {
        let q = sqlx::query::<B>(
            "SELECT first_line, lines, data FROM user_import_chunks WHERE job_id = $1 AND attempt = $2 \
             AND first_line <= $3 ORDER BY first_line DESC LIMIT 1",
        )
        .text(job_id)
        .text(attempt)
        .int(line);
        let Some(row) = B::fetch_optional(q, &self.db).await.map_err(backend_err)? else {
            return Ok(None);
        };
        let chunk = ImportChunk {
            first_line: B::int_col(&row, "first_line")?,
            lines: B::int_col(&row, "lines")?,
            data: B::text_col(&row, "data")?,
        };
        Ok((line < chunk.first_line + chunk.lines).then_some(chunk))
    }

    async fn taken_user_keys(&self, pool: &PoolId, keys: &[&UserKeys]) -> Result<TakenKeys> {
        let mut taken = TakenKeys::default();
        let columns: [(&str, fn(&UserKeys) -> Option<&str>); 4] = [
            ("username_key", |k| Some(k.username.as_str())),
            ("email_key", |k| k.email.as_deref()),
            ("phone_key", |k| k.phone.as_deref()),
            ("preferred_key", |k| k.preferred_username.as_deref()),
        ];
        for (i, (column, key_of)) in columns.iter().enumerate() {
            let wanted: Vec<&str> = keys.iter().filter_map(|k| key_of(k)).collect();
            for part in wanted.chunks(rows_per_statement(1)) {
                let params: Vec<String> = (0..part.len()).map(|n| format!("${}", n + 2)).collect();
                let sql = format!(
                    "SELECT {column} AS k FROM users WHERE pool_id = $1 AND {column} IN ({})",
                    params.join(", ")
                );
                let mut q = sqlx::query::<B>(&sql).text(pool.as_str());
                for key in part {
                    q = q.text(key);
                }
                let set = match i {
                    0 => &mut taken.usernames,
                    1 => &mut taken.emails,
                    2 => &mut taken.phones,
                    _ => &mut taken.preferred_usernames,
                };
                for row in B::fetch_all(q, &self.db).await.map_err(backend_err)? {
                    set.insert(B::text_col(&row, "k")?);
                }
            }
        }
        Ok(taken)
    }

    async fn commit_import_batch(&self, b: &ImportBatch<'_>) -> Result<bool> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET next_line = $1, imported = imported + $2, failed = failed + $3, \
             skipped = skipped + $4, lease_until = $5 \
             WHERE job_id = $6 AND lease_owner = $7 AND next_line = $8 AND status = 'InProgress'",
        )
        .int(b.to_line)
        .int(b.users.len() as i64)
        .int(b.errors.len() as i64)
        .int(b.skipped)
        .int(b.lease_until)
        .text(b.job_id)
        .text(b.owner)
        .int(b.from_line);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        insert_many::<B>(&mut tx, b.users).await?;
        insert_errors::<B>(&mut tx, b.job_id, b.errors).await?;
        crate::webhooks::insert_events::<B>(&mut tx, b.events).await?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn finish_import_job(
        &self,
        job_id: &str,
        owner: &str,
        status: ImportStatus,
        message: &str,
        skipped: i64,
        error: Option<&RowError>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await.map_err(backend_err)?;
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET status = $1, completion_message = $2, skipped = skipped + $3, \
             completed_at = $4, lease_owner = NULL, lease_until = 0 WHERE job_id = $5 AND lease_owner = $6",
        )
        .text(status.as_str())
        .text(message)
        .int(skipped)
        .int(now)
        .text(job_id)
        .text(owner);
        if B::execute_on(q, &mut tx).await.map_err(backend_err)? == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        if let Some(e) = error {
            insert_errors::<B>(&mut tx, job_id, std::slice::from_ref(e)).await?;
        }
        let q = sqlx::query::<B>("DELETE FROM user_import_chunks WHERE job_id = $1").text(job_id);
        B::execute_on(q, &mut tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        Ok(true)
    }

    async fn release_import_job(&self, job_id: &str, owner: &str) -> Result<()> {
        let q = sqlx::query::<B>(
            "UPDATE user_import_jobs SET lease_owner = NULL, lease_until = 0 WHERE job_id = $1 AND lease_owner = $2",
        )
        .text(job_id)
        .text(owner);
        B::execute(q, &self.db).await.map_err(backend_err)?;
        Ok(())
    }

    async fn import_errors(&self, job_id: &str, after_line: i64, limit: u32) -> Result<Vec<RowError>> {
        let q = sqlx::query::<B>(
            "SELECT line, username, message FROM user_import_errors WHERE job_id = $1 AND line > $2 \
             ORDER BY line LIMIT $3",
        )
        .text(job_id)
        .int(after_line)
        .int(i64::from(limit));
        let rows = B::fetch_all(q, &self.db).await.map_err(backend_err)?;
        rows.iter()
            .map(|r| {
                Ok(RowError {
                    line: B::int_col(r, "line")?,
                    username: B::opt_text_col(r, "username")?,
                    message: B::text_col(r, "message")?,
                })
            })
            .collect()
    }
}
