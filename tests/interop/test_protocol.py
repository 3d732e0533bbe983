"""AWS JSON 1.1 wire protocol and SigV4 authentication: error shapes and codes."""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import pytest
import requests

from cognate_harness import assert_raw_error, raises_cognito, uid


def test_raw_success_and_error_shape(server):
    ok = server.raw("ListUserPools", {"MaxResults": 5})
    assert ok.status_code == 200, ok.text
    assert ok.headers.get("Content-Type", "").startswith("application/x-amz-json-1.1")
    assert isinstance(ok.json()["UserPools"], list)

    resp = server.raw("DescribeUserPool", {"UserPoolId": "local_000000000"})
    body = assert_raw_error(resp, "ResourceNotFoundException", statuses=[400])
    assert isinstance(body.get("message"), str) and body["message"]
    assert resp.headers.get("Content-Type", "").startswith("application/x-amz-json-1.1")
    assert resp.headers.get("x-amzn-RequestId"), "no x-amzn-RequestId header"


def test_other_region_name_signs_fine(server):
    """Any region name in the credential scope is accepted (README: 'any region name')."""
    client = server.client(region="eu-west-1")
    assert "UserPools" in client.list_user_pools(MaxResults=1)


def test_unknown_access_key(server):
    client = server.client(key="AKIA" + "X" * 16, secret="s" * 40)
    with raises_cognito("UnrecognizedClientException"):
        client.list_user_pools(MaxResults=1)


def test_wrong_secret(server):
    client = server.client(secret=server.credentials()["secret"] + "x")
    with raises_cognito("InvalidSignatureException"):
        client.list_user_pools(MaxResults=1)
    with raises_cognito("InvalidSignatureException"):
        client.create_user_pool(PoolName=f"never-{uid()}")


def test_wrong_service_in_scope(server):
    resp = server.raw("ListUserPools", {"MaxResults": 1}, service="sts")
    assert_raw_error(resp, "InvalidSignatureException")


def test_signature_from_20_minutes_ago(server):
    stale = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stale):
        resp = server.raw("ListUserPools", {"MaxResults": 1})
    assert "X-Amz-Date" in resp.request.headers
    assert resp.request.headers["X-Amz-Date"] == stale.strftime("%Y%m%dT%H%M%SZ")
    assert_raw_error(resp, "InvalidSignatureException")


def test_signature_from_the_future(server):
    future = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=future):
        resp = server.raw("ListUserPools", {"MaxResults": 1})
    assert_raw_error(resp, "InvalidSignatureException")


def test_tampered_body(server):
    signed = json.dumps({"PoolName": f"signed-{uid()}"}).encode()
    sent = json.dumps({"PoolName": f"forged-{uid()}"}).encode()
    assert len(signed) == len(sent)
    resp = server.raw("CreateUserPool", signed, body_after_signing=sent)
    assert_raw_error(resp, "InvalidSignatureException")
    pools = server.cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert not any(p["Name"].startswith("forged-") for p in pools)


