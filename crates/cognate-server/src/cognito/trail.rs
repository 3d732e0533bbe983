//! The Cognito surface's entries in the audit trail: every authentication attempt (sign-in,
//! challenge answers, refresh, sign-up and password flows), every revocation and sign-out,
//! and every admin mutation (the signed operations that change something). One event per
//! operation call, in the chain of the tenant concerned: the session's tenant for a
//! successful sign-in, otherwise the user's home tenant, the pool's (dedicated pools), or
//! the platform chain. Inputs are never copied: passwords, codes and tokens stay out; the
//! target is the username or pool named by the call.

use serde_json::Value;

use super::input::load_pool;
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::audit::{Actor, Entry, Origin};
use crate::tenancy::{self, Placement};

/// The audit action of a recorded operation (which operations are recorded is the
/// operation table's to say: [`super::operations`]).
fn action(op: &str, input: &Value) -> String {
    let flow = input.get("AuthFlow").and_then(Value::as_str).unwrap_or_default();
    match op {
        "InitiateAuth" | "AdminInitiateAuth" if flow.starts_with("REFRESH_TOKEN") => "auth.refresh".into(),
        "InitiateAuth" | "AdminInitiateAuth" => "auth.sign_in".into(),
        "RespondToAuthChallenge" | "AdminRespondToAuthChallenge" => "auth.challenge".into(),
        "GetTokensFromRefreshToken" => "auth.refresh".into(),
        "RevokeToken" => "token.revoke".into(),
        "GlobalSignOut" | "AdminUserGlobalSignOut" => "auth.sign_out".into(),
        "SignUp" => "user.sign_up".into(),
        "ConfirmSignUp" | "AdminConfirmSignUp" => "user.confirm".into(),
        "ForgotPassword" | "ConfirmForgotPassword" | "ChangePassword" => format!("auth.{}", snake(op)),
        "AssociateSoftwareToken" | "VerifySoftwareToken" | "SetUserMFAPreference" => format!("mfa.{}", snake(op)),
        "UpdateUserAttributes" | "DeleteUser" | "VerifyUserAttribute" => format!("user.{}", snake(op)),
        _ => format!("admin.{}", snake(op)),
    }
}

/// `AdminCreateUser` -> `admin_create_user`.
fn snake(op: &str) -> String {
    let mut out = String::with_capacity(op.len() + 4);
    for (i, c) in op.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out.replace("m_f_a", "mfa")
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str)
}

/// The claims of a token this server just issued (read, not verified: it is ours).
fn issued_claims(result: &Value) -> Option<serde_json::Map<String, Value>> {
    let token = text(result, &["AuthenticationResult", "AccessToken"])?;
    cognate_core::jwt::decode(token).ok().and_then(|t| t.claims.as_object().cloned())
}

/// Records one Cognito operation call.
pub(super) async fn record(
    state: &AppState,
    origin: &Origin,
    admin_key: Option<&str>,
    op: &str,
    input: &Value,
    result: &OpResult,
) {
    let action = action(op, input);
    let username = text(input, &["AuthParameters", "USERNAME"])
        .or_else(|| text(input, &["ChallengeResponses", "USERNAME"]))
        .or_else(|| text(input, &["Username"]));
    let claims = result.as_ref().ok().and_then(issued_claims);
    let (mut tenant, mut pool, mut sub) = match &claims {
        Some(c) => (
            c.get("custom:tenantId").and_then(Value::as_str).map(str::to_owned),
            c.get("iss").and_then(Value::as_str).and_then(|i| i.rsplit('/').next()).map(str::to_owned),
            c.get("sub").and_then(Value::as_str).map(str::to_owned),
        ),
        None => (None, None, None),
    };
    // Calls that carry a token: the refresh token's family, or the access token's claims.
    if claims.is_none() {
        session_of(state, input, result.is_ok(), &mut tenant, &mut pool, &mut sub).await;
    }
    if claims.is_none()
        && tenant.is_none()
        && let Err(e) = locate(state, input, username, &mut tenant, &mut pool, &mut sub).await
    {
        tracing::debug!(error = e.kind, op, "audit: could not place the event in a tenant chain");
    }
    let actor = match (admin_key, &sub) {
        (Some(key), _) => Actor::Admin(key.to_owned()),
        (None, Some(sub)) if result.is_ok() => Actor::User(sub.clone()),
        _ => Actor::Anonymous,
    };
    let target = username.map(str::to_owned).or_else(|| sub.clone()).or_else(|| pool.clone());
    let reason = result.as_ref().err().map(|e: &CognitoError| e.kind.to_string());
    state.audit.record(
        state,
        Entry {
            tenant: tenant.as_deref(),
            pool_id: pool.as_deref(),
            actor: &actor,
            action: &action,
            target: target.as_deref(),
            success: result.is_ok(),
            reason: reason.as_deref(),
            origin,
        },
    );
}

