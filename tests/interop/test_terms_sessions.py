"""Terms documents (CreateTerms … DeleteTerms) and the sign-up page's links to them; session
tracking (Get/SetUserPoolSessionConfiguration, Get/SetUserPoolClientSessionConfiguration):
MaxPerUser ending the least recently active sessions, also under concurrent sign-ins, and
the client's SSO session bound on the hosted login; GetClientToken, whose machine tokens are
the client_credentials grant's. All through boto3, on both backends."""

from __future__ import annotations

import html
import re
import threading
import time

import jwt
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cognate_harness import raises_cognito, uid
from conftest import PASSWORD, USER_FLOWS, App
from hosted_login import CALLBACK, LOGOUT, Browser, redirected_to

TOU_EN, TOU_FR, TOU_DEFAULT = "https://example.com/terms/en", "https://example.com/terms/fr", "https://example.com/terms"
PP_DEFAULT = "https://example.com/privacy?a=1&b=2"
RS = "https://api.example.com"
READ, WRITE = f"{RS}/read", f"{RS}/write"


@pytest.fixture
def web_client(cognito, make_pool):
    """A pool and a public app client allowing the code flow; returns (pool_id, client_id)."""

    def make(pool: dict | None = None) -> tuple[str, str]:
        pool_id = make_pool(**(pool or {}))["Id"]
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=f"web-{uid()}", CallbackURLs=[CALLBACK], LogoutURLs=[LOGOUT],
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
            SupportedIdentityProviders=["COGNITO"], ExplicitAuthFlows=USER_FLOWS,
        )["UserPoolClient"]
        return pool_id, client["ClientId"]

    return make


def create_terms(cognito, pool_id, client_id, name, links):
    return cognito.create_terms(UserPoolId=pool_id, ClientId=client_id, TermsName=name, TermsSource="LINK",
                                Enforcement="NONE", Links=links)["Terms"]


# --------------------------------------------------------------------------- terms documents


