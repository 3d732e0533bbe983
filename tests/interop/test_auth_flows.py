"""InitiateAuth / AdminInitiateAuth (USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH,
ADMIN_NO_SRP_AUTH, REFRESH_TOKEN_AUTH), SECRET_HASH, the sign-in error cases, and the
NEW_PASSWORD_REQUIRED challenge (RespondToAuthChallenge / AdminRespondToAuthChallenge)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from cognate_harness import jwt_claims, raises_cognito, uid
from conftest import PASSWORD, TEMP_PASSWORD

NEW_PASSWORD = "N3w-Passw0rd!!"
LEGACY_FLOWS = ["USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"]


def assert_tokens(result: dict, *, refresh: bool = True, expires_in: int = 3600) -> None:
    for key in ("AccessToken", "IdToken"):
        assert isinstance(result.get(key), str) and result[key].count(".") == 2, (key, result)
    assert result["TokenType"] == "Bearer"
    assert result["ExpiresIn"] == expires_in
    if refresh:
        assert isinstance(result.get("RefreshToken"), str) and len(result["RefreshToken"]) >= 32
    else:
        assert "RefreshToken" not in result, f"refresh returned a RefreshToken: {result!r}"


def initiate(cognito, app, username, password, flow="USER_PASSWORD_AUTH"):
    params = {"USERNAME": username, "PASSWORD": password}
    if app.client_secret:
        params["SECRET_HASH"] = app.secret_hash(username)
    return cognito.initiate_auth(ClientId=app.client_id, AuthFlow=flow, AuthParameters=params)


def admin_initiate(cognito, app, username, password, flow="ADMIN_USER_PASSWORD_AUTH"):
    params = {"USERNAME": username, "PASSWORD": password}
    if app.client_secret:
        params["SECRET_HASH"] = app.secret_hash(username)
    return cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=app.client_id,
                                       AuthFlow=flow, AuthParameters=params)


def assert_secret_hash_refused(info, client_id: str, *, missing: bool) -> None:
    """Wrong SECRET_HASH: "Unable to verify secret hash for client {id}". Cognito words a
    missing one differently ("Client {id} is configured for secret but secret was not
    received"), so for that only the client id and the word secret are required."""
    message = info.value.response["Error"]["Message"]
    if missing:
        assert client_id in message and "secret" in message.lower(), message
    else:
        assert message.startswith("Unable to verify secret hash for client"), message


def assert_refused_sign_in(cognito, app, username, password):
    with raises_cognito("NotAuthorizedException") as info:
        initiate(cognito, app, username, password)
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."


# --------------------------------------------------------------------------- success paths


def test_user_password_auth_returns_cognito_tokens(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    resp = initiate(cognito, app, username, PASSWORD)
    assert "ChallengeName" not in resp
    assert resp.get("ChallengeParameters", {}) == {}
    assert_tokens(resp["AuthenticationResult"])
    got = cognito.get_user(AccessToken=resp["AuthenticationResult"]["AccessToken"])
    assert got["Username"] == username


def test_admin_user_password_auth(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    resp = admin_initiate(cognito, app, username, PASSWORD)
    assert "ChallengeName" not in resp
    assert_tokens(resp["AuthenticationResult"])
    assert jwt_claims(resp["AuthenticationResult"]["IdToken"])["cognito:username"] == username


def test_legacy_flow_names(cognito, make_app, make_confirmed_user):
    legacy = make_app(flows=LEGACY_FLOWS)
    username = make_confirmed_user(legacy.pool_id)
    tokens = initiate(cognito, legacy, username, PASSWORD)["AuthenticationResult"]
    assert_tokens(tokens)
    admin = admin_initiate(cognito, legacy, username, PASSWORD, flow="ADMIN_NO_SRP_AUTH")
    assert_tokens(admin["AuthenticationResult"])
    # legacy clients may refresh
    refreshed = cognito.initiate_auth(ClientId=legacy.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert_tokens(refreshed["AuthenticationResult"], refresh=False)


def test_admin_no_srp_auth_with_allow_flow(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    resp = admin_initiate(cognito, app, username, PASSWORD, flow="ADMIN_NO_SRP_AUTH")
    assert_tokens(resp["AuthenticationResult"])


@pytest.mark.parametrize("flow", ["REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"])
def test_refresh_token_auth(cognito, user_tokens, flow):
    app, username, tokens = user_tokens
    resp = cognito.initiate_auth(ClientId=app.client_id, AuthFlow=flow,
                                 AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    result = resp["AuthenticationResult"]
    assert_tokens(result, refresh=False)
    assert result["AccessToken"] != tokens["AccessToken"]
    assert cognito.get_user(AccessToken=result["AccessToken"])["Username"] == username
    old, new = jwt_claims(tokens["IdToken"]), jwt_claims(result["IdToken"])
    assert new["sub"] == old["sub"] and new["cognito:username"] == username
    # without rotation the same refresh token keeps working
    again = cognito.initiate_auth(ClientId=app.client_id, AuthFlow=flow,
                                  AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert_tokens(again["AuthenticationResult"], refresh=False)


def test_admin_refresh_token_auth(cognito, user_tokens):
    app, username, tokens = user_tokens
    resp = cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=app.client_id,
                                       AuthFlow="REFRESH_TOKEN_AUTH",
                                       AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert_tokens(resp["AuthenticationResult"], refresh=False)
    assert jwt_claims(resp["AuthenticationResult"]["AccessToken"])["username"] == username


def test_refresh_token_errors(cognito, user_tokens, make_client):
    app, _, tokens = user_tokens
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": "not-a-refresh-token-" + uid(30)})
    other = make_client(app.pool_id)
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=other.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})


def test_refresh_needs_allow_refresh_token_auth(cognito, make_app, make_confirmed_user, sign_in):
    # Cognito itself always allows refresh; Cognate only when the client lists
    # ALLOW_REFRESH_TOKEN_AUTH (or uses the legacy flow names).
    app = make_app(flows=["ALLOW_USER_PASSWORD_AUTH"])
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    with raises_cognito("InvalidParameterException"):  # like any flow the client lacks
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})


# --------------------------------------------------------------------------- SECRET_HASH


def test_secret_hash_required_and_checked(cognito, make_app, make_confirmed_user):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id)
    base = {"USERNAME": username, "PASSWORD": PASSWORD}
    for params in (base, {**base, "SECRET_HASH": "d3Jvbmc="},
                   {**base, "SECRET_HASH": app.secret_hash(username + "x")}):
        missing = "SECRET_HASH" not in params
        with raises_cognito("NotAuthorizedException") as info:
            cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters=params)
        assert_secret_hash_refused(info, app.client_id, missing=missing)
        with raises_cognito("NotAuthorizedException") as info:
            cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=app.client_id,
                                        AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters=params)
        assert_secret_hash_refused(info, app.client_id, missing=missing)

    tokens = initiate(cognito, app, username, PASSWORD)["AuthenticationResult"]
    assert_tokens(tokens)
    assert_tokens(admin_initiate(cognito, app, username, PASSWORD)["AuthenticationResult"])

    # refresh with a secret client: SECRET_HASH (of the username) required as well
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    refreshed = cognito.initiate_auth(
        ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"],
                        "SECRET_HASH": app.secret_hash(username)})
    assert_tokens(refreshed["AuthenticationResult"], refresh=False)


