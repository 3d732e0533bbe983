"""TOTP MFA (docs/mfa.md) driven by boto3, with codes computed by pyotp as an authenticator
app would: enrolment with an access token and with an MFA_SETUP challenge session, the
SOFTWARE_TOKEN_MFA challenge, replayed and wrong codes (which count toward the sign-in
throttle), the pool's MFA configuration, and tenants' MFA policies (`admins`, `all`) at
sign-in, on tenant switch and across a tier move. On both backends.

Codes depend on the wall clock. The server accepts the current 30-second step and one either
side, and each step once per user; `Authenticator.fresh()` hands out a step the server has not
accepted yet and waits (at most one step) when the next one is not in the window yet.
"""

from __future__ import annotations

import json
import time

import pyotp
import pytest
import requests

from cognate_harness import (
    TENANT_PASSWORD,
    assert_raw_error,
    assert_tenant_tokens,
    assert_v1_error,
    jwt_claims,
    raises_cognito,
    uid,
    v1_ok,
)

from conftest import PASSWORD, TEMP_PASSWORD

STEP = 30


class Authenticator:
    """An authenticator app holding one secret, remembering the last step it gave out."""

    def __init__(self, secret: str):
        assert len(secret) == 32 and secret.isalnum() and secret.upper() == secret, secret
        self.totp = pyotp.TOTP(secret)
        self.last: int | None = None

    @staticmethod
    def now_step() -> int:
        return int(time.time() // STEP)

    def fresh(self) -> str:
        """The code of a step the server accepts now and has not accepted before."""
        step = self.now_step() if self.last is None else max(self.now_step(), self.last + 1)
        while step > self.now_step() + 1:
            time.sleep(0.25)
        self.last = step
        return self.totp.at(step * STEP)

    def used(self) -> str:
        """The code the server accepted last (a replay)."""
        assert self.last is not None
        return self.totp.at(self.last * STEP)


def wrong_code(auth: Authenticator) -> str:
    """A well-formed code that is not valid for any step the server would accept."""
    valid = {auth.totp.at((Authenticator.now_step() + d) * STEP) for d in range(-2, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def optional_mfa_app(cognito, make_app) -> object:
    app = make_app()
    resp = cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL",
                                            SoftwareTokenMfaConfiguration={"Enabled": True})
    assert resp["MfaConfiguration"] == "OPTIONAL", resp
    assert resp["SoftwareTokenMfaConfiguration"] == {"Enabled": True}, resp
    return app


def initiate(cognito, client_id: str, username: str, password: str = PASSWORD, **kw) -> dict:
    return cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": password}, **kw)


def answer_code(cognito, client_id: str, session: str, username: str, code: str) -> dict:
    return cognito.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code})


