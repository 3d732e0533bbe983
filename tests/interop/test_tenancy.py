"""Tenancy end to end (docs/tenancy.md): placement of standard and platinum tenants, a
consultant in several tenants, invitations, domain auto-join and discovery, tier moves,
suspension, and the rule that a user never holds a token for a tenant where they are not an
active member of an active tenant. Driven through `/v1` (requests) and the Cognito API
(boto3), on both backends; invitation tokens are read from the outbox with `cognate outbox`."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from botocore.exceptions import ClientError

from cognate_harness import (
    ACCEPT_OK,
    TENANT_PASSWORD,
    assert_no_tenant_claims,
    assert_tenant_tokens,
    assert_v1_error,
    attrs,
    jwt_claims,
    raises_cognito,
    uid,
    v1,
    v1_ok,
)

PW = TENANT_PASSWORD
SECONDS_PER_DAY = 86400
#: The body of `POST …/domains/{d}/verify` with which a platform admin attests a domain
#: (without it, Cognate looks the TXT record up in DNS).
ATTEST = {"method": "attest"}


def verify(server, pool_id: str, token: str, *, audience: str | None = None) -> dict:
    """PyJWT against the pool's JWKS URL alone (fresh client, no cached keys)."""
    key = jwt.PyJWKClient(server.jwks_url(pool_id), cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=server.issuer(pool_id),
                      audience=audience, options={"verify_aud": audience is not None,
                                                  "require": ["exp", "iat", "iss", "sub"]})


def not_signed_by(server, pool_id: str, token: str) -> None:
    """The pool's JWKS has no key for this token."""
    with pytest.raises(jwt.PyJWKClientError):
        jwt.PyJWKClient(server.jwks_url(pool_id), cache_keys=False).get_signing_key_from_jwt(token)


def sign_in_refused(tenancy, client_id: str, username: str, tenant_id: str | None = None,
                    codes=("NotAuthorizedException",)) -> ClientError:
    with pytest.raises(ClientError) as info:
        tenancy.sign_in(client_id, username, PW, tenant_id=tenant_id)
    err = info.value.response["Error"]
    assert err["Code"] in codes, f"expected {codes}, got {err!r}"
    return info.value


def refresh_refused(tenancy, client_id: str, refresh_token: str, tenant_id: str | None = None,
                    codes=("NotAuthorizedException",)) -> None:
    with pytest.raises(ClientError) as info:
        tenancy.refresh(client_id, refresh_token, tenant_id=tenant_id)
    err = info.value.response["Error"]
    assert err["Code"] in codes, f"expected {codes}, got {err!r}"


def invitation(tenancy, tenant_id: str, invitation_id: str) -> dict:
    return tenancy.as_admin("GET", f"/v1/tenants/{tenant_id}/invitations/{invitation_id}")


def member_roles(tenancy, tenant_id: str) -> dict[str, str]:
    """{sub: role} of the tenant's active members (a removed membership may stay listed with
    another status)."""
    return {m["sub"]: m["role"] for m in tenancy.list_all(f"/v1/tenants/{tenant_id}/members")
            if m["status"] == "active"}


def assert_not_a_member(tenancy, tenant_id: str, sub: str) -> None:
    """The platform admin sees no active membership: 404, or the row with another status."""
    resp = tenancy.call("GET", f"/v1/tenants/{tenant_id}/members/{sub}", bearer=tenancy.admin)
    if resp.status_code == 200:
        assert resp.json()["status"] != "active", resp.json()
    else:
        assert_v1_error(resp, 404, "not_found")
    assert sub not in member_roles(tenancy, tenant_id)


def self_sign_up(tenancy, client_id: str, pool_id: str, email: str) -> str:
    """SignUp in a pool (email as username when the pool uses it, else a plain username),
    confirmed by the admin API; returns the username to sign in with."""
    pool = tenancy.cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    username = email if "email" in (pool.get("UsernameAttributes") or []) else f"user-{uid()}"
    tenancy.cognito.sign_up(ClientId=client_id, Username=username, Password=PW,
                            UserAttributes=[{"Name": "email", "Value": email}])
    tenancy.cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username=username)
    return username


# --------------------------------------------------------------------------- placement


def test_shared_and_dedicated_placement(server, tenancy):
    acme = tenancy.create_tenant("acme", "standard", name="Acme")
    initech = tenancy.create_tenant("initech", "standard", name="Initech")
    globex = tenancy.create_tenant("globex", "platinum", name="Globex")
    shared_pool, shared_client = tenancy.shared_placement()

    for t in (acme, initech):
        assert t["placement"] == "shared" and t["status"] == "active" and t["mfa"] == "off", t
        assert t["poolId"] == shared_pool and t["clientId"] == shared_client, t
        assert t["issuer"] == server.issuer(shared_pool)
        assert isinstance(t["createdAt"], int) and t["updatedAt"] >= t["createdAt"]
    assert tenancy.tenant(acme["id"]) == acme

    assert globex["placement"] == "dedicated" and globex["status"] == "active", globex
    assert globex["poolId"] != shared_pool and globex["clientId"] != shared_client
    assert globex["issuer"] == server.issuer(globex["poolId"])
    # a dedicated pool has its own signing keys
    g_kids, s_kids = server.kids(globex["poolId"]), server.kids(shared_pool)
    assert g_kids and s_kids and not g_kids & s_kids, (g_kids, s_kids)
    # ... and is a user pool the Cognito API tunes; its default client is public
    assert tenancy.cognito.describe_user_pool(UserPoolId=globex["poolId"])["UserPool"]["Id"] \
        == globex["poolId"]
    client = tenancy.cognito.describe_user_pool_client(
        UserPoolId=globex["poolId"], ClientId=globex["clientId"])["UserPoolClient"]
    assert not client.get("ClientSecret")

    boss = tenancy.new_user(globex["id"], "admin")
    tokens = tenancy.sign_in(globex["clientId"], boss.email)
    access = verify(server, globex["poolId"], tokens["AccessToken"])
    id_claims = verify(server, globex["poolId"], tokens["IdToken"], audience=globex["clientId"])
    assert access["iss"].endswith("/" + globex["poolId"])
    assert access["sub"] == id_claims["sub"] == boss.sub
    assert access["client_id"] == globex["clientId"]
    assert id_claims["email"] == boss.email and id_claims["email_verified"] is True
    assert_tenant_tokens(tokens, globex, "admin", name="Globex", tier="platinum")
    not_signed_by(server, shared_pool, tokens["AccessToken"])
    # the Globex user lives in Globex's pool only
    sign_in_refused(tenancy, shared_client, boss.email,
                    codes=("NotAuthorizedException", "UserNotFoundException"))

    worker = tenancy.new_user(acme["id"], "member")
    a_tokens = tenancy.sign_in(acme["clientId"], worker.email)
    a_access = verify(server, shared_pool, a_tokens["AccessToken"])
    assert a_access["sub"] == worker.sub
    assert_tenant_tokens(a_tokens, acme, "member", name="Acme", tier="standard")
    not_signed_by(server, globex["poolId"], a_tokens["AccessToken"])

    # a dedicated pool's access token is a /v1 user credential for its own tenant only
    v1_ok(v1(server, "GET", f"/v1/tenants/{globex['id']}", bearer=tokens["AccessToken"]))
    assert_v1_error(v1(server, "GET", f"/v1/tenants/{acme['id']}",
                       bearer=tokens["AccessToken"]), 403, "forbidden")


