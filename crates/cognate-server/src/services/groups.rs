//! The groups of a user pool and their members, for every surface (the Cognito API today;
//! SCIM and the consoles next). Callers check the shape of names and details; the rules of
//! the acts live here:
//! - in a pool the tenancy control plane manages, the role groups `{tenantId}-{role}`
//!   mirror memberships: only the membership engine changes them ([`GroupError::Reserved`]);
//! - the groups `{poolId}_{Provider}` hold the users who signed in through an external
//!   identity provider, as Cognito's do: only federation fills them, so nobody can create
//!   one beforehand with privileges (a role ARN, a precedence) a federated user would
//!   inherit ([`GroupError::ProviderGroup`]);
//! - a group name is unique in its pool ([`GroupError::Exists`]);
//! - an update changes only the details it names.

use cognate_core::StoreError;
use cognate_core::group::Group;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::user::User;

use crate::{AppState, tenancy};

/// Why a group operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("no such group")]
    NotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("a group named {0} exists")]
    Exists(String),
    /// A tenant role group of a managed pool.
    #[error("{0} mirrors a tenant role")]
    Reserved(String),
    /// The group of an external identity provider's users (`{poolId}_{Provider}`).
    #[error("{0} is the group of an identity provider's users")]
    ProviderGroup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The details of a group besides its name; in an update, `None` keeps the current value.
#[derive(Debug, Default)]
pub struct Details {
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub precedence: Option<i64>,
}

/// Refuses to change a role group of a pool the tenancy control plane manages.
async fn refuse_reserved(state: &AppState, pool: &UserPool, name: &str) -> Result<(), GroupError> {
    if name.strip_prefix(pool.id.as_str()).is_some_and(|rest| rest.starts_with('_')) {
        return Err(GroupError::ProviderGroup(name.to_owned()));
    }
    if tenancy::is_role_group(name) && tenancy::placement(state, &pool.id).await?.is_some() {
        return Err(GroupError::Reserved(name.to_owned()));
    }
    Ok(())
}

async fn user(state: &AppState, pool: &UserPool, username: &str) -> Result<User, GroupError> {
    super::users::find(state, pool, username).await?.ok_or(GroupError::UserNotFound)
}

/// Creates the group `name` in `pool`.
pub async fn create(state: &AppState, pool: &UserPool, name: String, details: Details) -> Result<Group, GroupError> {
    refuse_reserved(state, pool, &name).await?;
    let now = state.clock.now_millis();
    let group = Group {
        pool_id: pool.id.clone(),
        name,
        description: details.description,
        role_arn: details.role_arn,
        precedence: details.precedence,
        created_at: now,
        updated_at: now,
    };
    match state.store.create_group(&group).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(GroupError::Exists(group.name)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, group = %group.name, "group created");
    Ok(group)
}

/// The name of the group of `provider`'s users in `pool`, as Cognito names it.
pub fn provider_group(pool: &UserPool, provider: &str) -> String {
    format!("{}_{provider}", pool.id)
}

/// Puts a user who signed in through `provider` in the provider's group, made at its first
/// use (a concurrent first use finds it made).
pub async fn join_provider_group(
    state: &AppState,
    pool: &UserPool,
    provider: &str,
    user: &User,
) -> Result<(), GroupError> {
    let name = provider_group(pool, provider);
    if state.store.get_group(&pool.id, &name).await?.is_none() {
        let now = state.clock.now_millis();
        let group = Group {
            pool_id: pool.id.clone(),
            name: name.clone(),
            description: None,
            role_arn: None,
            precedence: None,
            created_at: now,
            updated_at: now,
        };
        match state.store.create_group(&group).await {
            Ok(()) => tracing::info!(pool = %pool.id, group = %name, "identity provider group created"),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match state.store.add_user_to_group(&pool.id, &name, &user.sub).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(GroupError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// The group `name` of `pool`.
pub async fn get(state: &AppState, pool: &UserPool, name: &str) -> Result<Group, GroupError> {
    state.store.get_group(&pool.id, name).await?.ok_or(GroupError::NotFound)
}

/// A page of the pool's groups, by name.
pub async fn list(state: &AppState, pool: &UserPool, page: &PageRequest) -> Result<Vec<Group>, GroupError> {
    Ok(state.store.list_groups(&pool.id, page).await?)
}

/// Changes the details `patch` names.
pub async fn update(state: &AppState, pool: &UserPool, name: &str, patch: Details) -> Result<Group, GroupError> {
    refuse_reserved(state, pool, name).await?;
    let mut group = get(state, pool, name).await?;
    if patch.description.is_some() {
        group.description = patch.description;
    }
    if patch.role_arn.is_some() {
        group.role_arn = patch.role_arn;
    }
    if patch.precedence.is_some() {
        group.precedence = patch.precedence;
    }
    group.updated_at = state.clock.now_millis();
    match state.store.update_group(&group).await {
        Ok(()) => Ok(group),
        Err(StoreError::NotFound(_)) => Err(GroupError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the group (its members keep their accounts).
pub async fn delete(state: &AppState, pool: &UserPool, name: &str) -> Result<(), GroupError> {
    refuse_reserved(state, pool, name).await?;
    match state.store.delete_group(&pool.id, name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(GroupError::NotFound),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, group = %name, "group deleted");
    Ok(())
}

/// Adds the user `username` to the group (already a member: nothing changes).
pub async fn add_member(state: &AppState, pool: &UserPool, name: &str, username: &str) -> Result<(), GroupError> {
    refuse_reserved(state, pool, name).await?;
    let user = user(state, pool, username).await?;
    let group = get(state, pool, name).await?;
    match state.store.add_user_to_group(&pool.id, &group.name, &user.sub).await {
        Ok(()) => Ok(()),
        // The group (or the user) went away between the lookups and the insert.
        Err(StoreError::NotFound(_)) => Err(GroupError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Removes the user `username` from the group (not a member: nothing changes).
pub async fn remove_member(state: &AppState, pool: &UserPool, name: &str, username: &str) -> Result<(), GroupError> {
    refuse_reserved(state, pool, name).await?;
    let user = user(state, pool, username).await?;
    let group = get(state, pool, name).await?;
    Ok(state.store.remove_user_from_group(&pool.id, &group.name, &user.sub).await?)
}

/// A page of the groups `user` is a member of.
pub async fn of_user(state: &AppState, user: &User, page: &PageRequest) -> Result<Vec<Group>, GroupError> {
    Ok(state.store.list_groups_for_user(&user.pool_id, &user.sub, page).await?)
}

/// A page of the members of `group`.
pub async fn members(state: &AppState, group: &Group, page: &PageRequest) -> Result<Vec<User>, GroupError> {
    Ok(state.store.list_users_in_group(&group.pool_id, &group.name, page).await?)
}
