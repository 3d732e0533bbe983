"""Cognate's OIDC relying party (cognate-server's federation_oidc) against a real OpenID
provider, node-oidc-provider: discovery, the authorization URL, the code exchange, ID token
verification (nonce, keys, rotation), userinfo, and the provider's refusals.

The relying party runs as the `oidc_rp` example (one process, so one cache across sign-ins,
as in the server); build it with `cargo build -p cognate-server --example oidc_rp`. It is
found beside COGNATE_BIN (…/debug/examples/oidc_rp) or at COGNATE_OIDC_RP_BIN.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import secrets
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from cognate_harness import cognate_bin
from oidc_idp import OidcIdp, complete_in_browser, free_port, query_of

CALLBACK = f"http://127.0.0.1:{free_port()}/oauth2/idpresponse"


def rp_bin() -> Path:
    override = os.environ.get("COGNATE_OIDC_RP_BIN")
    return Path(override) if override else cognate_bin().parent / "examples" / "oidc_rp"


class RelyingParty:
    """The `oidc_rp` example: one JSON request per line in, one answer per line out."""

    def __init__(self) -> None:
        binary = rp_bin()
        if not binary.exists():
            pytest.fail(
                f"{binary} not found: cargo build -p cognate-server --example oidc_rp "
                "(or set COGNATE_OIDC_RP_BIN)",
                pytrace=False,
            )
        # The provider listens on 127.0.0.1, which outbound requests refuse by default.
        env = {**os.environ, "COGNATE_OUTBOUND_ALLOW": "127.0.0.0/8,::1/128"}
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env
        )

    def call(self, op: str, **fields) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "oidc_rp exited"
        return json.loads(line)

    def ok(self, op: str, **fields):
        answer = self.call(op, **fields)
        assert "ok" in answer, answer
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def rp():
    party = RelyingParty()
    yield party
    party.close()


def client(client_id: str, method: str = "client_secret_basic", **extra) -> dict:
    meta = {
        "client_id": client_id,
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": method,
        **extra,
    }
    if method != "none":
        meta["client_secret"] = f"secret-{client_id}-{secrets.token_hex(8)}"
    return meta


@pytest.fixture
def idp():
    provider = OidcIdp(
        clients=[
            client("basic-client"),
            client("post-client", "client_secret_post"),
            client("public-client", "none"),
        ]
    )
    with provider:
        yield provider


def details_for(idp: OidcIdp, client_id: str, **extra) -> dict[str, str]:
    return {
        "client_id": client_id,
        "authorize_scopes": "openid email profile",
        "oidc_issuer": idp.issuer,
        "attributes_request_method": "GET",
        **extra,
    }


def secret_of(idp: OidcIdp, client_id: str) -> str | None:
    return next(c for c in idp.clients if c["client_id"] == client_id).get("client_secret")


def sign_in(rp: RelyingParty, idp: OidcIdp, details: dict, login: str = "alice", **overrides) -> dict:
    """A whole sign-in: the authorization URL, the provider's pages, the callback's code
    exchanged and verified. `overrides` replace what `complete` is given (attacks)."""
    verifier = secrets.token_urlsafe(48)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = rp.ok(
        "authorization_url", details=details, redirect_uri=CALLBACK, state=state, nonce=nonce,
        pkce_verifier=verifier,
    )
    back = idp.sign_in(url, login)
    assert back.startswith(CALLBACK), back
    params = query_of(back)
    assert params.get("state") == state, params
    # oidc-provider sends RFC 9207's iss with the code; the relying party checks it.
    assert params.get("iss") == idp.issuer, params
    assert rp.call("check_callback_issuer", details=details, iss=params["iss"]) == {"ok": None}
    mixed_up = rp.call("check_callback_issuer", details=details, iss="https://other.example.com")
    assert mixed_up["error"] == "IssuerMismatch", mixed_up
    args = {
        "details": details,
        "client_secret": secret_of(idp, details["client_id"]),
        "redirect_uri": CALLBACK,
        "code": params["code"],
        "pkce_verifier": verifier,
        "nonce": nonce,
        **overrides,
    }
    return rp.call("complete", **args) | {"_args": args}


# --------------------------------------------------------------------------- discovery


def test_discovery_fills_the_endpoints_explicit_ones_win(rp, idp):
    details = details_for(idp, "basic-client")
    filled = rp.ok("discover", details=details)
    assert filled["authorize_url"] == f"{idp.issuer}/auth"
    assert filled["token_url"] == f"{idp.issuer}/token"
    assert filled["attributes_url"] == f"{idp.issuer}/me"
    assert filled["jwks_uri"] == f"{idp.issuer}/jwks"
    assert filled["client_id"] == "basic-client"

    explicit = rp.ok("discover", details=details | {"authorize_url": f"{idp.issuer}/auth?x=1"})
    assert explicit["authorize_url"] == f"{idp.issuer}/auth?x=1"
    assert explicit["token_url"] == f"{idp.issuer}/token"


def test_discovery_requires_the_exact_issuer(rp, idp):
    answer = rp.call("discover", details=details_for(idp, "basic-client", oidc_issuer=idp.issuer + "/"))
    assert answer["error"] == "Discovery", answer
    assert "issuer" in answer["message"] and idp.issuer in answer["message"]


def test_an_unreachable_issuer_is_named(rp):
    issuer = f"http://127.0.0.1:{free_port()}"
    answer = rp.call("discover", details={"client_id": "c", "oidc_issuer": issuer, "authorize_scopes": "openid"})
    assert answer["error"] == "Unreachable", answer
    assert issuer in answer["message"]


def test_a_wrong_explicit_jwks_uri_is_refused_at_discovery(rp, idp):
    answer = rp.call("discover", details=details_for(idp, "basic-client", jwks_uri=f"{idp.issuer}/nothing-here"))
    assert answer["error"] == "Keys", answer


def test_probe_reports_endpoints_and_keys(rp, idp):
    report = rp.ok("probe", details=details_for(idp, "basic-client", client_secret="x"))
    assert report["issuer"] == idp.issuer
    assert report["token_url"] == f"{idp.issuer}/token"
    assert [k["kid"] for k in report["keys"]] == [idp.kid]
    assert report["keys"][0]["usable"] is True
    assert "client_secret_basic" in report["token_auth_methods"]
    assert "RS256" in report["id_token_signing_algs"]
    assert report["warnings"] == []


# --------------------------------------------------------------------------- sign-in


def test_authorization_url_carries_code_flow_pkce_state_nonce(rp, idp):
    verifier = secrets.token_urlsafe(48)
    url = rp.ok(
        "authorization_url", details=details_for(idp, "basic-client", authorize_scopes="email profile"),
        redirect_uri=CALLBACK, state="st", nonce="nn", pkce_verifier=verifier,
    )
    q = query_of(url)
    assert url.startswith(f"{idp.issuer}/auth?")
    assert q["response_type"] == "code"
    assert q["client_id"] == "basic-client"
    assert q["redirect_uri"] == CALLBACK
    assert q["scope"] == "openid email profile"
    assert (q["state"], q["nonce"]) == ("st", "nn")
    assert q["code_challenge_method"] == "S256"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    short = rp.call("authorization_url", details=details_for(idp, "basic-client"), redirect_uri=CALLBACK,
                    state="s", nonce="n", pkce_verifier="too-short")
    assert short["error"] == "InvalidRequest", short


@pytest.mark.parametrize("client_id", ["basic-client", "post-client", "public-client"])
def test_sign_in_returns_the_id_token_and_userinfo_claims(rp, idp, client_id):
    answer = sign_in(rp, idp, details_for(idp, client_id))
    assert "ok" in answer, answer
    identity = answer["ok"]
    attrs = identity["attributes"]
    assert identity["subject"] == "alice"
    assert attrs["sub"] == ["alice"]
    assert attrs["iss"] == [idp.issuer]
    assert attrs["aud"] == [client_id]
    # oidc-provider puts scope claims in userinfo only (code flow): they arrive merged.
    assert attrs["email"] == ["alice@example.test"]
    assert attrs["email_verified"] == ["true"]
    assert attrs["given_name"] == ["Alice"]
    assert attrs["groups"] == ["admins", "readers"]


def test_userinfo_by_post(rp, idp):
    answer = sign_in(rp, idp, details_for(idp, "basic-client", attributes_request_method="POST"), login="bob")
    assert "ok" in answer, answer
    assert answer["ok"]["attributes"]["email"] == ["bob@example.test"]
    assert answer["ok"]["attributes"]["email_verified"] == ["false"]


def test_only_the_scopes_asked_for_are_returned(rp, idp):
    answer = sign_in(rp, idp, details_for(idp, "basic-client", authorize_scopes="openid"))
    attrs = answer["ok"]["attributes"]
    assert attrs["sub"] == ["alice"]
    assert "email" not in attrs and "groups" not in attrs


def test_es256_provider(rp):
    with OidcIdp(clients=[client("es-client", id_token_signed_response_alg="ES256")], alg="ES256") as es:
        answer = sign_in(rp, es, details_for(es, "es-client"))
        assert answer["ok"]["subject"] == "alice", answer


# --------------------------------------------------------------------------- refusals


def test_a_wrong_nonce_is_refused(rp, idp):
    answer = sign_in(rp, idp, details_for(idp, "basic-client"), nonce="not-the-one-sent")
    assert answer["error"] == "InvalidIdToken", answer
    assert "nonce" in answer["message"].lower()


def test_a_code_works_once(rp, idp):
    first = sign_in(rp, idp, details_for(idp, "basic-client"))
    assert "ok" in first
    again = rp.call("complete", **first["_args"])
    assert again["error"] == "TokenRejected", again
    assert "invalid_grant" in again["message"]


def test_a_wrong_pkce_verifier_is_refused(rp, idp):
    answer = sign_in(rp, idp, details_for(idp, "basic-client"), pkce_verifier=secrets.token_urlsafe(48))
    assert answer["error"] == "TokenRejected", answer
    assert "invalid_grant" in answer["message"]


def test_a_wrong_client_secret_is_refused_and_not_shown(rp, idp):
    answer = sign_in(rp, idp, details_for(idp, "basic-client"), client_secret="wrong-secret-value")
    assert answer["error"] == "TokenRejected", answer
    assert "invalid_client" in answer["message"]
    assert "wrong-secret-value" not in answer["message"]


def test_another_clients_code_is_refused(rp, idp):
    # A code issued to post-client, redeemed as basic-client (with basic-client's secret).
    verifier = secrets.token_urlsafe(48)
    url = rp.ok("authorization_url", details=details_for(idp, "post-client"), redirect_uri=CALLBACK,
                state="s", nonce="n", pkce_verifier=verifier)
    code = query_of(idp.sign_in(url, "alice"))["code"]
    answer = rp.call("complete", details=details_for(idp, "basic-client"),
                     client_secret=secret_of(idp, "basic-client"), redirect_uri=CALLBACK, code=code,
                     pkce_verifier=verifier, nonce="n")
    assert answer["error"] == "TokenRejected", answer


# --------------------------------------------------------------------------- keys


def test_key_rotation_refetches_the_jwks_once_a_minute_at_most(rp, idp):
    details = details_for(idp, "basic-client")
    assert "ok" in sign_in(rp, idp, details)  # caches the first key
    new_kid = idp.rotate_keys()
    assert [k["kid"] for k in idp.jwks()["keys"]] == [new_kid]
    rotated = sign_in(rp, idp, details)
    assert "ok" in rotated, rotated["message"]  # the unknown kid made one JWKS fetch
    idp.rotate_keys()
    too_soon = sign_in(rp, idp, details)
    assert too_soon["error"] == "UnknownSigningKey", too_soon
    # A fresh relying party (another process, no rate limit yet) accepts the same provider.
    other = RelyingParty()
    try:
        assert "ok" in sign_in(other, idp, details)
    finally:
        other.close()


# --------------------------------------------------------------------------- the provider's pages


def test_a_cancelled_consent_comes_back_as_access_denied(rp, idp):
    url = rp.ok("authorization_url", details=details_for(idp, "basic-client"), redirect_uri=CALLBACK,
                state="st-cancel", nonce="n", pkce_verifier=secrets.token_urlsafe(48))
    back = query_of(idp.sign_in(url, "alice", consent=False))
    assert back["error"] == "access_denied", back
    assert back["state"] == "st-cancel"
    assert "code" not in back


def test_the_provider_pages_work_in_chromium(rp, idp):
    sync_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")
    chromium = os.environ.get("COGNATE_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Chromium is not installed at {chromium}", pytrace=False)
    details = details_for(idp, "basic-client")
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url = rp.ok("authorization_url", details=details, redirect_uri=CALLBACK, state="st-browser", nonce=nonce,
                pkce_verifier=verifier)
    caught: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def catch(route):
                caught.append(route.request.url)
                route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>")

            page.route(lambda u: u.startswith(CALLBACK), catch)
            page.goto(url)
            complete_in_browser(page, idp, "bob")
            page.wait_for_function("() => document.body.innerText.includes('callback')", timeout=15000)
        finally:
            browser.close()
    params = query_of(caught[-1])
    assert params["state"] == "st-browser"
    identity = rp.ok("complete", details=details, client_secret=secret_of(idp, "basic-client"),
                     redirect_uri=CALLBACK, code=params["code"], pkce_verifier=verifier, nonce=nonce)
    assert identity["subject"] == "bob"
    assert identity["attributes"]["groups"] == ["readers"]


# --------------------------------------------------------------------------- HTTP hygiene


class _Hostile(http.server.BaseHTTPRequestHandler):
    """/redirect: 307 to the real token endpoint; /huge: a 2 MiB JSON body."""

    target = ""

    def _answer(self):
        if self.path.startswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            body = json.dumps({"sub": "alice", "padding": "x" * (2 * 1024 * 1024)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile(idp):
    handler = type("Handler", (_Hostile,), {"target": f"{idp.issuer}/token"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_redirecting_token_endpoint_is_not_followed(rp, idp, hostile):
    answer = sign_in(rp, idp, details_for(idp, "basic-client", token_url=f"{hostile}/redirect"))
    assert answer["error"] == "BadTokenResponse", answer
    # The code was never carried to the real endpoint: it still redeems there.
    args = answer["_args"] | {"details": details_for(idp, "basic-client")}
    assert "ok" in rp.call("complete", **args)


def test_an_oversized_answer_is_cut_off(rp, idp, hostile):
    answer = sign_in(rp, idp, details_for(idp, "basic-client", attributes_url=f"{hostile}/huge"))
    assert answer["error"] == "Unreachable", answer
    assert "larger than 1048576 bytes" in answer["message"]
