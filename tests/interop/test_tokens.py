"""OIDC discovery and JWKS, the exact claim sets of ID and access tokens, verification with
PyJWT from the JWKS URL alone, token lifetimes, and signing-key rotation with the CLI."""

from __future__ import annotations

import re
import time
import uuid

import jwt
import pytest
import requests

from cognate_harness import jwt_claims, jwt_header, raises_cognito, tamper, uid, unsigned_copy

ID_BASE = {"sub", "iss", "aud", "token_use", "auth_time", "iat", "exp", "jti", "origin_jti",
           "cognito:username", "event_id"}
ACCESS_BASE = {"sub", "iss", "client_id", "token_use", "scope", "auth_time", "iat", "exp", "jti",
               "origin_jti", "username", "event_id", "version"}
TENANT_SCHEMA = [{"Name": "tenantId", "AttributeDataType": "String", "Mutable": True},
                 {"Name": "seats", "AttributeDataType": "Number", "Mutable": True}]


def verify(server, pool_id, token, *, audience=None):
    """PyJWT with nothing but the JWKS URL (a fresh PyJWKClient, so no cached keys)."""
    key = jwt.PyJWKClient(server.jwks_url(pool_id), cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=server.issuer(pool_id),
                      audience=audience, options={"verify_aud": audience is not None,
                                                  "require": ["exp", "iat", "iss", "sub"]})


def is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- discovery, JWKS


