//! Bulk user import operations: GetCSVHeader, CreateUserImportJob, StartUserImportJob,
//! StopUserImportJob, DescribeUserImportJob, ListUserImportJobs. The rules and the worker
//! live in [`crate::services::user_imports`]; the file itself goes to the job's upload URL
//! ([`crate::uploads`]).

use cognate_core::user_import::{ImportJob, valid_job_id};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{epoch, finish_page, list_response, page_request, parse, pool_id};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::user_imports::{self, ImportError};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "GetCSVHeader" => get_csv_header(state, input).await,
        "CreateUserImportJob" => create(state, input).await,
        "StartUserImportJob" => start(state, input).await,
        "StopUserImportJob" => stop(state, input).await,
        "DescribeUserImportJob" => describe(state, input).await,
        "ListUserImportJobs" => list(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

impl From<ImportError> for CognitoError {
    /// Cognito's exception for each way an import operation refuses.
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Pool(e) => e.into(),
            ImportError::JobNotFound(id) => Self::not_found(format!("Import job {id} does not exist.")),
            ImportError::DedicatedPool => Self::invalid(
                "This user pool is a tenant's dedicated pool, whose users are its members: \
                 add them through Cognate's tenancy API (/v1).",
            ),
            ImportError::CannotStart(why) => {
                Self::new("PreconditionNotMetException", format!("The import job cannot start: {why}."))
            }
            ImportError::NotRunning(status) => Self::new(
                "PreconditionNotMetException",
                format!("The import job is {status}; only a Pending or InProgress job can be stopped."),
            ),
            ImportError::Store(e) => e.into(),
        }
    }
}

/// Cognito's `UserImportJobType`. `PreSignedUrl` is shown only by CreateUserImportJob:
/// Cognate keeps the hash of the URL's capability, never the URL.
fn job_type(state: &AppState, job: &ImportJob, upload_url: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("JobName".into(), json!(job.name));
    out.insert("JobId".into(), json!(job.job_id));
    out.insert("UserPoolId".into(), json!(job.pool_id));
    if let Some(url) = upload_url {
        out.insert("PreSignedUrl".into(), json!(url));
    }
    out.insert("CreationDate".into(), epoch(job.created_at));
    if let Some(at) = job.started_at {
        out.insert("StartDate".into(), epoch(at));
    }
    if let Some(at) = job.completed_at {
        out.insert("CompletionDate".into(), epoch(at));
    }
    out.insert("Status".into(), json!(job.visible_status(state.clock.now_millis()).as_str()));
    out.insert("CloudWatchLogsRoleArn".into(), json!(job.role_arn));
    out.insert("ImportedUsers".into(), json!(job.imported));
    out.insert("SkippedUsers".into(), json!(job.skipped));
    out.insert("FailedUsers".into(), json!(job.failed));
    if let Some(m) = &job.completion_message {
        out.insert("CompletionMessage".into(), json!(m));
    }
    Value::Object(out)
}

fn pattern_error(value: &str, member: &str, pattern: &str) -> CognitoError {
    CognitoError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: {pattern}"
    ))
}

