"""The `/v1` authorization matrix of docs/tenancy.md ("Who may call what"): every endpoint
against every kind of caller, one test id per (endpoint, caller), with the exact status, the
`{"error": {"code", "message"}}` shape on every refusal, and a check that a refused call
changed nothing.

One world per module and backend: tenant A with an admin, a member and a read_only user,
tenant B with an admin (all made through invitations and signed in with their tenant), the
platform admin credential, and anonymous callers. `{t}` is tenant A. Mutating calls work on
fresh sub-resources (a fresh domain, invitation or member per call); the platform admin's
destructive tenant calls (delete, suspend, reactivate, tier) hit throwaway tenants so the
world survives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

import pytest
import requests

from cognate_harness import (
    ACCEPT_OK,
    TENANT_PASSWORD,
    Tenancy,
    TenantUser,
    assert_tenant_token,
    assert_v1_error,
    tamper,
    uid,
    v1_error,
    v1_ok,
)

CALLERS = ("platform", "a_admin", "b_admin", "a_member", "a_read_only", "anonymous")
USERS = ("a_admin", "b_admin", "a_member", "a_read_only")
#: The code that goes with each refusal status.
REFUSAL_CODES = {401: "unauthorized", 403: "forbidden"}


@dataclass
class World:
    api: Tenancy
    a: dict
    b: dict
    users: dict[str, TenantUser]
    tokens: dict[str, str] = field(default_factory=dict)

    def bearer(self, caller: str) -> str | None:
        if caller == "platform":
            return self.api.admin
        if caller == "anonymous":
            return None
        return self.tokens[caller]

    def call(self, caller: str, method: str, path: str, body=None, params=None):
        return self.api.call(method, path, bearer=self.bearer(caller), body=body, params=params)

    @property
    def ta(self) -> str:
        return f"/v1/tenants/{self.a['id']}"

    # ---- state read as the platform admin

    def tenant_a(self) -> dict:
        return self.api.tenant(self.a["id"])

    def domains(self) -> dict[str, dict]:
        return {d["domain"]: d for d in self.api.list_all(f"{self.ta}/domains")}

    def members(self) -> dict[str, dict]:
        """A's active members by sub (a removed membership may stay listed, not active)."""
        return {m["sub"]: m for m in self.api.list_all(f"{self.ta}/members")
                if m["status"] == "active"}

    def invitations(self) -> dict[str, dict]:
        return {i["id"]: i for i in self.api.list_all(f"{self.ta}/invitations")}

    def snapshot(self) -> dict:
        """A's observable state (tenant, domains, members, invitations)."""
        return {"tenant": self.tenant_a(), "domains": self.domains(),
                "members": {m["sub"]: (m["role"], m["status"])
                    for m in self.api.list_all(f"{self.ta}/members")},
                "invitations": {i: v["status"] for i, v in self.invitations().items()}}

    # ---- fresh sub-resources of A (made by the platform admin)

    def fresh_domain(self) -> str:
        domain = f"{uid()}.example.com"
        self.api.as_admin("POST", f"{self.ta}/domains", {"domain": domain, "autoJoin": False},
                          status=201)
        return domain

    def fresh_invitation(self) -> dict:
        return self.api.as_admin("POST", f"{self.ta}/invitations",
                                 {"email": f"inv-{uid()}@example.com", "role": "member"},
                                 status=201)

    def fresh_member(self) -> TenantUser:
        return self.api.new_user(self.a["id"], "member")


