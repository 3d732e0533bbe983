"""Operations added together, driven by boto3 on both backends: the tags of user pools
(TagResource, UntagResource, ListTagsForResource, and UserPoolTags of Create/Update/
DescribeUserPool), DeleteUserAttributes, (Admin)GetUserAuthFactors, AdminDeleteSoftwareToken,
the legacy (Admin)SetUserSettings, and a user's sessions one by one ((Admin)ListUserSessions,
(Admin)RevokeUserSession). Bad input is answered with Cognito's exception, never a 5xx.
"""

from __future__ import annotations

import re

import pytest

from cognate_harness import assert_raw_error, attrs, raises_cognito, uid

from conftest import PASSWORD
from test_mfa import Authenticator, enrol_with_token, initiate, optional_mfa_app, sign_in_with_code


def pool_arn(cognito, pool_id: str) -> str:
    return cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]


def signed_in(cognito, make_app, make_confirmed_user, sign_in, pool: dict | None = None, **client_kw):
    """(app, username, AuthenticationResult) for a fresh confirmed user of a fresh pool."""
    app = make_app(pool, **client_kw)
    username = make_confirmed_user(app.pool_id, attributes={"given_name": "Gi", "family_name": "Fa"})
    return app, username, sign_in(app, username)


# --------------------------------------------------------------------------- tags


def test_tags_are_the_pools_user_pool_tags(cognito, make_pool):
    pool = make_pool(UserPoolTags={"team": "it"})
    arn = pool_arn(cognito, pool["Id"])
    assert arn == f"arn:aws:cognito-idp:{arn.split(':')[3]}:000000000000:userpool/{pool['Id']}"
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "it"}

    cognito.tag_resource(ResourceArn=arn, Tags={"env": "prod", "team": "ops", "empty": ""})
    want = {"team": "ops", "env": "prod", "empty": ""}
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == want
    assert cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]["UserPoolTags"] == want

    # Removing a key the pool does not have is not an error.
    cognito.untag_resource(ResourceArn=arn, TagKeys=["team", "never-set"])
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "prod", "empty": ""}

    # An UpdateUserPool that leaves UserPoolTags out keeps them; one that sends them sets them.
    cognito.update_user_pool(UserPoolId=pool["Id"], AutoVerifiedAttributes=["email"])
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "prod", "empty": ""}
    cognito.update_user_pool(UserPoolId=pool["Id"], UserPoolTags={"owner": "me"})
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "me"}

    cognito.untag_resource(ResourceArn=arn, TagKeys=["owner"])
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
    assert not cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"].get("UserPoolTags")
    # Tags of one pool are not another's.
    other = make_pool()
    assert cognito.list_tags_for_resource(ResourceArn=pool_arn(cognito, other["Id"]))["Tags"] == {}


def test_tag_limits(cognito, cognito_nv, make_pool):
    pool = make_pool()
    arn = pool_arn(cognito, pool["Id"])
    fifty = {f"k{i}": str(i) for i in range(50)}
    with raises_cognito("InvalidParameterException"):
        cognito.tag_resource(ResourceArn=arn, Tags={**fifty, "one-more": "x"})
    cognito.tag_resource(ResourceArn=arn, Tags=fifty)
    with raises_cognito("InvalidParameterException"):
        cognito.tag_resource(ResourceArn=arn, Tags={"one-more": "x"})
    # Replacing a value of an existing key stays within the limit.
    cognito.tag_resource(ResourceArn=arn, Tags={"k0": "zero"})
    cognito.untag_resource(ResourceArn=arn, TagKeys=[f"k{i}" for i in range(1, 50)])
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k0": "zero"}

    cognito.tag_resource(ResourceArn=arn, Tags={"k" * 128: "v" * 256})
    for bad in [{"k" * 129: "v"}, {"k": "v" * 257}, {"": "v"}]:
        with raises_cognito("InvalidParameterException"):
            cognito_nv.tag_resource(ResourceArn=arn, Tags=bad)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.untag_resource(ResourceArn=arn, TagKeys=[""])
    # CreateUserPool and UpdateUserPool hold UserPoolTags to the same limits.
    with raises_cognito("InvalidParameterException"):
        make_pool(UserPoolTags={f"k{i}": "" for i in range(51)})
    with raises_cognito("InvalidParameterException"):
        cognito.update_user_pool(UserPoolId=pool["Id"], UserPoolTags={"k" * 129: "v"})
    assert set(cognito.list_tags_for_resource(ResourceArn=arn)["Tags"]) == {"k0", "k" * 128}


