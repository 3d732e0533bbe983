"""The hosted login and the authorization code flow with PKCE, driven through the pages by a
scripted browser and exchanged by Authlib (an OAuth/OIDC client nobody here wrote), which
also verifies the ID token (signature, issuer, audience, nonce, at_hash)."""

from __future__ import annotations

import re
import secrets
import warnings
from urllib.parse import urljoin

import pyotp
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken

from cognate_harness import admin_bearer, uid, v1, v1_ok
from conftest import PASSWORD, TEMP_PASSWORD
from hosted_login import CALLBACK, LOGOUT, Browser, forms, fragment_of, redirected_to

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

SCOPES = ["openid", "email", "profile", "aws.cognito.signin.user.admin"]


@pytest.fixture
def web_app(cognito, make_pool):
    """A pool with a public client allowing the code flow; returns a factory taking client
    and pool keyword arguments."""

    def make(*, secret: bool = False, pool: dict | None = None, **kw):
        pool_id = make_pool(**(pool or {}))["Id"]
        kw.setdefault("AllowedOAuthFlows", ["code"])
        kw.setdefault("AllowedOAuthScopes", SCOPES)
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=f"web-{uid()}", GenerateSecret=secret,
            CallbackURLs=[CALLBACK], LogoutURLs=[LOGOUT], AllowedOAuthFlowsUserPoolClient=True,
            SupportedIdentityProviders=["COGNITO"],
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], **kw,
        )["UserPoolClient"]
        return pool_id, client

    return make


def discovery(server, pool_id: str) -> dict:
    return requests.get(f"{server.issuer(pool_id)}/.well-known/openid-configuration", timeout=10).json()


def authorize_url(server, client_id: str, *, verifier: str | None = None, **params) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
             "state": "st-" + uid(), "scope": "openid email"}
    if verifier:
        query |= {"code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    query |= params
    return requests.Request("GET", f"{server.url}/oauth2/authorize", params=query).prepare().url


def exchange(server, client_id: str, code: str, verifier: str, **extra) -> requests.Response:
    data = {"grant_type": "authorization_code", "client_id": client_id, "code": code,
            "redirect_uri": CALLBACK, "code_verifier": verifier} | extra
    return requests.post(f"{server.url}/oauth2/token", data=data, timeout=10)


def signed_in(server, browser: Browser, client_id: str, username: str, verifier: str, **params):
    """Signs in through the pages (unless the browser's session still holds); returns the
    callback's query."""
    resp = browser.get(authorize_url(server, client_id, verifier=verifier, **params))
    if resp.status_code == 200:
        resp = browser.sign_in(username, PASSWORD)
    callback, query = redirected_to(resp)
    assert callback == CALLBACK
    return query


def test_authlib_runs_the_code_flow_with_pkce_and_verifies_the_id_token(server, web_app, make_confirmed_user,
                                                                        cognito):
    pool_id, client = web_app()
    email = f"{uid()}@example.com"
    username = make_confirmed_user(pool_id, attributes={"email": email, "email_verified": "true"})
    meta = discovery(server, pool_id)
    assert meta["authorization_endpoint"] == f"{server.url}/oauth2/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in meta["grant_types_supported"]

    oauth = OAuth2Session(client["ClientId"], scope="openid email profile", redirect_uri=CALLBACK,
                          code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                nonce=nonce)
    browser = Browser(server.url)
    login = browser.get(url)
    assert login.status_code == 200 and "<form" in login.text
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    resp = browser.sign_in(username, PASSWORD)
    assert resp.status_code == 302
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=resp.headers["Location"],
                              code_verifier=verifier, state=state)
    assert {"access_token", "id_token", "refresh_token"} <= set(token)

    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                            claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                            claims_params={"nonce": nonce, "client_id": client["ClientId"],
                                           "access_token": token["access_token"]})
        claims.validate()
    assert claims["email"] == email and claims["nonce"] == nonce and "at_hash" in claims
    access = jwt.decode(token["access_token"], keys)
    assert set(access["scope"].split()) == {"openid", "email", "profile"}
    assert access["token_use"] == "access" and access["client_id"] == client["ClientId"]

    # The refresh token works in the token endpoint (same scopes) and in REFRESH_TOKEN_AUTH.
    refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert set(jwt.decode(refreshed["access_token"], keys)["scope"].split()) == {"openid", "email", "profile"}
    via_api = cognito.initiate_auth(ClientId=client["ClientId"], AuthFlow="REFRESH_TOKEN_AUTH",
                                    AuthParameters={"REFRESH_TOKEN": token["refresh_token"]})
    assert "AccessToken" in via_api["AuthenticationResult"]
    # Without aws.cognito.signin.user.admin the token cannot call the user-pool API (as in
    # Cognito); with it, it can.
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.get_user(AccessToken=token["access_token"])
    browser.get(authorize_url(server, client["ClientId"], verifier=verifier,
                              scope="openid aws.cognito.signin.user.admin"))
    _, query = redirected_to(browser.page)
    admin_token = exchange(server, client["ClientId"], query["code"], verifier).json()["access_token"]
    assert cognito.get_user(AccessToken=admin_token)["Username"] == username


