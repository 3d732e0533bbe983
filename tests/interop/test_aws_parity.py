"""Answers where Cognate once differed from Amazon Cognito and now gives Cognito's, each as
Cognito's API reference describes it or as moto's AWS-verified tests record it
(getmoto/moto tests/test_cognitoidp/test_cognitoidp.py): sign-up codes only for
AutoVerifiedAttributes, masked destinations, Boolean attributes in any case, admin-only
recovery, schema validation at CreateUserPool and AddCustomAttributes, developer-only
attributes, SetUserPoolMfaConfig's refusal, legacy verification message fields, resource
servers without scopes, attribute messages (every unknown attribute named), ListUsers filter
messages, resource server messages, and the account id in ARNs."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from cognate_harness import attrs, cognate_bin, raises_cognito, uid
from conftest import PASSWORD


def error_message(info) -> str:
    return info.value.response["Error"]["Message"]


# --------------------------------------------------------------------------- SignUp codes


def test_sign_up_sends_no_code_unless_the_pool_auto_verifies_the_contact(server, cognito, make_app):
    """moto test_sign_up_with_unverified_email / test_sign_up_with_verified_email."""
    plain = make_app()
    username = f"user-{uid()}"
    resp = cognito.sign_up(ClientId=plain.client_id, Username=username, Password=PASSWORD,
                           UserAttributes=[{"Name": "email", "Value": f"t{uid()}@test.com"}])
    assert resp["UserConfirmed"] is False and resp["UserSub"]
    assert "CodeDeliveryDetails" not in resp
    assert server.messages_for(plain.pool_id, username) == []
    # An administrator confirms such a user.
    cognito.admin_confirm_sign_up(UserPoolId=plain.pool_id, Username=username)
    got = cognito.admin_get_user(UserPoolId=plain.pool_id, Username=username)
    assert got["UserStatus"] == "CONFIRMED"

    verifying = make_app({"AutoVerifiedAttributes": ["email"]})
    username = f"user-{uid()}"
    resp = cognito.sign_up(ClientId=verifying.client_id, Username=username, Password=PASSWORD,
                           UserAttributes=[{"Name": "email", "Value": f"t{uid()}@test.com"}])
    assert resp["CodeDeliveryDetails"] == {
        "Destination": "t***@t***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    code, _ = server.latest_code(verifying.pool_id, username)
    cognito.confirm_sign_up(ClientId=verifying.client_id, Username=username, ConfirmationCode=code)
    got = attrs(cognito.admin_get_user(UserPoolId=verifying.pool_id,
                                       Username=username)["UserAttributes"])
    assert got["email_verified"] == "true"

    # Without the auto-verified contact, no code either.
    username = f"user-{uid()}"
    resp = cognito.sign_up(ClientId=verifying.client_id, Username=username, Password=PASSWORD)
    assert "CodeDeliveryDetails" not in resp


def test_sign_up_prefers_the_phone_number_when_both_are_auto_verified(cognito, make_app):
    app = make_app({"AutoVerifiedAttributes": ["email", "phone_number"]})
    resp = cognito.sign_up(ClientId=app.client_id, Username=f"user-{uid()}", Password=PASSWORD,
                           UserAttributes=[{"Name": "email", "Value": f"t{uid()}@test.com"},
                                           {"Name": "phone_number", "Value": "+15555550100"}])
    assert resp["CodeDeliveryDetails"] == {
        "Destination": "+*******0100", "DeliveryMedium": "SMS", "AttributeName": "phone_number"}


# --------------------------------------------------------------------------- masks, booleans


def test_forgot_password_masks_the_whole_domain(cognito, make_app, make_confirmed_user):
    """moto test_forgot_password_with_email_delivery_details (AWS-verified): t***@t***."""
    app = make_app()
    username = make_confirmed_user(app.pool_id, attributes={
        "email": f"t{uid()}@test.com", "email_verified": "True"})
    resp = cognito.forgot_password(ClientId=app.client_id, Username=username)
    assert resp["CodeDeliveryDetails"] == {
        "Destination": "t***@t***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


def test_boolean_attributes_are_taken_in_any_case_and_stored_lowercase(cognito, pool_id):
    username = f"user-{uid()}"
    cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": f"{uid()}@example.com"},
                                              {"Name": "email_verified", "Value": "True"}])
    got = attrs(cognito.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"])
    assert got["email_verified"] == "true"
    cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=[
        {"Name": "email_verified", "Value": "FALSE"}])
    got = attrs(cognito.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"])
    assert got["email_verified"] == "false"
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=[
            {"Name": "email_verified", "Value": "yes"}])


# --------------------------------------------------------------------------- recovery


def test_admin_only_recovery_refuses_forgot_password(cognito, make_app, make_confirmed_user):
    """moto test_forgot_password_admin_only_recovery."""
    app = make_app({"AccountRecoverySetting": {
        "RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}})
    username = make_confirmed_user(app.pool_id, attributes={
        "email": f"{uid()}@example.com", "email_verified": "true"})
    for name in (username, f"ghost-{uid()}"):
        with raises_cognito("NotAuthorizedException") as info:
            cognito.forgot_password(ClientId=app.client_id, Username=name)
        assert error_message(info) == "Contact administrator to reset password."


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(("attribute", "message"), [
    pytest.param({"Name": "email", "AttributeDataType": "String",
                  "StringAttributeConstraints": {"MinLength": "2", "MaxLength": "1"}},
                 "user.email: Max length cannot be less than min length.", id="min-over-max"),
    pytest.param({"Name": "email", "AttributeDataType": "String",
                  "StringAttributeConstraints": {"MaxLength": "2049"}},
                 "user.email: String attributes cannot have a length of more than 2048",
                 id="over-2048"),
    pytest.param({"Name": "email", "AttributeDataType": "String",
                  "StringAttributeConstraints": {"MinLength": "invalid_value"}},
                 "Invalid StringAttributeConstraints for schema attribute email", id="not-a-number"),
    pytest.param({"Name": "updated_at", "AttributeDataType": "Number",
                  "NumberAttributeConstraints": {"MinValue": "2", "MaxValue": "1"}},
                 "user.updated_at: Max value cannot be less than min value.", id="number-min-over-max"),
    pytest.param({"Name": "email", "AttributeDataType": "Number"},
                 "You can not change AttributeDataType or set developerOnlyAttribute for standard "
                 "schema attribute email", id="standard-type-changed"),
    pytest.param({"Name": "email", "DeveloperOnlyAttribute": True},
                 "You can not change AttributeDataType or set developerOnlyAttribute for standard "
                 "schema attribute email", id="standard-developer-only"),
    pytest.param({"Name": "custom"},
                 "Invalid AttributeDataType input, consider using the provided AttributeDataType enum.",
                 id="custom-without-type"),
    pytest.param({"Name": "banana", "AttributeDataType": "String", "Required": True},
                 "Required custom attributes are not supported currently.", id="custom-required"),
])
def test_create_user_pool_validates_the_schema_in_cognitos_words(cognito, attribute, message):
    with raises_cognito("InvalidParameterException") as info:
        cognito.create_user_pool(PoolName=f"bad-{uid()}", Schema=[attribute])
    assert error_message(info) == message


def test_standard_attribute_constraints_are_kept_and_enforced(cognito, make_pool):
    pool = make_pool(Schema=[{"Name": "name", "AttributeDataType": "String", "Mutable": True,
                              "StringAttributeConstraints": {"MinLength": "2", "MaxLength": "10"}}])
    described = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    name = next(a for a in described["SchemaAttributes"] if a["Name"] == "name")
    assert name["StringAttributeConstraints"] == {"MinLength": "2", "MaxLength": "10"}
    with raises_cognito("InvalidParameterException"):
        cognito.admin_create_user(UserPoolId=pool["Id"], Username=f"u-{uid()}",
                                  MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "name", "Value": "x" * 11}])


def test_add_custom_attributes_needs_a_data_type(cognito, pool_id):
    with raises_cognito("InvalidParameterException") as info:
        cognito.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[{"Name": "dept"}])
    assert error_message(info) == (
        "Invalid AttributeDataType input, consider using the provided AttributeDataType enum.")


def test_developer_only_attributes_are_named_dev_custom(cognito, make_pool):
    """moto test_create_user_pool_custom_attribute_developer_only and
    test_add_custom_attributes_existing_attribute."""
    banana = {"Name": "banana", "AttributeDataType": "String", "DeveloperOnlyAttribute": True}
    pool = make_pool(Schema=[banana])
    for answer in (pool, cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]):
        names = {a["Name"]: a for a in answer["SchemaAttributes"]}
        assert "dev:custom:banana" in names and "custom:banana" not in names
        assert names["dev:custom:banana"]["DeveloperOnlyAttribute"] is True
    with raises_cognito("InvalidParameterException") as info:
        cognito.add_custom_attributes(UserPoolId=pool["Id"], CustomAttributes=[banana])
    assert error_message(info) == "custom:banana: Existing attribute already has name dev:custom:banana."
    # An administrator writes it by its dev: name.
    username = f"u-{uid()}"
    cognito.admin_create_user(UserPoolId=pool["Id"], Username=username, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "dev:custom:banana", "Value": "yellow"}])


def test_unknown_attributes_are_named_in_cognitos_words(cognito, pool_id):
    """moto test_admin_delete_user_attributes: the attribute named, Cognito's wording."""
    username = f"u-{uid()}"
    cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    expected = "Invalid user attributes: user.custom:foo: Attribute does not exist in the schema.\n"
    with raises_cognito("InvalidParameterException") as info:
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=[
            {"Name": "custom:foo", "Value": "1"}])
    assert error_message(info) == expected
    with raises_cognito("InvalidParameterException") as info:
        cognito.admin_delete_user_attributes(UserPoolId=pool_id, Username=username,
                                             UserAttributeNames=["custom:foo"])
    assert error_message(info) == expected


