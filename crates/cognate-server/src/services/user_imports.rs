//! Bulk user import jobs, as Cognito runs them: a job is created with an upload URL, the
//! CSV file is PUT there, the job is started, and a background worker imports its lines in
//! batches. Cognate serves the upload URL itself ([`Upload`], behind `PUT
//! /user-import/{jobId}/{capability}`): the capability is 256 random bits of which only the
//! hash is stored, it works once and for 15 minutes, and the file is streamed into the
//! database in whole-line chunks, never held whole in memory, so any node can run the job.
//!
//! The worker ([`spawn_worker`], one per node) takes a started job under a lease, reads
//! [`BATCH_LINES`] lines at a time and commits each batch — the new users, the per-line
//! errors, the job's progress and a `user.created` webhook event per new user (as any
//! other user creation emits) — in one transaction, so a job taken over after a crash
//! or a restart resumes at the first line not committed: no line is imported twice and
//! none is lost. Stopping is seen at the next batch. Imported users are `RESET_REQUIRED`
//! with no password, as in Cognito. The audit trail records the job's creation, start and
//! stop (the operations), and one event when the job ends — not one per imported user,
//! which would put 100,000 events in the trail for one file.

use std::collections::HashSet;
use std::time::Duration;

use cognate_core::StoreError;
use cognate_core::crypto::{constant_time_eq, sha256};
use cognate_core::ids::{PoolId, generate_sub};
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::repo::{ImportBatch, TakenKeys};
use cognate_core::user::{User, UserKeys, UserStatus};
use cognate_core::user_import::{
    self as import, Columns, ImportChunk, ImportJob, ImportStatus, RowError, generate_job_id, valid_job_id,
};
use cognate_core::webhook::WebhookEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::tenancy::{self, Placement};

/// Lines a worker reads and commits at a time.
pub const BATCH_LINES: usize = 1_000;
/// How long a worker holds a job without committing a batch before another may take it.
pub const LEASE_MS: i64 = 60_000;
/// How often an idle worker looks for started jobs (a start on this node wakes it at once).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Uploaded files are stored in chunks of about this many bytes, cut at line ends.
const CHUNK_BYTES: usize = 256 * 1024;
/// The longest line an upload may hold.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The CompletionMessage of a job whose every line was imported or skipped.
pub const SUCCEEDED: &str = "Import Job Completed Successfully.";
/// The CompletionMessage of a job with failed lines (Cognito's words).
pub const SOME_FAILED: &str = "Too many users have failed or been skipped during the import.";
/// The CompletionMessage of a stopped job.
pub const STOPPED: &str = "Import Job Stopped.";
/// The CompletionMessage of a job whose header was refused.
pub const BAD_HEADER: &str = "The CSV header is invalid.";

