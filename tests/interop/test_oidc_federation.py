"""OIDC federation end to end: a pool's OIDC identity provider is a real OpenID provider
(node-oidc-provider, tests/interop/js/oidc_idp.mjs); Chromium goes from Cognate's
/oauth2/authorize?identity_provider=NAME to the provider's login and consent, back through
Cognate's /oauth2/idpresponse to the app's callback; the app redeems the code with PKCE.
Then what Cognate made of it (the federated user, its tokens, the provider's discovered
details) and the refusals (a replayed callback, a forged state, the provider's error).
boto3 on both backends."""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cognate_harness import uid
from hosted_login import CALLBACK
from oidc_idp import OidcIdp, complete_in_browser, query_of

playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")

SCOPES = "openid email profile"


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    pg = context.new_page()
    pg.callbacks = []
    pg.seen = []
    pg.on("request", lambda request: pg.seen.append(request.url))

    def catch(route):
        pg.callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>")

    pg.route(re.compile(r"^https://app\.example\.com/.*"), catch)
    yield pg
    context.close()


class Federation:
    """A pool whose OIDC provider NAME is `idp`, and an app client that offers it."""

    def __init__(self, server, cognito, idp: OidcIdp, secret: str) -> None:
        self.server, self.cognito, self.idp = server, cognito, idp
        self.name = "Acme" + uid(6)
        self.pool_id = cognito.create_user_pool(PoolName="fed-" + uid())["UserPool"]["Id"]
        cognito.create_identity_provider(
            UserPoolId=self.pool_id, ProviderName=self.name, ProviderType="OIDC",
            ProviderDetails={
                "client_id": "cognate-rp",
                "client_secret": secret,
                "authorize_scopes": SCOPES,
                "oidc_issuer": idp.issuer,
                "attributes_request_method": "GET",
            },
            AttributeMapping={"email": "email", "given_name": "given_name"},
        )
        self.client_id = cognito.create_user_pool_client(
            UserPoolId=self.pool_id, ClientName="Notes web", CallbackURLs=[CALLBACK],
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email", "profile"],
            AllowedOAuthFlowsUserPoolClient=True, SupportedIdentityProviders=[self.name],
        )["UserPoolClient"]["ClientId"]

    def authorize_url(self, verifier: str, state: str) -> str:
        query = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK,
            "state": state, "scope": SCOPES, "identity_provider": self.name,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
        }
        return requests.Request("GET", f"{self.server.url}/oauth2/authorize", params=query).prepare().url

    def exchange(self, code: str, verifier: str) -> dict:
        resp = requests.post(f"{self.server.url}/oauth2/token", data={
            "grant_type": "authorization_code", "client_id": self.client_id, "code": code,
            "redirect_uri": CALLBACK, "code_verifier": verifier}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def federation(server, cognito):
    secret = secrets.token_urlsafe(24)
    provider = OidcIdp(clients=[{
        "client_id": "cognate-rp",
        "client_secret": secret,
        "redirect_uris": [f"{server.url}/oauth2/idpresponse"],
        "token_endpoint_auth_method": "client_secret_basic",
    }])
    with provider:
        yield Federation(server, cognito, provider, secret)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def identities_of(claims: dict) -> list[dict]:
    value = claims["identities"]
    return json.loads(value) if isinstance(value, str) else value


def test_sign_in_through_an_oidc_provider_in_chromium(federation, page, cognito):
    fed = federation
    verifier, state = secrets.token_urlsafe(48), "st-" + uid()
    # First without the browser, for a clear message when Cognate does not send the user
    # to the provider (a refused authorize request redirects straight to the app).
    first = requests.get(fed.authorize_url(secrets.token_urlsafe(48), "probe"), allow_redirects=False, timeout=10)
    assert first.headers.get("location", "").startswith(f"{fed.idp.issuer}/auth?"), (
        first.status_code, first.headers.get("location"), first.text[:500])
    page.goto(fed.authorize_url(verifier, state))
    assert page.url.startswith(fed.idp.issuer), page.url
    complete_in_browser(page, fed.idp, "alice")
    page.wait_for_function("() => document.body && document.body.innerText.includes('callback')", timeout=15000)
    assert page.callbacks, f"the browser never reached the callback: {page.seen}"
    back = parse_qs(urlsplit(page.callbacks[-1]).query)
    assert back["state"] == [state]
    tokens = fed.exchange(back["code"][0], verifier)

    claims = claims_of(tokens["id_token"])
    assert claims["cognito:username"] == f"{fed.name}_alice"
    assert claims["email"] == "alice@example.test"
    assert claims["given_name"] == "Alice"
    assert f"{fed.pool_id}_{fed.name}" in claims["cognito:groups"]
    [identity] = identities_of(claims)
    assert identity["providerName"] == fed.name
    assert identity["providerType"] == "OIDC"
    assert identity["userId"] == "alice"

    user = cognito.admin_get_user(UserPoolId=fed.pool_id, Username=f"{fed.name}_alice")
    assert user["UserStatus"] == "EXTERNAL_PROVIDER"
    described = cognito.describe_identity_provider(UserPoolId=fed.pool_id, ProviderName=fed.name)
    details = described["IdentityProvider"]["ProviderDetails"]
    assert details["authorize_url"] == f"{fed.idp.issuer}/auth"
    assert details["token_url"] == f"{fed.idp.issuer}/token"
    assert details["jwks_uri"] == f"{fed.idp.issuer}/jwks"
    assert details["attributes_url"] == f"{fed.idp.issuer}/me"

    # The callback replayed (same code, same state): refused, no second code for the app.
    [callback] = [u for u in page.seen if u.startswith(f"{fed.server.url}/oauth2/idpresponse")]
    again = requests.get(callback, allow_redirects=False, timeout=10)
    location = again.headers.get("location", "")
    assert "code=" not in location, (again.status_code, location)
    assert again.status_code >= 400 or "error=" in location, (again.status_code, location)


def test_a_state_never_issued_is_refused(federation):
    resp = requests.get(f"{federation.server.url}/oauth2/idpresponse",
                        params={"code": "made-up", "state": "never-issued-" + uid()},
                        allow_redirects=False, timeout=10)
    assert resp.status_code >= 400, (resp.status_code, resp.headers.get("location"))
    assert "code=" not in resp.headers.get("location", "")


def test_the_providers_error_goes_to_the_apps_redirect_uri(federation):
    fed = federation
    state = "st-" + uid()
    # The user cancels at the provider's consent page: the provider answers Cognate with
    # error=access_denied, and Cognate the app, with the app's own state.
    back = fed.idp.sign_in(fed.authorize_url(secrets.token_urlsafe(48), state), "alice",
                           consent=False, stop_at=CALLBACK)
    assert back.startswith(CALLBACK), back
    params = query_of(back)
    assert params["error"] == "access_denied", params
    assert params["state"] == state
    assert "code" not in params