def test_every_unknown_attribute_is_named(cognito, pool_id):
    """moto test_admin_delete_user_attributes_non_existing_attribute: one line per unknown
    attribute, and nothing deleted."""
    username = f"u-{uid()}"
    cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "nickname", "Value": "Joe"}])
    with raises_cognito("InvalidParameterException") as info:
        cognito.admin_delete_user_attributes(UserPoolId=pool_id, Username=username,
                                             UserAttributeNames=["nickname", "custom:foo", "custom:bar"])
    assert error_message(info) == (
        "Invalid user attributes: user.custom:foo: Attribute does not exist in the schema.\n"
        "user.custom:bar: Attribute does not exist in the schema.\n")
    with raises_cognito("InvalidParameterException") as info:
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=[
            {"Name": "custom:a", "Value": "1"}, {"Name": "nickname", "Value": "Jo"},
            {"Name": "custom:b", "Value": "2"}])
    assert error_message(info) == (
        "Invalid user attributes: user.custom:a: Attribute does not exist in the schema.\n"
        "user.custom:b: Attribute does not exist in the schema.\n")
    got = attrs(cognito.admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"])
    assert got["nickname"] == "Joe"


# --------------------------------------------------------------------------- ListUsers filters


@pytest.mark.parametrize("bad", ["username = foo", "username=", 'email = "a" and name = "b"'])
def test_unparsable_filters_get_cognitos_message(cognito, pool_id, bad):
    """moto test_list_users_incorrect_filter: the message does not echo the filter."""
    with raises_cognito("InvalidParameterException") as info:
        cognito.list_users(UserPoolId=pool_id, Filter=bad)
    assert error_message(info) == "Error while parsing filter"


@pytest.mark.parametrize("name", ["custom:foo", "locale"])
def test_unsearchable_attributes_are_named(cognito, pool_id, name):
    """moto test_list_users_invalid_attributes."""
    with raises_cognito("InvalidParameterException") as info:
        cognito.list_users(UserPoolId=pool_id, Filter=f'{name} = "bar"')
    assert error_message(info) == f"Invalid search attribute: {name}"


# --------------------------------------------------------------------------- pool settings


def test_mfa_on_needs_a_factor_in_the_same_call(cognito, pool_id):
    """moto test_set_user_pool_mfa_config."""
    with raises_cognito("InvalidParameterException") as info:
        cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON")
    assert error_message(info) == (
        "At least one of [SmsMfaConfiguration] or [SoftwareTokenMfaConfiguration] must be provided.")
    resp = cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON",
                                            SoftwareTokenMfaConfiguration={"Enabled": True})
    assert resp["MfaConfiguration"] == "ON"
    # Even with a factor already configured, ON must name one.
    with raises_cognito("InvalidParameterException"):
        cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON")


