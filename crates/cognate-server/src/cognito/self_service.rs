//! What end users do for themselves: sign up and confirm, recover a forgotten password,
//! and — holding an access token — read, change and delete their own account. Also
//! AdminConfirmSignUp, the administrator's way past a sign-up code.
//!
//! Codes and password recovery are the accounts service's ([`crate::services::accounts`]):
//! stored only as HMACs, delivered sealed through the outbox, never logged; this module
//! parses Cognito's input and shapes its answers.

use cognate_core::attributes::Schema;
use cognate_core::client::AppClient;
use cognate_core::pool::UserPool;
use cognate_core::token::{PURPOSE_SIGN_UP, PURPOSE_VERIFY_ATTRIBUTE};
use cognate_core::user::{User, UserStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{check_password, check_secret_hash, load_client, token_user};
use super::input::{AttributeInput, attribute_list, attribute_pairs, load_pool, parse};
use super::users::{
    attribute_error, find_user, invalid_password, invalid_username, missing, save, save_signed_out, set_password,
    stored_name, write_error,
};
use super::{CognitoError, OpResult, RequestContext};
use crate::AppState;
use crate::services::accounts::{
    self, Delivery, Destination, VERIFY_CODE_TTL_MS, check_code, delete_code, send_code, sign_up_destination,
    store_code, verify_binding,
};

pub(super) async fn call(state: &AppState, ctx: &RequestContext, op: &str, input: Value) -> OpResult {
    match op {
        "SignUp" => sign_up(state, input).await,
        "ConfirmSignUp" => confirm_sign_up(state, input).await,
        "ResendConfirmationCode" => resend_confirmation_code(state, input).await,
        "ForgotPassword" => forgot_password(state, input).await,
        "ConfirmForgotPassword" => confirm_forgot_password(state, ctx, input).await,
        "ChangePassword" => change_password(state, ctx, input).await,
        "GetUser" => get_user(state, input).await,
        "UpdateUserAttributes" => update_user_attributes(state, input).await,
        "DeleteUser" => delete_user(state, input).await,
        "DeleteUserAttributes" => delete_user_attributes(state, input).await,
        "AdminConfirmSignUp" => admin_confirm_sign_up(state, input).await,
        "VerifyUserAttribute" => verify_user_attribute(state, input).await,
        "GetUserAttributeVerificationCode" => get_user_attribute_verification_code(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

const UNAUTHORIZED_ATTRIBUTE: &str = "A client attempted to write unauthorized attribute";

fn not_authorized(message: &str) -> CognitoError {
    CognitoError::new("NotAuthorizedException", message.to_owned())
}

/// Cognito's `CodeDeliveryDetailsType`.
fn delivery_json(d: &Delivery) -> Value {
    json!({"Destination": d.destination, "DeliveryMedium": d.medium, "AttributeName": d.attribute})
}

// ---------------------------------------------------------------------------------------
// Shared lookups
// ---------------------------------------------------------------------------------------

async fn client_pool(state: &AppState, client: &AppClient) -> Result<UserPool, CognitoError> {
    Ok(crate::services::pools::get(state, &client.pool_id).await?)
}

/// The client, its pool and the user a client-authorised request names (`None` if no
/// such user: the caller decides how much to reveal). The SECRET_HASH may be computed
/// over the name sent, the stored username or the sub.
async fn named_user(
    state: &AppState,
    client_id: &str,
    secret_hash: Option<&str>,
    username: &str,
) -> Result<(AppClient, UserPool, Option<User>), CognitoError> {
    let client = load_client(state, client_id).await?;
    let pool = client_pool(state, &client).await?;
    let user = crate::services::users::find(state, &pool, username).await?;
    let mut names = vec![username];
    if let Some(u) = &user {
        names.extend([u.username.as_str(), u.sub.as_str()]);
    }
    check_secret_hash(state, &client, secret_hash, &names)?;
    Ok((client, pool, user))
}

/// Refuses attributes an end user may not write through `client` ([`users::user_writable`]).
fn check_user_writable<'a>(
    client: &AppClient,
    schema: &Schema<'_>,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), CognitoError> {
    if crate::services::users::user_writable(client, schema, names) {
        Ok(())
    } else {
        Err(not_authorized(UNAUTHORIZED_ATTRIBUTE))
    }
}

/// A plausible CodeDeliveryDetails for a user who does not exist (PreventUserExistenceErrors).
fn decoy_details(username: &str) -> Value {
    delivery_json(&accounts::decoy_delivery(username))
}

// ---------------------------------------------------------------------------------------
// SignUp and confirmation
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignUpInput {
    client_id: String,
    secret_hash: Option<String>,
    username: String,
    password: String,
    user_attributes: Option<Vec<AttributeInput>>,
}

async fn sign_up(state: &AppState, input: Value) -> OpResult {
    let req: SignUpInput = parse(input)?;
    let client = load_client(state, &req.client_id).await?;
    check_secret_hash(state, &client, req.secret_hash.as_deref(), &[&req.username])?;
    let pool = client_pool(state, &client).await?;
    let new = accounts::NewSignUp {
        pool: &pool,
        client: &client,
        username: &req.username,
        password: &req.password,
        attributes: attribute_pairs(req.user_attributes.unwrap_or_default()),
    };
    let signed_up = accounts::sign_up(state, new).await.map_err(|e| sign_up_error(&pool, e, true))?;
    let mut out = json!({"UserConfirmed": false, "UserSub": signed_up.user.sub});
    if let Some(delivery) = &signed_up.delivery {
        out["CodeDeliveryDetails"] = delivery_json(delivery);
    }
    Ok(out)
}

/// Cognito's exception for each way a sign-up or its confirmation refuses (`creating`: the
/// user is new, so a taken email or phone number may be a taken username).
fn sign_up_error(pool: &UserPool, e: accounts::SignUpError, creating: bool) -> CognitoError {
    use accounts::SignUpError as E;
    match e {
        E::NotPermitted => not_authorized("SignUp is not permitted for this user pool"),
        E::InvalidUsername => invalid_username(),
        E::NotWritable => not_authorized(UNAUTHORIZED_ATTRIBUTE),
        E::Reserved(name) => CognitoError::invalid(format!(
            "{name} is managed by Cognate's tenancy API (/v1) in this user pool and cannot be written here."
        )),
        E::Attributes(message) => CognitoError::invalid(message),
        E::PasswordPolicy(message) => invalid_password(message),
        E::Write(e) => write_error(&pool.settings, e, creating),
        E::NotUnconfirmed(status) => not_authorized(&format!("User cannot be confirmed. Current status is {status}")),
        E::Account(e) => e.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfirmSignUpInput {
    client_id: String,
    secret_hash: Option<String>,
    username: String,
    confirmation_code: String,
    force_alias_creation: Option<bool>,
}

async fn confirm_sign_up(state: &AppState, input: Value) -> OpResult {
    let req: ConfirmSignUpInput = parse(input)?;
    let (client, pool, user) = named_user(state, &req.client_id, req.secret_hash.as_deref(), &req.username).await?;
    let hide = accounts::hides_users(&client);
    let force = req.force_alias_creation == Some(true);
    accounts::confirm_sign_up(state, &pool, hide, user, &req.confirmation_code, force)
        .await
        .map_err(|e| sign_up_error(&pool, e, false))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientUserInput {
    client_id: String,
    secret_hash: Option<String>,
    username: String,
}

async fn resend_confirmation_code(state: &AppState, input: Value) -> OpResult {
    let req: ClientUserInput = parse(input)?;
    let (client, pool, user) = named_user(state, &req.client_id, req.secret_hash.as_deref(), &req.username).await?;
    let Some(user) = user else {
        if accounts::hides_users(&client) {
            return Ok(json!({"CodeDeliveryDetails": decoy_details(&req.username)}));
        }
        return Err(CognitoError::user_not_found());
    };
    if user.status != UserStatus::Unconfirmed {
        return Err(CognitoError::invalid("User is already confirmed."));
    }
    let to = sign_up_destination(&pool.settings, &user).ok_or_else(|| {
        CognitoError::invalid(
            "Cannot resend the code: the user has no email or phone_number the user pool verifies \
             (AutoVerifiedAttributes).",
        )
    })?;
    let code = store_code(state, &user, PURPOSE_SIGN_UP, PURPOSE_SIGN_UP, VERIFY_CODE_TTL_MS).await?;
    send_code(state, &pool, &user, &to, &code).await?;
    Ok(json!({"CodeDeliveryDetails": delivery_json(&to.delivery())}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminConfirmInput {
    user_pool_id: String,
    username: String,
}

async fn admin_confirm_sign_up(state: &AppState, input: Value) -> OpResult {
    let req: AdminConfirmInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let mut user = find_user(state, &pool, &req.username).await?;
    if user.status != UserStatus::Unconfirmed {
        return Err(not_authorized(&format!("User cannot be confirmed. Current status is {}", user.status)));
    }
    user.status = UserStatus::Confirmed;
    user.updated_at = state.clock.now_millis();
    save(state, &pool, &user).await?;
    delete_code(state, &user, PURPOSE_SIGN_UP).await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, "sign-up confirmed by an administrator");
    Ok(json!({}))
}

// ---------------------------------------------------------------------------------------
// Forgotten passwords
// ---------------------------------------------------------------------------------------

/// ForgotPassword ([`accounts::forgot_password`]).
async fn forgot_password(state: &AppState, input: Value) -> OpResult {
    let req: ClientUserInput = parse(input)?;
    let (client, pool, user) = named_user(state, &req.client_id, req.secret_hash.as_deref(), &req.username).await?;
    let hide = accounts::hides_users(&client);
    let delivery = accounts::forgot_password(state, &pool, hide, user.as_ref(), &req.username).await?;
    Ok(json!({"CodeDeliveryDetails": delivery_json(&delivery)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfirmForgotInput {
    client_id: String,
    secret_hash: Option<String>,
    username: String,
    confirmation_code: String,
    password: String,
}

/// ConfirmForgotPassword ([`accounts::confirm_forgot_password`]).
async fn confirm_forgot_password(state: &AppState, ctx: &RequestContext, input: Value) -> OpResult {
    let req: ConfirmForgotInput = parse(input)?;
    let (client, pool, user) = named_user(state, &req.client_id, req.secret_hash.as_deref(), &req.username).await?;
    let hide = accounts::hides_users(&client);
    let reset = accounts::PasswordReset {
        pool: &pool,
        hide,
        user,
        username: &req.username,
        code: &req.confirmation_code,
        password: &req.password,
    };
    accounts::confirm_forgot_password(state, ctx.attempt(), reset).await?;
    Ok(json!({}))
}

// ---------------------------------------------------------------------------------------
// Access-token operations
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessTokenInput {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangePasswordInput {
    access_token: String,
    previous_password: Option<String>,
    proposed_password: String,
}

async fn change_password(state: &AppState, ctx: &RequestContext, input: Value) -> OpResult {
    let req: ChangePasswordInput = parse(input)?;
    let (pool, mut user, claims) = token_user(state, &req.access_token).await?;
    pool.settings.policies.password_policy.check(&req.proposed_password).map_err(invalid_password)?;
    let previous = req.previous_password.ok_or_else(|| missing("previousPassword"))?;
    // The same failure counting as sign-in, so a stolen access token cannot be used to
    // guess the password faster than InitiateAuth allows.
    check_password(state, ctx, &pool, &user, previous).await?;
    set_password(state, &mut user, &req.proposed_password).await?;
    // A changed password ends every session, this one included (the token contract), in the
    // same transaction, and the revocation feed says so.
    save_signed_out(state, &pool, &mut user).await?;
    crate::services::analytics::active_with_token(state, &claims, &user);
    tracing::info!(pool = %pool.id, sub = %user.sub, "password changed by the user");
    Ok(json!({}))
}

async fn get_user(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input)?;
    let (_, user, _) = token_user(state, &req.access_token).await?;
    let mut out = json!({"Username": user.username, "UserAttributes": attribute_list(&user, None)});
    super::users::add_user_settings(state, &user, &mut out).await?;
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAttributesInput {
    access_token: String,
    user_attributes: Option<Vec<AttributeInput>>,
}

async fn update_user_attributes(state: &AppState, input: Value) -> OpResult {
    let req: UpdateAttributesInput = parse(input)?;
    let mut pairs = attribute_pairs(req.user_attributes.ok_or_else(|| missing("userAttributes"))?);
    let (pool, mut user, claims) = token_user(state, &req.access_token).await?;
    let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default();
    let client = load_client(state, client_id).await?;
    let schema = Schema::new(&pool.settings.schema);
    check_user_writable(&client, &schema, pairs.iter().map(|(n, _)| n.as_str()))?;
    schema.check_writes(&mut pairs, false).map_err(attribute_error)?;

    let before = user.attributes.clone();
    for (name, value) in &pairs {
        user.attributes.insert(stored_name(name), value.clone());
    }
    schema.check_required(&user.attributes).map_err(attribute_error)?;
    let changed = |attr: &str| user.attributes.get(attr) != before.get(attr);
    let (email_changed, phone_changed) = (changed("email"), changed("phone_number"));
    if email_changed {
        user.attributes.insert("email_verified".to_owned(), "false".to_owned());
    }
    if phone_changed {
        user.attributes.insert("phone_number_verified".to_owned(), "false".to_owned());
    }
    user.updated_at = state.clock.now_millis();
    save(state, &pool, &user).await?;
    crate::services::analytics::active_with_token(state, &claims, &user);

    // One verification code can be outstanding per user: a new email gets it (always; unlike
    // SignUp, which follows AutoVerifiedAttributes as Cognito does, so that a changed email
    // can always be verified); a new phone number only when the pool auto-verifies phone
    // numbers.
    let auto_phone = pool.settings.auto_verified_attributes.iter().any(|a| a == "phone_number");
    let target = if email_changed {
        Destination::of(&user, "email")
    } else if phone_changed && auto_phone {
        Destination::of(&user, "phone_number")
    } else {
        None
    };
    let mut deliveries = Vec::new();
    if let Some(to) = target {
        let binding = verify_binding(to.attribute, &to.address);
        let code = store_code(state, &user, PURPOSE_VERIFY_ATTRIBUTE, &binding, VERIFY_CODE_TTL_MS).await?;
        send_code(state, &pool, &user, &to, &code).await?;
        deliveries.push(delivery_json(&to.delivery()));
    }
    Ok(json!({"CodeDeliveryDetailsList": deliveries}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeCodeInput {
    access_token: String,
    attribute_name: String,
}

async fn get_user_attribute_verification_code(state: &AppState, input: Value) -> OpResult {
    let req: AttributeCodeInput = parse(input)?;
    let (pool, user, _) = token_user(state, &req.access_token).await?;
    let to = verifiable(&user, &req.attribute_name)?;
    let binding = verify_binding(to.attribute, &to.address);
    let code = store_code(state, &user, PURPOSE_VERIFY_ATTRIBUTE, &binding, VERIFY_CODE_TTL_MS).await?;
    send_code(state, &pool, &user, &to, &code).await?;
    Ok(json!({"CodeDeliveryDetails": delivery_json(&to.delivery())}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyAttributeInput {
    access_token: String,
    attribute_name: String,
    code: String,
}

async fn verify_user_attribute(state: &AppState, input: Value) -> OpResult {
    let req: VerifyAttributeInput = parse(input)?;
    let (pool, mut user, _) = token_user(state, &req.access_token).await?;
    let to = verifiable(&user, &req.attribute_name)?;
    let binding = verify_binding(to.attribute, &to.address);
    check_code(state, &user, PURPOSE_VERIFY_ATTRIBUTE, &binding, &req.code).await?;
    user.attributes.insert(format!("{}_verified", to.attribute), "true".to_owned());
    user.updated_at = state.clock.now_millis();
    save(state, &pool, &user).await?;
    delete_code(state, &user, PURPOSE_VERIFY_ATTRIBUTE).await?;
    Ok(json!({}))
}

/// The destination of an attribute a user asks to verify: `email` or `phone_number`,
/// and set.
fn verifiable(user: &User, attribute: &str) -> Result<Destination, CognitoError> {
    if attribute != "email" && attribute != "phone_number" {
        return Err(CognitoError::invalid(format!("Invalid attribute name: {attribute} cannot be verified.")));
    }
    Destination::of(user, attribute)
        .ok_or_else(|| CognitoError::invalid(format!("The user has no {attribute} to verify.")))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteAttributesInput {
    access_token: String,
    user_attribute_names: Option<Vec<String>>,
}

/// DeleteUserAttributes: AdminDeleteUserAttributes' rules
/// ([`crate::services::users::delete_attributes`]) for attributes the caller's client may
/// write, as UpdateUserAttributes checks them.
async fn delete_user_attributes(state: &AppState, input: Value) -> OpResult {
    let req: DeleteAttributesInput = parse(input)?;
    let names = req.user_attribute_names.ok_or_else(|| missing("userAttributeNames"))?;
    let (pool, user, claims) = token_user(state, &req.access_token).await?;
    let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default();
    let client = load_client(state, client_id).await?;
    check_user_writable(&client, &Schema::new(&pool.settings.schema), names.iter().map(String::as_str))?;
    super::users::delete_attributes(state, &pool, user, &names).await
}

async fn delete_user(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input)?;
    let (pool, user, _) = token_user(state, &req.access_token).await?;
    crate::services::users::delete(state, &user).await.map_err(|e| write_error(&pool.settings, e, false))?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_users_cannot_write_tenancy_or_verification_attributes() {
        let attrs = cognate_core::attributes::standard_schema();
        let schema = Schema::new(&attrs);
        let open = AppClient {
            pool_id: cognate_core::ids::PoolId::parse("local_abc123").unwrap_or_else(|| panic!("pool id")),
            id: cognate_core::ids::ClientId::parse("abcdefghijklmnopqrstuvwxyz").unwrap_or_else(|| panic!("client id")),
            name: "app".into(),
            secret_sealed: None,
            secrets: Vec::new(),
            secrets_version: 0,
            settings: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(check_user_writable(&open, &schema, ["given_name", "email"]).is_ok());
        for refused in ["custom:tenantId", "custom:tenantRole", "email_verified", "dev:custom:x"] {
            assert!(check_user_writable(&open, &schema, [refused]).is_err(), "{refused}");
        }
        let mut limited = open.clone();
        limited.settings.write_attributes = vec!["given_name".into()];
        assert!(check_user_writable(&limited, &schema, ["given_name"]).is_ok());
        assert!(check_user_writable(&limited, &schema, ["given_name", "email"]).is_err());
    }
}