# --------------------------------------------------------------------------- error cases


def test_flow_not_enabled_for_client(cognito, make_app, make_confirmed_user):
    app = make_app(flows=None)  # server defaults: refresh, SRP, custom
    username = make_confirmed_user(app.pool_id)
    with raises_cognito("InvalidParameterException"):
        initiate(cognito, app, username, PASSWORD)
    with raises_cognito("InvalidParameterException"):
        admin_initiate(cognito, app, username, PASSWORD)

    only_user = make_app(flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    username = make_confirmed_user(only_user.pool_id)
    with raises_cognito("InvalidParameterException"):
        admin_initiate(cognito, only_user, username, PASSWORD)
    with raises_cognito("InvalidParameterException"):
        admin_initiate(cognito, only_user, username, PASSWORD, flow="ADMIN_NO_SRP_AUTH")

    only_admin = make_app(flows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    username = make_confirmed_user(only_admin.pool_id)
    with raises_cognito("InvalidParameterException"):
        initiate(cognito, only_admin, username, PASSWORD)
    assert_tokens(admin_initiate(cognito, only_admin, username, PASSWORD)["AuthenticationResult"])


def test_wrong_password(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    assert_refused_sign_in(cognito, app, username, "Wr0ng-Password!")
    with raises_cognito("NotAuthorizedException") as info:
        admin_initiate(cognito, app, username, "Wr0ng-Password!")
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."
    # the right password still works afterwards
    assert_tokens(initiate(cognito, app, username, PASSWORD)["AuthenticationResult"])


def test_unknown_user_prevent_user_existence_errors(cognito, make_app, make_client):
    default = make_app()  # PreventUserExistenceErrors defaults to ENABLED
    explicit = make_client(default.pool_id, PreventUserExistenceErrors="ENABLED")
    for app in (default, explicit):
        assert_refused_sign_in(cognito, app, f"ghost-{uid()}", PASSWORD)
        with raises_cognito("NotAuthorizedException") as info:
            admin_initiate(cognito, app, f"ghost-{uid()}", PASSWORD)
        assert info.value.response["Error"]["Message"] == "Incorrect username or password."

    legacy = make_client(default.pool_id, PreventUserExistenceErrors="LEGACY")
    with raises_cognito("UserNotFoundException"):
        initiate(cognito, legacy, f"ghost-{uid()}", PASSWORD)
    with raises_cognito("UserNotFoundException"):
        admin_initiate(cognito, legacy, f"ghost-{uid()}", PASSWORD)


def test_disabled_user(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    tokens = initiate(cognito, app, username, PASSWORD)["AuthenticationResult"]
    cognito.admin_disable_user(UserPoolId=app.pool_id, Username=username)
    with raises_cognito("NotAuthorizedException") as info:
        initiate(cognito, app, username, PASSWORD)
    assert info.value.response["Error"]["Message"] == "User is disabled."
    with raises_cognito("NotAuthorizedException") as info:
        admin_initiate(cognito, app, username, PASSWORD)
    assert info.value.response["Error"]["Message"] == "User is disabled."
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    cognito.admin_enable_user(UserPoolId=app.pool_id, Username=username)
    assert_tokens(initiate(cognito, app, username, PASSWORD)["AuthenticationResult"])


def test_unconfirmed_user(cognito, app):
    username = f"user-{uid()}"
    cognito.sign_up(ClientId=app.client_id, Username=username, Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": f"{uid()}@example.com"}])
    with raises_cognito("UserNotConfirmedException"):
        initiate(cognito, app, username, PASSWORD)
    with raises_cognito("UserNotConfirmedException"):
        admin_initiate(cognito, app, username, PASSWORD)
    # a wrong password does not reveal the status
    assert_refused_sign_in(cognito, app, username, "Wr0ng-Password!")


def test_reset_required_user(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id, attributes={
        "email": f"{uid()}@example.com", "email_verified": "true"})
    cognito.admin_reset_user_password(UserPoolId=app.pool_id, Username=username)
    assert cognito.admin_get_user(UserPoolId=app.pool_id,
                                  Username=username)["UserStatus"] == "RESET_REQUIRED"
    with raises_cognito("PasswordResetRequiredException"):
        initiate(cognito, app, username, PASSWORD)
    with raises_cognito("PasswordResetRequiredException"):
        admin_initiate(cognito, app, username, PASSWORD)


def test_unknown_client(cognito, app, make_confirmed_user):
    username = make_confirmed_user(app.pool_id)
    ghost = "a" * 26
    with raises_cognito("ResourceNotFoundException"):
        cognito.initiate_auth(ClientId=ghost, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=ghost,
                                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})


def test_client_of_another_pool(cognito, app, make_app, make_confirmed_user):
    other = make_app()
    username = make_confirmed_user(app.pool_id)
    # the user lives in app's pool; other's client signs in to other's pool only
    assert_refused_sign_in(cognito, other, username, PASSWORD)
    with pytest.raises(ClientError) as info:
        cognito.admin_initiate_auth(UserPoolId=app.pool_id, ClientId=other.client_id,
                                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert 400 <= info.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500


def test_missing_auth_parameters(cognito_nv, app):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": "someone"})
    with raises_cognito("InvalidParameterException"):
        cognito_nv.initiate_auth(ClientId=app.client_id, AuthFlow="NO_SUCH_FLOW",
                                 AuthParameters={"USERNAME": "someone", "PASSWORD": PASSWORD})


# --------------------------------------------------------------------------- NEW_PASSWORD_REQUIRED


def new_password_challenge(cognito, app, make_user, *, admin=False):
    username = f"user-{uid()}"
    email = f"{uid()}@example.com"
    make_user(app.pool_id, username, {"email": email, "email_verified": "true"})
    if admin:
        resp = admin_initiate(cognito, app, username, TEMP_PASSWORD)
    else:
        resp = initiate(cognito, app, username, TEMP_PASSWORD)
    assert resp.get("ChallengeName") == "NEW_PASSWORD_REQUIRED", resp
    assert "AuthenticationResult" not in resp
    assert isinstance(resp.get("Session"), str) and len(resp["Session"]) >= 20
    params = resp["ChallengeParameters"]
    assert params["USER_ID_FOR_SRP"] == username
    user_attributes = json.loads(params["userAttributes"])
    assert isinstance(user_attributes, dict) and user_attributes.get("email") == email
    assert isinstance(json.loads(params["requiredAttributes"]), list)
    return username, resp["Session"]


def challenge_responses(app, username, new_password=NEW_PASSWORD):
    out = {"USERNAME": username, "NEW_PASSWORD": new_password}
    if app.client_secret:
        out["SECRET_HASH"] = app.secret_hash(username)
    return out


def test_new_password_required_challenge(cognito, app, make_user):
    username, session = new_password_challenge(cognito, app, make_user)
    resp = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
        ChallengeResponses=challenge_responses(app, username))
    assert_tokens(resp["AuthenticationResult"])
    assert cognito.get_user(AccessToken=resp["AuthenticationResult"]["AccessToken"])[
        "Username"] == username
    assert cognito.admin_get_user(UserPoolId=app.pool_id,
                                  Username=username)["UserStatus"] == "CONFIRMED"
    assert_refused_sign_in(cognito, app, username, TEMP_PASSWORD)
    assert_tokens(initiate(cognito, app, username, NEW_PASSWORD)["AuthenticationResult"])
    # the session was single-use
    with raises_cognito("NotAuthorizedException"):
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
            ChallengeResponses=challenge_responses(app, username, "An0ther-Passw0rd!"))


def test_admin_new_password_required_challenge(cognito, make_app, make_user):
    app = make_app(secret=True)
    username, session = new_password_challenge(cognito, app, make_user, admin=True)
    resp = cognito.admin_respond_to_auth_challenge(
        UserPoolId=app.pool_id, ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=session, ChallengeResponses=challenge_responses(app, username))
    assert_tokens(resp["AuthenticationResult"])
    assert cognito.admin_get_user(UserPoolId=app.pool_id,
                                  Username=username)["UserStatus"] == "CONFIRMED"
    with raises_cognito("NotAuthorizedException"):
        admin_initiate(cognito, app, username, TEMP_PASSWORD)
    assert_tokens(admin_initiate(cognito, app, username, NEW_PASSWORD)["AuthenticationResult"])


def test_new_password_challenge_errors(cognito, app, make_client, make_user):
    username, _ = new_password_challenge(cognito, app, make_user)

    def fresh_session() -> str:
        resp = initiate(cognito, app, username, TEMP_PASSWORD)
        assert resp["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
        return resp["Session"]

    with raises_cognito("NotAuthorizedException") as info:
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
            Session="AYABe" + "x" * 60, ChallengeResponses=challenge_responses(app, username))
    assert info.value.response["Error"]["Message"] == "Invalid session for the user."

    with raises_cognito("NotAuthorizedException"):
        cognito.admin_respond_to_auth_challenge(
            UserPoolId=app.pool_id, ClientId=app.client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED", Session="AYABe" + "y" * 60,
            ChallengeResponses=challenge_responses(app, username))

    # a session is bound to the client that started the sign-in
    other = make_client(app.pool_id)
    with raises_cognito("NotAuthorizedException"):
        cognito.respond_to_auth_challenge(
            ClientId=other.client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=fresh_session(), ChallengeResponses=challenge_responses(other, username))

    with raises_cognito("InvalidPasswordException"):
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=fresh_session(),
            ChallengeResponses=challenge_responses(app, username, "short"))
    # nothing changed: still FORCE_CHANGE_PASSWORD, the temporary password still challenges
    assert cognito.admin_get_user(UserPoolId=app.pool_id,
                                  Username=username)["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    resp = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=fresh_session(),
        ChallengeResponses=challenge_responses(app, username))
    assert_tokens(resp["AuthenticationResult"])


def test_new_password_challenge_with_secret_needs_secret_hash(cognito, make_app, make_user):
    app = make_app(secret=True)
    username, session = new_password_challenge(cognito, app, make_user)
    with raises_cognito("NotAuthorizedException") as info:
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": NEW_PASSWORD})
    assert_secret_hash_refused(info, app.client_id, missing=True)

    session = initiate(cognito, app, username, TEMP_PASSWORD)["Session"]
    with raises_cognito("NotAuthorizedException") as info:
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": NEW_PASSWORD,
                                "SECRET_HASH": app.secret_hash("someone-else")})
    assert_secret_hash_refused(info, app.client_id, missing=False)

    session = initiate(cognito, app, username, TEMP_PASSWORD)["Session"]
    resp = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
        ChallengeResponses=challenge_responses(app, username))
    assert_tokens(resp["AuthenticationResult"])