def test_verification_template_and_legacy_fields_mirror_each_other(cognito, make_pool):
    """moto test_create_user_pool__overwrite_template_messages."""
    pool = make_pool(VerificationMessageTemplate={
        "DefaultEmailOption": "CONFIRM_WITH_CODE",
        "EmailMessage": "foo {####} bar",
        "EmailSubject": "foobar {####}",
        "SmsMessage": "{####} baz",
    })
    for answer in (pool, cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]):
        assert answer["SmsVerificationMessage"] == "{####} baz"
        assert answer["EmailVerificationSubject"] == "foobar {####}"
        assert answer["EmailVerificationMessage"] == "foo {####} bar"

    legacy = make_pool(EmailVerificationMessage="code {####}", EmailVerificationSubject="subject",
                       SmsVerificationMessage="sms {####}")
    template = cognito.describe_user_pool(UserPoolId=legacy["Id"])["UserPool"]["VerificationMessageTemplate"]
    assert template["EmailMessage"] == "code {####}"
    assert template["EmailSubject"] == "subject"
    assert template["SmsMessage"] == "sms {####}"


def test_resource_server_without_scopes_has_no_scopes_member(cognito, pool_id):
    """moto test_create_resource_server_with_no_scopes."""
    identifier = f"https://api-{uid()}.example.com"
    created = cognito.create_resource_server(UserPoolId=pool_id, Identifier=identifier, Name="api")
    assert "Scopes" not in created["ResourceServer"]
    described = cognito.describe_resource_server(UserPoolId=pool_id, Identifier=identifier)
    assert "Scopes" not in described["ResourceServer"]
    listed = cognito.list_resource_servers(UserPoolId=pool_id, MaxResults=50)["ResourceServers"]
    assert all("Scopes" not in rs for rs in listed)
    updated = cognito.update_resource_server(UserPoolId=pool_id, Identifier=identifier, Name="api",
                                             Scopes=[{"ScopeName": "read", "ScopeDescription": "r"}])
    assert updated["ResourceServer"]["Scopes"] == [{"ScopeName": "read", "ScopeDescription": "r"}]


