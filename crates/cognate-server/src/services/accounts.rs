//! What end users do for their own account without a session: the one-time codes of
//! sign-up, attribute verification and password recovery (where they go, how they are
//! stored, sent and checked), and the password recovery flow itself. The Cognito API
//! (ForgotPassword, ConfirmForgotPassword) calls it today; the hosted login pages will.
//!
//! Codes are 6 digits, stored only as HMACs bound to the user, the purpose and (for
//! attribute verification) the address ([`cognate_core::token::OneTimeCode`]); each gets
//! [`CODE_MAX_ATTEMPTS`] tries; they travel in sealed outbox messages. With
//! PreventUserExistenceErrors (`hide`), unknown, disabled and unreachable users are answered
//! exactly like real ones: the same decoy delivery, the same hourly cap, the same lock and
//! the same refusal for every wrong code.

use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::crypto::constant_time_eq;
use cognate_core::pool::{PoolSettings, UserPool};
use cognate_core::token::{self, CODE_MAX_ATTEMPTS, OneTimeCode, PURPOSE_FORGOT_PASSWORD, PURPOSE_VERIFY_ATTRIBUTE};
use cognate_core::user::{User, UserStatus};
use serde_json::Value;

use super::sign_in::{Attempt, Throttle, unknown_key};
use crate::AppState;

const HOUR_MS: i64 = 3_600_000;
/// Sign-up and attribute verification codes stay valid for 24 hours, as in Cognito.
pub const VERIFY_CODE_TTL_MS: i64 = 24 * HOUR_MS;
/// Password reset codes stay valid for one hour, as in Cognito.
pub const RESET_CODE_TTL_MS: i64 = HOUR_MS;
/// Password reset codes a user (or, when users are hidden, a username no user has) may be
/// sent per hour: each code gets [`CODE_MAX_ATTEMPTS`] tries, so without a cap a guesser
/// could ask for fresh codes forever.
pub const RESET_CODES_PER_HOUR: u32 = 5;

const CODE_SUBJECT: &str = "Your verification code";
const CODE_BODY: &str = "Your verification code is {####}.";

/// Why an account step refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No such user (said only when the client does not hide which users exist).
    #[error("no such user")]
    UserNotFound,
    #[error("user is disabled")]
    Disabled,
    /// The user has no email or phone number to recover with.
    #[error("no recovery destination")]
    NoRecoveryDestination,
    /// The pool's AccountRecoverySetting is `admin_only`: only an administrator resets
    /// passwords.
    #[error("password recovery is for administrators only")]
    AdminOnly,
    #[error("wrong code")]
    CodeMismatch,
    /// No pending code (never sent, used, replaced) or an expired one.
    #[error("code expired")]
    CodeExpired,
    /// Too many codes asked for, too many wrong tries, or the user is locked.
    #[error("attempt limit exceeded")]
    AttemptsExceeded,
    /// A new password the pool's policy refuses (the policy's message).
    #[error("password refused: {0}")]
    PasswordPolicy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Fault(String),
}

/// Whether the client hides which users exist (PreventUserExistenceErrors = ENABLED).
pub fn hides_users(client: &AppClient) -> bool {
    client.settings.prevent_user_existence_errors == "ENABLED"
}

// ---------------------------------------------------------------------------------------
// Destinations
// ---------------------------------------------------------------------------------------

/// Where a code goes: the attribute, its medium and the address.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub attribute: &'static str,
    pub medium: &'static str,
    pub address: String,
}

/// Where a code was sent, as a caller may be told: the address masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub destination: String,
    pub medium: &'static str,
    pub attribute: &'static str,
}

impl Destination {
    /// The user's `email` or `phone_number`, if set.
    pub fn of(user: &User, attribute: &str) -> Option<Self> {
        let (attribute, medium) = match attribute {
            "email" => ("email", "EMAIL"),
            "phone_number" => ("phone_number", "SMS"),
            _ => return None,
        };
        let address = user.attributes.get(attribute).filter(|a| !a.is_empty())?;
        Some(Self { attribute, medium, address: address.clone() })
    }

    /// The delivery as told to the caller, with the address masked.
    pub fn delivery(&self) -> Delivery {
        Delivery { destination: mask(self.medium, &self.address), medium: self.medium, attribute: self.attribute }
    }
}