def enrol_with_token(cognito, access_token: str, *, enable: bool = True) -> Authenticator:
    """AssociateSoftwareToken + VerifySoftwareToken with an access token, then (optionally)
    SetUserMFAPreference to turn TOTP on and prefer it."""
    associated = cognito.associate_software_token(AccessToken=access_token)
    assert "Session" not in associated, associated
    auth = Authenticator(associated["SecretCode"])
    verified = cognito.verify_software_token(AccessToken=access_token, UserCode=auth.fresh(),
                                             FriendlyDeviceName="phone")
    assert verified["Status"] == "SUCCESS", verified
    if enable:
        cognito.set_user_mfa_preference(
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    return auth


def complete_mfa_setup(cognito, client_id: str, challenge: dict, username: str) -> tuple[Authenticator, dict]:
    """Answers MFA_SETUP: AssociateSoftwareToken and VerifySoftwareToken with the challenge's
    session, then RespondToAuthChallenge. Returns the authenticator and the tokens."""
    assert challenge["ChallengeName"] == "MFA_SETUP", challenge
    assert json.loads(challenge["ChallengeParameters"]["MFAS_CAN_SETUP"]) == ["SOFTWARE_TOKEN_MFA"]
    associated = cognito.associate_software_token(Session=challenge["Session"])
    auth = Authenticator(associated["SecretCode"])
    verified = cognito.verify_software_token(Session=associated["Session"], UserCode=auth.fresh())
    assert verified["Status"] == "SUCCESS" and verified["Session"], verified
    done = cognito.respond_to_auth_challenge(ClientId=client_id, ChallengeName="MFA_SETUP",
                                             Session=verified["Session"],
                                             ChallengeResponses={"USERNAME": username})
    assert "AuthenticationResult" in done, done
    return auth, done["AuthenticationResult"]


def sign_in_with_code(cognito, client_id: str, username: str, auth: Authenticator,
                      password: str = PASSWORD, **kw) -> dict:
    challenge = initiate(cognito, client_id, username, password, **kw)
    assert challenge.get("ChallengeName") == "SOFTWARE_TOKEN_MFA", challenge
    done = answer_code(cognito, client_id, challenge["Session"], username, auth.fresh())
    assert "AuthenticationResult" in done, done
    return done["AuthenticationResult"]


# --------------------------------------------------------------------------- pools and users


def test_enrolment_then_sign_in_with_a_code(cognito, make_app, make_confirmed_user):
    app = optional_mfa_app(cognito, make_app)
    username = make_confirmed_user(app.pool_id)
    first = initiate(cognito, app.client_id, username)["AuthenticationResult"]

    auth = enrol_with_token(cognito, first["AccessToken"], enable=False)
    user = cognito.get_user(AccessToken=first["AccessToken"])
    assert "UserMFASettingList" not in user and "PreferredMfaSetting" not in user, user
    # Verified but not turned on: an OPTIONAL pool signs in with the password alone.
    assert "AuthenticationResult" in initiate(cognito, app.client_id, username)

    cognito.set_user_mfa_preference(AccessToken=first["AccessToken"],
                                    SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    user = cognito.get_user(AccessToken=first["AccessToken"])
    assert user["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"], user
    assert user["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA", user
    admin_view = cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)
    assert admin_view["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"], admin_view
    assert admin_view["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA", admin_view

    challenge = initiate(cognito, app.client_id, username)
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA", challenge
    assert "AuthenticationResult" not in challenge
    assert challenge["ChallengeParameters"].get("FRIENDLY_DEVICE_NAME") == "phone", challenge
    done = answer_code(cognito, app.client_id, challenge["Session"], username, auth.fresh())
    tokens = done["AuthenticationResult"]
    assert tokens["AccessToken"] and tokens["IdToken"] and tokens["RefreshToken"]
    assert jwt_claims(tokens["AccessToken"])["username"] == username
    # A refresh of that session needs no code.
    refreshed = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert refreshed["AuthenticationResult"]["AccessToken"]

    # The accepted code does not work twice, on a new sign-in either.
    again = initiate(cognito, app.client_id, username)
    with raises_cognito("ExpiredCodeException") as info:
        answer_code(cognito, app.client_id, again["Session"], username, auth.used())
    assert "already been used" in info.value.response["Error"]["Message"]
    with raises_cognito("CodeMismatchException"):
        answer_code(cognito, app.client_id, again["Session"], username, wrong_code(auth))

    # Turned off, the OPTIONAL pool stops asking.
    cognito.admin_set_user_mfa_preference(UserPoolId=app.pool_id, Username=username,
                                          SoftwareTokenMfaSettings={"Enabled": False})
    assert "AuthenticationResult" in initiate(cognito, app.client_id, username)
    assert "UserMFASettingList" not in cognito.get_user(AccessToken=first["AccessToken"])


def test_wrong_codes_count_toward_throttling(cognito, make_app, make_confirmed_user):
    app = optional_mfa_app(cognito, make_app)
    victim = make_confirmed_user(app.pool_id)
    bystander = make_confirmed_user(app.pool_id)
    tokens = initiate(cognito, app.client_id, victim)["AuthenticationResult"]
    auth = enrol_with_token(cognito, tokens["AccessToken"])

    challenge = initiate(cognito, app.client_id, victim)
    bad = wrong_code(auth)
    for _ in range(5):  # the default free failures per user
        with raises_cognito("CodeMismatchException"):
            answer_code(cognito, app.client_id, challenge["Session"], victim, bad)
    # Locked as after five wrong passwords: the right code and the right password are refused.
    with raises_cognito("NotAuthorizedException") as info:
        answer_code(cognito, app.client_id, challenge["Session"], victim, auth.fresh())
    assert info.value.response["Error"]["Message"] == "Password attempts exceeded"
    with raises_cognito("NotAuthorizedException") as info:
        initiate(cognito, app.client_id, victim)
    assert info.value.response["Error"]["Message"] == "Password attempts exceeded"
    # Another user of the pool is unaffected.
    assert "AuthenticationResult" in initiate(cognito, app.client_id, bystander)


def test_pool_on_makes_an_unenrolled_user_set_up_mfa(cognito, make_app, make_confirmed_user):
    app = make_app()
    resp = cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="ON",
                                            SoftwareTokenMfaConfiguration={"Enabled": True})
    assert resp["MfaConfiguration"] == "ON"
    username = make_confirmed_user(app.pool_id)

    challenge = initiate(cognito, app.client_id, username)
    assert "AuthenticationResult" not in challenge
    # The challenge cannot be answered before a token is verified on its session.
    with raises_cognito("NotAuthorizedException"):
        cognito.respond_to_auth_challenge(ClientId=app.client_id, ChallengeName="MFA_SETUP",
                                          Session=challenge["Session"],
                                          ChallengeResponses={"USERNAME": username})
    auth, tokens = complete_mfa_setup(cognito, app.client_id, challenge, username)
    user = cognito.get_user(AccessToken=tokens["AccessToken"])
    assert user["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"], user
    assert user["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA", user

    # Enrolled: the next sign-in (the admin flow this time) asks for a code.
    challenge = cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=app.client_id,
                                            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA", challenge
    done = cognito.admin_respond_to_auth_challenge(
        UserPoolId=app.pool_id, ClientId=app.client_id, ChallengeName="SOFTWARE_TOKEN_MFA",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": auth.fresh()})
    assert done["AuthenticationResult"]["AccessToken"]


def test_new_password_required_then_mfa_setup(cognito, make_app, make_user):
    app = make_app()
    cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    username = make_user(app.pool_id)["Username"]
    first = initiate(cognito, app.client_id, username, TEMP_PASSWORD)
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED", first
    setup = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=first["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": PASSWORD})
    _, tokens = complete_mfa_setup(cognito, app.client_id, setup, username)
    assert jwt_claims(tokens["IdToken"])["cognito:username"] == username


def test_pool_mfa_configuration(cognito, cognito_nv, make_app, make_confirmed_user):
    app = make_app()
    got = cognito.get_user_pool_mfa_config(UserPoolId=app.pool_id)
    assert got["MfaConfiguration"] == "OFF", got
    assert got["SoftwareTokenMfaConfiguration"] == {"Enabled": False}, got

    # SMS configuration is kept and echoed, but TOTP is the only factor that turns MFA on.
    sms = {"SmsAuthenticationMessage": "Your code is {####}",
           "SmsConfiguration": {"SnsCallerArn": "arn:aws:iam::123456789012:role/sns", "ExternalId": "x"}}
    with raises_cognito("InvalidParameterException") as info:
        cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="ON",
                                         SmsMfaConfiguration=sms,
                                         SoftwareTokenMfaConfiguration={"Enabled": False})
    assert "not supported" in info.value.response["Error"]["Message"]
    resp = cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL",
                                            SmsMfaConfiguration=sms,
                                            SoftwareTokenMfaConfiguration={"Enabled": True})
    assert resp["SmsMfaConfiguration"] == sms, resp
    got = cognito.get_user_pool_mfa_config(UserPoolId=app.pool_id)
    assert got["MfaConfiguration"] == "OPTIONAL" and got["SmsMfaConfiguration"] == sms, got
    assert got["SoftwareTokenMfaConfiguration"] == {"Enabled": True}, got
    described = cognito.describe_user_pool(UserPoolId=app.pool_id)["UserPool"]
    assert described["MfaConfiguration"] == "OPTIONAL", described
    assert "SoftwareTokenMfaConfiguration" not in described
    # UpdateUserPool does not touch what SetUserPoolMfaConfig set.
    cognito.update_user_pool(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL")
    assert cognito.get_user_pool_mfa_config(UserPoolId=app.pool_id)["SmsMfaConfiguration"] == sms

    with raises_cognito("InvalidParameterException"):
        cognito_nv.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="SOMETIMES")

    # A user turns TOTP on only with a verified token, and never SMS.
    username = make_confirmed_user(app.pool_id)
    with raises_cognito("InvalidParameterException"):
        cognito.admin_set_user_mfa_preference(UserPoolId=app.pool_id, Username=username,
                                              SoftwareTokenMfaSettings={"Enabled": True})
    access = initiate(cognito, app.client_id, username)["AuthenticationResult"]["AccessToken"]
    with raises_cognito("InvalidParameterException") as info:
        cognito.set_user_mfa_preference(AccessToken=access, SMSMfaSettings={"Enabled": True})
    assert "not supported" in info.value.response["Error"]["Message"]
    with raises_cognito("EnableSoftwareTokenMFAException"):
        associated = cognito.associate_software_token(AccessToken=access)
        cognito.verify_software_token(AccessToken=access,
                                      UserCode=wrong_code(Authenticator(associated["SecretCode"])))


# --------------------------------------------------------------------------- tenants


def test_tenant_requiring_mfa_of_admins(server, tenancy):
    tenant = tenancy.create_tenant("mfa-admins", name="Mfa Admins")
    patched = v1_ok(tenancy.call("PATCH", f"/v1/tenants/{tenant['id']}", bearer=tenancy.admin,
                                 body={"mfa": "admins"}))
    assert patched["mfa"] == "admins", patched
    _, client = tenancy.shared_placement()
    admin = tenancy.new_user(tenant["id"], "admin")
    member = tenancy.new_user(tenant["id"], "member")
    cognito = tenancy.cognito

    # A member signs in with the password alone.
    member_tokens = initiate(cognito, client, member.email, TENANT_PASSWORD)["AuthenticationResult"]
    assert_tenant_tokens(member_tokens, patched, "member")

    # An admin is challenged: enrolment first, then a code at every sign-in.
    setup = initiate(cognito, client, admin.email, TENANT_PASSWORD)
    assert setup.get("ChallengeName") == "MFA_SETUP", setup
    auth, tokens = complete_mfa_setup(cognito, client, setup, admin.email)
    assert_tenant_tokens(tokens, patched, "admin")
    tokens = sign_in_with_code(cognito, client, admin.email, auth, TENANT_PASSWORD)
    assert_tenant_tokens(tokens, patched, "admin")

    # A tier move keeps the enrolment: the same authenticator answers in the dedicated pool.
    moved = v1_ok(tenancy.call("PUT", f"/v1/tenants/{tenant['id']}/tier", bearer=tenancy.admin,
                               body={"tier": "platinum"}))
    assert moved["placement"] == "dedicated", moved
    moved = tenancy.tenant(tenant["id"])
    tokens = sign_in_with_code(cognito, moved["clientId"], admin.email, auth, TENANT_PASSWORD)
    assert_tenant_tokens(tokens, moved, "admin", tier="platinum")
    assert "AuthenticationResult" in initiate(cognito, moved["clientId"], member.email, TENANT_PASSWORD)


def test_dedicated_tenant_requiring_mfa_of_all(server, tenancy):
    tenant = tenancy.create_tenant("mfa-plat", "platinum", name="Mfa Plat")
    v1_ok(tenancy.call("PATCH", f"/v1/tenants/{tenant['id']}", bearer=tenancy.admin,
                       body={"mfa": "all"}))
    member = tenancy.new_user(tenant["id"], "read_only")
    challenge = initiate(tenancy.cognito, tenant["clientId"], member.email, TENANT_PASSWORD)
    assert challenge.get("ChallengeName") == "MFA_SETUP", challenge
    _, tokens = complete_mfa_setup(tenancy.cognito, tenant["clientId"], challenge, member.email)
    assert_tenant_tokens(tokens, tenant, "read_only")


def test_switching_into_a_tenant_that_requires_mfa(server, tenancy):
    relaxed = tenancy.create_tenant("mfa-off", name="Relaxed")
    strict = tenancy.create_tenant("mfa-all", name="Strict")
    strict = v1_ok(tenancy.call("PATCH", f"/v1/tenants/{strict['id']}", bearer=tenancy.admin,
                                body={"mfa": "all"}))
    _, client = tenancy.shared_placement()
    cognito = tenancy.cognito
    consultant = tenancy.new_user(relaxed["id"], "member")
    plain = tenancy.sign_in(client, consultant.email, tenant_id=relaxed["id"])
    tenancy.join(strict["id"], consultant, "member", plain["AccessToken"])

    # From a session without MFA: no switch, by /v1 or by refresh.
    assert_v1_error(tenancy.switch(plain["AccessToken"], strict["id"]), 403, "mfa_required")
    with raises_cognito("NotAuthorizedException") as info:
        tenancy.refresh(client, plain["RefreshToken"], tenant_id=strict["id"])
    assert info.value.response["Error"]["Message"] == (
        "MFA is required for this tenant; sign in again with a code.")
    # ... while the session itself goes on.
    assert_tenant_tokens(tenancy.refresh(client, plain["RefreshToken"]), relaxed, "member")

    # Signing in to the strict tenant asks for MFA (enrolment, here).
    setup = initiate(cognito, client, consultant.email, TENANT_PASSWORD,
                     ClientMetadata={"tenantId": strict["id"]})
    _, strict_tokens = complete_mfa_setup(cognito, client, setup, consultant.email)
    assert_tenant_tokens(strict_tokens, strict, "member")
    # A session that passed MFA switches both ways, and so do sessions switched from it.
    out = v1_ok(tenancy.switch(strict_tokens["AccessToken"], relaxed["id"]))
    assert_tenant_tokens(out, relaxed, "member")
    back = v1_ok(tenancy.switch(out["accessToken"], strict["id"]))
    assert_tenant_tokens(back, strict, "member")
    by_refresh = tenancy.refresh(client, out["refreshToken"], tenant_id=strict["id"])
    assert_tenant_tokens(by_refresh, strict, "member")
    # An ordinary refresh of the MFA session stays fine.
    assert_tenant_tokens(tenancy.refresh(client, strict_tokens["RefreshToken"]), strict, "member")


def test_enrolment_needs_exactly_one_credential(cognito, cognito_nv):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.associate_software_token()
    with raises_cognito("NotAuthorizedException"):
        cognito.associate_software_token(Session="x" * 40)
    with raises_cognito("NotAuthorizedException"):
        cognito.verify_software_token(AccessToken="a.b.c", UserCode="123456")


@pytest.mark.parametrize("op", ["SetUserPoolMfaConfig", "GetUserPoolMfaConfig", "AdminSetUserMFAPreference"])
def test_admin_mfa_operations_are_signed(server, op):
    resp = requests.post(server.url + "/", data=json.dumps({"UserPoolId": f"local_{uid(9)}"}),
                         headers={"X-Amz-Target": f"AWSCognitoIdentityProviderService.{op}",
                                  "Content-Type": "application/x-amz-json-1.1"}, timeout=10)
    assert_raw_error(resp, "MissingAuthenticationTokenException")



def test_a_session_without_mfa_cannot_replace_the_authenticator(cognito, make_app, make_confirmed_user):
    app = optional_mfa_app(cognito, make_app)
    username = make_confirmed_user(app.pool_id)
    first = initiate(cognito, app.client_id, username)["AuthenticationResult"]
    auth = enrol_with_token(cognito, first["AccessToken"])
    # The password-only session that enrolled cannot swap the seed afterwards...
    with raises_cognito("NotAuthorizedException") as info:
        cognito.associate_software_token(AccessToken=first["AccessToken"])
    assert "passed MFA" in info.value.response["Error"]["Message"]
    # ...a session that answered a code can.
    challenge = initiate(cognito, app.client_id, username)
    tokens = answer_code(cognito, app.client_id, challenge["Session"], username, auth.fresh())["AuthenticationResult"]
    assert cognito.associate_software_token(AccessToken=tokens["AccessToken"])["SecretCode"]


def test_refresh_stops_when_the_tenant_starts_requiring_mfa(server, tenancy):
    tenant = tenancy.create_tenant("mfa-later")
    member = tenancy.new_user(tenant["id"], "member")
    tokens = tenancy.sign_in(tenant["clientId"], member.email)
    assert_tenant_tokens(tenancy.refresh(tenant["clientId"], tokens["RefreshToken"]), tenant, "member")
    v1_ok(tenancy.call("PATCH", f"/v1/tenants/{tenant['id']}", bearer=tenancy.admin, body={"mfa": "all"}))
    with raises_cognito("NotAuthorizedException") as info:
        tenancy.refresh(tenant["clientId"], tokens["RefreshToken"])
    assert "MFA is required" in info.value.response["Error"]["Message"]