def test_tag_operations_refuse_bad_arns_and_input(cognito, cognito_nv, make_pool, server):
    pool = make_pool()
    arn = pool_arn(cognito, pool["Id"])
    region = arn.split(":")[3]
    not_ours = [
        f"arn:aws:cognito-idp:{region}:000000000000:userpool/{region}_{uid(9)}",
        arn.replace(f":{region}:", ":eu-west-3:"),
        arn.replace(":000000000000:", ":123456789012:"),
        arn.replace("arn:aws:", "arn:aws-cn:"),
    ]
    for other in not_ours:
        for call in (lambda a: cognito.list_tags_for_resource(ResourceArn=a),
                     lambda a: cognito.tag_resource(ResourceArn=a, Tags={"k": "v"}),
                     lambda a: cognito.untag_resource(ResourceArn=a, TagKeys=["k"])):
            with raises_cognito("ResourceNotFoundException"):
                call(other)
    invalid = [
        "not-an-arn-but-long-enough",
        f"arn:aws:s3:::{pool['Id']}-bucket-name",
        f"arn:aws:cognito-idp:{region}:000000000000:identitypool/{pool['Id']}",
        f"arn:aws:cognito-idp:{region}:000000000000:userpool/{pool['Id']}:extra",
        f"arn:aws:cognito-idp:{region}:0000x0000000:userpool/{pool['Id']}",
        "arn:aws:cognito-idp:" + "x" * 2050,
        f"arn:aws:cognito-idp:{region}:000000000000:userpool/{pool['Id']}\u0000",
    ]
    for bad in invalid:
        with raises_cognito("InvalidParameterException"):
            cognito_nv.list_tags_for_resource(ResourceArn=bad)
        with raises_cognito("InvalidParameterException"):
            cognito_nv.tag_resource(ResourceArn=bad, Tags={"k": "v"})
    with raises_cognito("InvalidParameterException"):
        cognito_nv.tag_resource(ResourceArn=arn)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.untag_resource(ResourceArn=arn)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.list_tags_for_resource()
    for wrong in (["k"], {"k": 5}, {"k": None}, "k"):
        assert_raw_error(server.raw("TagResource", {"ResourceArn": arn, "Tags": wrong}),
                         "InvalidParameterException")
    assert_raw_error(server.raw("UntagResource", {"ResourceArn": arn, "TagKeys": {"k": "v"}}),
                     "InvalidParameterException")
    assert_raw_error(server.raw("ListTagsForResource", {"ResourceArn": 5}), "InvalidParameterException")
    with raises_cognito("InvalidParameterException"):
        cognito.tag_resource(ResourceArn=arn, Tags={"k\u0000": "v"})
    with raises_cognito("InvalidParameterException"):
        cognito.tag_resource(ResourceArn=arn, Tags={"k": "v\u0000"})
    assert cognito.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
    # They are signed operations.
    resp = server.raw("TagResource", {"ResourceArn": arn, "Tags": {"k": "v"}}, sign=False)
    assert_raw_error(resp, "MissingAuthenticationTokenException")


# --------------------------------------------------------------------------- DeleteUserAttributes


CUSTOM = [{"Name": "dept", "AttributeDataType": "String", "Mutable": True},
          {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True}]


