"""API keys end to end against a real Cognate: the lifecycle through /v1, verification by a
service authenticated as a confidential app client (HTTP Basic, as boto3 created it), usage
that is exact after a concurrent burst and survives a graceful restart, and — through the
example API built on cognate-guard — keys beside JWTs with read/write scopes, another
tenant's key, rate limiting and revocation seen within the guard's documented bound."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cognate_harness import admin_bearer, assert_v1_error, cognate_bin, uid, v1, v1_ok


def create_tenant(server, prefix: str = "keys") -> str:
    tid = f"{prefix}-{uid()}"
    v1_ok(v1(server, "POST", "/v1/tenants", bearer=admin_bearer(server),
             body={"id": tid, "name": tid, "tier": "standard"}), 201)
    return tid


def create_key(server, tenant: str, **body) -> dict:
    body.setdefault("name", "k")
    return v1_ok(v1(server, "POST", f"/v1/tenants/{tenant}/api-keys", bearer=admin_bearer(server), body=body), 201)


def confidential_client(server, tenant: str | None = None) -> tuple[str, str]:
    """A confidential app client made with boto3: the verifier credentials a service uses.
    It lives in the pool where `tenant` is placed (the shared pool when None); a verifier
    answers only for the tenants of its own pool."""
    idp = server.cognito
    if tenant is None:
        pool = v1_ok(v1(server, "GET", "/v1/discovery", bearer=None,
                        params={"email": f"nobody@{uid()}.example"}))["poolId"]
    else:
        pool = v1_ok(v1(server, "GET", f"/v1/tenants/{tenant}", bearer=admin_bearer(server)))["poolId"]
    c = idp.create_user_pool_client(UserPoolId=pool, ClientName="verifier", GenerateSecret=True)["UserPoolClient"]
    return c["ClientId"], c["ClientSecret"]


def unrelated_client(server) -> tuple[str, str]:
    """A confidential client of a pool that holds no tenant."""
    idp = server.cognito
    pool = idp.create_user_pool(PoolName=f"svc-{uid()}")["UserPool"]["Id"]
    c = idp.create_user_pool_client(UserPoolId=pool, ClientName="verifier", GenerateSecret=True)["UserPoolClient"]
    return c["ClientId"], c["ClientSecret"]


def verify(server, key: str, auth, count: bool = True) -> requests.Response:
    return requests.post(f"{server.url}/v1/api-keys/verify", json={"key": key, "countUsage": count},
                         auth=auth, timeout=10)


def usage_total(server, tenant: str, key_id: str) -> int:
    body = v1_ok(v1(server, "GET", f"/v1/tenants/{tenant}/usage", bearer=admin_bearer(server)))
    return body["totals"].get(key_id, 0)


def test_lifecycle_and_verification_as_a_confidential_client(server):
    tenant = create_tenant(server)
    auth = confidential_client(server, tenant)
    created = create_key(server, tenant, scopes=["notes:read"])
    key, key_id = created["key"], created["id"]
    assert key.startswith("cog_") and len(key) == 50 and created["prefix"] == key[:12]

    assert verify(server, key, auth).json() == {
        "valid": True, "keyId": key_id, "tenantId": tenant, "name": "k", "scopes": ["notes:read"],
        "serviceAccount": None, "expiresAt": None, "rateLimit": None}
    # Lists never show the key.
    listed = v1_ok(v1(server, "GET", f"/v1/tenants/{tenant}/api-keys", bearer=admin_bearer(server)))
    assert key not in str(listed) and listed["items"][0]["prefix"] == key[:12]

    # Wrong verifier credentials, a public client, a user-less call: 401.
    assert verify(server, key, (auth[0], "wrong")).status_code == 401
    assert requests.post(f"{server.url}/v1/api-keys/verify", json={"key": key}, timeout=10).status_code == 401

    # A typo is caught by the checksum; a revoked key has its own code.
    typo = key[:20] + ("x" if key[20] != "x" else "y") + key[21:]
    assert verify(server, typo, auth).json() == {"valid": False, "code": "malformed"}
    assert v1(server, "DELETE", f"/v1/tenants/{tenant}/api-keys/{key_id}", bearer=admin_bearer(server)).status_code == 204
    assert verify(server, key, auth).json() == {"valid": False, "code": "revoked"}

    # Rotation: both keys work during the grace period; grace 0 retires the old one at once.
    old = create_key(server, tenant)
    new = v1_ok(v1(server, "POST", f"/v1/tenants/{tenant}/api-keys/{old['id']}/rotate",
                   bearer=admin_bearer(server), body={"gracePeriodSeconds": 3600}), 201)
    assert verify(server, old["key"], auth).json()["valid"] and verify(server, new["key"], auth).json()["valid"]
    newer = v1_ok(v1(server, "POST", f"/v1/tenants/{tenant}/api-keys/{new['id']}/rotate",
                     bearer=admin_bearer(server), body={"gracePeriodSeconds": 0}), 201)
    assert verify(server, new["key"], auth).json() == {"valid": False, "code": "rotated"}
    assert verify(server, newer["key"], auth).json()["valid"]

    # A suspended tenant's keys stop working.
    v1_ok(v1(server, "POST", f"/v1/tenants/{tenant}/suspend", bearer=admin_bearer(server)))
    assert verify(server, newer["key"], auth).json() == {"valid": False, "code": "tenant_suspended"}


def test_rate_limit_answers_429_with_retry_after(server):
    tenant = create_tenant(server)
    auth = confidential_client(server, tenant)
    key = create_key(server, tenant, rateLimit={"requests": 5, "perSeconds": 3600})["key"]
    assert [verify(server, key, auth).status_code for _ in range(5)] == [200] * 5
    refused = verify(server, key, auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600


def test_usage_is_exact_after_a_concurrent_burst_and_survives_a_restart(fresh_server):
    server = fresh_server()
    tenant = create_tenant(server)
    auth = confidential_client(server, tenant)
    created = create_key(server, tenant)
    key, key_id = created["key"], created["id"]
    other = create_key(server, tenant)

    def burst(_):
        with requests.Session() as s:
            return [s.post(f"{server.url}/v1/api-keys/verify", json={"key": key}, auth=auth,
                           timeout=10).status_code for _ in range(40)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = [st for batch in pool.map(burst, range(6)) for st in batch]
    assert statuses == [200] * 240
    # Refused keys and uncounted verifications are not usage.
    verify(server, "cog_" + "x" * 46, auth)
    verify(server, other["key"], auth, count=False)
    # A guard-style report adds to the same totals.
    assert requests.post(f"{server.url}/v1/api-keys/usage", auth=auth, timeout=10,
                         json={"items": [{"tenantId": tenant, "keyId": key_id, "count": 10}]}).status_code == 204
    # Counted in memory, not yet written: a graceful stop (SIGTERM) writes it.
    for _ in range(7):
        assert verify(server, key, auth).status_code == 200
    assert server.stop() == 0
    server.start()
    assert usage_total(server, tenant, key_id) == 257
    assert usage_total(server, tenant, other["id"]) == 0
    view = v1_ok(v1(server, "GET", f"/v1/tenants/{tenant}/api-keys/{key_id}", bearer=admin_bearer(server)))
    assert abs(view["lastUsedAt"] - time.time()) < 120


def test_verifiers_answer_only_for_the_tenants_of_their_pool(server):
    """A client of pool P verifies and reports usage only for keys of tenants placed in P:
    any other key is `unknown_key` (no id, no state leaked) and report items naming another
    pool's tenant are dropped."""
    shared_tenant = create_tenant(server)
    platinum = f"plat-{uid()}"
    v1_ok(v1(server, "POST", "/v1/tenants", bearer=admin_bearer(server),
             body={"id": platinum, "name": platinum, "tier": "platinum"}), 201)
    shared_key = create_key(server, shared_tenant)
    platinum_key = create_key(server, platinum)
    revoked = create_key(server, platinum)
    assert v1(server, "DELETE", f"/v1/tenants/{platinum}/api-keys/{revoked['id']}",
              bearer=admin_bearer(server)).status_code == 204

    shared_client = confidential_client(server, shared_tenant)
    platinum_client = confidential_client(server, platinum)
    stranger = unrelated_client(server)

    assert verify(server, shared_key["key"], shared_client).json()["valid"] is True
    assert verify(server, platinum_key["key"], platinum_client).json()["valid"] is True
    unknown = {"valid": False, "code": "unknown_key"}
    for key, auth in [(shared_key, platinum_client), (shared_key, stranger),
                      (platinum_key, shared_client), (platinum_key, stranger),
                      (revoked, shared_client)]:
        assert verify(server, key["key"], auth).json() == unknown
    # a platform admin verifies any tenant's key
    r = v1(server, "POST", "/v1/api-keys/verify", bearer=admin_bearer(server),
           body={"key": platinum_key["key"], "countUsage": False})
    assert v1_ok(r)["valid"] is True

    def report(auth, *items):
        return requests.post(f"{server.url}/v1/api-keys/usage", auth=auth, timeout=10,
                             json={"items": [{"tenantId": t, "keyId": k, "count": 1000} for t, k in items]})

    before = usage_total(server, platinum, platinum_key["id"])
    shared_before = usage_total(server, shared_tenant, shared_key["id"])
    # Items for tenants outside the client's pool (or gone) are dropped, never recorded;
    # the client's own items in the same report are (a stale count must not block a guard).
    for auth in (shared_client, stranger):
        assert report(auth, (platinum, platinum_key["id"])).status_code == 204
    assert report(platinum_client, (platinum, platinum_key["id"]),
                  (shared_tenant, shared_key["id"]), ("no-such-tenant", "ak_x")).status_code == 204
    assert usage_total(server, platinum, platinum_key["id"]) == before + 1000
    assert usage_total(server, shared_tenant, shared_key["id"]) == shared_before


