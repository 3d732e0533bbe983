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