/// The session a token in the input belongs to: a refresh token's family (its tenant and
/// user), or, when the operation accepted it (`verified`), an access token's claims.
async fn session_of(
    state: &AppState,
    input: &Value,
    verified: bool,
    tenant: &mut Option<String>,
    pool_id: &mut Option<String>,
    sub: &mut Option<String>,
) {
    // A challenge session (MFA_SETUP's AssociateSoftwareToken / VerifySoftwareToken, a
    // challenge answer) is sealed by this server: it names the user and tenant for certain.
    if let Some(sealed) = text(input, &["Session"])
        && let Ok(session) = crate::services::sign_in::Session::open(state, sealed)
    {
        *tenant = session.tenant.clone();
        if tenant.is_none()
            && let Some(pool) = cognate_core::ids::PoolId::parse(&session.pool)
            && let Ok(Some(user)) = state.store.get_user_by_sub(&pool, &session.sub).await
        {
            *tenant = user.attributes.get(tenancy::TENANT_ID_ATTR).cloned();
        }
        *pool_id = Some(session.pool);
        *sub = Some(session.sub);
        return;
    }
    let refresh = text(input, &["Token"])
        .or_else(|| text(input, &["RefreshToken"]))
        .or_else(|| text(input, &["AuthParameters", "REFRESH_TOKEN"]));
    if let Some(token) = refresh.filter(|t| !t.contains('.')) {
        let hash = cognate_core::token::refresh_token_hash(token);
        if let Ok(Some((_, family))) = state.store.get_refresh_token(&hash).await {
            *tenant = family.tenant_id.map(|t| t.to_string());
            *pool_id = Some(family.pool_id.to_string());
            *sub = Some(family.sub);
        }
        return;
    }
    // An access token's claims count only when the operation accepted the token: a refused
    // (possibly forged) token must not place events in a tenant's chain.
    let access = text(input, &["AccessToken"]).or_else(|| text(input, &["Token"])).filter(|_| verified);
    if let Some(claims) = access.and_then(|t| cognate_core::jwt::decode(t).ok()) {
        let c = &claims.claims;
        *tenant = text(c, &["custom:tenantId"]).map(str::to_owned);
        *pool_id = text(c, &["iss"]).and_then(|i| i.rsplit('/').next()).map(str::to_owned);
        *sub = text(c, &["sub"]).map(str::to_owned);
    }
}

/// Finds the pool, user and tenant a call concerns from its input (failed sign-ins,
/// admin operations): the pool from `UserPoolId` or the client, the user by name.
async fn locate(
    state: &AppState,
    input: &Value,
    username: Option<&str>,
    tenant: &mut Option<String>,
    pool_id: &mut Option<String>,
    sub: &mut Option<String>,
) -> Result<(), CognitoError> {
    let pool = match (text(input, &["UserPoolId"]), text(input, &["ClientId"])) {
        (Some(id), _) => Some(load_pool(state, id).await?),
        (None, Some(client)) => match cognate_core::ids::ClientId::parse(client) {
            Some(id) => match state.store.find_client(&id).await? {
                Some(c) => state.store.get_pool(&c.pool_id).await?,
                None => None,
            },
            None => None,
        },
        (None, None) => None,
    };
    let Some(pool) = pool else { return Ok(()) };
    *pool_id = Some(pool.id.to_string());
    let placement = tenancy::placement(state, &pool.id).await?;
    if let Some(Placement::Dedicated(t)) = &placement {
        *tenant = Some(t.id.to_string());
    }
    if let Some(name) = username
        && let Ok(user) = super::users::find_user(state, &pool, name).await
    {
        *sub = Some(user.sub.clone());
        if placement.is_some()
            && tenant.is_none()
            && let Some(home) = user.attributes.get(tenancy::TENANT_ID_ATTR)
        {
            *tenant = Some(home.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_map_to_actions() {
        assert_eq!(action("InitiateAuth", &json!({"AuthFlow": "USER_PASSWORD_AUTH"})), "auth.sign_in");
        assert_eq!(action("InitiateAuth", &json!({"AuthFlow": "REFRESH_TOKEN_AUTH"})), "auth.refresh");
        assert_eq!(action("AdminCreateUser", &json!({})), "admin.admin_create_user");
        assert_eq!(action("CreateUserPool", &json!({})), "admin.create_user_pool");
        assert_eq!(action("SetUserMFAPreference", &json!({})), "mfa.set_user_mfa_preference");
        assert_eq!(action("AdminDeleteUser", &json!({})), "admin.admin_delete_user");
    }
}