def test_rename_reaches_the_tokens(server, tenancy):
    t = tenancy.create_tenant("rename", name="Before")
    user = tenancy.new_user(t["id"], "admin")
    assert_tenant_tokens(tenancy.sign_in(t["clientId"], user.email), t, "admin", name="Before")
    renamed = tenancy.as_admin("PATCH", f"/v1/tenants/{t['id']}", {"name": "After"})
    assert renamed["name"] == "After" and renamed["id"] == t["id"]
    assert renamed["updatedAt"] >= t["updatedAt"]
    tokens = tenancy.sign_in(t["clientId"], user.email)
    assert_tenant_tokens(tokens, renamed, "admin", name="After")
    assert [e["name"] for e in tenancy.me(tokens["AccessToken"])["tenants"]] == ["After"]


def test_tenant_ids(tenancy):
    taken = tenancy.create_tenant("taken")
    resp = tenancy.call("POST", "/v1/tenants", bearer=tenancy.admin,
                        body={"id": taken["id"], "name": "Again", "tier": "basic"})
    assert_v1_error(resp, 409, "conflict")
    for bad in ("ab", "Upper-Case", "under_score", "x" * 64):
        resp = tenancy.call("POST", "/v1/tenants", bearer=tenancy.admin,
                            body={"id": bad, "name": "Bad", "tier": "basic"})
        assert_v1_error(resp, 400, "invalid_request")
    # the id is derived from the name when absent
    name = f"Derived {uid()} Corp."
    made = tenancy.as_admin("POST", "/v1/tenants", {"name": name, "tier": "basic"}, status=201)
    assert re.fullmatch(r"[a-z0-9-]{3,63}", made["id"]) and made["id"].startswith("derived-")
    assert made["tier"] == "basic" and made["placement"] == "shared"


# --------------------------------------------------------------------------- consultant


