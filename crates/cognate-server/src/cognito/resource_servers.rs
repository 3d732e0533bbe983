//! Resource server operations: the custom scopes (`{identifier}/{scope}`) app clients may
//! be granted.

use cognate_core::StoreError;
use cognate_core::pool::UserPool;
use cognate_core::resource_server::{ResourceServer, ResourceServerScope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{finish_page, list_response, load_pool, page_request, parse};
use super::{CognitoError, OpResult};
use crate::AppState;

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

fn not_found(identifier: &str, pool: &UserPool) -> CognitoError {
    CognitoError::not_found(format!("Resource server {identifier} does not exist in user pool {}.", pool.id))
}

async fn load(state: &AppState, pool: &UserPool, identifier: &str) -> Result<ResourceServer, CognitoError> {
    state.store.get_resource_server(&pool.id, identifier).await?.ok_or_else(|| not_found(identifier, pool))
}

async fn create(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = req.into_resource_server(&pool)?;
    match state.store.create_resource_server(&rs).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(CognitoError::invalid(format!("{} already exists in user pool {}", rs.identifier, pool.id)));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, identifier = %rs.identifier, "resource server created");
    Ok(json!({"ResourceServer": resource_server_type(&rs)}))
}

async fn describe(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = load(state, &pool, &req.identifier).await?;
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
    let rows = state.store.list_resource_servers(&pool.id, &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |rs| rs.identifier.clone());
    Ok(list_response("ResourceServers", rows.iter().map(resource_server_type).collect(), "NextToken", next))
}

/// Replaces the name and the whole scope list, as Cognito does.
async fn update(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let rs = req.into_resource_server(&pool)?;
    match state.store.update_resource_server(&rs).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(not_found(&rs.identifier, &pool)),
        Err(e) => return Err(e.into()),
    }
    Ok(json!({"ResourceServer": resource_server_type(&rs)}))
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: ResourceServerRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    match state.store.delete_resource_server(&pool.id, &req.identifier).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(not_found(&req.identifier, &pool)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, identifier = %req.identifier, "resource server deleted");
    Ok(json!({}))
}

/// Cognito's `ResourceServerType`.
fn resource_server_type(rs: &ResourceServer) -> Value {
    json!({
        "UserPoolId": rs.pool_id,
        "Identifier": rs.identifier,
        "Name": rs.name,
        "Scopes": rs.scopes,
    })
}
