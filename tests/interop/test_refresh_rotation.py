"""GetTokensFromRefreshToken and refresh-token rotation (RefreshTokenRotation on the client)
with reuse detection: reusing a rotated token after the grace period revokes the family."""

from __future__ import annotations

import time

import pytest

from cognate_harness import jwt_claims, raises_cognito, uid


def rotation(grace: int) -> dict:
    return {"RefreshTokenRotation": {"Feature": "ENABLED", "RetryGracePeriodSeconds": grace}}


def refresh(cognito, app, token):
    kw = {"RefreshToken": token, "ClientId": app.client_id}
    if app.client_secret:
        kw["ClientSecret"] = app.client_secret
    return cognito.get_tokens_from_refresh_token(**kw)["AuthenticationResult"]


@pytest.fixture
def rotating(make_app, make_confirmed_user, sign_in):
    """Factory: (app, username, sign-in tokens) for a client with rotation and `grace` seconds."""

    def make(grace: int = 0, **client_kw):
        app = make_app(**rotation(grace), **client_kw)
        username = make_confirmed_user(app.pool_id)
        return app, username, sign_in(app, username)

    return make


def test_rotation_setting_round_trips(cognito, app, make_client):
    client = make_client(app.pool_id, **rotation(15))
    described = cognito.describe_user_pool_client(UserPoolId=app.pool_id,
                                                  ClientId=client.client_id)["UserPoolClient"]
    assert described["RefreshTokenRotation"] == {"Feature": "ENABLED",
                                                 "RetryGracePeriodSeconds": 15}
    updated = cognito.update_user_pool_client(
        UserPoolId=app.pool_id, ClientId=app.client_id,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        **rotation(60))["UserPoolClient"]
    assert updated["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 60}
    described = cognito.describe_user_pool_client(UserPoolId=app.pool_id,
                                                  ClientId=app.client_id)["UserPoolClient"]
    assert described["RefreshTokenRotation"]["Feature"] == "ENABLED"


def test_rotation_grace_out_of_range(cognito_nv, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_user_pool_client(UserPoolId=pool_id, ClientName=f"app-{uid()}",
                                           **rotation(61))
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_user_pool_client(
            UserPoolId=pool_id, ClientName=f"app-{uid()}",
            RefreshTokenRotation={"Feature": "SOMETIMES", "RetryGracePeriodSeconds": 0})


def test_get_tokens_without_rotation(cognito, user_tokens):
    app, username, tokens = user_tokens
    for _ in range(2):  # the same refresh token keeps working
        result = refresh(cognito, app, tokens["RefreshToken"])
        assert "RefreshToken" not in result, result
        assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
        assert cognito.get_user(AccessToken=result["AccessToken"])["Username"] == username
        assert jwt_claims(result["IdToken"])["cognito:username"] == username
        assert jwt_claims(result["AccessToken"])["origin_jti"] == jwt_claims(
            tokens["AccessToken"])["origin_jti"]


def test_get_tokens_errors(cognito, user_tokens, make_client, make_app, make_confirmed_user,
                           sign_in):
    app, _, tokens = user_tokens
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, "not-a-refresh-token-" + uid(40))
    other = make_client(app.pool_id)
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, other, tokens["RefreshToken"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_tokens_from_refresh_token(RefreshToken=tokens["RefreshToken"],
                                              ClientId="b" * 26)

    secret = make_app(secret=True)
    username = make_confirmed_user(secret.pool_id)
    secret_tokens = sign_in(secret, username)
    for bad in (None, "wrong-secret-" + uid(20)):
        kw = {"ClientSecret": bad} if bad else {}
        with raises_cognito("NotAuthorizedException"):
            cognito.get_tokens_from_refresh_token(
                RefreshToken=secret_tokens["RefreshToken"], ClientId=secret.client_id, **kw)
    assert refresh(cognito, secret, secret_tokens["RefreshToken"])["AccessToken"]


def test_rotation_issues_a_new_refresh_token_each_time(cognito, rotating):
    app, username, tokens = rotating(grace=0)
    first = refresh(cognito, app, tokens["RefreshToken"])
    assert first["RefreshToken"] and first["RefreshToken"] != tokens["RefreshToken"]
    second = refresh(cognito, app, first["RefreshToken"])
    assert second["RefreshToken"] not in (tokens["RefreshToken"], first["RefreshToken"])
    for result in (first, second):
        assert cognito.get_user(AccessToken=result["AccessToken"])["Username"] == username
    # the family stays the same across rotations
    origin = jwt_claims(tokens["AccessToken"])["origin_jti"]
    assert jwt_claims(second["AccessToken"])["origin_jti"] == origin


def test_reuse_after_grace_revokes_the_family(cognito, rotating, sign_in):
    app, username, tokens = rotating(grace=0)
    first = refresh(cognito, app, tokens["RefreshToken"])
    second = refresh(cognito, app, first["RefreshToken"])
    # an unrelated sign-in of the same user: a different family
    bystander = sign_in(app, username)

    with raises_cognito("RefreshTokenReuseException"):
        refresh(cognito, app, tokens["RefreshToken"])  # rotated away two steps ago

    # the whole family is revoked: the newest refresh token and every access token
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, second["RefreshToken"])
    for access in (tokens["AccessToken"], first["AccessToken"], second["AccessToken"]):
        with raises_cognito("NotAuthorizedException"):
            cognito.get_user(AccessToken=access)
    # ... and only that family
    assert cognito.get_user(AccessToken=bystander["AccessToken"])["Username"] == username
    assert refresh(cognito, app, bystander["RefreshToken"])["RefreshToken"]


def test_reuse_of_the_previous_token_is_detected(cognito, rotating):
    app, _, tokens = rotating(grace=0)
    first = refresh(cognito, app, tokens["RefreshToken"])
    with raises_cognito("RefreshTokenReuseException"):
        refresh(cognito, app, tokens["RefreshToken"])
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, first["RefreshToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=first["AccessToken"])


def test_grace_period_allows_a_retry(cognito, rotating):
    app, username, tokens = rotating(grace=2)
    first = refresh(cognito, app, tokens["RefreshToken"])
    # a client that lost the response retries with the old token within the grace period
    retry = refresh(cognito, app, tokens["RefreshToken"])
    assert retry["AccessToken"]
    assert cognito.get_user(AccessToken=retry["AccessToken"])["Username"] == username
    time.sleep(2.5)
    with raises_cognito("RefreshTokenReuseException"):
        refresh(cognito, app, tokens["RefreshToken"])
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, first["RefreshToken"])


def test_rotation_with_a_secret_client(cognito, rotating):
    app, username, tokens = rotating(grace=0, secret=True)
    first = refresh(cognito, app, tokens["RefreshToken"])
    assert first["RefreshToken"] != tokens["RefreshToken"]
    with raises_cognito("NotAuthorizedException"):
        cognito.get_tokens_from_refresh_token(RefreshToken=first["RefreshToken"],
                                              ClientId=app.client_id)
    # a refused call (no secret) did not consume the token
    assert refresh(cognito, app, first["RefreshToken"])["RefreshToken"]
