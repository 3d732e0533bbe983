"""Pool isolation, awkward values (unicode, LIKE wildcards, quotes) and concurrent writers."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from cognate_harness import attrs, raises_cognito, uid


def test_users_and_groups_are_confined_to_their_pool(cognito, make_pool, make_user):
    a, b = make_pool()["Id"], make_pool()["Id"]
    make_user(a, "only-in-a")
    cognito.create_group(UserPoolId=b, GroupName="group-in-b")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user(UserPoolId=b, Username="only-in-a")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_add_user_to_group(UserPoolId=b, Username="only-in-a",
                                        GroupName="group-in-b")
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_add_user_to_group(UserPoolId=a, Username="only-in-a",
                                        GroupName="group-in-b")
    assert cognito.list_users(UserPoolId=b)["Users"] == []
    assert [u["Username"] for u in cognito.list_users(UserPoolId=a)["Users"]] == ["only-in-a"]
    with raises_cognito("UserNotFoundException"):
        cognito.admin_delete_user(UserPoolId=b, Username="only-in-a")
    cognito.admin_get_user(UserPoolId=a, Username="only-in-a")


def test_recreated_user_gets_a_new_sub(cognito, pool_id, make_user):
    first = attrs(make_user(pool_id, "phoenix")["Attributes"])["sub"]
    cognito.admin_delete_user(UserPoolId=pool_id, Username="phoenix")
    second = attrs(make_user(pool_id, "phoenix")["Attributes"])["sub"]
    assert first != second


def test_unicode_roundtrip(cognito, pool_id, make_user):
    make_user(pool_id, "jürgen.山田", {"given_name": "Zoë 山田 🚀", "family_name": "O'Brien \"Q\""})
    got = cognito.admin_get_user(UserPoolId=pool_id, Username="jürgen.山田")
    assert got["Username"] == "jürgen.山田"
    a = attrs(got["UserAttributes"])
    assert a["given_name"] == "Zoë 山田 🚀"
    assert a["family_name"] == "O'Brien \"Q\""
    listed = cognito.list_users(UserPoolId=pool_id, Filter='given_name ^= "Zoë 山"')["Users"]
    assert [u["Username"] for u in listed] == ["jürgen.山田"]


@pytest.mark.parametrize("filter_,expected", [
    ('email ^= "a_"', ["under"]),  # "_" is not a wildcard
    ('email ^= "a%"', ["percent"]),  # "%" is not a wildcard
    ('email ^= "%"', []),
    ('username ^= "_"', []),
    ('email = "a_b@x.test"', ["under"]),
    ('email = "aXb@x.test"', ["plain"]),
    ("email = \"x' OR '1'='1\"", []),
    ('username ^= "\\\\"', []),
])
def test_filter_values_are_literal(cognito, pool_id, make_user, filter_, expected):
    make_user(pool_id, "under", {"email": "a_b@x.test"})
    make_user(pool_id, "percent", {"email": "a%b@x.test"})
    make_user(pool_id, "plain", {"email": "aXb@x.test"})
    got = sorted(u["Username"] for u in cognito.list_users(UserPoolId=pool_id,
                                                            Filter=filter_)["Users"])
    assert got == expected, filter_


def test_alias_conflict_on_update(cognito, make_pool, make_user):
    pool = make_pool(AliasAttributes=["email"])["Id"]
    make_user(pool, "holder", {"email": "taken@example.com", "email_verified": "true"})
    make_user(pool, "other", {"email": "free@example.com", "email_verified": "true"})
    with raises_cognito("AliasExistsException"):
        cognito.admin_update_user_attributes(UserPoolId=pool, Username="other", UserAttributes=[
            {"Name": "email", "Value": "taken@example.com"},
            {"Name": "email_verified", "Value": "true"}])
    a = attrs(cognito.admin_get_user(UserPoolId=pool, Username="other")["UserAttributes"])
    assert a["email"] == "free@example.com"


def test_email_username_conflict_on_update(cognito, make_pool, make_user):
    pool = make_pool(UsernameAttributes=["email"])["Id"]
    make_user(pool, "one@example.com", {"email": "one@example.com"})
    make_user(pool, "two@example.com", {"email": "two@example.com"})
    with raises_cognito("AliasExistsException"):
        cognito.admin_update_user_attributes(
            UserPoolId=pool, Username="two@example.com",
            UserAttributes=[{"Name": "email", "Value": "one@example.com"}])
    a = attrs(cognito.admin_get_user(UserPoolId=pool, Username="two@example.com")[
        "UserAttributes"])
    assert a["email"] == "two@example.com"


def _race(server, fn, n=8):
    """Run fn(client) in n threads released together; return outcome strings."""
    clients = [server.client() for _ in range(n)]
    barrier = threading.Barrier(n)
    out: list[str] = []
    lock = threading.Lock()

    def run(client):
        barrier.wait()
        try:
            fn(client)
            res = "ok"
        except ClientError as exc:
            res = (f"{exc.response['Error']['Code']}:"
                   f"{exc.response['ResponseMetadata']['HTTPStatusCode']}")
        with lock:
            out.append(res)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(out) == n, "a racing call did not finish"
    return sorted(out)


def test_concurrent_create_group(server, pool_id):
    out = _race(server, lambda c: c.create_group(UserPoolId=pool_id, GroupName="racy"))
    assert out == sorted(["ok"] + ["GroupExistsException:400"] * 7), out


def test_concurrent_create_resource_server(server, pool_id):
    out = _race(server, lambda c: c.create_resource_server(UserPoolId=pool_id,
                                                           Identifier="racy", Name="r"))
    assert out == sorted(["ok"] + ["InvalidParameterException:400"] * 7), out


def test_concurrent_add_to_group_is_idempotent(server, cognito, pool_id, make_user):
    make_user(pool_id, "member")
    cognito.create_group(UserPoolId=pool_id, GroupName="club")
    out = _race(server, lambda c: c.admin_add_user_to_group(
        UserPoolId=pool_id, Username="member", GroupName="club"))
    assert out == ["ok"] * 8, out
    users = cognito.list_users_in_group(UserPoolId=pool_id, GroupName="club")["Users"]
    assert [u["Username"] for u in users] == ["member"]


def test_concurrent_custom_attribute_additions(server, cognito, pool_id):
    """Concurrent AddCustomAttributes on one pool: no 5xx and no lost update. (Cognate may
    refuse a racing call with ConcurrentModificationException, a 4xx the caller can retry.)"""
    names = [f"a{i}" for i in range(8)]
    it = iter(names)
    done: dict[str, str] = {}
    lock = threading.Lock()

    def add(c):
        with lock:
            name = next(it)
        try:
            c.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[
                {"Name": name, "AttributeDataType": "String"}])
        finally:
            with lock:
                done[name] = "called"
        with lock:
            done[name] = "ok"

    out = _race(server, add)
    assert set(out) <= {"ok", "ConcurrentModificationException:400"}, out
    assert out.count("ok") >= 1
    schema = {a["Name"] for a in cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"][
        "SchemaAttributes"]}
    acknowledged = {n for n, state in done.items() if state == "ok"}
    assert len(acknowledged) == out.count("ok")
    assert {f"custom:{n}" for n in acknowledged} <= schema, "an acknowledged attribute was lost"
    assert not {f"custom:{n}" for n in set(names) - acknowledged} & schema, (
        "a refused AddCustomAttributes call still added its attribute")


def test_unique_names_across_many_pools(cognito):
    name = f"same-name-{uid()}"
    ids = {cognito.create_user_pool(PoolName=name)["UserPool"]["Id"] for _ in range(3)}
    assert len(ids) == 3  # pool names are not unique in Cognito


def test_two_admins_demoting_each_other_at_once_leave_an_admin(server, tenancy):
    """The last-admin rule holds under concurrency: two admins demoting (or removing) each
    other at the same moment, over several rounds, never leave a tenant without an admin."""
    import requests  # noqa: PLC0415

    from cognate_harness import v1  # noqa: PLC0415

    for round_ in range(6):
        tenant = tenancy.create_tenant("race")
        tid, client = tenant["id"], tenant["clientId"]
        admins = [tenancy.new_user(tid, "admin") for _ in range(2)]
        tokens = [tenancy.sign_in(client, u.email, tenant_id=tid)["AccessToken"] for u in admins]
        barrier = threading.Barrier(2)
        results: list[requests.Response | None] = [None, None]

        def act(i: int) -> None:
            other = admins[1 - i].sub
            barrier.wait()
            if round_ % 2 == 0:
                results[i] = v1(server, "PATCH", f"/v1/tenants/{tid}/members/{other}",
                                bearer=tokens[i], body={"role": "member"})
            else:
                results[i] = v1(server, "DELETE", f"/v1/tenants/{tid}/members/{other}", bearer=tokens[i])

        threads = [threading.Thread(target=act, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in results)
        # one wins; the other is refused: 409 last_admin, 403 when the winner's change
        # already took away the loser's admin role before it was authorised, or (removal
        # rounds) 401 when the winner's removal already revoked the loser's tokens
        refused = (401, 403, 409) if round_ % 2 else (403, 409)
        assert statuses[0] in (200, 204) and statuses[1] in refused, [r.text for r in results]
        members = tenancy.list_all(f"/v1/tenants/{tid}/members")
        admins_left = [m for m in members if m["status"] == "active" and m["role"] == "admin"]
        assert len(admins_left) == 1, members