def test_consultant_in_two_tenants(server, tenancy):
    acme = tenancy.create_tenant("acme", name="Acme")
    initech = tenancy.create_tenant("initech", name="Initech")
    stranger = tenancy.create_tenant("hooli", name="Hooli")
    shared_pool, client = tenancy.shared_placement()
    email = f"consultant-{uid()}@example.com"

    inv_a, tok_a = tenancy.invite(acme["id"], email, "member")
    inv_i, tok_i = tenancy.invite(initech["id"], email, "admin")
    assert tok_a != tok_i and inv_a["id"] != inv_i["id"]
    # the first invitation creates the account ...
    answer = v1_ok(tenancy.accept(tok_a, password=PW), ACCEPT_OK)
    assert answer == {"tenantId": acme["id"], "sub": answer["sub"], "role": "member"}, answer
    sub = answer["sub"]
    first = tenancy.sign_in(client, email)
    assert_tenant_tokens(first, acme, "member")
    # ... the second is accepted with that account's access token
    answer = v1_ok(tenancy.accept(tok_i, bearer=first["AccessToken"]), ACCEPT_OK)
    assert answer == {"tenantId": initech["id"], "sub": sub, "role": "admin"}, answer

    # ClientMetadata.tenantId chooses; without it, the tenant used last
    assert_tenant_tokens(tenancy.sign_in(client, email, tenant_id=initech["id"]), initech, "admin")
    assert_tenant_tokens(tenancy.sign_in(client, email), initech, "admin")
    assert_tenant_tokens(tenancy.sign_in(client, email, tenant_id=acme["id"]), acme, "member")
    acme_tokens = tenancy.sign_in(client, email)
    claims = assert_tenant_tokens(acme_tokens, acme, "member")
    assert claims["sub"] == sub

    # switch without a password: tokens for the other tenant, same client, that group only
    switched = v1_ok(tenancy.switch(acme_tokens["AccessToken"], initech["id"]))
    assert {"accessToken", "idToken", "refreshToken", "expiresIn", "tokenType", "tenant"} <= set(
        switched), switched
    assert switched["tokenType"] == "Bearer" and switched["expiresIn"] > 0
    assert initech["id"] in (switched["tenant"].get("id"), switched["tenant"].get("tenantId"))
    claims = assert_tenant_tokens(switched, initech, "admin")
    assert claims["sub"] == sub and claims["client_id"] == client
    verify(server, shared_pool, switched["accessToken"])
    # the new session's refresh token stays in that tenant
    assert_tenant_tokens(tenancy.refresh(client, switched["refreshToken"]), initech, "admin")
    # the user acts in the tenant their token is for: admin of Initech, not with Acme's token
    assert_v1_error(tenancy.call("GET", f"/v1/tenants/{initech['id']}/members",
                                 bearer=acme_tokens["AccessToken"]), 403, "forbidden")
    v1_ok(tenancy.call("GET", f"/v1/tenants/{initech['id']}/members",
                       bearer=switched["accessToken"]))

    # /v1/me: both tenants with their roles, the active one from the token
    me = tenancy.me(acme_tokens["AccessToken"])
    assert me["sub"] == sub and me["email"] == email and me["poolId"] == shared_pool, me
    assert me["username"] and me["activeTenantId"] == acme["id"], me
    assert {e["tenantId"]: e["role"] for e in me["tenants"]} == {acme["id"]: "member",
                                                                 initech["id"]: "admin"}, me
    for entry in me["tenants"]:
        want = acme if entry["tenantId"] == acme["id"] else initech
        assert entry["name"] == want["name"] and entry["tier"] == "standard", entry
        assert entry["status"] == "active" and "lastUsedAt" in entry, entry
    assert tenancy.me(switched["accessToken"])["activeTenantId"] == initech["id"]

    # refresh with ClientMetadata.tenantId: tokens (and a new refresh token) for that tenant
    to_initech = tenancy.refresh(client, acme_tokens["RefreshToken"], tenant_id=initech["id"])
    assert_tenant_tokens(to_initech, initech, "admin")
    assert to_initech.get("RefreshToken"), "a tenant switch by refresh returns a refresh token"
    assert_tenant_tokens(tenancy.refresh(client, to_initech["RefreshToken"]), initech, "admin")

    # never a tenant the user is not in
    for other in (stranger["id"], f"ghost-{uid()}"):
        sign_in_refused(tenancy, client, email, tenant_id=other)
        assert_v1_error(tenancy.switch(acme_tokens["AccessToken"], other), 403, "forbidden")
    fresh = tenancy.sign_in(client, email, tenant_id=acme["id"])
    refresh_refused(tenancy, client, fresh["RefreshToken"], tenant_id=stranger["id"])
    assert_tenant_tokens(tenancy.refresh(client, fresh["RefreshToken"]), acme, "member")

    # /v1/me is for users
    assert_v1_error(tenancy.call("GET", "/v1/me", bearer=None), 401, "unauthorized")
    assert_v1_error(tenancy.call("GET", "/v1/me", bearer=tenancy.admin), 403, "forbidden")
    assert_v1_error(tenancy.switch(tenancy.admin, acme["id"]), 403, "forbidden")


# --------------------------------------------------------------------------- invitations


def test_invitation_lifecycle(server, tenancy):
    t = tenancy.create_tenant("invites", name="Invites")
    email = f"ann-{uid()}@example.com"
    before = int(time.time()) - 2
    inv, token = tenancy.invite(t["id"], email, "member")
    after = int(time.time()) + 2
    assert inv["email"] == email and inv["role"] == "member" and inv["status"] == "pending", inv
    assert {"id", "expiresAt", "createdAt", "invitedBy"} <= set(inv), inv
    assert before <= inv["createdAt"] <= after
    assert inv["expiresAt"] - inv["createdAt"] == 7 * SECONDS_PER_DAY
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    listed = {i["id"]: i for i in tenancy.list_all(f"/v1/tenants/{t['id']}/invitations")}
    assert listed[inv["id"]]["status"] == "pending" and listed[inv["id"]]["email"] == email
    got = invitation(tenancy, t["id"], inv["id"])
    assert got["status"] == "pending" and token not in str(got)

    answer = v1_ok(tenancy.accept(token, password=PW), ACCEPT_OK)
    assert answer["tenantId"] == t["id"] and answer["role"] == "member" and answer["sub"]
    assert invitation(tenancy, t["id"], inv["id"])["status"] == "accepted"
    tokens = tenancy.sign_in(t["clientId"], email)  # email verified: a sign-in alias at once
    claims = assert_tenant_tokens(tokens, t, "member")
    assert claims["sub"] == answer["sub"]
    assert jwt_claims(tokens["IdToken"])["email_verified"] is True
    assert member_roles(tenancy, t["id"]) == {answer["sub"]: "member"}

    # a token works once
    assert_v1_error(tenancy.accept(token, password=PW), 410, "invitation_not_pending")
    assert_v1_error(tenancy.accept(token, bearer=tokens["AccessToken"]), 410,
                    "invitation_not_pending")
    # unknown tokens
    assert_v1_error(tenancy.accept("A" * 43, password=PW), 404, "not_found")
    assert_v1_error(tenancy.accept("garbage", password=PW), 404, "not_found")
    # revoking an accepted invitation is a conflict
    assert_v1_error(tenancy.call("DELETE", f"/v1/tenants/{t['id']}/invitations/{inv['id']}",
                                 bearer=tenancy.admin), 409, "conflict")


def test_revoked_invitation(server, tenancy):
    t = tenancy.create_tenant("invites")
    email = f"bob-{uid()}@example.com"
    inv, token = tenancy.invite(t["id"], email, "member")
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}/invitations/{inv['id']}", status=204)
    assert invitation(tenancy, t["id"], inv["id"])["status"] == "revoked"
    assert_v1_error(tenancy.accept(token, password=PW), 410, "invitation_not_pending")
    assert_v1_error(tenancy.call("DELETE", f"/v1/tenants/{t['id']}/invitations/{inv['id']}",
                                 bearer=tenancy.admin), 409, "conflict")
    assert member_roles(tenancy, t["id"]) == {}
    # a new invitation to the same address carries a new token
    inv2, token2 = tenancy.invite(t["id"], email, "member")
    assert inv2["id"] != inv["id"] and token2 != token
    v1_ok(tenancy.accept(token2, password=PW), ACCEPT_OK)