def test_a_second_authorize_in_the_session_does_not_ask_again(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    first = signed_in(server, browser, client["ClientId"], username, "v" * 50)
    again = browser.get(authorize_url(server, client["ClientId"], verifier="w" * 50, state="second"))
    callback, query = redirected_to(again)
    assert callback == CALLBACK and query["state"] == "second" and query["code"] != first["code"]
    assert exchange(server, client["ClientId"], query["code"], "w" * 50).status_code == 200
    # prompt=login always asks.
    forced = browser.get(authorize_url(server, client["ClientId"], verifier="w" * 50, prompt="login"))
    assert forced.status_code == 200 and 'name="password"' in forced.text


def test_prompt_none_without_a_session_answers_login_required(server, web_app):
    _, client = web_app()
    resp = Browser(server.url).get(authorize_url(server, client["ClientId"], verifier="v" * 50,
                                                 prompt="none", state="keep-me"))
    callback, query = redirected_to(resp)
    assert callback == CALLBACK
    assert query["error"] == "login_required" and query["state"] == "keep-me"


@pytest.mark.parametrize("redirect", [
    "https://evil.example.com/callback",
    CALLBACK + "/../evil",
    CALLBACK + "?next=https://evil.example.com",
    CALLBACK + "#x",
    "https://app.example.com.evil.com/callback",
    "HTTPS://APP.EXAMPLE.COM/callback",
    "",
])
def test_an_unregistered_redirect_uri_is_never_redirected_to(server, web_app, redirect):
    _, client = web_app()
    resp = requests.get(authorize_url(server, client["ClientId"], verifier="v" * 50, redirect_uri=redirect),
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]


def test_request_errors_go_back_to_the_registered_redirect_uri_with_state(server, web_app):
    _, client = web_app()
    cases = {
        "invalid_scope": {"scope": "openid admin:everything"},
        "unsupported_response_type": {"response_type": "id_token"},
        "invalid_request": {"code_challenge_method": "plain"},
    }
    for error, params in cases.items():
        resp = requests.get(authorize_url(server, client["ClientId"], verifier="v" * 50, state="s1", **params),
                            allow_redirects=False, timeout=10)
        callback, query = redirected_to(resp)
        assert (callback, query["error"], query["state"]) == (CALLBACK, error, "s1"), params
    # A public client must use PKCE.
    resp = requests.get(authorize_url(server, client["ClientId"]), allow_redirects=False, timeout=10)
    assert redirected_to(resp)[1]["error"] == "invalid_request"
    # A client without the code flow.
    _, implicit_only = web_app(AllowedOAuthFlows=["implicit"])
    resp = requests.get(authorize_url(server, implicit_only["ClientId"], verifier="v" * 50),
                        allow_redirects=False, timeout=10)
    assert redirected_to(resp)[1]["error"] == "unauthorized_client"


def test_a_code_is_single_use_and_a_replay_revokes_what_it_issued(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    query = signed_in(server, Browser(server.url), client["ClientId"], username, "v" * 50)
    first = exchange(server, client["ClientId"], query["code"], "v" * 50)
    assert first.status_code == 200
    replay = exchange(server, client["ClientId"], query["code"], "v" * 50)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    refresh = requests.post(f"{server.url}/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": client["ClientId"],
        "refresh_token": first.json()["refresh_token"]}, timeout=10)
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def test_the_exchange_checks_verifier_redirect_uri_and_client(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    for bad in ({"code_verifier": "x" * 50}, {"code_verifier": ""}, {"redirect_uri": CALLBACK + "/other"}):
        query = signed_in(server, browser, client["ClientId"], username, "v" * 50)
        resp = exchange(server, client["ClientId"], query["code"], "v" * 50, **bad)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", bad
        # The failed attempt used the code up.
        assert exchange(server, client["ClientId"], query["code"], "v" * 50).status_code == 400
    # A code is bound to the client that asked for it.
    _, other = web_app()
    query = signed_in(server, browser, client["ClientId"], username, "v" * 50)
    assert exchange(server, other["ClientId"], query["code"], "v" * 50).json()["error"] == "invalid_grant"
    assert exchange(server, client["ClientId"], "not-a-code", "v" * 50).json()["error"] == "invalid_grant"


def test_a_confidential_client_exchanges_with_its_secret(server, web_app, make_confirmed_user):
    pool_id, client = web_app(secret=True)
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    # No PKCE: a client with a secret may go without.
    browser.get(authorize_url(server, client["ClientId"]))
    _, query = redirected_to(browser.sign_in(username, PASSWORD))
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": CALLBACK}
    no_secret = requests.post(f"{server.url}/oauth2/token", data=data | {"client_id": client["ClientId"]},
                              timeout=10)
    assert no_secret.status_code == 401
    ok = requests.post(f"{server.url}/oauth2/token", data=data,
                       auth=(client["ClientId"], client["ClientSecret"]), timeout=10)
    assert ok.status_code == 200, ok.text
    # A verifier for a code issued without a challenge is a downgrade: refused.
    browser.get(authorize_url(server, client["ClientId"]))
    _, query = redirected_to(browser.page)
    downgrade = requests.post(f"{server.url}/oauth2/token", auth=(client["ClientId"], client["ClientSecret"]),
                              data=data | {"code": query["code"], "code_verifier": "v" * 50}, timeout=10)
    assert downgrade.status_code == 400 and downgrade.json()["error"] == "invalid_grant"


def test_forms_without_the_csrf_token_are_refused(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    resp = browser.submit({"username": username, "password": PASSWORD}, drop=("_csrf",))
    assert resp.status_code == 403 and "Location" not in resp.headers
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    resp = browser.submit({"username": username, "password": PASSWORD, "_csrf": "forged"})
    assert resp.status_code == 403
    # A cross-site post (no CSRF cookie) with a token copied from another browser.
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    token = forms(browser.page.text)[0].fields["_csrf"]
    attacker = requests.post(browser.page.url, data={"username": username, "password": PASSWORD, "_csrf": token},
                             allow_redirects=False, timeout=10)
    assert attacker.status_code == 403
    # A second CSRF cookie (planted for a narrower path) makes the pair count as absent.
    cookie = browser.http.cookies.get("cognate-csrf")
    planted = requests.post(browser.page.url, data={"username": username, "password": PASSWORD, "_csrf": token},
                            headers={"Cookie": f"cognate-csrf={cookie}; cognate-csrf={cookie}"},
                            allow_redirects=False, timeout=10)
    assert planted.status_code == 403


def test_wrong_passwords_are_answered_on_the_page(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    # login_hint fills the username in (escaped).
    hinted = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50, login_hint='ann"<b>'))
    assert forms(hinted.text)[0].fields["username"] == 'ann"<b>' and "<b>" not in hinted.text
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    resp = browser.sign_in(username, "wrong-" + PASSWORD)
    assert resp.status_code == 400 and "Incorrect username or password." in resp.text
    # An unknown user gets the same answer (PreventUserExistenceErrors is on by default).
    resp = browser.sign_in("nobody-" + uid(), "wrong-" + PASSWORD)
    assert resp.status_code == 400 and "Incorrect username or password." in resp.text
    # In French.
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50, lang="fr"))
    assert 'lang="fr"' in browser.page.text and "Se connecter" in browser.page.text
    resp = browser.sign_in(username, "wrong-" + PASSWORD)
    assert "Nom d'utilisateur ou mot de passe incorrect." in resp.text.replace("&#39;", "'")


