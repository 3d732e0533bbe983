"""CreateUserPool, DescribeUserPool, ListUserPools, UpdateUserPool, DeleteUserPool,
AddCustomAttributes."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from cognate_harness import raises_cognito, uid, walk

POOL_ID_RE = re.compile(r"local_[0-9A-Za-z]{9}")
DEFAULT_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
}


def recent(ts) -> bool:
    assert isinstance(ts, dt.datetime), f"not a timestamp: {ts!r}"
    now = dt.datetime.now(dt.timezone.utc)
    return abs((now - ts).total_seconds()) < 600


def schema_by_name(pool) -> dict:
    out = {}
    for a in pool.get("SchemaAttributes", []):
        assert a["Name"] not in out, f"schema attribute {a['Name']} listed twice"
        out[a["Name"]] = a
    return out


def test_create_user_pool_defaults(cognito):
    name = f"pool-{uid()}"
    created = cognito.create_user_pool(PoolName=name)["UserPool"]
    assert POOL_ID_RE.fullmatch(created["Id"]), created["Id"]
    assert created["Name"] == name
    assert recent(created["CreationDate"]) and recent(created["LastModifiedDate"])
    policy = created["Policies"]["PasswordPolicy"]
    for k, v in DEFAULT_POLICY.items():
        assert policy[k] == v, f"default PasswordPolicy.{k} = {policy.get(k)!r}, want {v!r}"
    assert created.get("MfaConfiguration", "OFF") == "OFF"

    described = cognito.describe_user_pool(UserPoolId=created["Id"])["UserPool"]
    assert described["Id"] == created["Id"]
    assert described["Name"] == name
    assert described["CreationDate"] == created["CreationDate"]
    assert described["Policies"]["PasswordPolicy"] == policy
    schema = schema_by_name(described)
    for std in ("sub", "email", "email_verified", "phone_number", "given_name", "family_name",
                "name", "preferred_username", "updated_at"):
        assert std in schema, f"standard attribute {std} missing from SchemaAttributes"
    sub = schema["sub"]
    assert sub["AttributeDataType"] == "String"
    assert sub["Mutable"] is False
    assert sub["Required"] is True
    assert schema["email_verified"]["AttributeDataType"] == "Boolean"
    assert not any(n.startswith("custom:") for n in schema)


def test_pool_ids_unique(cognito):
    ids = {cognito.create_user_pool(PoolName=f"u-{uid()}")["UserPool"]["Id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(POOL_ID_RE.fullmatch(i) for i in ids)


def test_create_user_pool_custom_schema_and_policy(cognito):
    created = cognito.create_user_pool(
        PoolName=f"schema-{uid()}",
        Policies={"PasswordPolicy": {
            "MinimumLength": 12, "RequireUppercase": False, "RequireLowercase": True,
            "RequireNumbers": False, "RequireSymbols": False, "TemporaryPasswordValidityDays": 3,
        }},
        Schema=[
            {"Name": "dept", "AttributeDataType": "String", "Mutable": True,
             "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "20"}},
            {"Name": "level", "AttributeDataType": "Number", "Mutable": True,
             "NumberAttributeConstraints": {"MinValue": "0", "MaxValue": "100"}},
            {"Name": "active", "AttributeDataType": "Boolean", "Mutable": True},
            {"Name": "joined", "AttributeDataType": "DateTime", "Mutable": False},
            # A standard attribute made required.
            {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True},
        ],
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
    )["UserPool"]
    pool = cognito.describe_user_pool(UserPoolId=created["Id"])["UserPool"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 12
    assert policy["RequireUppercase"] is False
    assert policy["RequireLowercase"] is True
    assert policy["RequireNumbers"] is False
    assert policy["RequireSymbols"] is False
    assert policy["TemporaryPasswordValidityDays"] == 3
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}

    schema = schema_by_name(pool)
    assert "dept" not in schema and "custom:dept" in schema
    dept = schema["custom:dept"]
    assert dept["AttributeDataType"] == "String"
    assert dept["Mutable"] is True
    assert dept.get("Required", False) is False
    assert dept.get("DeveloperOnlyAttribute", False) is False
    assert dept["StringAttributeConstraints"] == {"MinLength": "1", "MaxLength": "20"}
    level = schema["custom:level"]
    assert level["AttributeDataType"] == "Number"
    assert level["NumberAttributeConstraints"] == {"MinValue": "0", "MaxValue": "100"}
    assert schema["custom:active"]["AttributeDataType"] == "Boolean"
    assert schema["custom:joined"]["AttributeDataType"] == "DateTime"
    assert schema["custom:joined"]["Mutable"] is False
    assert schema["email"]["Required"] is True


def test_create_user_pool_rejects_required_custom_attribute(cognito):
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool(PoolName=f"bad-{uid()}", Schema=[
            {"Name": "tenant", "AttributeDataType": "String", "Required": True}])


def test_create_user_pool_rejects_username_and_alias_attributes_together(cognito):
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool(PoolName=f"bad-{uid()}", UsernameAttributes=["email"],
                                 AliasAttributes=["email"])


def test_create_user_pool_rejects_bad_password_policy(cognito):
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool(PoolName=f"bad-{uid()}",
                                 Policies={"PasswordPolicy": {"MinimumLength": 100}})


def test_list_user_pools_pagination(cognito):
    mine = {cognito.create_user_pool(PoolName=f"page-{uid()}")["UserPool"]["Id"] for _ in range(7)}
    items, sizes = walk(cognito.list_user_pools, "UserPools", "NextToken", "NextToken",
                        "MaxResults", 3)
    ids = [p["Id"] for p in items]
    assert len(ids) == len(set(ids)), "duplicate pools across pages"
    assert mine <= set(ids), f"missing pools: {mine - set(ids)}"
    assert len(sizes) >= 3 and all(s == 3 for s in sizes[:-1])
    for p in items:
        if p["Id"] in mine:
            assert p["Name"].startswith("page-")
            assert isinstance(p["CreationDate"], dt.datetime)


def test_update_user_pool(cognito, make_pool):
    pool = make_pool()
    cognito.update_user_pool(
        UserPoolId=pool["Id"],
        Policies={"PasswordPolicy": {
            "MinimumLength": 10, "RequireUppercase": False, "RequireLowercase": False,
            "RequireNumbers": True, "RequireSymbols": False}},
        AutoVerifiedAttributes=["email"],
        UserPoolTags={"team": "it"},
    )
    after = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    policy = after["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 10
    assert policy["RequireUppercase"] is False
    assert policy["RequireLowercase"] is False
    assert policy["RequireNumbers"] is True
    assert policy["RequireSymbols"] is False
    assert after["AutoVerifiedAttributes"] == ["email"]
    assert after.get("UserPoolTags") == {"team": "it"}
    assert after["Name"] == pool["Name"]
    assert after["CreationDate"] == pool["CreationDate"]
    assert after["LastModifiedDate"] >= pool["LastModifiedDate"]

    # The new policy is enforced.
    cognito.admin_create_user(UserPoolId=pool["Id"], Username="u1", MessageAction="SUPPRESS",
                              TemporaryPassword="1234567890")
    with raises_cognito("InvalidPasswordException"):
        cognito.admin_set_user_password(UserPoolId=pool["Id"], Username="u1",
                                        Password="123456789", Permanent=True)
    with raises_cognito("InvalidPasswordException"):
        cognito.admin_set_user_password(UserPoolId=pool["Id"], Username="u1",
                                        Password="abcdefghijk", Permanent=True)

    # Like Cognito, UpdateUserPool replaces the configuration: Policies left out of the
    # request return to the default policy.
    cognito.update_user_pool(UserPoolId=pool["Id"], AutoVerifiedAttributes=["email"])
    policy = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]["Policies"][
        "PasswordPolicy"]
    for k, v in DEFAULT_POLICY.items():
        assert policy[k] == v, f"PasswordPolicy.{k} = {policy.get(k)!r} after reset, want {v!r}"


def test_update_unknown_pool(cognito):
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_user_pool(UserPoolId="local_000000000", AutoVerifiedAttributes=["email"])


def test_delete_user_pool(cognito, make_pool):
    pool = make_pool()["Id"]
    cognito.admin_create_user(UserPoolId=pool, Username="gone", MessageAction="SUPPRESS")
    cognito.delete_user_pool(UserPoolId=pool)
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_pool(UserPoolId=pool)
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_get_user(UserPoolId=pool, Username="gone")
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_users(UserPoolId=pool)
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_user_pool(UserPoolId=pool)
    items, _ = walk(cognito.list_user_pools, "UserPools", "NextToken", "NextToken",
                    "MaxResults", 60)
    assert pool not in {p["Id"] for p in items}


@pytest.mark.parametrize("pool_id", ["local_000000000", "local_nosuchpoo", "us-east-1_AbCdEfGhI"])
def test_describe_unknown_pool(cognito, pool_id):
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_pool(UserPoolId=pool_id)


def test_add_custom_attributes(cognito, make_pool):
    pool = make_pool(Schema=[{"Name": "dept", "AttributeDataType": "String"}])["Id"]
    cognito.add_custom_attributes(UserPoolId=pool, CustomAttributes=[
        {"Name": "level", "AttributeDataType": "Number", "Mutable": True,
         "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "5"}},
        {"Name": "flag", "AttributeDataType": "Boolean", "Mutable": False},
    ])
    schema = schema_by_name(cognito.describe_user_pool(UserPoolId=pool)["UserPool"])
    assert {"custom:dept", "custom:level", "custom:flag"} <= set(schema)
    assert schema["custom:level"]["AttributeDataType"] == "Number"
    assert schema["custom:level"]["NumberAttributeConstraints"] == {"MinValue": "1",
                                                                   "MaxValue": "5"}
    assert schema["custom:flag"]["Mutable"] is False

    # The new attribute is usable immediately, with its constraints.
    cognito.admin_create_user(UserPoolId=pool, Username="u", MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "custom:level", "Value": "3"}])
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_user_attributes(UserPoolId=pool, Username="u", UserAttributes=[
            {"Name": "custom:level", "Value": "6"}])

    # An existing name cannot be added again.
    with raises_cognito("InvalidParameterException"):
        cognito.add_custom_attributes(UserPoolId=pool, CustomAttributes=[
            {"Name": "dept", "AttributeDataType": "String"}])


def test_add_custom_attributes_unknown_pool(cognito):
    with raises_cognito("ResourceNotFoundException"):
        cognito.add_custom_attributes(UserPoolId="local_000000000", CustomAttributes=[
            {"Name": "x", "AttributeDataType": "String"}])


@pytest.mark.parametrize("kwargs", [
    pytest.param({"PoolName": "p" * 129}, id="pool-name-too-long"),
    pytest.param({"PoolName": "bad/name"}, id="pool-name-bad-char"),
    pytest.param({"Schema": [{"Name": "x" * 21, "AttributeDataType": "String"}]},
                 id="custom-name-too-long"),
    pytest.param({"Schema": [{"Name": "big", "AttributeDataType": "String",
                              "StringAttributeConstraints": {"MaxLength": "2049"}}]},
                 id="string-max-too-big"),
    pytest.param({"Schema": [{"Name": "n", "AttributeDataType": "Number",
                              "NumberAttributeConstraints": {"MinValue": "10",
                                                             "MaxValue": "1"}}]},
                 id="number-min-above-max"),
    pytest.param({"Schema": [{"Name": "t", "AttributeDataType": "Blob"}]}, id="unknown-type"),
    pytest.param({"UsernameAttributes": ["nickname"]}, id="bad-username-attribute"),
    pytest.param({"AliasAttributes": ["given_name"]}, id="bad-alias-attribute"),
    pytest.param({"MfaConfiguration": "SOMETIMES"}, id="bad-mfa-configuration"),
])
def test_create_user_pool_invalid(cognito, kwargs):
    kwargs.setdefault("PoolName", f"bad-{uid()}")
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool(**kwargs)


def test_list_user_pools_max_results_above_maximum(cognito):
    with raises_cognito("InvalidParameterException"):
        cognito.list_user_pools(MaxResults=61)


def test_wire_timestamps_are_epoch_seconds(server, pool_id):
    """AWS JSON 1.1 timestamps are epoch seconds as JSON numbers (what every SDK parses)."""
    body = server.raw("DescribeUserPool", {"UserPoolId": pool_id}).json()["UserPool"]
    for key in ("CreationDate", "LastModifiedDate"):
        value = body[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        assert abs(now - value) < 600, f"{key}={value} is not epoch seconds near now"


def test_managed_pools_cannot_be_deleted_through_the_cognito_api(server, cognito, tenancy):
    """The shared pool and a platinum tenant's dedicated pool belong to the control plane:
    DeleteUserPool and turning deletion protection off are refused; /v1 keeps working."""
    from cognate_harness import raises_cognito  # noqa: PLC0415

    shared = tenancy.create_tenant("keep")["poolId"]
    dedicated = tenancy.create_tenant("keep-p", tier="platinum")["poolId"]
    for pool in (shared, dedicated):
        with raises_cognito("InvalidParameterException"):
            cognito.delete_user_pool(UserPoolId=pool)
        with raises_cognito("InvalidParameterException"):
            cognito.update_user_pool(UserPoolId=pool, DeletionProtection="INACTIVE")
        # An update that leaves the setting out keeps the protection on.
        cognito.update_user_pool(UserPoolId=pool, AutoVerifiedAttributes=["email"])
        assert cognito.describe_user_pool(UserPoolId=pool)["UserPool"]["DeletionProtection"] == "ACTIVE"
        with raises_cognito("InvalidParameterException"):
            cognito.delete_user_pool(UserPoolId=pool)
    # The control plane still works on both.
    tenancy.new_user(tenancy.create_tenant("keep-after")["id"], "admin")