def test_tampered_target_header(server):
    """X-Amz-Target is a signed header: changing it after signing breaks the signature."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = server.credentials()
    req = AWSRequest(method="POST", url=server.url + "/", data=b'{"MaxResults": 1}', headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools"})
    SigV4Auth(Credentials(creds["key"], creds["secret"]), "cognito-idp", "local").add_auth(req)
    headers = dict(req.prepare().headers.items())
    headers["X-Amz-Target"] = "AWSCognitoIdentityProviderService.ListUsers"
    resp = requests.post(server.url + "/", data=b'{"MaxResults": 1}', headers=headers, timeout=30)
    assert_raw_error(resp, "InvalidSignatureException")


def test_signature_without_the_operation_cannot_be_replayed(server, make_pool):
    """A signature over only host and x-amz-date (a valid SigV4 form) would let a captured
    AdminGetUser be replayed as AdminDeleteUser: the operation must be signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    pool = make_pool()
    server.cognito.admin_create_user(UserPoolId=pool["Id"], Username="victim", MessageAction="SUPPRESS")
    body = json.dumps({"UserPoolId": pool["Id"], "Username": "victim"}).encode()
    creds = server.credentials()
    req = AWSRequest(method="POST", url=server.url + "/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(creds["key"], creds["secret"]), "cognito-idp", "local").add_auth(req)
    headers = dict(req.prepare().headers.items())
    assert "SignedHeaders=content-type;host;x-amz-date," in headers["Authorization"]
    for op in ("AdminGetUser", "AdminDeleteUser"):
        headers["X-Amz-Target"] = f"AWSCognitoIdentityProviderService.{op}"
        resp = requests.post(server.url + "/", data=body, headers=headers, timeout=30)
        err = assert_raw_error(resp, "InvalidSignatureException")
        assert "x-amz-target" in err["message"]
    assert server.cognito.admin_get_user(UserPoolId=pool["Id"], Username="victim")["Username"] == "victim"


@pytest.mark.parametrize("operation,body", [
    ("ListUserPools", {"MaxResults": 1}),
    ("CreateUserPool", {"PoolName": "unsigned"}),
    ("AdminGetUser", {"UserPoolId": "local_000000000", "Username": "x"}),
    ("ListUsers", {"UserPoolId": "local_000000000"}),
])
def test_missing_signature(server, operation, body):
    resp = server.raw(operation, body, sign=False)
    assert_raw_error(resp, "MissingAuthenticationTokenException")


def test_garbage_authorization_header(server):
    resp = server.raw("ListUserPools", {"MaxResults": 1}, sign=False,
                      headers={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    assert resp.status_code in range(400, 500), resp.text
    code = str(resp.json().get("__type", "")).split("#")[-1]
    assert code in {"IncompleteSignatureException", "InvalidSignatureException",
                    "MissingAuthenticationTokenException"}, resp.text


@pytest.mark.parametrize("body", [b'{"MaxResults": 10', b"not json at all", b"[]", b'"str"'])
def test_malformed_json(server, body):
    resp = server.raw("ListUserPools", body)
    assert_raw_error(resp, "SerializationException")


@pytest.mark.parametrize("target", [
    "AWSCognitoIdentityProviderService.NoSuchOperation",
    "AWSCognitoIdentityProviderService.",
    "SomeOtherService.ListUserPools",
])
def test_unknown_operation(server, target):
    resp = server.raw(None, {"MaxResults": 1}, target=target)
    assert_raw_error(resp, "UnknownOperationException")


def test_oversized_body(server):
    body = json.dumps({"PoolName": "x" * (1024 * 1024 + 512)}).encode()
    assert len(body) > 1024 * 1024
    resp = server.raw("CreateUserPool", body, timeout=60)
    assert 400 <= resp.status_code <= 499, f"HTTP {resp.status_code}: {resp.text[:300]!r}"
    payload = resp.json()
    assert isinstance(payload.get("__type"), str) and payload["__type"], payload
    # The server is still healthy afterwards.
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("operation,kwargs", [
    ("create_user_pool", {}),
    ("describe_user_pool", {}),
    ("list_user_pools", {}),
    ("admin_create_user", {"UserPoolId": "local_000000000"}),
    ("admin_get_user", {"Username": "x"}),
    ("list_users", {}),
    ("create_group", {"UserPoolId": "local_000000000"}),
    ("create_user_pool_client", {"UserPoolId": "local_000000000"}),
    ("create_resource_server", {"UserPoolId": "local_000000000", "Identifier": "x"}),
    ("admin_set_user_password", {"UserPoolId": "local_000000000", "Username": "x"}),
])
def test_missing_required_parameters(cognito_nv, operation, kwargs):
    with raises_cognito("InvalidParameterException"):
        getattr(cognito_nv, operation)(**kwargs)


def test_missing_required_parameters_raw(server):
    resp = server.raw("CreateUserPool", {})
    assert_raw_error(resp, "InvalidParameterException")
    resp = server.raw("AdminGetUser", {"UserPoolId": "local_000000000"})
    assert_raw_error(resp, "InvalidParameterException")


def test_empty_strings_rejected(cognito_nv, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_user_pool(PoolName="")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.admin_create_user(UserPoolId=pool_id, Username="", MessageAction="SUPPRESS")


def test_healthz_needs_no_signature(server):
    for path in ("/healthz", "/readyz"):
        assert requests.get(server.url + path, timeout=10).status_code == 200


NUL_OPERATIONS = [
    ("InitiateAuth", {"ClientId": "abc", "AuthFlow": "USER_PASSWORD_AUTH",
                      "AuthParameters": {"USERNAME": "a\u0000b", "PASSWORD": "x"}}, False),
    ("SignUp", {"ClientId": "abc", "Username": "nul\u0000user", "Password": "Passw0rd!x"}, False),
    ("ForgotPassword", {"ClientId": "abc", "Username": "\u0000"}, False),
    ("ConfirmForgotPassword", {"ClientId": "abc", "Username": "u", "ConfirmationCode": "1\u00002",
                               "Password": "Passw0rd!x"}, False),
    ("ConfirmSignUp", {"ClientId": "abc", "Username": "u\u0000", "ConfirmationCode": "123456"}, False),
    ("AdminGetUser", {"UserPoolId": "local_abc", "Username": "x\u0000y"}, True),
    ("ListUsers", {"UserPoolId": "local_abc", "Filter": 'username = "\u0000"'}, True),
    ("CreateGroup", {"UserPoolId": "local_abc", "GroupName": "g\u0000"}, True),
    ("CreateUserPool", {"PoolName": "pool\u0000name"}, True),
    ("AdminCreateUser", {"UserPoolId": "local_abc", "Username": "u",
                         "UserAttributes": [{"Name": "email", "Value": "a\u0000@x.io"}]}, True),
]


@pytest.mark.parametrize("operation,body,signed", NUL_OPERATIONS, ids=[o[0] for o in NUL_OPERATIONS])
def test_nul_bytes_are_refused_with_a_clear_400(server, operation, body, signed):
    """U+0000 (and other control characters) are refused at parse time on both backends
    (PostgreSQL cannot store them): a 400 naming the member, never a 500."""
    resp = server.raw(operation, body, sign=signed)
    err = assert_raw_error(resp, "InvalidParameterException", statuses=[400])
    assert "control characters" in err["message"], err


def test_other_control_characters_are_refused_but_newlines_are_fine(server, make_pool):
    resp = server.raw("CreateUserPool", {"PoolName": "esc\u001b[31m"})
    assert_raw_error(resp, "InvalidParameterException", statuses=[400])
    pool = make_pool(VerificationMessageTemplate={"EmailMessage": "Hello,\n\nyour code is {####}.\r\n"})
    assert pool["Id"]


def test_nul_bytes_on_v1_and_oauth(server, tenancy):
    from cognate_harness import admin_bearer, assert_v1_error, v1  # noqa: PLC0415

    tenant = tenancy.create_tenant("nul")
    admin = admin_bearer(server)
    for method, path, body in [
        ("GET", f"/v1/tenants/{tenant['id']}/members/abc%00def", None),
        ("DELETE", f"/v1/tenants/{tenant['id']}/members/%00", None),
        ("GET", f"/v1/tenants/{tenant['id']}/invitations/inv%00", None),
        ("GET", "/v1/tenants?cursor=%00", None),
        ("GET", "/v1/discovery?email=a%00@acme.example", None),
        ("POST", "/v1/tenants", {"name": "A\u0000B", "tier": "basic"}),
        ("PATCH", f"/v1/tenants/{tenant['id']}", {"name": "x\u0000"}),
        ("POST", f"/v1/tenants/{tenant['id']}/invitations", {"email": "a\u0000@x.io", "role": "member"}),
        ("POST", "/v1/invitations/accept", {"token": "\u0000", "password": "Passw0rd!x"}),
        ("POST", "/v1/api-keys/verify", {"key": "cog_\u0000"}),
    ]:
        resp = v1(server, method, path, bearer=admin, body=body)
        assert_v1_error(resp, 400, "invalid_request")
    resp = requests.post(f"{server.url}/oauth2/token", timeout=10,
                         data="grant_type=client_credentials&client_id=a%00b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request", resp.text