def test_new_password_required_through_the_pages(server, web_app, make_user):
    pool_id, client = web_app()
    username = make_user(pool_id)["Username"]
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    page = browser.sign_in(username, TEMP_PASSWORD)
    assert page.status_code == 200 and 'name="new_password"' in page.text
    differ = browser.submit({"new_password": PASSWORD, "confirm_password": PASSWORD + "x"})
    assert differ.status_code == 400 and "do not match" in differ.text
    resp = browser.submit({"new_password": PASSWORD, "confirm_password": PASSWORD})
    _, query = redirected_to(resp)
    assert exchange(server, client["ClientId"], query["code"], "v" * 50).status_code == 200


def test_totp_setup_and_sign_in_through_the_pages(server, web_app, make_confirmed_user, cognito):
    pool_id, client = web_app(pool={"MfaConfiguration": "ON"})
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    setup = browser.sign_in(username, PASSWORD)
    assert setup.status_code == 200 and "<svg" in setup.text
    secret = setup.text.split('id="secret">')[1].split("<")[0]
    totp = pyotp.TOTP(secret)
    wrong = browser.submit({"code": "000000" if totp.now() != "000000" else "111111"})
    assert wrong.status_code == 400
    _, query = redirected_to(browser.submit({"code": totp.now(), "device_name": "phone"}))
    assert exchange(server, client["ClientId"], query["code"], "v" * 50).status_code == 200

    # The next sign-in asks for a code (a new browser: no session).
    other = Browser(server.url)
    other.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    page = other.sign_in(username, PASSWORD)
    assert page.status_code == 200 and 'name="code"' in page.text and "<svg" not in page.text
    code = totp.at(int(__import__("time").time()) + 30)
    _, query = redirected_to(other.submit({"code": code}))
    assert "code" in query


