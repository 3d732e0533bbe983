"""Tenant SSO end to end (docs/sso.md): a tenant of the shared pool connects its own IdP — a
real OpenID provider (node-oidc-provider, oidc_idp.py) or a real SAML IdP (SimpleSAMLphp,
saml_idp.py) — and its people sign in from the hosted login's "Sign in with your corporate
ID" form in Chromium. The first sign-in creates the user and their membership just in time
(default or mapped role), the tokens carry the tenant, the membership and the audit trail
show the join; a disabled connection or a suspended tenant admits nobody; two connections of
one tenant each route their own domain; an identity linked to a password account signs in
as that account. One IdP of each kind per backend; both backends."""

from __future__ import annotations

import json
import re
import secrets
import time
import types
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cognate_harness import assert_v1_error, attrs, uid
from hosted_login import CALLBACK
from oidc_idp import OidcIdp
from saml_idp import SamlSp, SamlUser, SimpleSamlIdp, simplesamlphp_missing

playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")

SCOPES = "openid email profile"
OIDC_CLIENT_ID = "cognate-sso"

# Each test's tenant has domains of its own (a pool keeps one user per email address); the
# IdP accounts are made for them when the IdP starts.
RUN = uid(8)
OIDC_DOMAIN = f"acme-{RUN}.example"
SAML_DOMAIN = f"globex-{RUN}.example"
NORTH_DOMAIN = f"north-{RUN}.example"
SOUTH_DOMAIN = f"south-{RUN}.example"
LINK_DOMAIN = f"initech-{RUN}.example"
CONSOLE_DOMAIN = f"hooli-{RUN}.example"

#: node-oidc-provider accounts (login -> claims); `groups` comes with the profile scope.
OIDC_USERS = {
    "carol": {"email": f"carol@{OIDC_DOMAIN}", "email_verified": True, "given_name": "Carol",
              "family_name": "Danvers", "groups": ["engineering", "it-admins"]},
    "nora": {"email": f"nora@{NORTH_DOMAIN}", "email_verified": True, "given_name": "Nora",
             "family_name": "North", "groups": ["engineering"]},
    "dave": {"email": f"dave@{LINK_DOMAIN}", "email_verified": True, "given_name": "Dave",
             "family_name": "Lister", "groups": ["engineering"]},
    "erin": {"email": f"erin@{CONSOLE_DOMAIN}", "email_verified": True, "given_name": "Erin",
             "family_name": "Console", "groups": ["it-admins"]},
}


def saml_user(username: str, email: str, groups: list[str]) -> SamlUser:
    return SamlUser(username, f"{username}-Passw0rd", {
        "uid": [username], "email": [email], "givenName": [username.title()], "sn": ["Example"],
        "groups": groups,
    })


def saml_users() -> list[SamlUser]:
    """SimpleSAMLphp accounts at the tenants' domains (fresh for each IdP)."""
    return [
        saml_user("grace", f"grace@{SAML_DOMAIN}", ["staff", "it-admins"]),
        saml_user("sam", f"sam@{SOUTH_DOMAIN}", ["staff"]),
    ]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def new_page(chromium):
    """`new_page()`: a page in a browser context of its own (no IdP or Cognate session).
    `page.callbacks` lists the app callback URLs the browser asked for; the callback is
    answered here, never by the network."""
    contexts = []

    def make():
        context = chromium.new_context()
        contexts.append(context)
        page = context.new_page()
        page.callbacks = []
        page.on("request", lambda r: page.callbacks.append(r.url) if is_callback(r) else None)
        page.route(re.compile(r"^https://app\.example\.com/.*"),
                   lambda route: route.fulfill(status=200, content_type="text/html",
                                               body="<h1>callback</h1>"))
        return page

    yield make
    for context in contexts:
        context.close()


@dataclass
class Oidc:
    idp: OidcIdp
    secret: str


@pytest.fixture(scope="module")
def oidc(server):
    """One OpenID provider per backend, with Cognate's redirect URI registered for its client."""
    secret = secrets.token_urlsafe(24)
    idp = OidcIdp(clients=[{
        "client_id": OIDC_CLIENT_ID,
        "client_secret": secret,
        "redirect_uris": [f"{server.url}/oauth2/idpresponse"],
        "token_endpoint_auth_method": "client_secret_basic",
    }], users=OIDC_USERS)
    with idp:
        yield Oidc(idp, secret)