# --- through the example API (cognate-guard's in-process verifier) -------------------


@pytest.fixture
def notes_with_keys(server, tmp_path):
    """notes-api trusting Cognate's shared pool for JWTs and Cognate for API keys, with a
    one-second key cache so revocation is seen within a bounded, short time."""
    client_id, client_secret = confidential_client(server)  # the shared pool's: standard tenants
    binary = cognate_bin().parent / "notes-api"
    if not binary.exists():
        pytest.fail(f"notes-api binary not found at {binary} (cargo build -p notes-api)")
    t = v1_ok(v1(server, "POST", "/v1/tenants", bearer=admin_bearer(server),
                 body={"id": f"np-{uid()}", "name": "np", "tier": "standard"}), 201)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
    env.update({
        "NOTES_DATABASE_URL": f"sqlite://{tmp_path}/notes.db",
        "NOTES_LISTEN": "127.0.0.1:0",
        "NOTES_ISSUERS": f"cognate|{server.url}|{t['poolId']}|{t['clientId']}",
        "NOTES_API_KEYS": f"{server.url}|{client_id}|{client_secret}",
        "NOTES_API_KEY_CACHE_SECS": "1",
    })
    log = open(tmp_path / "notes-stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("notes-api listening on "), (line, (tmp_path / "notes-stderr.log").read_text())
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def with_key(notes: str, method: str, path: str, key: str, **kw) -> requests.Response:
    return requests.request(method, notes + path, headers={"X-API-Key": key}, timeout=10, **kw)


def test_guarded_api_accepts_keys_with_scopes_and_keeps_tenants_apart(server, notes_with_keys):
    notes = notes_with_keys
    acme, globex = create_tenant(server, "acme"), create_tenant(server, "globex")
    writer = create_key(server, acme, scopes=["notes:read", "notes:write"])["key"]
    reader = create_key(server, acme, scopes=["notes:read"])["key"]
    foreign = create_key(server, globex, scopes=["notes:read", "notes:write"])["key"]

    project = with_key(notes, "POST", "/api/projects", writer, json={"name": f"p-{uid()}"})
    assert project.status_code in (200, 201), project.text
    pid = project.json()["id"]
    assert with_key(notes, "GET", f"/api/projects/{pid}", reader).status_code == 200
    # read-only key: reads yes, writes 403
    assert with_key(notes, "POST", "/api/projects", reader, json={"name": "nope"}).status_code == 403
    assert with_key(notes, "DELETE", f"/api/projects/{pid}", reader).status_code == 403
    # another tenant's key never sees this tenant's project
    assert with_key(notes, "GET", f"/api/projects/{pid}", foreign).status_code == 404
    assert with_key(notes, "GET", "/api/projects", foreign).json() in ([], {"items": []}) or \
        pid not in str(with_key(notes, "GET", "/api/projects", foreign).json())
    # malformed and forged keys: 401 without reaching Cognate
    assert with_key(notes, "GET", "/api/projects", "cog_" + "A" * 46).status_code == 401
    assert with_key(notes, "GET", "/api/projects", "not-a-key").status_code == 401


def test_guard_sees_revocation_within_its_cache_bound(server, notes_with_keys):
    notes = notes_with_keys
    tenant = create_tenant(server)
    created = create_key(server, tenant, scopes=["notes:read"])
    assert with_key(notes, "GET", "/api/projects", created["key"]).status_code == 200
    assert v1(server, "DELETE", f"/v1/tenants/{tenant}/api-keys/{created['id']}",
              bearer=admin_bearer(server)).status_code == 204
    deadline = time.monotonic() + 1.0 + 1.5  # cache bound (1 s) plus slack
    while with_key(notes, "GET", "/api/projects", created["key"]).status_code == 200:
        assert time.monotonic() < deadline, "revocation not seen within the documented bound"
        time.sleep(0.1)
    assert with_key(notes, "GET", "/api/projects", created["key"]).status_code == 401


def test_guard_enforces_the_keys_rate_limit(server, notes_with_keys):
    notes = notes_with_keys
    tenant = create_tenant(server)
    key = create_key(server, tenant, scopes=["notes:read"], rateLimit={"requests": 3, "perSeconds": 3600})["key"]
    statuses = [with_key(notes, "GET", "/api/projects", key).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    refused = with_key(notes, "GET", "/api/projects", key)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 3600