/// Masks an address the way Cognito shows it: the first character of the local part and
/// of the domain, the rest hidden, the top-level domain too (`a***@e***` for
/// `ann@example.com`); a phone number shows its last four digits (`+*******0100`).
pub fn mask(medium: &str, address: &str) -> String {
    if medium == "EMAIL" {
        let Some((local, domain)) = address.split_once('@') else {
            return "***".to_owned();
        };
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***", first(local), first(domain))
    } else {
        let digits: Vec<char> = address.chars().filter(char::is_ascii_digit).collect();
        let shown = digits.len().saturating_sub(4);
        let tail: String = digits[shown..].iter().collect();
        format!("+{}{tail}", "*".repeat(shown))
    }
}

/// A plausible delivery for a user who does not exist, so that answers do not reveal it
/// (PreventUserExistenceErrors).
pub fn decoy_delivery(username: &str) -> Delivery {
    let address = if username.contains('@') { username.to_owned() } else { format!("{username}@example.com") };
    Destination { attribute: "email", medium: "EMAIL", address }.delivery()
}

/// Where a sign-up code goes, as in Cognito: only to a contact in the pool's
/// AutoVerifiedAttributes, the phone number first when both are (Cognito then verifies
/// only the phone number). `None` when the pool verifies no contact the user gave: no code
/// is sent and SignUp answers without CodeDeliveryDetails; an administrator confirms the
/// user (AdminConfirmSignUp).
pub fn sign_up_destination(settings: &PoolSettings, user: &User) -> Option<Destination> {
    let auto = |a: &str| settings.auto_verified_attributes.iter().any(|x| x == a);
    ["phone_number", "email"].iter().filter(|a| auto(a)).find_map(|a| Destination::of(user, a))
}

/// Where a password reset code goes: a verified email, else a verified phone number,
/// else whichever contact the user has (email first). Unverified contacts are accepted
/// so that users who signed up before verification was required can still recover.
pub fn recovery_destination(user: &User) -> Option<Destination> {
    let verified = |a: &str| user.attributes.get(&format!("{a}_verified")).is_some_and(|v| v == "true");
    ["email", "phone_number"]
        .iter()
        .filter(|a| verified(a))
        .chain(["email", "phone_number"].iter())
        .find_map(|a| Destination::of(user, a))
}

/// What a code's hash binds besides the user: the purpose, and for attribute
/// verification also the attribute and the value the code was sent to, so a code cannot
/// verify another attribute or an address changed since.
pub fn verify_binding(attribute: &str, value: &str) -> String {
    format!("{PURPOSE_VERIFY_ATTRIBUTE}:{attribute}:{value}")
}

// ---------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------

/// A code just issued, with when it stops working.
pub struct IssuedCode {
    pub code: String,
    pub expires_at: i64,
}

/// Stores a fresh code for `purpose` (replacing any earlier one) and returns it.
pub async fn store_code(
    state: &AppState,
    user: &User,
    purpose: &str,
    binding: &str,
    ttl_ms: i64,
) -> Result<IssuedCode, AccountError> {
    let code = token::new_code(state.rng.as_ref());
    let now = state.clock.now_millis();
    state
        .store
        .put_code(&OneTimeCode {
            pool_id: user.pool_id.clone(),
            sub: user.sub.clone(),
            purpose: purpose.to_owned(),
            code_hash: token::code_hash(&user.sub, binding, &code),
            expires_at: now + ttl_ms,
            attempts: 0,
            created_at: now,
        })
        .await?;
    Ok(IssuedCode { code, expires_at: now + ttl_ms })
}

/// Queues the verification message with `code` (sealed in the outbox until it expires),
/// using the pool's VerificationMessageTemplate (or the legacy Email/SmsVerification*
/// settings) when set.
pub async fn send_code(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    to: &Destination,
    issued: &IssuedCode,
) -> Result<(), AccountError> {
    let extra = &pool.settings.extra;
    let template = extra.get("VerificationMessageTemplate");
    let setting = |nested: &str, legacy: &str| {
        template.and_then(|t| t.get(nested)).or_else(|| extra.get(legacy)).and_then(Value::as_str)
    };
    let (subject, body) = if to.medium == "EMAIL" {
        (
            setting("EmailSubject", "EmailVerificationSubject").unwrap_or(CODE_SUBJECT),
            setting("EmailMessage", "EmailVerificationMessage"),
        )
    } else {
        (CODE_SUBJECT, setting("SmsMessage", "SmsVerificationMessage"))
    };
    let body = body.filter(|b| b.contains("{####}")).unwrap_or(CODE_BODY).replace("{####}", &issued.code);
    crate::outbox::enqueue(
        state,
        crate::outbox::Outgoing {
            pool_id: &pool.id,
            username: &user.username,
            medium: to.medium,
            destination: &to.address,
            subject,
            body: &body,
            secret_expires_at: Some(issued.expires_at),
        },
    )
    .await?;
    Ok(())
}