def test_expired_invitation(server, tenancy):
    t = tenancy.create_tenant("invites")
    email = f"cid-{uid()}@example.com"
    resp = tenancy.call("POST", f"/v1/tenants/{t['id']}/invitations", bearer=tenancy.admin,
                        body={"email": email, "role": "member", "expiresInSeconds": 1})
    short = v1_ok(resp, 201)
    token = tenancy.invitation_token(email)
    assert short["expiresAt"] - short["createdAt"] <= 1
    time.sleep(2.1)
    assert_v1_error(tenancy.accept(token, password=PW), 410, "invitation_not_pending")
    assert invitation(tenancy, t["id"], short["id"])["status"] == "expired"
    assert_v1_error(tenancy.call("DELETE", f"/v1/tenants/{t['id']}/invitations/{short['id']}",
                                 bearer=tenancy.admin), 409, "conflict")
    assert member_roles(tenancy, t["id"]) == {}


def test_invitation_input_limits(tenancy):
    t = tenancy.create_tenant("invites")
    path = f"/v1/tenants/{t['id']}/invitations"
    # the longest lifetime is 30 days
    resp = tenancy.call("POST", path, bearer=tenancy.admin,
                        body={"email": f"dee-{uid()}@example.com", "role": "member",
                              "expiresInSeconds": 30 * SECONDS_PER_DAY + 1})
    assert_v1_error(resp, 400, "invalid_request")
    ok = tenancy.as_admin("POST", path, {"email": f"eve-{uid()}@example.com", "role": "read_only",
                                         "expiresInSeconds": 30 * SECONDS_PER_DAY}, status=201)
    assert ok["expiresAt"] - ok["createdAt"] == 30 * SECONDS_PER_DAY and ok["role"] == "read_only"
    for body in ({"email": f"fay-{uid()}@example.com", "role": "owner"},
                 {"email": "not-an-address", "role": "member"},
                 {"role": "member"}):
        assert_v1_error(tenancy.call("POST", path, bearer=tenancy.admin, body=body),
                        400, "invalid_request")


def test_accepting_as_the_wrong_account_or_twice(server, tenancy):
    t = tenancy.create_tenant("invites")
    other = tenancy.create_tenant("elsewhere")
    someone = tenancy.new_user(t["id"], "member")
    someone_tokens = tenancy.sign_in(t["clientId"], someone.email)

    # an access token of another address
    inv, token = tenancy.invite(t["id"], f"gil-{uid()}@example.com", "admin")
    assert_v1_error(tenancy.accept(token, bearer=someone_tokens["AccessToken"]), 403,
                    "invitation_email_mismatch")
    assert invitation(tenancy, t["id"], inv["id"])["status"] == "pending"
    assert member_roles(tenancy, t["id"]) == {someone.sub: "member"}

    # an address that has an account already must sign in and accept with its token
    inv, token = tenancy.invite(other["id"], someone.email, "read_only")
    assert_v1_error(tenancy.accept(token, password=PW), 409, "account_exists")
    assert invitation(tenancy, other["id"], inv["id"])["status"] == "pending"
    sign_in_refused(tenancy, t["clientId"], someone.email, tenant_id=other["id"])
    answer = v1_ok(tenancy.accept(token, bearer=someone_tokens["AccessToken"]), ACCEPT_OK)
    assert answer == {"tenantId": other["id"], "sub": someone.sub, "role": "read_only"}
    assert_tenant_tokens(tenancy.sign_in(t["clientId"], someone.email, tenant_id=other["id"]),
                         other, "read_only")
    # the platform admin is not an invitee
    _, token = tenancy.invite(other["id"], f"hal-{uid()}@example.com", "member")
    assert_v1_error(tenancy.accept(token, password=PW, bearer=tenancy.admin), 403, "forbidden")
    v1_ok(tenancy.accept(token, password=PW), ACCEPT_OK)