def test_jwks_shape(server, pool_id):
    resp = requests.get(server.jwks_url(pool_id), timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    keys = resp.json()["keys"]
    assert keys, "JWKS has no key"
    for k in keys:
        assert k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig", k
        assert k["kid"] and k["n"] and k["e"], k
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(k), "private key material!"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", k["n"]) and re.fullmatch(r"[A-Za-z0-9_-]+", k["e"])
        # every key is an importable RSA public key of at least 2048 bits
        pub = jwt.PyJWK(k).key
        assert pub.key_size >= 2048
    assert len({k["kid"] for k in keys}) == len(keys), "duplicate kid"


def test_openid_configuration(server, pool_id):
    resp = requests.get(f"{server.issuer(pool_id)}/.well-known/openid-configuration", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    assert doc["issuer"] == server.issuer(pool_id) == f"{server.url}/{pool_id}"
    assert doc["jwks_uri"] == server.jwks_url(pool_id)
    assert doc["token_endpoint"] == f"{server.url}/oauth2/token"
    assert doc["userinfo_endpoint"] == f"{server.url}/oauth2/userInfo"
    assert doc["revocation_endpoint"] == f"{server.url}/oauth2/revoke"
    assert doc["introspection_endpoint"] == f"{server.url}/oauth2/introspect"
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic",
                                                                  "client_secret_post"}
    assert isinstance(doc["response_types_supported"], list)
    assert {"openid", "email", "profile"} <= set(doc["scopes_supported"])
    assert {"client_credentials", "refresh_token"} <= set(doc["grant_types_supported"])
    # the advertised JWKS URL serves the keys
    assert requests.get(doc["jwks_uri"], timeout=10).json()["keys"]


def test_unknown_pool_is_404(server):
    ghost = "local_Zz9Zz9Zz9"
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
        resp = requests.get(f"{server.url}/{ghost}{path}", timeout=10)
        assert resp.status_code == 404, (path, resp.status_code, resp.text[:200])


# --------------------------------------------------------------------------- claims


def test_id_and_access_token_claim_sets(server, cognito, make_app, make_confirmed_user,
                                        sign_in):
    app = make_app(pool={"Schema": TENANT_SCHEMA})
    email = f"{uid()}@example.com"
    username = make_confirmed_user(app.pool_id, attributes={
        "email": email, "email_verified": "true", "given_name": "Ada",
        "phone_number": "+15555550100", "phone_number_verified": "false",
        "custom:tenantId": "acme", "custom:seats": "5"})
    sub = {a["Name"]: a["Value"] for a in cognito.admin_get_user(
        UserPoolId=app.pool_id, Username=username)["UserAttributes"]}["sub"]
    before = int(time.time()) - 2
    tokens = sign_in(app, username)
    after = int(time.time()) + 2

    idc = jwt_claims(tokens["IdToken"])
    assert set(idc) == ID_BASE | {"email", "email_verified", "given_name", "phone_number",
                                  "phone_number_verified", "custom:tenantId",
                                  "custom:seats"}, sorted(idc)
    assert idc["sub"] == sub and is_uuid(sub)
    assert idc["iss"] == server.issuer(app.pool_id)
    assert idc["aud"] == app.client_id
    assert idc["token_use"] == "id"
    assert idc["cognito:username"] == username
    assert idc["email"] == email
    assert idc["email_verified"] is True
    assert idc["phone_number_verified"] is False
    assert idc["phone_number"] == "+15555550100"
    assert idc["given_name"] == "Ada"
    assert idc["custom:tenantId"] == "acme"
    assert idc["custom:seats"] == "5"  # custom attributes are strings, whatever their type
    for k in ("auth_time", "iat", "exp"):
        assert isinstance(idc[k], int), (k, idc[k])
    assert before <= idc["auth_time"] <= idc["iat"] <= after
    assert idc["exp"] - idc["iat"] == 3600
    for k in ("jti", "origin_jti", "event_id"):
        assert isinstance(idc[k], str) and idc[k], (k, idc[k])

    ac = jwt_claims(tokens["AccessToken"])
    # A tenant user's access token carries the tenant claims too (docs/tokens.md, "Tenant claims").
    assert set(ac) == ACCESS_BASE | {"custom:tenantId"}, sorted(ac)
    assert ac["custom:tenantId"] == "acme"
    assert "aud" not in ac
    assert ac["sub"] == sub
    assert ac["iss"] == server.issuer(app.pool_id)
    assert ac["client_id"] == app.client_id
    assert ac["token_use"] == "access"
    assert ac["scope"] == "aws.cognito.signin.user.admin"
    assert ac["username"] == username
    assert ac["version"] == 2
    assert before <= ac["auth_time"] <= ac["iat"] <= after
    assert ac["exp"] - ac["iat"] == 3600 == tokens["ExpiresIn"]
    # one sign-in: one event and one token family, two distinct tokens
    assert ac["origin_jti"] == idc["origin_jti"]
    assert ac["event_id"] == idc["event_id"]
    assert ac["auth_time"] == idc["auth_time"]
    assert ac["jti"] != idc["jti"]

    for token in (tokens["IdToken"], tokens["AccessToken"]):
        header = jwt_header(token)
        assert header["alg"] == "RS256"
        assert header["kid"] in server.kids(app.pool_id)
        assert header.get("typ", "JWT") == "JWT"
        assert not {"jku", "x5u", "jwk"} & set(header)


def test_minimal_user_claims_and_groups(server, cognito, app, make_confirmed_user, sign_in):
    username = make_confirmed_user(app.pool_id)  # no attributes but sub
    tokens = sign_in(app, username)
    assert set(jwt_claims(tokens["IdToken"])) == ID_BASE
    assert set(jwt_claims(tokens["AccessToken"])) == ACCESS_BASE

    for group in ("readers", "writers"):
        cognito.create_group(UserPoolId=app.pool_id, GroupName=f"{group}")
        cognito.admin_add_user_to_group(UserPoolId=app.pool_id, Username=username,
                                        GroupName=group)
    tokens = sign_in(app, username)
    idc, ac = jwt_claims(tokens["IdToken"]), jwt_claims(tokens["AccessToken"])
    assert set(idc) == ID_BASE | {"cognito:groups"}
    assert set(ac) == ACCESS_BASE | {"cognito:groups"}
    assert sorted(idc["cognito:groups"]) == ["readers", "writers"]
    assert sorted(ac["cognito:groups"]) == ["readers", "writers"]


def test_refreshed_tokens_keep_family_and_auth_time(server, cognito, user_tokens):
    app, username, tokens = user_tokens
    fresh = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})[
        "AuthenticationResult"]
    for kind, base in (("IdToken", ID_BASE), ("AccessToken", ACCESS_BASE)):
        old, new = jwt_claims(tokens[kind]), jwt_claims(fresh[kind])
        assert set(new) - {"email", "email_verified"} == base, (kind, sorted(new))
        assert new["origin_jti"] == old["origin_jti"], kind
        assert new["auth_time"] == old["auth_time"], kind
        assert new["jti"] != old["jti"], kind
        assert new["iat"] >= old["iat"], kind
        verify(server, app.pool_id, fresh[kind],
               audience=app.client_id if kind == "IdToken" else None)


def test_pyjwt_verifies_with_jwks_url_only(server, user_tokens):
    app, username, tokens = user_tokens
    idc = verify(server, app.pool_id, tokens["IdToken"], audience=app.client_id)
    assert idc["cognito:username"] == username and idc["token_use"] == "id"
    ac = verify(server, app.pool_id, tokens["AccessToken"])
    assert ac["username"] == username and ac["token_use"] == "access"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(server, app.pool_id, tokens["IdToken"], audience="someone-else")
    with pytest.raises(jwt.InvalidSignatureError):
        verify(server, app.pool_id, tamper(tokens["AccessToken"]))