/// Checks a presented code. The attempt is counted before comparing so that parallel
/// guesses cannot exceed [`CODE_MAX_ATTEMPTS`]; the attempt after the last allowed one
/// voids the code. The caller deletes the code once it has acted on it.
pub async fn check_code(
    state: &AppState,
    user: &User,
    purpose: &str,
    binding: &str,
    presented: &str,
) -> Result<(), AccountError> {
    let (pool, sub) = (&user.pool_id, user.sub.as_str());
    let stored = state.store.get_code(pool, sub, purpose).await?.ok_or(AccountError::CodeExpired)?;
    if stored.expires_at <= state.clock.now_millis() {
        state.store.delete_code(pool, sub, purpose).await?;
        return Err(AccountError::CodeExpired);
    }
    let attempts = match state.store.count_code_attempt(pool, sub, purpose).await {
        Ok(n) => n,
        Err(StoreError::NotFound(_)) => return Err(AccountError::CodeExpired), // replaced or used meanwhile
        Err(e) => return Err(e.into()),
    };
    if attempts > CODE_MAX_ATTEMPTS {
        state.store.delete_code(pool, sub, purpose).await?;
        return Err(AccountError::AttemptsExceeded);
    }
    let expected = token::code_hash(sub, binding, presented);
    if !constant_time_eq(expected.as_bytes(), stored.code_hash.as_bytes()) {
        return Err(AccountError::CodeMismatch);
    }
    Ok(())
}

pub async fn delete_code(state: &AppState, user: &User, purpose: &str) -> Result<(), AccountError> {
    Ok(state.store.delete_code(&user.pool_id, &user.sub, purpose).await?)
}

// ---------------------------------------------------------------------------------------
// Password recovery
// ---------------------------------------------------------------------------------------

/// Counts one reset code sent for `who` (a sub, or an unknown name's key), refusing
/// beyond [`RESET_CODES_PER_HOUR`].
async fn admit_reset_code(state: &AppState, pool: &UserPool, who: &str) -> Result<(), AccountError> {
    let key = format!("reset-codes:{}:{who}", pool.id);
    state
        .rates
        .admit(&key, RESET_CODES_PER_HOUR, 3600, state.clock.now_millis())
        .await
        .map_err(|_| AccountError::AttemptsExceeded)
}

/// A forgotten password: sends a reset code to the user's recovery address. `user` is who
/// `username` names in `pool` (`None`: nobody). With `hide`, an unknown username, a
/// disabled user and a user without an address all get the same decoy delivery (no message
/// is sent), under the same hourly cap as a real user.
pub async fn forgot_password(
    state: &AppState,
    pool: &UserPool,
    hide: bool,
    user: Option<&User>,
    username: &str,
) -> Result<Delivery, AccountError> {
    // Before anything about the user, so that the answer is the same for every username.
    if pool.settings.admin_only_recovery() {
        return Err(AccountError::AdminOnly);
    }
    let destination = user.filter(|u| u.enabled).and_then(recovery_destination);
    let (Some(user), Some(to)) = (user, destination) else {
        if hide {
            admit_reset_code(state, pool, &unknown_key(pool, username)).await?;
            return Ok(decoy_delivery(username));
        }
        return Err(match user {
            None => AccountError::UserNotFound,
            Some(u) if !u.enabled => AccountError::Disabled,
            Some(_) => AccountError::NoRecoveryDestination,
        });
    };
    admit_reset_code(state, pool, &user.sub).await?;
    let code = store_code(state, user, PURPOSE_FORGOT_PASSWORD, PURPOSE_FORGOT_PASSWORD, RESET_CODE_TTL_MS).await?;
    send_code(state, pool, user, &to, &code).await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, "password reset code sent");
    Ok(to.delivery())
}

/// A password reset as a caller presents it.
pub struct PasswordReset<'a> {
    pub pool: &'a UserPool,
    /// PreventUserExistenceErrors.
    pub hide: bool,
    /// Who `username` names in `pool` (`None`: nobody).
    pub user: Option<User>,
    pub username: &'a str,
    pub code: &'a str,
    pub password: &'a str,
}

