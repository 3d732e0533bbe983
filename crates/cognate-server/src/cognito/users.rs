//! Administrative user operations: creating (inviting) users, reading and changing their
//! attributes, status and passwords, and listing them.

use std::collections::BTreeMap;

use cognate_core::attributes::{AttributeError, Schema};
use cognate_core::ids::generate_sub;
use cognate_core::pool::{PoolSettings, UserPool};
use cognate_core::user::{User, UserFilter, UserStatus, username_key, valid_username};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{
    AttributeInput, attribute_list, attribute_pairs, epoch, finish_page, list_response, load_pool, page_request, parse,
    user_type,
};
use super::{CognitoError, OpResult};
use crate::services::users::{self, Taken, UserWriteError};
use crate::{AppState, tenancy};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "AdminCreateUser" => admin_create_user(state, input).await,
        "AdminGetUser" => admin_get_user(state, input).await,
        "AdminUpdateUserAttributes" => admin_update_user_attributes(state, input).await,
        "AdminDeleteUserAttributes" => admin_delete_user_attributes(state, input).await,
        "AdminDeleteUser" => admin_delete_user(state, input).await,
        "AdminDisableUser" => set_enabled(state, input, false).await,
        "AdminEnableUser" => set_enabled(state, input, true).await,
        "AdminSetUserPassword" => admin_set_user_password(state, input).await,
        "AdminResetUserPassword" => admin_reset_user_password(state, input).await,
        "ListUsers" => list_users(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Temporary passwords stay valid this long when the pool sets no validity at all.
const DEFAULT_TEMP_PASSWORD_DAYS: u32 = 7;
const DAY_MS: i64 = 86_400_000;

const INVITE_SUBJECT: &str = "Your temporary password";
const INVITE_BODY: &str = "Your username is {username} and temporary password is {####}.";
const RESET_SUBJECT: &str = "Your password was reset";
const RESET_BODY: &str = "Your password was reset by an administrator. Use 'Forgot password' to choose a new one.";

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Finds a user by the name a client sent: the username itself, or an alias (email, phone
/// number, preferred username) the pool signs users in with.
pub(super) async fn find_user(state: &AppState, pool: &UserPool, username: &str) -> Result<User, CognitoError> {
    crate::services::users::find(state, pool, username).await?.ok_or_else(CognitoError::user_not_found)
}

/// Maps the store errors a user write can expect to Cognito's exceptions. Creating a user
/// whose email (or phone) is the pool's sign-in name collides on the username; an update
/// that would take another user's email collides on an alias, as in Cognito.
/// Cognito's exception for a write of a user of a pool with `settings` (`creating`: a new
/// user, whose email or phone number may be their username).
pub(super) fn write_error(settings: &PoolSettings, e: impl Into<UserWriteError>, creating: bool) -> CognitoError {
    match e.into() {
        UserWriteError::Taken(Taken::Username) => {
            CognitoError::new("UsernameExistsException", "User account already exists")
        }
        UserWriteError::Taken(Taken::Email) if creating && settings.email_is_username() => {
            CognitoError::new("UsernameExistsException", "An account with the given email already exists.")
        }
        UserWriteError::Taken(Taken::PhoneNumber) if creating && settings.phone_is_username() => {
            CognitoError::new("UsernameExistsException", "An account with the given phone_number already exists.")
        }
        UserWriteError::Taken(Taken::Email) => {
            CognitoError::new("AliasExistsException", "An account with the given email already exists.")
        }
        UserWriteError::Taken(Taken::PhoneNumber) => {
            CognitoError::new("AliasExistsException", "An account with the given phone number already exists.")
        }
        UserWriteError::Taken(Taken::PreferredUsername) => {
            CognitoError::new("AliasExistsException", "An account with the given preferred_username already exists.")
        }
        UserWriteError::NotFound => CognitoError::user_not_found(),
        UserWriteError::Store(e) => e.into(),
    }
}

pub(super) async fn save(state: &AppState, pool: &UserPool, user: &User) -> Result<(), CognitoError> {
    users::save(state, pool, user).await.map_err(|e| write_error(&pool.settings, e, false))
}

pub(super) fn attribute_error(e: AttributeError) -> CognitoError {
    CognitoError::invalid(e.to_string())
}

pub(super) fn invalid_password(message: String) -> CognitoError {
    CognitoError::new("InvalidPasswordException", message)
}

/// Sets a user's password (its hash and SRP verifier).
pub(super) async fn set_password(state: &AppState, user: &mut User, password: &str) -> Result<(), CognitoError> {
    crate::services::users::set_password(state, user, password).await.map_err(CognitoError::internal)
}

/// When a temporary password issued now stops working.
fn temp_password_expiry(state: &AppState, settings: &PoolSettings) -> i64 {
    let policy_days = settings.policies.password_policy.temporary_password_validity_days;
    let days = if policy_days > 0 {
        policy_days
    } else {
        settings
            .admin_create_user_config
            .unused_account_validity_days
            .filter(|d| *d > 0)
            .unwrap_or(DEFAULT_TEMP_PASSWORD_DAYS)
    };
    state.clock.now_millis() + i64::from(days) * DAY_MS
}

pub(super) use users::stored_name;

pub(super) fn missing(member: &str) -> CognitoError {
    CognitoError::invalid(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserRef {
    user_pool_id: String,
    username: String,
}

async fn load_user(state: &AppState, input: Value) -> Result<(UserPool, User), CognitoError> {
    let req: UserRef = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let user = find_user(state, &pool, &req.username).await?;
    Ok((pool, user))
}

// ---------------------------------------------------------------------------------------
// AdminCreateUser
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserInput {
    user_pool_id: String,
    username: String,
    user_attributes: Option<Vec<AttributeInput>>,
    temporary_password: Option<String>,
    force_alias_creation: Option<bool>,
    message_action: Option<String>,
    desired_delivery_mediums: Option<Vec<String>>,
}

async fn admin_create_user(state: &AppState, input: Value) -> OpResult {
    let req: CreateUserInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let settings = &pool.settings;
    check_username(&req.username)?;
    let suppress = match req.message_action.as_deref() {
        None => false,
        Some("SUPPRESS") => true,
        Some("RESEND") => false,
        Some(other) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'messageAction' failed to satisfy constraint: \
                 Member must satisfy enum value set: [RESEND, SUPPRESS]"
            )));
        }
    };
    let mediums = req.desired_delivery_mediums.unwrap_or_else(|| vec!["SMS".to_owned()]);
    if let Some(bad) = mediums.iter().find(|m| *m != "SMS" && *m != "EMAIL") {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '[{bad}]' at 'desiredDeliveryMediums' failed to satisfy constraint: \
             Member must satisfy enum value set: [SMS, EMAIL]"
        )));
    }
    let policy = &settings.policies.password_policy;
    if let Some(pw) = &req.temporary_password {
        policy.check(pw).map_err(invalid_password)?;
    }
    let password = req.temporary_password.unwrap_or_else(|| policy.generate(state.rng.as_ref()));

    if req.message_action.as_deref() == Some("RESEND") {
        let mut user = find_user(state, &pool, &req.username).await?;
        if user.status != UserStatus::ForceChangePassword {
            return Err(CognitoError::new(
                "UnsupportedUserStateException",
                format!("Resend not possible. {} status is not FORCE_CHANGE_PASSWORD", req.username),
            ));
        }
        set_password(state, &mut user, &password).await?;
        user.temp_password_expires_at = Some(temp_password_expiry(state, settings));
        user.updated_at = state.clock.now_millis();
        save(state, &pool, &user).await?;
        send_invitation(state, &pool, &user, &req.username, &password, &mediums).await?;
        return Ok(json!({"User": user_type(&user, None)}));
    }

    let sub = generate_sub(state.rng.as_ref());
    let pairs = attribute_pairs(req.user_attributes.unwrap_or_default());
    refuse_tenant_attributes(state, &pool, pairs.iter().map(|(n, _)| n.as_str())).await?;
    let (username, attributes) = new_user_attributes(settings, &req.username, &sub, pairs)?;

    let now = state.clock.now_millis();
    let mut user = User {
        pool_id: pool.id.clone(),
        sub,
        username,
        status: UserStatus::ForceChangePassword,
        enabled: true,
        password_hash: None,
        temp_password_expires_at: Some(temp_password_expiry(state, settings)),
        attributes,
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    set_password(state, &mut user, &password).await?;
    let keys = user.keys(settings);
    let home = tenancy::home_for_new_user(state, &pool.id, None, false).await?;
    match tenancy::create_user(state, &mut user, &keys, home.as_ref()).await.map_err(UserWriteError::from) {
        Ok(()) => {}
        Err(UserWriteError::Taken(taken))
            if req.force_alias_creation == Some(true)
                && taken.alias().is_some_and(|alias| !settings.username_attributes.iter().any(|a| a == alias)) =>
        {
            users::release_alias(state, &pool, &user, taken).await.map_err(|e| write_error(settings, e, true))?;
            tenancy::create_user(state, &mut user, &keys, home.as_ref())
                .await
                .map_err(|e| write_error(settings, e, true))?;
        }
        Err(e) => return Err(write_error(settings, e, true)),
    }
    tracing::info!(pool = %pool.id, sub = %user.sub, "user created by an administrator");
    if !suppress {
        send_invitation(state, &pool, &user, &req.username, &password, &mediums).await?;
    }
    Ok(json!({"User": user_type(&user, None)}))
}

