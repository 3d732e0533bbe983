//! Errors of the Cognito surface, rendered as `{"__type": "<Exception>", "message": "…"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cognate_core::StoreError;
use serde_json::json;

/// A Cognito exception: its name, HTTP status and message. Server faults keep their cause
/// for the log and show clients only a generic message.
#[derive(Debug)]
pub struct CognitoError {
    pub kind: &'static str,
    pub status: StatusCode,
    pub message: String,
    /// Internal detail, logged and never sent.
    pub cause: Option<String>,
    /// Seconds for a `Retry-After` header (throttling).
    pub retry_after: Option<u64>,
}

impl CognitoError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, status: StatusCode::BAD_REQUEST, message: message.into(), cause: None, retry_after: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    pub fn user_not_found() -> Self {
        Self::new("UserNotFoundException", "User does not exist.")
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            kind: "InternalErrorException",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "An internal error occurred.".into(),
            cause: Some(cause.to_string()),
            retry_after: None,
        }
    }

    /// `TooManyRequestsException` with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new("TooManyRequestsException", message);
        e.retry_after = Some(retry_after_secs);
        e
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl From<StoreError> for CognitoError {
    /// Only faults reach here; callers turn the conflicts and misses they expect into
    /// specific exceptions first.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("version") => {
                Self::new("ConcurrentModificationException", "The resource was modified by another request; retry.")
            }
            StoreError::NotFound(what) => Self::not_found(format!("The {what} does not exist.")),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for CognitoError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(kind = self.kind, cause = %cause, "request failed");
        }
        let body = json!({"__type": self.kind, "message": self.message}).to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
        resp.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::services::sign_in::SignInError> for CognitoError {
    /// Cognito's exception for each way a sign-in step refuses.
    fn from(e: crate::services::sign_in::SignInError) -> Self {
        use crate::services::sign_in::SignInError as E;
        let not_authorized = |m: &str| Self::new("NotAuthorizedException", m.to_owned());
        match e {
            E::InvalidCredentials => not_authorized("Incorrect username or password."),
            E::UserNotFound => Self::user_not_found(),
            E::Locked => not_authorized("Password attempts exceeded"),
            E::AddressThrottled { retry_after_secs } => Self::too_many_requests(
                format!("Too many failed sign-in attempts from this address; retry in {retry_after_secs} s."),
                retry_after_secs,
            ),
            E::SecretHashMissing { client_id } => not_authorized(&format!(
                "Client {client_id} is configured with secret but SECRET_HASH was not received"
            )),
            E::SecretHashMismatch { client_id } => {
                not_authorized(&format!("Unable to verify secret hash for client {client_id}"))
            }
            E::Disabled => not_authorized("User is disabled."),
            E::NotConfirmed => Self::new("UserNotConfirmedException", "User is not confirmed."),
            E::ResetRequired => Self::new("PasswordResetRequiredException", "Password reset required for the user"),
            E::TemporaryPasswordExpired => {
                not_authorized("Temporary password has expired and must be reset by an administrator.")
            }
            E::InvalidSession => not_authorized("Invalid session for the user."),
            E::SessionExpired => not_authorized("Invalid session for the user, session is expired."),
            E::Missing(name) => Self::invalid(format!("Missing required parameter {name}")),
            E::PasswordPolicy(message) => Self::new("InvalidPasswordException", message),
            E::Attributes(message) => Self::invalid(message),
            E::ReservedAttribute(name) => Self::invalid(format!(
                "{name} is managed by Cognate's tenancy API (/v1) in this user pool and cannot be written here."
            )),
            E::SrpUnavailable => not_authorized(
                "This user has no SRP verifier yet: sign in once with USER_PASSWORD_AUTH (or set the password again) \
                 to enable USER_SRP_AUTH.",
            ),
            E::SrpInvalid => Self::invalid("SRP_A is not a valid SRP value."),
            E::SrpTimestamp => {
                Self::invalid("TIMESTAMP must be the current UTC time written as 'EEE MMM d HH:mm:ss UTC yyyy'.")
            }
            E::DeviceNotFound => Self::new("ResourceNotFoundException", "Device does not exist."),
            E::CodeMismatch => Self::new("CodeMismatchException", "Invalid code received for user"),
            E::CodeReused => Self::new("ExpiredCodeException", "Your software token has already been used once."),
            E::CodeExpired => Self::new("ExpiredCodeException", "Invalid code provided, please request a code again."),
            E::TooManyCodes => {
                Self::new("LimitExceededException", "Attempt limit exceeded, please try after some time.")
            }
            E::UnknownChallenge(name) => Self::invalid(format!(
                "{name} is not a challenge of choice-based sign-in; use PASSWORD, PASSWORD_SRP, EMAIL_OTP or WEB_AUTHN."
            )),
            E::ChallengeNotAvailable(name) => {
                Self::invalid(format!("{name} is not available for this sign-in (see AvailableChallenges)."))
            }
            E::InvalidAnswer(message) => Self::invalid(message),
            E::PasskeysUnconfigured => Self::new(
                "WebAuthnConfigurationMissingException",
                "The user pool has no passkey relying party: set WebAuthnConfiguration.RelyingPartyId \
                 (SetUserPoolMfaConfig) or give Cognate a public URL with a domain name.",
            ),
            E::Tenant(refusal) => super::auth::tenant_refusal(refusal),
            E::Token(rejection) => super::auth::rejection(rejection, "token"),
            E::Store(e) => e.into(),
            E::Fault(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::services::passkeys::PasskeyError> for CognitoError {
    /// Cognito's exception for each way a passkey call refuses.
    fn from(e: crate::services::passkeys::PasskeyError) -> Self {
        use crate::services::passkeys::PasskeyError as E;
        match e {
            E::NotEnabled => Self::new(
                "WebAuthnNotEnabledException",
                "Passkeys are not enabled for this user pool: add WEB_AUTHN to Policies.SignInPolicy.AllowedFirstAuthFactors.",
            ),
            E::ConfigurationMissing => Self::new(
                "WebAuthnConfigurationMissingException",
                "The user pool has no passkey relying party: set WebAuthnConfiguration.RelyingPartyId \
                 (SetUserPoolMfaConfig) or give Cognate a public URL with a domain name.",
            ),
            E::LimitExceeded => Self::new("LimitExceededException", "The user has the maximum number of passkeys."),
            E::ChallengeNotFound => Self::new(
                "WebAuthnChallengeNotFoundException",
                "No passkey registration is pending for this user, or it has expired: call StartWebAuthnRegistration.",
            ),
            E::ClientMismatch => Self::new(
                "WebAuthnClientMismatchException",
                "The access token is for another app client than the one that started the registration.",
            ),
            E::OriginNotAllowed => Self::new(
                "WebAuthnOriginNotAllowedException",
                "The passkey was created on an origin that the user pool's relying party does not allow.",
            ),
            E::RelyingPartyMismatch => Self::new(
                "WebAuthnRelyingPartyMismatchException",
                "The passkey is for another relying party than the user pool's.",
            ),
            E::NotSupported(reason) => {
                Self::new("WebAuthnCredentialNotSupportedException", format!("The passkey was refused: {reason}."))
            }
            E::Invalid(message) => Self::invalid(message),
            E::NotFound => Self::not_found("The passkey does not exist."),
            E::Store(e) => e.into(),
            E::Fault(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::services::accounts::AccountError> for CognitoError {
    /// Cognito's exception for each way an account step (codes, password recovery) refuses.
    fn from(e: crate::services::accounts::AccountError) -> Self {
        use crate::services::accounts::AccountError as E;
        match e {
            E::UserNotFound => Self::user_not_found(),
            E::Disabled => Self::new("NotAuthorizedException", "User is disabled."),
            E::AdminOnly => Self::new("NotAuthorizedException", "Contact administrator to reset password."),
            E::NoRecoveryDestination => Self::invalid(
                "Cannot reset password for the user as there is no registered/verified email or phone_number",
            ),
            E::CodeMismatch => {
                Self::new("CodeMismatchException", "Invalid verification code provided, please try again.")
            }
            E::CodeExpired => Self::new("ExpiredCodeException", "Invalid code provided, please request a code again."),
            E::AttemptsExceeded => {
                Self::new("LimitExceededException", "Attempt limit exceeded, please try after some time.")
            }
            E::PasswordPolicy(message) => Self::new("InvalidPasswordException", message),
            E::Store(e) => e.into(),
            E::Fault(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::services::tokens::RevokeError> for CognitoError {
    /// RevokeToken's exceptions.
    fn from(e: crate::services::tokens::RevokeError) -> Self {
        use crate::services::tokens::RevokeError as E;
        match e {
            E::NotEnabled => {
                Self::new("UnsupportedOperationException", "Token revocation is not enabled for this client.")
            }
            E::NotRefreshToken => Self::new("UnsupportedTokenTypeException", "Only refresh tokens can be revoked."),
            E::OtherClient => Self::new("UnauthorizedException", "The token was not issued to this client."),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::services::groups::GroupError> for CognitoError {
    /// Cognito's exception for each way a group operation refuses.
    fn from(e: crate::services::groups::GroupError) -> Self {
        use crate::services::groups::GroupError as E;
        match e {
            E::NotFound => Self::not_found("Group not found."),
            E::UserNotFound => Self::user_not_found(),
            E::Exists(name) => {
                Self::new("GroupExistsException", format!("A group with the name {name} already exists."))
            }
            E::Reserved(name) => Self::invalid(format!(
                "{name} mirrors a tenant role and is managed by Cognate's tenancy API (/v1); it cannot be changed here."
            )),
            E::ProviderGroup(name) => Self::invalid(format!(
                "{name} is reserved for the users of an identity provider: Cognate creates and fills it when they sign in."
            )),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::services::pools::PoolError> for CognitoError {
    /// Cognito's exception for each way a pool operation refuses.
    fn from(e: crate::services::pools::PoolError) -> Self {
        use crate::services::pools::PoolError as E;
        match e {
            E::NotFound(id) => Self::not_found(format!("User pool {id} does not exist.")),
            E::Managed(placement) => super::pools::managed_pool(&placement, "be deleted"),
            E::DeletionProtected => Self::invalid(
                "The user pool cannot be deleted because deletion protection is activated. \
                 Deletion protection must be inactivated first.",
            ),
            E::InvalidTags(message) => Self::invalid(message),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::services::mfa::MfaError> for CognitoError {
    /// Cognito's exception for each way an MFA change refuses.
    fn from(e: crate::services::mfa::MfaError) -> Self {
        use crate::services::mfa::MfaError as E;
        match e {
            E::SetupCannotReplace => crate::services::sign_in::SignInError::InvalidSession.into(),
            E::ReplaceNeedsMfa => Self::new(
                "NotAuthorizedException",
                "Replacing a software token needs a session that passed MFA: sign in with a code first.",
            ),
            E::NothingPending => Self::new(
                "SoftwareTokenMFANotFoundException",
                "No software token is being associated; call AssociateSoftwareToken first.",
            ),
            E::CodeMismatch => {
                Self::new("EnableSoftwareTokenMFAException", "Code mismatch and fail enable Software Token MFA")
            }
            E::NoToken => Self::invalid("User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA"),
            E::PreferredNotEnabled => Self::invalid("A preferred MFA method must be enabled."),
            E::SignIn(e) => e.into(),
            E::Store(e) => e.into(),
        }
    }
}
