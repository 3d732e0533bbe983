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


def test_data_directory_and_files_are_owner_only(server):
    """The data directory is 0700 and the database files 0600, whatever the umask."""
    import os  # noqa: PLC0415

    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    server.cognito.list_user_pools(MaxResults=1)
    for name in os.listdir(server.data_dir):
        path = server.data_dir / name
        if path.is_file():
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{name} is {oct(mode)}"


def test_loose_modes_left_behind_are_tightened_at_start(fresh_server):
    srv = fresh_server()
    srv.cognito.list_user_pools(MaxResults=1)
    assert srv.stop() == 0
    srv.data_dir.chmod(0o755)
    for name in ("cognate.db", "master.key", "admin-credentials.json"):
        if (srv.data_dir / name).exists():
            (srv.data_dir / name).chmod(0o644)
    srv.start()
    assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o700
    for name in ("cognate.db", "master.key", "admin-credentials.json"):
        path = srv.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert "restricting it to its owner" in srv.log_tail()


def test_a_second_database_never_overwrites_the_first_credentials(fresh_server):
    """Pointing the same data directory at a new database keeps the existing
    admin-credentials.json and saves the new credential beside it."""
    srv = fresh_server()
    first = srv.credentials_path.read_text()
    assert srv.stop() == 0
    fresh_db = srv.data_dir / "other.db"
    srv.extra_env["COGNATE_DATABASE_URL"] = f"sqlite://{fresh_db}"
    srv.start()
    assert srv.credentials_path.read_text() == first
    second = srv.data_dir / "admin-credentials-other.json"
    assert second.exists() and stat.S_IMODE(second.stat().st_mode) == 0o600
    assert json.loads(second.read_text())["accessKeyId"] != json.loads(first)["accessKeyId"]


def test_unknown_paths_and_methods_answer_a_json_body(server):
    import requests  # noqa: PLC0415

    for method, path, status, shape in [
        ("GET", "/nowhere", 404, "plain"),
        ("GET", "/oauth2/nothing", 404, "plain"),
        ("GET", "/", 405, "plain"),
        ("DELETE", "/healthz", 405, "plain"),
        ("GET", "/oauth2/token", 405, "plain"),
        ("GET", "/v1/nothing-here", 404, "v1"),
        ("PUT", "/v1/tenants", 405, "v1"),
        ("POST", "/v1/me", 405, "v1"),
    ]:
        resp = requests.request(method, server.url + path, timeout=10)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)
        body = resp.json()
        if shape == "v1":
            assert body["error"]["code"] in ("not_found", "method_not_allowed") and body["error"]["message"]
        else:
            assert body["error"] in ("not_found", "method_not_allowed") and body["message"], body
        if status == 405:
            assert resp.headers.get("Allow"), resp.headers