def test_resource_server_messages_are_cognitos(cognito, pool_id):
    """moto test_create_resource_server / test_describe_resource_server."""
    identifier = "http://localhost.localdomain"
    cognito.create_resource_server(UserPoolId=pool_id, Identifier=identifier, Name="local")
    with raises_cognito("InvalidParameterException") as info:
        cognito.create_resource_server(UserPoolId=pool_id, Identifier=identifier, Name="local")
    assert error_message(info) == f"{identifier} already exists in user pool {pool_id}."
    with raises_cognito("ResourceNotFoundException") as info:
        cognito.describe_resource_server(UserPoolId=pool_id, Identifier="non_existent_server")
    assert error_message(info) == "Resource server non_existent_server does not exist."


# --------------------------------------------------------------------------- account id


def test_account_id_in_arns_is_configurable(fresh_server):
    srv = fresh_server({"COGNATE_ACCOUNT_ID": "123456789012"})
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"acct-{uid()}")["UserPool"]
    assert pool["Arn"].split(":")[4] == "123456789012"
    assert pool["Arn"].endswith(f":userpool/{pool['Id']}")
    idp.tag_resource(ResourceArn=pool["Arn"], Tags={"team": "id"})
    assert idp.list_tags_for_resource(ResourceArn=pool["Arn"])["Tags"] == {"team": "id"}
    # The default account's ARN is not this server's.
    with raises_cognito("ResourceNotFoundException"):
        idp.list_tags_for_resource(ResourceArn=pool["Arn"].replace("123456789012", "000000000000"))


def test_default_account_id_is_unchanged(cognito, make_pool):
    assert make_pool()["Arn"].split(":")[4] == "000000000000"


@pytest.mark.parametrize("bad", ["12345", "12345678901a", "1234567890123"])
def test_a_malformed_account_id_stops_start_up_naming_the_setting(bad):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNATE_")}
    with tempfile.TemporaryDirectory() as data_dir:
        env.update({"COGNATE_ACCOUNT_ID": bad, "COGNATE_DATA_DIR": data_dir,
                    "COGNATE_LISTEN": "127.0.0.1:0"})
        done = subprocess.run([str(cognate_bin()), "serve"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode != 0
    assert "COGNATE_ACCOUNT_ID" in done.stderr and "12 digits" in done.stderr, done.stderr