fn job_id(id: &str) -> Result<&str, CognitoError> {
    if valid_job_id(id) { Ok(id) } else { Err(pattern_error(id, "jobId", "import-[0-9a-zA-Z-]+")) }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRef {
    user_pool_id: String,
}

async fn get_csv_header(state: &AppState, input: Value) -> OpResult {
    let req: PoolRef = parse(input)?;
    let pool = pool_id(&req.user_pool_id)?;
    let header = user_imports::csv_header(state, &pool).await?;
    Ok(json!({"UserPoolId": pool, "CSVHeader": header}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    job_name: String,
    user_pool_id: String,
    cloud_watch_logs_role_arn: String,
    password_hashing_algorithm: Option<String>,
}

/// Cognito's JobName pattern `[\w\s+=,.@-]+`, 1 to 128 characters.
fn valid_job_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || c == '_' || c.is_whitespace() || "+=,.@-".contains(c);
    (1..=128).contains(&name.chars().count()) && name.chars().all(allowed)
}

/// An ARN in the shape Cognito's CloudWatchLogsRoleArn pattern asks for:
/// `arn:PARTITION:SERVICE:[REGION]:ACCOUNT:RESOURCE`, 20 to 2048 characters. Cognate logs
/// nowhere with it; it is kept and shown.
fn valid_role_arn(arn: &str) -> bool {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_+=/,.@-".contains(c));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (20..=2048).contains(&arn.len())
        && parts.len() == 6
        && parts[0] == "arn"
        && word(parts[1])
        && word(parts[2])
        && (parts[3].is_empty() || word(parts[3]))
        && !parts[4].is_empty()
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].split(':').all(word)
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: CreateInput = parse(input)?;
    let pool = pool_id(&req.user_pool_id)?;
    if !valid_job_name(&req.job_name) {
        return Err(pattern_error(&req.job_name, "jobName", "[\\w\\s+=,.@-]+"));
    }
    if !valid_role_arn(&req.cloud_watch_logs_role_arn) {
        return Err(pattern_error(
            &req.cloud_watch_logs_role_arn,
            "cloudWatchLogsRoleArn",
            "arn:[\\w+=/,.@-]+:[\\w+=/,.@-]+:([\\w+=/,.@-]*)?:[0-9]+:[\\w+=/,.@-]+(:[\\w+=/,.@-]+)?(:[\\w+=/,.@-]+)?",
        ));
    }
    if let Some(algorithm) = &req.password_hashing_algorithm {
        if !["BCRYPT", "SCRYPT", "ARGON2ID", "PBKDF2_SHA256"].contains(&algorithm.as_str()) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{algorithm}' at 'passwordHashingAlgorithm' failed to satisfy \
                 constraint: Member must satisfy enum value set: [BCRYPT, SCRYPT, ARGON2ID, PBKDF2_SHA256]"
            )));
        }
        return Err(CognitoError::invalid(
            "Cognate does not import password hashes: imported users are RESET_REQUIRED and set a password \
             (or an administrator sets one with AdminSetUserPassword).",
        ));
    }
    let created = user_imports::create(state, &pool, &req.job_name, &req.cloud_watch_logs_role_arn).await?;
    Ok(json!({"UserImportJob": job_type(state, &created.job, Some(&created.upload_url))}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobRef {
    user_pool_id: String,
    job_id: String,
}

async fn start(state: &AppState, input: Value) -> OpResult {
    let req: JobRef = parse(input)?;
    let job = user_imports::start(state, &pool_id(&req.user_pool_id)?, job_id(&req.job_id)?).await?;
    Ok(json!({"UserImportJob": job_type(state, &job, None)}))
}

async fn stop(state: &AppState, input: Value) -> OpResult {
    let req: JobRef = parse(input)?;
    let job = user_imports::stop(state, &pool_id(&req.user_pool_id)?, job_id(&req.job_id)?).await?;
    Ok(json!({"UserImportJob": job_type(state, &job, None)}))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: JobRef = parse(input)?;
    let job = user_imports::get(state, &pool_id(&req.user_pool_id)?, job_id(&req.job_id)?).await?;
    Ok(json!({"UserImportJob": job_type(state, &job, None)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    user_pool_id: String,
    max_results: Option<i64>,
    pagination_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    let pool = pool_id(&req.user_pool_id)?;
    let max = req.max_results.ok_or_else(|| super::users::missing("maxResults"))?;
    if !(1..=60).contains(&max) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: \
             Member must have value between 1 and 60"
        )));
    }
    let scope = format!("import-jobs:{pool}");
    let page = page_request(Some(max), req.pagination_token.as_deref(), 60, 60, &scope)?;
    let jobs = user_imports::list(state, &pool, &page).await?;
    let (jobs, next) = finish_page(jobs, &page, &scope, ImportJob::list_key);
    let items = jobs.iter().map(|j| job_type(state, j, None)).collect();
    Ok(list_response("UserImportJobs", items, "PaginationToken", next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_and_role_arns_follow_cognitos_patterns() {
        assert!(valid_job_name("Import users, batch 1 (x)".trim_end_matches(" (x)")));
        assert!(!valid_job_name("") && !valid_job_name("a/b") && !valid_job_name(&"x".repeat(129)));
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/CognitoImport"));
        assert!(!valid_role_arn("arn:aws:iam::acct:role/CognitoImport"));
        assert!(!valid_role_arn("not-an-arn-but-long-enough"));
    }
}
