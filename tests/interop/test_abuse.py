"""Abuse protection (README, "Brute-force protection and rate limits"): failed passwords per
user and per client IP, request rates per client IP and per username on authentication
operations, and per tenant on /v1 — each answered with Cognito's TooManyRequestsException
or a 429, with Retry-After, while other users and tenants carry on.

The servers trust 127.0.0.1 as a reverse proxy, so X-Forwarded-For stands for many client
addresses; a server without that setting ignores the header (tested too)."""

from __future__ import annotations

import requests

from cognate_harness import Tenancy, admin_bearer, uid, v1

PASSWORD = "Corr3ct-Horse!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


def _away_from_a_minute_boundary(margin: float = 15.0) -> None:
    """Rate windows are fixed minutes aligned on the clock: a test that fills one must not
    straddle two. Waits (at most `margin` seconds) until the current minute has room."""
    import time  # noqa: PLC0415

    left = 60 - (time.time() % 60)
    if left < margin:
        time.sleep(left + 0.2)


def setup_pool(srv, users):
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"abuse-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", ExplicitAuthFlows=FLOWS)[
        "UserPoolClient"]["ClientId"]
    for name in users:
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    return client


def sign_in(srv, client, username, password, ip) -> tuple[str, requests.Response]:
    """InitiateAuth as a client at `ip` (via X-Forwarded-For); returns (outcome, response)."""
    resp = srv.raw("InitiateAuth", {"ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH",
                                    "AuthParameters": {"USERNAME": username, "PASSWORD": password}},
                   sign=False, headers={"X-Forwarded-For": ip})
    if resp.status_code == 200:
        return "ok", resp
    return resp.json()["__type"], resp


def test_a_guesser_locks_the_victim_only_for_its_own_address(fresh_server):
    """5 wrong passwords from one address lock the user for that address; the real user
    still signs in from elsewhere (no lockout denial of service)."""
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    client = setup_pool(srv, ["victim"])
    for i in range(5):
        assert sign_in(srv, client, "victim", f"Wrong-{i}!", "198.51.100.66")[0] == "NotAuthorizedException"
    outcome, resp = sign_in(srv, client, "victim", PASSWORD, "198.51.100.66")
    assert outcome == "NotAuthorizedException" and resp.json()["message"] == "Password attempts exceeded"
    assert sign_in(srv, client, "victim", PASSWORD, "203.0.113.5")[0] == "ok"
    # the victim's sign-in does not free the guesser's address
    outcome, resp = sign_in(srv, client, "victim", PASSWORD, "198.51.100.66")
    assert resp.json()["message"] == "Password attempts exceeded"


def test_guessing_spread_over_many_addresses_locks_the_user_everywhere(fresh_server):
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    client = setup_pool(srv, ["victim", "bystander"])
    # The user-wide ceiling (20 by default): 4 failures from each of 5 addresses.
    for i in range(20):
        assert sign_in(srv, client, "victim", f"Wrong-{i}!", f"198.51.100.{i // 4 + 1}")[0] == \
            "NotAuthorizedException"
    outcome, resp = sign_in(srv, client, "victim", PASSWORD, "198.51.100.77")
    assert outcome == "NotAuthorizedException" and resp.json()["message"] == "Password attempts exceeded"
    assert sign_in(srv, client, "bystander", PASSWORD, "203.0.113.5")[0] == "ok"


def test_unknown_users_lock_exactly_like_real_ones(fresh_server):
    """With PreventUserExistenceErrors (the default) the lock message cannot tell a real
    user from a name nobody has."""
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    client = setup_pool(srv, ["real"])
    answers = {}
    for name in ("real", f"ghost-{uid()}"):
        seen = [sign_in(srv, client, name, f"Wrong-{i}!", "198.51.100.9")[1].json()["message"] for i in range(6)]
        answers[name.split("-")[0]] = seen
    assert answers["real"] == answers["ghost"], answers
    assert answers["real"][-1] == "Password attempts exceeded"


def _forgot(srv, client, username):
    return srv.raw("ForgotPassword", {"ClientId": client, "Username": username}, sign=False)


def _confirm(srv, client, username, code, ip="198.51.100.30"):
    return srv.raw("ConfirmForgotPassword", {"ClientId": client, "Username": username, "ConfirmationCode": code,
                                             "Password": "N3w-Passw0rd!"},
                   sign=False, headers={"X-Forwarded-For": ip})