def test_terms_documents_are_created_described_listed_updated_and_deleted(cognito, web_client):
    pool_id, client_id = web_client()
    tou = create_terms(cognito, pool_id, client_id, "terms-of-use",
                       {"cognito:default": TOU_DEFAULT, "cognito:french": TOU_FR})
    assert tou["UserPoolId"] == pool_id and tou["ClientId"] == client_id
    assert tou["TermsName"] == "terms-of-use" and tou["TermsSource"] == "LINK" and tou["Enforcement"] == "NONE"
    assert tou["Links"] == {"cognito:default": TOU_DEFAULT, "cognito:french": TOU_FR}
    assert tou["TermsId"][14] == "4" and len(tou["TermsId"]) == 36
    assert tou["CreationDate"] == tou["LastModifiedDate"]
    pp = create_terms(cognito, pool_id, client_id, "privacy-policy", {"cognito:default": PP_DEFAULT})

    assert cognito.describe_terms(UserPoolId=pool_id, TermsId=tou["TermsId"])["Terms"] == tou
    by_client = cognito.describe_terms_by_client(UserPoolId=pool_id, ClientId=client_id, TermsName="privacy-policy")
    assert by_client["Terms"] == pp

    listed = cognito.list_terms(UserPoolId=pool_id)["Terms"]
    assert {t["TermsId"] for t in listed} == {tou["TermsId"], pp["TermsId"]}
    assert set(listed[0]) == {"TermsId", "TermsName", "Enforcement", "CreationDate", "LastModifiedDate"}
    first = cognito.list_terms(UserPoolId=pool_id, MaxResults=1)
    assert len(first["Terms"]) == 1 and first["NextToken"]
    second = cognito.list_terms(UserPoolId=pool_id, MaxResults=1, NextToken=first["NextToken"])
    assert len(second["Terms"]) == 1 and "NextToken" not in second
    assert first["Terms"][0]["TermsId"] != second["Terms"][0]["TermsId"]

    # An update replaces only what it names.
    time.sleep(0.01)
    updated = cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"],
                                   Links={"cognito:english": TOU_EN, "cognito:default": TOU_DEFAULT})["Terms"]
    assert updated["Links"] == {"cognito:english": TOU_EN, "cognito:default": TOU_DEFAULT}
    assert updated["TermsName"] == "terms-of-use" and updated["CreationDate"] == tou["CreationDate"]
    assert updated["LastModifiedDate"] > tou["LastModifiedDate"]
    # Renaming onto the client's other document is TermsExistsException.
    with raises_cognito("TermsExistsException"):
        cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"], TermsName="privacy-policy")

    cognito.delete_terms(UserPoolId=pool_id, TermsId=pp["TermsId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_terms(UserPoolId=pool_id, TermsId=pp["TermsId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_terms(UserPoolId=pool_id, TermsId=pp["TermsId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_terms_by_client(UserPoolId=pool_id, ClientId=client_id, TermsName="privacy-policy")
    # Now the name is free: renaming works.
    renamed = cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"], TermsName="privacy-policy")["Terms"]
    assert renamed["TermsName"] == "privacy-policy"

    # Deleting the client deletes its documents.
    cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    assert cognito.list_terms(UserPoolId=pool_id)["Terms"] == []


def test_terms_refuse_what_cognito_refuses(cognito, cognito_nv, web_client):
    pool_id, client_id = web_client()
    create_terms(cognito, pool_id, client_id, "terms-of-use", {"cognito:default": TOU_DEFAULT})
    with raises_cognito("TermsExistsException"):
        create_terms(cognito, pool_id, client_id, "terms-of-use", {"cognito:english": TOU_EN})
    bad_inputs = [
        {"TermsName": "cookies"},
        {"TermsSource": "TEXT"},
        {"Enforcement": "REQUIRED"},
        {"Links": {}},
        {"Links": {"cognito:klingon": TOU_EN}},
        {"Links": {"english": TOU_EN}},
        {"Links": {"cognito:english": "http://example.com/terms"}},
        {"Links": {"cognito:english": "javascript:alert(1)"}},
        {"Links": {"cognito:english": "https://example.com/a b"}},
        {"Links": {"cognito:english": "https://example.com/" + "a" * 1024}},
        {"Links": {"cognito:english": "https://example.com/\u0000"}},
    ]
    for change in bad_inputs:
        params = {"UserPoolId": pool_id, "ClientId": client_id, "TermsName": "privacy-policy", "TermsSource": "LINK",
                  "Enforcement": "NONE", "Links": {"cognito:default": PP_DEFAULT}} | change
        with raises_cognito("InvalidParameterException"):
            cognito_nv.create_terms(**params)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_terms(UserPoolId=pool_id, ClientId=client_id, TermsName="privacy-policy",
                                TermsSource="LINK", Enforcement="NONE")
    assert [t["TermsName"] for t in cognito.list_terms(UserPoolId=pool_id)["Terms"]] == ["terms-of-use"]

    with raises_cognito("ResourceNotFoundException"):
        create_terms(cognito, pool_id, "a" * 26, "privacy-policy", {"cognito:default": PP_DEFAULT})
    other_pool, other_client = web_client()
    with raises_cognito("ResourceNotFoundException"):  # a client of another pool
        create_terms(cognito, pool_id, other_client, "privacy-policy", {"cognito:default": PP_DEFAULT})
    (mine,) = cognito.list_terms(UserPoolId=pool_id)["Terms"]
    with raises_cognito("ResourceNotFoundException"):  # a document of another pool
        cognito.describe_terms(UserPoolId=other_pool, TermsId=mine["TermsId"])
    with raises_cognito("InvalidParameterException"):
        cognito_nv.describe_terms(UserPoolId=pool_id, TermsId="not-a-uuid")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.list_terms(UserPoolId=pool_id, MaxResults=61)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.list_terms(UserPoolId=pool_id, NextToken="garbage")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.update_terms(UserPoolId=pool_id, TermsId=mine["TermsId"], Links={"cognito:english": "ftp://x"})
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_terms(UserPoolId="local_nothere12")


def authorize_url(server, client_id: str, **extra) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "openid",
              "code_challenge": create_s256_code_challenge("v" * 50), "code_challenge_method": "S256"} | extra
    return requests.Request("GET", f"{server.url}/oauth2/authorize", params=params).prepare().url


def link(page: requests.Response, which: str) -> str | None:
    """The (unescaped) href of the sign-up page's `terms-of-use` or `privacy-policy` link."""
    found = re.search(rf'<a id="{which}" href="([^"]*)"', page.text)
    return html.unescape(found.group(1)) if found else None


def sign_up_page(server, client_id: str, lang: str | None = None) -> requests.Response:
    browser = Browser(server.url)
    browser.get(authorize_url(server, client_id, **({"lang": lang} if lang else {})))
    assert "/login?" in browser.page.url
    return browser.get(browser.page.url.replace("/login?", "/signup?", 1))


def test_the_sign_up_page_links_the_terms_in_its_language(server, cognito, web_client):
    pool_id, client_id = web_client()
    page = sign_up_page(server, client_id)
    assert page.status_code == 200 and 'id="terms"' not in page.text
    # One kind alone shows nothing: Cognito shows the links once both kinds exist.
    tou = create_terms(cognito, pool_id, client_id, "terms-of-use",
                       {"cognito:english": TOU_EN, "cognito:french": TOU_FR, "cognito:default": TOU_DEFAULT})
    assert 'id="terms"' not in sign_up_page(server, client_id).text
    create_terms(cognito, pool_id, client_id, "privacy-policy", {"cognito:default": PP_DEFAULT})

    en = sign_up_page(server, client_id)
    assert "By signing up, you agree to the" in en.text
    assert link(en, "terms-of-use") == TOU_EN and "Terms of use" in en.text
    # The default link (escaped in the attribute) where the language has none.
    assert link(en, "privacy-policy") == PP_DEFAULT and "Privacy policy" in en.text
    assert "a=1&b=2" not in en.text
    assert "frame-ancestors 'none'" in en.headers["Content-Security-Policy"]

    fr = sign_up_page(server, client_id, "fr")
    assert "En vous inscrivant, vous acceptez les" in fr.text
    assert link(fr, "terms-of-use") == TOU_FR and "conditions d" in fr.text
    assert link(fr, "privacy-policy") == PP_DEFAULT and "politique de confidentialit" in fr.text

    # Without the page language's link, the default one.
    cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"], Links={"cognito:default": TOU_DEFAULT})
    assert link(sign_up_page(server, client_id, "fr"), "terms-of-use") == TOU_DEFAULT
    # Without a default either, no link for that language at all.
    cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"], Links={"cognito:english": TOU_EN})
    assert 'id="terms"' not in sign_up_page(server, client_id, "fr").text
    assert link(sign_up_page(server, client_id), "terms-of-use") == TOU_EN

    # Markup in a link stays text: it is escaped, never a tag.
    cognito.update_terms(UserPoolId=pool_id, TermsId=tou["TermsId"],
                         Links={"cognito:default": 'https://example.com/t?q="><script>alert(1)</script>'})
    hostile = sign_up_page(server, client_id)
    assert link(hostile, "terms-of-use") == 'https://example.com/t?q="><script>alert(1)</script>'
    assert "<script>" not in hostile.text


# --------------------------------------------------------------------------- session tracking


def test_session_configuration_defaults_changes_and_errors(cognito, cognito_nv, make_pool, web_client):
    pool_id, client_id = web_client()
    assert cognito.get_user_pool_session_configuration(UserPoolId=pool_id) | {"ResponseMetadata": None} == {
        "UserPoolId": pool_id, "UserSessionTracking": "DISABLED", "TokenSession": {"MaxPerUser": 20},
        "ResponseMetadata": None}
    got = cognito.get_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id)
    assert got["SSOSession"] == {"MaxValidityMinutes": 60} and got["ClientId"] == client_id

    # A client's setting needs tracking on.
    with raises_cognito("InvalidParameterException"):
        cognito.set_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id,
                                                           SSOSession={"MaxValidityMinutes": 5})
    set_ = cognito.set_user_pool_session_configuration(UserPoolId=pool_id, UserSessionTracking="ENABLED",
                                                       TokenSession={"MaxPerUser": 3})
    assert set_["UserSessionTracking"] == "ENABLED" and set_["TokenSession"] == {"MaxPerUser": 3}
    assert cognito.get_user_pool_session_configuration(UserPoolId=pool_id)["TokenSession"] == {"MaxPerUser": 3}
    answer = cognito.set_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id,
                                                                SSOSession={"MaxValidityMinutes": 5})
    assert answer["SSOSession"] == {"MaxValidityMinutes": 5}
    # Turning tracking off keeps the client's setting (dormant).
    cognito.set_user_pool_session_configuration(UserPoolId=pool_id, UserSessionTracking="DISABLED",
                                                TokenSession={"MaxPerUser": 3})
    assert cognito.get_user_pool_client_session_configuration(
        UserPoolId=pool_id, ClientId=client_id)["SSOSession"] == {"MaxValidityMinutes": 5}

    for bad in [{"UserSessionTracking": "ON", "TokenSession": {"MaxPerUser": 3}},
                {"UserSessionTracking": "ENABLED", "TokenSession": {"MaxPerUser": 0}},
                {"UserSessionTracking": "ENABLED", "TokenSession": {"MaxPerUser": 101}},
                {"UserSessionTracking": "ENABLED", "TokenSession": {}},
                {"UserSessionTracking": "ENABLED"},
                {"TokenSession": {"MaxPerUser": 3}}]:
        with raises_cognito("InvalidParameterException"):
            cognito_nv.set_user_pool_session_configuration(UserPoolId=pool_id, **bad)
    for minutes in (-1, 129_601):
        with raises_cognito("InvalidParameterException"):
            cognito_nv.set_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id,
                                                                  SSOSession={"MaxValidityMinutes": minutes})
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId="b" * 26)
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_user_pool_session_configuration(UserPoolId="local_nothere12")
    # Nothing of the refused calls stuck.
    assert cognito.get_user_pool_session_configuration(UserPoolId=pool_id)["TokenSession"] == {"MaxPerUser": 3}

    # A Lite pool has no session tracking.
    lite = make_pool(UserPoolTier="LITE")["Id"]
    with raises_cognito("FeatureUnavailableInTierException"):
        cognito.set_user_pool_session_configuration(UserPoolId=lite, UserSessionTracking="ENABLED",
                                                    TokenSession={"MaxPerUser": 3})
    plus = make_pool(UserPoolTier="PLUS")["Id"]
    cognito.set_user_pool_session_configuration(UserPoolId=plus, UserSessionTracking="ENABLED",
                                                TokenSession={"MaxPerUser": 3})


