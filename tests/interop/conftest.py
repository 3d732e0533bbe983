"""Fixtures: one `cognate serve` per backend for the session, plus pool/user factories.

Environment:
  COGNATE_BIN                 binary to run (default target/debug/cognate)
  COGNATE_TEST_DATABASE_URL   PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
  COGNATE_SKIP_PG=1           skip the PostgreSQL backend explicitly (otherwise an unreachable
                              PostgreSQL fails the run)
  COGNATE_IT_KEEP=1           keep the servers' temp dirs (data + stderr logs)
"""

from __future__ import annotations

import pytest

from cognate_harness import (
    LIVE_SERVERS,
    CognateServer,
    dispose_server,
    new_server,
    pg_skip_requested,
    uid,
)

BACKENDS = ["sqlite", "postgres"]


def start_backend(backend: str) -> CognateServer:
    if backend == "postgres" and pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1: PostgreSQL backend skipped on request")
    server = new_server(backend)
    try:
        server.start()
    except BaseException:
        dispose_server(server)
        raise
    return server


@pytest.fixture(scope="session", params=BACKENDS)
def server(request) -> CognateServer:
    """A running server shared by every test of one backend."""
    srv = start_backend(request.param)
    yield srv
    dispose_server(srv)


@pytest.fixture(params=BACKENDS)
def fresh_server(request):
    """A server of its own for tests that stop/restart/kill it. Yields a factory-made server."""
    made: list[CognateServer] = []

    def make() -> CognateServer:
        srv = start_backend(request.param)
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


@pytest.fixture
def cognito_nv(server):
    """A client with botocore's client-side parameter validation off (to reach the server)."""
    if getattr(server, "_nv_client", None) is None:
        server._nv_client = server.client(validate=False)
    return server._nv_client