def test_delete_user_attributes(cognito, cognito_nv, make_app, make_confirmed_user, sign_in):
    app = make_app({"Schema": CUSTOM})
    username = make_confirmed_user(app.pool_id, attributes={
        "email": f"{uid()}@example.com", "given_name": "Gi", "family_name": "Fa",
        "custom:dept": "eng"})
    token = sign_in(app, username)["AccessToken"]
    cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=["given_name", "custom:dept"])
    got = attrs(cognito.get_user(AccessToken=token)["UserAttributes"])
    assert "given_name" not in got and "custom:dept" not in got
    assert got["family_name"] == "Fa"
    # Deleting an attribute the user does not have is not an error.
    cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=["given_name"])

    for name, code in [("sub", "InvalidParameterException"),
                       ("email", "InvalidParameterException"),  # required in this pool
                       ("custom:nope", "InvalidParameterException"),
                       ("email_verified", "NotAuthorizedException"),
                       ("custom:tenantId", "NotAuthorizedException"),
                       ("given\u0000name", "InvalidParameterException")]:
        with raises_cognito(code):
            cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=[name])
    assert attrs(cognito.get_user(AccessToken=token)["UserAttributes"])["family_name"] == "Fa"

    with raises_cognito("InvalidParameterException"):
        cognito_nv.delete_user_attributes(AccessToken=token)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.delete_user_attributes(AccessToken=token, UserAttributeNames="family_name")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.delete_user_attributes(UserAttributeNames=["family_name"])
    with raises_cognito("NotAuthorizedException"):
        cognito.delete_user_attributes(AccessToken="a.b.c", UserAttributeNames=["family_name"])
    # The ID token is not an access token.
    with raises_cognito("NotAuthorizedException"):
        cognito.delete_user_attributes(AccessToken=sign_in(app, username)["IdToken"],
                                       UserAttributeNames=["family_name"])


def test_delete_user_attributes_follows_the_clients_write_attributes(
        cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(WriteAttributes=["given_name"])
    username = make_confirmed_user(app.pool_id, attributes={"given_name": "Gi", "family_name": "Fa"})
    token = sign_in(app, username)["AccessToken"]
    with raises_cognito("NotAuthorizedException"):
        cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=["family_name"])
    cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=["given_name"])
    got = attrs(cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)["UserAttributes"])
    assert "given_name" not in got and got["family_name"] == "Fa"