def test_invitation_list_pagination(tenancy):
    t = tenancy.create_tenant("pages")
    made = {tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/invitations",
                             {"email": f"p{i}-{uid()}@example.com", "role": "member"},
                             status=201)["id"] for i in range(3)}
    seen, sizes, cursor = [], [], None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tenancy.as_admin("GET", f"/v1/tenants/{t['id']}/invitations", params=params)
        seen += [i["id"] for i in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sizes == [2, 1] and set(seen) == made and len(seen) == 3
    for bad in (0, 101):
        assert_v1_error(tenancy.call("GET", f"/v1/tenants/{t['id']}/invitations",
                                     bearer=tenancy.admin, params={"limit": bad}),
                        400, "invalid_request")


# --------------------------------------------------------------------------- domains


def test_domain_auto_join_and_discovery(server, tenancy):
    t = tenancy.create_tenant("initrode", name="Initrode")
    shared_pool, shared_client = tenancy.shared_placement()
    domain = f"{uid()}.example.com"
    made = tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/domains",
                            {"domain": domain, "autoJoin": True}, status=201)
    assert made["domain"] == domain and made["tenantId"] == t["id"], made
    assert made["verified"] is False and made["autoJoin"] is True and made["createdAt"]
    record = made["verificationRecord"]
    assert record["type"] == "TXT" and record["name"] == f"_cognate.{domain}", record
    assert record["value"].startswith("cognate-verification="), record
    # every read shows the same record while the domain is unverified, also for domains
    # claimed when the tenant was created
    listed = {d["domain"]: d for d in tenancy.list_all(f"/v1/tenants/{t['id']}/domains")}
    assert listed[domain]["verificationRecord"] == record
    other = tenancy.create_tenant("initrode-b", domains=[f"{uid()}.example.org"])
    [claimed] = tenancy.list_all(f"/v1/tenants/{other['id']}/domains")
    assert claimed["verificationRecord"]["value"].startswith("cognate-verification="), claimed
    assert claimed["verificationRecord"]["value"] != record["value"]

    # unverified: discovery answers the shared pool without a tenant
    found = tenancy.discover(f"ann@{domain}")
    assert found["email"] == f"ann@{domain}" and found["tenantId"] is None, found
    assert found["poolId"] == shared_pool and found["clientId"] == shared_client

    # a tenant admin may not attest their own domain (only a DNS check, test_domain_dns.py);
    # the platform admin attests
    boss = tenancy.new_user(t["id"], "admin")
    boss_token = tenancy.sign_in(t["clientId"], boss.email)["AccessToken"]
    assert_v1_error(tenancy.call("POST", f"/v1/tenants/{t['id']}/domains/{domain}/verify",
                                 bearer=boss_token, body=ATTEST), 403, "forbidden")
    verified = tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/domains/{domain}/verify", ATTEST)
    assert verified["domain"] == domain and verified["verified"] is True, verified
    listed = {d["domain"]: d for d in tenancy.list_all(f"/v1/tenants/{t['id']}/domains")}
    assert listed[domain]["verified"] is True and listed[domain]["autoJoin"] is True

    found = tenancy.discover(f"ann@{domain}")
    assert found == {"email": f"ann@{domain}", "tenantId": t["id"], "tenantName": "Initrode",
                     "poolId": t["poolId"], "clientId": t["clientId"], "issuer": t["issuer"],
                     "idp": "cognito"}, found

    # SignUp at a verified auto-join domain joins the tenant as member
    username = self_sign_up(tenancy, found["clientId"], found["poolId"], f"ann-{uid()}@{domain}")
    tokens = tenancy.sign_in(found["clientId"], username)
    claims = assert_tenant_tokens(tokens, t, "member")
    assert member_roles(tenancy, t["id"])[claims["sub"]] == "member"

    # autoJoin off: sign-ups stay outside
    patched = tenancy.as_admin("PATCH", f"/v1/tenants/{t['id']}/domains/{domain}",
                               {"autoJoin": False})
    assert patched["autoJoin"] is False and patched["verified"] is True
    username = self_sign_up(tenancy, shared_client, shared_pool, f"bo-{uid()}@{domain}")
    outsider = tenancy.sign_in(shared_client, username)
    assert_no_tenant_claims(outsider["AccessToken"])
    assert_no_tenant_claims(outsider["IdToken"])
    assert jwt_claims(outsider["AccessToken"])["sub"] not in member_roles(tenancy, t["id"])

    # one tenant per domain; consumer mail domains are refused
    second = tenancy.create_tenant("second")
    assert_v1_error(tenancy.call("POST", f"/v1/tenants/{second['id']}/domains",
                                 bearer=tenancy.admin, body={"domain": domain, "autoJoin": True}),
                    409, "conflict")
    for consumer in ("gmail.com", "outlook.com"):
        assert_v1_error(tenancy.call("POST", f"/v1/tenants/{second['id']}/domains",
                                     bearer=tenancy.admin,
                                     body={"domain": consumer, "autoJoin": True}),
                        422, "consumer_domain")


def test_unverified_domain_does_not_join(server, tenancy):
    t = tenancy.create_tenant("unverified")
    shared_pool, shared_client = tenancy.shared_placement()
    domain = f"{uid()}.example.com"
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/domains",
                     {"domain": domain, "autoJoin": True}, status=201)
    assert tenancy.discover(f"cy@{domain}")["tenantId"] is None
    username = self_sign_up(tenancy, shared_client, shared_pool, f"cy-{uid()}@{domain}")
    tokens = tenancy.sign_in(shared_client, username)
    assert_no_tenant_claims(tokens["AccessToken"])
    assert member_roles(tenancy, t["id"]) == {}

    # verifying later does not move existing users
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/domains/{domain}/verify", ATTEST)
    assert tenancy.discover(f"cy@{domain}")["tenantId"] == t["id"]
    assert_no_tenant_claims(tenancy.sign_in(shared_client, username)["AccessToken"])
    assert member_roles(tenancy, t["id"]) == {}

    # deleting the domain frees it for another tenant
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}/domains/{domain}", status=204)
    assert tenancy.discover(f"cy@{domain}")["tenantId"] is None
    other = tenancy.create_tenant("other")
    tenancy.as_admin("POST", f"/v1/tenants/{other['id']}/domains",
                     {"domain": domain, "autoJoin": False}, status=201)


def test_tenant_created_with_domains(tenancy):
    domains = sorted(f"{uid()}.example.org" for _ in range(2))
    t = tenancy.create_tenant("withdomains", domains=domains)
    listed = tenancy.list_all(f"/v1/tenants/{t['id']}/domains")
    assert sorted(d["domain"] for d in listed) == domains
    assert all(d["tenantId"] == t["id"] and d["verified"] is False for d in listed), listed
    # a tenant's domains go with it
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}", status=204)
    assert_v1_error(tenancy.call("GET", f"/v1/tenants/{t['id']}", bearer=tenancy.admin),
                    404, "not_found")
    again = tenancy.create_tenant("reuse")
    tenancy.as_admin("POST", f"/v1/tenants/{again['id']}/domains",
                     {"domain": domains[0], "autoJoin": False}, status=201)


# --------------------------------------------------------------------------- tiers


