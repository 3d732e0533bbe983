"""External identity providers of a pool (CreateIdentityProvider, DescribeIdentityProvider,
GetIdentityProviderByIdentifier, ListIdentityProviders, UpdateIdentityProvider,
DeleteIdentityProvider) and external identities linked to existing users
(AdminLinkProviderForUser, AdminDisableProviderForUser), with boto3 on both backends."""

from __future__ import annotations

import base64
import json
import threading
import time

from cognate_harness import attrs, raises_cognito, uid, walk

OIDC = {
    "client_id": "cognate-test-client",
    "client_secret": "very-secret-value-123",
    "authorize_scopes": "openid email profile",
    "oidc_issuer": "https://idp.example.com",
    "attributes_request_method": "GET",
}
METADATA = ('<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'entityID="https://saml.example.com"/>')


def oidc(cognito, pool_id, name="Acme", **kw):
    return cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName=name, ProviderType="OIDC",
        ProviderDetails=kw.pop("details", OIDC), **kw)["IdentityProvider"]


def test_oidc_provider_crud(cognito, pool_id):
    created = oidc(cognito, pool_id, AttributeMapping={"email": "email"},
                   IdpIdentifiers=["acme.com", "acme"])
    assert created["UserPoolId"] == pool_id
    assert created["ProviderName"] == "Acme"
    assert created["ProviderType"] == "OIDC"
    # As Cognito: the secret is shown to the administrator, the username mapping defaults
    # to the provider's subject and the describe-only detail is filled.
    details = created["ProviderDetails"]
    assert details["client_secret"] == OIDC["client_secret"]
    assert details["attributes_url_add_attributes"] == "false"
    assert created["AttributeMapping"] == {"email": "email", "username": "sub"}
    assert created["IdpIdentifiers"] == ["acme.com", "acme"]
    assert created["CreationDate"] == created["LastModifiedDate"]

    got = cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="Acme")["IdentityProvider"]
    assert got["ProviderDetails"] == details
    assert got["AttributeMapping"] == created["AttributeMapping"]

    # Identifiers find the provider whatever their case.
    by_id = cognito.get_identity_provider_by_identifier(UserPoolId=pool_id, IdpIdentifier="ACME.com")
    assert by_id["IdentityProvider"]["ProviderName"] == "Acme"
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_identity_provider_by_identifier(UserPoolId=pool_id, IdpIdentifier="other.com")

    updated = cognito.update_identity_provider(
        UserPoolId=pool_id, ProviderName="Acme",
        AttributeMapping={"email": "mail", "username": "sub"}, IdpIdentifiers=["acme.org"],
    )["IdentityProvider"]
    assert updated["AttributeMapping"] == {"email": "mail", "username": "sub"}
    assert updated["IdpIdentifiers"] == ["acme.org"]
    assert updated["ProviderDetails"]["client_secret"] == OIDC["client_secret"], "details untouched"
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_identity_provider_by_identifier(UserPoolId=pool_id, IdpIdentifier="acme.com")
    assert cognito.get_identity_provider_by_identifier(
        UserPoolId=pool_id, IdpIdentifier="acme.org")["IdentityProvider"]["ProviderName"] == "Acme"

    cognito.delete_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_identity_provider_by_identifier(UserPoolId=pool_id, IdpIdentifier="acme.org")


def test_saml_and_social_providers(cognito, pool_id):
    saml = cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName="Okta", ProviderType="SAML",
        ProviderDetails={"MetadataFile": METADATA, "IDPSignout": "TRUE"},
        AttributeMapping={"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
    )["IdentityProvider"]
    assert saml["ProviderType"] == "SAML"
    assert saml["ProviderDetails"]["IDPSignout"] == "true"
    assert "username" not in saml["AttributeMapping"], "SAML has no default subject claim"

    google = cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName="Google", ProviderType="Google",
        ProviderDetails={"client_id": "g", "client_secret": "gs", "authorize_scopes": "openid email"},
    )["IdentityProvider"]
    assert google["AttributeMapping"] == {"username": "sub"}
    with raises_cognito("InvalidParameterException"):
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName="MyFacebook", ProviderType="Facebook",
            ProviderDetails={"client_id": "f", "client_secret": "fs", "authorize_scopes": "email"})

    # SAML needs exactly one metadata source, flags are booleans, only rsa-sha256.
    for details in ({}, {"MetadataFile": METADATA, "MetadataURL": "https://saml.example.com/md"},
                    {"MetadataFile": "not xml"}, {"MetadataFile": METADATA, "IDPInit": "maybe"},
                    {"MetadataFile": METADATA, "RequestSigningAlgorithm": "rsa-sha1"},
                    {"MetadataURL": "http://saml.example.com/md"}):
        with raises_cognito("InvalidParameterException"):
            cognito.create_identity_provider(UserPoolId=pool_id, ProviderName="Bad", ProviderType="SAML",
                                             ProviderDetails=details)