def test_delete_user_attributes_keeps_the_sign_in_name(cognito, make_app, sign_in):
    app = make_app({"UsernameAttributes": ["email"]})
    email = f"{uid()}@example.com"
    cognito.admin_create_user(UserPoolId=app.pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"}])
    cognito.admin_set_user_password(UserPoolId=app.pool_id, Username=email, Password=PASSWORD,
                                    Permanent=True)
    token = sign_in(app, email)["AccessToken"]
    with raises_cognito("InvalidParameterException"):
        cognito.delete_user_attributes(AccessToken=token, UserAttributeNames=["email"])
    assert attrs(cognito.get_user(AccessToken=token)["UserAttributes"])["email"] == email


# --------------------------------------------------------------------------- auth factors and MFA


def test_auth_factors(cognito, make_app, make_confirmed_user, sign_in, make_pool):
    app = optional_mfa_app(cognito, make_app)
    username = make_confirmed_user(app.pool_id)
    token = sign_in(app, username)["AccessToken"]
    factors = cognito.get_user_auth_factors(AccessToken=token)
    factors.pop("ResponseMetadata")
    assert factors == {"Username": username, "ConfiguredUserAuthFactors": ["PASSWORD"]}
    admin = cognito.admin_get_user_auth_factors(UserPoolId=app.pool_id, Username=username)
    admin.pop("ResponseMetadata")
    assert admin == factors

    enrol_with_token(cognito, token)
    factors = cognito.get_user_auth_factors(AccessToken=token)
    assert factors["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert factors["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    assert factors["ConfiguredUserAuthFactors"] == ["PASSWORD", "SOFTWARE_TOKEN"]
    user = cognito.get_user(AccessToken=token)
    assert (user["UserMFASettingList"], user["PreferredMfaSetting"]) == (
        factors["UserMFASettingList"], factors["PreferredMfaSetting"])
    admin = cognito.admin_get_user_auth_factors(UserPoolId=app.pool_id, Username=username)
    assert admin["ConfiguredUserAuthFactors"] == ["PASSWORD", "SOFTWARE_TOKEN"]

    # TOTP turned off: no MFA setting, the registered authenticator still configured.
    cognito.set_user_mfa_preference(AccessToken=token, SoftwareTokenMfaSettings={"Enabled": False})
    factors = cognito.get_user_auth_factors(AccessToken=token)
    assert "UserMFASettingList" not in factors and "PreferredMfaSetting" not in factors
    assert factors["ConfiguredUserAuthFactors"] == ["PASSWORD", "SOFTWARE_TOKEN"]

    other_pool = make_pool()["Id"]
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user_auth_factors(UserPoolId=other_pool, Username=username)
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user_auth_factors(UserPoolId=app.pool_id, Username=f"ghost-{uid()}")
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_get_user_auth_factors(UserPoolId="local_000000000", Username=username)
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user_auth_factors(AccessToken="a.b.c")


def test_admin_delete_software_token(cognito, make_app, make_confirmed_user, sign_in):
    app = optional_mfa_app(cognito, make_app)
    username = make_confirmed_user(app.pool_id)
    token = sign_in(app, username)["AccessToken"]
    auth = enrol_with_token(cognito, token)
    assert initiate(cognito, app.client_id, username).get("ChallengeName") == "SOFTWARE_TOKEN_MFA"

    cognito.admin_delete_software_token(UserPoolId=app.pool_id, Username=username)
    user = cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)
    assert "UserMFASettingList" not in user and "PreferredMfaSetting" not in user
    factors = cognito.admin_get_user_auth_factors(UserPoolId=app.pool_id, Username=username)
    assert factors["ConfiguredUserAuthFactors"] == ["PASSWORD"]
    # The lost authenticator no longer answers: the optional pool signs the user in without it.
    assert "AuthenticationResult" in initiate(cognito, app.client_id, username)
    # Deleting again is not an error.
    cognito.admin_delete_software_token(UserPoolId=app.pool_id, Username=username)
    # The user enrols a new authenticator with a session that did not pass MFA.
    fresh_token = sign_in(app, username)["AccessToken"]
    new_auth = enrol_with_token(cognito, fresh_token)
    assert new_auth.totp.secret != auth.totp.secret
    sign_in_with_code(cognito, app.client_id, username, new_auth)

    with raises_cognito("UserNotFoundException"):
        cognito.admin_delete_software_token(UserPoolId=app.pool_id, Username=f"ghost-{uid()}")
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_delete_software_token(UserPoolId="local_000000000", Username=username)


def test_deleted_token_in_a_pool_requiring_mfa_means_setting_up_again(
        cognito, make_app, make_confirmed_user):
    app = optional_mfa_app(cognito, make_app)
    username = make_confirmed_user(app.pool_id)
    first = initiate(cognito, app.client_id, username)["AuthenticationResult"]
    enrol_with_token(cognito, first["AccessToken"])
    cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    cognito.admin_delete_software_token(UserPoolId=app.pool_id, Username=username)
    assert initiate(cognito, app.client_id, username)["ChallengeName"] == "MFA_SETUP"


def test_set_user_settings_accepts_no_options_and_refuses_sms(cognito, cognito_nv, make_app,
                                                              make_confirmed_user, sign_in, server):
    app = make_app()
    username = make_confirmed_user(app.pool_id, attributes={"phone_number": "+15555550100"})
    token = sign_in(app, username)["AccessToken"]
    cognito.set_user_settings(AccessToken=token, MFAOptions=[])
    cognito.admin_set_user_settings(UserPoolId=app.pool_id, Username=username, MFAOptions=[])
    sms = [{"DeliveryMedium": "SMS", "AttributeName": "phone_number"}]
    with raises_cognito("InvalidParameterException"):
        cognito.set_user_settings(AccessToken=token, MFAOptions=sms)
    with raises_cognito("InvalidParameterException"):
        cognito.admin_set_user_settings(UserPoolId=app.pool_id, Username=username, MFAOptions=sms)
    with raises_cognito("InvalidParameterException"):
        cognito.set_user_settings(AccessToken=token,
                                  MFAOptions=[{"DeliveryMedium": "EMAIL", "AttributeName": "email"}])
    user = cognito.get_user(AccessToken=token)
    assert "MFAOptions" not in user and "UserMFASettingList" not in user
    assert "MFAOptions" not in cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)

    for wrong in ("SMS", ["SMS"], {"DeliveryMedium": "SMS"}):
        assert_raw_error(server.raw("SetUserSettings", {"AccessToken": token, "MFAOptions": wrong}, sign=False),
                         "InvalidParameterException")
    for bad in [None, [{"DeliveryMedium": "FAX", "AttributeName": "phone_number"}],
                [{"DeliveryMedium": "SMS", "AttributeName": "x" * 33}],
                [{"DeliveryMedium": "SMS", "AttributeName": "phone\u0000number"}]]:
        kwargs = {} if bad is None else {"MFAOptions": bad}
        with raises_cognito("InvalidParameterException"):
            cognito_nv.set_user_settings(AccessToken=token, **kwargs)
        with raises_cognito("InvalidParameterException"):
            cognito_nv.admin_set_user_settings(UserPoolId=app.pool_id, Username=username, **kwargs)
    with raises_cognito("NotAuthorizedException"):
        cognito.set_user_settings(AccessToken="a.b.c", MFAOptions=[])
    with raises_cognito("UserNotFoundException"):
        cognito.admin_set_user_settings(UserPoolId=app.pool_id, Username=f"ghost-{uid()}", MFAOptions=[])
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_set_user_settings(UserPoolId="local_000000000", Username=username, MFAOptions=[])


