"""The audit trail end to end: each action leaves exactly one event with the right actor and
tenant; a tenant admin reads only their tenant's trail; the export carries the hash chain;
and editing a stored event makes `cognate audit verify` fail and name it."""

import json
import sqlite3
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from cognate_harness import (Tenancy, _pg_connect, admin_bearer, assert_v1_error, uid, v1, v1_ok)


def events(server, tenant: str, **filters) -> list[dict]:
    """Every event of a tenant's chain, newest first (the read flushes recorded events)."""
    out, cursor = [], None
    while True:
        params = {**filters, "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = v1_ok(v1(server, "GET", f"/v1/tenants/{tenant}/audit", bearer=admin_bearer(server), params=params))
        out += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return out


def one(items: list[dict], **match) -> dict:
    found = [e for e in items if all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected exactly one event {match}, got {found}"
    return found[0]


def test_each_action_leaves_exactly_one_event_with_actor_and_tenant(server):
    t = Tenancy(server)
    tenant = t.create_tenant("audit")
    tid, client = tenant["id"], tenant["clientId"]
    admin = t.new_user(tid, "admin")
    member = t.new_user(tid, "member")
    admin_key_id = server.credentials()["key"]

    tokens = t.sign_in(client, member.email)
    idp = boto3.client("cognito-idp", endpoint_url=server.url, region_name="local",
                       aws_access_key_id="x", aws_secret_access_key="x")
    with pytest.raises(ClientError):
        idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": member.email, "PASSWORD": "Wrong-passw0rd!"})
    t.refresh(client, tokens["RefreshToken"])
    idp.revoke_token(Token=tokens["RefreshToken"], ClientId=client)

    admin_token = t.sign_in(client, admin.email)["AccessToken"]
    key = v1_ok(v1(server, "POST", f"/v1/tenants/{tid}/api-keys", bearer=admin_token,
                   body={"name": "ci", "scopes": ["notes:read"]}), 201)
    v1_ok(v1(server, "POST", f"/v1/tenants/{tid}/api-keys/{key['id']}/rotate", bearer=admin_token), 201)
    assert v1(server, "DELETE", f"/v1/tenants/{tid}/api-keys/{key['id']}", bearer=admin_token).status_code == 204
    v1_ok(v1(server, "PATCH", f"/v1/tenants/{tid}/members/{member.sub}", bearer=admin_token,
             body={"role": "read_only"}))
    invite_email = f"inv-{uid()}@example.com"
    inv, _ = t.invite(tid, invite_email, "member", bearer=admin_token)
    assert v1(server, "DELETE", f"/v1/tenants/{tid}/invitations/{inv['id']}", bearer=admin_token).status_code == 204

    trail = events(server, tid)
    # sign-ins: the member's success and failure, the admin's success (invitations created
    # both accounts; their acceptances are events too)
    ok = one(trail, action="auth.sign_in", outcome="success", actor=f"user:{member.sub}")
    assert ok["target"] == member.email and ok["sourceIp"] == "127.0.0.1"
    bad = one(trail, action="auth.sign_in", outcome="failure", target=member.email)
    assert bad["actor"] == "anonymous" and bad["reason"] == "NotAuthorizedException"
    assert "Wrong-passw0rd!" not in json.dumps(trail)
    one(trail, action="auth.refresh", actor=f"user:{member.sub}")
    one(trail, action="token.revoke")
    one(trail, action="api_key.create", actor=f"user:{admin.sub}", outcome="success")
    one(trail, action="api_key.rotate", target=key["id"])
    one(trail, action="api_key.revoke", target=key["id"])
    one(trail, action="member.role", target=member.sub, actor=f"user:{admin.sub}")
    one(trail, action="invitation.revoke", target=inv["id"])
    one(trail, action="invitation.create", actor=f"user:{admin.sub}")
    assert len([e for e in trail if e["action"] == "invitation.accept"]) == 2
    one(trail, action="tenant.create", actor=f"admin:{admin_key_id}")
    assert all(e["tenantId"] == tid for e in trail)
    assert not any(key["key"] in json.dumps(e) for e in trail)
    # filters
    assert {e["action"] for e in events(server, tid, action="auth.sign_in")} == {"auth.sign_in"}
    assert all(e["outcome"] == "failure" for e in events(server, tid, outcome="failure"))


def test_tenant_admins_read_only_their_own_trail(server):
    t = Tenancy(server)
    a, b = t.create_tenant("audit-a"), t.create_tenant("audit-b")
    a_admin = t.new_user(a["id"], "admin")
    b_member = t.new_user(b["id"], "member")
    a_token = t.sign_in(a["clientId"], a_admin.email)["AccessToken"]
    b_token = t.sign_in(b["clientId"], b_member.email)["AccessToken"]
    assert v1_ok(v1(server, "GET", f"/v1/tenants/{a['id']}/audit", bearer=a_token))["items"]
    assert_v1_error(v1(server, "GET", f"/v1/tenants/{b['id']}/audit", bearer=a_token), 403, "forbidden")
    assert_v1_error(v1(server, "GET", f"/v1/tenants/{b['id']}/audit", bearer=b_token), 403, "forbidden")
    assert_v1_error(v1(server, "GET", "/v1/audit", bearer=a_token), 403, "forbidden")
    assert_v1_error(v1(server, "GET", f"/v1/tenants/{a['id']}/audit"), 401, "unauthorized")
    # A's trail holds nothing of B.
    assert all(e["tenantId"] == a["id"] for e in events(server, a["id"]))
    assert not any(b_member.sub in json.dumps(e) for e in events(server, a["id"]))


def test_export_carries_the_chain_and_an_edited_row_fails_verification(fresh_server):
    server = fresh_server()
    t = Tenancy(server)
    tenant = t.create_tenant("audit-x")
    user = t.new_user(tenant["id"], "member")
    for _ in range(3):
        t.sign_in(tenant["clientId"], user.email)
    export = v1(server, "GET", f"/v1/tenants/{tenant['id']}/audit/export", bearer=admin_bearer(server))
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert all(b["prevHash"] == a["hash"] for a, b in zip(lines, lines[1:]))

    ok = server.cli("audit", "verify")
    assert f"{tenant['id']}: {len(lines)} events verified" in ok.stdout

    victim = lines[2]
    if server.backend == "sqlite":
        db = sqlite3.connect(server.data_dir / "cognate.db")
        db.execute("DROP TRIGGER audit_events_append_only")
        db.execute("UPDATE audit_events SET outcome = 'failure' WHERE id = ?", (victim["id"],))
        db.commit()
        db.close()
    else:
        with _pg_connect(server.database_url) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("UPDATE audit_events SET outcome = 'failure' WHERE id = %s", (victim["id"],))
    broken = server.cli("audit", "verify", check=False)
    assert broken.returncode != 0
    assert victim["id"] in broken.stdout and "altered" in broken.stdout
    # The purge keeps what remains verifiable (nothing is old enough to go here).
    server.cli("audit", "purge")


def test_cognito_admin_mutations_are_recorded_in_the_tenants_chain(server):
    t = Tenancy(server)
    tenant = t.create_tenant("audit-p", tier="platinum")
    user = t.new_user(tenant["id"], "member")
    idp = server.cognito
    idp.admin_disable_user(UserPoolId=tenant["poolId"], Username=user.email)
    idp.admin_get_user(UserPoolId=tenant["poolId"], Username=user.email)  # a read: not recorded
    with pytest.raises(ClientError):
        idp.admin_disable_user(UserPoolId=tenant["poolId"], Username=f"ghost-{uid()}@example.com")
    trail = events(server, tenant["id"])
    key = server.credentials()["key"]
    ok = one(trail, action="admin.admin_disable_user", outcome="success")
    assert ok["actor"] == f"admin:{key}" and ok["target"] == user.email and ok["poolId"] == tenant["poolId"]
    failed = one(trail, action="admin.admin_disable_user", outcome="failure")
    assert failed["reason"] == "UserNotFoundException"
    assert not [e for e in trail if e["action"] == "admin.admin_get_user"]
    # Reads are never recorded, whatever their name starts with.
    idp.admin_list_groups_for_user(UserPoolId=tenant["poolId"], Username=user.email)
    idp.list_users_in_group(UserPoolId=tenant["poolId"], GroupName=f"{tenant['id']}-member")
    assert not [e for e in events(server, tenant["id"]) if "list" in e["action"] or "get" in e["action"]]


def test_mfa_enrolment_during_mfa_setup_is_the_users_in_their_tenant(server):
    """AssociateSoftwareToken / VerifySoftwareToken answered with an MFA_SETUP session are
    recorded in the user's tenant chain, by the user, about the user."""
    import pyotp  # noqa: PLC0415

    t = Tenancy(server)
    tenant = t.create_tenant("audit-m")
    v1_ok(v1(server, "PATCH", f"/v1/tenants/{tenant['id']}", bearer=admin_bearer(server), body={"mfa": "all"}))
    user = t.new_user(tenant["id"], "member")
    idp = server.cognito
    # This test's events only: other tests' refused MFA calls (invalid sessions, no user to
    # name) rightly land in the platform chain without a target.
    start_ms = int(time.time() * 1000) - 1000
    challenge = idp.initiate_auth(ClientId=tenant["clientId"], AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": user.email, "PASSWORD": user.password})
    assert challenge["ChallengeName"] == "MFA_SETUP", challenge
    associated = idp.associate_software_token(Session=challenge["Session"])
    verified = idp.verify_software_token(Session=associated["Session"],
                                         UserCode=pyotp.TOTP(associated["SecretCode"]).now())
    assert verified["Status"] == "SUCCESS"
    trail = events(server, tenant["id"])
    for action in ("mfa.associate_software_token", "mfa.verify_software_token"):
        e = one(trail, action=action, outcome="success")
        assert e["actor"] == f"user:{user.sub}" and e["target"] == user.sub, e
    platform = v1_ok(v1(server, "GET", "/v1/audit", bearer=admin_bearer(server),
                        params={"limit": 100, "from": start_ms}))["items"]
    assert not [e for e in platform if e["action"].startswith("mfa.") and not e.get("target")]


def test_oauth_refresh_and_revoke_are_recorded(server):
    import requests

    t = Tenancy(server)
    tenant = t.create_tenant("audit-o")
    user = t.new_user(tenant["id"], "member")
    tokens = t.sign_in(tenant["clientId"], user.email)
    form = {"grant_type": "refresh_token", "client_id": tenant["clientId"], "refresh_token": tokens["RefreshToken"]}
    assert requests.post(f"{server.url}/oauth2/token", data=form, timeout=10).status_code == 200
    revoke = {"token": tokens["RefreshToken"], "client_id": tenant["clientId"]}
    assert requests.post(f"{server.url}/oauth2/revoke", data=revoke, timeout=10).status_code == 200
    assert requests.post(f"{server.url}/oauth2/token", data=form, timeout=10).status_code == 400
    trail = events(server, tenant["id"])
    one(trail, action="auth.refresh", outcome="success", actor=f"user:{user.sub}")
    one(trail, action="token.revoke", outcome="success", actor=f"user:{user.sub}")
    failed = one(trail, action="auth.refresh", outcome="failure")
    assert failed["reason"] == "invalid_grant" and failed["actor"] == f"client:{tenant['clientId']}"
    assert tokens["RefreshToken"] not in json.dumps(trail)


def test_hostile_paths_and_forged_tokens_cannot_poison_the_trail(server):
    import base64
    import requests

    t = Tenancy(server)
    tenant = t.create_tenant("audit-h")
    # Anonymous mutations on ids that are no tenant (or encoded ones), and a forged token
    # naming a tenant: recorded in the platform chain, never blocking later writes.
    for path in ["/v1/tenants/BAD!/suspend", "/v1/tenants/%61bc%21/suspend", f"/v1/tenants/{tenant['id']}/suspend"]:
        assert requests.post(server.url + path, timeout=10).status_code in (401, 404)
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"sub": "x", "custom:tenantId": tenant["id"]}).encode()).rstrip(b"=").decode()
    with pytest.raises(ClientError):
        boto3.client("cognito-idp", endpoint_url=server.url, region_name="local", aws_access_key_id="x",
                     aws_secret_access_key="x").global_sign_out(AccessToken=f"{header}.{body}.x")
    trail = events(server, tenant["id"])
    suspend = one(trail, action="tenant.suspend")
    assert suspend["outcome"] == "failure" and suspend["actor"] == "anonymous"
    assert not [e for e in trail if e["action"] == "auth.sign_out"]
    platform = v1_ok(v1(server, "GET", "/v1/audit", bearer=admin_bearer(server), params={"limit": 100}))["items"]
    assert any(e["action"] == "auth.sign_out" and e["outcome"] == "failure" for e in platform)
    # The trail still writes.
    t.new_user(tenant["id"], "member")
    assert any(e["action"] == "invitation.accept" for e in events(server, tenant["id"]))


