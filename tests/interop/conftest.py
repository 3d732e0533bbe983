"""Fixtures: one `cognate serve` per backend for the session, plus pool/user factories.

Environment:
  COGNATE_BIN                 binary to run (default target/debug/cognate)
  COGNATE_TEST_DATABASE_URL   PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
  COGNATE_SKIP_PG=1           skip the PostgreSQL backend explicitly (otherwise an unreachable
                              PostgreSQL fails the run)
  COGNATE_IT_KEEP=1           keep the servers' temp dirs (data + stderr logs)
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cognate_harness import (
    LIVE_SERVERS,
    CognateServer,
    dispose_server,
    new_server,
    pg_skip_requested,
    secret_hash,
    uid,
)
from saml_idp import LIVE_IDPS

BACKENDS = ["sqlite", "postgres"]


def start_backend(backend: str, extra_env: dict[str, str] | None = None) -> CognateServer:
    if backend == "postgres" and pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1: PostgreSQL backend skipped on request")
    server = new_server(backend)
    server.extra_env.update(extra_env or {})
    try:
        server.start()
    except BaseException:
        dispose_server(server)
        raise
    return server


@pytest.fixture(scope="session", params=BACKENDS)
def server(request) -> CognateServer:
    """A running server shared by every test of one backend. Every test signs in from
    127.0.0.1, so the per-IP brute-force threshold is raised here; throttling itself is
    tested on servers of their own (test_throttling.py)."""
    srv = start_backend(request.param, {"COGNATE_THROTTLE_IP_FAILURES": "100000"})
    yield srv
    dispose_server(srv)


@pytest.fixture(params=BACKENDS)
def fresh_server(request):
    """A server of its own for tests that stop/restart/kill it or need settings of their own.
    Yields a factory: `make(extra_env=None)` starts one more server with those variables."""
    made: list[CognateServer] = []

    def make(extra_env: dict[str, str] | None = None) -> CognateServer:
        srv = start_backend(request.param, extra_env)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        dispose_server(srv)


@pytest.fixture
def cognito(server):
    return server.cognito


@pytest.fixture
def make_pool(cognito):
    """Create a user pool with a unique name; returns the full CreateUserPool response['UserPool']."""

    def make(**kwargs):
        kwargs.setdefault("PoolName", f"it-{uid()}")
        return cognito.create_user_pool(**kwargs)["UserPool"]

    return make


@pytest.fixture
def pool_id(make_pool) -> str:
    return make_pool()["Id"]


TEMP_PASSWORD = "Temp-Passw0rd!"


@pytest.fixture
def make_user(cognito):
    """AdminCreateUser with MessageAction=SUPPRESS and a temporary password; returns User."""

    def make(pool_id: str, username: str | None = None, attributes: dict | None = None, **kw):
        kw.setdefault("MessageAction", "SUPPRESS")
        kw.setdefault("TemporaryPassword", TEMP_PASSWORD)
        return cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username or f"user-{uid()}",
            UserAttributes=[{"Name": k, "Value": v} for k, v in (attributes or {}).items()],
            **kw,
        )["User"]

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(LIVE_SERVERS):
            report.sections.append(
                (f"cognate stderr tail ({srv.backend}, {srv.url})", srv.log_tail(3000))
            )
        for idp in list(LIVE_IDPS):
            report.sections.append((f"SimpleSAMLphp log tail ({idp.base_url})", idp.log_tail(3000)))


@pytest.fixture
def cognito_nv(server):
    """A client with botocore's client-side parameter validation off (to reach the server)."""
    if getattr(server, "_nv_client", None) is None:
        server._nv_client = server.client(validate=False)
    return server._nv_client


# --------------------------------------------------------------------------- sign-in helpers

PASSWORD = "Corr3ct-H0rse!"
#: The flows the sign-in tests' app clients allow (SDK flows without SRP).
USER_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
              "ALLOW_REFRESH_TOKEN_AUTH"]


@dataclass
class App:
    """An app client of a pool (secret only for clients made with GenerateSecret)."""
    pool_id: str
    client_id: str
    client_secret: str | None = None

    def secret_hash(self, username: str) -> str | None:
        return secret_hash(username, self.client_id, self.client_secret) if self.client_secret else None


@pytest.fixture
def make_client(cognito):
    """CreateUserPoolClient -> App. `flows=None` leaves ExplicitAuthFlows to the server."""

    def make(pool_id: str, *, secret: bool = False, flows: list[str] | None = USER_FLOWS,
             **kw) -> App:
        kw.setdefault("ClientName", f"app-{uid()}")
        if flows is not None:
            kw["ExplicitAuthFlows"] = flows
        client = cognito.create_user_pool_client(UserPoolId=pool_id, GenerateSecret=secret,
                                                 **kw)["UserPoolClient"]
        return App(pool_id, client["ClientId"], client.get("ClientSecret"))

    return make


@pytest.fixture
def make_app(make_pool, make_client):
    """A new pool (CreateUserPool kwargs in `pool`) with one app client (kwargs as make_client)."""

    def make(pool: dict | None = None, **client_kw) -> App:
        return make_client(make_pool(**(pool or {}))["Id"], **client_kw)

    return make


@pytest.fixture
def app(make_app) -> App:
    """A fresh pool with a public client allowing USER_FLOWS."""
    return make_app()


@pytest.fixture
def make_confirmed_user(cognito):
    """A CONFIRMED user with a permanent password; returns the username."""

    def make(pool_id: str, username: str | None = None, attributes: dict | None = None,
             password: str = PASSWORD) -> str:
        username = username or f"user-{uid()}"
        cognito.admin_create_user(
            UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": k, "Value": v} for k, v in (attributes or {}).items()],
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=username,
                                        Password=password, Permanent=True)
        return username

    return make


@pytest.fixture
def sign_in(cognito):
    """InitiateAuth USER_PASSWORD_AUTH (with SECRET_HASH for secret clients) -> AuthenticationResult."""

    def do(app: App, username: str, password: str = PASSWORD) -> dict:
        params = {"USERNAME": username, "PASSWORD": password}
        if app.client_secret:
            params["SECRET_HASH"] = app.secret_hash(username)
        resp = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters=params)
        assert "AuthenticationResult" in resp, f"expected tokens, got {resp!r}"
        return resp["AuthenticationResult"]

    return do


@pytest.fixture
def user_tokens(app, make_confirmed_user, sign_in):
    """(app, username, AuthenticationResult) for a fresh confirmed user of `app`."""
    username = make_confirmed_user(app.pool_id, attributes={"email": f"{uid()}@example.com",
                                                            "email_verified": "true"})
    return app, username, sign_in(app, username)


# --------------------------------------------------------------------------- tenancy (/v1)


@pytest.fixture
def tenancy(server):
    """The /v1 tenancy API of the session server (cognate_harness.Tenancy)."""
    from cognate_harness import Tenancy

    return Tenancy(server)


#: Debian's Chromium, which scripts/test installs (Playwright's own browsers are never used).
CHROMIUM = os.environ.get("COGNATE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium through Playwright, one per test module."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (scripts/test installs Debian's chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
