//! TOTP MFA through the Cognito surface, in process and on a clock the tests move, so that
//! drift, replay and throttling are exact (the boto3 + pyotp tests in
//! `tests/interop/test_mfa.py` cover the same flows against a real server).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::pool::{PoolSettings, UserPool};
use cognate_core::totp;
use cognate_core::user::{User, UserStatus};
use cognate_core::{Clock as _, ManualClock};
use serde_json::{Value, json};

use crate::support::TestApp;

const PASSWORD: &str = "Corr3ct-H0rse!";
/// 2023-11-14T22:13:20Z, a whole number of steps (the tests reason in steps).
const START_MS: i64 = 1_700_000_010_000;

struct Mfa {
    t: TestApp,
    clock: Arc<ManualClock>,
    pool: UserPool,
    client: String,
}

/// An answer of the Cognito surface: `Ok(body)` or `Err((__type, message))`.
type Outcome = Result<Value, (String, String)>;

impl Mfa {
    /// A pool with `MfaConfiguration` `mfa`, a public client for password sign-in, on a
    /// manual clock.
    async fn new(mfa: &str) -> Self {
        let clock = Arc::new(ManualClock::new(START_MS));
        let t = TestApp::with_clock(clock.clone()).await;
        let state = &t.state;
        let pool = UserPool {
            id: PoolId::generate("local", state.rng.as_ref()),
            name: "mfa".into(),
            settings: PoolSettings { mfa_configuration: mfa.into(), ..PoolSettings::default() },
            created_at: START_MS,
            updated_at: START_MS,
            version: 1,
        };
        state.store.create_pool(&pool).await.unwrap();
        let client = AppClient {
            pool_id: pool.id.clone(),
            id: ClientId::generate(state.rng.as_ref()),
            name: "web".into(),
            secret_sealed: None,
            secrets: Vec::new(),
            secrets_version: 0,
            settings: ClientSettings {
                explicit_auth_flows: vec!["ALLOW_USER_PASSWORD_AUTH".into(), "ALLOW_REFRESH_TOKEN_AUTH".into()],
                ..ClientSettings::default()
            },
            created_at: START_MS,
            updated_at: START_MS,
        };
        state.store.create_client(&client).await.unwrap();
        Self { t, clock, pool, client: client.id.to_string() }
    }

    async fn user(&self, name: &str, status: UserStatus) -> User {
        let state = &self.t.state;
        let user = User {
            pool_id: self.pool.id.clone(),
            sub: uuid::Uuid::new_v4().to_string(),
            username: name.into(),
            status,
            enabled: true,
            password_hash: Some(state.passwords.hash(PASSWORD.into()).await.unwrap()),
            temp_password_expires_at: None,
            attributes: BTreeMap::new(),
            created_at: START_MS,
            updated_at: START_MS,
            srp_verifier: None,
            tokens_valid_after: 0,
        };
        state.store.create_user(&user, &user.keys(&self.pool.settings)).await.unwrap();
        user
    }

    fn now_step(&self) -> i64 {
        totp::step_at(self.clock.now_millis() / 1000)
    }

    async fn call(&self, op: &str, body: Value) -> Outcome {
        let target = format!("AWSCognitoIdentityProviderService.{op}");
        let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
        let (status, _, body) = self.t.send_with("POST", "/", &headers, Some(&body.to_string())).await;
        if status == StatusCode::OK {
            Ok(body)
        } else {
            let kind = body["__type"].as_str().unwrap_or_default().to_owned();
            Err((kind, body["message"].as_str().unwrap_or_default().to_owned()))
        }
    }

    async fn sign_in(&self, username: &str, password: &str) -> Outcome {
        self.call(
            "InitiateAuth",
            json!({"ClientId": self.client, "AuthFlow": "USER_PASSWORD_AUTH",
                   "AuthParameters": {"USERNAME": username, "PASSWORD": password}}),
        )
        .await
    }