def test_logout_ends_the_session_and_only_redirects_to_registered_urls(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    signed_in(server, browser, client["ClientId"], username, "v" * 50)
    for evil in ("https://evil.example.com/", LOGOUT + "/x", "//evil.example.com"):
        resp = browser.http.get(f"{server.url}/logout", params={"client_id": client["ClientId"], "logout_uri": evil},
                                allow_redirects=False, timeout=10)
        assert resp.status_code == 400 and "Location" not in resp.headers
    # Still signed in after the refused attempts.
    assert redirected_to(browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50)))[1]["code"]
    resp = browser.http.get(f"{server.url}/logout", params={"client_id": client["ClientId"], "logout_uri": LOGOUT},
                            allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["Location"] == LOGOUT
    page = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    assert page.status_code == 200 and 'name="password"' in page.text


def test_oidc_end_session_with_id_token_hint(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    query = signed_in(server, browser, client["ClientId"], username, "v" * 50)
    id_token = exchange(server, client["ClientId"], query["code"], "v" * 50).json()["id_token"]
    end_session = discovery(server, pool_id)["end_session_endpoint"]
    # A hint issued to another client than the one named is refused; so is a forged one.
    _, other = web_app()
    for params in ({"id_token_hint": id_token, "client_id": other["ClientId"]},
                   {"id_token_hint": id_token[:-4] + "AAAA", "post_logout_redirect_uri": LOGOUT}):
        resp = browser.http.get(end_session, params=params, allow_redirects=False, timeout=10)
        assert resp.status_code == 400 and "Location" not in resp.headers, params
    resp = browser.http.get(end_session, params={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT,
                                                 "state": "bye"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["Location"] == LOGOUT + "?state=bye"
    assert browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50)).status_code == 200


def test_implicit_flow_only_where_the_client_allows_it(server, web_app, make_confirmed_user):
    pool_id, client = web_app(AllowedOAuthFlows=["implicit"])
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], response_type="token", nonce="n1"))
    resp = browser.sign_in(username, PASSWORD)
    tokens = fragment_of(resp)
    assert {"access_token", "id_token", "state"} <= set(tokens) and "refresh_token" not in tokens


def test_global_sign_out_ends_the_browser_session(server, web_app, make_confirmed_user, cognito):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    signed_in(server, browser, client["ClientId"], username, "v" * 50)
    cognito.admin_user_global_sign_out(UserPoolId=pool_id, Username=username)
    page = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    assert page.status_code == 200 and 'name="password"' in page.text


