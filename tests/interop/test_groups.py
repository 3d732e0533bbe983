"""CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup, AdminAddUserToGroup,
AdminRemoveUserFromGroup, AdminListGroupsForUser, ListUsersInGroup."""

from __future__ import annotations

import datetime as dt

import pytest

from cognate_harness import raises_cognito, walk

ROLE_ARN = "arn:aws:iam::123456789012:role/cognate-it"


def test_group_crud(cognito, pool_id):
    created = cognito.create_group(UserPoolId=pool_id, GroupName="admins",
                                   Description="Administrators", RoleArn=ROLE_ARN,
                                   Precedence=1)["Group"]
    assert created["GroupName"] == "admins"
    assert created["UserPoolId"] == pool_id
    assert created["Description"] == "Administrators"
    assert created["RoleArn"] == ROLE_ARN
    assert created["Precedence"] == 1
    assert isinstance(created["CreationDate"], dt.datetime)
    assert isinstance(created["LastModifiedDate"], dt.datetime)

    got = cognito.get_group(UserPoolId=pool_id, GroupName="admins")["Group"]
    for k in ("GroupName", "UserPoolId", "Description", "RoleArn", "Precedence", "CreationDate"):
        assert got[k] == created[k], k

    updated = cognito.update_group(UserPoolId=pool_id, GroupName="admins",
                                   Description="Admins v2", Precedence=5)["Group"]
    assert updated["Description"] == "Admins v2"
    assert updated["Precedence"] == 5
    got = cognito.get_group(UserPoolId=pool_id, GroupName="admins")["Group"]
    assert got["Description"] == "Admins v2"
    assert got["Precedence"] == 5
    assert got["RoleArn"] == ROLE_ARN  # not part of the update: unchanged
    assert got["LastModifiedDate"] >= created["LastModifiedDate"]

    minimal = cognito.create_group(UserPoolId=pool_id, GroupName="plain")["Group"]
    assert minimal["GroupName"] == "plain"
    assert "Precedence" not in minimal and "RoleArn" not in minimal

    cognito.delete_group(UserPoolId=pool_id, GroupName="admins")
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_group(UserPoolId=pool_id, GroupName="admins")
    listed = cognito.list_groups(UserPoolId=pool_id)["Groups"]
    assert [g["GroupName"] for g in listed] == ["plain"]


def test_group_errors(cognito, pool_id, make_user):
    cognito.create_group(UserPoolId=pool_id, GroupName="dup")
    with raises_cognito("GroupExistsException"):
        cognito.create_group(UserPoolId=pool_id, GroupName="dup")
    for call in (cognito.get_group, cognito.delete_group, cognito.list_users_in_group):
        with raises_cognito("ResourceNotFoundException"):
            call(UserPoolId=pool_id, GroupName="missing")
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_group(UserPoolId=pool_id, GroupName="missing", Description="x")
    with raises_cognito("ResourceNotFoundException"):
        cognito.create_group(UserPoolId="local_000000000", GroupName="g")
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_groups(UserPoolId="local_000000000")
    make_user(pool_id, "member")
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="member", GroupName="missing")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="ghost", GroupName="dup")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username="ghost",
                                             GroupName="dup")
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username="member",
                                             GroupName="missing")


def test_group_names_are_per_pool(cognito, make_pool):
    a, b = make_pool()["Id"], make_pool()["Id"]
    cognito.create_group(UserPoolId=a, GroupName="same")
    cognito.create_group(UserPoolId=b, GroupName="same")
    cognito.delete_group(UserPoolId=a, GroupName="same")
    assert cognito.get_group(UserPoolId=b, GroupName="same")["Group"]["UserPoolId"] == b