/// Why a job operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Pool(#[from] crate::services::pools::PoolError),
    #[error("no import job {0}")]
    JobNotFound(String),
    /// A platinum tenant's pool: its users are members, created through `/v1`.
    #[error("the pool is a tenant's dedicated pool")]
    DedicatedPool,
    /// Start: the job is not `Created`, or no file was uploaded.
    #[error("the job cannot start: {0}")]
    CannotStart(&'static str),
    /// Stop: the job is neither `Pending` nor `InProgress`.
    #[error("the job is {0}, not running")]
    NotRunning(ImportStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A created job and the URL its file goes to (shown once: only its hash is kept).
#[derive(Debug, Clone)]
pub struct CreatedJob {
    pub job: ImportJob,
    pub upload_url: String,
}

/// GetCSVHeader: the columns an import file for the pool has.
pub async fn csv_header(state: &AppState, pool: &PoolId) -> Result<Vec<String>, ImportError> {
    let pool = crate::services::pools::get(state, pool).await?;
    Ok(import::csv_header(&pool.settings.schema))
}

/// CreateUserImportJob: a job in `Created` with a fresh upload URL.
pub async fn create(state: &AppState, pool: &PoolId, name: &str, role_arn: &str) -> Result<CreatedJob, ImportError> {
    let pool = crate::services::pools::get(state, pool).await?;
    if let Some(Placement::Dedicated(_)) = tenancy::placement(state, &pool.id).await? {
        return Err(ImportError::DedicatedPool);
    }
    let capability = hex::encode(cognate_core::clock::random_bytes::<32>(state.rng.as_ref()));
    let job_id = generate_job_id(state.rng.as_ref());
    let hash = hex::encode(sha256(capability.as_bytes()));
    let job = ImportJob::new(pool.id, job_id, name.to_owned(), role_arn.to_owned(), hash, state.clock.now_millis());
    state.store.create_import_job(&job).await?;
    let base = state.settings.public_url.trim_end_matches('/');
    let upload_url = format!("{base}/user-import/{}/{capability}", job.job_id);
    tracing::info!(pool = %job.pool_id, job = %job.job_id, "user import job created");
    Ok(CreatedJob { job, upload_url })
}

/// DescribeUserImportJob.
pub async fn get(state: &AppState, pool: &PoolId, job_id: &str) -> Result<ImportJob, ImportError> {
    crate::services::pools::get(state, pool).await?;
    state.store.get_import_job(pool, job_id).await?.ok_or_else(|| ImportError::JobNotFound(job_id.to_owned()))
}

/// ListUserImportJobs: a page of the pool's jobs, oldest first.
pub async fn list(state: &AppState, pool: &PoolId, page: &PageRequest) -> Result<Vec<ImportJob>, ImportError> {
    crate::services::pools::get(state, pool).await?;
    Ok(state.store.list_import_jobs(pool, page).await?)
}

/// StartUserImportJob: `Created` with an uploaded file -> `Pending`; a worker takes it.
pub async fn start(state: &AppState, pool: &PoolId, job_id: &str) -> Result<ImportJob, ImportError> {
    let job = get(state, pool, job_id).await?;
    if job.status != ImportStatus::Created {
        return Err(ImportError::CannotStart("it was already started"));
    }
    if job.uploaded_at.is_none() {
        return Err(ImportError::CannotStart("no CSV file was uploaded to its upload URL"));
    }
    if !state.store.start_import_job(pool, job_id, state.clock.now_millis()).await? {
        return Err(ImportError::CannotStart("it was already started"));
    }
    state.import_wake.notify_one();
    tracing::info!(pool = %pool, job = %job_id, "user import job started");
    get(state, pool, job_id).await
}

/// StopUserImportJob: `Pending` or `InProgress` -> `Stopping`; the worker stops at its next
/// batch and the job becomes `Stopped`.
pub async fn stop(state: &AppState, pool: &PoolId, job_id: &str) -> Result<ImportJob, ImportError> {
    let job = get(state, pool, job_id).await?;
    if !state.store.stop_import_job(pool, job_id).await? {
        return Err(ImportError::NotRunning(job.visible_status(state.clock.now_millis())));
    }
    state.import_wake.notify_one();
    tracing::info!(pool = %pool, job = %job_id, "user import job stopping");
    get(state, pool, job_id).await
}

// ---------------------------------------------------------------------------------------
// The upload URL
// ---------------------------------------------------------------------------------------

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No such job, or the capability is wrong: the two are not told apart.
    #[error("the upload URL is not valid")]
    Denied,
    #[error("the upload URL expired")]
    Expired,
    #[error("a file was already uploaded to this URL")]
    AlreadyUsed,
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the file is empty")]
    Empty,
    #[error("line {0} is not UTF-8 text")]
    NotUtf8(i64),
    #[error("line {0} holds a NUL byte")]
    NulByte(i64),
    #[error("line {0} is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong(i64),
    /// The client stopped sending before the end of the file.
    #[error("the upload ended before the whole file arrived")]
    Incomplete,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An upload under way: bytes are pushed as they arrive and stored a chunk of whole lines
/// at a time; [`Upload::finish`] makes them the job's file. Dropped (or failed) before
/// that, call [`Upload::abandon`] so its chunks go.
pub struct Upload {
    state: AppState,
    job_id: String,
    hash: String,
    attempt: String,
    buf: Vec<u8>,
    bytes: u64,
    /// The line number of the first line in `buf`.
    line: i64,
    first: bool,
}

/// Checks an upload URL's capability before any byte is read. `content_length`, when the
/// client sent one, is checked against the size limit at once.
pub async fn begin_upload(
    state: &AppState,
    job_id: &str,
    capability: &str,
    content_length: Option<u64>,
) -> Result<Upload, UploadError> {
    if !valid_job_id(job_id) || capability.len() != 64 {
        return Err(UploadError::Denied);
    }
    let job = state.store.find_import_job(job_id).await?.ok_or(UploadError::Denied)?;
    let hash = hex::encode(sha256(capability.as_bytes()));
    if !constant_time_eq(job.upload_hash.as_deref().unwrap_or("").as_bytes(), hash.as_bytes()) {
        return Err(UploadError::Denied);
    }
    if job.uploaded_at.is_some() || job.status != ImportStatus::Created {
        return Err(UploadError::AlreadyUsed);
    }
    if state.clock.now_millis() >= job.upload_expires_at {
        return Err(UploadError::Expired);
    }
    let max = state.settings.max_import_bytes;
    if content_length.is_some_and(|n| n > max) {
        return Err(UploadError::TooLarge(max));
    }
    Ok(Upload {
        state: state.clone(),
        job_id: job.job_id,
        hash,
        attempt: generate_sub(state.rng.as_ref()),
        buf: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
        bytes: 0,
        line: 1,
        first: true,
    })
}

impl Upload {
    /// Takes the next bytes of the file.
    pub async fn push(&mut self, data: &[u8]) -> Result<(), UploadError> {
        self.bytes += data.len() as u64;
        let max = self.state.settings.max_import_bytes;
        if self.bytes > max {
            return Err(UploadError::TooLarge(max));
        }
        if let Some(at) = data.iter().position(|b| *b == 0) {
            let before = newlines(&self.buf) + newlines(&data[..at]);
            return Err(UploadError::NulByte(self.line + before));
        }
        self.buf.extend_from_slice(data);
        while self.buf.len() >= CHUNK_BYTES {
            match self.buf.iter().rposition(|b| *b == b'\n') {
                Some(end) => {
                    let rest = self.buf.split_off(end + 1);
                    let whole = std::mem::replace(&mut self.buf, rest);
                    self.store(whole).await?;
                }
                None if self.buf.len() > MAX_LINE_BYTES => return Err(UploadError::LineTooLong(self.line)),
                None => break,
            }
        }
        Ok(())
    }

    /// Stores the rest and makes the upload the job's file; the number of user lines. On an
    /// error, [`Upload::abandon`] the upload.
    pub async fn finish(&mut self) -> Result<i64, UploadError> {
        if !self.buf.is_empty() {
            if self.buf.len() > MAX_LINE_BYTES && !self.buf.contains(&b'\n') {
                return Err(UploadError::LineTooLong(self.line));
            }
            let rest = std::mem::take(&mut self.buf);
            self.store(rest).await?;
        }
        let lines = self.line - 1;
        if lines == 0 {
            return Err(UploadError::Empty);
        }
        let rows = lines - 1;
        let state = &self.state;
        let now = state.clock.now_millis();
        let bytes = i64::try_from(self.bytes).unwrap_or(i64::MAX);
        if state.store.finish_import_upload(&self.job_id, &self.attempt, &self.hash, now, rows, bytes).await? {
            tracing::info!(job = %self.job_id, rows, bytes, "user import file uploaded");
            return Ok(rows);
        }
        // Another upload won, or the URL expired while the file was arriving.
        let job = state.store.find_import_job(&self.job_id).await?;
        Err(match job {
            Some(j) if j.uploaded_at.is_none() && now >= j.upload_expires_at => UploadError::Expired,
            _ => UploadError::AlreadyUsed,
        })
    }

    /// Deletes what a failed upload stored.
    pub async fn abandon(self) {
        if let Err(e) = self.state.store.discard_import_upload(&self.job_id, &self.attempt).await {
            tracing::warn!(job = %self.job_id, error = %e, "could not delete the chunks of a failed upload");
        }
    }

    /// Stores whole lines (the last may lack its newline only at the end of the file).
    async fn store(&mut self, mut bytes: Vec<u8>) -> Result<(), UploadError> {
        if std::mem::take(&mut self.first) && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3); // a byte order mark, as spreadsheets write
        }
        let data = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            UploadError::NotUtf8(self.line + newlines(&e.as_bytes()[..valid]))
        })?;
        let lines = newlines(data.as_bytes()) + i64::from(!data.ends_with('\n') && !data.is_empty());
        if lines == 0 {
            return Ok(());
        }
        let chunk = ImportChunk { first_line: self.line, lines, data };
        self.state.store.put_import_chunk(&self.job_id, &self.attempt, &chunk).await?;
        self.line += lines;
        Ok(())
    }
}