@pytest.fixture(scope="module")
def saml(server):
    """One SimpleSAMLphp per backend; each test registers the pool it uses as an SP."""
    missing = simplesamlphp_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    idp = SimpleSamlIdp(users=saml_users())
    with idp:
        yield idp


def is_callback(request) -> bool:
    return request.url.startswith(CALLBACK)


def verified_domain(tenancy, tenant_id: str, domain: str) -> str:
    tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/domains", {"domain": domain}, status=201)
    tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/domains/{domain}/verify", {"method": "attest"})
    return domain


def oidc_connection(tenancy, tenant_id: str, oidc: Oidc, domain: str, **extra) -> dict:
    conn = tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/connections", {
        "name": "Acme OIDC", "domains": [domain],
        "oidc": {"issuer": oidc.idp.issuer, "clientId": OIDC_CLIENT_ID, "clientSecret": oidc.secret,
                 "scopes": SCOPES},
        **extra,
    }, status=201)
    assert conn["oidc"]["redirectUri"] == f"{tenancy.server.url}/oauth2/idpresponse", conn
    return conn


def saml_connection(tenancy, tenant_id: str, idp: SimpleSamlIdp, domain: str, **extra) -> dict:
    """A SAML connection read from the IdP's metadata URL, and its SP registered at the IdP
    with the values of the connection's answer and the pool's signing certificate."""
    conn = tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/connections", {
        "name": "Globex SAML", "domains": [domain],
        "saml": {"metadataUrl": idp.metadata_url},
        "attributeMapping": {"email": "email", "given_name": "givenName"},
        **extra,
    }, status=201)
    sp = conn["saml"]
    cert = tenancy.cognito.get_signing_certificate(UserPoolId=conn["poolId"])["Certificate"]
    body = "\n".join(cert[i:i + 64] for i in range(0, len(cert), 64))
    idp.add_sp(SamlSp(entity_id=sp["spEntityId"], acs_url=sp["acsUrl"],
                      signing_cert_pem=f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"))
    return conn


@dataclass
class App:
    """A web app client of the shared pool offering the tenant's connections."""

    server: object
    pool_id: str
    client_id: str

    def authorize_url(self, verifier: str, state: str, **extra: str) -> str:
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK,
                 "state": state, "scope": SCOPES, "code_challenge": create_s256_code_challenge(verifier),
                 "code_challenge_method": "S256", **extra}
        return requests.Request("GET", f"{self.server.url}/oauth2/authorize", params=query).prepare().url

    def exchange(self, code: str, verifier: str) -> dict:
        resp = requests.post(f"{self.server.url}/oauth2/token", data={
            "grant_type": "authorization_code", "client_id": self.client_id, "code": code,
            "redirect_uri": CALLBACK, "code_verifier": verifier}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def refresh(self, refresh_token: str) -> dict:
        resp = requests.post(f"{self.server.url}/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": self.client_id,
            "refresh_token": refresh_token}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def claims(self, tokens: dict) -> tuple[dict, dict]:
        """(ID token claims, access token claims), both verified with the pool's JWKS."""
        jwks = jwt.PyJWKClient(self.server.jwks_url(self.pool_id), cache_keys=False)
        issuer = self.server.issuer(self.pool_id)
        id_token, access = tokens["id_token"], tokens["access_token"]
        idc = jwt.decode(id_token, jwks.get_signing_key_from_jwt(id_token).key, algorithms=["RS256"],
                         audience=self.client_id, issuer=issuer)
        acc = jwt.decode(access, jwks.get_signing_key_from_jwt(access).key, algorithms=["RS256"],
                         issuer=issuer, options={"verify_aud": False})
        assert acc["client_id"] == self.client_id and acc["token_use"] == "access", acc
        return idc, acc


def make_app(server, cognito, pool_id: str, providers: list[str]) -> App:
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=f"sso-{uid()}", CallbackURLs=[CALLBACK],
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=SCOPES.split(),
        AllowedOAuthFlowsUserPoolClient=True, SupportedIdentityProviders=["COGNITO", *providers],
    )["UserPoolClient"]
    return App(server, pool_id, client["ClientId"])


# --------------------------------------------------------------------------- browser trips


@dataclass
class Trip:
    """Where a sign-in ended: the app callback's query (code or error), or a Cognate page."""

    verifier: str
    state: str
    query: dict[str, list[str]] | None
    page_status: int | None = None
    page_text: str = ""

    @property
    def code(self) -> str:
        assert self.query is not None, f"no callback; Cognate answered {self.page_status}: {self.page_text[:300]}"
        assert self.query.get("state") == [self.state], self.query
        assert "code" in self.query, f"no code in the callback: {self.query}"
        return self.query["code"][0]


def corporate_form(page, app: App, email: str) -> tuple[str, str]:
    """The client's authorize request (no provider named) → the hosted login → the corporate
    email form, submitted. Returns (PKCE verifier, state)."""
    verifier, state = secrets.token_urlsafe(48), "st-" + uid()
    page.goto(app.authorize_url(verifier, state))
    heading = page.locator("#sso-title")
    heading.wait_for(timeout=15000)
    assert heading.inner_text() == "Sign in with your corporate ID"
    page.fill("#sso-email", email)
    page.click("#sso-continue")
    return verifier, state


def finish_trip(page, verifier: str, state: str, submit) -> Trip:
    """Runs `submit` (the IdP's last click) and waits for the app's callback or, failing it, a
    page of Cognate's."""
    responses = []
    page.on("response", lambda r: responses.append(r))
    try:
        with page.expect_request(is_callback, timeout=20000) as reached:
            submit()
        return Trip(verifier, state, parse_qs(urlsplit(reached.value.url).query))
    except playwright_api.TimeoutError:
        page.wait_for_load_state()
        last = next((r for r in reversed(responses) if r.request.is_navigation_request()), None)
        return Trip(verifier, state, None, last.status if last else None, page.content())


def oidc_trip(page, app: App, idp: OidcIdp, email: str, login: str) -> Trip:
    """The corporate form → node-oidc-provider's login and consent → back to the app."""
    verifier, state = corporate_form(page, app, email)
    page.wait_for_selector("input[name=login]", timeout=15000)
    assert page.url.startswith(idp.issuer), f"expected the OIDC provider's login, at {page.url}"
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    consent = "button[type=submit]:has-text('Continue')"
    page.wait_for_selector(consent, timeout=15000)
    return finish_trip(page, verifier, state, lambda: page.click(consent))


def saml_trip(page, app: App, idp: SimpleSamlIdp, email: str, username: str) -> Trip:
    """The corporate form → SimpleSAMLphp's login → the ACS → back to the app."""
    verifier, state = corporate_form(page, app, email)
    page.locator("#username").wait_for(timeout=15000)
    assert page.url.startswith(idp.base_url), f"expected SimpleSAMLphp's login, at {page.url}"
    page.fill("#username", username)
    page.fill("#password", idp.user(username).password)
    return finish_trip(page, verifier, state, lambda: page.click("#submit_button"))


def refused(trip: Trip, error: str) -> None:
    """A refused sign-in: the app gets `error` and no code, or Cognate shows a 4xx page."""
    if trip.query is not None:
        assert "code" not in trip.query, trip.query
        assert trip.query.get("error") == [error], trip.query
        assert trip.query.get("state") == [trip.state], trip.query
    else:
        assert trip.page_status is not None and 400 <= trip.page_status < 500, (
            trip.page_status, trip.page_text[:500])


def member(tenancy, tenant_id: str, sub: str) -> dict:
    found = [m for m in tenancy.list_all(f"/v1/tenants/{tenant_id}/members") if m["sub"] == sub]
    assert len(found) == 1, (sub, found)
    return found[0]


def audit_events(tenancy, tenant_id: str, action: str, target: str, count: int = 1,
                 timeout: float = 10.0) -> list[dict]:
    """The tenant's audit events `action` about `target` (the chain is written in the
    background: waits until there are `count`)."""
    deadline = time.monotonic() + timeout
    while True:
        page = tenancy.as_admin("GET", f"/v1/tenants/{tenant_id}/audit",
                                params={"action": action, "limit": 100})
        found = [e for e in page["items"] if e.get("action") == action and e.get("target") == target]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def tenant_claims_of(claims: dict, tenant_id: str, role: str) -> None:
    assert claims.get("custom:tenantId") == tenant_id, claims
    assert claims.get("custom:tenantRole") == role, claims


# --------------------------------------------------------------------------- tests


def test_oidc_connection_admits_a_new_user_with_a_mapped_role(server, cognito, tenancy, oidc, new_page):
    t = tenancy.create_tenant("acme", name="Acme")
    verified_domain(tenancy, t["id"], OIDC_DOMAIN)
    conn = oidc_connection(tenancy, t["id"], oidc, OIDC_DOMAIN, roleClaim="groups",
                           roleMapping={"it-admins": "admin", "auditors": "read_only"})
    assert conn["poolId"] == t["poolId"] == tenancy.shared_placement()[0], (conn, t)
    provider = conn["providerName"]

    found = tenancy.discover(f"carol@{OIDC_DOMAIN}")
    assert found["tenantId"] == t["id"], found
    assert found["idp"] == {"connectionId": conn["id"], "name": "Acme OIDC", "type": "OIDC",
                            "providerName": provider,
                            "authorizeHint": f"identity_provider={provider}"}, found

    app = make_app(server, cognito, t["poolId"], [provider])
    page = new_page()
    trip = oidc_trip(page, app, oidc.idp, f"carol@{OIDC_DOMAIN}", "carol")
    tokens = app.exchange(trip.code, trip.verifier)
    idc, acc = app.claims(tokens)

    username = f"{provider}_carol"
    assert idc["cognito:username"] == username, idc
    assert acc["username"] == username, acc
    assert idc["email"] == f"carol@{OIDC_DOMAIN}", idc
    assert acc["sub"] == idc["sub"]
    for claims in (idc, acc):
        tenant_claims_of(claims, t["id"], "admin")
    assert f"{t['poolId']}_{provider}" in idc["cognito:groups"], idc
    identities = idc["identities"]
    [identity] = json.loads(identities) if isinstance(identities, str) else identities
    assert (identity["providerName"], identity["providerType"], identity["userId"]) == (
        provider, "OIDC", "carol"), identity
    assert f"{t['id']}-admin" in idc["cognito:groups"], idc
    user = cognito.admin_get_user(UserPoolId=t["poolId"], Username=username)
    assert user["UserStatus"] == "EXTERNAL_PROVIDER", user
    # The tenant is the new user's home tenant (docs/tenancy.md, "Tenant attributes").
    home = attrs(user["UserAttributes"])
    assert home.get("custom:tenantId") == t["id"] and home.get("custom:tenantName") == "Acme", home

    joined = member(tenancy, t["id"], idc["sub"])
    assert joined["role"] == "admin" and joined["status"] == "active", joined
    assert joined["username"] == username, joined
    [event] = audit_events(tenancy, t["id"], "sso.join", idc["sub"])
    assert event["outcome"] == "success", event
    assert conn["id"] in event["reason"] and "admin" in event["reason"], event

    # A refresh stays in the tenant with the role.
    refreshed = app.refresh(tokens["refresh_token"])
    for claims in app.claims({**refreshed, "refresh_token": None}):
        tenant_claims_of(claims, t["id"], "admin")


def test_saml_connection_default_role_and_refusals(server, cognito, tenancy, saml, new_page):
    t = tenancy.create_tenant("globex", name="Globex")
    verified_domain(tenancy, t["id"], SAML_DOMAIN)
    conn = saml_connection(tenancy, t["id"], saml, SAML_DOMAIN)
    provider = conn["providerName"]
    assert conn["defaultRole"] == "member" and conn["roleMapping"] == {}, conn
    assert conn["saml"]["spEntityId"] == f"urn:amazon:cognito:sp:{t['poolId']}", conn
    assert tenancy.discover(f"grace@{SAML_DOMAIN}")["idp"]["connectionId"] == conn["id"]
    app = make_app(server, cognito, t["poolId"], [provider])
    email = f"grace@{SAML_DOMAIN}"

    trip = saml_trip(new_page(), app, saml, email, "grace")
    tokens = app.exchange(trip.code, trip.verifier)
    idc, acc = app.claims(tokens)
    username = f"{provider}_grace"
    assert idc["cognito:username"] == username, idc
    assert idc["email"] == email, idc
    for claims in (idc, acc):
        tenant_claims_of(claims, t["id"], "member")
    joined = member(tenancy, t["id"], idc["sub"])
    assert joined["role"] == "member" and joined["status"] == "active", joined
    [event] = audit_events(tenancy, t["id"], "sso.join", idc["sub"])
    assert event["outcome"] == "success", event

    # The connection turned off: the next sign-in (a new browser) is refused.
    path = f"/v1/tenants/{t['id']}/connections/{conn['id']}"
    assert tenancy.as_admin("PATCH", path, {"enabled": False})["enabled"] is False
    off = saml_trip_by_name(new_page(), app, saml, provider, "grace")
    refused(off, "invalid_request")

    # On again, the tenant suspended: refused as well.
    tenancy.as_admin("PATCH", path, {"enabled": True})
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/suspend")
    suspended = saml_trip_by_name(new_page(), app, saml, provider, "grace")
    refused(suspended, "access_denied")
    # The suspension revoked the refresh token of the first sign-in.
    revoked = requests.post(f"{server.url}/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": app.client_id,
        "refresh_token": tokens["refresh_token"]}, timeout=10)
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant", revoked.text

    # Both refusals are in the tenant's audit trail, with their reasons.
    failures = audit_events(tenancy, t["id"], "sso.sign_in", idc["sub"], count=2)
    reasons = {e["reason"].split()[-1] for e in failures if e["outcome"] != "success"}
    assert {"connection_disabled", "tenant_suspended"} <= reasons, failures

    # Reactivated: admitted again, the same user and role.
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/reactivate")
    trip = saml_trip(new_page(), app, saml, email, "grace")
    again, _ = app.claims(app.exchange(trip.code, trip.verifier))
    assert again["sub"] == idc["sub"], again
    tenant_claims_of(again, t["id"], "member")