/// Sets a new password with a reset code. Wrong codes count toward the user's
/// brute-force lock (per address and user-wide, as wrong passwords do); a locked user is
/// refused before any code check. With `hide`, an unknown or disabled user is answered
/// exactly as a real one with a wrong code: the same lock, and `CodeMismatch` for every
/// failure (no code, an expired one, a wrong one, tries used up). The new password ends
/// every session of the user.
pub async fn confirm_forgot_password(
    state: &AppState,
    attempt: Attempt,
    reset: PasswordReset<'_>,
) -> Result<(), AccountError> {
    let PasswordReset { pool, hide, user, username, code, password } = reset;
    // The policy is checked first so that a refused password does not spend an attempt.
    pool.settings.policies.password_policy.check(password).map_err(AccountError::PasswordPolicy)?;
    let Some(mut user) = user.filter(|u| u.enabled || !hide) else {
        if !hide {
            return Err(AccountError::UserNotFound);
        }
        let throttle = Throttle::of_unknown(attempt, pool, username);
        if throttle.locked(state).await {
            return Err(AccountError::AttemptsExceeded);
        }
        throttle.fail(state).await;
        return Err(AccountError::CodeMismatch);
    };
    if !user.enabled {
        return Err(AccountError::Disabled);
    }
    let throttle = Throttle::of_user(attempt, &pool.id, &user.sub);
    if throttle.locked(state).await {
        return Err(AccountError::AttemptsExceeded);
    }
    match check_code(state, &user, PURPOSE_FORGOT_PASSWORD, PURPOSE_FORGOT_PASSWORD, code).await {
        Ok(()) => {}
        Err(e @ (AccountError::Store(_) | AccountError::Fault(_))) => return Err(e),
        Err(e) => {
            throttle.fail(state).await;
            return Err(if hide { AccountError::CodeMismatch } else { e });
        }
    }
    throttle.clear(state).await;
    let now = state.clock.now_millis();
    super::users::set_password(state, &mut user, password).await.map_err(AccountError::Fault)?;
    user.status = UserStatus::Confirmed;
    user.temp_password_expires_at = None;
    user.updated_at = now;
    // The new password and the end of every session, in one transaction.
    state.store.update_user_signed_out(&user, &user.keys(&pool.settings), now).await?;
    delete_code(state, &user, PURPOSE_FORGOT_PASSWORD).await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, "password reset with a code");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sign-in codes (EMAIL_OTP)
// ---------------------------------------------------------------------------------------

/// Sign-in codes a user (or, when users are hidden, a name no user has) may be sent per
/// hour, as for password reset codes: each gets [`CODE_MAX_ATTEMPTS`] tries.
pub const SIGN_IN_CODES_PER_HOUR: u32 = 5;

const SIGN_IN_SUBJECT: &str = "Your sign-in code";
const SIGN_IN_BODY: &str = "Your sign-in code is {####}.";

/// Where a sign-in code may go: a verified email only (a code to an address nobody
/// proved would let whoever typed it in sign in).
pub fn sign_in_destination(user: &User) -> Option<Destination> {
    (user.attributes.get("email_verified").is_some_and(|v| v == "true"))
        .then(|| Destination::of(user, "email"))
        .flatten()
}

/// Sends a sign-in code bound to `binding` (the challenge's nonce), valid for `ttl_ms`, to
/// `user`'s verified email, under the hourly cap of `who` (the user's sub, or an unknown
/// name's key). With `user` `None` (a decoy) only the cap is counted and nothing is sent.
/// The message is the pool's `EmailMfaConfiguration` (`Subject`, `Message` with `{####}`),
/// as Cognito words its sign-in codes, else a plain default.
pub async fn send_sign_in_code(
    state: &AppState,
    pool: &UserPool,
    user: Option<(&User, &Destination)>,
    who: &str,
    binding: &str,
    ttl_ms: i64,
) -> Result<(), AccountError> {
    let key = format!("sign-in-codes:{}:{who}", pool.id);
    state
        .rates
        .admit(&key, SIGN_IN_CODES_PER_HOUR, 3600, state.clock.now_millis())
        .await
        .map_err(|_| AccountError::AttemptsExceeded)?;
    let Some((user, to)) = user else { return Ok(()) };
    let issued = store_code(state, user, token::PURPOSE_SIGN_IN, binding, ttl_ms).await?;
    let config = pool.settings.extra.get("EmailMfaConfiguration");
    let setting = |name: &str| config.and_then(|c| c.get(name)).and_then(Value::as_str);
    let subject = setting("Subject").unwrap_or(SIGN_IN_SUBJECT);
    let body =
        setting("Message").filter(|b| b.contains("{####}")).unwrap_or(SIGN_IN_BODY).replace("{####}", &issued.code);
    crate::outbox::enqueue(
        state,
        crate::outbox::Outgoing {
            pool_id: &pool.id,
            username: &user.username,
            medium: to.medium,
            destination: &to.address,
            subject,
            body: &body,
            secret_expires_at: Some(issued.expires_at),
        },
    )
    .await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, "sign-in code sent");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sign-up
