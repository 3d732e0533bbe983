//! The HTTP surface. Every handler takes a `TenantTx` (scoped to the caller's tenant before
//! it runs), checks that the caller may read or write, calls one query and commits.
//!
//! Users (JWTs) are authorised by tenant role: anyone of the tenant reads, `admin` and
//! `member` write. API keys have no role; they are authorised by scope: `notes:read` for
//! every `GET`, `notes:write` for every change. Either way the tenant is the caller's, so
//! isolation does not depend on the kind of credential.
//!
//! Another tenant's ids answer 404, exactly like ids that do not exist.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cognate_guard::{AuthRejection, Principal, TenantContext, TenantPool, TenantTx};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::db::{Note, Project, Repo};

/// Router state: the checked pool.
pub struct AppState<DB: sqlx::Database> {
    pub pool: TenantPool<DB>,
}

impl<DB: sqlx::Database> Clone for AppState<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone() }
    }
}

impl<DB: sqlx::Database> FromRef<AppState<DB>> for TenantPool<DB> {
    fn from_ref(state: &AppState<DB>) -> Self {
        state.pool.clone()
    }
}

/// The API routes for backend `DB` (not yet guarded; `crate::build_router` adds the layer).
pub fn routes<DB: Repo>(pool: TenantPool<DB>) -> Router {
    Router::new()
        .route("/api/projects", get(list_projects::<DB>).post(create_project::<DB>))
        .route("/api/projects/{id}", get(get_project::<DB>).patch(update_project::<DB>).delete(delete_project::<DB>))
        .route("/api/projects/{id}/notes", get(list_notes::<DB>).post(create_note::<DB>))
        .route("/api/notes/{id}", get(get_note::<DB>).patch(update_note::<DB>).delete(delete_note::<DB>))
        .route("/api/debug/all-notes-unfiltered", get(all_notes_unfiltered::<DB>))
        .with_state(AppState { pool })
}

/// The example's error shape: `{"error":{"code","message"}}`; auth refusals keep the
/// guard's RFC 6750 shape.
#[derive(Debug)]
pub enum ApiError {
    NotFound,
    Invalid(String),
    NotSupported,
    Auth(AuthRejection),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource".to_owned()),
            Self::Invalid(message) => (StatusCode::BAD_REQUEST, "invalid_request", message),
            Self::NotSupported => (
                StatusCode::NOT_IMPLEMENTED,
                "not_supported",
                "only served on PostgreSQL, where row-level security confines it".to_owned(),
            ),
            Self::Auth(rejection) => return rejection.into_response(),
            Self::Database(e) => {
                tracing::error!(error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error".to_owned())
            }
        };
        (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
    }
}

/// `Json` whose rejections use [`ApiError`]'s shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| ApiError::Invalid(e.body_text()))?;
        Ok(Self(value))
    }
}

/// The scope an API key needs for the `GET` routes.
pub const NOTES_READ: &str = "notes:read";
/// The scope an API key needs for the routes that change something.
pub const NOTES_WRITE: &str = "notes:write";

/// Reads: any user of the tenant; an API key needs [`NOTES_READ`] (403 `insufficient_scope`).
fn require_reader(ctx: &TenantContext) -> Result<(), ApiError> {
    match ctx.principal {
        Principal::ApiKey { .. } => ctx.require_scope(NOTES_READ).map_err(ApiError::Auth),
        Principal::User { .. } | Principal::Client { .. } => Ok(()),
    }
}

/// Writes: tenant role `admin` or `member` (`read_only`, or none, gets 403); an API key needs
/// [`NOTES_WRITE`].
fn require_writer(ctx: &TenantContext) -> Result<(), ApiError> {
    match ctx.principal {
        Principal::ApiKey { .. } => ctx.require_scope(NOTES_WRITE).map_err(ApiError::Auth),
        Principal::User { .. } | Principal::Client { .. } if ctx.has_role("admin") || ctx.has_role("member") => Ok(()),
        Principal::User { .. } | Principal::Client { .. } => Err(ApiError::Auth(AuthRejection::InsufficientRole)),
    }
}

fn text(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(ApiError::Invalid(format!("{field} must be 1 to {max} characters")));
    }
    Ok(trimmed.to_owned())
}

fn body_text(value: String) -> Result<String, ApiError> {
    if value.chars().count() > 10_000 {
        return Err(ApiError::Invalid("body must be at most 10000 characters".into()));
    }
    Ok(value)
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    title: String,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotePatch {
    title: Option<String>,
    body: Option<String>,
}

async fn list_projects<DB: Repo>(mut tx: TenantTx<DB>) -> Result<Json<Vec<Project>>, ApiError> {
    require_reader(tx.context())?;
    Ok(Json(DB::list_projects(&mut tx).await?))
}

async fn create_project<DB: Repo>(
    mut tx: TenantTx<DB>,
    Body(input): Body<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    require_writer(tx.context())?;
    let name = text("name", input.name, 200)?;
    let project = DB::create_project(&mut tx, new_id(), name, now_ms()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(project)))
}

async fn get_project<DB: Repo>(mut tx: TenantTx<DB>, Path(id): Path<String>) -> Result<Json<Project>, ApiError> {
    require_reader(tx.context())?;
    DB::get_project(&mut tx, id).await?.map(Json).ok_or(ApiError::NotFound)
}

