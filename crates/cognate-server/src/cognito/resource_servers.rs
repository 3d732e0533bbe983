//! Resource server operations: the custom scopes (`{identifier}/{scope}`) app clients may
//! be granted.

use cognate_core::pool::UserPool;
use cognate_core::resource_server::{ResourceServer, ResourceServerScope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{finish_page, list_response, load_pool, page_request, parse};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::resource_servers::{self, ResourceServerError};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "CreateResourceServer" => create(state, input).await,
        "DescribeResourceServer" => describe(state, input).await,
        "ListResourceServers" => list(state, input).await,
        "UpdateResourceServer" => update(state, input).await,
        "DeleteResourceServer" => delete(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Cognito's ListResourceServers page size bound.
const MAX_PAGE: u32 = 50;

/// CreateResourceServer and UpdateResourceServer take the same members.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceServerInput {
    user_pool_id: String,
    identifier: String,
    name: String,
    #[serde(default)]
    scopes: Option<Vec<ResourceServerScope>>,
}

impl ResourceServerInput {
    fn into_resource_server(self, pool: &UserPool) -> Result<ResourceServer, CognitoError> {
        let rs = ResourceServer {
            pool_id: pool.id.clone(),
            identifier: self.identifier,
            name: self.name,
            scopes: self.scopes.unwrap_or_default(),
        };
        rs.validate().map_err(CognitoError::invalid)?;
        Ok(rs)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceServerRef {
    user_pool_id: String,
    identifier: String,
}

/// Cognito's exception for a refusal in `pool`.
fn refused(e: ResourceServerError, pool: &UserPool) -> CognitoError {
    match e {
        ResourceServerError::NotFound(identifier) => {
            CognitoError::not_found(format!("Resource server {identifier} does not exist."))
        }
        ResourceServerError::Exists(identifier) => {
            CognitoError::invalid(format!("{identifier} already exists in user pool {}.", pool.id))
        }
        ResourceServerError::Store(e) => e.into(),
    }
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = req.into_resource_server(&pool)?;
    resource_servers::create(state, &rs).await.map_err(|e| refused(e, &pool))?;
    Ok(json!({"ResourceServer": resource_server_type(&rs)}))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = resource_servers::get(state, &pool.id, &req.identifier).await.map_err(|e| refused(e, &pool))?;
    Ok(json!({"ResourceServer": resource_server_type(&rs)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    user_pool_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    match req.max_results {
        None => {
            return Err(CognitoError::invalid(
                "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: \
                 Member must not be null",
            ));
        }
        Some(n) if n < 1 => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: \
                 Member must have value greater than or equal to 1"
            )));
        }
        Some(_) => {}
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    let scope = format!("resource-servers:{}", pool.id);
    let page = page_request(req.max_results, req.next_token.as_deref(), MAX_PAGE, MAX_PAGE, &scope)?;
    let rows = resource_servers::list(state, &pool.id, &page).await.map_err(|e| refused(e, &pool))?;
    let (rows, next) = finish_page(rows, &page, &scope, |rs| rs.identifier.clone());
    Ok(list_response("ResourceServers", rows.iter().map(resource_server_type).collect(), "NextToken", next))
}

/// Replaces the name and the whole scope list, as Cognito does.
async fn update(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = req.into_resource_server(&pool)?;
    resource_servers::update(state, &rs).await.map_err(|e| refused(e, &pool))?;
    Ok(json!({"ResourceServer": resource_server_type(&rs)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    resource_servers::delete(state, &pool.id, &req.identifier).await.map_err(|e| refused(e, &pool))?;
    Ok(json!({}))
}

/// Cognito's `ResourceServerType`; a server without scopes has no `Scopes` member, as in
/// Cognito.
fn resource_server_type(rs: &ResourceServer) -> Value {
    let mut out = json!({
        "UserPoolId": rs.pool_id,
        "Identifier": rs.identifier,
        "Name": rs.name,
    });
    if !rs.scopes.is_empty() {
        out["Scopes"] = json!(rs.scopes);
    }
    out
}