# --------------------------------------------------------------------------- sessions


SESSION_ID = re.compile(r"^tkn[a-z0-9]{25}$")


def test_sessions_are_listed_and_revoked_one_by_one(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app()
    other_app = make_client_for(cognito, app.pool_id)
    username = make_confirmed_user(app.pool_id)
    a = sign_in(app, username)
    b = sign_in(other_app, username)

    mine = cognito.list_user_sessions(AccessToken=a["AccessToken"])
    assert "NextToken" not in mine
    sessions = mine["Sessions"]
    assert len(sessions) == 2
    for s in sessions:
        assert SESSION_ID.match(s["SessionId"]), s
        assert s["SessionType"] == "TOKEN"
        assert s["CreateDate"] and s["LastActiveDate"] >= s["CreateDate"]
    current = [s for s in sessions if s["IsCurrentSession"]]
    assert len(current) == 1 and current[0]["ClientId"] == app.client_id
    other = next(s for s in sessions if not s["IsCurrentSession"])
    assert other["ClientId"] == other_app.client_id

    admin = cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=username)["Sessions"]
    assert {s["SessionId"] for s in admin} == {s["SessionId"] for s in sessions}
    assert not any(s["IsCurrentSession"] for s in admin)

    # The caller's own session cannot be revoked this way.
    with raises_cognito("InvalidParameterException"):
        cognito.revoke_user_session(AccessToken=a["AccessToken"], SessionId=current[0]["SessionId"])
    cognito.revoke_user_session(AccessToken=a["AccessToken"], SessionId=other["SessionId"])
    # The revoked session's tokens stop working; the caller's keep working.
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=b["AccessToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=other_app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": b["RefreshToken"]})
    cognito.get_user(AccessToken=a["AccessToken"])
    left = cognito.list_user_sessions(AccessToken=a["AccessToken"])["Sessions"]
    assert [s["SessionId"] for s in left] == [current[0]["SessionId"]]
    # A revoked session is gone: revoking it again names no session.
    with raises_cognito("ResourceNotFoundException"):
        cognito.revoke_user_session(AccessToken=a["AccessToken"], SessionId=other["SessionId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.revoke_user_session(AccessToken=a["AccessToken"], SessionId="tkn" + "0" * 25)


def make_client_for(cognito, pool_id: str):
    from conftest import USER_FLOWS, App
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=f"app-{uid()}",
                                             ExplicitAuthFlows=USER_FLOWS)["UserPoolClient"]
    return App(pool_id, client["ClientId"])


def test_admin_revoke_user_session(cognito, cognito_nv, make_app, make_confirmed_user, sign_in, make_pool):
    app = make_app()
    alice = make_confirmed_user(app.pool_id)
    bob = make_confirmed_user(app.pool_id)
    a = sign_in(app, alice)
    b = sign_in(app, bob)
    (alices,) = cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=alice)["Sessions"]
    (bobs,) = cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=bob)["Sessions"]

    # The username must be the session's user's.
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_revoke_user_session(UserPoolId=app.pool_id, Username=alice,
                                          SessionId=bobs["SessionId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.revoke_user_session(AccessToken=a["AccessToken"], SessionId=bobs["SessionId"])
    cognito.get_user(AccessToken=b["AccessToken"])

    with raises_cognito("InvalidParameterException"):
        cognito_nv.admin_revoke_user_session(UserPoolId=app.pool_id, Username=alice,
                                             SessionId=alices["SessionId"],
                                             RevokeAssociatedSessions="ALL")
    cognito.admin_revoke_user_session(UserPoolId=app.pool_id, Username=alice,
                                      SessionId=alices["SessionId"], RevokeAssociatedSessions="LINKED")
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=a["AccessToken"])
    assert cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=alice)["Sessions"] == []
    cognito.get_user(AccessToken=b["AccessToken"])

    # A global sign-out ends every session.
    cognito.admin_user_global_sign_out(UserPoolId=app.pool_id, Username=bob)
    assert cognito.admin_list_user_sessions(UserPoolId=app.pool_id, Username=bob)["Sessions"] == []

    other_pool = make_pool()["Id"]
    for call in (lambda **k: cognito.admin_list_user_sessions(**k),
                 lambda **k: cognito.admin_revoke_user_session(SessionId=bobs["SessionId"], **k)):
        with raises_cognito("UserNotFoundException"):
            call(UserPoolId=other_pool, Username=alice)
        with raises_cognito("UserNotFoundException"):
            call(UserPoolId=app.pool_id, Username=f"ghost-{uid()}")
        with raises_cognito("ResourceNotFoundException"):
            call(UserPoolId="local_000000000", Username=alice)
        with raises_cognito("InvalidParameterException"):
            call(UserPoolId=app.pool_id, Username="ali\u0000ce")