async fn update_project<DB: Repo>(
    mut tx: TenantTx<DB>,
    Path(id): Path<String>,
    Body(input): Body<ProjectInput>,
) -> Result<Json<Project>, ApiError> {
    require_writer(tx.context())?;
    let name = text("name", input.name, 200)?;
    let project = DB::rename_project(&mut tx, id, name).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(project))
}

async fn delete_project<DB: Repo>(mut tx: TenantTx<DB>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    require_writer(tx.context())?;
    if !DB::delete_project(&mut tx, id).await? {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_notes<DB: Repo>(mut tx: TenantTx<DB>, Path(project): Path<String>) -> Result<Json<Vec<Note>>, ApiError> {
    require_reader(tx.context())?;
    DB::get_project(&mut tx, project.clone()).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(DB::list_notes(&mut tx, project).await?))
}

async fn create_note<DB: Repo>(
    mut tx: TenantTx<DB>,
    Path(project): Path<String>,
    Body(input): Body<NoteInput>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    require_writer(tx.context())?;
    let title = text("title", input.title, 200)?;
    let body = body_text(input.body)?;
    DB::get_project(&mut tx, project.clone()).await?.ok_or(ApiError::NotFound)?;
    let note = Note {
        id: new_id(),
        tenant_id: tx.tenant_id().to_owned(),
        project_id: project,
        title,
        body,
        created_at: now_ms(),
    };
    let note = DB::create_note(&mut tx, note).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn get_note<DB: Repo>(mut tx: TenantTx<DB>, Path(id): Path<String>) -> Result<Json<Note>, ApiError> {
    require_reader(tx.context())?;
    DB::get_note(&mut tx, id).await?.map(Json).ok_or(ApiError::NotFound)
}

async fn update_note<DB: Repo>(
    mut tx: TenantTx<DB>,
    Path(id): Path<String>,
    Body(patch): Body<NotePatch>,
) -> Result<Json<Note>, ApiError> {
    require_writer(tx.context())?;
    let title = patch.title.map(|t| text("title", t, 200)).transpose()?;
    let body = patch.body.map(body_text).transpose()?;
    let note = DB::update_note(&mut tx, id, title, body).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(note))
}

async fn delete_note<DB: Repo>(mut tx: TenantTx<DB>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    require_writer(tx.context())?;
    if !DB::delete_note(&mut tx, id).await? {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/debug/all-notes-unfiltered`: a test of row-level security, compiled in always.
/// It runs `SELECT … FROM notes` with no tenant condition; on PostgreSQL the policies still
/// return only the caller's notes. SQLite has no such backstop, so there it answers 501.
async fn all_notes_unfiltered<DB: Repo>(mut tx: TenantTx<DB>) -> Result<Json<Vec<Note>>, ApiError> {
    require_reader(tx.context())?;
    if !DB::ENFORCES_TENANT_ISOLATION {
        return Err(ApiError::NotSupported);
    }
    Ok(Json(DB::all_notes_unfiltered(&mut tx).await?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn context(principal: Principal, role: Option<&str>, scopes: &[&str]) -> TenantContext {
        TenantContext {
            tenant_id: Some("acme".into()),
            principal,
            role: role.map(str::to_owned),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            groups: Vec::new(),
            claims: Arc::default(),
        }
    }

    fn key(scopes: &[&str]) -> TenantContext {
        context(Principal::ApiKey { id: "ak_1".into() }, None, scopes)
    }

    fn user(role: Option<&str>, scopes: &[&str]) -> TenantContext {
        context(Principal::User { sub: "s".into(), username: "u".into() }, role, scopes)
    }

    fn allowed(result: Result<(), ApiError>) -> Option<&'static str> {
        match result {
            Ok(()) => None,
            Err(ApiError::Auth(AuthRejection::InsufficientScope(scope))) if scope == NOTES_READ => Some(NOTES_READ),
            Err(ApiError::Auth(AuthRejection::InsufficientScope(scope))) if scope == NOTES_WRITE => Some(NOTES_WRITE),
            Err(ApiError::Auth(AuthRejection::InsufficientRole)) => Some("role"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn api_keys_are_authorised_by_scope_and_users_by_role() {
        let cases = [
            // (caller, refusal for reads, refusal for writes)
            (key(&[NOTES_READ]), None, Some(NOTES_WRITE)),
            (key(&[NOTES_WRITE]), Some(NOTES_READ), None),
            (key(&[NOTES_READ, NOTES_WRITE]), None, None),
            (key(&[]), Some(NOTES_READ), Some(NOTES_WRITE)),
            // A role claim cannot stand in for a key's scope (keys never carry one anyway).
            (context(Principal::ApiKey { id: "ak_2".into() }, Some("admin"), &[]), Some(NOTES_READ), Some(NOTES_WRITE)),
            // Users: unchanged, scopes play no part.
            (user(Some("admin"), &[]), None, None),
            (user(Some("member"), &[]), None, None),
            (user(Some("read_only"), &[NOTES_WRITE]), None, Some("role")),
            (user(None, &[]), None, Some("role")),
        ];
        for (ctx, read, write) in cases {
            assert_eq!(allowed(require_reader(&ctx)), read, "read {ctx:?}");
            assert_eq!(allowed(require_writer(&ctx)), write, "write {ctx:?}");
        }
    }
}
