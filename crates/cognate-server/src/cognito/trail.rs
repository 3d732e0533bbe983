//! The Cognito surface's entries in the audit trail: every authentication attempt (sign-in,
//! challenge answers, refresh, sign-up and password flows), every revocation and sign-out,
//! and every admin mutation (the signed operations that change something). One event per
//! operation call, in the chain of the tenant concerned: the session's tenant for a
//! successful sign-in, otherwise the user's home tenant, the pool's (dedicated pools), or
//! the platform chain. Inputs are never copied: passwords, codes and tokens stay out; the
//! target is the username named by the call, else the user or pool it concerned. Who and
//! where come from the facts the acting code noted ([`crate::facts`]): no token is decoded
//! and no answer read here.

use serde_json::Value;

use super::{CognitoError, OpResult};
use crate::AppState;
use crate::audit::{Actor, Entry, Origin};
use crate::facts::Facts;
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
        "RevokeUserSession" => "auth.revoke_user_session".into(),
        "GlobalSignOut" | "AdminUserGlobalSignOut" => "auth.sign_out".into(),
        "SignUp" => "user.sign_up".into(),
        "ConfirmSignUp" | "AdminConfirmSignUp" => "user.confirm".into(),
        "ForgotPassword" | "ConfirmForgotPassword" | "ChangePassword" => format!("auth.{}", snake(op)),
        "AssociateSoftwareToken" | "VerifySoftwareToken" | "SetUserMFAPreference" | "SetUserSettings" => {
            format!("mfa.{}", snake(op))
        }
        "UpdateUserAttributes" | "DeleteUser" | "DeleteUserAttributes" | "VerifyUserAttribute" => {
            format!("user.{}", snake(op))
        }
        "ConfirmDevice" | "UpdateDeviceStatus" | "ForgetDevice" => format!("device.{}", snake(op)),
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

/// Records one Cognito operation call from the request (the operation, the username it
/// names) and the facts its code noted (the pool, the user, the session's tenant).
pub(super) async fn record(
    state: &AppState,
    origin: &Origin,
    admin_key: Option<&str>,
    op: &str,
    input: &Value,
    result: &OpResult,
    facts: Facts,
) {
    let action = action(op, input);
    let username = text(input, &["AuthParameters", "USERNAME"])
        .or_else(|| text(input, &["ChallengeResponses", "USERNAME"]))
        .or_else(|| text(input, &["Username"]));
    let mut facts = facts;
    if facts.tenant.is_none() && (facts.pool.is_none() || facts.user.is_none() || !facts.home_known) {
        locate(state, input, username, &mut facts).await;
    }
    let tenant = match facts.tenant.clone() {
        Some(decided) => decided,
        None => chain_of(state, &facts).await,
    };
    let actor = match (admin_key, &facts.user) {
        (Some(key), _) => Actor::Admin(key.to_owned()),
        (None, Some(sub)) if result.is_ok() => Actor::User(sub.clone()),
        _ => Actor::Anonymous,
    };
    let target = username.map(str::to_owned).or_else(|| facts.user.clone()).or_else(|| facts.pool.clone());
    let reason = result.as_ref().err().map(|e: &CognitoError| e.kind.to_string());
    if let (Some(pool), Some(sub), Some(happened)) =
        (&facts.pool, &facts.user, super::auth_events::happened(op, input, result, origin))
    {
        crate::services::auth_events::record(state, pool, sub, happened).await;
    }
    state.audit.record(
        state,
        Entry {
            tenant: tenant.as_deref(),
            pool_id: facts.pool.as_deref(),
            actor: &actor,
            action: &action,
            target: target.as_deref(),
            success: result.is_ok(),
            reason: reason.as_deref(),
            origin,
        },
    );
}

/// Completes the facts of a call refused before its code noted them (a rate limit, an
/// invalid input, a name that is taken) from the ids the request names: the pool of
/// `UserPoolId` or `ClientId`, and the user the username or the noted sub is.
async fn locate(state: &AppState, input: &Value, username: Option<&str>, facts: &mut Facts) {
    use cognate_core::ids::{ClientId, PoolId};
    if facts.pool.is_none() {
        let pool = match (text(input, &["UserPoolId"]), text(input, &["ClientId"])) {
            (Some(id), _) => PoolId::parse(id),
            (None, Some(id)) => match ClientId::parse(id) {
                Some(id) => crate::services::clients::lookup(state, &id).await.ok().flatten().map(|c| c.pool_id),
                None => None,
            },
            (None, None) => None,
        };
        facts.pool = pool.map(|p| p.to_string());
    }
    let Some(pool) = facts.pool.as_deref().and_then(PoolId::parse) else { return };
    let user = match (&facts.user, username) {
        (Some(sub), _) if !facts.home_known => crate::services::users::by_sub(state, &pool, sub).await.ok().flatten(),
        (None, Some(name)) => match crate::services::pools::get(state, &pool).await {
            Ok(p) => crate::services::users::find(state, &p, name).await.ok().flatten(),
            Err(_) => None,
        },
        _ => None,
    };
    if let Some(user) = user {
        facts.user = Some(user.sub.clone());
        facts.home_tenant = user.attributes.get(tenancy::TENANT_ID_ATTR).cloned();
    }
}

/// The chain of a call that acted in no session: a dedicated pool's tenant, else the home
/// tenant of the user concerned; `None` (the platform chain) for pools outside tenancy and
/// calls that concern no one.
async fn chain_of(state: &AppState, facts: &Facts) -> Option<String> {
    let pool = facts.pool.as_deref().and_then(cognate_core::ids::PoolId::parse)?;
    match tenancy::placement(state, &pool).await {
        Ok(Some(Placement::Dedicated(t))) => Some(t.id.to_string()),
        Ok(Some(_)) => facts.home_tenant.clone(),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "audit: could not place the event in a tenant chain");
            facts.home_tenant.clone()
        }
    }
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