def saml_trip_by_name(page, app: App, idp: SimpleSamlIdp, provider: str, username: str) -> Trip:
    """A SAML sign-in started with `identity_provider=` (a disabled connection or a suspended
    tenant no longer routes the corporate form, so the trip names the provider)."""
    verifier, state = secrets.token_urlsafe(48), "st-" + uid()
    answer = page.goto(app.authorize_url(verifier, state, identity_provider=provider))
    if not page.url.startswith(idp.base_url):
        # Refused before the IdP: the app's callback with an error, or a page of Cognate's.
        if page.callbacks:
            return Trip(verifier, state, parse_qs(urlsplit(page.callbacks[-1]).query))
        return Trip(verifier, state, None, answer.status if answer else None, page.content())
    page.locator("#username").wait_for(timeout=15000)
    page.fill("#username", username)
    page.fill("#password", idp.user(username).password)
    return finish_trip(page, verifier, state, lambda: page.click("#submit_button"))


def test_two_connections_route_each_domain_to_its_idp(server, cognito, tenancy, oidc, saml, new_page):
    t = tenancy.create_tenant("northsouth", name="North South")
    verified_domain(tenancy, t["id"], NORTH_DOMAIN)
    verified_domain(tenancy, t["id"], SOUTH_DOMAIN)
    north = oidc_connection(tenancy, t["id"], oidc, NORTH_DOMAIN)
    south = saml_connection(tenancy, t["id"], saml, SOUTH_DOMAIN)
    app = make_app(server, cognito, t["poolId"], [north["providerName"], south["providerName"]])
    # The tenant requires MFA of everyone: its own IdPs' sign-ins meet the policy.
    assert tenancy.as_admin("PATCH", f"/v1/tenants/{t['id']}", {"mfa": "all"})["mfa"] == "all"

    # idp_identifier=<domain> goes straight to that domain's IdP.
    for domain, start in ((NORTH_DOMAIN, f"{oidc.idp.issuer}/auth?"), (SOUTH_DOMAIN, f"{saml.sso_url}?")):
        resp = requests.get(app.authorize_url(secrets.token_urlsafe(48), "st-" + uid(),
                                              idp_identifier=domain), allow_redirects=False, timeout=10)
        location = resp.headers.get("Location", "")
        assert resp.status_code in (302, 303) and location.startswith(start), (
            domain, resp.status_code, location, resp.text[:300])
    assert tenancy.discover(f"nora@{NORTH_DOMAIN}")["idp"]["connectionId"] == north["id"]
    assert tenancy.discover(f"sam@{SOUTH_DOMAIN}")["idp"]["connectionId"] == south["id"]

    trip = oidc_trip(new_page(), app, oidc.idp, f"nora@{NORTH_DOMAIN}", "nora")
    nora, _ = app.claims(app.exchange(trip.code, trip.verifier))
    trip = saml_trip(new_page(), app, saml, f"sam@{SOUTH_DOMAIN}", "sam")
    sam, _ = app.claims(app.exchange(trip.code, trip.verifier))

    assert nora["cognito:username"] == f"{north['providerName']}_nora", nora
    assert sam["cognito:username"] == f"{south['providerName']}_sam", sam
    for claims in (nora, sam):
        tenant_claims_of(claims, t["id"], "member")
    subs = {m["sub"]: m["role"] for m in tenancy.list_all(f"/v1/tenants/{t['id']}/members")}
    assert subs == {nora["sub"]: "member", sam["sub"]: "member"}, subs

    # Removed by an admin, Sam is a member again at his next sign-in: his IdP decides.
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}/members/{sam['sub']}", status=204)
    assert member(tenancy, t["id"], sam["sub"])["status"] == "removed"
    trip = saml_trip(new_page(), app, saml, f"sam@{SOUTH_DOMAIN}", "sam")
    sam_tokens = app.exchange(trip.code, trip.verifier)
    back, _ = app.claims(sam_tokens)
    assert back["sub"] == sam["sub"], back
    tenant_claims_of(back, t["id"], "member")
    assert member(tenancy, t["id"], sam["sub"])["status"] == "active"
    assert len(audit_events(tenancy, t["id"], "sso.join", sam["sub"], count=2)) == 2

    # Sam also joins another tenant that requires MFA of everyone: North South's IdPs speak
    # for North South only, so his SSO session cannot enter it.
    strict = tenancy.create_tenant(f"strict{uid(6).lower()}", name="Strict")
    assert tenancy.as_admin("PATCH", f"/v1/tenants/{strict['id']}", {"mfa": "all"})["mfa"] == "all"
    sam_user = types.SimpleNamespace(email=f"sam@{SOUTH_DOMAIN}", sub=sam["sub"])
    tenancy.join(strict["id"], sam_user, "member", sam_tokens["access_token"])
    assert_v1_error(tenancy.switch(sam_tokens["access_token"], strict["id"]), 403, "mfa_required")