    async fn answer(&self, challenge: &str, session: &Value, username: &str, code: Option<&str>) -> Outcome {
        let mut responses = json!({"USERNAME": username});
        if let Some(code) = code {
            responses["SOFTWARE_TOKEN_MFA_CODE"] = json!(code);
        }
        self.call(
            "RespondToAuthChallenge",
            json!({"ClientId": self.client, "ChallengeName": challenge, "Session": session,
                   "ChallengeResponses": responses}),
        )
        .await
    }

    /// Associates and verifies a software token with an access token; returns the secret.
    async fn enrol(&self, access_token: &Value) -> Vec<u8> {
        let associated = self.call("AssociateSoftwareToken", json!({"AccessToken": access_token})).await.unwrap();
        let secret = totp::base32_decode(associated["SecretCode"].as_str().unwrap()).unwrap();
        assert_eq!(secret.len(), totp::SECRET_LEN);
        assert!(associated.get("Session").is_none());
        let code = totp::code_at_step(&secret, self.now_step());
        let verified = self
            .call(
                "VerifySoftwareToken",
                json!({"AccessToken": access_token, "UserCode": code, "FriendlyDeviceName": "phone"}),
            )
            .await
            .unwrap();
        assert_eq!(verified, json!({"Status": "SUCCESS"}));
        secret
    }
}

fn kind(outcome: &Outcome) -> &str {
    match outcome {
        Ok(_) => "ok",
        Err((kind, _)) => kind,
    }
}

/// The token family behind an access token: whether its sign-in passed MFA.
async fn family_mfa(m: &Mfa, result: &Value) -> bool {
    let access = result["AuthenticationResult"]["AccessToken"].as_str().unwrap();
    let claims = cognate_core::jwt::decode(access).unwrap().claims;
    let origin = claims["origin_jti"].as_str().unwrap();
    m.t.state.store.get_family(origin).await.unwrap().unwrap().mfa
}

