"""fastapi-cognito (PyPI) validating Cognate's tokens in a small FastAPI app that this suite
runs with uvicorn in a thread.

fastapi-cognito takes a custom JWKS location per user pool (`jwks_url` in the `userpools`
settings; without it, it builds the AWS URL from region and pool id), so no monkeypatching is
needed: the app is pointed at `{publicUrl}/{poolId}/.well-known/jwks.json` and nothing else.
It checks the signature (key by `kid` from that JWKS), `exp`, and the client id (`aud` for
ID tokens, `client_id` for access tokens). It does not check `iss`, and it cannot know about
revocation: that is what /oauth2/introspect (and the revocation feed) are for.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
import uvicorn
from fastapi import Depends, FastAPI
from fastapi_cognito import CognitoAuth, CognitoSettings
from pydantic import BaseModel, ConfigDict, Field

from cognate_harness import tamper, uid, unsigned_copy

TENANT_SCHEMA = [{"Name": "tenantId", "AttributeDataType": "String", "Mutable": True}]
RS = "https://api.example.com"


class CognateClaims(BaseModel):
    """One model for ID, access and M2M tokens (fastapi-cognito's default `CognitoToken`
    requires access-token-only claims, so it is passed as `custom_model`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    sub: str
    iss: str
    token_use: str
    exp: int
    tenant_id: str | None = Field(default=None, alias="custom:tenantId")
    username: str | None = None
    cognito_username: str | None = Field(default=None, alias="cognito:username")
    client_id: str | None = None
    scope: str | None = None


API = FastAPI()


def protect(server, pool_id: str, client_ids: list[str]) -> str:
    """Adds `GET /{key}/whoami` guarded by a CognitoAuth for this pool; returns the path.
    (One app serves every test pool, so each gets its own route, added as any app would:
    `Depends(cognito.auth_required)`.)"""
    key = f"p{uid()}"
    settings = CognitoSettings(
        check_expiration=True,
        jwt_header_name="Authorization",
        jwt_header_prefix="Bearer",
        userpools={key: {"region": "local", "userpool_id": pool_id,
                         "app_client_id": client_ids, "jwks_url": server.jwks_url(pool_id)}},
    )
    cognito_auth = CognitoAuth(settings=settings, userpool_name=key, custom_model=CognateClaims)

    async def whoami(claims: CognateClaims = Depends(cognito_auth.auth_required)):
        return {"sub": claims.sub, "tokenUse": claims.token_use, "tenantId": claims.tenant_id,
                "username": claims.username or claims.cognito_username,
                "clientId": claims.client_id, "scope": claims.scope}

    API.add_api_route(f"/{key}/whoami", whoami, methods=["GET"])
    return f"/{key}/whoami"


@pytest.fixture(scope="session")
def fastapi_url():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app_server = uvicorn.Server(uvicorn.Config(API, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=app_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not app_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def call(base: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(base + path, headers=headers, timeout=30)


@pytest.fixture
def tenant_user(make_app, make_confirmed_user, sign_in):
    app = make_app(pool={"Schema": TENANT_SCHEMA})
    username = make_confirmed_user(app.pool_id, attributes={
        "email": f"{uid()}@example.com", "email_verified": "true", "custom:tenantId": "acme"})
    return app, username, sign_in(app, username)


def test_accepts_id_and_access_tokens_and_reads_tenant(server, fastapi_url, tenant_user):
    app, username, tokens = tenant_user
    path = protect(server, app.pool_id, [app.client_id])

    resp = call(fastapi_url, path, tokens["IdToken"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tenantId"] == "acme"
    assert body["tokenUse"] == "id"
    assert body["username"] == username

    resp = call(fastapi_url, path, tokens["AccessToken"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tokenUse"] == "access"
    assert body["tenantId"] == "acme"
    assert body["username"] == username
    assert body["clientId"] == app.client_id
    assert body["scope"] == "aws.cognito.signin.user.admin"


def test_rejects_tampered_and_foreign_tokens(server, fastapi_url, tenant_user, make_client,
                                             make_app, make_confirmed_user, sign_in):
    app, username, tokens = tenant_user
    path = protect(server, app.pool_id, [app.client_id])
    other_client = make_client(app.pool_id)
    other_pool = make_app()
    stranger = make_confirmed_user(other_pool.pool_id)
    bad = {
        "tampered tenant": tamper(tokens["IdToken"], **{"custom:tenantId": "evil-corp"}),
        "tampered sub": tamper(tokens["AccessToken"]),
        "alg none": unsigned_copy(tokens["IdToken"]),
        "garbage": "not-a-jwt",
        "other client": sign_in(other_client, username)["IdToken"],
        "other pool": sign_in(other_pool, stranger)["AccessToken"],
    }
    for what, token in bad.items():
        resp = call(fastapi_url, path, token)
        assert resp.status_code in (401, 403), (what, resp.status_code, resp.text[:200])
    assert call(fastapi_url, path, None).status_code in (401, 403)
    assert call(fastapi_url, path, tokens["IdToken"]).status_code == 200


def test_accepts_m2m_tokens(server, cognito, fastapi_url, make_pool, make_client):
    pool_id = make_pool()["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier=RS, Name="api",
                                   Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}])
    m2m = make_client(pool_id, secret=True, flows=None, AllowedOAuthFlows=["client_credentials"],
                      AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=[f"{RS}/read"])
    resp = requests.post(f"{server.url}/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(m2m.client_id, m2m.client_secret), timeout=30)
    assert resp.status_code == 200, resp.text
    path = protect(server, pool_id, [m2m.client_id])
    resp = call(fastapi_url, path, resp.json()["access_token"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["sub"] == body["clientId"] == m2m.client_id
    assert body["scope"] == f"{RS}/read"


def test_revoked_token_is_inactive_at_introspection(server, cognito, fastapi_url, tenant_user,
                                                    make_client):
    app, _, tokens = tenant_user
    path = protect(server, app.pool_id, [app.client_id])
    backend = make_client(app.pool_id, secret=True)

    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)

    # offline validation cannot see the revocation: the signature and exp are still fine ...
    assert call(fastapi_url, path, tokens["AccessToken"]).status_code == 200
    # ... which is why the backend asks Cognate
    resp = requests.post(f"{server.url}/oauth2/introspect", data={"token": tokens["AccessToken"]},
                         auth=(backend.client_id, backend.client_secret), timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"active": False}