def test_tier_upgrade_and_downgrade(server, tenancy):
    t = tenancy.create_tenant("umbrella", "standard", name="Umbrella")
    shared_pool, shared_client = tenancy.shared_placement()
    users = [tenancy.new_user(t["id"], "admin"), tenancy.new_user(t["id"], "member")]
    before = {u.email: tenancy.sign_in(shared_client, u.email, tenant_id=t["id"]) for u in users}
    for u in users:
        assert assert_tenant_tokens(before[u.email], t, u.role)["sub"] == u.sub

    resp = tenancy.call("PUT", f"/v1/tenants/{t['id']}/tier", bearer=tenancy.admin,
                        body={"tier": "platinum"})
    answer = v1_ok(resp)
    moved = tenancy.tenant(t["id"])
    assert answer["poolId"] == moved["poolId"] and answer["tier"] == "platinum", answer
    assert moved["placement"] == "dedicated" and moved["tier"] == "platinum", moved
    assert moved["poolId"] != shared_pool and moved["clientId"] != shared_client
    assert moved["issuer"] == server.issuer(moved["poolId"])
    assert not server.kids(moved["poolId"]) & server.kids(shared_pool)

    dedicated = {}
    for u in users:
        tokens = tenancy.sign_in(moved["clientId"], u.email)  # same password
        access = verify(server, moved["poolId"], tokens["AccessToken"])
        assert access["sub"] == u.sub, "the move keeps the sub"
        assert_tenant_tokens(tokens, moved, u.role, tier="platinum")
        dedicated[u.email] = tokens
        # the tenant's refresh tokens were revoked, and the shared pool lost the account
        refresh_refused(tenancy, shared_client, before[u.email]["RefreshToken"])
        sign_in_refused(tenancy, shared_client, u.email,
                        codes=("NotAuthorizedException", "UserNotFoundException"))
    assert member_roles(tenancy, t["id"]) == {u.sub: u.role for u in users}

    # and back to the shared pool
    back = v1_ok(tenancy.call("PUT", f"/v1/tenants/{t['id']}/tier", bearer=tenancy.admin,
                              body={"tier": "standard"}))
    assert back["tier"] == "standard" and back["placement"] == "shared", back
    back = tenancy.tenant(t["id"])
    assert back["poolId"] == shared_pool and back["clientId"] == shared_client, back
    for u in users:
        tokens = tenancy.sign_in(shared_client, u.email)
        assert verify(server, shared_pool, tokens["AccessToken"])["sub"] == u.sub
        assert_tenant_tokens(tokens, back, u.role, tier="standard")
        refresh_refused(tenancy, moved["clientId"], dedicated[u.email]["RefreshToken"],
                        codes=("NotAuthorizedException", "ResourceNotFoundException"))
    assert member_roles(tenancy, t["id"]) == {u.sub: u.role for u in users}

    # between basic and standard only the tier changes: same pool, client and sessions
    kept = tenancy.sign_in(shared_client, users[1].email)
    basic = v1_ok(tenancy.call("PUT", f"/v1/tenants/{t['id']}/tier", bearer=tenancy.admin,
                               body={"tier": "basic"}))
    assert basic["tier"] == "basic" and basic["poolId"] == shared_pool
    assert basic["clientId"] == shared_client
    tenancy.refresh(shared_client, kept["RefreshToken"])
    assert_tenant_tokens(tenancy.sign_in(shared_client, users[1].email), basic, "member",
                         tier="basic")
    # unknown tier
    assert_v1_error(tenancy.call("PUT", f"/v1/tenants/{t['id']}/tier", bearer=tenancy.admin,
                                 body={"tier": "gold"}), 400, "invalid_request")


def test_downgrade_that_collides_changes_nothing(server, tenancy):
    home = tenancy.create_tenant("home")
    moving = tenancy.create_tenant("moving")
    shared_pool, shared_client = tenancy.shared_placement()
    consultant = tenancy.new_user(home["id"], "member")
    first = tenancy.sign_in(shared_client, consultant.email)
    tenancy.join(moving["id"], consultant, "admin", first["AccessToken"])

    v1_ok(tenancy.call("PUT", f"/v1/tenants/{moving['id']}/tier", bearer=tenancy.admin,
                       body={"tier": "platinum"}))
    moved = tenancy.tenant(moving["id"])
    assert moved["placement"] == "dedicated"
    # the shared-pool account stays for Home; Moving signs in through its own pool
    home_tokens = tenancy.sign_in(shared_client, consultant.email, tenant_id=home["id"])
    assert assert_tenant_tokens(home_tokens, home, "member")["sub"] == consultant.sub
    sign_in_refused(tenancy, shared_client, consultant.email, tenant_id=moving["id"])
    moved_tokens = tenancy.sign_in(moved["clientId"], consultant.email)
    assert assert_tenant_tokens(moved_tokens, moved, "admin")["sub"] == consultant.sub

    # back to the shared pool would collide with the consultant's account there: all or nothing
    assert_v1_error(tenancy.call("PUT", f"/v1/tenants/{moving['id']}/tier", bearer=tenancy.admin,
                                 body={"tier": "standard"}), 409, "conflict")
    still = tenancy.tenant(moving["id"])
    for key in ("tier", "placement", "poolId", "clientId", "issuer", "status"):
        assert still[key] == moved[key], (key, still, moved)
    assert_tenant_tokens(tenancy.sign_in(moved["clientId"], consultant.email), moved, "admin")
    assert_tenant_tokens(tenancy.sign_in(shared_client, consultant.email, tenant_id=home["id"]),
                         home, "member")
    assert member_roles(tenancy, moving["id"]) == {consultant.sub: "admin"}


# --------------------------------------------------------------------------- suspension