def test_provider_validation(cognito, pool_id):
    def create(name="Acme", kind="OIDC", details=None, **kw):
        return cognito.create_identity_provider(UserPoolId=pool_id, ProviderName=name, ProviderType=kind,
                                                ProviderDetails=OIDC if details is None else details, **kw)

    for bad_name in ("ab", "_acme", "acme_", "a b c", "COGNITO", "x" * 33, "ac\x00me"):
        with raises_cognito("InvalidParameterException"):
            create(name=bad_name)
    with raises_cognito("InvalidParameterException"):
        create(kind="Okta")
    for missing in ("client_id", "authorize_scopes", "oidc_issuer", "attributes_request_method"):
        with raises_cognito("InvalidParameterException"):
            create(details={k: v for k, v in OIDC.items() if k != missing})
    for key, value in (("attributes_request_method", "PUT"), ("authorize_scopes", "email"),
                       ("oidc_issuer", "http://idp.example.com"), ("oidc_issuer", "javascript:alert(1)"),
                       ("token_url", "https://user:pw@idp.example.com/token"), ("unknown_key", "x")):
        with raises_cognito("InvalidParameterException"):
            create(details={**OIDC, key: value})
    with raises_cognito("InvalidParameterException"):
        create(AttributeMapping={"no_such_attribute": "x"})
    with raises_cognito("InvalidParameterException"):
        create(AttributeMapping={"sub": "sub"})
    with raises_cognito("InvalidParameterException"):
        create(IdpIdentifiers=["bad/identifier"])
    with raises_cognito("InvalidParameterException"):
        create(IdpIdentifiers=["same.com", "SAME.com"])
    with raises_cognito("InvalidParameterException"):
        create(IdpIdentifiers=[f"id{i}" for i in range(51)])
    # A loopback issuer over http is allowed (a test IdP on this machine).
    create(name="Local", details={**OIDC, "oidc_issuer": "http://127.0.0.1:9000"})

    create(IdpIdentifiers=["acme.com"])
    with raises_cognito("DuplicateProviderException"):
        create()
    with raises_cognito("DuplicateProviderException"):
        create(name="Other", IdpIdentifiers=["ACME.COM"])
    # A refused create wrote nothing.
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="Other")
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_identity_provider(UserPoolId="us-east-1_nosuchpool", ProviderName="Acme")
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_identity_provider(UserPoolId=pool_id, ProviderName="Missing",
                                         ProviderDetails=OIDC)
    with raises_cognito("InvalidParameterException"):
        cognito.update_identity_provider(UserPoolId=pool_id, ProviderName="Acme",
                                         ProviderDetails={**OIDC, "attributes_request_method": "PUT"})
    with raises_cognito("DuplicateProviderException"):
        cognito.update_identity_provider(UserPoolId=pool_id, ProviderName="Local",
                                         IdpIdentifiers=["acme.com"])
    assert cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="Local")[
        "IdentityProvider"]["IdpIdentifiers"] == [], "a refused update wrote nothing"


def test_list_identity_providers_pages(cognito, pool_id):
    names = sorted(f"Idp{uid(6)}" for _ in range(7))
    for name in names:
        oidc(cognito, pool_id, name=name)
    listed, _ = walk(lambda **kw: cognito.list_identity_providers(UserPoolId=pool_id, **kw),
                  "Providers", "NextToken", "NextToken", "MaxResults", 3)
    assert [p["ProviderName"] for p in listed] == names
    assert {p["ProviderType"] for p in listed} == {"OIDC"}
    assert all("CreationDate" in p and "ProviderDetails" not in p for p in listed)
    for bad in (0, 61):
        with raises_cognito("InvalidParameterException"):
            cognito.list_identity_providers(UserPoolId=pool_id, MaxResults=bad)
    with raises_cognito("InvalidParameterException"):
        cognito.list_identity_providers(UserPoolId=pool_id, MaxResults=3, NextToken="garbage")