def test_token_lifetimes_follow_the_client(server, cognito, make_app, make_confirmed_user,
                                           sign_in, make_client):
    app = make_app(AccessTokenValidity=5, IdTokenValidity=2,
                   TokenValidityUnits={"AccessToken": "minutes", "IdToken": "hours"})
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    assert tokens["ExpiresIn"] == 300
    ac, idc = jwt_claims(tokens["AccessToken"]), jwt_claims(tokens["IdToken"])
    assert ac["exp"] - ac["iat"] == 300
    assert idc["exp"] - idc["iat"] == 7200
    refreshed = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert refreshed["AuthenticationResult"]["ExpiresIn"] == 300
    assert jwt_claims(refreshed["AuthenticationResult"]["IdToken"])["exp"] - jwt_claims(
        refreshed["AuthenticationResult"]["IdToken"])["iat"] == 7200

    # without units, validity is in hours
    hours = make_client(app.pool_id, AccessTokenValidity=2, IdTokenValidity=3)
    tokens = sign_in(hours, username)
    assert tokens["ExpiresIn"] == 7200
    assert jwt_claims(tokens["IdToken"])["exp"] - jwt_claims(tokens["IdToken"])["iat"] == 10800


def test_getuser_refuses_forged_tokens(cognito, user_tokens):
    app, _, tokens = user_tokens
    access = tokens["AccessToken"]
    forged = [
        tamper(access),  # other sub, original signature
        tamper(access, exp=int(time.time()) + 86400 * 365),
        unsigned_copy(access),  # alg none
        tokens["IdToken"],  # not an access token
        access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB"),  # broken signature
        "garbage",
    ]
    for token in forged:
        with raises_cognito("NotAuthorizedException"):
            cognito.get_user(AccessToken=token)
    assert cognito.get_user(AccessToken=access)["Username"]


# --------------------------------------------------------------------------- key rotation


def wait_for(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_signing_key_rotation_and_retirement(server, cognito, user_tokens, sign_in):
    app, username, old_tokens = user_tokens
    old_kid = jwt_header(old_tokens["IdToken"])["kid"]
    assert old_kid in server.kids(app.pool_id)

    new_kid = server.rotate_key(app.pool_id)
    assert new_kid and new_kid != old_kid
    listed = server.keys("list", "--pool", app.pool_id)
    assert old_kid in listed and new_kid in listed, listed
    wait_for(lambda: {old_kid, new_kid} <= server.kids(app.pool_id), "both kids in the JWKS")

    # new tokens are signed by the new key
    new_tokens = wait_for(
        lambda: (t := sign_in(app, username)) and jwt_header(t["IdToken"])["kid"] == new_kid and t,
        "tokens signed with the new kid")
    assert jwt_header(new_tokens["AccessToken"])["kid"] == new_kid
    # ... and tokens of the rotated-out key still verify until it is retired
    for tokens in (old_tokens, new_tokens):
        verify(server, app.pool_id, tokens["IdToken"], audience=app.client_id)
        verify(server, app.pool_id, tokens["AccessToken"])
        assert cognito.get_user(AccessToken=tokens["AccessToken"])["Username"] == username

    server.keys("retire", "--pool", app.pool_id, "--kid", old_kid)
    wait_for(lambda: old_kid not in server.kids(app.pool_id), "the retired kid to leave the JWKS")
    assert new_kid in server.kids(app.pool_id)
    with pytest.raises(jwt.PyJWKClientError):
        verify(server, app.pool_id, old_tokens["AccessToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=old_tokens["AccessToken"])
    verify(server, app.pool_id, new_tokens["AccessToken"])
    assert cognito.get_user(AccessToken=new_tokens["AccessToken"])["Username"] == username


def test_rotation_is_per_pool(server, make_app, make_confirmed_user, sign_in):
    a, b = make_app(), make_app()
    kids_b = server.kids(b.pool_id)
    new_kid = server.rotate_key(a.pool_id)
    wait_for(lambda: new_kid in server.kids(a.pool_id), "the new kid in pool A's JWKS")
    assert server.kids(b.pool_id) == kids_b
    username = make_confirmed_user(b.pool_id)
    assert jwt_header(sign_in(b, username)["IdToken"])["kid"] in kids_b


def test_keys_cli_errors(server, pool_id):
    assert server.cli("keys", "rotate", "--pool", "local_Zz9Zz9Zz9", check=False).returncode != 0
    unknown_kid = server.cli("keys", "retire", "--pool", pool_id, "--kid", "no-such-kid",
                             check=False)
    assert unknown_kid.returncode != 0