def test_session_operations_refuse_bad_input(cognito, cognito_nv, make_app, make_confirmed_user, sign_in):
    app = make_app()
    username = make_confirmed_user(app.pool_id)
    token = sign_in(app, username)["AccessToken"]
    for bad in ["tkn" + "A" * 25, "abc" + "0" * 25, "tkn" + "0" * 26, "tkn" + "0" * 24 + "\u0000"]:
        with raises_cognito("InvalidParameterException"):
            cognito_nv.revoke_user_session(AccessToken=token, SessionId=bad)
        with raises_cognito("InvalidParameterException"):
            cognito_nv.admin_revoke_user_session(UserPoolId=app.pool_id, Username=username, SessionId=bad)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.revoke_user_session(AccessToken=token)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.admin_list_user_sessions(UserPoolId=app.pool_id)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.list_user_sessions()
    with raises_cognito("InvalidParameterException"):
        cognito.list_user_sessions(AccessToken=token, NextToken="not-ours")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.list_user_sessions(AccessToken=token, NextToken=5)
    with raises_cognito("NotAuthorizedException"):
        cognito.list_user_sessions(AccessToken="a.b.c")
    with raises_cognito("NotAuthorizedException"):
        cognito.revoke_user_session(AccessToken="a.b.c", SessionId="tkn" + "0" * 25)


@pytest.mark.parametrize("op", ["TagResource", "UntagResource", "ListTagsForResource",
                                "AdminGetUserAuthFactors", "AdminDeleteSoftwareToken",
                                "AdminSetUserSettings", "AdminListUserSessions",
                                "AdminRevokeUserSession"])
def test_admin_operations_are_signed(server, op):
    resp = server.raw(op, {"UserPoolId": f"local_{uid(9)}", "Username": "x"}, sign=False)
    assert_raw_error(resp, "MissingAuthenticationTokenException")


@pytest.mark.parametrize("op", ["DeleteUserAttributes", "GetUserAuthFactors", "SetUserSettings",
                                "ListUserSessions", "RevokeUserSession"])
def test_token_operations_answer_empty_input_with_a_4xx(server, op):
    resp = server.raw(op, {}, sign=False)
    assert_raw_error(resp, "InvalidParameterException")