#[tokio::test]
async fn enrolment_then_challenge_with_drift_and_replay() {
    let m = Mfa::new("OPTIONAL").await;
    m.user("ann", UserStatus::Confirmed).await;
    let first = m.sign_in("ann", PASSWORD).await.unwrap();
    assert!(!family_mfa(&m, &first).await, "no MFA yet");
    let access = first["AuthenticationResult"]["AccessToken"].clone();
    let secret = m.enrol(&access).await;
    let enrolled_step = m.now_step();

    // Verified but not turned on: an OPTIONAL pool does not ask for it yet.
    let user = m.call("GetUser", json!({"AccessToken": access})).await.unwrap();
    assert!(user.get("UserMFASettingList").is_none() && user.get("PreferredMfaSetting").is_none(), "{user}");
    assert!(m.sign_in("ann", PASSWORD).await.unwrap().get("AuthenticationResult").is_some());

    let on = json!({"AccessToken": access, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}});
    assert_eq!(m.call("SetUserMFAPreference", on).await.unwrap(), json!({}));
    let user = m.call("GetUser", json!({"AccessToken": access})).await.unwrap();
    assert_eq!(user["UserMFASettingList"], json!(["SOFTWARE_TOKEN_MFA"]));
    assert_eq!(user["PreferredMfaSetting"], "SOFTWARE_TOKEN_MFA");

    let challenge = m.sign_in("ann", PASSWORD).await.unwrap();
    assert_eq!(challenge["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    assert_eq!(challenge["ChallengeParameters"]["FRIENDLY_DEVICE_NAME"], "phone");
    assert!(challenge.get("AuthenticationResult").is_none());
    let session = &challenge["Session"];

    // The code that verified the token was used: it cannot answer a challenge.
    let replay =
        m.answer("SOFTWARE_TOKEN_MFA", session, "ann", Some(&totp::code_at_step(&secret, enrolled_step))).await;
    assert_eq!(replay, Err(("ExpiredCodeException".into(), "Your software token has already been used once.".into())));
    // Two steps ahead is outside the drift window; one ahead is inside.
    let far =
        m.answer("SOFTWARE_TOKEN_MFA", session, "ann", Some(&totp::code_at_step(&secret, enrolled_step + 2))).await;
    assert_eq!(kind(&far), "CodeMismatchException");
    let ahead = totp::code_at_step(&secret, enrolled_step + 1);
    let done = m.answer("SOFTWARE_TOKEN_MFA", session, "ann", Some(&ahead)).await.unwrap();
    assert!(done["AuthenticationResult"]["RefreshToken"].is_string(), "{done}");
    assert!(family_mfa(&m, &done).await, "the family passed MFA");
    // Cognito's user pool tokens carry no amr; neither do ours.
    let claims = cognate_core::jwt::decode(done["AuthenticationResult"]["IdToken"].as_str().unwrap()).unwrap().claims;
    assert!(claims.get("amr").is_none());

    // The same code again, on a new sign-in: refused, even a step later (drift -1).
    m.clock.advance(30_000);
    let again = m.sign_in("ann", PASSWORD).await.unwrap();
    let replay = m.answer("SOFTWARE_TOKEN_MFA", &again["Session"], "ann", Some(&ahead)).await;
    assert_eq!(kind(&replay), "ExpiredCodeException");
    let wrong = m.answer("SOFTWARE_TOKEN_MFA", &again["Session"], "ann", Some("000000")).await;
    assert_eq!(wrong, Err(("CodeMismatchException".into(), "Invalid code received for user".into())));
    let next = totp::code_at_step(&secret, m.now_step() + 1);
    assert!(m.answer("SOFTWARE_TOKEN_MFA", &again["Session"], "ann", Some(&next)).await.is_ok());

    // A session expires (AuthSessionValidity, 3 minutes by default) and belongs to its user.
    let late = m.sign_in("ann", PASSWORD).await.unwrap();
    assert_eq!(
        kind(&m.answer("SOFTWARE_TOKEN_MFA", &late["Session"], "bob", Some("123456")).await),
        "NotAuthorizedException"
    );
    m.clock.advance(3 * 60_000);
    let expired = m.answer("SOFTWARE_TOKEN_MFA", &late["Session"], "ann", Some("123456")).await;
    assert_eq!(
        expired,
        Err(("NotAuthorizedException".into(), "Invalid session for the user, session is expired.".into()))
    );

    // Turning TOTP off stops the challenge in an OPTIONAL pool.
    let off = json!({"AccessToken": access, "SoftwareTokenMfaSettings": {"Enabled": false}});
    m.call("SetUserMFAPreference", off).await.unwrap();
    assert!(m.sign_in("ann", PASSWORD).await.unwrap().get("AuthenticationResult").is_some());
}

#[tokio::test]
async fn wrong_codes_count_toward_the_password_throttle() {
    let m = Mfa::new("ON").await;
    m.user("cat", UserStatus::Confirmed).await;
    // ON pool, nothing enrolled: MFA_SETUP, then the enrolment on the session.
    let setup = m.sign_in("cat", PASSWORD).await.unwrap();
    assert_eq!(setup["ChallengeName"], "MFA_SETUP");
    let associated = m.call("AssociateSoftwareToken", json!({"Session": setup["Session"]})).await.unwrap();
    let secret = totp::base32_decode(associated["SecretCode"].as_str().unwrap()).unwrap();
    let code = totp::code_at_step(&secret, m.now_step());
    let verified =
        m.call("VerifySoftwareToken", json!({"Session": associated["Session"], "UserCode": code})).await.unwrap();
    m.answer("MFA_SETUP", &verified["Session"], "cat", None).await.unwrap();

    // Four wrong codes, then a fresh sign-in with the right password: the count stands.
    let challenge = m.sign_in("cat", PASSWORD).await.unwrap();
    for _ in 0..4 {
        let wrong = m.answer("SOFTWARE_TOKEN_MFA", &challenge["Session"], "cat", Some("000000")).await;
        assert_eq!(kind(&wrong), "CodeMismatchException");
    }
    let challenge = m.sign_in("cat", PASSWORD).await.unwrap();
    assert_eq!(challenge["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    let fifth = m.answer("SOFTWARE_TOKEN_MFA", &challenge["Session"], "cat", Some("000000")).await;
    assert_eq!(kind(&fifth), "CodeMismatchException");

    // Locked: the right code and the right password are refused alike.
    let right = totp::code_at_step(&secret, m.now_step() + 1);
    let refused = m.answer("SOFTWARE_TOKEN_MFA", &challenge["Session"], "cat", Some(&right)).await;
    assert_eq!(refused, Err(("NotAuthorizedException".into(), "Password attempts exceeded".into())));
    assert_eq!(
        m.sign_in("cat", PASSWORD).await,
        Err(("NotAuthorizedException".into(), "Password attempts exceeded".into()))
    );

    // After the delay (1 s for the first lock) the right code goes through and clears it.
    m.clock.advance(1_000);
    let challenge = m.sign_in("cat", PASSWORD).await.unwrap();
    let done = m.answer("SOFTWARE_TOKEN_MFA", &challenge["Session"], "cat", Some(&right)).await.unwrap();
    assert!(done.get("AuthenticationResult").is_some());
    for _ in 0..4 {
        m.sign_in("cat", "Wrong-passw0rd!").await.unwrap_err();
    }
    assert!(m.sign_in("cat", PASSWORD).await.is_ok(), "the count was cleared by the completed sign-in");
}

#[tokio::test]
async fn mfa_setup_flow_and_its_guards() {
    let m = Mfa::new("ON").await;
    m.user("dan", UserStatus::Confirmed).await;
    let setup = m.sign_in("dan", PASSWORD).await.unwrap();
    assert_eq!(setup["ChallengeName"], "MFA_SETUP");
    assert_eq!(setup["ChallengeParameters"]["MFAS_CAN_SETUP"], "[\"SOFTWARE_TOKEN_MFA\"]");

    // Not answerable before a token is verified on it; the session is not an access token.
    assert_eq!(kind(&m.answer("MFA_SETUP", &setup["Session"], "dan", None).await), "NotAuthorizedException");
    let both = json!({"Session": setup["Session"], "AccessToken": "x.y.z"});
    assert_eq!(kind(&m.call("AssociateSoftwareToken", both).await), "InvalidParameterException");
    let verify_first = m.call("VerifySoftwareToken", json!({"Session": setup["Session"], "UserCode": "123456"})).await;
    assert_eq!(kind(&verify_first), "SoftwareTokenMFANotFoundException");

    let associated = m.call("AssociateSoftwareToken", json!({"Session": setup["Session"]})).await.unwrap();
    let secret = totp::base32_decode(associated["SecretCode"].as_str().unwrap()).unwrap();
    let session = &associated["Session"];
    let wrong = m.call("VerifySoftwareToken", json!({"Session": session, "UserCode": "000000"})).await;
    assert_eq!(
        wrong,
        Err(("EnableSoftwareTokenMFAException".into(), "Code mismatch and fail enable Software Token MFA".into()))
    );
    let malformed = m.call("VerifySoftwareToken", json!({"Session": session, "UserCode": "12345"})).await;
    assert_eq!(kind(&malformed), "InvalidParameterException");
    // The associate session itself does not answer the challenge either.
    assert_eq!(kind(&m.answer("MFA_SETUP", session, "dan", None).await), "NotAuthorizedException");

    let code = totp::code_at_step(&secret, m.now_step());
    let verified = m.call("VerifySoftwareToken", json!({"Session": session, "UserCode": code})).await.unwrap();
    assert_eq!(verified["Status"], "SUCCESS");
    let done = m.answer("MFA_SETUP", &verified["Session"], "dan", None).await.unwrap();
    assert!(family_mfa(&m, &done).await);
    let access = &done["AuthenticationResult"]["AccessToken"];
    let user = m.call("GetUser", json!({"AccessToken": access})).await.unwrap();
    assert_eq!(user["UserMFASettingList"], json!(["SOFTWARE_TOKEN_MFA"]));
    assert_eq!(user["PreferredMfaSetting"], "SOFTWARE_TOKEN_MFA");

    // Enrolled now: the next sign-in asks for a code, and an MFA_SETUP session (only the
    // password behind it) cannot replace the token.
    let next = m.sign_in("dan", PASSWORD).await.unwrap();
    assert_eq!(next["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    let stale = m.call("AssociateSoftwareToken", json!({"Session": setup["Session"]})).await;
    assert_eq!(kind(&stale), "NotAuthorizedException");
    let wrong_challenge = m.answer("MFA_SETUP", &next["Session"], "dan", None).await;
    assert_eq!(kind(&wrong_challenge), "NotAuthorizedException");
}

#[tokio::test]
async fn new_password_required_then_mfa() {
    let m = Mfa::new("ON").await;
    m.user("eve", UserStatus::ForceChangePassword).await;
    let first = m.sign_in("eve", PASSWORD).await.unwrap();
    assert_eq!(first["ChallengeName"], "NEW_PASSWORD_REQUIRED");
    let answered = m
        .call(
            "RespondToAuthChallenge",
            json!({"ClientId": m.client, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": first["Session"],
                   "ChallengeResponses": {"USERNAME": "eve", "NEW_PASSWORD": "N3w-Passw0rd!"}}),
        )
        .await
        .unwrap();
    assert_eq!(answered["ChallengeName"], "MFA_SETUP", "{answered}");
    assert!(answered.get("AuthenticationResult").is_none());
    // The new password is set: signing in again with it goes straight to MFA.
    assert_eq!(m.sign_in("eve", "N3w-Passw0rd!").await.unwrap()["ChallengeName"], "MFA_SETUP");
}

#[tokio::test]
async fn pool_mfa_configuration_and_preferences() {
    let m = Mfa::new("OFF").await;
    let user = m.user("fay", UserStatus::Confirmed).await;
    // Signed operations are refused without a signature.
    let get = m.call("GetUserPoolMfaConfig", json!({"UserPoolId": m.pool.id})).await;
    assert_eq!(kind(&get), "MissingAuthenticationTokenException");

    let tokens = m.sign_in("fay", PASSWORD).await.unwrap();
    let access = &tokens["AuthenticationResult"]["AccessToken"];
    let premature = json!({"AccessToken": access, "SoftwareTokenMfaSettings": {"Enabled": true}});
    assert_eq!(
        m.call("SetUserMFAPreference", premature).await,
        Err((
            "InvalidParameterException".into(),
            "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA".into()
        ))
    );
    let sms = json!({"AccessToken": access, "SMSMfaSettings": {"Enabled": true}});
    let refused = m.call("SetUserMFAPreference", sms).await.unwrap_err();
    assert!(refused.0 == "InvalidParameterException" && refused.1.contains("not supported"), "{refused:?}");
    m.enrol(access).await;
    let on = json!({"AccessToken": access, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}});
    m.call("SetUserMFAPreference", on).await.unwrap();
    // MFA OFF in the pool: an enabled token is not asked for.
    assert!(m.sign_in("fay", PASSWORD).await.unwrap().get("AuthenticationResult").is_some());

    // Deleting the user deletes the record.
    m.t.state.store.delete_user(&m.pool.id, &user.sub, 0).await.unwrap();
    assert!(m.t.state.store.get_mfa(&m.pool.id, &user.sub).await.unwrap().is_none());
}
