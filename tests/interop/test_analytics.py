"""Analytics and cost allocation end to end, on both backends: a concurrent burst of
sign-ins, refreshes and API key verifications spread over TWO nodes on one database (boto3
and plain HTTP from threads), then a graceful restart (SIGTERM, start again): every figure
equals the number of calls made, monthly active users the number of distinct users, and the
month's cost statement parses with Python's csv module, sums to its total and says what its
JSON says."""

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from cognate_harness import (
    CognateServer,
    Tenancy,
    admin_bearer,
    assert_v1_error,
    uid,
    v1,
    v1_ok,
)

USERS = 4
SIGN_INS_PER_USER_PER_NODE = 3
VERIFICATIONS_PER_NODE = 60
WRONG_PASSWORDS = 2


def analytics(server, path: str = "", **params) -> dict:
    return v1_ok(v1(server, "GET", f"/v1{path}", bearer=admin_bearer(server), params=params))


def second_node(a: CognateServer) -> CognateServer:
    """Another `cognate serve` on A's database and data directory (its master key)."""
    b = CognateServer(backend=a.backend, data_dir=a.data_dir, database_url=a.database_url)
    b.start()
    return b


def test_figures_are_exact_after_a_burst_on_two_nodes_and_a_restart(fresh_server):
    a = fresh_server()
    tenancy = Tenancy(a)
    tenant = tenancy.create_tenant("stats")["id"]
    _, client_id = tenancy.shared_placement()
    users = [tenancy.new_user(tenant, "member") for _ in range(USERS)]
    key = v1_ok(v1(a, "POST", f"/v1/tenants/{tenant}/api-keys", bearer=admin_bearer(a),
                   body={"name": "burst"}), 201)
    pool = v1_ok(v1(a, "GET", f"/v1/tenants/{tenant}", bearer=admin_bearer(a)))["poolId"]
    verifier = a.cognito.create_user_pool_client(UserPoolId=pool, ClientName="verifier",
                                                 GenerateSecret=True)["UserPoolClient"]
    auth = (verifier["ClientId"], verifier["ClientSecret"])
    # What the set-up itself counted (invitation acceptances), read on the only node so far.
    before = analytics(a, f"/tenants/{tenant}/analytics")["totals"]
    platform_before = analytics(a, "/analytics")["lines"].get("", {})

    b = second_node(a)
    try:
        def sign_ins(job):
            node, user = job
            idp = node.client()
            refreshes = 0
            for _ in range(SIGN_INS_PER_USER_PER_NODE):
                result = idp.initiate_auth(
                    ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": user.email, "PASSWORD": user.password},
                )["AuthenticationResult"]
                idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})
                refreshes += 1
            return refreshes

        def verifications(node):
            with requests.Session() as s:
                return [s.post(f"{node.url}/v1/api-keys/verify", json={"key": key["key"]},
                               auth=auth, timeout=10).status_code
                        for _ in range(VERIFICATIONS_PER_NODE)]

        with ThreadPoolExecutor(max_workers=8) as workers:
            refreshed = workers.map(sign_ins, [(node, u) for node in (a, b) for u in users])
            verified = workers.map(verifications, [a, b, a, b])
            refreshes = sum(refreshed)
            statuses = [s for batch in verified for s in batch]
        assert statuses == [200] * (4 * VERIFICATIONS_PER_NODE)
        for _ in range(WRONG_PASSWORDS):
            try:
                b.cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": users[0].email,
                                                        "PASSWORD": "Wrong-Passw0rd!"})
                raise AssertionError("a wrong password signed in")
            except b.cognito.exceptions.NotAuthorizedException:
                pass
    finally:
        # Counted in memory on both nodes: a graceful stop (SIGTERM) writes it all.
        assert b.stop() == 0
    assert a.stop() == 0
    a.start()

    sign_ins_made = 2 * USERS * SIGN_INS_PER_USER_PER_NODE
    report = analytics(a, f"/tenants/{tenant}/analytics")
    totals = report["totals"]

    def delta(name):
        return totals.get(name, 0) - before.get(name, 0)

    assert delta("sign_ins") == sign_ins_made, report
    assert delta("tokens.password") == sign_ins_made, report
    assert delta("tokens.refresh") == refreshes == sign_ins_made, report
    assert delta("api_calls") == 4 * VERIFICATIONS_PER_NODE, report
    assert report["apiCallsPerKey"][key["id"]] == 4 * VERIFICATIONS_PER_NODE, report
    month = time.strftime("%Y-%m", time.gmtime())
    this_month = next(m for m in report["months"] if m["month"] == month)
    assert (this_month["mau"], this_month["federatedMau"]) == (USERS, 0), report
    assert report["mfa"] == {"members": USERS, "withMfa": 0, "adoption": 0.0}, report
    # A wrong password in the shared pool has no tenant yet: the platform line counts it.
    platform = analytics(a, "/analytics")["lines"].get("", {})
    failures = platform.get("sign_in_failures", 0) - platform_before.get("sign_in_failures", 0)
    assert failures == WRONG_PASSWORDS

    # The month's cost statement: exact decimals, CSV and JSON agree.
    v1_ok(v1(a, "PUT", "/v1/analytics/price-model", bearer=admin_bearer(a),
             body={"currency": "USD", "perMau": "0.0055", "perThousandApiCalls": "0.25",
                   "perDedicatedPool": "50", "platformFixed": "10"}))
    statement = analytics(a, "/analytics/costs", month=month)
    lines = {line["tenantId"]: line for line in statement["lines"]}
    mine = lines[tenant]
    assert (mine["mau"], mine["apiCalls"]) == (USERS, 4 * VERIFICATIONS_PER_NODE), mine
    assert Decimal(mine["mauCost"]) == Decimal("0.0055") * USERS
    assert Decimal(mine["apiCost"]) == Decimal("0.25") * 4 * VERIFICATIONS_PER_NODE / 1000
    assert sum(Decimal(line["total"]) for line in statement["lines"]) == Decimal(statement["total"])
    assert sum(Decimal(line["platformShare"]) for line in statement["lines"]) == Decimal("10")

    resp = v1(a, "GET", "/v1/analytics/costs", bearer=admin_bearer(a),
              params={"month": month, "format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text, newline="")))
    assert len(rows) == len(statement["lines"])
    assert sum(Decimal(r["total"]) for r in rows) == Decimal(statement["total"])
    for row in rows:
        line = lines[row["tenant_id"] or None]
        assert row["month"] == month and row["currency"] == "USD"
        assert int(row["mau"]) == line["mau"] and int(row["api_calls"]) == line["apiCalls"]
        for column, field in [("mau_cost", "mauCost"), ("api_cost", "apiCost"),
                              ("dedicated_pool_cost", "dedicatedPoolCost"),
                              ("platform_share", "platformShare"), ("total", "total")]:
            assert Decimal(row[column]) == Decimal(line[field]), (row, line)


def test_tenant_admins_read_their_own_tenant_only(server):
    tenancy = Tenancy(server)
    ours = tenancy.create_tenant("ours")["id"]
    theirs = tenancy.create_tenant("theirs")["id"]
    _, client_id = tenancy.shared_placement()
    admin = tenancy.new_user(ours, "admin")
    token = tenancy.sign_in(client_id, admin.email, admin.password, tenant_id=ours)["AccessToken"]
    month = time.strftime("%Y-%m", time.gmtime())

    own = v1_ok(v1(server, "GET", f"/v1/tenants/{ours}/analytics/costs", bearer=token,
                   params={"month": month}))
    assert [line["tenantId"] for line in own["lines"]] == [ours]
    assert v1_ok(v1(server, "GET", f"/v1/tenants/{ours}/analytics", bearer=token))["tenantId"] == ours
    for path in [f"/v1/tenants/{theirs}/analytics", f"/v1/tenants/{theirs}/analytics/costs",
                 f"/v1/tenants/nope-{uid()}/analytics", "/v1/analytics", "/v1/analytics/costs",
                 "/v1/analytics/price-model"]:
        params = {"month": month} if path.endswith("/costs") else None
        assert_v1_error(v1(server, "GET", path, bearer=token, params=params), 403, "forbidden")
    assert_v1_error(v1(server, "PUT", "/v1/analytics/price-model", bearer=token,
                       body={"perMau": "1"}), 403, "forbidden")
    # Bad input is a 400 in the /v1 shape, never a 5xx.
    for params in [{"month": "2026-13"}, {"month": "2026-12\x00"}, {"month": month, "format": "xml"}]:
        assert_v1_error(v1(server, "GET", "/v1/analytics/costs", bearer=admin_bearer(server),
                           params=params), 400, "invalid_request")
    assert_v1_error(v1(server, "PUT", "/v1/analytics/price-model", bearer=admin_bearer(server),
                       body={"perMau": "1.5e3"}), 400, "invalid_request")
