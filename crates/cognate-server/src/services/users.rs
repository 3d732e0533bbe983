//! Users as every surface finds them.

use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::attributes::{AttributeError, Schema, looks_like_email, looks_like_phone};
use cognate_core::client::AppClient;
use cognate_core::pool::{PoolSettings, UserPool};
use cognate_core::srp;
use cognate_core::user::{User, username_key};

use crate::AppState;

/// The master-key label of sealed SRP verifiers.
const SRP_LABEL: &str = "srp-verifier";

/// Sets a user's password: its argon2 hash and its SRP verifier (sealed), so the user signs
/// in with the password and with Cognito's SRP clients alike. The verifier depends on the
/// pool and the username, which must be the user's final ones.
pub async fn set_password(state: &AppState, user: &mut User, password: &str) -> Result<(), String> {
    user.password_hash = Some(state.passwords.hash(password.to_owned()).await.map_err(|e| e.to_string())?);
    user.srp_verifier = Some(seal_srp_verifier(state, user, password)?);
    Ok(())
}

/// A new SRP verifier of `password` for `user`, sealed with the master key.
pub fn seal_srp_verifier(state: &AppState, user: &User, password: &str) -> Result<String, String> {
    let verifier = srp::Verifier::new(state.rng.as_ref(), user.pool_id.as_str(), &user.username, password);
    let json = serde_json::to_string(&verifier).map_err(|e| e.to_string())?;
    Ok(state.master_key.seal(state.rng.as_ref(), SRP_LABEL, json.as_bytes()))
}

/// A user's SRP verifier in the clear; `None` when they have none (or it cannot be read).
pub fn srp_verifier(state: &AppState, user: &User) -> Option<srp::Verifier> {
    let sealed = user.srp_verifier.as_deref()?;
    let raw = state.master_key.open(SRP_LABEL, sealed).ok()?;
    serde_json::from_slice(&raw).ok()
}

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

/// [`save`] for a change of the user's attributes by an administrator or the user,
/// writing a `user.updated` webhook event in the same transaction.
pub async fn save_updated(state: &AppState, pool: &UserPool, user: &User) -> Result<(), UserWriteError> {
    let event = crate::services::webhooks::user_event(state, "user.updated", user);
    Ok(state.store.update_user_with(user, &user.keys(&pool.settings), &[event]).await?)
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
    let mut after = user.clone();
    after.enabled = enabled;
    let kind = if enabled { "user.updated" } else { "user.disabled" };
    let event = crate::services::webhooks::user_event(state, kind, &after);
    let at = state.clock.now_millis();
    Ok(state.store.set_user_enabled_with(&user.pool_id, &user.sub, enabled, at, &[event]).await?)
}

/// Deletes the user with their memberships, codes and sessions (published on the feed).
pub async fn delete(state: &AppState, user: &User) -> Result<(), UserWriteError> {
    let event = crate::services::webhooks::user_event(state, "user.deleted", user);
    state.store.delete_user_with(&user.pool_id, &user.sub, state.clock.now_millis(), &[event]).await?;
    tracing::info!(pool = %user.pool_id, sub = %user.sub, "user deleted");
    Ok(())
}