def test_cors_lets_only_the_clients_origins_read_the_token_response(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    username = make_confirmed_user(pool_id)
    meta = requests.get(f"{server.issuer(pool_id)}/.well-known/openid-configuration",
                        headers={"Origin": "https://any.example"}, timeout=10)
    assert meta.headers["Access-Control-Allow-Origin"] == "*"
    jwks = requests.get(meta.json()["jwks_uri"], headers={"Origin": "https://any.example"}, timeout=10)
    assert jwks.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(f"{server.url}/oauth2/token", timeout=10, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]

    browser = Browser(server.url)
    for origin, allowed in (("https://app.example.com", True), ("https://evil.example.com", False),
                            ("https://app.example.com:8443", False), ("null", False)):
        query = signed_in(server, browser, client["ClientId"], username, "v" * 50)
        resp = requests.post(f"{server.url}/oauth2/token", headers={"Origin": origin}, timeout=10, data={
            "grant_type": "authorization_code", "client_id": client["ClientId"], "code": query["code"],
            "redirect_uri": CALLBACK, "code_verifier": "v" * 50})
        assert resp.status_code == 200
        assert (resp.headers.get("Access-Control-Allow-Origin") == origin) is allowed, origin


def test_forgot_password_through_the_pages(server, web_app, make_confirmed_user):
    pool_id, client = web_app()
    email = f"{uid()}@example.com"
    username = make_confirmed_user(pool_id, attributes={"email": email, "email_verified": "true"})
    browser = Browser(server.url)
    login = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    assert "Forgot your password?" in login.text
    forgot = browser.get(server.url + forms(login.text)[0].action.replace("/login?", "/forgotPassword?", 1)
                         .replace("&#38;", "&"))
    assert forgot.status_code == 200 and 'name="username"' in forgot.text
    reset = browser.submit({"username": username})
    assert reset.status_code == 200 and 'name="code"' in reset.text
    masked = email[0] + "***@e***"
    assert masked in reset.text
    code, _ = server.latest_code(pool_id, username)
    wrong = browser.submit({"code": "000000" if code != "000000" else "111111",
                            "new_password": "N3w-" + PASSWORD, "confirm_password": "N3w-" + PASSWORD})
    assert wrong.status_code == 400 and "Invalid code" in wrong.text
    done = browser.submit({"code": code, "new_password": "N3w-" + PASSWORD, "confirm_password": "N3w-" + PASSWORD})
    assert done.status_code == 200 and 'id="notice"' in done.text
    callback, query = redirected_to(browser.submit({"username": username, "password": "N3w-" + PASSWORD}))
    assert callback == CALLBACK and query["code"]
    # An unknown user gets the same page (PreventUserExistenceErrors), and no message.
    stranger = Browser(server.url)
    stranger.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    stranger.get(stranger.page.url.replace("/login?", "/forgotPassword?", 1))
    page = stranger.submit({"username": "nobody-" + uid()})
    assert page.status_code == 200 and 'name="code"' in page.text


def test_user_pool_domains_with_boto3(server, cognito, web_app):
    pool_id, client = web_app()
    other_pool, _ = web_app()
    prefix = f"acme-{uid(6)}"
    assert cognito.create_user_pool_domain(Domain=prefix, UserPoolId=pool_id)["ManagedLoginVersion"] == 1
    described = cognito.describe_user_pool_domain(Domain=prefix)["DomainDescription"]
    assert (described["UserPoolId"], described["Domain"], described["Status"]) == (pool_id, prefix, "ACTIVE")
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Domain"] == prefix
    assert cognito.describe_user_pool_domain(Domain="nobody-" + uid(6))["DomainDescription"] == {}
    for bad in ("Acme", "-acme", "my-cognito-login", "a" * 64, "acme.login"):
        with pytest.raises(cognito.exceptions.InvalidParameterException):
            cognito.create_user_pool_domain(Domain=bad, UserPoolId=other_pool)
    with pytest.raises(cognito.exceptions.InvalidParameterException, match="another user pool"):
        cognito.create_user_pool_domain(Domain=prefix, UserPoolId=other_pool)
    with pytest.raises(cognito.exceptions.InvalidParameterException, match="already has a domain"):
        cognito.create_user_pool_domain(Domain=f"second-{uid(6)}", UserPoolId=pool_id)

    # A custom domain next to the prefix, with its certificate; served by Host.
    custom = f"login.{uid(6)}.example.com"
    arn = "arn:aws:acm:us-east-1:000000000000:certificate/one"
    created = cognito.create_user_pool_domain(Domain=custom, UserPoolId=pool_id,
                                              CustomDomainConfig={"CertificateArn": arn})
    assert created["CloudFrontDomain"] == "127.0.0.1"
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["CustomDomain"] == custom
    arn2 = arn.replace("one", "two")
    cognito.update_user_pool_domain(Domain=custom, UserPoolId=pool_id, CustomDomainConfig={"CertificateArn": arn2},
                                    ManagedLoginVersion=2)
    described = cognito.describe_user_pool_domain(Domain=custom)["DomainDescription"]
    assert described["CustomDomainConfig"]["CertificateArn"] == arn2 and described["ManagedLoginVersion"] == 2

    url = authorize_url(server, client["ClientId"], verifier="v" * 50)
    on_domain = requests.get(url, headers={"Host": custom}, allow_redirects=False, timeout=10)
    assert on_domain.status_code == 302 and "/login?" in on_domain.headers["Location"]
    _, stranger = web_app()
    for host in (custom, custom + ".", custom.upper() + ":443"):
        foreign = requests.get(authorize_url(server, stranger["ClientId"], verifier="v" * 50), headers={"Host": host},
                               allow_redirects=False, timeout=10)
        assert foreign.status_code == 400 and "Location" not in foreign.headers, host
    with pytest.raises(cognito.exceptions.InvalidParameterException, match="reserved"):
        cognito.create_user_pool_domain(Domain="127.0.0.1", UserPoolId=other_pool,
                                        CustomDomainConfig={"CertificateArn": arn})

    with pytest.raises(cognito.exceptions.InvalidParameterException):
        cognito.delete_user_pool_domain(Domain=prefix, UserPoolId=other_pool)
    cognito.delete_user_pool_domain(Domain=prefix, UserPoolId=pool_id)
    cognito.delete_user_pool_domain(Domain=custom, UserPoolId=pool_id)
    assert "Domain" not in cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    # The prefix is free again.
    cognito.create_user_pool_domain(Domain=prefix, UserPoolId=other_pool)


def test_prefix_domains_are_served_under_the_auth_domain(fresh_server):
    srv = fresh_server({"COGNATE_AUTH_DOMAIN": "auth.cognate.test", "COGNATE_LOGIN_SESSION_SECS": "120"})
    cognito = srv.cognito
    pool_id = cognito.create_user_pool(PoolName=f"p-{uid()}")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]["ClientId"]
    prefix = f"acme-{uid(6)}"
    cognito.create_user_pool_domain(Domain=prefix, UserPoolId=pool_id)
    url = authorize_url(srv, client, verifier="v" * 50)
    ok = requests.get(url, headers={"Host": f"{prefix}.auth.cognate.test"}, allow_redirects=False, timeout=10)
    assert ok.status_code == 302 and ok.headers["Location"].startswith("/login?"), ok.headers
    unknown = requests.get(url, headers={"Host": "nobody.auth.cognate.test"}, allow_redirects=False, timeout=10)
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    # Cognate's own host still serves every pool.
    assert requests.get(url, allow_redirects=False, timeout=10).status_code == 302
    # The browser session lasts COGNATE_LOGIN_SESSION_SECS.
    cognito.admin_create_user(UserPoolId=pool_id, Username="kim", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="kim", Password=PASSWORD, Permanent=True)
    browser = Browser(srv.url)
    browser.get(url)
    signed_in = browser.sign_in("kim", PASSWORD)
    assert signed_in.status_code == 302 and "Max-Age=120;" in signed_in.headers["Set-Cookie"]