// ---------------------------------------------------------------------------------------

/// Why a sign-up (or its confirmation) was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// The pool only lets administrators create users.
    #[error("sign-up is not permitted for this user pool")]
    NotPermitted,
    /// A username the pattern refuses.
    #[error("invalid username")]
    InvalidUsername,
    /// An attribute the client may not write.
    #[error("attribute not writable")]
    NotWritable,
    /// An attribute owned by the tenancy control plane (its name).
    #[error("{0} is managed by the tenancy API")]
    Reserved(String),
    /// The username or attributes the pool's schema and sign-in settings refuse (why).
    #[error("{0}")]
    Attributes(String),
    /// A password the pool's policy refuses (why).
    #[error("{0}")]
    PasswordPolicy(String),
    /// The name, email or phone number is someone else's.
    #[error(transparent)]
    Write(#[from] super::users::UserWriteError),
    /// Confirmation: the user is not waiting for one (their status).
    #[error("user cannot be confirmed; status {0}")]
    NotUnconfirmed(UserStatus),
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for SignUpError {
    fn from(e: StoreError) -> Self {
        Self::Account(AccountError::Store(e))
    }
}

/// A sign-up as a client presents it.
pub struct NewSignUp<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub username: &'a str,
    pub password: &'a str,
    pub attributes: Vec<(String, String)>,
}

/// A new, unconfirmed user, and where their code went (nowhere when the pool verifies
/// no contact automatically and the user has none).
#[derive(Debug)]
pub struct SignedUp {
    pub user: User,
    pub delivery: Option<Delivery>,
}