def test_membership(cognito, pool_id, make_user):
    for g in ("red", "green", "blue"):
        cognito.create_group(UserPoolId=pool_id, GroupName=g)
    make_user(pool_id, "u1")
    make_user(pool_id, "u2")
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="u1", GroupName="red")
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="u1", GroupName="green")
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="u1", GroupName="green")  # again
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="u2", GroupName="green")

    def groups_of(user):
        resp = cognito.admin_list_groups_for_user(UserPoolId=pool_id, Username=user)
        for g in resp["Groups"]:
            assert g["UserPoolId"] == pool_id
        return sorted(g["GroupName"] for g in resp["Groups"])

    def members_of(group):
        resp = cognito.list_users_in_group(UserPoolId=pool_id, GroupName=group)
        return sorted(u["Username"] for u in resp["Users"])

    assert groups_of("u1") == ["green", "red"]
    assert groups_of("u2") == ["green"]
    assert members_of("green") == ["u1", "u2"]
    assert members_of("red") == ["u1"]
    assert members_of("blue") == []
    users = cognito.list_users_in_group(UserPoolId=pool_id, GroupName="red")["Users"]
    assert users[0]["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert users[0]["Enabled"] is True
    assert any(a["Name"] == "sub" for a in users[0]["Attributes"])

    cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username="u1", GroupName="green")
    assert groups_of("u1") == ["red"]
    assert members_of("green") == ["u2"]

    # Deleting a group removes its memberships.
    cognito.delete_group(UserPoolId=pool_id, GroupName="red")
    assert groups_of("u1") == []
    # Deleting a user removes the user from groups.
    cognito.admin_delete_user(UserPoolId=pool_id, Username="u2")
    assert members_of("green") == []
    # A re-created group with the old name starts empty.
    cognito.create_group(UserPoolId=pool_id, GroupName="red")
    assert members_of("red") == []


def test_list_groups_pagination(cognito, pool_id):
    made = {f"g{i:02d}" for i in range(7)}
    for name in made:
        cognito.create_group(UserPoolId=pool_id, GroupName=name, Description=f"d-{name}")
    items, sizes = walk(cognito.list_groups, "Groups", "NextToken", "NextToken", "Limit", 3,
                        UserPoolId=pool_id)
    got = [g["GroupName"] for g in items]
    assert len(got) == len(set(got)), f"duplicates across pages: {got}"
    assert set(got) == made
    assert sizes[:2] == [3, 3] and sum(sizes) == 7
    assert all(g["Description"] == f"d-{g['GroupName']}" for g in items)


def test_admin_list_groups_for_user_pagination(cognito, pool_id, make_user):
    make_user(pool_id, "joiner")
    made = {f"team{i}" for i in range(7)}
    for name in made:
        cognito.create_group(UserPoolId=pool_id, GroupName=name)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username="joiner", GroupName=name)
    cognito.create_group(UserPoolId=pool_id, GroupName="not-joined")
    items, sizes = walk(cognito.admin_list_groups_for_user, "Groups", "NextToken", "NextToken",
                        "Limit", 3, UserPoolId=pool_id, Username="joiner")
    got = [g["GroupName"] for g in items]
    assert len(got) == len(set(got)), f"duplicates across pages: {got}"
    assert set(got) == made
    assert sizes[:2] == [3, 3] and sum(sizes) == 7


def test_list_users_in_group_pagination(cognito, pool_id, make_user):
    cognito.create_group(UserPoolId=pool_id, GroupName="crowd")
    made = set()
    for i in range(7):
        name = make_user(pool_id, f"m{i}")["Username"]
        made.add(name)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName="crowd")
    make_user(pool_id, "outsider")
    items, sizes = walk(cognito.list_users_in_group, "Users", "NextToken", "NextToken", "Limit",
                        3, UserPoolId=pool_id, GroupName="crowd")
    got = [u["Username"] for u in items]
    assert len(got) == len(set(got)), f"duplicates across pages: {got}"
    assert set(got) == made
    assert sizes[:2] == [3, 3] and sum(sizes) == 7


@pytest.mark.parametrize("name", ["", "x" * 129])
def test_invalid_group_name(cognito_nv, pool_id, name):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_group(UserPoolId=pool_id, GroupName=name)


def test_invalid_group_precedence(cognito_nv, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_group(UserPoolId=pool_id, GroupName="neg", Precedence=-1)


def test_list_groups_limit_above_maximum(cognito, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito.list_groups(UserPoolId=pool_id, Limit=61)