def test_suspension(server, tenancy):
    s = tenancy.create_tenant("stark", name="Stark")
    o = tenancy.create_tenant("wayne", name="Wayne")
    _, client = tenancy.shared_placement()
    consultant = tenancy.new_user(s["id"], "member")
    tenancy.join(o["id"], consultant, "member",
                 tenancy.sign_in(client, consultant.email)["AccessToken"])
    solo = tenancy.new_user(s["id"], "admin")

    c_other = tenancy.sign_in(client, consultant.email, tenant_id=o["id"])
    c_s = tenancy.sign_in(client, consultant.email, tenant_id=s["id"])  # used last
    solo_s = tenancy.sign_in(client, solo.email)
    assert_tenant_tokens(solo_s, s, "admin")

    suspended = tenancy.as_admin("POST", f"/v1/tenants/{s['id']}/suspend")
    assert suspended["status"] == "suspended" and suspended["id"] == s["id"]
    assert tenancy.tenant(s["id"])["status"] == "suspended"

    sign_in_refused(tenancy, client, consultant.email, tenant_id=s["id"])
    err = sign_in_refused(tenancy, client, solo.email)  # their only tenant
    assert "suspended" in err.response["Error"]["Message"].lower(), err.response["Error"]
    refresh_refused(tenancy, client, c_s["RefreshToken"])
    refresh_refused(tenancy, client, solo_s["RefreshToken"])
    refresh_refused(tenancy, client, c_other["RefreshToken"], tenant_id=s["id"])
    assert_v1_error(tenancy.switch(c_other["AccessToken"], s["id"]), 403)
    # the consultant's other tenant is untouched
    assert_tenant_tokens(tenancy.refresh(client, c_other["RefreshToken"]), o, "member")
    assert_tenant_tokens(tenancy.sign_in(client, consultant.email, tenant_id=o["id"]), o, "member")
    assert_tenant_tokens(tenancy.sign_in(client, consultant.email), o, "member")
    assert member_roles(tenancy, s["id"]) == {consultant.sub: "member", solo.sub: "admin"}

    reactivated = tenancy.as_admin("POST", f"/v1/tenants/{s['id']}/reactivate")
    assert reactivated["status"] == "active"
    assert_tenant_tokens(tenancy.sign_in(client, solo.email), s, "admin")
    assert_tenant_tokens(tenancy.sign_in(client, consultant.email, tenant_id=s["id"]), s, "member")
    # reactivation does not bring revoked tokens back
    refresh_refused(tenancy, client, c_s["RefreshToken"])
    refresh_refused(tenancy, client, solo_s["RefreshToken"])


# --------------------------------------------------------------------------- membership rule


def test_removed_member_gets_no_token_for_the_tenant(server, tenancy):
    p = tenancy.create_tenant("pied", name="Pied")
    q = tenancy.create_tenant("hooli", name="Hooli")
    shared_pool, client = tenancy.shared_placement()
    boss = tenancy.new_user(p["id"], "admin")
    user = tenancy.new_user(p["id"], "member")
    tenancy.join(q["id"], user, "member", tenancy.sign_in(client, user.email)["AccessToken"])
    username = tenancy.me(tenancy.sign_in(client, user.email)["AccessToken"])["username"]
    # the home tenant is the first one joined
    assert attrs(tenancy.cognito.admin_get_user(UserPoolId=shared_pool, Username=username)[
        "UserAttributes"]).get("custom:tenantId") == p["id"]

    u_q = tenancy.sign_in(client, user.email, tenant_id=q["id"])
    u_p = tenancy.sign_in(client, user.email, tenant_id=p["id"])  # used last
    boss_token = tenancy.sign_in(client, boss.email)["AccessToken"]

    resp = tenancy.call("DELETE", f"/v1/tenants/{p['id']}/members/{user.sub}", bearer=boss_token)
    assert v1_ok(resp, 204) is None
    assert_not_a_member(tenancy, p["id"], user.sub)
    refresh_refused(tenancy, client, u_p["RefreshToken"])
    refresh_refused(tenancy, client, u_q["RefreshToken"], tenant_id=p["id"])
    sign_in_refused(tenancy, client, user.email, tenant_id=p["id"])
    assert_v1_error(tenancy.switch(u_q["AccessToken"], p["id"]), 403, "forbidden")
    # the remaining tenant still works, and sign-in falls back to it
    assert_tenant_tokens(tenancy.refresh(client, u_q["RefreshToken"]), q, "member")
    after = tenancy.sign_in(client, user.email)
    assert_tenant_tokens(after, q, "member")
    me = tenancy.me(after["AccessToken"])
    assert [(e["tenantId"], e["role"]) for e in me["tenants"]] == [(q["id"], "member")], me
    # the home tenant moves to the next one
    assert attrs(tenancy.cognito.admin_get_user(UserPoolId=shared_pool, Username=username)[
        "UserAttributes"]).get("custom:tenantId") == q["id"]

    # nobody writes custom:tenant* through the Cognito API
    with pytest.raises(ClientError) as info:
        tenancy.cognito.update_user_attributes(
            AccessToken=after["AccessToken"],
            UserAttributes=[{"Name": "custom:tenantId", "Value": p["id"]}])
    assert info.value.response["Error"]["Code"] in {"NotAuthorizedException",
                                                    "InvalidParameterException"}
    for name in ("custom:tenantId", "custom:tenantName", "custom:tenantTier",
                 "custom:tenantRole"):
        with raises_cognito("InvalidParameterException"):
            tenancy.cognito.admin_update_user_attributes(
                UserPoolId=shared_pool, Username=username,
                UserAttributes=[{"Name": name, "Value": p["id"]}])
    with raises_cognito("InvalidParameterException"):
        tenancy.cognito.admin_create_user(
            UserPoolId=shared_pool, Username=f"forged-{uid()}", MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "custom:tenantId", "Value": p["id"]}])
    got = attrs(tenancy.cognito.admin_get_user(UserPoolId=shared_pool, Username=username)[
        "UserAttributes"])
    assert got.get("custom:tenantId") == q["id"] and got.get("custom:tenantName") == "Hooli"
    tokens = tenancy.sign_in(client, user.email)
    assert all(jwt_claims(tokens[k]).get("custom:tenantId") == q["id"]
               for k in ("AccessToken", "IdToken"))


def test_dedicated_pool_refuses_tenant_attributes(tenancy):
    t = tenancy.create_tenant("silo", "platinum")
    with raises_cognito("InvalidParameterException"):
        tenancy.cognito.admin_create_user(
            UserPoolId=t["poolId"], Username=f"forged-{uid()}", MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "custom:tenantId", "Value": "someone-else"}])
    user = tenancy.new_user(t["id"], "member")
    username = tenancy.me(tenancy.sign_in(t["clientId"], user.email)["AccessToken"])["username"]
    with raises_cognito("InvalidParameterException"):
        tenancy.cognito.admin_update_user_attributes(
            UserPoolId=t["poolId"], Username=username,
            UserAttributes=[{"Name": "custom:tenantId", "Value": "someone-else"}])
    got = attrs(tenancy.cognito.admin_get_user(UserPoolId=t["poolId"], Username=username)[
        "UserAttributes"])
    assert got.get("custom:tenantId") == t["id"] and got.get("custom:tenantTier") == "platinum"


