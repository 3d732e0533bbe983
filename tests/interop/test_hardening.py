"""Regressions found by an adversarial review of the hardening: each of these was possible
before its fix (both backends)."""

from __future__ import annotations

import base64
import os
import subprocess
import threading

import pytest

from cognate_harness import Tenancy, admin_bearer, assert_raw_error, assert_v1_error, cognate_bin, uid, v1, v1_ok
from conftest import PASSWORD


def test_a_disable_is_not_undone_by_the_users_own_concurrent_writes(server, cognito, app, make_confirmed_user,
                                                                   sign_in):
    """UpdateUserAttributes with the user's own token, racing AdminDisableUser, used to write
    `enabled = true` back from the copy it had read."""
    for _ in range(3):
        username = make_confirmed_user(app.pool_id)
        token = sign_in(app, username)["AccessToken"]
        stop = threading.Event()

        def spam():
            while not stop.is_set():
                try:
                    cognito.update_user_attributes(AccessToken=token,
                                                   UserAttributes=[{"Name": "given_name", "Value": uid()}])
                except Exception:  # noqa: BLE001 - refused once the disable revoked the token
                    pass

        threads = [threading.Thread(target=spam) for _ in range(4)]
        for t in threads:
            t.start()
        cognito.admin_disable_user(UserPoolId=app.pool_id, Username=username)
        stop.set()
        for t in threads:
            t.join()
        assert cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)["Enabled"] is False


def test_a_cursor_hiding_a_nul_is_a_400_on_both_backends(server, cognito, make_pool, tenancy):
    pool = make_pool()["Id"]
    token = base64.urlsafe_b64encode(f"users:{pool}\na\u0000b".encode()).decode().rstrip("=")
    resp = server.raw("ListUsers", {"UserPoolId": pool, "PaginationToken": token})
    assert_raw_error(resp, "InvalidParameterException", statuses=[400])
    tenant = tenancy.create_tenant("cursor")
    cursor = base64.urlsafe_b64encode(f"members:{tenant['id']}\na\u0000b".encode()).decode().rstrip("=")
    resp = v1(server, "GET", f"/v1/tenants/{tenant['id']}/members", bearer=admin_bearer(server),
              params={"cursor": cursor})
    assert_v1_error(resp, 400, "invalid_request")


def test_the_lock_does_not_tell_real_users_from_unknown_ones_in_case_sensitive_pools(fresh_server):
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"case-{uid()}", UsernameConfiguration={"CaseSensitive": True})[
        "UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="Alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="Alice", Password=PASSWORD, Permanent=True)

    def attempt(name, ip):
        r = srv.raw("InitiateAuth", {"ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH",
                                     "AuthParameters": {"USERNAME": name, "PASSWORD": "Wrong-1!"}},
                    sign=False, headers={"X-Forwarded-For": ip})
        return r.json()["message"]

    answers = {}
    for name, ip in (("Alice", "198.51.100.1"), ("Bobby", "198.51.100.2")):
        for _ in range(5):
            attempt(name, ip)
        answers[name] = attempt(name.lower(), ip)  # another user in a case-sensitive pool
    assert answers["Alice"] == answers["Bobby"] == "Incorrect username or password.", answers


def test_adding_an_existing_sole_admin_as_member_keeps_the_last_admin(server, tenancy):
    tenant = tenancy.create_tenant("sole")
    boss = tenancy.new_user(tenant["id"], "admin")
    resp = v1(server, "POST", f"/v1/tenants/{tenant['id']}/members", bearer=admin_bearer(server),
              body={"sub": boss.sub, "role": "member"})
    assert_v1_error(resp, 409, "last_admin")
    second = tenancy.new_user(tenant["id"], "admin")
    resp = v1(server, "POST", f"/v1/tenants/{tenant['id']}/members", bearer=admin_bearer(server),
              body={"sub": boss.sub, "role": "member"})
    assert v1_ok(resp, 201)["role"] == "member"
    assert second.sub


def test_updating_a_managed_pool_keeps_what_the_control_plane_manages(server, cognito, tenancy):
    pool = tenancy.create_tenant("keepmfa", tier="platinum")["poolId"]
    before = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
    cognito.update_user_pool(UserPoolId=pool)
    after = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
    assert after["MfaConfiguration"] == before["MfaConfiguration"] == "OPTIONAL"
    assert after.get("AutoVerifiedAttributes") == before.get("AutoVerifiedAttributes") == ["email"]


def test_read_commands_never_create_a_master_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNATE_")}
    env["COGNATE_DATA_DIR"] = str(tmp_path / "data")
    for args in (["audit", "verify"], ["outbox"], ["audit", "purge"]):
        r = subprocess.run([str(cognate_bin()), *args], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "no master key" in r.stderr, (args, r.stderr)
    assert not (tmp_path / "data" / "master.key").exists()


def test_usage_of_a_deleted_tenant_does_not_block_a_verifiers_reports(server):
    import requests  # noqa: PLC0415

    t = Tenancy(server)
    keep, gone = t.create_tenant("use-keep"), t.create_tenant("use-gone")
    keys = {}
    for tenant in (keep, gone):
        keys[tenant["id"]] = v1_ok(v1(server, "POST", f"/v1/tenants/{tenant['id']}/api-keys",
                                      bearer=admin_bearer(server), body={"name": "k"}), 201)["id"]
    client = server.cognito.create_user_pool_client(UserPoolId=keep["poolId"], ClientName="verifier",
                                                    GenerateSecret=True)["UserPoolClient"]
    assert v1(server, "DELETE", f"/v1/tenants/{gone['id']}", bearer=admin_bearer(server)).status_code == 204
    body = {"items": [{"tenantId": keep["id"], "keyId": keys[keep["id"]], "count": 3},
                      {"tenantId": gone["id"], "keyId": keys[gone["id"]], "count": 4}]}
    resp = requests.post(f"{server.url}/v1/api-keys/usage", json=body, timeout=10,
                         auth=(client["ClientId"], client["ClientSecret"]))
    assert resp.status_code == 204, resp.text
    usage = v1_ok(v1(server, "GET", f"/v1/tenants/{keep['id']}/usage", bearer=admin_bearer(server)))
    assert usage["totals"].get(keys[keep["id"]]) == 3


@pytest.mark.parametrize("sticky", [True])
def test_a_shared_data_directory_keeps_its_mode(tmp_path, sticky):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "someone-elses-file").write_text("x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNATE_")}
    env["COGNATE_DATA_DIR"] = str(shared)
    for _ in range(2):
        r = subprocess.run([str(cognate_bin()), "migrate"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    assert (shared.stat().st_mode & 0o7777) == 0o1777
    assert (shared / "cognate.db").stat().st_mode & 0o077 == 0
