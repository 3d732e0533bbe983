"""A real OpenID provider for the federation tests: node-oidc-provider (js/oidc_idp.mjs) on
a free loopback port, plus a driver for its development login and consent pages.

    with OidcIdp(clients=[{...}]) as idp:
        idp.issuer                      # http://127.0.0.1:PORT
        code_url = idp.sign_in(auth_url, "alice")   # the redirect back, with ?code&state
        idp.rotate_keys()               # same issuer and clients, a new signing key

The pages are plain HTML forms, so `sign_in` completes them with requests; the browser
tests drive the same pages through Chromium with `complete_in_browser`.
"""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests

from hosted_login import forms

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "oidc_idp.mjs"
READY = "oidc-provider listening on "
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcIdp:
    """One oidc-provider process. `clients` is oidc-provider client metadata (client_id,
    client_secret, redirect_uris, token_endpoint_auth_method, …); `alg` RS256 or ES256;
    `users` more accounts, login -> claims (email, email_verified, given_name, family_name,
    groups), beside the built-in alice and bob."""

    def __init__(self, clients: list[dict], *, alg: str = "RS256",
                 users: dict[str, dict] | None = None) -> None:
        self.clients = clients
        self.alg = alg
        self.users = users or {}
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.kid = f"key-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    # ---- process

    def start(self) -> "OidcIdp":
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not installed (the OIDC test provider runs on Node.js)", pytrace=False)
        if not (JS_DIR / "node_modules" / "oidc-provider").is_dir():
            pytest.fail(f"oidc-provider is not installed: run npm ci --prefix {JS_DIR}", pytrace=False)
        config = json.dumps({"clients": self.clients, "kid": self.kid, "alg": self.alg,
                             "users": self.users})
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), str(self.port), config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            cwd=str(JS_DIR),
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(proc=self.proc, sink=self.output):
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                pytest.fail(f"oidc-provider did not start:\n{''.join(self.output)}", pytrace=False)
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"oidc-provider exited:\n{''.join(self.output)}", pytrace=False)
            if line.startswith(READY):
                return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def rotate_keys(self) -> str:
        """Restarts the provider on the same port (same issuer and clients) with a new
        signing key; returns the new key id. Sessions and codes do not survive."""
        self.stop()
        self.kid = f"key-{uuid.uuid4().hex[:8]}"
        self.output.clear()
        self.start()
        return self.kid

    def __enter__(self) -> "OidcIdp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def jwks(self) -> dict:
        return requests.get(f"{self.issuer}/jwks", timeout=10).json()

    # ---- the development login and consent pages, without a browser

    def sign_in(self, authorize_url: str, login: str, *, session: requests.Session | None = None,
                consent: bool = True, stop_at: str | None = None) -> str:
        """Follows `authorize_url` through the provider's login (any password) and consent
        pages and returns the URL it finally redirects to outside the provider (the relying
        party's callback, with `code` and `state`, or `error`). `consent=False` cancels at
        the consent page (the provider then answers `access_denied`)."""
        http = session or requests.Session()
        url = authorize_url
        for _ in range(20):
            if not url.startswith(self.issuer) and stop_at is None:
                return url
            if stop_at is not None and url.startswith(stop_at):
                return url
            resp = http.get(url, allow_redirects=False, timeout=10)
            if resp.is_redirect:
                url = urljoin(url, resp.headers["location"])
                continue
            assert resp.status_code == 200, f"{url}: HTTP {resp.status_code}\n{resp.text[:2000]}"
            page = forms(resp.text)
            assert page, f"no form at {url}:\n{resp.text[:2000]}"
            form = page[0]
            fields = dict(form.fields)
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any password")
            elif fields.get("prompt") == "consent" and not consent:
                abort = _abort_link(resp.text, url)
                resp = http.get(abort, allow_redirects=False, timeout=10)
                url = urljoin(abort, resp.headers["location"])
                continue
            resp = http.post(urljoin(url, form.action), data=fields, allow_redirects=False, timeout=10)
            assert resp.is_redirect, f"{form.action}: HTTP {resp.status_code}\n{resp.text[:2000]}"
            url = urljoin(url, resp.headers["location"])
        raise AssertionError(f"too many redirects signing in at {self.issuer}")


def _abort_link(page: str, base: str) -> str:
    import re

    m = re.search(r'href="([^"]*/abort)"', page)
    assert m, f"no abort link on the consent page:\n{page[:2000]}"
    return urljoin(base, m.group(1).replace("&amp;", "&"))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def complete_in_browser(page, idp: OidcIdp, login: str) -> None:
    """In a Playwright `page` already at the provider's login page: signs in as `login` and
    consents. The caller waits for wherever the provider sends the browser next."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")
    page.click("button[type=submit]:has-text('Continue')")
