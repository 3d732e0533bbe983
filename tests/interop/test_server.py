"""Process-level contract: readiness line, health endpoints, credentials file, SIGTERM, restart."""

from __future__ import annotations

import json
import re
import stat

import requests

from cognate_harness import LISTEN_RE, raises_cognito, uid


def test_listening_line_and_health(server):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert int(server.url.rsplit(":", 1)[1]) != 0
    assert any(LISTEN_RE.search(line) for line in server.stdout_lines)
    for path in ("/healthz", "/readyz"):
        resp = requests.get(server.url + path, timeout=10)
        assert resp.status_code == 200, f"GET {path} -> {resp.status_code} {resp.text[:200]!r}"


def test_admin_credentials_file(server):
    path = server.credentials_path
    assert path.exists()
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, f"admin-credentials.json mode is {oct(mode)}, want 0o600"
    data = json.loads(path.read_text())
    assert set(data) >= {"accessKeyId", "secretAccessKey"}
    assert isinstance(data["accessKeyId"], str) and len(data["accessKeyId"]) >= 16
    assert isinstance(data["secretAccessKey"], str) and len(data["secretAccessKey"]) >= 32
    assert data["accessKeyId"] != data["secretAccessKey"]
    # The pair works for a signed call.
    server.cognito.list_user_pools(MaxResults=1)


def test_sigterm_is_graceful_and_data_survives_restart(fresh_server):
    srv = fresh_server()
    cog = srv.cognito
    pool = cog.create_user_pool(PoolName=f"persist-{uid()}")["UserPool"]["Id"]
    cog.admin_create_user(UserPoolId=pool, Username="persisted", MessageAction="SUPPRESS",
                          TemporaryPassword="Temp-Passw0rd!")
    creds_before = srv.credentials_path.read_text()

    rc = srv.stop()
    assert rc == 0, f"SIGTERM exit code {rc}\n{srv.log_tail()}"

    srv.start()
    # The credential pair is kept (not regenerated) and still valid after a restart.
    assert srv.credentials_path.read_text() == creds_before
    cog = srv.client()
    assert cog.describe_user_pool(UserPoolId=pool)["UserPool"]["Id"] == pool
    user = cog.admin_get_user(UserPoolId=pool, Username="persisted")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    # Ids issued after the restart still do not collide with earlier ones.
    pool2 = cog.create_user_pool(PoolName=f"persist-{uid()}")["UserPool"]["Id"]
    assert pool2 != pool
    with raises_cognito("UsernameExistsException"):
        cog.admin_create_user(UserPoolId=pool, Username="persisted", MessageAction="SUPPRESS")
    rc = srv.stop()
    assert rc == 0, f"SIGTERM exit code {rc} after restart\n{srv.log_tail()}"
