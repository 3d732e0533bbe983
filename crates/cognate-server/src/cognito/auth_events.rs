//! Users' authentication histories: AdminListUserAuthEvents and
//! AdminUpdateAuthEventFeedback, and the events the trail recorder adds for sign-ins,
//! sign-ups and password changes ([`happened`]).

use cognate_core::auth_event::{AuthEvent, cursor};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{epoch, list_response, load_pool, page_request, parse};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::audit::Origin;
use crate::services::auth_events::{self, AuthEventError, Happened};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "AdminListUserAuthEvents" => list(state, input).await,
        "AdminUpdateAuthEventFeedback" => feedback(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

fn refused(e: AuthEventError, pool: &str) -> CognitoError {
    match e {
        AuthEventError::NotEnabled => CognitoError::new(
            "UserPoolAddOnNotEnabledException",
            format!("Threat protection (AdvancedSecurityMode AUDIT or ENFORCED) is not on for user pool {pool}."),
        ),
        AuthEventError::UserNotFound => CognitoError::new("UserNotFoundException", "User does not exist."),
        AuthEventError::EventNotFound(id) => CognitoError::not_found(format!("Auth event {id} does not exist.")),
        AuthEventError::Store(e) => e.into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    user_pool_id: String,
    username: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    if let Some(n) = req.max_results.filter(|n| !(0..=60).contains(n)) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: \
             Member must have value between 0 and 60"
        )));
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    // MaxResults 0 means "the default page", as in Cognito.
    let max = req.max_results.filter(|n| *n > 0);
    let scope = format!("auth-events:{}:{}", pool.id, req.username);
    let page = page_request(max, req.next_token.as_deref(), 60, 60, &scope)?;
    let rows = auth_events::list(state, &pool, &req.username, &page).await.map_err(|e| refused(e, pool.id.as_str()))?;
    let (rows, next) = super::input::finish_page(rows, &page, &scope, cursor);
    Ok(list_response("AuthEvents", rows.iter().map(event_type).collect(), "NextToken", next))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FeedbackInput {
    user_pool_id: String,
    username: String,
    event_id: String,
    feedback_value: String,
}

async fn feedback(state: &AppState, input: Value) -> OpResult {
    let req: FeedbackInput = parse(input)?;
    if req.feedback_value != "Valid" && req.feedback_value != "Invalid" {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{}' at 'feedbackValue' failed to satisfy constraint: \
             Member must satisfy enum value set: [Valid, Invalid]",
            req.feedback_value
        )));
    }
    let pool = load_pool(state, &req.user_pool_id).await?;
    auth_events::feedback(state, &pool, &req.username, &req.event_id, &req.feedback_value)
        .await
        .map_err(|e| refused(e, pool.id.as_str()))?;
    Ok(json!({}))
}

/// Cognito's `AuthEventType` (no `EventRisk`: Cognate rates no risk).
fn event_type(e: &AuthEvent) -> Value {
    let mut context = serde_json::Map::new();
    if let Some(ip) = &e.ip {
        context.insert("IpAddress".into(), json!(ip));
    }
    if let Some(device) = &e.device {
        context.insert("DeviceName".into(), json!(device));
    }
    let mut out = json!({
        "EventId": e.id,
        "EventType": e.kind,
        "CreationDate": epoch(e.at),
        "EventResponse": e.response,
        "ChallengeResponses": e.challenges,
        "EventContextData": context,
    });
    if let Some(f) = &e.feedback {
        out["EventFeedback"] = json!({"FeedbackValue": f.value, "Provider": f.provider, "FeedbackDate": epoch(f.at)});
    }
    out
}

/// The history event an operation call makes, if any: its type, response, the challenge it
/// answered, and where the call came from.
pub(super) fn happened<'a>(op: &str, input: &Value, result: &OpResult, origin: &'a Origin) -> Option<Happened<'a>> {
    let ok = result.is_ok();
    let pass = if ok { "Pass" } else { "Fail" };
    // A sign-in step that asked for another challenge is still in progress.
    let step = match result {
        Ok(out) if out.get("ChallengeName").is_some() => "InProgress",
        _ => pass,
    };
    let flow = input.get("AuthFlow").and_then(Value::as_str).unwrap_or_default();
    let challenge = input.get("ChallengeName").and_then(Value::as_str).unwrap_or_default();
    let (kind, response, challenge) = match op {
        "InitiateAuth" | "AdminInitiateAuth" if flow.starts_with("REFRESH_TOKEN") => return None,
        "InitiateAuth" | "AdminInitiateAuth" => {
            // SRP's first step proves nothing yet; its answer (PASSWORD_VERIFIER) does.
            let proves = !flow.contains("SRP") && flow != "USER_AUTH";
            ("SignIn", step, proves.then_some(("Password", ok)))
        }
        "RespondToAuthChallenge" | "AdminRespondToAuthChallenge" => {
            let name = match challenge {
                "SOFTWARE_TOKEN_MFA" | "SMS_MFA" | "EMAIL_OTP" | "MFA_SETUP" => "Mfa",
                _ => "Password",
            };
            ("SignIn", step, Some((name, ok)))
        }
        "SignUp" => ("SignUp", pass, None),
        "ForgotPassword" => ("ForgotPassword", pass, None),
        "ConfirmForgotPassword" | "ChangePassword" => ("PasswordChange", pass, None),
        _ => return None,
    };
    Some(Happened { kind, response, challenge, ip: origin.source_ip.as_deref(), device: origin.user_agent.as_deref() })
}
