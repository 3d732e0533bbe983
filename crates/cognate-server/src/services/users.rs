//! Users as every surface finds them.

use cognate_core::StoreError;
use cognate_core::pool::UserPool;
use cognate_core::user::{User, username_key};

use crate::AppState;

/// The user `name` signs in as: the username (folded as the pool folds it), else a
/// verified alias the pool signs in with (email, phone number, preferred username).
/// `Ok(None)` when no user has that name.
pub async fn find(state: &AppState, pool: &UserPool, name: &str) -> Result<Option<User>, StoreError> {
    let settings = &pool.settings;
    if let Some(user) = state.store.get_user(&pool.id, &username_key(settings, name)).await? {
        crate::facts::user(&user);
        return Ok(Some(user));
    }
    let uses = |attr: &str| {
        settings.alias_attributes.iter().any(|a| a == attr) || settings.username_attributes.iter().any(|a| a == attr)
    };
    let mut aliases: Vec<(&str, String)> = Vec::new();
    if uses("email") {
        aliases.push(("email", name.to_lowercase()));
    }
    if uses("phone_number") {
        aliases.push(("phone_number", name.to_owned()));
    }
    if uses("preferred_username") {
        aliases.push(("preferred_username", username_key(settings, name)));
    }
    for (alias, key) in aliases {
        if let Some(user) = state.store.get_user_by_alias(&pool.id, alias, &key).await? {
            crate::facts::user(&user);
            return Ok(Some(user));
        }
    }
    Ok(None)
}

/// The user `sub` of `pool`, if there is one.
pub async fn by_sub(state: &AppState, pool: &cognate_core::ids::PoolId, sub: &str) -> Result<Option<User>, StoreError> {
    state.store.get_user_by_sub(pool, sub).await
}

/// A sign-in name another user holds already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
    PhoneNumber,
    PreferredUsername,
}

impl Taken {
    /// The alias attribute, for the aliases a forced creation may move.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            Self::Email => Some("email"),
            Self::PhoneNumber => Some("phone_number"),
            Self::Username | Self::PreferredUsername => None,
        }
    }
}

/// Why a user could not be written.
#[derive(Debug, thiserror::Error)]
pub enum UserWriteError {
    #[error("{0:?} is taken by another user")]
    Taken(Taken),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserWriteError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("username") => Self::Taken(Taken::Username),
            StoreError::Conflict("email") => Self::Taken(Taken::Email),
            StoreError::Conflict("phone_number") => Self::Taken(Taken::PhoneNumber),
            StoreError::Conflict("preferred_username") => Self::Taken(Taken::PreferredUsername),
            StoreError::NotFound(_) => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// Stores a changed user (attributes, status, password) with their sign-in names.
pub async fn save(state: &AppState, pool: &UserPool, user: &User) -> Result<(), UserWriteError> {
    Ok(state.store.update_user(user, &user.keys(&pool.settings)).await?)
}

/// [`save`], and when `force` and the user's email or phone number is another user's
/// verified alias, moves the alias: the holder's attribute becomes unverified (which drops
/// it from the alias index) and the save is tried again (ForceAliasCreation).
pub async fn save_claiming_aliases(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    force: bool,
) -> Result<(), UserWriteError> {
    match save(state, pool, user).await {
        Err(UserWriteError::Taken(taken)) if force && taken.alias().is_some() => {
            release_alias(state, pool, user, taken).await?;
            save(state, pool, user).await
        }
        other => other,
    }
}

/// Takes the alias `taken` of `user` from the user who holds it verified (see
/// [`save_claiming_aliases`]).
pub async fn release_alias(state: &AppState, pool: &UserPool, user: &User, taken: Taken) -> Result<(), UserWriteError> {
    let Some(alias) = taken.alias() else { return Ok(()) };
    let keys = user.keys(&pool.settings);
    let key = if alias == "email" { keys.email } else { keys.phone };
    let Some(key) = key else { return Ok(()) };
    let Some(mut holder) = state.store.get_user_by_alias(&pool.id, alias, &key).await? else {
        return Ok(());
    };
    holder.attributes.insert(format!("{alias}_verified"), "false".to_owned());
    holder.updated_at = state.clock.now_millis();
    save(state, pool, &holder).await?;
    tracing::info!(pool = %pool.id, sub = %holder.sub, alias, "alias moved to a new user");
    Ok(())
}

/// Stores a user whose password was set, changed or reset, ending every session of theirs
/// in the same transaction (published on the revocation feed), as the token contract says.
pub async fn save_signed_out(state: &AppState, pool: &UserPool, user: &mut User) -> Result<(), UserWriteError> {
    let now = state.clock.now_millis();
    user.updated_at = now;
    Ok(state.store.update_user_signed_out(user, &user.keys(&pool.settings), now).await?)
}

/// Disables or enables the user. Disabling signs them out in the same transaction: every
/// token family is revoked and published, so re-enabling brings no old token back. The
/// flag is written alone, so no concurrent update of the user can undo it.
pub async fn set_enabled(state: &AppState, user: &User, enabled: bool) -> Result<(), UserWriteError> {
    Ok(state.store.set_user_enabled(&user.pool_id, &user.sub, enabled, state.clock.now_millis()).await?)
}

/// Deletes the user with their memberships, codes and sessions (published on the feed).
pub async fn delete(state: &AppState, user: &User) -> Result<(), UserWriteError> {
    state.store.delete_user(&user.pool_id, &user.sub, state.clock.now_millis()).await?;
    tracing::info!(pool = %user.pool_id, sub = %user.sub, "user deleted");
    Ok(())
}

/// A page of the pool's users matching `filter`, by username.
pub async fn list(
    state: &AppState,
    pool: &UserPool,
    filter: Option<&cognate_core::user::UserFilter>,
    page: &cognate_core::page::PageRequest,
) -> Result<Vec<User>, StoreError> {
    state.store.list_users(&pool.id, filter, page).await
}