def test_reset_codes_are_capped_and_wrong_codes_lock(fresh_server):
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    idp = srv.cognito
    client = setup_pool(srv, [])
    pool = [p["Id"] for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"].startswith("abuse-")][0]
    idp.admin_create_user(UserPoolId=pool, Username="reset-me", MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": f"{uid()}@example.com"},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username="reset-me", Password=PASSWORD, Permanent=True)
    ghost = f"ghost-{uid()}"
    # 5 codes an hour, for real and unknown users alike; the 6th request is refused.
    for name in ("reset-me", ghost):
        assert [_forgot(srv, client, name).status_code for _ in range(5)] == [200] * 5
        refused = _forgot(srv, client, name)
        assert refused.json()["__type"] == "LimitExceededException", refused.text
    # Wrong codes count toward the lock, identically for both; then even the right code
    # is refused from that address.
    code, _ = srv.latest_code(pool, "reset-me")
    wrong = "000000" if code != "000000" else "111111"
    seqs = {}
    for name in ("reset-me", ghost):
        seqs[name] = [_confirm(srv, client, name, wrong).json()["__type"] for _ in range(6)]
    assert seqs["reset-me"] == seqs[ghost], seqs
    assert seqs["reset-me"][:5] == ["CodeMismatchException"] * 5
    assert seqs["reset-me"][5] == "LimitExceededException"
    assert _confirm(srv, client, "reset-me", code).json()["__type"] == "LimitExceededException"
    # The failures also lock password sign-in from that address.
    outcome, resp = sign_in(srv, client, "reset-me", PASSWORD, "198.51.100.30")
    assert resp.json()["message"] == "Password attempts exceeded"


def test_confirm_forgot_password_answers_alike_for_unknown_and_disabled_users(fresh_server):
    srv = fresh_server()
    idp = srv.cognito
    client = setup_pool(srv, ["someone"])
    pool = [p["Id"] for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"].startswith("abuse-")][0]
    idp.admin_update_user_attributes(UserPoolId=pool, Username="someone",
                                     UserAttributes=[{"Name": "email", "Value": f"{uid()}@example.com"},
                                                     {"Name": "email_verified", "Value": "true"}])
    idp.admin_create_user(UserPoolId=pool, Username="disabled", MessageAction="SUPPRESS")
    idp.admin_disable_user(UserPoolId=pool, Username="disabled")
    answers = {}
    for name in ("someone", "disabled", f"ghost-{uid()}"):
        forgot = _forgot(srv, client, name)
        confirm = _confirm(srv, client, name, "123456", ip=f"198.51.100.{len(answers) + 40}")
        weak = srv.raw("ConfirmForgotPassword", {"ClientId": client, "Username": name, "ConfirmationCode": "123456",
                                                 "Password": "weak"}, sign=False)
        answers[name.split("-")[0]] = (forgot.status_code, sorted(forgot.json()), confirm.json()["__type"],
                                       weak.json()["__type"])
    assert answers["someone"] == answers["disabled"] == answers["ghost"], answers


def test_one_address_spraying_is_slowed_and_others_are_not(fresh_server):
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1"})
    users = [f"u{i}" for i in range(5)]
    client = setup_pool(srv, users + ["later"])
    for i in range(20):
        assert sign_in(srv, client, users[i % 5], f"Wrong-{i}!", "192.0.2.66")[0] == "NotAuthorizedException"
    outcome, resp = sign_in(srv, client, "later", PASSWORD, "192.0.2.66")
    assert outcome == "TooManyRequestsException"
    assert int(resp.headers["Retry-After"]) >= 1
    # The same user from another address signs in.
    assert sign_in(srv, client, "later", PASSWORD, "192.0.2.67")[0] == "ok"


def test_request_rates_per_address_and_per_username(fresh_server):
    srv = fresh_server({"COGNATE_TRUSTED_PROXIES": "127.0.0.1", "COGNATE_RATE_AUTH_PER_IP": "6",
                        "COGNATE_RATE_AUTH_PER_USER": "4"})
    _away_from_a_minute_boundary()
    client = setup_pool(srv, ["alice", "bob", "carol"])
    # per username, across addresses: 4 a minute, then refused with Retry-After
    for i in range(4):
        assert sign_in(srv, client, "alice", PASSWORD, f"203.0.113.{10 + i}")[0] == "ok"
    outcome, resp = sign_in(srv, client, "alice", PASSWORD, "203.0.113.20")
    assert outcome == "TooManyRequestsException" and 1 <= int(resp.headers["Retry-After"]) <= 60
    # per address: 6 a minute whatever the user
    for name in ["bob", "bob", "bob", "carol", "carol", "carol"]:
        assert sign_in(srv, client, name, PASSWORD, "203.0.113.99")[0] == "ok"
    outcome, resp = sign_in(srv, client, "carol", PASSWORD, "203.0.113.99")
    assert outcome == "TooManyRequestsException" and "address" in resp.json()["message"]
    assert sign_in(srv, client, "carol", PASSWORD, "203.0.113.100")[0] == "ok"


def test_forwarded_for_is_ignored_without_trusted_proxies(fresh_server):
    srv = fresh_server({"COGNATE_RATE_AUTH_PER_IP": "3"})
    _away_from_a_minute_boundary()
    client = setup_pool(srv, ["dave"])
    for i in range(3):
        assert sign_in(srv, client, "dave", PASSWORD, f"198.18.0.{i}")[0] == "ok"
    # Spoofed addresses do not escape the limit of the real peer.
    assert sign_in(srv, client, "dave", PASSWORD, "198.18.0.200")[0] == "TooManyRequestsException"


def _tenant_admin_token(t: Tenancy, tenant: dict, role: str = "admin") -> str:
    user = t.new_user(tenant["id"], role)
    return t.sign_in(tenant["clientId"], user.email, tenant_id=tenant["id"])["AccessToken"]


def test_admin_api_is_limited_per_tenant(fresh_server):
    srv = fresh_server({"COGNATE_RATE_ADMIN_PER_TENANT": "5"})
    _away_from_a_minute_boundary()
    t = Tenancy(srv)
    a, b = t.create_tenant("rate-a"), t.create_tenant("rate-b")
    a_admin, b_admin = _tenant_admin_token(t, a), _tenant_admin_token(t, b)
    statuses = [v1(srv, "GET", f"/v1/tenants/{a['id']}", bearer=a_admin).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = v1(srv, "GET", f"/v1/tenants/{a['id']}/members", bearer=a_admin)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another tenant is not affected, and platform admins are subject to no tenant's quota.
    assert v1(srv, "GET", f"/v1/tenants/{b['id']}", bearer=b_admin).status_code == 200
    assert v1(srv, "GET", f"/v1/tenants/{a['id']}", bearer=admin_bearer(srv)).status_code == 200


def test_outsiders_cannot_use_up_another_tenants_quota(fresh_server):
    """A read-only user of tenant A hammering tenant B gets 403s, then 429s of their own;
    B's admin and the platform admin never notice."""
    srv = fresh_server({"COGNATE_RATE_ADMIN_PER_TENANT": "5"})
    _away_from_a_minute_boundary()
    t = Tenancy(srv)
    a, b = t.create_tenant("rate-x"), t.create_tenant("rate-y")
    outsider = _tenant_admin_token(t, a, "read_only")
    b_admin = _tenant_admin_token(t, b)
    codes = [v1(srv, "GET", f"/v1/tenants/{b['id']}/members", bearer=outsider).status_code for _ in range(12)]
    assert codes[:5] == [403] * 5 and set(codes[5:]) == {429}, codes
    for _ in range(5):
        assert v1(srv, "GET", f"/v1/tenants/{b['id']}/members", bearer=b_admin).status_code == 200
    assert v1(srv, "GET", f"/v1/tenants/{b['id']}", bearer=admin_bearer(srv)).status_code == 200
    # the outsider's own tenant is not charged for the refused attempts either
    assert v1(srv, "GET", f"/v1/tenants/{a['id']}", bearer=_tenant_admin_token(t, a)).status_code == 200


def test_anonymous_requests_do_not_use_up_a_tenants_quota(fresh_server):
    srv = fresh_server({"COGNATE_RATE_ADMIN_PER_TENANT": "3"})
    _away_from_a_minute_boundary()
    t = Tenancy(srv)
    a = t.create_tenant("rate-q")
    token = _tenant_admin_token(t, a)
    for _ in range(10):
        assert v1(srv, "GET", f"/v1/tenants/{a['id']}").status_code == 401
    assert [v1(srv, "GET", f"/v1/tenants/{a['id']}", bearer=token).status_code
            for _ in range(3)] == [200, 200, 200]
    assert v1(srv, "GET", f"/v1/tenants/{a['id']}", bearer=token).status_code == 429
