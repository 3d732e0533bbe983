"""The hosted login in a real browser: Debian's Chromium driven by Playwright signs in through
the pages (temporary password, MFA set-up with the QR code page, TOTP, the tenant picker,
wrong passwords), and the client's callback is caught before it leaves the machine.
With COGNATE_SCREENSHOTS=1, screenshots of each page are written to docs/screenshots/ (the
README shows them).

scripts/test installs Chromium (apt) and Playwright (pip); the browser is never downloaded."""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cognate_harness import uid
from conftest import PASSWORD, TEMP_PASSWORD
from hosted_login import CALLBACK

playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 375, "height": 720})
    pg = context.new_page()
    pg.callbacks = []

    def catch(route):
        pg.callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>")

    pg.route(re.compile(r"^https://app\.example\.com/.*"), catch)
    yield pg
    context.close()


def authorize(server, client_id: str, verifier: str, **extra) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "state": "s-" + uid(),
             "scope": "openid email", "code_challenge": create_s256_code_challenge(verifier),
             "code_challenge_method": "S256"} | extra
    return requests.Request("GET", f"{server.url}/oauth2/authorize", params=query).prepare().url


def shot(page, name: str) -> None:
    if page.context.browser and os.environ.get("COGNATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def code_of(page) -> str:
    page.wait_for_function("() => document.body && document.body.innerText.includes('callback')", timeout=10000)
    assert page.callbacks, "the browser never reached the callback"
    return parse_qs(urlsplit(page.callbacks[-1]).query)["code"][0]


def exchange(server, client_id: str, code: str, verifier: str) -> dict:
    resp = requests.post(f"{server.url}/oauth2/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def web_client(cognito, make_pool):
    def make(pool: dict | None = None) -> tuple[str, str]:
        pool_id = make_pool(**(pool or {}))["Id"]
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="Notes web", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
            SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]
        return pool_id, client["ClientId"]
    return make


def test_new_password_then_mfa_setup_then_totp_in_chromium(server, page, web_client, make_user, cognito):
    if server.backend != "sqlite":
        pytest.skip("the browser walk runs once; the pages are the same on both backends")
    pool_id, client_id = web_client({"MfaConfiguration": "ON"})
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    username = make_user(pool_id, f"ada-{uid(4)}", {"email": f"ada-{uid(4)}@example.com"})["Username"]
    verifier = secrets.token_urlsafe(48)

    page.goto(authorize(server, client_id, verifier))
    assert page.get_by_label("Username or email").is_visible()
    shot(page, "login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill("not-" + TEMP_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#error").inner_text() == "Incorrect username or password."
    shot(page, "login-error")

    page.get_by_label("Password", exact=True).fill(TEMP_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("New password", exact=True).wait_for()
    shot(page, "new-password")
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm the new password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    page.locator("svg").first.wait_for()
    shot(page, "mfa-setup")
    totp = pyotp.TOTP(page.locator("#secret").inner_text())
    page.get_by_label("Code", exact=True).fill(totp.now())
    page.get_by_label("Device name (optional)").fill("Pixel")
    page.get_by_role("button", name="Continue").click()
    tokens = exchange(server, client_id, code_of(page), verifier)
    assert "id_token" in tokens

    # A second browser: password, then a TOTP code.
    other = page.context.browser.new_context(viewport={"width": 1024, "height": 720})
    second = other.new_page()
    second.callbacks = []
    second.route(re.compile(r"^https://app\.example\.com/.*"),
                 lambda route: (second.callbacks.append(route.request.url),
                                route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>")))
    verifier2 = secrets.token_urlsafe(48)
    second.goto(authorize(server, client_id, verifier2, lang="fr"))
    second.get_by_label("Nom d'utilisateur ou e-mail").fill(username)
    second.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    second.get_by_role("button", name="Se connecter").click()
    second.get_by_label("Code", exact=True).wait_for()
    shot(second, "mfa-code-fr")
    second.get_by_label("Code", exact=True).fill(totp.at(time.time() + 30))
    second.get_by_role("button", name="Continuer").click()
    assert "access_token" in exchange(server, client_id, code_of(second), verifier2)
    other.close()


def test_the_pages_run_no_script_and_cannot_be_framed(server, page, web_client):
    _, client_id = web_client()
    resp = page.goto(authorize(server, client_id, "v" * 50))
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert page.evaluate("() => document.scripts.length") == 0
    # Framing is refused by the browser itself.
    page.set_content(f'<iframe id="f" src="{page.url}"></iframe>')
    page.wait_for_timeout(500)
    frame = page.frame_locator("#f")
    assert frame.locator("input[name=password]").count() == 0


def test_keyboard_only_sign_in(server, page, web_client, make_confirmed_user):
    pool_id, client_id = web_client()
    username = make_confirmed_user(pool_id)
    verifier = "k" * 50
    page.goto(authorize(server, client_id, verifier))
    # The username field has focus; tab to the password, Enter submits.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'username'")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    assert "access_token" in exchange(server, client_id, code_of(page), verifier)


def test_a_member_of_two_tenants_picks_one_in_chromium(server, page, tenancy, cognito):
    acme = tenancy.create_tenant("acme", "basic", name="Acme")
    globex = tenancy.create_tenant("globex", "basic", name="Globex")
    user = tenancy.new_user(acme["id"], "member")
    shared_pool, shared_client = tenancy.shared_placement()
    tokens = tenancy.sign_in(shared_client, user.email, user.password, tenant_id=acme["id"])
    tenancy.join(globex["id"], user, "admin", tokens["AccessToken"])
    client_id = cognito.create_user_pool_client(
        UserPoolId=shared_pool, ClientName="Portal", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]["ClientId"]

    verifier = secrets.token_urlsafe(48)
    page.goto(authorize(server, client_id, verifier))
    page.get_by_label("Username or email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Globex").wait_for()
    assert page.get_by_role("button", name="Acme").is_visible()
    if server.backend == "sqlite":
        shot(page, "select-tenant")
    page.get_by_role("button", name="Globex").click()
    id_token = exchange(server, client_id, code_of(page), verifier)["id_token"]
    claims = __import__("jwt").decode(id_token, options={"verify_signature": False})
    assert claims["custom:tenantId"] == globex["id"] and claims["custom:tenantRole"] == "admin", claims

    # As with InitiateAuth + RespondToAuthChallenge: the password step is an auth.sign_in
    # (in the user's home tenant, Acme, before a tenant is chosen), the tenant pick that
    # completed it an auth.challenge in Globex, and the code exchange is in Globex too.
    from test_audit import events  # noqa: PLC0415
    home = [e["action"] for e in events(server, acme["id"])]
    assert "auth.sign_in" in home and "auth.code_exchange" not in home, home
    trail = events(server, globex["id"])
    for action in ("auth.challenge", "auth.code_exchange"):
        found = [e for e in trail if e["action"] == action and e["outcome"] == "success"]
        assert found and found[0]["actor"] == f"user:{user.sub}", (action, [e["action"] for e in trail])


def test_forgot_password_in_chromium(server, page, web_client, make_confirmed_user):
    pool_id, client_id = web_client()
    email = f"kay-{uid(6)}@example.com"
    username = make_confirmed_user(pool_id, attributes={"email": email, "email_verified": "true"})
    verifier = secrets.token_urlsafe(48)
    page.goto(authorize(server, client_id, verifier))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_role("button", name="Send a code").click()
    page.get_by_label("Code", exact=True).wait_for()
    if server.backend == "sqlite":
        shot(page, "reset-password")
    code, _ = server.latest_code(pool_id, username)
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("New password", exact=True).fill("N3w-" + PASSWORD)
    page.get_by_label("Confirm the new password").fill("N3w-" + PASSWORD)
    page.get_by_role("button", name="Change password").click()
    assert "Your password was changed" in page.locator("#notice").inner_text()
    page.get_by_label("Password", exact=True).fill("N3w-" + PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "access_token" in exchange(server, client_id, code_of(page), verifier)


def test_sign_up_confirm_and_sign_in_in_chromium(server, page, web_client):
    pool_id, client_id = web_client({"AutoVerifiedAttributes": ["email"]})
    username, email = f"grace-{uid(6)}", f"grace-{uid(6)}@example.com"
    verifier = secrets.token_urlsafe(48)
    page.goto(authorize(server, client_id, verifier))
    page.get_by_role("link", name="Need an account? Sign up").click()
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm the new password").fill(PASSWORD)
    if server.backend == "sqlite":
        shot(page, "sign-up")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_label("Code", exact=True).wait_for()
    if server.backend == "sqlite":
        shot(page, "confirm-sign-up")
    code, _ = server.latest_code(pool_id, username)
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Confirm").click()
    assert "Your account is confirmed" in page.locator("#notice").inner_text()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "id_token" in exchange(server, client_id, code_of(page), verifier)
