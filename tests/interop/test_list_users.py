"""ListUsers: filters, pagination, AttributesToGet."""

from __future__ import annotations

import pytest

from cognate_harness import attrs, raises_cognito, walk


@pytest.fixture
def populated(cognito, make_pool, make_user):
    """A pool with five users of known attributes and states."""
    pool = make_pool(Schema=[{"Name": "dept", "AttributeDataType": "String", "Mutable": True}])["Id"]
    specs = {
        "ann": {"email": "ann@alpha.test", "given_name": "Ann", "custom:dept": "eng"},
        "andy": {"email": "andy@alpha.test", "given_name": "Andy", "custom:dept": "eng"},
        "bea": {"email": "bea@beta.test", "given_name": "Bea", "custom:dept": "sales"},
        "carl": {"email": "carl@gamma.test", "custom:dept": "engineering"},
        "dora": {"email": "ann.lookalike@delta.test"},
    }
    users = {}
    for name, a in specs.items():
        users[name] = attrs(make_user(pool, name, a)["Attributes"])
    cognito.admin_set_user_password(UserPoolId=pool, Username="bea", Password="Perm-Passw0rd!",
                                    Permanent=True)
    cognito.admin_set_user_password(UserPoolId=pool, Username="carl", Password="Perm-Passw0rd!",
                                    Permanent=True)
    cognito.admin_disable_user(UserPoolId=pool, Username="carl")
    return pool, users


def names(resp) -> list[str]:
    return sorted(u["Username"] for u in resp["Users"])


@pytest.mark.parametrize("filter_,expected", [
    ('email = "ann@alpha.test"', ["ann"]),
    ('email = "nobody@alpha.test"', []),
    ('email ^= "an"', ["andy", "ann", "dora"]),
    ('email ^= "ann"', ["ann", "dora"]),
    ('username = "bea"', ["bea"]),
    ('username ^= "a"', ["andy", "ann"]),
    ('given_name = "Andy"', ["andy"]),
    ('status = "Enabled"', ["andy", "ann", "bea", "dora"]),
    ('status = "Disabled"', ["carl"]),
    ('cognito:user_status = "CONFIRMED"', ["bea", "carl"]),
    ('cognito:user_status = "FORCE_CHANGE_PASSWORD"', ["andy", "ann", "dora"]),
    ('custom:dept = "eng"', ["andy", "ann"]),  # Cognate extension (Cognito refuses custom:)
    ('custom:dept ^= "eng"', ["andy", "ann", "carl"]),
])
def test_list_users_filters(cognito, populated, filter_, expected):
    pool, _ = populated
    resp = cognito.list_users(UserPoolId=pool, Filter=filter_)
    assert names(resp) == expected, f"Filter {filter_!r}"


def test_list_users_filter_by_sub(cognito, populated):
    pool, users = populated
    resp = cognito.list_users(UserPoolId=pool, Filter=f'sub = "{users["bea"]["sub"]}"')
    assert names(resp) == ["bea"]


