"""OAuth 2.0 endpoints (form-encoded, RFC 6749 / 7009 / 7662): /oauth2/token with
client_credentials and refresh_token, /oauth2/revoke, /oauth2/userInfo, /oauth2/introspect."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from cognate_harness import jwt_claims, jwt_header, raises_cognito, tamper, uid
from conftest import App

RS = "https://api.example.com"
READ, WRITE, ADMIN = f"{RS}/read", f"{RS}/write", f"{RS}/admin"
M2M_CLAIMS = {"sub", "iss", "client_id", "token_use", "scope", "iat", "exp", "jti", "version",
              "auth_time"}


@pytest.fixture
def m2m(cognito, make_pool, make_client) -> App:
    """A pool with resource server RS (read/write/admin) and a client_credentials client
    allowed read and write."""
    pool_id = make_pool()["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier=RS, Name="api", Scopes=[
        {"ScopeName": n, "ScopeDescription": n} for n in ("read", "write", "admin")])
    return make_client(pool_id, secret=True, flows=None, AllowedOAuthFlows=["client_credentials"],
                       AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=[READ, WRITE])


def token_endpoint(server, data, auth=None, headers=None):
    return requests.post(f"{server.url}/oauth2/token", data=data, auth=auth, headers=headers,
                         timeout=30)


def client_credentials(server, app, scope=None, *, basic=True, secret=None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    secret = secret if secret is not None else app.client_secret
    if basic:
        return token_endpoint(server, data, auth=(app.client_id, secret))
    return token_endpoint(server, {**data, "client_id": app.client_id, "client_secret": secret})


def oauth_error(resp, error, status=400):
    assert resp.status_code == status, (error, resp.status_code, resp.text[:300])
    body = resp.json()
    assert body.get("error") == error, body
    assert "access_token" not in body
    return body


def introspect(server, app, token, auth=None):
    return requests.post(f"{server.url}/oauth2/introspect", data={"token": token},
                         auth=auth if auth is not None else (app.client_id, app.client_secret),
                         timeout=30)


def verify(server, pool_id, token, **kw):
    key = jwt.PyJWKClient(server.jwks_url(pool_id), cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=server.issuer(pool_id),
                      options={"verify_aud": False}, **kw)


# --------------------------------------------------------------------------- client_credentials


def test_client_credentials_basic_auth(server, m2m):
    resp = client_credentials(server, m2m)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers.get("Cache-Control") == "no-store"  # RFC 6749 5.1
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body and "id_token" not in body
    claims = verify(server, m2m.pool_id, body["access_token"])
    assert set(claims) == M2M_CLAIMS, sorted(claims)
    assert claims["sub"] == claims["client_id"] == m2m.client_id
    assert claims["token_use"] == "access"
    assert claims["version"] == 2
    assert claims["iss"] == server.issuer(m2m.pool_id)
    assert claims["exp"] - claims["iat"] == 3600
    assert set(claims["scope"].split(" ")) == {READ, WRITE}  # all allowed scopes by default
    assert jwt_header(body["access_token"])["kid"] in server.kids(m2m.pool_id)


def test_client_credentials_post_auth_and_scope_subset(server, m2m):
    resp = client_credentials(server, m2m, scope=READ, basic=False)
    assert resp.status_code == 200, resp.text
    assert jwt_claims(resp.json()["access_token"])["scope"] == READ
    resp = client_credentials(server, m2m, scope=f"{WRITE} {READ}")
    assert set(jwt_claims(resp.json()["access_token"])["scope"].split(" ")) == {READ, WRITE}


def test_client_credentials_lifetime(server, cognito, m2m, make_client):
    short = make_client(m2m.pool_id, secret=True, flows=None,
                        AllowedOAuthFlows=["client_credentials"],
                        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=[READ],
                        AccessTokenValidity=10, TokenValidityUnits={"AccessToken": "minutes"})
    body = client_credentials(server, short).json()
    assert body["expires_in"] == 600
    claims = jwt_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 600 and claims["scope"] == READ


def test_client_credentials_errors(server, m2m, make_client):
    resp = client_credentials(server, m2m, secret="wrong-" + uid(20))
    oauth_error(resp, "invalid_client", 401)
    assert resp.headers.get("WWW-Authenticate", "").startswith("Basic")  # RFC 6749 5.2
    oauth_error(client_credentials(server, m2m, secret="wrong-" + uid(20), basic=False),
                "invalid_client", 401)
    ghost = App(m2m.pool_id, "d" * 26, "whatever")
    oauth_error(client_credentials(server, ghost), "invalid_client", 401)
    oauth_error(token_endpoint(server, {"grant_type": "client_credentials"}), "invalid_client", 401)

    oauth_error(client_credentials(server, m2m, scope=ADMIN), "invalid_scope")  # not allowed
    oauth_error(client_credentials(server, m2m, scope=f"{RS}/nope"), "invalid_scope")  # unknown
    oauth_error(client_credentials(server, m2m, scope=f"{READ} {ADMIN}"), "invalid_scope")
    oauth_error(client_credentials(server, m2m, scope="aws.cognito.signin.user.admin"),
                "invalid_scope")

    # a client with a secret but without the client_credentials flow
    no_flow = make_client(m2m.pool_id, secret=True)
    oauth_error(client_credentials(server, no_flow), "unauthorized_client")

    resp = token_endpoint(server, {"grant_type": "password", "username": "u", "password": "p"},
                          auth=(m2m.client_id, m2m.client_secret))
    oauth_error(resp, "unsupported_grant_type")
    oauth_error(token_endpoint(server, {}, auth=(m2m.client_id, m2m.client_secret)),
                "invalid_request")
    # a JSON body is not a form
    resp = requests.post(f"{server.url}/oauth2/token", json={"grant_type": "client_credentials"},
                         auth=(m2m.client_id, m2m.client_secret), timeout=30)
    assert 400 <= resp.status_code < 500 and "access_token" not in resp.text


def test_m2m_token_is_not_a_user_token(server, cognito, m2m):
    token = client_credentials(server, m2m).json()["access_token"]
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=token)
    resp = requests.get(f"{server.url}/oauth2/userInfo",
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code in (401, 403)


# --------------------------------------------------------------------------- refresh_token grant


def test_refresh_token_grant(server, cognito, user_tokens):
    app, username, tokens = user_tokens
    resp = token_endpoint(server, {"grant_type": "refresh_token",
                                   "refresh_token": tokens["RefreshToken"],
                                   "client_id": app.client_id})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "refresh_token" not in body
    assert jwt_claims(body["id_token"])["cognito:username"] == username
    assert jwt_claims(body["id_token"])["aud"] == app.client_id
    assert cognito.get_user(AccessToken=body["access_token"])["Username"] == username

    oauth_error(token_endpoint(server, {"grant_type": "refresh_token",
                                        "refresh_token": "garbage-" + uid(30),
                                        "client_id": app.client_id}), "invalid_grant")


def test_refresh_token_grant_with_secret(server, make_app, make_confirmed_user, sign_in):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["RefreshToken"]}
    resp = token_endpoint(server, data, auth=(app.client_id, app.client_secret))
    assert resp.status_code == 200, resp.text
    assert jwt_claims(resp.json()["access_token"])["username"] == username
    resp = token_endpoint(server, {**data, "client_id": app.client_id,
                                   "client_secret": app.client_secret})
    assert resp.status_code == 200, resp.text
    oauth_error(token_endpoint(server, data, auth=(app.client_id, "wrong")), "invalid_client", 401)
    oauth_error(token_endpoint(server, {**data, "client_id": app.client_id}), "invalid_client", 401)


# --------------------------------------------------------------------------- revoke


def test_oauth2_revoke(server, cognito, user_tokens, sign_in):
    app, username, tokens = user_tokens
    other = sign_in(app, username)
    resp = requests.post(f"{server.url}/oauth2/revoke",
                         data={"token": tokens["RefreshToken"], "client_id": app.client_id},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["AccessToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert cognito.get_user(AccessToken=other["AccessToken"])["Username"] == username
    # RFC 7009: an unknown or already revoked token is not an error
    for token in (tokens["RefreshToken"], "garbage-" + uid(30)):
        resp = requests.post(f"{server.url}/oauth2/revoke",
                             data={"token": token, "client_id": app.client_id}, timeout=30)
        assert resp.status_code == 200, resp.text


def test_oauth2_revoke_with_secret(server, cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    resp = requests.post(f"{server.url}/oauth2/revoke", data={"token": tokens["RefreshToken"]},
                         auth=(app.client_id, "wrong-secret"), timeout=30)
    oauth_error(resp, "invalid_client", 401)
    assert cognito.get_user(AccessToken=tokens["AccessToken"])["Username"] == username
    resp = requests.post(f"{server.url}/oauth2/revoke", data={"token": tokens["RefreshToken"]},
                         auth=(app.client_id, app.client_secret), timeout=30)
    assert resp.status_code == 200, resp.text
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["AccessToken"])


# --------------------------------------------------------------------------- userInfo


def test_userinfo(server, user_tokens, cognito):
    app, username, tokens = user_tokens
    email = {a["Name"]: a["Value"] for a in cognito.admin_get_user(
        UserPoolId=app.pool_id, Username=username)["UserAttributes"]}
    bearer = {"Authorization": f"Bearer {tokens['AccessToken']}"}
    for method in ("GET", "POST"):
        resp = requests.request(method, f"{server.url}/oauth2/userInfo", headers=bearer,
                                timeout=30)
        assert resp.status_code == 200, (method, resp.text)
        info = resp.json()
        assert info["sub"] == jwt_claims(tokens["AccessToken"])["sub"] == email["sub"]
        assert info["username"] == username
        assert info["email"] == email["email"]
        assert info["email_verified"] == "true"


def test_userinfo_refuses_bad_tokens(server, user_tokens):
    _, _, tokens = user_tokens
    url = f"{server.url}/oauth2/userInfo"
    assert requests.get(url, timeout=30).status_code == 401
    for token in ("garbage", tamper(tokens["AccessToken"]), tokens["IdToken"]):
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert resp.status_code == 401, (token[:20], resp.status_code, resp.text[:200])
        assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")  # RFC 6750 3


# --------------------------------------------------------------------------- introspect


def test_introspect_active_tokens(server, user_tokens, make_client):
    app, username, tokens = user_tokens
    resource = make_client(app.pool_id, secret=True)  # e.g. a backend API's own client
    resp = introspect(server, resource, tokens["AccessToken"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    claims = jwt_claims(tokens["AccessToken"])
    assert body["active"] is True
    assert body["sub"] == claims["sub"]
    assert body["client_id"] == app.client_id
    assert body["token_use"] == "access"
    assert body["scope"] == "aws.cognito.signin.user.admin"
    assert body["username"] == username
    assert body["exp"] == claims["exp"] and body["iat"] == claims["iat"]
    assert body["iss"] == server.issuer(app.pool_id)


def test_introspect_m2m_token(server, m2m):
    token = client_credentials(server, m2m).json()["access_token"]
    body = introspect(server, m2m, token).json()
    assert body["active"] is True
    assert body["client_id"] == m2m.client_id and body["token_use"] == "access"
    assert set(body["scope"].split(" ")) == {READ, WRITE}


def test_introspect_inactive_and_auth(server, cognito, user_tokens, make_client, make_app):
    app, _, tokens = user_tokens
    resource = make_client(app.pool_id, secret=True)
    for token in ("garbage", tamper(tokens["AccessToken"]),
                  tamper(tokens["AccessToken"], exp=int(time.time()) - 10)):
        resp = introspect(server, resource, token)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"active": False}

    assert requests.post(f"{server.url}/oauth2/introspect", data={"token": tokens["AccessToken"]},
                         timeout=30).status_code == 401
    assert introspect(server, resource, tokens["AccessToken"],
                      auth=(resource.client_id, "wrong-secret")).status_code == 401
    # a client of another pool learns nothing about this pool's tokens
    stranger = make_app(secret=True)
    resp = introspect(server, stranger, tokens["AccessToken"])
    assert resp.status_code == 401 or resp.json() == {"active": False}, resp.text


def test_introspect_after_revoke_and_sign_out(server, cognito, user_tokens, make_client,
                                              sign_in):
    app, username, tokens = user_tokens
    resource = make_client(app.pool_id, secret=True)
    second = sign_in(app, username)
    assert introspect(server, resource, tokens["AccessToken"]).json()["active"] is True

    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)
    assert introspect(server, resource, tokens["AccessToken"]).json() == {"active": False}
    assert introspect(server, resource, second["AccessToken"]).json()["active"] is True

    cognito.global_sign_out(AccessToken=second["AccessToken"])
    assert introspect(server, resource, second["AccessToken"]).json() == {"active": False}