def test_an_identity_linked_to_a_password_account_signs_in_as_it(server, cognito, tenancy, oidc, new_page):
    t = tenancy.create_tenant("initech", name="Initech")
    verified_domain(tenancy, t["id"], LINK_DOMAIN)
    # Dave has a password account in the tenant (invited, accepted) before the connection.
    dave = tenancy.new_user(t["id"], "read_only", email=f"dave@{LINK_DOMAIN}")
    existing = member(tenancy, t["id"], dave.sub)
    assert existing["role"] == "read_only", existing
    # The mapping names none of Dave's groups: his role stays the one the tenant gave him.
    conn = oidc_connection(tenancy, t["id"], oidc, LINK_DOMAIN, roleClaim="groups",
                           roleMapping={"it-admins": "admin"})
    provider = conn["providerName"]
    cognito.admin_link_provider_for_user(
        UserPoolId=t["poolId"],
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": existing["username"]},
        SourceUser={"ProviderName": provider, "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": "dave"},
    )
    app = make_app(server, cognito, t["poolId"], [provider])

    trip = oidc_trip(new_page(), app, oidc.idp, f"dave@{LINK_DOMAIN}", "dave")
    idc, acc = app.claims(app.exchange(trip.code, trip.verifier))
    assert idc["sub"] == dave.sub, idc
    assert idc["cognito:username"] == existing["username"], idc
    assert acc["username"] == existing["username"], acc
    assert not idc["cognito:username"].startswith(provider), idc
    for claims in (idc, acc):
        tenant_claims_of(claims, t["id"], "read_only")
    # No second account was made, and the membership is the one he had.
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.admin_get_user(UserPoolId=t["poolId"], Username=f"{provider}_dave")
    after = member(tenancy, t["id"], dave.sub)
    assert after["role"] == "read_only" and after["status"] == "active", after
    members = tenancy.list_all(f"/v1/tenants/{t['id']}/members")
    assert [m["sub"] for m in members] == [dave.sub], members
    # And he still signs in with his password.
    assert tenancy.sign_in(t["clientId"], dave.email)["AccessToken"]