def test_a_forged_anchor_does_not_verify_and_saved_heads_catch_a_cut_end(fresh_server):
    """Someone with write access to the database deletes a chain's oldest events and inserts
    an anchor so the rest verifies: `cognate audit verify` refuses the unsigned anchor, and a
    head saved with `cognate audit heads` catches events cut from the chain's end."""
    server = fresh_server()
    t = Tenancy(server)
    tenant = t.create_tenant("audit-f")
    user = t.new_user(tenant["id"], "member")
    for _ in range(4):
        t.sign_in(tenant["clientId"], user.email)
    lines = [json.loads(x) for x in v1(server, "GET", f"/v1/tenants/{tenant['id']}/audit/export",
                                        bearer=admin_bearer(server)).text.splitlines()]
    assert len(lines) >= 5
    heads = server.cli("audit", "heads", "--tenant", tenant["id"]).stdout
    saved = server.data_dir.parent / "heads.jsonl"
    saved.write_text(heads)
    head = json.loads(heads)
    assert head == {"chain": tenant["id"], "seq": lines[-1]["seq"], "hash": lines[-1]["hash"]}
    ok = server.cli("audit", "verify", "--tenant", tenant["id"], "--heads", str(saved))
    assert "from the start" in ok.stdout

    assert server.stop() == 0
    cut = lines[1]  # delete seq 1..2, anchor the rest on seq 2's hash
    privileged = (
        ["DELETE FROM audit_events WHERE chain = ? AND seq <= ?"]
        if server.backend == "sqlite" else
        ["SET session_replication_role = replica",
         "DELETE FROM audit_events WHERE chain = ? AND seq <= ?"]
    )
    if server.backend == "sqlite":
        server.raw_rows("DROP TRIGGER IF EXISTS audit_events_append_only")
        server.raw_rows(privileged[0], (tenant["id"], cut["seq"]))
    else:
        from cognate_harness import _pg_connect as pg  # noqa: PLC0415

        with pg(server.database_url) as conn:
            conn.execute(privileged[0])
            conn.execute(privileged[1].replace("?", "%s"), (tenant["id"], cut["seq"]))
    server.raw_rows("INSERT INTO audit_anchors (chain, seq, hash, purged_at) VALUES (?, ?, ?, ?)",
                    (tenant["id"], cut["seq"], cut["hash"], 1))
    forged = server.cli("audit", "verify", "--tenant", tenant["id"], check=False)
    assert forged.returncode != 0
    assert "not signed" in forged.stdout, forged.stdout
    # A signature copied from nowhere does not help either.
    server.raw_rows("UPDATE audit_anchors SET mac = ? WHERE chain = ?", ("ab" * 32, tenant["id"]))
    forged = server.cli("audit", "verify", "--tenant", tenant["id"], check=False)
    assert forged.returncode != 0 and "wrong signature" in forged.stdout, forged.stdout

    # Cutting the newest event instead leaves a chain that verifies on its own, but not
    # against the saved head. (Events are restored first: the first cut is undone by
    # re-running the scenario on the untouched tail.)
    server.raw_rows("DELETE FROM audit_anchors WHERE chain = ?", (tenant["id"],))
    server.raw_rows("DELETE FROM audit_events WHERE chain = ?", (tenant["id"],))
    columns = ("chain", "seq", "id", "at", "pool_id", "actor", "action", "target", "outcome", "reason",
               "source_ip", "user_agent", "request_id", "prev_hash", "hash")
    keys = ("chain", "seq", "id", "at", "poolId", "actor", "action", "target", "outcome", "reason",
            "sourceIp", "userAgent", "requestId", "prevHash", "hash")
    for e in lines[:-1]:
        values = tuple(tenant["id"] if k == "chain" else e.get(k) for k in keys)
        server.raw_rows(f"INSERT INTO audit_events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                        values)
    alone = server.cli("audit", "verify", "--tenant", tenant["id"])
    assert f"{len(lines) - 1} events verified" in alone.stdout
    against = server.cli("audit", "verify", "--tenant", tenant["id"], "--heads", str(saved), check=False)
    assert against.returncode != 0 and "cut from the chain's end" in against.stdout, against.stdout


def test_verify_of_an_unknown_tenant_is_an_error(server):
    r = server.cli("audit", "verify", "--tenant", f"nosuch-{uid()}", check=False)
    assert r.returncode != 0 and "no tenant" in r.stderr
    r = server.cli("audit", "verify", "--tenant", "Not A Tenant", check=False)
    assert r.returncode != 0


def test_refused_control_characters_are_recorded_without_stopping_the_trail(server):
    """A sign-in with U+0000 in the username is refused (400) and recorded with the
    character replaced: the trail keeps being written and read on both backends."""
    t = Tenancy(server)
    tenant = t.create_tenant("audit-nul")
    resp = server.raw("InitiateAuth", {"ClientId": tenant["clientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                       "AuthParameters": {"USERNAME": "nul\u0000user", "PASSWORD": "x"}},
                      sign=False)
    assert resp.status_code == 400
    refused = v1(server, "DELETE", f"/v1/tenants/{tenant['id']}/members/a%00b", bearer=admin_bearer(server))
    assert refused.status_code == 400
    trail = events(server, tenant["id"])  # reads (and so writes) still work
    removal = one(trail, action="member.remove", outcome="failure")
    assert removal["target"] == "a\ufffdb", removal
    assert server.cli("audit", "verify").returncode == 0


def test_calls_refused_before_they_act_are_recorded_in_the_users_tenant(fresh_server):
    """A sign-in refused by the per-username rate (before any lookup) and a SignUp with a
    taken name are recorded in the tenant chain of the user they name, as anonymous."""
    server = fresh_server({"COGNATE_RATE_AUTH_PER_USER": "2"})
    t = Tenancy(server)
    tenant = t.create_tenant("audit-r")
    other = t.create_tenant("audit-s")
    user = t.new_user(tenant["id"], "member")
    idp = server.cognito
    refused = 0
    for _ in range(4):
        try:
            idp.initiate_auth(ClientId=tenant["clientId"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": user.email, "PASSWORD": "Wrong-Password-1"})
        except ClientError as e:
            refused += e.response["Error"]["Code"] == "TooManyRequestsException"
    assert refused >= 1
    trail = events(server, tenant["id"], action="auth.sign_in")
    limited = [e for e in trail if e["reason"] == "TooManyRequestsException"]
    assert limited and all(e["actor"] == "anonymous" and e["target"] == user.email for e in limited), trail
    platform = v1_ok(v1(server, "GET", "/v1/audit", bearer=admin_bearer(server), params={"limit": 100}))["items"]
    assert not [e for e in platform if e.get("target") == user.email]

    # A sign-up with the name of an existing account: the account's tenant sees it.
    with pytest.raises(ClientError) as taken:
        idp.sign_up(ClientId=tenant["clientId"], Username=user.email, Password="Another-Pass-9")
    assert taken.value.response["Error"]["Code"] in ("UsernameExistsException", "TooManyRequestsException")
    one(events(server, tenant["id"]), action="user.sign_up", outcome="failure")
    assert not [e for e in events(server, other["id"]) if e["action"] == "user.sign_up"]