/// Why attributes could not be deleted from a user.
#[derive(Debug, thiserror::Error)]
pub enum DeleteAttributesError {
    /// Not in the schema, immutable (`sub` among them) or required.
    #[error(transparent)]
    Schema(#[from] AttributeError),
    /// A tenancy attribute in a pool the tenancy control plane manages: only `/v1` writes it.
    #[error("{0} is managed by the tenancy API")]
    Reserved(String),
    /// The pool's users sign in with this attribute (`email` or `phone_number`).
    #[error("users sign in with {0}")]
    SignInName(&'static str),
    #[error(transparent)]
    Write(#[from] UserWriteError),
}

/// Deletes the attributes `names` of `user` (AdminDeleteUserAttributes, and
/// DeleteUserAttributes once the surface checked what the caller's client may write). The
/// rules: every name is in the pool's schema, mutable and not required (`sub` never goes);
/// the tenancy attributes of a managed pool belong to `/v1`; an attribute the pool's users
/// sign in with (email or phone number as username) stays.
pub async fn delete_attributes(
    state: &AppState,
    pool: &UserPool,
    mut user: User,
    names: &[String],
) -> Result<(), DeleteAttributesError> {
    Schema::new(&pool.settings.schema).check_deletes(names)?;
    if let Some(name) = crate::tenancy::reserved_write(state, &pool.id, names.iter().map(String::as_str))
        .await
        .map_err(UserWriteError::Store)?
    {
        return Err(DeleteAttributesError::Reserved(name.to_owned()));
    }
    for (attr, is_username) in
        [("email", pool.settings.email_is_username()), ("phone_number", pool.settings.phone_is_username())]
    {
        if is_username && names.iter().any(|n| n == attr) {
            return Err(DeleteAttributesError::SignInName(attr));
        }
    }
    for name in names {
        user.attributes.remove(&stored_name(name));
    }
    user.updated_at = state.clock.now_millis();
    save(state, pool, &user).await?;
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

// ---------------------------------------------------------------------------------------
// New users' names and attributes
// ---------------------------------------------------------------------------------------

/// Attribute names as stored: developer-only attributes are addressed as `dev:custom:x`
/// but kept under their schema name.
pub fn stored_name(name: &str) -> String {
    name.strip_prefix("dev:").unwrap_or(name).to_owned()
}

/// The stored username and attributes of a new user (AdminCreateUser, SignUp): the
/// sign-in name resolved under the pool's username attributes, every attribute checked
/// against the schema (immutable ones may be set once), required ones present.
pub fn new_user_attributes(
    settings: &PoolSettings,
    requested: &str,
    sub: &str,
    mut pairs: Vec<(String, String)>,
) -> Result<(String, BTreeMap<String, String>), String> {
    let username = signin_username(settings, requested, sub, &mut pairs)?;
    let schema = Schema::new(&settings.schema);
    schema.check_writes(&mut pairs, true).map_err(|e| e.to_string())?;
    let attributes: BTreeMap<String, String> = pairs.into_iter().map(|(n, v)| (stored_name(&n), v)).collect();
    schema.check_required(&attributes).map_err(|e| e.to_string())?;
    Ok((username, attributes))
}

/// The username stored for a new user. In pools where users sign in with their email or
/// phone number, the stored username is the `sub` and the given name becomes the
/// attribute; pools with email or phone aliases refuse usernames shaped like one.
pub fn signin_username(
    settings: &PoolSettings,
    given: &str,
    sub: &str,
    pairs: &mut Vec<(String, String)>,
) -> Result<String, String> {
    let mut set_attr = |name: &str| {
        if !pairs.iter().any(|(n, _)| n == name) {
            pairs.push((name.to_owned(), given.to_owned()));
        }
    };
    let (by_email, by_phone) = (settings.email_is_username(), settings.phone_is_username());
    if by_email || by_phone {
        if by_email && looks_like_email(given) {
            set_attr("email");
        } else if by_phone && looks_like_phone(given) {
            set_attr("phone_number");
        } else {
            return Err(match (by_email, by_phone) {
                (true, true) => "Username should be either an email or a phone number.",
                (true, false) => "Username should be an email.",
                _ => "Username should be a phone number.",
            }
            .to_owned());
        }
        return Ok(sub.to_owned());
    }
    let alias = |a: &str| settings.alias_attributes.iter().any(|x| x == a);
    if alias("email") && looks_like_email(given) {
        return Err("Username cannot be of email format, since user pool is configured for email alias.".to_owned());
    }
    if alias("phone_number") && looks_like_phone(given) {
        return Err("Username cannot be of phone number format, since user pool is configured for phone_number alias."
            .to_owned());
    }
    Ok(given.to_owned())
}

/// Attributes owned by the tenancy control plane (`custom:tenantId`, …): no end user may
/// write them, whatever the client's WriteAttributes say.
const TENANT_PREFIX: &str = "custom:tenant";
/// Only administrators (or a confirmed code) may mark a contact verified.
const VERIFIED_FLAGS: &[&str] = &["email_verified", "phone_number_verified"];

/// Whether an end user may write every one of `names` through `client`: not developer-only
/// attributes, the tenancy attributes or the `*_verified` flags, and — when the client
/// lists WriteAttributes — only those. Unknown names pass here and fail the schema check.
pub fn user_writable<'a>(client: &AppClient, schema: &Schema<'_>, names: impl IntoIterator<Item = &'a str>) -> bool {
    let listed = &client.settings.write_attributes;
    names.into_iter().all(|name| {
        !name.starts_with("dev:")
            && !name.starts_with(TENANT_PREFIX)
            && !VERIFIED_FLAGS.contains(&name)
            && schema.get(name).is_none_or(|a| !a.developer_only_attribute)
            && (listed.is_empty() || listed.iter().any(|w| w == name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_settings(username_attrs: &[&str], alias_attrs: &[&str]) -> PoolSettings {
        PoolSettings {
            username_attributes: username_attrs.iter().map(|s| (*s).to_owned()).collect(),
            alias_attributes: alias_attrs.iter().map(|s| (*s).to_owned()).collect(),
            ..PoolSettings::default()
        }
    }

    #[test]
    fn email_username_pools_store_the_sub_and_set_the_email() {
        let s = pool_settings(&["email"], &[]);
        let mut pairs = Vec::new();
        let name = signin_username(&s, "Ann@Example.com", "the-sub", &mut pairs);
        assert_eq!(name.ok().as_deref(), Some("the-sub"));
        assert_eq!(pairs, vec![("email".to_owned(), "Ann@Example.com".to_owned())]);
        let refused = signin_username(&s, "ann", "the-sub", &mut Vec::new());
        assert!(refused.is_err_and(|e| e == "Username should be an email."));
    }

    #[test]
    fn alias_pools_refuse_alias_shaped_usernames() {
        let s = pool_settings(&[], &["email", "phone_number"]);
        assert!(signin_username(&s, "ann@example.com", "sub", &mut Vec::new()).is_err());
        assert!(signin_username(&s, "+15550100", "sub", &mut Vec::new()).is_err());
        assert_eq!(signin_username(&s, "ann", "sub", &mut Vec::new()).ok().as_deref(), Some("ann"));
    }
}
