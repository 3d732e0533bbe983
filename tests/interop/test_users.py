"""AdminCreateUser, AdminGetUser, AdminUpdateUserAttributes, AdminDeleteUserAttributes,
AdminDeleteUser, AdminDisableUser, AdminEnableUser, AdminSetUserPassword,
AdminResetUserPassword; attribute schema, uniqueness, aliases, password policy."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from cognate_harness import attrs, raises_cognito, uid

CUSTOM_SCHEMA = [
    {"Name": "dept", "AttributeDataType": "String", "Mutable": True,
     "StringAttributeConstraints": {"MinLength": "2", "MaxLength": "5"}},
    {"Name": "level", "AttributeDataType": "Number", "Mutable": True,
     "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "10"}},
    {"Name": "active", "AttributeDataType": "Boolean", "Mutable": True},
    {"Name": "joined", "AttributeDataType": "DateTime", "Mutable": True},
    {"Name": "badge", "AttributeDataType": "String", "Mutable": False},
]


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, TypeError, AttributeError):
        return False


@pytest.fixture
def custom_pool(make_pool):
    return make_pool(Schema=CUSTOM_SCHEMA)["Id"]


def test_admin_create_user_shape(cognito, pool_id):
    user = cognito.admin_create_user(
        UserPoolId=pool_id, Username="alice", TemporaryPassword="Temp-Passw0rd!",
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": "alice@example.com"},
                        {"Name": "email_verified", "Value": "true"},
                        {"Name": "given_name", "Value": "Alice"}],
    )["User"]
    assert user["Username"] == "alice"
    assert user["Enabled"] is True
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert isinstance(user["UserCreateDate"], dt.datetime)
    assert isinstance(user["UserLastModifiedDate"], dt.datetime)
    a = attrs(user["Attributes"])
    assert is_uuid(a.get("sub", "")), f"sub is not a UUID: {a.get('sub')!r}"
    assert a["email"] == "alice@example.com"
    assert a["email_verified"] == "true"
    assert a["given_name"] == "Alice"

    got = cognito.admin_get_user(UserPoolId=pool_id, Username="alice")
    assert got["Username"] == "alice"
    assert got["Enabled"] is True
    assert got["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert got["UserCreateDate"] == user["UserCreateDate"]
    g = attrs(got["UserAttributes"])
    assert g["sub"] == a["sub"]
    assert g["email"] == "alice@example.com"
    assert g["given_name"] == "Alice"


def test_subs_are_unique_uuids(cognito, pool_id, make_user):
    subs = {attrs(make_user(pool_id)["Attributes"])["sub"] for _ in range(4)}
    assert len(subs) == 4 and all(is_uuid(s) for s in subs)


def test_admin_create_user_without_temporary_password(cognito, pool_id):
    user = cognito.admin_create_user(UserPoolId=pool_id, Username="nopw",
                                     MessageAction="SUPPRESS")["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"


def test_admin_create_user_delivery_and_resend(cognito, pool_id):
    user = cognito.admin_create_user(
        UserPoolId=pool_id, Username="invitee", TemporaryPassword="Temp-Passw0rd!",
        DesiredDeliveryMediums=["EMAIL"],
        UserAttributes=[{"Name": "email", "Value": "invitee@example.com"},
                        {"Name": "email_verified", "Value": "true"}],
    )["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    sub = attrs(user["Attributes"])["sub"]
    again = cognito.admin_create_user(UserPoolId=pool_id, Username="invitee",
                                      MessageAction="RESEND",
                                      DesiredDeliveryMediums=["EMAIL"])["User"]
    assert again["Username"] == "invitee"
    assert again["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert attrs(again["Attributes"])["sub"] == sub
    with raises_cognito("UserNotFoundException"):
        cognito.admin_create_user(UserPoolId=pool_id, Username="nobody", MessageAction="RESEND")
    # A confirmed user has no invitation to resend.
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="invitee",
                                    Password="Perm-Passw0rd!", Permanent=True)
    with raises_cognito("UnsupportedUserStateException"):
        cognito.admin_create_user(UserPoolId=pool_id, Username="invitee", MessageAction="RESEND")


def test_username_uniqueness(cognito, pool_id, make_user):
    make_user(pool_id, "dup")
    with raises_cognito("UsernameExistsException"):
        make_user(pool_id, "dup")
    # Same username in another pool is fine.
    other = cognito.create_user_pool(PoolName=f"other-{uid()}")["UserPool"]["Id"]
    make_user(other, "dup")


def test_username_case_insensitive_pool(cognito, make_pool, make_user):
    pool = make_pool(UsernameConfiguration={"CaseSensitive": False})["Id"]
    make_user(pool, "Mixed.Case")
    with raises_cognito("UsernameExistsException"):
        make_user(pool, "mixed.case")
    assert cognito.admin_get_user(UserPoolId=pool, Username="MIXED.CASE")["Username"] in (
        "Mixed.Case", "mixed.case")


def test_concurrent_creation_of_one_username(server, pool_id):
    """Eight simultaneous AdminCreateUser calls for one name: exactly one wins."""
    results: list[str] = []
    lock = threading.Lock()
    clients = [server.client() for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def attempt(client):
        barrier.wait()
        try:
            client.admin_create_user(UserPoolId=pool_id, Username="racer",
                                     MessageAction="SUPPRESS", TemporaryPassword="Temp-Passw0rd!")
            outcome = "ok"
        except ClientError as exc:
            outcome = (exc.response["Error"]["Code"] + ":"
                       + str(exc.response["ResponseMetadata"]["HTTPStatusCode"]))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == sorted(["ok"] + ["UsernameExistsException:400"] * 7), results


def test_email_as_username(cognito, make_pool, make_user):
    pool = make_pool(UsernameAttributes=["email"])["Id"]
    with raises_cognito("InvalidParameterException"):
        make_user(pool, "not-an-email")
    user = make_user(pool, "bob@example.com", {"email": "bob@example.com"})
    a = attrs(user["Attributes"])
    assert a["email"] == "bob@example.com"
    # Cognito gives email-as-username users a generated username (the sub).
    assert is_uuid(user["Username"]), user["Username"]
    assert user["Username"] == a["sub"]
    got = cognito.admin_get_user(UserPoolId=pool, Username="bob@example.com")
    assert attrs(got["UserAttributes"])["sub"] == a["sub"]
    with raises_cognito("UsernameExistsException"):
        make_user(pool, "bob@example.com", {"email": "bob@example.com"})


def test_email_alias(cognito, make_pool, make_user):
    pool = make_pool(AliasAttributes=["email"])["Id"]
    first = make_user(pool, "first", {"email": "shared@example.com", "email_verified": "true"})
    # A verified email is an alias: admin APIs accept it as the username.
    got = cognito.admin_get_user(UserPoolId=pool, Username="shared@example.com")
    assert got["Username"] == "first"
    with raises_cognito("AliasExistsException"):
        make_user(pool, "second", {"email": "shared@example.com", "email_verified": "true"})
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user(UserPoolId=pool, Username="second")
    # An unverified email is not an alias, so it does not conflict.
    make_user(pool, "third", {"email": "shared@example.com", "email_verified": "false"})
    # ForceAliasCreation moves the alias to the new user.
    make_user(pool, "fourth", {"email": "shared@example.com", "email_verified": "true"},
              ForceAliasCreation=True)
    assert cognito.admin_get_user(UserPoolId=pool,
                                  Username="shared@example.com")["Username"] == "fourth"
    assert attrs(cognito.admin_get_user(UserPoolId=pool, Username="first")["UserAttributes"])[
        "sub"] == attrs(first["Attributes"])["sub"]


def test_custom_attributes_roundtrip(cognito, custom_pool, make_user):
    user = make_user(custom_pool, "c1", {
        "custom:dept": "eng", "custom:level": "7", "custom:active": "true",
        "custom:joined": "2024-05-01T12:00:00Z", "custom:badge": "B1",
    })
    a = attrs(user["Attributes"])
    assert a["custom:dept"] == "eng"
    assert a["custom:level"] == "7"
    assert a["custom:active"] == "true"
    assert a["custom:badge"] == "B1"
    got = attrs(cognito.admin_get_user(UserPoolId=custom_pool, Username="c1")["UserAttributes"])
    assert got["custom:dept"] == "eng"
    assert got["custom:level"] == "7"
    assert got["custom:active"] == "true"
    assert got["custom:joined"] == "2024-05-01T12:00:00Z"
    assert got["custom:badge"] == "B1"
    assert not any(k in got for k in ("dept", "level", "badge"))


@pytest.mark.parametrize("name,value", [
    ("custom:dept", "x"),  # shorter than MinLength 2
    ("custom:dept", "toolong"),  # longer than MaxLength 5
    ("custom:level", "11"),  # above MaxValue
    ("custom:level", "0"),  # below MinValue
    ("custom:level", "seven"),  # not a number
    ("custom:active", "maybe"),  # not a boolean
    ("custom:nope", "x"),  # not in the schema
    ("nonstandard", "x"),  # neither standard nor custom
    ("email", "not-an-email"),
    ("phone_number", "5555550100"),  # not E.164
    ("email_verified", "maybe"),
])
def test_attribute_constraints(cognito, custom_pool, make_user, name, value):
    with raises_cognito("InvalidParameterException"):
        make_user(custom_pool, f"bad-{uid()}", {name: value})
    make_user(custom_pool, "ok", {"custom:dept": "ops"})
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_user_attributes(UserPoolId=custom_pool, Username="ok",
                                             UserAttributes=[{"Name": name, "Value": value}])
    got = attrs(cognito.admin_get_user(UserPoolId=custom_pool, Username="ok")["UserAttributes"])
    assert got["custom:dept"] == "ops"
    assert name not in got or name == "custom:dept"


def test_admin_update_user_attributes(cognito, custom_pool, make_user):
    user = make_user(custom_pool, "upd", {"custom:dept": "eng", "given_name": "Old",
                                          "custom:badge": "B1"})
    cognito.admin_update_user_attributes(UserPoolId=custom_pool, Username="upd", UserAttributes=[
        {"Name": "given_name", "Value": "New"},
        {"Name": "custom:dept", "Value": "ops"},
        {"Name": "custom:level", "Value": "3"},
        {"Name": "family_name", "Value": "Doe"},
    ])
    got = cognito.admin_get_user(UserPoolId=custom_pool, Username="upd")
    a = attrs(got["UserAttributes"])
    assert a["given_name"] == "New"
    assert a["family_name"] == "Doe"
    assert a["custom:dept"] == "ops"
    assert a["custom:level"] == "3"
    assert a["custom:badge"] == "B1"
    assert a["sub"] == attrs(user["Attributes"])["sub"]
    assert got["UserLastModifiedDate"] >= user["UserLastModifiedDate"]


@pytest.mark.parametrize("name,value", [("custom:badge", "B2"), ("sub", str(uuid.uuid4()))])
def test_immutable_attribute_update_refused(cognito, custom_pool, make_user, name, value):
    user = make_user(custom_pool, "imm", {"custom:badge": "B1"})
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_user_attributes(UserPoolId=custom_pool, Username="imm",
                                             UserAttributes=[{"Name": name, "Value": value}])
    a = attrs(cognito.admin_get_user(UserPoolId=custom_pool, Username="imm")["UserAttributes"])
    assert a["custom:badge"] == "B1"
    assert a["sub"] == attrs(user["Attributes"])["sub"]


def test_admin_delete_user_attributes(cognito, custom_pool, make_user):
    make_user(custom_pool, "del", {"custom:dept": "eng", "given_name": "G",
                                   "email": "del@example.com"})
    cognito.admin_delete_user_attributes(UserPoolId=custom_pool, Username="del",
                                         UserAttributeNames=["custom:dept", "given_name"])
    a = attrs(cognito.admin_get_user(UserPoolId=custom_pool, Username="del")["UserAttributes"])
    assert "custom:dept" not in a and "given_name" not in a
    assert a["email"] == "del@example.com"
    with raises_cognito("InvalidParameterException"):
        cognito.admin_delete_user_attributes(UserPoolId=custom_pool, Username="del",
                                             UserAttributeNames=["sub"])
    with raises_cognito("UserNotFoundException"):
        cognito.admin_delete_user_attributes(UserPoolId=custom_pool, Username="ghost",
                                             UserAttributeNames=["given_name"])


def test_required_attribute(cognito, make_pool, make_user):
    pool = make_pool(Schema=[{"Name": "email", "AttributeDataType": "String", "Mutable": True,
                              "Required": True}])["Id"]
    with raises_cognito("InvalidParameterException"):
        make_user(pool, "noemail")
    make_user(pool, "withemail", {"email": "w@example.com"})
    with raises_cognito("InvalidParameterException"):
        cognito.admin_delete_user_attributes(UserPoolId=pool, Username="withemail",
                                             UserAttributeNames=["email"])


def test_admin_delete_user(cognito, pool_id, make_user):
    make_user(pool_id, "victim")
    make_user(pool_id, "bystander")
    cognito.admin_delete_user(UserPoolId=pool_id, Username="victim")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user(UserPoolId=pool_id, Username="victim")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_delete_user(UserPoolId=pool_id, Username="victim")
    cognito.admin_get_user(UserPoolId=pool_id, Username="bystander")
    # The name is free again.
    make_user(pool_id, "victim")


def test_disable_enable(cognito, pool_id, make_user):
    make_user(pool_id, "toggle")
    cognito.admin_disable_user(UserPoolId=pool_id, Username="toggle")
    got = cognito.admin_get_user(UserPoolId=pool_id, Username="toggle")
    assert got["Enabled"] is False
    assert got["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    cognito.admin_disable_user(UserPoolId=pool_id, Username="toggle")  # idempotent
    cognito.admin_enable_user(UserPoolId=pool_id, Username="toggle")
    assert cognito.admin_get_user(UserPoolId=pool_id, Username="toggle")["Enabled"] is True
    with raises_cognito("UserNotFoundException"):
        cognito.admin_disable_user(UserPoolId=pool_id, Username="ghost")
    with raises_cognito("UserNotFoundException"):
        cognito.admin_enable_user(UserPoolId=pool_id, Username="ghost")


def test_set_password_status_transitions(cognito, pool_id, make_user):
    make_user(pool_id, "pw", {"email": "pw@example.com", "email_verified": "true"})
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="pw",
                                    Password="Perm-Passw0rd!", Permanent=True)
    assert cognito.admin_get_user(UserPoolId=pool_id, Username="pw")["UserStatus"] == "CONFIRMED"
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="pw",
                                    Password="Temp-Passw0rd2!", Permanent=False)
    assert cognito.admin_get_user(UserPoolId=pool_id,
                                  Username="pw")["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="pw",
                                    Password="Perm-Passw0rd3!", Permanent=True)
    cognito.admin_reset_user_password(UserPoolId=pool_id, Username="pw")
    assert cognito.admin_get_user(UserPoolId=pool_id,
                                  Username="pw")["UserStatus"] == "RESET_REQUIRED"
    with raises_cognito("UserNotFoundException"):
        cognito.admin_set_user_password(UserPoolId=pool_id, Username="ghost",
                                        Password="Perm-Passw0rd!", Permanent=True)
    with raises_cognito("UserNotFoundException"):
        cognito.admin_reset_user_password(UserPoolId=pool_id, Username="ghost")


@pytest.mark.parametrize("password", [
    "Sh0rt!a",  # 7 characters
    "alllower1!",  # no uppercase
    "ALLUPPER1!",  # no lowercase
    "NoDigits!!",  # no number
    "NoSymbol11",  # no symbol
])
def test_default_password_policy(cognito, pool_id, make_user, password):
    make_user(pool_id, "policy")
    with raises_cognito("InvalidPasswordException"):
        cognito.admin_set_user_password(UserPoolId=pool_id, Username="policy",
                                        Password=password, Permanent=True)
    with raises_cognito("InvalidPasswordException"):
        make_user(pool_id, f"tmp-{uid()}", TemporaryPassword=password)
    # The failed calls changed nothing.
    assert cognito.admin_get_user(UserPoolId=pool_id,
                                  Username="policy")["UserStatus"] == "FORCE_CHANGE_PASSWORD"


def test_default_password_policy_accepts_valid(cognito, pool_id, make_user):
    make_user(pool_id, "policy-ok")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="policy-ok",
                                    Password="Aa1!aaaa", Permanent=True)


def test_custom_password_policy(cognito, make_pool, make_user):
    pool = make_pool(Policies={"PasswordPolicy": {
        "MinimumLength": 12, "RequireUppercase": False, "RequireLowercase": False,
        "RequireNumbers": True, "RequireSymbols": False}})["Id"]
    make_user(pool, "cp", TemporaryPassword="123456789012")
    for bad in ("12345678901", "abcdefghijkl"):
        with raises_cognito("InvalidPasswordException"):
            cognito.admin_set_user_password(UserPoolId=pool, Username="cp", Password=bad,
                                            Permanent=True)
    cognito.admin_set_user_password(UserPoolId=pool, Username="cp", Password="abcdefghijk1",
                                    Permanent=True)
    assert cognito.admin_get_user(UserPoolId=pool, Username="cp")["UserStatus"] == "CONFIRMED"


@pytest.mark.parametrize("op,kwargs", [
    ("admin_get_user", {}),
    ("admin_delete_user", {}),
    ("admin_disable_user", {}),
    ("admin_enable_user", {}),
    ("admin_reset_user_password", {}),
    ("admin_set_user_password", {"Password": "Perm-Passw0rd!", "Permanent": True}),
    ("admin_update_user_attributes", {"UserAttributes": [{"Name": "given_name", "Value": "x"}]}),
    ("admin_delete_user_attributes", {"UserAttributeNames": ["given_name"]}),
    ("admin_list_groups_for_user", {}),
])
def test_unknown_user_and_unknown_pool(cognito, pool_id, op, kwargs):
    call = getattr(cognito, op)
    with raises_cognito("UserNotFoundException"):
        call(UserPoolId=pool_id, Username=f"ghost-{uid()}", **kwargs)
    with raises_cognito("ResourceNotFoundException"):
        call(UserPoolId="local_000000000", Username="ghost", **kwargs)


def test_admin_create_user_unknown_pool(cognito):
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_create_user(UserPoolId="local_000000000", Username="x",
                                  MessageAction="SUPPRESS")


@pytest.mark.parametrize("username", ["has space", "tab\tname", "x" * 129])
def test_invalid_username(cognito, pool_id, username):
    with raises_cognito("InvalidParameterException"):
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")


def test_password_with_leading_or_trailing_whitespace(cognito, pool_id, make_user):
    """Cognito refuses passwords with leading/trailing whitespace (model pattern [\\S]+;
    the service answers InvalidPasswordException or InvalidParameterException)."""
    make_user(pool_id, "edge")
    for password in (" Perm-Passw0rd!", "Perm-Passw0rd! "):
        with pytest.raises(ClientError) as info:
            cognito.admin_set_user_password(UserPoolId=pool_id, Username="edge",
                                            Password=password, Permanent=True)
        err = info.value.response
        assert err["Error"]["Code"] in {"InvalidPasswordException", "InvalidParameterException"}
        assert 400 <= err["ResponseMetadata"]["HTTPStatusCode"] <= 499
    assert cognito.admin_get_user(UserPoolId=pool_id,
                                  Username="edge")["UserStatus"] == "FORCE_CHANGE_PASSWORD"