@pytest.fixture
def tracked(cognito, make_app, make_confirmed_user):
    """A pool tracking sessions with MaxPerUser `max_per_user`, an app and a user."""

    def make(max_per_user: int) -> tuple[App, str]:
        app = make_app()
        cognito.set_user_pool_session_configuration(UserPoolId=app.pool_id, UserSessionTracking="ENABLED",
                                                    TokenSession={"MaxPerUser": max_per_user})
        return app, make_confirmed_user(app.pool_id)

    return make


def refresh(cognito, app: App, refresh_token: str):
    return cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                 AuthParameters={"REFRESH_TOKEN": refresh_token})


def test_a_sign_in_beyond_max_per_user_ends_the_least_recently_active_session(cognito, tracked, sign_in):
    app, username = tracked(3)
    first, second, third = (sign_in(app, username) for _ in range(3))
    sessions = cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]
    assert len(sessions) == 3
    fourth = sign_in(app, username)
    assert len(cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]) == 3
    # The first sign-in's session ended: its refresh token and access token are refused.
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, first["RefreshToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=first["AccessToken"])
    for kept in (second, third, fourth):
        assert cognito.get_user(AccessToken=kept["AccessToken"])["Username"] == username
        refresh(cognito, app, kept["RefreshToken"])

    # Lowering the cap ends nothing by itself; the next sign-in brings the user within it.
    cognito.set_user_pool_session_configuration(UserPoolId=app.pool_id, UserSessionTracking="ENABLED",
                                                TokenSession={"MaxPerUser": 1})
    assert len(cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]) == 3
    last = sign_in(app, username)
    (only,) = cognito.list_user_sessions(AccessToken=last["AccessToken"])["Sessions"]
    assert only["IsCurrentSession"] is True
    for gone in (second, third, fourth):
        with raises_cognito("NotAuthorizedException"):
            refresh(cognito, app, gone["RefreshToken"])

    # With tracking off there is no cap.
    cognito.set_user_pool_session_configuration(UserPoolId=app.pool_id, UserSessionTracking="DISABLED",
                                                TokenSession={"MaxPerUser": 1})
    for _ in range(3):
        sign_in(app, username)
    assert len(cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]) == 4


