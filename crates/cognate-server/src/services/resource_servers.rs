//! Resource servers of a user pool: the custom OAuth scopes (`{identifier}/{scope}`) app
//! clients may be allowed and machine tokens may carry. An identifier is unique in its
//! pool; an update replaces the name and the whole scope list.

use std::collections::HashMap;

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::resource_server::ResourceServer;

use crate::AppState;

/// Why a resource server operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResourceServerError {
    #[error("no resource server {0}")]
    NotFound(String),
    #[error("resource server {0} exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn create(state: &AppState, rs: &ResourceServer) -> Result<(), ResourceServerError> {
    match state.store.create_resource_server(rs).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ResourceServerError::Exists(rs.identifier.clone())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %rs.pool_id, identifier = %rs.identifier, "resource server created");
    Ok(())
}

/// The resource server `identifier` of `pool`, if there is one.
pub async fn find(state: &AppState, pool: &PoolId, identifier: &str) -> Result<Option<ResourceServer>, StoreError> {
    state.store.get_resource_server(pool, identifier).await
}

pub async fn get(state: &AppState, pool: &PoolId, identifier: &str) -> Result<ResourceServer, ResourceServerError> {
    find(state, pool, identifier).await?.ok_or_else(|| ResourceServerError::NotFound(identifier.to_owned()))
}

/// A page of the pool's resource servers, by identifier.
pub async fn list(
    state: &AppState,
    pool: &PoolId,
    page: &PageRequest,
) -> Result<Vec<ResourceServer>, ResourceServerError> {
    Ok(state.store.list_resource_servers(pool, page).await?)
}

/// Replaces the name and scopes of an existing resource server.
pub async fn update(state: &AppState, rs: &ResourceServer) -> Result<(), ResourceServerError> {
    match state.store.update_resource_server(rs).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(ResourceServerError::NotFound(rs.identifier.clone())),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(state: &AppState, pool: &PoolId, identifier: &str) -> Result<(), ResourceServerError> {
    match state.store.delete_resource_server(pool, identifier).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ResourceServerError::NotFound(identifier.to_owned())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool, identifier = %identifier, "resource server deleted");
    Ok(())
}

/// Resolves custom scopes `{identifier}/{name}` against one pool's resource servers,
/// looking each identifier up once.
pub struct Scopes<'a> {
    state: &'a AppState,
    pool: &'a PoolId,
    servers: HashMap<String, Option<ResourceServer>>,
}

impl<'a> Scopes<'a> {
    pub fn of(state: &'a AppState, pool: &'a PoolId) -> Self {
        Self { state, pool, servers: HashMap::new() }
    }

    /// Whether a resource server of the pool defines `scope`. Identifiers (often URLs) and
    /// scope names may both contain '/', so every split point is tried.
    pub async fn defines(&mut self, scope: &str) -> Result<bool, StoreError> {
        for (identifier, name) in splits(scope) {
            if !self.servers.contains_key(identifier) {
                let rs = self.state.directory.resource_server(self.state, self.pool, identifier).await?;
                self.servers.insert(identifier.to_owned(), rs);
            }
            if let Some(Some(rs)) = self.servers.get(identifier)
                && rs.scopes.iter().any(|s| s.scope_name == name)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Every `(identifier, scope_name)` reading of `{identifier}/{scope_name}`, the last '/'
/// first; both halves non-empty.
fn splits(scope: &str) -> impl Iterator<Item = (&str, &str)> {
    scope
        .rmatch_indices('/')
        .map(move |(i, _)| (&scope[..i], &scope[i + 1..]))
        .filter(|(id, name)| !id.is_empty() && !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_at_every_slash() {
        let all: Vec<_> = splits("https://api.example.com/orders/read").collect();
        assert_eq!(
            all,
            [
                ("https://api.example.com/orders", "read"),
                ("https://api.example.com", "orders/read"),
                ("https:/", "api.example.com/orders/read"),
                ("https:", "/api.example.com/orders/read"),
            ]
        );
        assert_eq!(splits("api/").count(), 0);
        assert_eq!(splits("/read").count(), 0);
        assert_eq!(splits("openid").count(), 0);
    }
}