def test_app_clients_name_only_existing_providers(cognito, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web",
                                        SupportedIdentityProviders=["COGNITO", "Acme"])
    oidc(cognito, pool_id)
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web",
                                             SupportedIdentityProviders=["COGNITO", "Acme"])["UserPoolClient"]
    assert client["SupportedIdentityProviders"] == ["COGNITO", "Acme"]
    # A provider a client lists cannot be deleted from under it.
    with raises_cognito("InvalidParameterException"):
        cognito.delete_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"],
                                    SupportedIdentityProviders=["COGNITO"])
    cognito.delete_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    with raises_cognito("InvalidParameterException"):
        cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"],
                                        SupportedIdentityProviders=["Acme"])


def test_secrets_are_sealed_at_rest(server, cognito, pool_id):
    oidc(cognito, pool_id)
    cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName="SignInWithApple", ProviderType="SignInWithApple",
        ProviderDetails={"client_id": "a", "team_id": "t", "key_id": "k",
                         "private_key": "-----BEGIN PRIVATE KEY-----apple-----END PRIVATE KEY-----",
                         "authorize_scopes": "email name"})
    rows = server.raw_rows("SELECT details FROM identity_providers WHERE pool_id = ?", (pool_id,))
    stored = " ".join(r[0] for r in rows)
    assert len(rows) == 2
    assert OIDC["client_secret"] not in stored
    assert "apple-----END" not in stored
    assert "cognate-test-client" in stored, "only the secrets are sealed"
    apple = cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="SignInWithApple")
    assert apple["IdentityProvider"]["ProviderDetails"]["private_key"].endswith("apple-----END PRIVATE KEY-----")