/// In a pool managed by the tenancy control plane, only `/v1` writes the tenant
/// attributes; the Cognito surface refuses them.
pub(super) async fn refuse_tenant_attributes<'a>(
    state: &AppState,
    pool: &UserPool,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), CognitoError> {
    match tenancy::reserved_write(state, &pool.id, names).await? {
        Some(name) => Err(CognitoError::invalid(format!(
            "{name} is managed by Cognate's tenancy API (/v1) in this user pool and cannot be written here."
        ))),
        None => Ok(()),
    }
}

/// Refuses usernames Cognito's pattern rejects (empty, too long, whitespace, controls).
pub(super) fn check_username(name: &str) -> Result<(), CognitoError> {
    if valid_username(name) { Ok(()) } else { Err(invalid_username()) }
}

/// Cognito's answer to a username its pattern refuses.
pub(super) fn invalid_username() -> CognitoError {
    CognitoError::invalid(
        "1 validation error detected: Value at 'username' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
    )
}

/// [`users::new_user_attributes`] with its refusal as Cognito's InvalidParameterException.
pub(super) fn new_user_attributes(
    settings: &PoolSettings,
    requested: &str,
    sub: &str,
    pairs: Vec<(String, String)>,
) -> Result<(String, BTreeMap<String, String>), CognitoError> {
    users::new_user_attributes(settings, requested, sub, pairs).map_err(CognitoError::invalid)
}