def test_a_refreshed_session_counts_as_recently_active(cognito, make_app, make_confirmed_user, sign_in):
    """Least recently *used*: with rotation on, a refresh makes a session the newest, so the
    session signed in second is the one ended."""
    app = make_app(RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0})
    cognito.set_user_pool_session_configuration(UserPoolId=app.pool_id, UserSessionTracking="ENABLED",
                                                TokenSession={"MaxPerUser": 2})
    username = make_confirmed_user(app.pool_id)
    first = sign_in(app, username)
    time.sleep(0.01)
    second = sign_in(app, username)
    time.sleep(0.01)
    rotated = refresh(cognito, app, first["RefreshToken"])["AuthenticationResult"]
    time.sleep(0.01)
    sign_in(app, username)
    with raises_cognito("NotAuthorizedException"):
        refresh(cognito, app, second["RefreshToken"])
    refresh(cognito, app, rotated["RefreshToken"])


def test_concurrent_sign_ins_never_exceed_max_per_user(server, cognito, tracked):
    app, username = tracked(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def one():
        try:
            client = server.client()
            resp = client.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
            results.append(resp["AuthenticationResult"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    sessions = cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]
    assert len(sessions) == 2
    alive = 0
    for r in results:
        try:
            refresh(cognito, app, r["RefreshToken"])
            alive += 1
        except cognito.exceptions.NotAuthorizedException:
            pass
    assert alive == 2


def test_the_sso_session_bound_limits_silent_reuse_of_the_browser_session(server, cognito, web_client,
                                                                           make_confirmed_user):
    pool_id, client_id = web_client()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)

    def authorize():
        return browser.get(authorize_url(server, client_id))

    assert authorize().status_code == 200
    callback, query = redirected_to(browser.sign_in(username, PASSWORD))
    assert callback == CALLBACK and query["code"]
    # Tracking off: the browser session is reused silently (its own hour).
    assert authorize().status_code == 302
    cognito.set_user_pool_session_configuration(UserPoolId=pool_id, UserSessionTracking="ENABLED",
                                                TokenSession={"MaxPerUser": 20})
    # Tracking on, the default 60 minutes: still within the bound.
    assert authorize().status_code == 302
    cognito.set_user_pool_client_session_configuration(UserPoolId=pool_id, ClientId=client_id,
                                                       SSOSession={"MaxValidityMinutes": 0})
    # 0: never reused silently; the login page asks again.
    page = authorize()
    assert page.status_code == 200 and "<form" in page.text
    _, again = redirected_to(browser.sign_in(username, PASSWORD))
    assert again["code"]
    assert authorize().status_code == 200
    # Tracking off again: the client's setting is dormant.
    cognito.set_user_pool_session_configuration(UserPoolId=pool_id, UserSessionTracking="DISABLED",
                                                TokenSession={"MaxPerUser": 20})
    assert authorize().status_code == 302


# --------------------------------------------------------------------------- GetClientToken


@pytest.fixture
def machine(cognito, make_pool, make_client):
    """A pool with resource server RS and two confidential clients allowed READ and WRITE: one
    for GetClientToken (ALLOW_CLIENT_TOKEN_AUTH alone), one for the client_credentials grant."""
    pool_id = make_pool()["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier=RS, Name="api", Scopes=[
        {"ScopeName": n, "ScopeDescription": n} for n in ("read", "write", "admin")])
    api = make_client(pool_id, secret=True, flows=["ALLOW_CLIENT_TOKEN_AUTH"], AllowedOAuthScopes=[READ, WRITE])
    grant = make_client(pool_id, secret=True, flows=None, AllowedOAuthFlows=["client_credentials"],
                        AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=[READ, WRITE])
    return api, grant