def test_list_users_no_filter_shape(cognito, populated):
    pool, users = populated
    resp = cognito.list_users(UserPoolId=pool)
    assert names(resp) == ["andy", "ann", "bea", "carl", "dora"]
    assert not resp.get("PaginationToken")
    by_name = {u["Username"]: u for u in resp["Users"]}
    assert by_name["carl"]["Enabled"] is False
    assert by_name["carl"]["UserStatus"] == "CONFIRMED"
    assert by_name["ann"]["Enabled"] is True
    assert by_name["ann"]["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    a = attrs(by_name["ann"]["Attributes"])
    assert a["sub"] == users["ann"]["sub"]
    assert a["email"] == "ann@alpha.test"
    assert a["custom:dept"] == "eng"
    assert "UserCreateDate" in by_name["ann"] and "UserLastModifiedDate" in by_name["ann"]


def test_list_users_attributes_to_get(cognito, populated):
    pool, _ = populated
    resp = cognito.list_users(UserPoolId=pool, AttributesToGet=["email"])
    assert len(resp["Users"]) == 5
    for u in resp["Users"]:
        assert [a["Name"] for a in u["Attributes"]] == ["email"], u["Attributes"]
    resp = cognito.list_users(UserPoolId=pool, AttributesToGet=["given_name", "custom:dept"],
                              Filter='username = "ann"')
    assert attrs(resp["Users"][0]["Attributes"]) == {"given_name": "Ann", "custom:dept": "eng"}
    with raises_cognito("InvalidParameterException"):
        cognito.list_users(UserPoolId=pool, AttributesToGet=["custom:nope"])


def test_list_users_pagination(cognito, pool_id, make_user):
    made = {make_user(pool_id, f"p{i:02d}")["Username"] for i in range(7)}
    items, sizes = walk(cognito.list_users, "Users", "PaginationToken", "PaginationToken",
                        "Limit", 3, UserPoolId=pool_id)
    got = [u["Username"] for u in items]
    assert len(got) == len(set(got)), f"duplicates across pages: {got}"
    assert set(got) == made
    assert sizes[:2] == [3, 3] and sum(sizes) == 7


def test_list_users_pagination_with_filter(cognito, pool_id, make_user):
    for i in range(5):
        make_user(pool_id, f"match{i}", {"email": f"m{i}@page.test"})
        make_user(pool_id, f"other{i}", {"email": f"o{i}@page.test"})
    items, _ = walk(cognito.list_users, "Users", "PaginationToken", "PaginationToken",
                    "Limit", 2, UserPoolId=pool_id, Filter='email ^= "m"')
    got = [u["Username"] for u in items]
    assert sorted(got) == [f"match{i}" for i in range(5)]


def test_list_users_pagination_survives_deletes(cognito, pool_id, make_user):
    """Deleting users between pages neither breaks the token nor repeats/skips survivors."""
    made = [make_user(pool_id, f"d{i}")["Username"] for i in range(7)]
    first = cognito.list_users(UserPoolId=pool_id, Limit=3)
    seen = [u["Username"] for u in first["Users"]]
    assert len(seen) == 3 and first.get("PaginationToken")
    # Delete the last user of the page we hold and one user we have not seen yet.
    unseen = sorted(set(made) - set(seen))
    cognito.admin_delete_user(UserPoolId=pool_id, Username=seen[-1])
    cognito.admin_delete_user(UserPoolId=pool_id, Username=unseen[0])
    rest, _ = walk(cognito.list_users, "Users", "PaginationToken", "PaginationToken", "Limit", 3,
                   UserPoolId=pool_id, PaginationToken=first["PaginationToken"])
    rest_names = [u["Username"] for u in rest]
    assert not set(rest_names) & set(seen), "users repeated after the page boundary"
    assert sorted(rest_names) == sorted(set(unseen) - {unseen[0]})


@pytest.mark.parametrize("bad", [
    'email == "x"',
    "email = x",
    'email = "x',
    'email ~ "x"',
    "email",
    'nosuchattr = "x"',
    'email = "x" extra',
    '= "x"',
])
def test_list_users_bad_filter(cognito, pool_id, bad):
    with raises_cognito("InvalidParameterException"):
        cognito.list_users(UserPoolId=pool_id, Filter=bad)


def test_list_users_more_filter_attributes(cognito, pool_id, make_user):
    make_user(pool_id, "q1", {"family_name": "Smith", "preferred_username": "smithy",
                              "name": "Q One", "phone_number": "+15555550100"})
    make_user(pool_id, "q2", {"family_name": "Smithers", "given_name": 'O"Brien'})
    cases = {
        'family_name = "Smith"': ["q1"],
        'family_name ^= "Smith"': ["q1", "q2"],
        'preferred_username = "smithy"': ["q1"],
        'name = "Q One"': ["q1"],
        'phone_number = "+15555550100"': ["q1"],
        'given_name = "O\\"Brien"': ["q2"],  # an escaped quote inside the value
    }
    for filter_, expected in cases.items():
        assert names(cognito.list_users(UserPoolId=pool_id, Filter=filter_)) == expected, filter_


def test_list_users_limit_above_maximum(cognito, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito.list_users(UserPoolId=pool_id, Limit=61)


def test_list_users_bad_pagination_token(cognito, pool_id, make_user):
    make_user(pool_id)
    with raises_cognito("InvalidParameterException"):
        cognito.list_users(UserPoolId=pool_id, PaginationToken="definitely-not-a-token")


def test_list_users_unknown_pool(cognito):
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_users(UserPoolId="local_000000000")
