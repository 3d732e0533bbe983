//! A user's authentication history (Cognito's `AuthEventType`): sign-ins, sign-ups,
//! password resets and changes, recorded for pools with threat protection on
//! (`UserPoolAddOns.AdvancedSecurityMode` `AUDIT` or `ENFORCED`), with the feedback an
//! administrator gives on each. Cognate assesses no risk, so events carry no risk rating.

use serde::{Deserialize, Serialize};

use crate::ids::PoolId;

/// One challenge of an event and how it was answered (`Password`/`Mfa`,
/// `Success`/`Failure`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChallengeResult {
    pub challenge_name: String,
    pub challenge_response: String,
}

/// Feedback on an event: `Valid` or `Invalid`, from whom, when (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub value: String,
    pub provider: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    pub pool_id: PoolId,
    pub sub: String,
    pub id: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// `SignIn`, `SignUp`, `ForgotPassword`, `PasswordChange`.
    pub kind: String,
    /// `Pass`, `Fail` or `InProgress`.
    pub response: String,
    pub challenges: Vec<ChallengeResult>,
    pub ip: Option<String>,
    /// The client's user agent, as Cognito's DeviceName.
    pub device: Option<String>,
    pub feedback: Option<Feedback>,
}

/// The page cursor of an event (newest first): `{at}:{id}`.
pub fn cursor(event: &AuthEvent) -> String {
    format!("{}:{}", event.at, event.id)
}

/// Reads a cursor made by [`cursor`].
pub fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, id.to_owned()))
}