def test_link_and_unlink_external_identities(cognito, pool_id, make_user):
    oidc(cognito, pool_id, AttributeMapping={"email": "email"})
    alice = make_user(pool_id, "alice")

    def link(value, attribute="Cognito_Subject", provider="Acme", dest="alice"):
        cognito.admin_link_provider_for_user(
            UserPoolId=pool_id,
            DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": dest},
            SourceUser={"ProviderName": provider, "ProviderAttributeName": attribute,
                        "ProviderAttributeValue": value})

    link("idp-sub-1")
    got = cognito.admin_get_user(UserPoolId=pool_id, Username="alice")
    identities = json.loads(attrs(got["UserAttributes"])["identities"])
    assert identities == [{"userId": "idp-sub-1", "providerName": "Acme", "providerType": "OIDC",
                           "issuer": None, "primary": False, "dateCreated": identities[0]["dateCreated"]}]
    assert identities[0]["dateCreated"] > 1_600_000_000_000, "milliseconds, as Cognito"
    link("alice@acme.com", attribute="email")

    with raises_cognito("AliasExistsException"):
        link("idp-sub-1")
    with raises_cognito("UserNotFoundException"):
        link("idp-sub-2", dest="nobody")
    with raises_cognito("ResourceNotFoundException"):
        link("idp-sub-2", provider="Missing")
    with raises_cognito("InvalidParameterException"):
        link("idp-sub-2", attribute="given_name")  # not mapped from the provider
    with raises_cognito("InvalidParameterException"):
        link("idp-sub-2", provider="Cognito")
    with raises_cognito("InvalidParameterException"):
        cognito.admin_link_provider_for_user(
            UserPoolId=pool_id, DestinationUser={"ProviderName": "Cognito"},
            SourceUser={"ProviderName": "Acme", "ProviderAttributeName": "Cognito_Subject",
                        "ProviderAttributeValue": "x"})

    # At most five identities per user, also under concurrent calls.
    errors: list[str] = []

    def try_link(i):
        try:
            link(f"race-{i}")
        except cognito.exceptions.LimitExceededException:
            errors.append("limit")

    threads = [threading.Thread(target=try_link, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    identities = json.loads(attrs(cognito.admin_get_user(UserPoolId=pool_id, Username="alice")[
        "UserAttributes"])["identities"])
    assert len(identities) == 5
    assert len(errors) == 3

    cognito.admin_disable_provider_for_user(
        UserPoolId=pool_id,
        User={"ProviderName": "Acme", "ProviderAttributeName": "Cognito_Subject",
              "ProviderAttributeValue": "idp-sub-1"})
    identities = json.loads(attrs(cognito.admin_get_user(UserPoolId=pool_id, Username="alice")[
        "UserAttributes"])["identities"])
    assert "idp-sub-1" not in {i["userId"] for i in identities}
    assert len(identities) == 4
    with raises_cognito("UserNotFoundException"):
        cognito.admin_disable_provider_for_user(
            UserPoolId=pool_id,
            User={"ProviderName": "Acme", "ProviderAttributeName": "Cognito_Subject",
                  "ProviderAttributeValue": "idp-sub-1"})
    with raises_cognito("InvalidParameterException"):
        cognito.admin_disable_provider_for_user(
            UserPoolId=pool_id,
            User={"ProviderName": "Cognito", "ProviderAttributeName": "Cognito_Subject",
                  "ProviderAttributeValue": "alice"})
    # The identities attribute is Cognate's to write.
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_user_attributes(UserPoolId=pool_id, Username="alice",
                                             UserAttributes=[{"Name": "identities", "Value": "[]"}])
    assert alice


def test_linked_identities_go_with_the_user(server, cognito, pool_id, make_user):
    oidc(cognito, pool_id)
    make_user(pool_id, "bob")
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": "bob"},
        SourceUser={"ProviderName": "Acme", "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": "bob-at-acme"})
    cognito.admin_delete_user(UserPoolId=pool_id, Username="bob")
    rows = server.raw_rows("SELECT COUNT(*) FROM provider_links WHERE pool_id = ?", (pool_id,))
    assert rows[0][0] == 0
    # The identity is free again: a new user can have it.
    make_user(pool_id, "bob2")
    cognito.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": "bob2"},
        SourceUser={"ProviderName": "Acme", "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": "bob-at-acme"})


def test_identity_provider_changes_are_audited(server, cognito, pool_id):
    oidc(cognito, pool_id)
    cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    cognito.delete_identity_provider(UserPoolId=pool_id, ProviderName="Acme")
    wanted = {"admin.create_identity_provider", "admin.delete_identity_provider"}
    actions: list[str] = []
    for _ in range(50):  # the trail is written by a buffered writer
        rows = server.raw_rows("SELECT action, outcome FROM audit_events WHERE pool_id = ? AND action LIKE ?",
                               (pool_id, "%identity_provider%"))
        actions = sorted(r[0] for r in rows)
        if wanted <= set(actions):
            break
        time.sleep(0.1)
    assert actions == sorted(wanted), "one event per change, none for the read"


def test_signing_certificate_is_the_pools_own_and_stable(server, cognito, make_pool):
    from concurrent.futures import ThreadPoolExecutor

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    pool_a, pool_b = make_pool()["Id"], make_pool()["Id"]
    # Concurrent first calls agree on one certificate.
    with ThreadPoolExecutor(4) as ex:
        answers = list(ex.map(lambda _: cognito.get_signing_certificate(UserPoolId=pool_a)["Certificate"],
                              range(4)))
    assert len(set(answers)) == 1
    cert = x509.load_der_x509_certificate(base64.b64decode(answers[0]))
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size >= 2048
    assert pool_a in cert.subject.rfc4514_string()
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 3650 <= lifetime.days <= 3660, "ten years, as Cognito"
    other = cognito.get_signing_certificate(UserPoolId=pool_b)["Certificate"]
    assert other != answers[0]
    assert cognito.get_signing_certificate(UserPoolId=pool_a)["Certificate"] == answers[0]
    rows = server.raw_rows("SELECT key_sealed FROM saml_signing_keys WHERE pool_id = ?", (pool_a,))
    assert len(rows) == 1 and "PRIVATE" not in rows[0][0] and len(rows[0][0]) > 1000
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_signing_certificate(UserPoolId="us-east-1_nosuchpool")