def test_sign_up_and_confirm_through_the_pages(server, web_app):
    pool_id, client = web_app(pool={"AutoVerifiedAttributes": ["email"]})
    browser = Browser(server.url)
    login = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    assert "Sign up" in login.text
    page = browser.get(browser.page.url.replace("/login?", "/signup?", 1))
    assert page.status_code == 200 and 'name="email"' in page.text and 'name="username"' in page.text
    username, email = f"neo-{uid(6)}", f"neo-{uid(6)}@example.com"
    differ = browser.submit({"username": username, "email": email, "password": PASSWORD,
                             "confirm_password": PASSWORD + "x"})
    assert differ.status_code == 400 and "do not match" in differ.text
    weak = browser.submit({"username": username, "email": email, "password": "short", "confirm_password": "short"})
    assert weak.status_code == 400 and "Password does not conform to policy" in weak.text
    confirm = browser.submit({"username": username, "email": email, "password": PASSWORD,
                              "confirm_password": PASSWORD})
    assert confirm.status_code == 200 and 'name="code"' in confirm.text and "n***@e***" in confirm.text
    # Signing up the same name again is refused on the page.
    again = Browser(server.url)
    again.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    again.get(again.page.url.replace("/login?", "/signup?", 1))
    taken = again.submit({"username": username, "email": f"other-{uid(4)}@example.com", "password": PASSWORD,
                          "confirm_password": PASSWORD})
    assert taken.status_code == 400 and "already exists" in taken.text

    code, _ = server.latest_code(pool_id, username)
    wrong = browser.submit({"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and "Invalid code" in wrong.text
    done = browser.submit({"code": code})
    assert done.status_code == 200 and "Your account is confirmed" in done.text
    callback, query = redirected_to(browser.submit({"username": username, "password": PASSWORD}))
    assert callback == CALLBACK and query["code"]
    claims = __import__("jwt").decode(exchange(server, client["ClientId"], query["code"], "v" * 50).json()["id_token"],
                                      options={"verify_signature": False})
    assert claims["email"] == email and claims["email_verified"] is True


def test_sign_up_where_the_pool_verifies_no_email_says_an_administrator_confirms(server, cognito, web_app):
    """As with SignUp in Cognito, no code is sent when the pool does not auto-verify email:
    the page says an administrator must confirm the account, and after that it signs in."""
    pool_id, client = web_app()
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    browser.get(browser.page.url.replace("/login?", "/signup?", 1))
    username = f"ann-{uid(6)}"
    created = browser.submit({"username": username, "email": f"{username}@example.com",
                              "password": PASSWORD, "confirm_password": PASSWORD})
    assert created.status_code == 200 and 'name="code"' not in created.text
    assert "An administrator must confirm it" in created.text
    assert server.messages_for(pool_id, username) == []
    cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username=username)
    callback, query = redirected_to(browser.submit({"username": username, "password": PASSWORD}))
    assert callback == CALLBACK and query["code"]


def test_forgot_password_page_with_admin_only_recovery(server, web_app, make_confirmed_user):
    pool_id, client = web_app(pool={"AccountRecoverySetting": {
        "RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}})
    username = make_confirmed_user(pool_id, attributes={"email": f"{uid()}@example.com",
                                                        "email_verified": "true"})
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    browser.get(browser.page.url.replace("/login?", "/forgotPassword?", 1))
    refused = browser.submit({"username": username})
    assert refused.status_code == 403 and "Contact an administrator" in refused.text
    assert 'name="code"' not in refused.text
    assert server.messages_for(pool_id, username) == []


def test_sign_up_is_offered_only_where_the_pool_allows_it(server, web_app):
    _, client = web_app(pool={"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True}})
    browser = Browser(server.url)
    login = browser.get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    assert "/signup?" not in login.text
    page = browser.get(browser.page.url.replace("/login?", "/signup?", 1))
    assert page.status_code == 403
    # Email as the username: the form asks for the email only.
    _, by_email = web_app(pool={"UsernameAttributes": ["email"], "AutoVerifiedAttributes": ["email"]})
    browser.get(authorize_url(server, by_email["ClientId"], verifier="v" * 50))
    page = browser.get(browser.page.url.replace("/login?", "/signup?", 1))
    assert 'name="email"' in page.text and 'name="username"' not in page.text
    confirm = browser.submit({"email": f"ada-{uid(6)}@example.com", "password": PASSWORD,
                              "confirm_password": PASSWORD})
    assert confirm.status_code == 200 and 'name="code"' in confirm.text


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000"
    "1ff89993d1d0000000049454e44ae426082")


def test_ui_customization_brands_the_pages(server, cognito, web_app):
    pool_id, client = web_app()
    css = ".banner-customizable { background-color: #0b3d91; }\n.submitButton-customizable:hover { color: #fff; }"
    pool_ui = cognito.set_ui_customization(UserPoolId=pool_id, CSS=css, ImageFile=PNG_1PX)["UICustomization"]
    assert pool_ui["ClientId"] == "ALL" and pool_ui["CSS"] == css and pool_ui["ImageUrl"].startswith(server.url)
    got = cognito.get_ui_customization(UserPoolId=pool_id, ClientId=client["ClientId"])["UICustomization"]
    assert got["ClientId"] == "ALL" and got["CSS"] == css  # the pool's, for a client without its own

    page = Browser(server.url).get(authorize_url(server, client["ClientId"], verifier="v" * 50))
    css_href = re.search(r'<link rel="stylesheet" href="(/login/assets/custom/[^"]+)"', page.text).group(1)
    logo_src = re.search(r'<img class="logo-customizable" src="([^"]+)"', page.text).group(1)
    served = requests.get(server.url + css_href.replace("&#38;", "&"), timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/css") and served.text == css
    logo = requests.get(server.url + logo_src.replace("&#38;", "&"), timeout=10)
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/png" and logo.content == PNG_1PX

    # A client's own customization wins over the pool's.
    own = ".label-customizable { color: #333; }"
    cognito.set_ui_customization(UserPoolId=pool_id, ClientId=client["ClientId"], CSS=own)
    got = cognito.get_ui_customization(UserPoolId=pool_id, ClientId=client["ClientId"])["UICustomization"]
    assert got["ClientId"] == client["ClientId"] and got["CSS"] == own and "ImageUrl" not in got

    for bad in ("body { color: red }", "input[value^=a] { background: url(https://evil.example/a) }",
                "@import 'https://evil.example/x.css';", ".banner-customizable { color: red"):
        with pytest.raises(cognito.exceptions.InvalidParameterException):
            cognito.set_ui_customization(UserPoolId=pool_id, CSS=bad)
    with pytest.raises(cognito.exceptions.InvalidParameterException):
        cognito.set_ui_customization(UserPoolId=pool_id, ImageFile=b"GIF89a not a png")
    other_pool, other = web_app()
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        cognito.set_ui_customization(UserPoolId=pool_id, ClientId=other["ClientId"], CSS=own)
    assert requests.get(f"{server.url}/login/assets/custom/{other_pool}/ALL.css", timeout=10).status_code == 404


def test_a_login_hint_with_a_tenants_domain_chooses_that_tenant(server, tenancy, cognito):
    acme = tenancy.create_tenant("acme", "basic", name="Acme")
    globex = tenancy.create_tenant("globex", "basic", name="Globex")
    domain = f"globex-{uid(6)}.example"
    tenancy.as_admin("POST", f"/v1/tenants/{globex['id']}/domains", {"domain": domain, "autoJoin": False}, status=201)
    tenancy.as_admin("POST", f"/v1/tenants/{globex['id']}/domains/{domain}/verify", {"method": "attest"})
    user = tenancy.new_user(acme["id"], "member", email=f"pat-{uid(6)}@{domain}")
    shared_pool, shared_client = tenancy.shared_placement()
    tokens = tenancy.sign_in(shared_client, user.email, user.password, tenant_id=acme["id"])
    tenancy.join(globex["id"], user, "member", tokens["AccessToken"])
    client_id = cognito.create_user_pool_client(
        UserPoolId=shared_pool, ClientName="portal", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]["ClientId"]

    # Without a hint the user is asked; so with a hint that is not the name they sign in
    # with (a link cannot choose for someone else); with their own email as the hint,
    # Globex (its domain) is chosen.
    for hint in (None, f"someone-else@{domain}"):
        asked = Browser(server.url)
        asked.get(authorize_url(server, client_id, verifier="v" * 50, **({"login_hint": hint} if hint else {})))
        assert "Choose an organization" in asked.sign_in(user.email, user.password).text, hint
    hinted = Browser(server.url)
    hinted.get(authorize_url(server, client_id, verifier="v" * 50, login_hint=user.email))
    _, query = redirected_to(hinted.sign_in(user.email, user.password))
    id_token = exchange(server, client_id, query["code"], "v" * 50).json()["id_token"]
    claims = __import__("jwt").decode(id_token, options={"verify_signature": False})
    assert claims["custom:tenantId"] == globex["id"]


def test_the_pages_share_the_apis_request_rate_limits(fresh_server):
    srv = fresh_server({"COGNATE_RATE_AUTH_PER_IP": "4"})
    cognito = srv.cognito
    pool_id = cognito.create_user_pool(PoolName=f"p-{uid()}")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    browser = Browser(srv.url)
    browser.get(authorize_url(srv, client, verifier="v" * 50))
    statuses = []
    for _ in range(3):
        statuses.append(browser.sign_in("nobody", "Wrong-passw0rd!").status_code)
        browser.get(authorize_url(srv, client, verifier="v" * 50))
    # The API's InitiateAuth counts in the same window from this address.
    with pytest.raises(cognito.exceptions.ClientError):
        for _ in range(2):
            cognito.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "nobody", "PASSWORD": "Wrong-passw0rd!"})
    limited = browser.sign_in("nobody", "Wrong-passw0rd!")
    assert statuses == [400, 400, 400] and limited.status_code == 429 and "Retry-After" in limited.headers
    # Sign-up, confirmation and recovery count too.
    browser.get(authorize_url(srv, client, verifier="v" * 50).replace("/oauth2/authorize?", "/signup?"))
    assert browser.submit({"username": "neo", "email": "neo@example.com", "password": PASSWORD,
                           "confirm_password": PASSWORD}).status_code == 429


def test_nul_bytes_and_malformed_input_get_clear_4xx(server, web_app):
    _, client = web_app()
    url = authorize_url(server, client["ClientId"], verifier="v" * 50)
    for bad in (url + "&state=a%00b", url.replace("client_id=", "client_id=%00"), url + "&scope=openid",
                url + "&lang=%ff"):
        resp = requests.get(bad, allow_redirects=False, timeout=10)
        assert resp.status_code == 400 and "Location" not in resp.headers, bad
    browser = Browser(server.url)
    browser.get(url)
    assert browser.submit({"username": "ann\x00", "password": "x"}).status_code == 400
    token = requests.post(f"{server.url}/oauth2/token", timeout=10, data={
        "grant_type": "authorization_code", "client_id": client["ClientId"], "code": "a\x00b",
        "redirect_uri": CALLBACK, "code_verifier": "v" * 50})
    assert token.status_code == 400 and token.json()["error"] in ("invalid_request", "invalid_grant")
    assert requests.get(f"{server.url}/logout?client_id=%00", timeout=10).status_code == 400


def test_a_sign_in_through_the_pages_is_audited_under_the_request_id_of_its_answer(server, web_app,
                                                                                   make_confirmed_user):
    """The access log, the answer's `x-request-id` and the audit event share one id."""
    pool_id, client = web_app()
    user = make_confirmed_user(pool_id)
    browser = Browser(server.url)
    browser.get(authorize_url(server, client["ClientId"], verifier=secrets.token_urlsafe(48)))
    page = forms(browser.page.text)[0]
    posted = browser.http.post(urljoin(browser.page.url, page.action), allow_redirects=False, timeout=30,
                               data={**page.fields, "username": user, "password": PASSWORD})
    assert posted.status_code == 302, posted.text[:300]
    request_id = posted.headers["x-request-id"]
    events = v1_ok(v1(server, "GET", "/v1/audit", bearer=admin_bearer(server),
                      params={"action": "auth.sign_in", "limit": 100}))["items"]
    mine = [e for e in events if e.get("requestId") == request_id]
    assert len(mine) == 1, (request_id, [e.get("requestId") for e in events])
    assert mine[0]["outcome"] == "success"