/// Queues the invitation (username and temporary password) on each requested medium the
/// user has a destination for, using the pool's InviteMessageTemplate when it sets one.
async fn send_invitation(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    login_name: &str,
    password: &str,
    mediums: &[String],
) -> Result<(), CognitoError> {
    let template = pool.settings.admin_create_user_config.extra.get("InviteMessageTemplate");
    let field = |key: &str| template.and_then(|t| t.get(key)).and_then(Value::as_str);
    let fill = |text: &str| text.replace("{username}", login_name).replace("{####}", password);
    for medium in mediums {
        let (attr, subject, body) = match medium.as_str() {
            "EMAIL" => {
                ("email", field("EmailSubject").unwrap_or(INVITE_SUBJECT), field("EmailMessage").unwrap_or(INVITE_BODY))
            }
            _ => ("phone_number", INVITE_SUBJECT, field("SMSMessage").unwrap_or(INVITE_BODY)),
        };
        if let Some(destination) = user.attributes.get(attr).filter(|d| !d.is_empty()) {
            let expiry = user.temp_password_expires_at;
            enqueue(state, pool, user, medium, destination, subject, &fill(body), expiry).await?;
        }
    }
    Ok(())
}

/// Queues a message to `user` (sealed at rest; see [`crate::outbox`]). `secret_expires_at`
/// is when the code or password in it stops working.
#[allow(clippy::too_many_arguments)] // one message's fields, named at each call
pub(super) async fn enqueue(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    medium: &str,
    destination: &str,
    subject: &str,
    body: &str,
    secret_expires_at: Option<i64>,
) -> Result<(), CognitoError> {
    crate::outbox::enqueue(
        state,
        crate::outbox::Outgoing {
            pool_id: &pool.id,
            username: &user.username,
            medium,
            destination,
            subject,
            body,
            secret_expires_at,
        },
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading and changing one user
// ---------------------------------------------------------------------------------------

async fn admin_get_user(state: &AppState, input: Value) -> OpResult {
    let (_, user) = load_user(state, input).await?;
    let mut out = json!({
        "Username": user.username,
        "UserAttributes": attribute_list(&user, None),
        "UserCreateDate": epoch(user.created_at),
        "UserLastModifiedDate": epoch(user.updated_at),
        "Enabled": user.enabled,
        "UserStatus": user.status.as_str(),
    });
    add_user_settings(state, &user, &mut out).await?;
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAttributesInput {
    user_pool_id: String,
    username: String,
    user_attributes: Option<Vec<AttributeInput>>,
}

async fn admin_update_user_attributes(state: &AppState, input: Value) -> OpResult {
    let req: UpdateAttributesInput = parse(input)?;
    let mut pairs = attribute_pairs(req.user_attributes.ok_or_else(|| missing("userAttributes"))?);
    if pairs.is_empty() {
        return Err(CognitoError::invalid("UserAttributes must contain at least one attribute."));
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    let schema = Schema::new(&pool.settings.schema);
    schema.check_writes(&mut pairs, false).map_err(attribute_error)?;
    refuse_tenant_attributes(state, &pool, pairs.iter().map(|(n, _)| n.as_str())).await?;
    let mut user = find_user(state, &pool, &req.username).await?;
    let in_request = |name: &str| pairs.iter().any(|(n, _)| n == name);
    for (contact, verified) in [("email", "email_verified"), ("phone_number", "phone_number_verified")] {
        let changed = pairs
            .iter()
            .rev()
            .find(|(n, _)| n == contact)
            .is_some_and(|(_, v)| user.attributes.get(contact) != Some(v));
        if changed && !in_request(verified) {
            user.attributes.insert(verified.to_owned(), "false".to_owned());
        }
    }
    for (name, value) in &pairs {
        user.attributes.insert(stored_name(name), value.clone());
    }
    schema.check_required(&user.attributes).map_err(attribute_error)?;
    user.updated_at = state.clock.now_millis();
    users::save_updated(state, &pool, &user).await.map_err(|e| write_error(&pool.settings, e, false))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteAttributesInput {
    user_pool_id: String,
    username: String,
    user_attribute_names: Option<Vec<String>>,
}

async fn admin_delete_user_attributes(state: &AppState, input: Value) -> OpResult {
    let req: DeleteAttributesInput = parse(input)?;
    let names = req.user_attribute_names.ok_or_else(|| missing("userAttributeNames"))?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let user = find_user(state, &pool, &req.username).await?;
    delete_attributes(state, &pool, user, &names).await
}

/// [`users::delete_attributes`] with its refusals as Cognito's exceptions.
pub(super) async fn delete_attributes(state: &AppState, pool: &UserPool, user: User, names: &[String]) -> OpResult {
    use users::DeleteAttributesError as E;
    users::delete_attributes(state, pool, user, names).await.map_err(|e| match e {
        E::Schema(e) => attribute_error(e),
        E::Reserved(name) => CognitoError::invalid(format!(
            "{name} is managed by Cognate's tenancy API (/v1) in this user pool and cannot be written here."
        )),
        E::SignInName(attr) => {
            CognitoError::invalid(format!("Cannot delete {attr}: users of this pool sign in with it."))
        }
        E::Write(e) => write_error(&pool.settings, e, false),
    })?;
    Ok(json!({}))
}

async fn admin_delete_user(state: &AppState, input: Value) -> OpResult {
    let (pool, user) = load_user(state, input).await?;
    users::delete(state, &user).await.map_err(|e| write_error(&pool.settings, e, false))?;
    Ok(json!({}))
}

/// Disabling signs the user out in the same transaction (as Cognito revokes on disable):
/// every token family is revoked and published on the feed, so re-enabling later brings no
/// old token back. The flag is written alone, so no concurrent update of the user (an
/// attribute change with their own token) can undo it.
async fn set_enabled(state: &AppState, input: Value, enabled: bool) -> OpResult {
    let (pool, user) = load_user(state, input).await?;
    users::set_enabled(state, &user, enabled).await.map_err(|e| write_error(&pool.settings, e, false))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetPasswordInput {
    user_pool_id: String,
    username: String,
    password: String,
    permanent: Option<bool>,
}

async fn admin_set_user_password(state: &AppState, input: Value) -> OpResult {
    let req: SetPasswordInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    pool.settings.policies.password_policy.check(&req.password).map_err(invalid_password)?;
    let mut user = find_user(state, &pool, &req.username).await?;
    set_password(state, &mut user, &req.password).await?;
    if req.permanent.unwrap_or(false) {
        user.status = UserStatus::Confirmed;
        user.temp_password_expires_at = None;
    } else {
        user.status = UserStatus::ForceChangePassword;
        user.temp_password_expires_at = Some(temp_password_expiry(state, &pool.settings));
    }
    save_signed_out(state, &pool, &mut user).await?;
    Ok(json!({}))
}

/// Saves a user whose password an administrator set or reset, ending every session of
/// theirs in the same transaction (published on the revocation feed).
pub(super) async fn save_signed_out(state: &AppState, pool: &UserPool, user: &mut User) -> Result<(), CognitoError> {
    users::save_signed_out(state, pool, user).await.map_err(|e| write_error(&pool.settings, e, false))
}

/// The user keeps their password hash but must choose a new password (via
/// ForgotPassword) before they can sign in again.
async fn admin_reset_user_password(state: &AppState, input: Value) -> OpResult {
    let (pool, mut user) = load_user(state, input).await?;
    user.status = UserStatus::ResetRequired;
    save_signed_out(state, &pool, &mut user).await?;
    if let Some(email) = user.attributes.get("email").filter(|e| !e.is_empty()) {
        enqueue(state, &pool, &user, "EMAIL", email, RESET_SUBJECT, RESET_BODY, None).await?;
    }
    Ok(json!({}))
}

// ---------------------------------------------------------------------------------------
// ListUsers
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersInput {
    user_pool_id: String,
    attributes_to_get: Option<Vec<String>>,
    limit: Option<i64>,
    pagination_token: Option<String>,
    filter: Option<String>,
}

async fn list_users(state: &AppState, input: Value) -> OpResult {
    let req: ListUsersInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let settings = &pool.settings;
    if let Some(names) = &req.attributes_to_get {
        let schema = Schema::new(&settings.schema);
        if let Some(unknown) = names.iter().find(|n| schema.get(n).is_none()) {
            return Err(CognitoError::invalid(format!("Invalid attributes given, {unknown} is not in the schema.")));
        }
    }
    let filter = match req.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(UserFilter::parse(f, settings).map_err(CognitoError::invalid)?),
    };
    let scope = format!("users:{}", pool.id);
    let page = page_request(req.limit, req.pagination_token.as_deref(), 60, 60, &scope)?;
    let rows = users::list(state, &pool, filter.as_ref(), &page).await?;
    let (rows, next) = finish_page(rows, &page, &scope, |u| username_key(settings, &u.username));
    let wanted: Option<Vec<String>> = req.attributes_to_get.map(|names| names.iter().map(|n| stored_name(n)).collect());
    let users: Vec<Value> = rows.iter().map(|u| user_type(u, wanted.as_deref())).collect();
    Ok(list_response("Users", users, "PaginationToken", next))
}

/// Adds Cognito's `UserMFASettingList` and `PreferredMfaSetting` to a GetUser or
/// AdminGetUser answer, when the user has them (Cognito leaves them out otherwise).
pub(super) async fn add_user_settings(state: &AppState, user: &User, out: &mut Value) -> Result<(), CognitoError> {
    if let Some(mfa) = crate::services::mfa::settings(state, user).await? {
        put_mfa_settings(&mfa, out);
    }
    Ok(())
}

/// Puts `UserMFASettingList` and `PreferredMfaSetting` of `mfa` in `out` when there are any
/// (GetUser, AdminGetUser, (Admin)GetUserAuthFactors).
pub(super) fn put_mfa_settings(mfa: &cognate_core::mfa::UserMfa, out: &mut Value) {
    let list = mfa.setting_list();
    if !list.is_empty() {
        out["UserMFASettingList"] = json!(list);
    }
    if let Some(preferred) = mfa.preferred_setting() {
        out["PreferredMfaSetting"] = json!(preferred);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_core::StoreError;

    fn pool_settings(username_attrs: &[&str], alias_attrs: &[&str]) -> PoolSettings {
        PoolSettings {
            username_attributes: username_attrs.iter().map(|s| (*s).to_owned()).collect(),
            alias_attributes: alias_attrs.iter().map(|s| (*s).to_owned()).collect(),
            ..PoolSettings::default()
        }
    }

    #[test]
    fn conflicts_map_to_cognito_exceptions() {
        let email_pool = pool_settings(&["email"], &[]);
        let alias_pool = pool_settings(&[], &["email"]);
        assert_eq!(write_error(&alias_pool, StoreError::Conflict("username"), true).kind, "UsernameExistsException");
        assert_eq!(write_error(&email_pool, StoreError::Conflict("email"), true).kind, "UsernameExistsException");
        assert_eq!(write_error(&email_pool, StoreError::Conflict("email"), false).kind, "AliasExistsException");
        assert_eq!(write_error(&alias_pool, StoreError::Conflict("email"), true).kind, "AliasExistsException");
        assert_eq!(write_error(&alias_pool, StoreError::NotFound("user"), false).kind, "UserNotFoundException");
    }
}