def test_a_changed_idp_group_changes_the_role_at_the_next_sign_in(server, cognito, tenancy, saml, new_page):
    domain = f"hooli-{uid(8)}.example"
    saml.add_user(saml_user("ivy", f"ivy@{domain}", ["auditors"]))
    t = tenancy.create_tenant("hooli", name="Hooli")
    verified_domain(tenancy, t["id"], domain)
    conn = saml_connection(tenancy, t["id"], saml, domain, roleClaim="groups",
                           roleMapping={"it-admins": "admin", "auditors": "read_only"})
    app = make_app(server, cognito, t["poolId"], [conn["providerName"]])

    def sign_in() -> dict:
        trip = saml_trip(new_page(), app, saml, f"ivy@{domain}", "ivy")
        idc, _ = app.claims(app.exchange(trip.code, trip.verifier))
        return idc

    first = sign_in()
    tenant_claims_of(first, t["id"], "read_only")
    assert member(tenancy, t["id"], first["sub"])["role"] == "read_only"

    # Promoted at the IdP: admin at the next sign-in, and the change is audited.
    saml.set_user_attributes("ivy", groups=["auditors", "it-admins"])
    second = sign_in()
    assert second["sub"] == first["sub"], second
    tenant_claims_of(second, t["id"], "admin")
    assert member(tenancy, t["id"], first["sub"])["role"] == "admin"
    [change] = audit_events(tenancy, t["id"], "sso.role_change", first["sub"])
    assert change["outcome"] == "success" and "read_only" in change["reason"], change

    # Demoted at the IdP while the tenant's only admin: the tenant keeps its admin.
    saml.set_user_attributes("ivy", groups=["auditors"])
    third = sign_in()
    tenant_claims_of(third, t["id"], "admin")
    assert member(tenancy, t["id"], first["sub"])["role"] == "admin"

    # Groups the mapping does not name leave the role as it is.
    saml.set_user_attributes("ivy", groups=["staff"])
    tenant_claims_of(sign_in(), t["id"], "admin")

    # A disabled user is refused, IdP or not.
    cognito.admin_disable_user(UserPoolId=t["poolId"], Username=first["cognito:username"])
    refused(saml_trip(new_page(), app, saml, f"ivy@{domain}", "ivy"), "access_denied")