fn newlines(bytes: &[u8]) -> i64 {
    bytes.iter().filter(|b| **b == b'\n').count() as i64
}

// ---------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------

/// Runs started jobs until `stop` turns true; a job under way when it does is let go at
/// its next batch (its lease released), so a restarted node — or another — resumes it.
pub fn spawn_worker(state: AppState, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let owner = generate_sub(state.rng.as_ref());
        loop {
            if *stop.borrow() {
                return;
            }
            match run_once(&state, &owner, &stop).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "the user import worker failed; trying again later"),
            }
            tokio::select! {
                _ = state.import_wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// Takes one job that needs a worker, if any, and runs it until it ends, is taken over or
/// `stop` turns true; whether there was one.
pub async fn run_once(state: &AppState, owner: &str, stop: &watch::Receiver<bool>) -> Result<bool, StoreError> {
    let now = state.clock.now_millis();
    let Some(job) = state.store.claim_import_job(now, owner, now + LEASE_MS).await? else {
        return Ok(false);
    };
    run_job(state, owner, job, stop).await?;
    Ok(true)
}

async fn run_job(
    state: &AppState,
    owner: &str,
    job: ImportJob,
    stop: &watch::Receiver<bool>,
) -> Result<(), StoreError> {
    if job.status == ImportStatus::Stopping {
        return finish(state, owner, &job, ImportStatus::Stopped, STOPPED, job.last_line() - job.next_line + 1, None)
            .await;
    }
    let Some(pool) = state.store.get_pool(&job.pool_id).await? else {
        return Ok(()); // the pool is being deleted, and the job with it
    };
    let header = match job.upload_attempt.as_deref() {
        Some(attempt) => state.store.import_chunk(&job.job_id, attempt, 1).await?,
        None => None,
    };
    let Some(header) = header else {
        let e = RowError { line: 1, username: None, message: "the uploaded file is missing".into() };
        return finish(state, owner, &job, ImportStatus::Failed, BAD_HEADER, job.total_rows, Some(&e)).await;
    };
    let columns = match Columns::parse(header.data.lines().next().unwrap_or(""), &pool.settings.schema) {
        Ok(c) => c,
        Err(why) => {
            let e = RowError { line: 1, username: None, message: why };
            let left = job.last_line() - job.next_line + 1;
            return finish(state, owner, &job, ImportStatus::Failed, BAD_HEADER, left, Some(&e)).await;
        }
    };
    let managed = tenancy::placement(state, &pool.id).await?.is_some();
    let attempt = job.upload_attempt.clone().unwrap_or_default();
    let mut next = job.next_line.max(2);
    let mut chunk: Option<ImportChunk> = Some(header);
    while next <= job.last_line() {
        if *stop.borrow() {
            state.store.release_import_job(&job.job_id, owner).await?;
            return Ok(());
        }
        let held = chunk.take().filter(|c| c.first_line <= next && next < c.first_line + c.lines);
        let Some(current) = (match held {
            Some(c) => Some(c),
            None => state.store.import_chunk(&job.job_id, &attempt, next).await?,
        }) else {
            let e = RowError { line: next, username: None, message: "the uploaded file is incomplete".into() };
            let left = job.last_line() - next + 1;
            return finish(state, owner, &job, ImportStatus::Failed, SOME_FAILED, left, Some(&e)).await;
        };
        let skip = usize::try_from(next - current.first_line).unwrap_or(0);
        let lines: Vec<(i64, &str)> =
            current.data.lines().skip(skip).take(BATCH_LINES).enumerate().map(|(i, l)| (next + i as i64, l)).collect();
        let to_line = next + lines.len() as i64;
        let mut committed = false;
        // A user created meanwhile (by another call) makes the batch conflict: read the
        // taken keys again and retry.
        for _ in 0..3 {
            let batch = prepare(state, &pool, &columns, managed, &lines).await?;
            let b = ImportBatch {
                job_id: &job.job_id,
                owner,
                from_line: next,
                to_line,
                users: &batch.users,
                errors: &batch.errors,
                skipped: batch.skipped,
                lease_until: state.clock.now_millis() + LEASE_MS,
                events: &batch.events,
            };
            match state.store.commit_import_batch(&b).await {
                Ok(true) => {
                    committed = true;
                    break;
                }
                Ok(false) => {
                    // Stopped, or another worker took the job over.
                    let now = state.store.find_import_job(&job.job_id).await?;
                    if let Some(j) = now.filter(|j| j.status == ImportStatus::Stopping) {
                        let left = j.last_line() - j.next_line + 1;
                        return finish(state, owner, &j, ImportStatus::Stopped, STOPPED, left, None).await;
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if !committed {
            return Err(StoreError::Conflict("user"));
        }
        next = to_line;
        chunk = Some(current);
    }
    let Some(done) = state.store.find_import_job(&job.job_id).await? else { return Ok(()) };
    let (status, message) =
        if done.failed == 0 { (ImportStatus::Succeeded, SUCCEEDED) } else { (ImportStatus::Failed, SOME_FAILED) };
    finish(state, owner, &done, status, message, 0, None).await
}

/// Ends the job and records one audit event for it.
async fn finish(
    state: &AppState,
    owner: &str,
    job: &ImportJob,
    status: ImportStatus,
    message: &str,
    skipped: i64,
    error: Option<&RowError>,
) -> Result<(), StoreError> {
    let now = state.clock.now_millis();
    if !state.store.finish_import_job(&job.job_id, owner, status, message, skipped, error, now).await? {
        return Ok(());
    }
    let done = state.store.find_import_job(&job.job_id).await?.unwrap_or_else(|| job.clone());
    tracing::info!(
        pool = %done.pool_id, job = %done.job_id, status = %status,
        imported = done.imported, failed = done.failed, skipped = done.skipped,
        "user import job finished"
    );
    let reason = format!("{status}: imported {}, failed {}, skipped {}", done.imported, done.failed, done.skipped);
    state.audit.record(
        state,
        crate::audit::Entry {
            tenant: None,
            pool_id: Some(done.pool_id.as_str()),
            actor: &crate::audit::Actor::System,
            action: "user_import.finish",
            target: Some(&done.job_id),
            success: status == ImportStatus::Succeeded,
            reason: Some(&reason),
            origin: &crate::audit::Origin::default(),
        },
    );
    Ok(())
}

/// A batch read and checked, ready to commit.
struct Prepared {
    users: Vec<(User, UserKeys)>,
    errors: Vec<RowError>,
    skipped: i64,
    /// A `user.created` event per user, committed with them (as AdminCreateUser does).
    events: Vec<WebhookEvent>,
}

/// Reads each line into a user or the reason it fails, under Cognito's rules: the pool's
/// schema (values, required attributes, sign-in names), verified contacts, usernames and
/// aliases unique in the pool and in the file (the first line holding one wins).
async fn prepare(
    state: &AppState,
    pool: &UserPool,
    columns: &Columns,
    managed: bool,
    lines: &[(i64, &str)],
) -> Result<Prepared, StoreError> {
    let settings = &pool.settings;
    let now = state.clock.now_millis();
    let mut out =
        Prepared { users: Vec::with_capacity(lines.len()), errors: Vec::new(), skipped: 0, events: Vec::new() };
    let mut candidates: Vec<(i64, String, User, UserKeys)> = Vec::with_capacity(lines.len());
    for &(line, text) in lines {
        if text.trim().is_empty() {
            out.skipped += 1;
            continue;
        }
        let fail = |username: Option<String>, message: String| RowError {
            line,
            username: username.map(|u| shown(&u)),
            message: shown(&message),
        };
        let row = match columns.row(text) {
            Ok(row) => row,
            Err((username, why)) => {
                out.errors.push(fail(username, why));
                continue;
            }
        };
        if managed && let Some((name, _)) = row.attributes.iter().find(|(n, _)| tenancy::is_tenant_attribute(n)) {
            let why = format!("{name} is managed by Cognate's tenancy API (/v1) in this user pool");
            out.errors.push(fail(Some(row.username), why));
            continue;
        }
        if !cognate_core::user::valid_username(&row.username) {
            out.errors.push(fail(Some(row.username), "the username is not valid".into()));
            continue;
        }
        let sub = generate_sub(state.rng.as_ref());
        let (username, attributes) =
            match crate::services::users::new_user_attributes(settings, &row.username, &sub, row.attributes) {
                Ok(r) => r,
                Err(why) => {
                    out.errors.push(fail(Some(row.username), why.trim_end().to_owned()));
                    continue;
                }
            };
        if let Err(why) = import::check_contacts(&attributes, &settings.auto_verified_attributes) {
            out.errors.push(fail(Some(row.username), why));
            continue;
        }
        let user = User {
            pool_id: pool.id.clone(),
            sub,
            username,
            status: UserStatus::ResetRequired,
            enabled: true,
            password_hash: None,
            srp_verifier: None,
            temp_password_expires_at: None,
            attributes,
            created_at: now,
            updated_at: now,
            tokens_valid_after: 0,
        };
        let keys = user.keys(settings);
        candidates.push((line, row.username, user, keys));
    }
    let keys: Vec<&UserKeys> = candidates.iter().map(|(_, _, _, k)| k).collect();
    let mut taken: TakenKeys = state.store.taken_user_keys(&pool.id, &keys).await?;
    for (line, given, user, keys) in candidates {
        match claim(&mut taken, &keys, settings) {
            Ok(()) => {
                out.events.push(crate::services::webhooks::user_event(state, "user.created", &user));
                out.users.push((user, keys));
            }
            Err(why) => out.errors.push(RowError { line, username: Some(shown(&given)), message: why.to_owned() }),
        }
    }
    out.errors.sort_by_key(|e| e.line);
    Ok(out)
}

/// Takes the user's keys, or says which one another user (in the pool, or earlier in the
/// file) holds, in the words AdminCreateUser uses.
fn claim(
    taken: &mut TakenKeys,
    keys: &UserKeys,
    settings: &cognate_core::pool::PoolSettings,
) -> Result<(), &'static str> {
    let held = |set: &HashSet<String>, key: &Option<String>| key.as_ref().is_some_and(|k| set.contains(k));
    if taken.usernames.contains(&keys.username) {
        return Err("User account already exists");
    }
    if held(&taken.emails, &keys.email) {
        return Err(if settings.email_is_username() {
            "User account already exists"
        } else {
            "An account with the given email already exists."
        });
    }
    if held(&taken.phones, &keys.phone) {
        return Err(if settings.phone_is_username() {
            "User account already exists"
        } else {
            "An account with the given phone_number already exists."
        });
    }
    if held(&taken.preferred_usernames, &keys.preferred_username) {
        return Err("An account with the given preferred_username already exists.");
    }
    taken.usernames.insert(keys.username.clone());
    for (set, key) in [
        (&mut taken.emails, &keys.email),
        (&mut taken.phones, &keys.phone),
        (&mut taken.preferred_usernames, &keys.preferred_username),
    ] {
        if let Some(k) = key {
            set.insert(k.clone());
        }
    }
    Ok(())
}

/// Text from a file as kept in an error: control characters replaced, at most 256
/// characters (a hostile file cannot bloat the error table or an operator's terminal).
fn shown(text: &str) -> String {
    text.chars().take(256).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}