def test_roles_are_read_at_every_request(server, tenancy):
    t = tenancy.create_tenant("cyberdyne")
    one, two = tenancy.new_user(t["id"], "admin"), tenancy.new_user(t["id"], "admin")
    tok_one = tenancy.sign_in(t["clientId"], one.email)["AccessToken"]
    tok_two = tenancy.sign_in(t["clientId"], two.email)["AccessToken"]
    members = f"/v1/tenants/{t['id']}/members"
    v1_ok(tenancy.call("GET", members, bearer=tok_two))

    demoted = v1_ok(tenancy.call("PATCH", f"{members}/{two.sub}", bearer=tok_one,
                                 body={"role": "member"}))
    assert demoted["sub"] == two.sub and demoted["role"] == "member"
    # the same (unexpired) token no longer carries admin rights
    assert_v1_error(tenancy.call("GET", members, bearer=tok_two), 403, "forbidden")
    assert v1_ok(tenancy.call("GET", f"{members}/{two.sub}", bearer=tok_two))["role"] == "member"
    # fresh tokens carry the new role and its group only
    assert_tenant_tokens(tenancy.sign_in(t["clientId"], two.email), t, "member")
    # the last admin cannot demote or remove themselves
    assert_v1_error(tenancy.call("PATCH", f"{members}/{one.sub}", bearer=tok_one,
                                 body={"role": "read_only"}), 409, "last_admin")
    assert_v1_error(tenancy.call("DELETE", f"{members}/{one.sub}", bearer=tok_one),
                    409, "last_admin")
    assert_v1_error(tenancy.call("PATCH", f"{members}/{two.sub}", bearer=tok_one,
                                 body={"role": "owner"}), 400, "invalid_request")
    # promoted again: admin rights at once; then removed: none at once
    v1_ok(tenancy.call("PATCH", f"{members}/{two.sub}", bearer=tenancy.admin,
                       body={"role": "admin"}))
    v1_ok(tenancy.call("GET", members, bearer=tok_two))
    v1_ok(tenancy.call("DELETE", f"{members}/{two.sub}", bearer=tok_one), 204)
    # removal revokes the member's sessions in the tenant: the token itself is dead now
    assert_v1_error(tenancy.call("GET", members, bearer=tok_two), 401, "unauthorized")
    assert member_roles(tenancy, t["id"]) == {one.sub: "admin"}
    # without a membership, tokens carry no tenant claims
    assert_no_tenant_claims(tenancy.sign_in(t["clientId"], two.email)["AccessToken"])


def test_deleting_a_tenant_keeps_its_users(server, tenancy):
    doomed = tenancy.create_tenant("doomed")
    keeper = tenancy.create_tenant("keeper")
    _, client = tenancy.shared_placement()
    user = tenancy.new_user(doomed["id"], "member")
    d_tokens = tenancy.sign_in(client, user.email)
    tenancy.join(keeper["id"], user, "admin", d_tokens["AccessToken"])
    lonely = tenancy.new_user(doomed["id"], "admin")
    pending, token = tenancy.invite(doomed["id"], f"late-{uid()}@example.com", "member")

    tenancy.as_admin("DELETE", f"/v1/tenants/{doomed['id']}", status=204)
    assert_v1_error(tenancy.call("GET", f"/v1/tenants/{doomed['id']}", bearer=tenancy.admin),
                    404, "not_found")
    assert_v1_error(tenancy.call("DELETE", f"/v1/tenants/{doomed['id']}", bearer=tenancy.admin),
                    404, "not_found")
    # memberships and invitations went with it; users stay in their pool
    assert_v1_error(tenancy.accept(token, password=PW), 404, "not_found")
    refresh_refused(tenancy, client, d_tokens["RefreshToken"])
    sign_in_refused(tenancy, client, user.email, tenant_id=doomed["id"])
    assert_tenant_tokens(tenancy.sign_in(client, user.email), keeper, "admin")
    tokens = tenancy.sign_in(client, lonely.email)  # no tenant left: tokens without tenant claims
    assert_no_tenant_claims(tokens["AccessToken"])
    me = tenancy.me(tokens["AccessToken"])
    assert me["tenants"] == [] and me["activeTenantId"] is None, me
    assert_v1_error(tenancy.call("GET", f"/v1/tenants/{doomed['id']}/invitations/{pending['id']}",
                                 bearer=tenancy.admin), 404, "not_found")


def test_openapi_lists_the_surface(server):
    resp = v1(server, "GET", "/v1/openapi.json")
    doc = v1_ok(resp)
    assert str(doc["openapi"]).startswith("3.1"), doc.get("openapi")
    paths = {re.sub(r"\{[^}]+\}", "{}", p) for p in doc["paths"]}
    for want in ("/v1/tenants", "/v1/tenants/{}", "/v1/tenants/{}/suspend",
                 "/v1/tenants/{}/reactivate", "/v1/tenants/{}/tier", "/v1/tenants/{}/domains",
                 "/v1/tenants/{}/domains/{}", "/v1/tenants/{}/domains/{}/verify",
                 "/v1/tenants/{}/members", "/v1/tenants/{}/members/{}",
                 "/v1/tenants/{}/invitations", "/v1/tenants/{}/invitations/{}",
                 "/v1/invitations/accept", "/v1/discovery", "/v1/me", "/v1/me/switch-tenant"):
        assert want in paths, f"{want} missing from the OpenAPI paths {sorted(paths)}"