/// SignUp: an unconfirmed user with the password and attributes given (placed in the
/// tenant whose verified, auto-joining domain their email has, in the shared pool), and a
/// confirmation code sent. The code is stored even with nowhere to send it, so an
/// administrator can still confirm.
pub async fn sign_up(state: &AppState, req: NewSignUp<'_>) -> Result<SignedUp, SignUpError> {
    let (pool, settings) = (req.pool, &req.pool.settings);
    if settings.admin_create_user_config.allow_admin_create_user_only {
        return Err(SignUpError::NotPermitted);
    }
    if !cognate_core::user::valid_username(req.username) {
        return Err(SignUpError::InvalidUsername);
    }
    let schema = cognate_core::attributes::Schema::new(&settings.schema);
    let names = || req.attributes.iter().map(|(n, _)| n.as_str());
    if !super::users::user_writable(req.client, &schema, names()) {
        return Err(SignUpError::NotWritable);
    }
    if let Some(name) = crate::tenancy::reserved_write(state, &pool.id, names()).await? {
        return Err(SignUpError::Reserved(name.to_owned()));
    }
    settings.policies.password_policy.check(req.password).map_err(SignUpError::PasswordPolicy)?;
    let sub = cognate_core::ids::generate_sub(state.rng.as_ref());
    let (username, attributes) = super::users::new_user_attributes(settings, req.username, &sub, req.attributes)
        .map_err(SignUpError::Attributes)?;
    let now = state.clock.now_millis();
    let mut user = User {
        pool_id: pool.id.clone(),
        sub,
        username,
        status: UserStatus::Unconfirmed,
        enabled: true,
        password_hash: None,
        temp_password_expires_at: None,
        attributes,
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    super::users::set_password(state, &mut user, req.password).await.map_err(AccountError::Fault)?;
    let email = user.attributes.get("email").map(String::as_str);
    let home = crate::tenancy::home_for_new_user(state, &pool.id, email, true).await?;
    let keys = user.keys(settings);
    crate::tenancy::create_user(state, &mut user, &keys, home.as_ref())
        .await
        .map_err(|e| SignUpError::Write(e.into()))?;
    crate::facts::user(&user);
    tracing::info!(pool = %pool.id, sub = %user.sub, "user signed up");
    let code = store_code(state, &user, token::PURPOSE_SIGN_UP, token::PURPOSE_SIGN_UP, VERIFY_CODE_TTL_MS).await?;
    let delivery = match sign_up_destination(settings, &user) {
        Some(to) => {
            send_code(state, pool, &user, &to, &code).await?;
            Some(to.delivery())
        }
        None => None,
    };
    Ok(SignedUp { user, delivery })
}

/// ConfirmSignUp: the code sent at sign-up confirms the user and verifies the contact it
/// went to. `user` is who the username names (`None`: nobody; with `hide`, answered as a
/// wrong code). With `force_alias`, a verified email or phone number another user signs
/// in with moves to this user (ForceAliasCreation).
pub async fn confirm_sign_up(
    state: &AppState,
    pool: &UserPool,
    hide: bool,
    user: Option<User>,
    code: &str,
    force_alias: bool,
) -> Result<(), SignUpError> {
    let Some(mut user) = user else {
        return Err(if hide { AccountError::CodeMismatch } else { AccountError::UserNotFound }.into());
    };
    if user.status != UserStatus::Unconfirmed {
        return Err(SignUpError::NotUnconfirmed(user.status));
    }
    check_code(state, &user, token::PURPOSE_SIGN_UP, token::PURPOSE_SIGN_UP, code).await?;
    // The code went where sign_up_destination says, which cannot have changed unless an
    // administrator edited the unconfirmed user's contacts meanwhile.
    if let Some(to) = sign_up_destination(&pool.settings, &user) {
        user.attributes.insert(format!("{}_verified", to.attribute), "true".to_owned());
    }
    user.status = UserStatus::Confirmed;
    user.updated_at = state.clock.now_millis();
    super::users::save_claiming_aliases(state, pool, &user, force_alias).await?;
    delete_code(state, &user, token::PURPOSE_SIGN_UP).await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, "sign-up confirmed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(attrs: &[(&str, &str)]) -> User {
        User {
            pool_id: cognate_core::ids::PoolId::parse("local_abc123").unwrap_or_else(|| panic!("pool id")),
            sub: "sub".into(),
            username: "ann".into(),
            status: UserStatus::Unconfirmed,
            enabled: true,
            password_hash: None,
            temp_password_expires_at: None,
            attributes: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            created_at: 0,
            updated_at: 0,
            srp_verifier: None,
            tokens_valid_after: 0,
        }
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask("EMAIL", "ann@example.com"), "a***@e***");
        assert_eq!(mask("EMAIL", "test@test.com"), "t***@t***");
        assert_eq!(mask("EMAIL", "b@localhost"), "b***@l***");
        assert_eq!(mask("SMS", "+15550100"), "+****0100");
        assert_ne!(mask("EMAIL", "ann@example.com"), "ann@example.com");
    }

    #[test]
    fn sign_up_codes_go_only_to_auto_verified_contacts_the_phone_first() {
        let u = user(&[("email", "a@x.io"), ("phone_number", "+15550100")]);
        let mut s = PoolSettings::default();
        assert_eq!(sign_up_destination(&s, &u), None, "nothing auto-verified: no code");
        s.auto_verified_attributes = vec!["email".into()];
        assert_eq!(sign_up_destination(&s, &u).map(|d| d.medium), Some("EMAIL"));
        s.auto_verified_attributes = vec!["email".into(), "phone_number".into()];
        assert_eq!(sign_up_destination(&s, &u).map(|d| d.medium), Some("SMS"));
        let email_only = user(&[("email", "a@x.io")]);
        assert_eq!(sign_up_destination(&s, &email_only).map(|d| d.medium), Some("EMAIL"));
        s.auto_verified_attributes = vec!["phone_number".into()];
        assert_eq!(sign_up_destination(&s, &email_only), None);
    }

    #[test]
    fn recovery_prefers_verified_contacts() {
        let u = user(&[("email", "a@x.io"), ("phone_number", "+15550100"), ("phone_number_verified", "true")]);
        assert_eq!(recovery_destination(&u).map(|d| d.attribute), Some("phone_number"));
        let u = user(&[("email", "a@x.io"), ("phone_number", "+15550100")]);
        assert_eq!(recovery_destination(&u).map(|d| d.attribute), Some("email"));
        assert_eq!(recovery_destination(&user(&[])), None);
    }
}
