"""CreateUserPoolClient, DescribeUserPoolClient, ListUserPoolClients, UpdateUserPoolClient,
DeleteUserPoolClient."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from cognate_harness import raises_cognito, uid, walk

CLIENT_ID_RE = re.compile(r"[a-z0-9]{26}")
RS_ID = "https://api.example.com"


@pytest.fixture
def rich_pool(cognito, make_pool):
    pool = make_pool(Schema=[{"Name": "dept", "AttributeDataType": "String", "Mutable": True}])
    cognito.create_resource_server(UserPoolId=pool["Id"], Identifier=RS_ID, Name="api", Scopes=[
        {"ScopeName": "read", "ScopeDescription": "read things"},
        {"ScopeName": "write", "ScopeDescription": "write things"},
    ])
    return pool["Id"]


def test_create_minimal_client(cognito, pool_id):
    name = f"app-{uid()}"
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name)["UserPoolClient"]
    assert CLIENT_ID_RE.fullmatch(client["ClientId"]), client["ClientId"]
    assert client["UserPoolId"] == pool_id
    assert client["ClientName"] == name
    assert "ClientSecret" not in client
    assert client["RefreshTokenValidity"] == 30
    assert client.get("EnableTokenRevocation") is True
    assert isinstance(client["CreationDate"], dt.datetime)
    assert isinstance(client["LastModifiedDate"], dt.datetime)

    described = cognito.describe_user_pool_client(UserPoolId=pool_id,
                                                  ClientId=client["ClientId"])["UserPoolClient"]
    assert described["ClientId"] == client["ClientId"]
    assert described["ClientName"] == name
    assert described["UserPoolId"] == pool_id
    assert "ClientSecret" not in described
    assert described["CreationDate"] == client["CreationDate"]


def test_client_ids_unique(cognito, pool_id):
    ids = {cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="same")
           ["UserPoolClient"]["ClientId"] for _ in range(5)}
    assert len(ids) == 5


def test_client_with_secret(cognito, pool_id):
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="confidential",
                                             GenerateSecret=True)["UserPoolClient"]
    secret = client.get("ClientSecret")
    assert isinstance(secret, str) and len(secret) >= 32, f"ClientSecret {secret!r}"
    assert secret != client["ClientId"]
    other = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="confidential2",
                                            GenerateSecret=True)["UserPoolClient"]
    assert other["ClientSecret"] != secret
    described = cognito.describe_user_pool_client(UserPoolId=pool_id,
                                                  ClientId=client["ClientId"])["UserPoolClient"]
    # Cognito returns the same secret again on Describe (apps fetch it that way).
    assert described.get("ClientSecret") == secret


def test_client_full_configuration(cognito, rich_pool):
    req = dict(
        UserPoolId=rich_pool,
        ClientName="web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
                           "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
        ReadAttributes=["email", "given_name", "custom:dept"],
        WriteAttributes=["given_name", "custom:dept"],
        AccessTokenValidity=30,
        IdTokenValidity=45,
        RefreshTokenValidity=7,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        SupportedIdentityProviders=["COGNITO"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email", "profile", f"{RS_ID}/read"],
        AllowedOAuthFlowsUserPoolClient=True,
        CallbackURLs=["https://app.example.com/callback", "http://localhost:3000/cb"],
        LogoutURLs=["https://app.example.com/logout"],
        EnableTokenRevocation=False,
        PreventUserExistenceErrors="ENABLED",
    )
    created = cognito.create_user_pool_client(**req)["UserPoolClient"]
    described = cognito.describe_user_pool_client(
        UserPoolId=rich_pool, ClientId=created["ClientId"])["UserPoolClient"]
    for got in (created, described):
        assert set(got["ExplicitAuthFlows"]) == set(req["ExplicitAuthFlows"])
        assert set(got["ReadAttributes"]) == set(req["ReadAttributes"])
        assert set(got["WriteAttributes"]) == set(req["WriteAttributes"])
        assert got["AccessTokenValidity"] == 30
        assert got["IdTokenValidity"] == 45
        assert got["RefreshTokenValidity"] == 7
        assert got["TokenValidityUnits"] == req["TokenValidityUnits"]
        assert got["AllowedOAuthFlows"] == ["code"]
        assert set(got["AllowedOAuthScopes"]) == set(req["AllowedOAuthScopes"])
        assert got["AllowedOAuthFlowsUserPoolClient"] is True
        assert set(got["CallbackURLs"]) == set(req["CallbackURLs"])
        assert got["LogoutURLs"] == req["LogoutURLs"]
        assert got["SupportedIdentityProviders"] == ["COGNITO"]
        assert got["EnableTokenRevocation"] is False
        assert got["PreventUserExistenceErrors"] == "ENABLED"
        assert "ClientSecret" not in got


def test_client_credentials_client(cognito, rich_pool):
    created = cognito.create_user_pool_client(
        UserPoolId=rich_pool, ClientName="m2m", GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[f"{RS_ID}/read", f"{RS_ID}/write"],
        AllowedOAuthFlowsUserPoolClient=True,
        AccessTokenValidity=1, TokenValidityUnits={"AccessToken": "hours"},
    )["UserPoolClient"]
    assert created["AllowedOAuthFlows"] == ["client_credentials"]
    assert set(created["AllowedOAuthScopes"]) == {f"{RS_ID}/read", f"{RS_ID}/write"}
    assert created["ClientSecret"]
    assert created["AccessTokenValidity"] == 1
    assert created["TokenValidityUnits"]["AccessToken"] == "hours"


@pytest.mark.parametrize("bad", [
    pytest.param({"AccessTokenValidity": 2, "TokenValidityUnits": {"AccessToken": "days"}},
                 id="access-2-days"),
    pytest.param({"AccessTokenValidity": 4, "TokenValidityUnits": {"AccessToken": "minutes"}},
                 id="access-4-minutes"),
    pytest.param({"IdTokenValidity": 25, "TokenValidityUnits": {"IdToken": "hours"}},
                 id="id-25-hours"),
    pytest.param({"RefreshTokenValidity": 30, "TokenValidityUnits": {"RefreshToken": "minutes"}},
                 id="refresh-30-minutes"),
    pytest.param({"RefreshTokenValidity": 3651}, id="refresh-3651-days"),
    pytest.param({"TokenValidityUnits": {"AccessToken": "weeks"}, "AccessTokenValidity": 1},
                 id="unit-weeks"),
    pytest.param({"ExplicitAuthFlows": ["ALLOW_TELEPATHY"]}, id="unknown-auth-flow"),
    pytest.param({"WriteAttributes": ["custom:nope"]}, id="unknown-write-attribute"),
    pytest.param({"ReadAttributes": ["custom:nope"]}, id="unknown-read-attribute"),
    pytest.param({"PreventUserExistenceErrors": "SOMETIMES"}, id="bad-prevent-existence"),
    pytest.param({"AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid"],
                  "AllowedOAuthFlowsUserPoolClient": True,
                  "CallbackURLs": ["http://app.example.com/cb"]}, id="plain-http-callback"),
])
def test_create_client_invalid_parameters(cognito, rich_pool, bad):
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool_client(UserPoolId=rich_pool, ClientName="bad", **bad)


def test_create_client_invalid_oauth_flows(cognito, rich_pool):
    with raises_cognito("InvalidOAuthFlowException"):
        cognito.create_user_pool_client(  # client_credentials needs a secret
            UserPoolId=rich_pool, ClientName="m2m", GenerateSecret=False,
            AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=[f"{RS_ID}/read"],
            AllowedOAuthFlowsUserPoolClient=True)
    with raises_cognito("InvalidOAuthFlowException"):
        cognito.create_user_pool_client(  # client_credentials cannot be mixed with code
            UserPoolId=rich_pool, ClientName="mixed", GenerateSecret=True,
            AllowedOAuthFlows=["client_credentials", "code"],
            AllowedOAuthScopes=[f"{RS_ID}/read"], CallbackURLs=["https://a.example.com/cb"],
            AllowedOAuthFlowsUserPoolClient=True)


def test_create_client_unknown_scope(cognito, rich_pool):
    with raises_cognito("ScopeDoesNotExistException"):
        cognito.create_user_pool_client(
            UserPoolId=rich_pool, ClientName="m2m", GenerateSecret=True,
            AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=[f"{RS_ID}/delete"], AllowedOAuthFlowsUserPoolClient=True)


def test_client_unknown_pool_and_client(cognito, pool_id):
    with raises_cognito("ResourceNotFoundException"):
        cognito.create_user_pool_client(UserPoolId="local_000000000", ClientName="x")
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId="a" * 26)
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_user_pool_client(UserPoolId=pool_id, ClientId="a" * 26, ClientName="x")
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId="a" * 26)
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_user_pool_clients(UserPoolId="local_000000000", MaxResults=10)


def test_client_belongs_to_its_pool(cognito, make_pool):
    a, b = make_pool()["Id"], make_pool()["Id"]
    client = cognito.create_user_pool_client(UserPoolId=a, ClientName="a")["UserPoolClient"]
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_pool_client(UserPoolId=b, ClientId=client["ClientId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_user_pool_client(UserPoolId=b, ClientId=client["ClientId"])
    cognito.describe_user_pool_client(UserPoolId=a, ClientId=client["ClientId"])


def test_list_user_pool_clients_pagination(cognito, pool_id):
    made = {}
    for i in range(7):
        c = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=f"c{i}",
                                            GenerateSecret=(i % 2 == 0))["UserPoolClient"]
        made[c["ClientId"]] = f"c{i}"
    items, sizes = walk(cognito.list_user_pool_clients, "UserPoolClients", "NextToken",
                        "NextToken", "MaxResults", 3, UserPoolId=pool_id)
    ids = [c["ClientId"] for c in items]
    assert len(ids) == len(set(ids)), "duplicate clients across pages"
    assert set(ids) == set(made)
    assert sizes[:2] == [3, 3] and sum(sizes) == 7
    for c in items:
        assert c["UserPoolId"] == pool_id
        assert c["ClientName"] == made[c["ClientId"]]
        assert "ClientSecret" not in c


def test_update_user_pool_client(cognito, rich_pool):
    created = cognito.create_user_pool_client(
        UserPoolId=rich_pool, ClientName="before", GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"],
        AllowedOAuthFlowsUserPoolClient=True, CallbackURLs=["https://app.example.com/cb"],
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]
    cid = created["ClientId"]
    updated = cognito.update_user_pool_client(
        UserPoolId=rich_pool, ClientId=cid, ClientName="after",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=2, TokenValidityUnits={"AccessToken": "hours"},
        ReadAttributes=["email", "custom:dept"], EnableTokenRevocation=True,
    )["UserPoolClient"]
    described = cognito.describe_user_pool_client(UserPoolId=rich_pool,
                                                  ClientId=cid)["UserPoolClient"]
    for got in (updated, described):
        assert got["ClientId"] == cid
        assert got["ClientName"] == "after"
        assert set(got["ExplicitAuthFlows"]) == {"ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                                 "ALLOW_REFRESH_TOKEN_AUTH"}
        assert got["AccessTokenValidity"] == 2
        assert got["TokenValidityUnits"]["AccessToken"] == "hours"
        assert set(got["ReadAttributes"]) == {"email", "custom:dept"}
        # Like Cognito: UpdateUserPoolClient replaces the whole configuration, so settings
        # left out of the request go back to their defaults.
        assert not got.get("CallbackURLs"), got.get("CallbackURLs")
        assert not got.get("AllowedOAuthFlows"), got.get("AllowedOAuthFlows")
        assert got["CreationDate"] == created["CreationDate"]
        assert got["LastModifiedDate"] >= created["LastModifiedDate"]
        assert got.get("ClientSecret") == created["ClientSecret"]  # kept across updates
    with raises_cognito("InvalidParameterException"):
        cognito.update_user_pool_client(UserPoolId=rich_pool, ClientId=cid,
                                        AccessTokenValidity=2,
                                        TokenValidityUnits={"AccessToken": "days"})
    with raises_cognito("ScopeDoesNotExistException"):
        cognito.update_user_pool_client(
            UserPoolId=rich_pool, ClientId=cid, AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=[f"{RS_ID}/nope"], AllowedOAuthFlowsUserPoolClient=True)


def test_delete_user_pool_client(cognito, pool_id):
    keep = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="keep")
    gone = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="gone")
    gone_id = gone["UserPoolClient"]["ClientId"]
    cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=gone_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=gone_id)
    listed = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    assert [c["ClientId"] for c in listed] == [keep["UserPoolClient"]["ClientId"]]
