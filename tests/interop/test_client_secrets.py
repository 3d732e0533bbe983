"""App client secret rotation: AddUserPoolClientSecret, ListUserPoolClientSecrets,
DeleteUserPoolClientSecret — both secrets work while two exist (SECRET_HASH at sign-in, the
token endpoint's client authentication, GetTokensFromRefreshToken), the deleted one stops
working at once, and the limits Cognito sets."""

from __future__ import annotations

import base64
from datetime import datetime

import requests

from cognate_harness import raises_cognito, secret_hash, uid
from conftest import PASSWORD


def sign_in_with(cognito, app, username, secret):
    return cognito.initiate_auth(
        ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD,
                        "SECRET_HASH": secret_hash(username, app.client_id, secret)})


def test_rotating_a_client_secret_without_downtime(cognito, make_app, make_confirmed_user):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id)
    (original,) = cognito.list_user_pool_client_secrets(UserPoolId=app.pool_id,
                                                        ClientId=app.client_id)["ClientSecrets"]
    assert set(original) == {"ClientSecretId", "ClientSecretCreateDate"}  # never the value
    assert isinstance(original["ClientSecretCreateDate"], datetime)

    added = cognito.add_user_pool_client_secret(UserPoolId=app.pool_id,
                                                ClientId=app.client_id)["ClientSecretDescriptor"]
    new_secret = added["ClientSecretValue"]
    assert len(new_secret) >= 24 and new_secret != app.client_secret
    listed = cognito.list_user_pool_client_secrets(UserPoolId=app.pool_id, ClientId=app.client_id)
    assert [s["ClientSecretId"] for s in listed["ClientSecrets"]] == [original["ClientSecretId"],
                                                                       added["ClientSecretId"]]
    # Both secrets work while both exist.
    for secret in (app.client_secret, new_secret):
        assert "AccessToken" in sign_in_with(cognito, app, username, secret)["AuthenticationResult"]
    # A third is one too many.
    with raises_cognito("LimitExceededException"):
        cognito.add_user_pool_client_secret(UserPoolId=app.pool_id, ClientId=app.client_id)

    # Retire the original: it stops working at once, the new one goes on; Describe shows it.
    cognito.delete_user_pool_client_secret(UserPoolId=app.pool_id, ClientId=app.client_id,
                                           ClientSecretId=original["ClientSecretId"])
    with raises_cognito("NotAuthorizedException"):
        sign_in_with(cognito, app, username, app.client_secret)
    assert "AccessToken" in sign_in_with(cognito, app, username, new_secret)["AuthenticationResult"]
    described = cognito.describe_user_pool_client(UserPoolId=app.pool_id, ClientId=app.client_id)
    assert described["UserPoolClient"]["ClientSecret"] == new_secret
    # The last secret cannot go; an unknown id is not there.
    with raises_cognito("InvalidParameterException"):
        cognito.delete_user_pool_client_secret(UserPoolId=app.pool_id, ClientId=app.client_id,
                                               ClientSecretId=added["ClientSecretId"])
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_user_pool_client_secret(UserPoolId=app.pool_id, ClientId=app.client_id,
                                               ClientSecretId=original["ClientSecretId"])


def test_a_chosen_secret_and_the_token_endpoint(server, cognito, cognito_nv, make_pool, make_client):
    pool_id = make_pool()["Id"]
    cognito.create_resource_server(UserPoolId=pool_id, Identifier="https://api.example", Name="api",
                                   Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}])
    app = make_client(pool_id, secret=True, flows=None, AllowedOAuthFlows=["client_credentials"],
                      AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthScopes=["https://api.example/read"])
    chosen = "Chosen_secret_for_rotation_" + uid()
    added = cognito.add_user_pool_client_secret(UserPoolId=pool_id, ClientId=app.client_id,
                                                ClientSecret=chosen)["ClientSecretDescriptor"]
    assert added["ClientSecretValue"] == chosen

    def token(secret):
        basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
        return requests.post(f"{server.url}/oauth2/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"}, timeout=10)

    assert token(app.client_secret).status_code == 200
    assert token(chosen).status_code == 200
    assert token(chosen + "x").status_code == 401
    for bad in ("short", "has spaces in it, which are not allowed", "x" * 65):
        with raises_cognito("InvalidParameterException"):
            cognito_nv.add_user_pool_client_secret(UserPoolId=pool_id, ClientId=app.client_id, ClientSecret=bad)


def test_public_clients_and_unknown_clients(cognito, cognito_nv, make_app, make_pool):
    public = make_app()
    with raises_cognito("InvalidParameterException"):
        cognito.add_user_pool_client_secret(UserPoolId=public.pool_id, ClientId=public.client_id)
    assert cognito.list_user_pool_client_secrets(UserPoolId=public.pool_id,
                                                 ClientId=public.client_id)["ClientSecrets"] == []
    other_pool = make_pool()["Id"]
    for call in (
        lambda: cognito.add_user_pool_client_secret(UserPoolId=other_pool, ClientId=public.client_id),
        lambda: cognito.list_user_pool_client_secrets(UserPoolId=other_pool, ClientId=public.client_id),
        lambda: cognito.delete_user_pool_client_secret(UserPoolId=other_pool, ClientId=public.client_id,
                                                       ClientSecretId="x"),
    ):
        with raises_cognito("ResourceNotFoundException"):
            call()
    with raises_cognito("InvalidParameterException"):
        cognito_nv.add_user_pool_client_secret(UserPoolId=public.pool_id, ClientId=public.client_id,
                                               ClientSecret="bad\u0000secret-bad-secret-bad")