@pytest.fixture(scope="module")
def world(server) -> World:
    api = Tenancy(server)
    a = api.create_tenant("mx-a", name="Tenant A")
    b = api.create_tenant("mx-b", name="Tenant B")
    users = {
        "a_admin": api.new_user(a["id"], "admin"),
        "a_member": api.new_user(a["id"], "member"),
        "a_read_only": api.new_user(a["id"], "read_only"),
        "b_admin": api.new_user(b["id"], "admin"),
    }
    w = World(api=api, a=a, b=b, users=users)
    for caller, user in users.items():
        tenant = a if user.tenant_id == a["id"] else b
        tokens = api.sign_in(tenant["clientId"], user.email, user.password, tenant_id=tenant["id"])
        assert_tenant_token(tokens["AccessToken"], tenant["id"], user.role)
        w.tokens[caller] = tokens["AccessToken"]
    return w


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One endpoint. `run(world, caller)` makes the call (preparing what it needs) and returns
    (response, unchanged): `unchanged()` asserts that a refused call left the state alone.
    `ok(world, caller, response)` checks a successful answer."""
    name: str
    expect: dict[str, int | tuple]
    run: Callable[[World, str], tuple[requests.Response, Callable[[], None] | None]]
    ok: Callable[[World, str, requests.Response], None] | None = None


def statuses(ok, *, platform=None, a_admin=403, b_admin=403, a_member=403, a_read_only=403,
             anonymous=401) -> dict[str, int | tuple]:
    return {"platform": ok if platform is None else platform, "a_admin": a_admin,
            "b_admin": b_admin, "a_member": a_member, "a_read_only": a_read_only,
            "anonymous": anonymous}


def platform_only(ok):
    return statuses(ok)


def tenant_admins(ok):
    return statuses(ok, a_admin=ok)


CASES: list[Case] = []


def case(name: str, expect: dict, ok=None):
    def register(run):
        CASES.append(Case(name, expect, run, ok))
        return run
    return register


# ---- tenants


@case("create_tenant", platform_only(201))
def _(w: World, caller: str):
    new_id = f"mx-new-{uid()}"
    resp = w.call(caller, "POST", "/v1/tenants", {"id": new_id, "name": "New", "tier": "standard"})
    if resp.status_code == 201:
        made = resp.json()
        assert made["id"] == new_id and made["placement"] == "shared", made

    def unchanged():
        assert_v1_error(w.call("platform", "GET", f"/v1/tenants/{new_id}"), 404, "not_found")
    return resp, unchanged


def _list_ok(w: World, caller: str, resp: requests.Response):
    page = v1_ok(resp)
    assert isinstance(page["items"], list) and "nextCursor" in page, page


@case("list_tenants", platform_only(200), ok=_list_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", "/v1/tenants"), None


@case("get_tenant", tenant_admins(200))
def _(w: World, caller: str):
    resp = w.call(caller, "GET", w.ta)
    if resp.status_code == 200:
        assert resp.json()["id"] == w.a["id"] and resp.json()["poolId"] == w.a["poolId"]
    return resp, None


@case("patch_tenant", tenant_admins(200))
def _(w: World, caller: str):
    before = w.tenant_a()
    name = f"Tenant A {uid()}"
    resp = w.call(caller, "PATCH", w.ta, {"name": name})

    def unchanged():
        assert w.tenant_a()["name"] == before["name"]
    if resp.status_code == 200:
        assert resp.json()["name"] == name and w.tenant_a()["name"] == name
    return resp, unchanged


def _throwaway(w: World, status: str = "active") -> str:
    t = w.api.create_tenant("mx-tmp")
    if status == "suspended":
        w.api.as_admin("POST", f"/v1/tenants/{t['id']}/suspend")
    return t["id"]


def _a_intact(w: World):
    def unchanged():
        now = w.tenant_a()
        assert now["status"] == "active" and now["tier"] == "standard", now
        assert now["poolId"] == w.a["poolId"] and now["clientId"] == w.a["clientId"], now
    return unchanged


@case("delete_tenant", platform_only(204))
def _(w: World, caller: str):
    if caller == "platform":
        target = _throwaway(w)
        resp = w.call(caller, "DELETE", f"/v1/tenants/{target}")
        if resp.status_code == 204:
            assert_v1_error(w.call("platform", "GET", f"/v1/tenants/{target}"), 404, "not_found")
        return resp, None
    return w.call(caller, "DELETE", w.ta), _a_intact(w)


@case("suspend_tenant", platform_only(200))
def _(w: World, caller: str):
    if caller == "platform":
        target = _throwaway(w)
        resp = w.call(caller, "POST", f"/v1/tenants/{target}/suspend")
        if resp.status_code == 200:
            assert resp.json()["status"] == "suspended"
        return resp, None
    return w.call(caller, "POST", f"{w.ta}/suspend"), _a_intact(w)


@case("reactivate_tenant", platform_only(200))
def _(w: World, caller: str):
    if caller == "platform":
        target = _throwaway(w, "suspended")
        resp = w.call(caller, "POST", f"/v1/tenants/{target}/reactivate")
        if resp.status_code == 200:
            assert resp.json()["status"] == "active"
        return resp, None
    return w.call(caller, "POST", f"{w.ta}/reactivate"), _a_intact(w)


@case("put_tier", platform_only(200))
def _(w: World, caller: str):
    if caller == "platform":
        target = _throwaway(w)
        resp = w.call(caller, "PUT", f"/v1/tenants/{target}/tier", {"tier": "basic"})
        if resp.status_code == 200:
            assert w.api.tenant(target)["tier"] == "basic"
        return resp, None
    return w.call(caller, "PUT", f"{w.ta}/tier", {"tier": "platinum"}), _a_intact(w)


# ---- domains


@case("create_domain", tenant_admins(201))
def _(w: World, caller: str):
    domain = f"{uid()}.example.com"
    resp = w.call(caller, "POST", f"{w.ta}/domains", {"domain": domain, "autoJoin": True})
    if resp.status_code == 201:
        made = resp.json()
        assert made["domain"] == domain and made["tenantId"] == w.a["id"], made
        assert made["verified"] is False, made

    def unchanged():
        assert domain not in w.domains()
    return resp, unchanged


@case("list_domains", tenant_admins(200), ok=_list_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", f"{w.ta}/domains"), None


@case("patch_domain", tenant_admins(200))
def _(w: World, caller: str):
    domain = w.fresh_domain()
    resp = w.call(caller, "PATCH", f"{w.ta}/domains/{domain}", {"autoJoin": True})
    if resp.status_code == 200:
        assert resp.json()["autoJoin"] is True and w.domains()[domain]["autoJoin"] is True

    def unchanged():
        assert w.domains()[domain]["autoJoin"] is False
    return resp, unchanged


@case("delete_domain", tenant_admins(204))
def _(w: World, caller: str):
    domain = w.fresh_domain()
    resp = w.call(caller, "DELETE", f"{w.ta}/domains/{domain}")
    if resp.status_code == 204:
        assert domain not in w.domains()

    def unchanged():
        assert domain in w.domains()
    return resp, unchanged


@case("verify_domain", platform_only(200))
def _(w: World, caller: str):
    domain = w.fresh_domain()
    resp = w.call(caller, "POST", f"{w.ta}/domains/{domain}/verify", {"method": "attest"})
    if resp.status_code == 200:
        assert w.domains()[domain]["verified"] is True

    def unchanged():
        assert w.domains()[domain]["verified"] is False
        assert w.api.discover(f"x@{domain}")["tenantId"] is None
    return resp, unchanged


# ---- members


def _members_ok(w: World, caller: str, resp: requests.Response):
    page = v1_ok(resp)
    roles = {m["sub"]: m["role"] for m in page["items"]}
    for who in ("a_admin", "a_member", "a_read_only"):
        u = w.users[who]
        assert roles.get(u.sub) == u.role, (who, roles)
    assert w.users["b_admin"].sub not in roles


@case("list_members", tenant_admins(200), ok=_members_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", f"{w.ta}/members", params={"limit": 100}), None


@case("add_member", platform_only(201))
def _(w: World, caller: str):
    # an existing user of the tenant's pool who is in no tenant yet
    user = w.api.cognito.admin_create_user(
        UserPoolId=w.a["poolId"], Username=f"mx-{uid()}", MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": f"add-{uid()}@example.com"}])["User"]
    sub = {a["Name"]: a["Value"] for a in user["Attributes"]}["sub"]
    resp = w.call(caller, "POST", f"{w.ta}/members", {"sub": sub, "role": "member"})
    if resp.status_code == 201:
        assert resp.json()["sub"] == sub and w.members()[sub]["role"] == "member"

    def unchanged():
        assert sub not in w.members()
    return resp, unchanged


@case("get_member_other", tenant_admins(200))
def _(w: World, caller: str):
    # someone else of A: the read_only user for the member, the member for everyone else
    target = w.users["a_read_only" if caller == "a_member" else "a_member"]
    resp = w.call(caller, "GET", f"{w.ta}/members/{target.sub}")
    if resp.status_code == 200:
        got = resp.json()
        assert got["sub"] == target.sub and got["role"] == target.role, got
        assert got["email"] == target.email
    return resp, None


@case("get_member_self", statuses(200, a_admin=200, a_member=200, a_read_only=200))
def _(w: World, caller: str):
    # the caller's own sub (B's admin: their own, which is not a member of A)
    target = w.users[caller if caller in USERS else "a_member"]
    resp = w.call(caller, "GET", f"{w.ta}/members/{target.sub}")
    if resp.status_code == 200:
        assert resp.json()["sub"] == target.sub and resp.json()["role"] == target.role
    return resp, None


@case("patch_member", tenant_admins(200))
def _(w: World, caller: str):
    target = w.fresh_member()
    resp = w.call(caller, "PATCH", f"{w.ta}/members/{target.sub}", {"role": "read_only"})
    if resp.status_code == 200:
        assert resp.json()["role"] == "read_only"
        assert w.members()[target.sub]["role"] == "read_only"

    def unchanged():
        assert w.members()[target.sub]["role"] == "member"
    return resp, unchanged


@case("delete_member", tenant_admins(204))
def _(w: World, caller: str):
    target = w.fresh_member()
    resp = w.call(caller, "DELETE", f"{w.ta}/members/{target.sub}")
    if resp.status_code == 204:
        assert target.sub not in w.members()

    def unchanged():
        assert w.members()[target.sub]["role"] == "member"
    return resp, unchanged


# ---- invitations


@case("create_invitation", tenant_admins(201))
def _(w: World, caller: str):
    email = f"new-{uid()}@example.com"
    resp = w.call(caller, "POST", f"{w.ta}/invitations", {"email": email, "role": "member"})
    if resp.status_code == 201:
        inv = resp.json()
        assert inv["email"] == email and inv["status"] == "pending", inv
        assert "token" not in inv

    def unchanged():
        assert email not in {i["email"] for i in w.invitations().values()}
    return resp, unchanged


@case("list_invitations", tenant_admins(200), ok=_list_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", f"{w.ta}/invitations"), None


@case("get_invitation", tenant_admins(200))
def _(w: World, caller: str):
    inv = w.fresh_invitation()
    resp = w.call(caller, "GET", f"{w.ta}/invitations/{inv['id']}")
    if resp.status_code == 200:
        assert resp.json()["id"] == inv["id"] and resp.json()["status"] == "pending"
    return resp, None


@case("revoke_invitation", tenant_admins(204))
def _(w: World, caller: str):
    inv = w.fresh_invitation()
    resp = w.call(caller, "DELETE", f"{w.ta}/invitations/{inv['id']}")
    if resp.status_code == 204:
        assert w.invitations()[inv["id"]]["status"] == "revoked"

    def unchanged():
        assert w.invitations()[inv["id"]]["status"] == "pending"
    return resp, unchanged


@case("accept_invitation", {"platform": 403, "a_admin": ACCEPT_OK, "b_admin": ACCEPT_OK,
                            "a_member": ACCEPT_OK, "a_read_only": ACCEPT_OK,
                            "anonymous": ACCEPT_OK})
def _(w: World, caller: str):
    # an invitation of a throwaway tenant, to the caller's own address (a new one otherwise)
    target = w.api.create_tenant("mx-join")
    email = w.users[caller].email if caller in USERS else f"anon-{uid()}@example.com"
    inv, token = w.api.invite(target["id"], email, "member")
    if caller in USERS:
        resp = w.api.accept(token, bearer=w.bearer(caller))
    else:
        resp = w.api.accept(token, password=TENANT_PASSWORD, bearer=w.bearer(caller))
    if resp.status_code in ACCEPT_OK:
        answer = resp.json()
        assert answer["tenantId"] == target["id"] and answer["role"] == "member", answer
        if caller in USERS:
            assert answer["sub"] == w.users[caller].sub

    def unchanged():
        got = w.api.as_admin("GET", f"/v1/tenants/{target['id']}/invitations/{inv['id']}")
        assert got["status"] == "pending"
    return resp, unchanged


# ---- discovery and /v1/me


@case("discovery", {c: 200 for c in CALLERS})
def _(w: World, caller: str):
    email = f"who@{uid()}.example.com"
    resp = w.call(caller, "GET", "/v1/discovery", params={"email": email})
    if resp.status_code == 200:
        assert resp.json()["tenantId"] is None and resp.json()["poolId"] == w.a["poolId"]
    return resp, None


def _tenant_of(w: World, caller: str) -> dict:
    return w.a if w.users[caller].tenant_id == w.a["id"] else w.b


@case("me", statuses(200, platform=403, a_admin=200, b_admin=200, a_member=200,
                     a_read_only=200))
def _(w: World, caller: str):
    resp = w.call(caller, "GET", "/v1/me")
    if resp.status_code == 200:
        me = resp.json()
        assert me["sub"] == w.users[caller].sub and me["email"] == w.users[caller].email, me
        assert me["activeTenantId"] == _tenant_of(w, caller)["id"], me
    return resp, None


@case("switch_into_a", statuses(200, platform=403, a_admin=200, a_member=200, a_read_only=200))
def _(w: World, caller: str):
    resp = w.call(caller, "POST", "/v1/me/switch-tenant", {"tenantId": w.a["id"]})
    if resp.status_code == 200:
        body = resp.json()
        assert body["tokenType"] == "Bearer"
        assert_tenant_token(body["accessToken"], w.a["id"], w.users[caller].role)
    return resp, None


# ---- API keys, usage and the audit trail


def _a_key(w: World) -> dict:
    return w.api.as_admin("POST", f"{w.ta}/api-keys", {"name": f"k-{uid()}", "scopes": ["s"]}, status=201)


@case("create_api_key", tenant_admins(201))
def _(w: World, caller: str):
    name = f"mx-key-{uid()}"
    resp = w.call(caller, "POST", f"{w.ta}/api-keys", {"name": name})
    if resp.status_code == 201:
        assert resp.json()["key"].startswith("cog_") and resp.json()["tenantId"] == w.a["id"]

    def unchanged():
        keys = w.api.list_all(f"{w.ta}/api-keys", bearer=w.api.admin)
        assert name not in {k["name"] for k in keys}
    return resp, unchanged


@case("list_api_keys", tenant_admins(200), ok=_list_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", f"{w.ta}/api-keys"), None


@case("get_api_key", tenant_admins(200))
def _(w: World, caller: str):
    key = _a_key(w)
    resp = w.call(caller, "GET", f"{w.ta}/api-keys/{key['id']}")
    if resp.status_code == 200:
        assert "key" not in resp.json() and resp.json()["prefix"] == key["key"][:12]
    return resp, None


@case("patch_api_key", tenant_admins(200))
def _(w: World, caller: str):
    key = _a_key(w)
    resp = w.call(caller, "PATCH", f"{w.ta}/api-keys/{key['id']}", {"name": "renamed"})

    def unchanged():
        assert w.api.as_admin("GET", f"{w.ta}/api-keys/{key['id']}")["name"] == key["name"]
    return resp, unchanged


@case("revoke_api_key", tenant_admins(204))
def _(w: World, caller: str):
    key = _a_key(w)
    resp = w.call(caller, "DELETE", f"{w.ta}/api-keys/{key['id']}")

    def unchanged():
        assert w.api.as_admin("GET", f"{w.ta}/api-keys/{key['id']}")["status"] == "active"
    return resp, unchanged


@case("rotate_api_key", tenant_admins(201))
def _(w: World, caller: str):
    key = _a_key(w)
    resp = w.call(caller, "POST", f"{w.ta}/api-keys/{key['id']}/rotate", {"gracePeriodSeconds": 60})

    def unchanged():
        assert w.api.as_admin("GET", f"{w.ta}/api-keys/{key['id']}")["status"] == "active"
    return resp, unchanged


@case("verify_api_key", statuses(200, anonymous=401))
def _(w: World, caller: str):
    key = _a_key(w)
    return w.call(caller, "POST", "/v1/api-keys/verify", {"key": key["key"], "countUsage": False}), None


@case("report_usage", statuses(204, anonymous=401))
def _(w: World, caller: str):
    key = _a_key(w)
    body = {"items": [{"tenantId": w.a["id"], "keyId": key["id"], "count": 1}]}
    return w.call(caller, "POST", "/v1/api-keys/usage", body), None


@case("get_usage", tenant_admins(200))
def _(w: World, caller: str):
    resp = w.call(caller, "GET", f"{w.ta}/usage")
    if resp.status_code == 200:
        assert resp.json()["tenantId"] == w.a["id"] and "totals" in resp.json()
    return resp, None


@case("list_audit", tenant_admins(200), ok=_list_ok)
def _(w: World, caller: str):
    resp = w.call(caller, "GET", f"{w.ta}/audit")
    if resp.status_code == 200:
        assert all(e["tenantId"] == w.a["id"] for e in resp.json()["items"])
    return resp, None


@case("export_audit", tenant_admins(200))
def _(w: World, caller: str):
    return w.call(caller, "GET", f"{w.ta}/audit/export"), None


@case("set_audit_retention", platform_only(200))
def _(w: World, caller: str):
    return w.call(caller, "PUT", f"{w.ta}/audit/retention", {"days": 400}), None


@case("platform_audit", platform_only(200), ok=_list_ok)
def _(w: World, caller: str):
    return w.call(caller, "GET", "/v1/audit"), None


@case("platform_audit_export", platform_only(200))
def _(w: World, caller: str):
    return w.call(caller, "GET", "/v1/audit/export"), None


MATRIX = [(c, caller) for c in CASES for caller in CALLERS]


def test_every_case_covers_every_caller():
    for c in CASES:
        assert set(c.expect) == set(CALLERS), c.name
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("endpoint,caller", MATRIX,
                         ids=[f"{c.name}-{caller}" for c, caller in MATRIX])
def test_matrix(world, endpoint: Case, caller: str):
    expected = endpoint.expect[caller]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    resp, unchanged = endpoint.run(world, caller)
    assert resp.status_code in allowed, (
        f"{endpoint.name} as {caller}: expected HTTP {expected}, got {resp.status_code}: "
        f"{resp.text[:500]!r}")
    if resp.status_code >= 300:
        err = v1_error(resp)
        if resp.status_code in REFUSAL_CODES:
            assert err["code"] == REFUSAL_CODES[resp.status_code], err
        if resp.status_code == 401:
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), resp.headers
        if unchanged is not None:
            unchanged()
    elif endpoint.ok is not None:
        endpoint.ok(world, caller, resp)


# --------------------------------------------------------------------------- beyond the table


def test_bad_credentials_are_401(world):
    api, ta = world.api, world.ta
    key = api.admin.split(":", 1)[0]
    bad = {
        "garbage bearer": {"Authorization": "Bearer not-a-token"},
        "wrong admin secret": {"Authorization": f"Bearer {key}:{'x' * 40}"},
        "unknown admin key": {"Authorization": f"Bearer AKIA{uid(16).upper()}:{'y' * 40}"},
        "tampered access token": {"Authorization": "Bearer " + tamper(
            world.tokens["a_admin"], **{"custom:tenantId": world.b["id"]})},
        "basic scheme": {"Authorization": f"Basic {api.admin}"},
        "empty bearer": {"Authorization": "Bearer "},
    }
    for label, headers in bad.items():
        for method, path in (("GET", ta), ("GET", f"{ta}/members"), ("GET", "/v1/me")):
            resp = requests.request(method, api.server.url + path, headers=headers, timeout=30)
            err = assert_v1_error(resp, 401, "unauthorized")
            assert err, label


def test_unknown_tenant_is_404_for_platform_403_for_users(world):
    ghost = f"/v1/tenants/ghost-{uid()}"
    for path in (ghost, f"{ghost}/members", f"{ghost}/domains", f"{ghost}/invitations"):
        assert_v1_error(world.call("platform", "GET", path), 404, "not_found")
        for caller in USERS:  # a user cannot probe other tenants' ids
            assert_v1_error(world.call(caller, "GET", path), 403, "forbidden")
        assert_v1_error(world.call("anonymous", "GET", path), 401, "unauthorized")
    # B exists: to A's admin it looks exactly like a tenant that does not exist
    real = world.call("a_admin", "GET", f"/v1/tenants/{world.b['id']}")
    fake = world.call("a_admin", "GET", ghost)
    assert real.status_code == fake.status_code == 403
    assert v1_error(real)["code"] == v1_error(fake)["code"] == "forbidden"
    # unknown sub-resources of the caller's own tenant
    ghost_id = str(uuid.uuid4())
    for caller in ("platform", "a_admin"):
        assert_v1_error(world.call(caller, "GET", f"{world.ta}/invitations/{ghost_id}"), 404,
                        "not_found")
        assert_v1_error(world.call(caller, "GET", f"{world.ta}/members/{ghost_id}"), 404,
                        "not_found")


def test_no_cross_tenant_write_succeeds(world):
    """B's admin tries every write on A, A's admin every write on B: all 403, nothing moves."""
    api = world.api
    domain = world.fresh_domain()
    inv = world.fresh_invitation()
    before_a = world.snapshot()
    ta, a_member = world.ta, world.users["a_member"].sub
    attempts = [
        ("PATCH", ta, {"name": "Owned by B"}),
        ("POST", f"{ta}/domains", {"domain": f"{uid()}.example.com", "autoJoin": True}),
        ("PATCH", f"{ta}/domains/{domain}", {"autoJoin": True}),
        ("DELETE", f"{ta}/domains/{domain}", None),
        ("POST", f"{ta}/domains/{domain}/verify", None),
        ("POST", f"{ta}/members", {"sub": world.users["b_admin"].sub, "role": "admin"}),
        ("PATCH", f"{ta}/members/{a_member}", {"role": "admin"}),
        ("DELETE", f"{ta}/members/{a_member}", None),
        ("POST", f"{ta}/invitations", {"email": f"spy-{uid()}@example.com", "role": "admin"}),
        ("DELETE", f"{ta}/invitations/{inv['id']}", None),
        ("POST", f"{ta}/suspend", None),
        ("PUT", f"{ta}/tier", {"tier": "basic"}),
        ("DELETE", ta, None),
    ]
    for method, path, body in attempts:
        assert_v1_error(world.call("b_admin", method, path, body), 403, "forbidden")
    after_a = world.snapshot()
    assert after_a == before_a

    tb = f"/v1/tenants/{world.b['id']}"
    before_b = {"tenant": api.tenant(world.b["id"]),
                "members": api.list_all(f"{tb}/members"),
                "domains": api.list_all(f"{tb}/domains"),
                "invitations": api.list_all(f"{tb}/invitations")}
    for method, path, body in attempts:
        path = path.replace(ta, tb, 1)
        if f"{tb}/members/" in path:
            path = path.rsplit("/", 1)[0] + "/" + world.users["b_admin"].sub
        assert_v1_error(world.call("a_admin", method, path, body), 403, "forbidden")
    for method, path in (("GET", tb), ("GET", f"{tb}/members"), ("GET", f"{tb}/domains"),
                         ("GET", f"{tb}/invitations"),
                         ("GET", f"{tb}/members/{world.users['b_admin'].sub}")):
        for caller in ("a_admin", "a_member", "a_read_only"):
            assert_v1_error(world.call(caller, method, path), 403, "forbidden")
    after_b = {"tenant": api.tenant(world.b["id"]),
               "members": api.list_all(f"{tb}/members"),
               "domains": api.list_all(f"{tb}/domains"),
               "invitations": api.list_all(f"{tb}/invitations")}
    assert after_b == before_b


def test_member_reads_only_their_own_membership(world):
    for caller in ("a_member", "a_read_only"):
        me = world.users[caller]
        own = v1_ok(world.call(caller, "GET", f"{world.ta}/members/{me.sub}"))
        assert own["sub"] == me.sub and own["role"] == me.role and own["email"] == me.email
        for other in ("a_admin", "a_member", "a_read_only", "b_admin"):
            if other == caller:
                continue
            assert_v1_error(world.call(caller, "GET",
                                       f"{world.ta}/members/{world.users[other].sub}"),
                            403, "forbidden")