def test_the_console_signs_sso_users_in_at_their_idp(server, tenancy, oidc, new_page):
    """The web console sends an address of a tenant's SSO domain straight to its IdP (the
    console's own client offers that provider only), and lands in the tenant."""
    t = tenancy.create_tenant("hooli", name="Hooli")
    verified_domain(tenancy, t["id"], CONSOLE_DOMAIN)
    oidc_connection(tenancy, t["id"], oidc, CONSOLE_DOMAIN, roleClaim="groups",
                    roleMapping={"it-admins": "admin"})
    page = new_page()
    page.goto(f"{server.url}/console")
    page.fill("#email", f"erin@{CONSOLE_DOMAIN}")
    page.click("text=Continue")
    page.wait_for_selector("input[name=login]", timeout=15000)
    assert page.url.startswith(oidc.idp.issuer), page.url
    page.fill("input[name=login]", "erin")
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.click("button[type=submit]:has-text('Continue')")
    page.wait_for_url(f"{server.url}/console/t/{t['id']}", timeout=15000)
    assert "admin" in page.inner_text("main")

    # Anyone else's sign-in page lists no tenant's providers.
    other = new_page()
    other.goto(f"{server.url}/console")
    other.fill("#email", f"someone-{uid(5)}@example.com")
    other.click("text=Continue")
    other.wait_for_url(re.compile(r"/login\?"))
    assert "Hooli" not in other.content() and oidc.idp.issuer not in other.content()
    # Naming the provider by hand for an address that is not its domain's is refused.
    query = other.url.split("?", 1)[1]
    provider = tenancy.as_admin("GET", f"/v1/tenants/{t['id']}/connections")["items"][0]["providerName"]
    resp = other.goto(f"{server.url}/oauth2/authorize?{query}&identity_provider={provider}")
    assert resp.status >= 400 or "error=" in other.url, other.url