def test_get_client_token_issues_the_client_credentials_token(server, cognito, machine):
    api, grant = machine
    result = cognito.get_client_token(ClientId=api.client_id, Secret=api.client_secret)["ClientAuthenticationResult"]
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
    jwks = jwt.PyJWKClient(f"{server.issuer(api.pool_id)}/.well-known/jwks.json")
    claims = jwt.decode(result["AccessToken"], jwks.get_signing_key_from_jwt(result["AccessToken"]).key,
                        algorithms=["RS256"], issuer=server.issuer(api.pool_id))
    assert claims["sub"] == api.client_id == claims["client_id"] and claims["token_use"] == "access"
    assert claims["scope"].split() == [READ, WRITE]

    # The client_credentials grant's token has the same claims.
    granted = requests.post(f"{server.url}/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(grant.client_id, grant.client_secret), timeout=30).json()
    other = jwt.decode(granted["access_token"], options={"verify_signature": False})
    assert set(other) == set(claims)

    # Accepted where client_credentials tokens are: introspection by a client of the pool.
    for token in (result["AccessToken"], granted["access_token"]):
        body = requests.post(f"{server.url}/oauth2/introspect", data={"token": token},
                             auth=(grant.client_id, grant.client_secret), timeout=30).json()
        assert body["active"] is True and body["token_use"] == "access"

    only_read = cognito.get_client_token(ClientId=api.client_id, Secret=api.client_secret, Scopes=[READ],
                                         ClientMetadata={"k": "v"})["ClientAuthenticationResult"]
    assert jwt.decode(only_read["AccessToken"], options={"verify_signature": False})["scope"] == READ


def test_get_client_token_refusals(server, cognito, cognito_nv, machine, make_client):
    api, grant = machine
    with raises_cognito("NotAuthorizedException"):
        cognito.get_client_token(ClientId=api.client_id, Secret="x" * 30)
    with raises_cognito("NotAuthorizedException"):
        cognito.get_client_token(ClientId="c" * 26, Secret="x" * 30)
    with raises_cognito("InvalidParameterException"):  # a scope the client is not allowed
        cognito.get_client_token(ClientId=api.client_id, Secret=api.client_secret, Scopes=[f"{RS}/admin"])
    with raises_cognito("InvalidParameterException"):  # a scope no resource server defines
        cognito.get_client_token(ClientId=api.client_id, Secret=api.client_secret, Scopes=["https://x/y"])
    with raises_cognito("InvalidParameterException"):
        cognito_nv.get_client_token(ClientId=api.client_id, Secret="short")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.get_client_token(ClientId=api.client_id, Secret=api.client_secret, Scopes=['a"b'])
    with raises_cognito("InvalidParameterException"):
        cognito_nv.get_client_token(ClientId=api.client_id)
    # The grant's client lacks ALLOW_CLIENT_TOKEN_AUTH: refused here, as the API client is at
    # the token endpoint (it lacks the client_credentials OAuth flow).
    with raises_cognito("InvalidParameterException"):
        cognito.get_client_token(ClientId=grant.client_id, Secret=grant.client_secret)
    resp = requests.post(f"{server.url}/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(api.client_id, api.client_secret), timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"
    # ALLOW_CLIENT_TOKEN_AUTH must be the client's only flow.
    with raises_cognito("InvalidParameterException"):
        make_client(api.pool_id, secret=True, flows=["ALLOW_CLIENT_TOKEN_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    # A public client has no secret to present.
    public = make_client(api.pool_id, flows=["ALLOW_CLIENT_TOKEN_AUTH"], AllowedOAuthScopes=[READ])
    with raises_cognito("NotAuthorizedException"):
        cognito.get_client_token(ClientId=public.client_id, Secret="x" * 30)
    # A client allowed no resource-server scope has nothing to grant.
    bare = make_client(api.pool_id, secret=True, flows=["ALLOW_CLIENT_TOKEN_AUTH"])
    with raises_cognito("InvalidParameterException"):
        cognito.get_client_token(ClientId=bare.client_id, Secret=bare.client_secret)


def test_get_client_token_and_the_grant_share_one_rate_window(fresh_server):
    """Both count in the per-address window of authentication requests: the window filled
    through one is closed to the other."""
    srv = fresh_server({"COGNATE_RATE_AUTH_PER_IP": "4"})
    cognito = srv.cognito
    pool_id = cognito.create_user_pool(PoolName=f"rate-{uid()}")["UserPool"]["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier=RS, Name="api",
                                   Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}])
    api = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="api", GenerateSecret=True,
                                          ExplicitAuthFlows=["ALLOW_CLIENT_TOKEN_AUTH"],
                                          AllowedOAuthScopes=[READ])["UserPoolClient"]
    grant = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="grant", GenerateSecret=True,
                                            AllowedOAuthFlows=["client_credentials"],
                                            AllowedOAuthFlowsUserPoolClient=True,
                                            AllowedOAuthScopes=[READ])["UserPoolClient"]

    def granted():
        return requests.post(f"{srv.url}/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(grant["ClientId"], grant["ClientSecret"]), timeout=30)

    statuses = []
    for i in range(10):
        if i % 2:
            statuses.append(granted().status_code)
        else:
            try:
                cognito.get_client_token(ClientId=api["ClientId"], Secret=api["ClientSecret"])
                statuses.append(200)
            except cognito.exceptions.TooManyRequestsException:
                statuses.append(429)
    # Ten requests span at most two minute-windows of 4: some are refused, whichever the
    # surface, and the refusals come from both.
    assert statuses.count(200) <= 8 and 429 in statuses[0::2] and 429 in statuses[1::2], statuses
