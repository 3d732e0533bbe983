"""Tenant SSO connections (docs/tenancy.md, "SSO connections"): `/v1/tenants/{t}/connections`
managed by tenant admins and platform admins, each an OIDC or SAML identity provider of the
tenant's pool (checked with boto3's DescribeIdentityProvider), routed by the tenant's verified
domains, and named by discovery. On both backends.

The OIDC provider is a static discovery document and JWKS served on loopback by this test, so
the connection is valid whether or not Cognate reads the issuer when it is created."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cognate_harness import assert_v1_error, raises_cognito, uid, v1_ok

SAML_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""

SAML_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


@pytest.fixture(scope="module")
def oidc_issuer():
    """A loopback OIDC issuer: its discovery document and an (empty) JWKS."""
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            issuer = state["issuer"]
            docs = {
                "/.well-known/openid-configuration": {
                    "issuer": issuer,
                    "authorization_endpoint": f"{issuer}/authorize",
                    "token_endpoint": f"{issuer}/token",
                    "userinfo_endpoint": f"{issuer}/userinfo",
                    "jwks_uri": f"{issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
                "/jwks": {"keys": []},
            }
            body = docs.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["issuer"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state["issuer"]
    httpd.shutdown()
    httpd.server_close()


def verified_domain(tenancy, tenant_id: str, domain: str | None = None) -> str:
    domain = domain or f"{uid()}.example.com"
    tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/domains", {"domain": domain}, status=201)
    tenancy.as_admin("POST", f"/v1/tenants/{tenant_id}/domains/{domain}/verify", {"method": "attest"})
    return domain


def admin_token(tenancy, tenant: dict) -> str:
    boss = tenancy.new_user(tenant["id"], "admin")
    return tenancy.sign_in(tenant["clientId"], boss.email)["AccessToken"]


def oidc_body(issuer: str, domains: list[str], **extra) -> dict:
    return {"name": "Okta", "domains": domains,
            "oidc": {"issuer": issuer, "clientId": "cognate-app", "clientSecret": "s3cret-" + uid()},
            **extra}


def describe(tenancy, conn: dict) -> dict:
    return tenancy.cognito.describe_identity_provider(
        UserPoolId=conn["poolId"], ProviderName=conn["providerName"])["IdentityProvider"]


def test_oidc_connection_lifecycle(server, tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssoco", name="SSO Co")
    domain = verified_domain(tenancy, t["id"])
    token = admin_token(tenancy, t)
    path = f"/v1/tenants/{t['id']}/connections"
    body = oidc_body(oidc_issuer, [domain], roleClaim="groups",
                     roleMapping={"it-admins": "admin", "auditors": "read_only"})
    secret = body["oidc"]["clientSecret"]

    resp = tenancy.call("POST", path, bearer=token, body=body)
    conn = v1_ok(resp, 201)
    assert secret not in resp.text, "the client secret must never be returned"
    assert conn["id"].startswith("conn_") and len(conn["id"]) == 25, conn
    assert conn["providerName"].startswith("conn-") and "_" not in conn["providerName"], conn
    assert conn["tenantId"] == t["id"] and conn["poolId"] == t["poolId"], conn
    assert conn["type"] == "OIDC" and conn["name"] == "Okta" and conn["enabled"] is True, conn
    assert conn["domains"] == [domain] and conn["defaultRole"] == "member", conn
    assert conn["roleClaim"] == "groups", conn
    assert conn["roleMapping"] == {"it-admins": "admin", "auditors": "read_only"}, conn
    assert conn["attributeMapping"] == {"email": "email"}, conn
    assert conn["saml"] is None, conn
    oidc = conn["oidc"]
    assert oidc["issuer"] == oidc_issuer and oidc["clientId"] == "cognate-app", oidc
    assert oidc["clientSecretSet"] is True and "clientSecret" not in oidc, oidc
    assert oidc["scopes"] == "openid email profile" and oidc["attributesRequestMethod"] == "GET"
    assert oidc["redirectUri"] == f"{server.url}/oauth2/idpresponse", oidc

    # the pool's provider exists with the domain as its identifier (boto3)
    idp = describe(tenancy, conn)
    assert idp["ProviderType"] == "OIDC" and idp["IdpIdentifiers"] == [domain], idp
    assert idp["AttributeMapping"]["email"] == "email", idp
    assert idp["ProviderDetails"]["oidc_issuer"] == oidc_issuer, idp

    # read and list, never with the secret
    for resp in (tenancy.call("GET", f"{path}/{conn['id']}", bearer=token),
                 tenancy.call("GET", path, bearer=token)):
        assert resp.status_code == 200 and secret not in resp.text, resp.text
    assert v1_ok(tenancy.call("GET", f"{path}/{conn['id']}", bearer=token)) == conn
    listed = tenancy.list_all(path, bearer=token)
    assert [c["id"] for c in listed] == [conn["id"]], listed

    # PATCH: settings replace, provider details merge, the secret stays set
    second = verified_domain(tenancy, t["id"])
    patched = v1_ok(tenancy.call("PATCH", f"{path}/{conn['id']}", bearer=token, body={
        "name": "Okta (prod)", "enabled": False, "domains": [domain, second],
        "oidc": {"scopes": "openid email"}, "defaultRole": "read_only",
        "roleClaim": None, "roleMapping": {},
    }))
    assert patched["name"] == "Okta (prod)" and patched["enabled"] is False, patched
    assert sorted(patched["domains"]) == sorted([domain, second]), patched
    assert patched["defaultRole"] == "read_only" and patched["roleClaim"] is None, patched
    assert patched["roleMapping"] == {}, patched
    assert patched["oidc"]["scopes"] == "openid email" and patched["oidc"]["clientSecretSet"] is True
    assert patched["oidc"]["issuer"] == oidc_issuer, patched
    idp = describe(tenancy, conn)
    assert sorted(idp["IdpIdentifiers"]) == sorted([domain, second]), idp
    assert idp["ProviderDetails"]["authorize_scopes"] == "openid email", idp

    # DELETE removes the provider too
    v1_ok(tenancy.call("DELETE", f"{path}/{conn['id']}", bearer=token), 204)
    assert_v1_error(tenancy.call("GET", f"{path}/{conn['id']}", bearer=token), 404, "not_found")
    assert_v1_error(tenancy.call("DELETE", f"{path}/{conn['id']}", bearer=token), 404, "not_found")
    with raises_cognito("ResourceNotFoundException"):
        describe(tenancy, conn)
    assert tenancy.list_all(path, bearer=token) == []

    # every change is in the tenant's audit trail
    audit = tenancy.as_admin("GET", f"/v1/tenants/{t['id']}/audit", params={"limit": 100})
    actions = [e["action"] for e in audit["items"]]
    for action in ("connection.create", "connection.update", "connection.delete"):
        assert action in actions, actions


def test_saml_and_two_connections_per_tenant(server, tenancy, oidc_issuer):
    t = tenancy.create_tenant("twosso")
    d1, d2 = verified_domain(tenancy, t["id"]), verified_domain(tenancy, t["id"])
    path = f"/v1/tenants/{t['id']}/connections"
    saml = tenancy.as_admin("POST", path, {
        "name": "Entra ID", "domains": [d1],
        "saml": {"metadataXml": SAML_METADATA, "idpSignout": True},
    }, status=201)
    assert saml["type"] == "SAML" and saml["oidc"] is None, saml
    sp = saml["saml"]
    assert sp["spEntityId"] == f"urn:amazon:cognito:sp:{t['poolId']}", sp
    assert sp["acsUrl"] == f"{server.url}/saml2/idpresponse", sp
    assert sp["spMetadataUrl"] == f"{server.url}/saml2/metadata/{t['poolId']}", sp
    assert sp["metadataXmlSet"] is True and sp["metadataUrl"] is None, sp
    assert sp["idpSignout"] is True and sp["idpInit"] is False, sp
    assert saml["attributeMapping"] == {"email": SAML_EMAIL}, saml
    idp = describe(tenancy, saml)
    assert idp["ProviderType"] == "SAML" and idp["IdpIdentifiers"] == [d1], idp
    assert idp["AttributeMapping"] == {"email": SAML_EMAIL}, idp

    oidc = tenancy.as_admin("POST", path, oidc_body(oidc_issuer, [d2],
                                                    attributeMapping={"email": "upn"}), status=201)
    assert oidc["providerName"] != saml["providerName"]
    assert oidc["attributeMapping"] == {"email": "upn"}, oidc
    assert {c["id"] for c in tenancy.list_all(path)} == {saml["id"], oidc["id"]}
    # pages follow the cursor
    page = tenancy.as_admin("GET", path, params={"limit": 1})
    assert len(page["items"]) == 1 and page["nextCursor"], page
    rest = tenancy.as_admin("GET", path, params={"limit": 1, "cursor": page["nextCursor"]})
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] != page["items"][0]["id"], rest

    # a domain routes one connection only
    assert_v1_error(tenancy.call("POST", path, bearer=tenancy.admin,
                                 body=oidc_body(oidc_issuer, [d1])), 409, "conflict")
    assert_v1_error(tenancy.call("PATCH", f"{path}/{oidc['id']}", bearer=tenancy.admin,
                                 body={"domains": [d1, d2]}), 409, "conflict")
    # a refused PATCH changes nothing
    assert describe(tenancy, oidc)["IdpIdentifiers"] == [d2]

    # the type cannot change
    assert_v1_error(tenancy.call("PATCH", f"{path}/{saml['id']}", bearer=tenancy.admin,
                                 body={"oidc": {"clientId": "x"}}), 400, "invalid_request")
    # switching the metadata source replaces the other one
    switched = tenancy.as_admin("PATCH", f"{path}/{saml['id']}",
                                {"saml": {"metadataUrl": "https://idp.example.test/metadata"}})
    assert switched["saml"]["metadataUrl"] == "https://idp.example.test/metadata", switched
    assert switched["saml"]["metadataXmlSet"] is False, switched

    # deleting the tenant removes its providers from the (shared) pool
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}", status=204)
    for conn in (saml, oidc):
        with raises_cognito("ResourceNotFoundException"):
            describe(tenancy, conn)


def test_validation(tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssoval")
    domain = verified_domain(tenancy, t["id"])
    path = f"/v1/tenants/{t['id']}/connections"

    def refused(body, status=400, code="invalid_request"):
        return assert_v1_error(tenancy.call("POST", path, bearer=tenancy.admin, body=body),
                               status, code)

    good = oidc_body(oidc_issuer, [domain])
    refused({k: v for k, v in good.items() if k != "name"})
    refused({**good, "name": " "})
    refused({**good, "name": "x" * 129})
    refused({k: v for k, v in good.items() if k != "oidc"})
    refused({**good, "saml": {"metadataXml": SAML_METADATA}})
    refused({**good, "oidc": {"clientId": "x"}})
    refused({**good, "oidc": {**good["oidc"], "issuer": "ftp://idp.example"}})
    refused({**good, "oidc": {**good["oidc"], "scopes": "email"}})
    refused({**good, "oidc": {**good["oidc"], "attributesRequestMethod": "PUT"}})
    refused({**good, "oidc": {**good["oidc"], "unknown": 1}})
    refused({**good, "unknown": 1})
    refused({**good, "domains": ["not a domain"]})
    refused({**good, "domains": [domain, domain]})
    refused({**good, "defaultRole": "owner"})
    refused({**good, "roleMapping": {"it": "admin"}})
    refused({**good, "roleClaim": "groups", "roleMapping": {"it": "superuser"}})
    refused({**good, "attributeMapping": {"custom:tenantId": "tid"}})
    refused({**good, "attributeMapping": {"not_an_attribute": "x"}})
    refused({"name": "S", "saml": {}})
    refused({"name": "S", "saml": {"metadataXml": "not xml"}})
    refused({"name": "S", "saml": {"metadataXml": SAML_METADATA, "metadataUrl": "https://x.test/m"}})
    # NUL bytes anywhere: 400, never 5xx
    refused({**good, "name": "Ok\u0000ta"})
    refused({**good, "oidc": {**good["oidc"], "clientId": "a\u0000b"}})
    refused({**good, "roleClaim": "gr\u0000oups", "roleMapping": {"x\u0000": "admin"}})
    refused({**good, "domains": ["acme\u0000.com"]})
    assert_v1_error(tenancy.call("GET", f"{path}/conn_%00", bearer=tenancy.admin), 400)
    assert_v1_error(tenancy.call("GET", path, bearer=tenancy.admin, params={"cursor": "zz"}), 400)

    # domains: unverified, another tenant's, unclaimed
    unverified = f"{uid()}.example.com"
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/domains", {"domain": unverified}, status=201)
    other = tenancy.create_tenant("ssoval-other")
    theirs = verified_domain(tenancy, other["id"])
    for d in (unverified, theirs, f"{uid()}.example.net"):
        err = refused({**good, "domains": [d]}, 422, "domain_not_verified")
        assert d in err["message"], err
    assert tenancy.list_all(path) == []

    # PATCH: nulls refused, unknown connection ids 404
    conn = tenancy.as_admin("POST", path, good, status=201)
    for body in ({"name": None}, {"enabled": None}, {"domains": None}, {"nope": 1},
                 {"domains": [theirs]}, {"roleMapping": {"g": "admin"}}):
        resp = tenancy.call("PATCH", f"{path}/{conn['id']}", bearer=tenancy.admin, body=body)
        assert resp.status_code in (400, 422), (body, resp.status_code, resp.text)
    assert v1_ok(tenancy.call("GET", f"{path}/{conn['id']}", bearer=tenancy.admin)) == conn
    for missing in ("conn_aaaaaaaaaaaaaaaaaaaa", "nope", "ak_1"):
        assert_v1_error(tenancy.call("GET", f"{path}/{missing}", bearer=tenancy.admin), 404)
        assert_v1_error(tenancy.call("PATCH", f"{path}/{missing}", bearer=tenancy.admin,
                                     body={"enabled": False}), 404)
        assert_v1_error(tenancy.call("DELETE", f"{path}/{missing}", bearer=tenancy.admin), 404)
    assert_v1_error(tenancy.call("GET", "/v1/tenants/no-such-tenant/connections",
                                 bearer=tenancy.admin), 404, "not_found")


def test_only_this_tenants_admins(tenancy, oidc_issuer):
    a, b = tenancy.create_tenant("ssoa"), tenancy.create_tenant("ssob")
    path_a, path_b = f"/v1/tenants/{a['id']}/connections", f"/v1/tenants/{b['id']}/connections"
    conn = tenancy.as_admin("POST", path_a, oidc_body(oidc_issuer, [verified_domain(tenancy, a["id"])]),
                            status=201)
    member = tenancy.new_user(a["id"], "member")
    member_token = tenancy.sign_in(a["clientId"], member.email)["AccessToken"]
    b_admin = admin_token(tenancy, b)

    assert_v1_error(tenancy.call("GET", path_a, bearer=None), 401, "unauthorized")
    for bearer in (member_token, b_admin):
        assert_v1_error(tenancy.call("GET", path_a, bearer=bearer), 403, "forbidden")
        assert_v1_error(tenancy.call("GET", f"{path_a}/{conn['id']}", bearer=bearer), 403, "forbidden")
        assert_v1_error(tenancy.call("POST", path_a, bearer=bearer,
                                     body=oidc_body(oidc_issuer, [])), 403, "forbidden")
        assert_v1_error(tenancy.call("PATCH", f"{path_a}/{conn['id']}", bearer=bearer,
                                     body={"enabled": False}), 403, "forbidden")
        assert_v1_error(tenancy.call("DELETE", f"{path_a}/{conn['id']}", bearer=bearer),
                        403, "forbidden")
    # A's connection does not exist under B, for B's admin or the platform admin
    for bearer in (b_admin, tenancy.admin):
        assert_v1_error(tenancy.call("GET", f"{path_b}/{conn['id']}", bearer=bearer), 404, "not_found")
        assert_v1_error(tenancy.call("PATCH", f"{path_b}/{conn['id']}", bearer=bearer,
                                     body={"enabled": False}), 404, "not_found")
        assert_v1_error(tenancy.call("DELETE", f"{path_b}/{conn['id']}", bearer=bearer),
                        404, "not_found")
        assert tenancy.list_all(path_b, bearer=bearer) == []
    after = tenancy.as_admin("GET", f"{path_a}/{conn['id']}")
    assert after == conn, after


def test_discovery_names_the_connection(tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssodisc", name="Disc")
    domain, plain = verified_domain(tenancy, t["id"]), verified_domain(tenancy, t["id"])
    path = f"/v1/tenants/{t['id']}/connections"
    before = tenancy.discover(f"ann@{domain}")
    assert before["idp"] == "cognito" and before["tenantId"] == t["id"], before

    conn = tenancy.as_admin("POST", path, {**oidc_body(oidc_issuer, [domain]), "name": "Acme Okta"},
                            status=201)
    found = tenancy.discover(f"Ann@{domain.upper()}")
    assert found == {**before, "idp": {
        "connectionId": conn["id"], "name": "Acme Okta", "type": "OIDC",
        "providerName": conn["providerName"],
        "authorizeHint": f"identity_provider={conn['providerName']}",
    }}, found
    # the tenant's other domain, and unknown domains, still sign in with the pool
    assert tenancy.discover(f"bo@{plain}")["idp"] == "cognito"
    assert tenancy.discover(f"bo@{uid()}.example.org")["idp"] == "cognito"

    # disabled: back to the pool
    tenancy.as_admin("PATCH", f"{path}/{conn['id']}", {"enabled": False})
    assert tenancy.discover(f"ann@{domain}") == before
    tenancy.as_admin("PATCH", f"{path}/{conn['id']}", {"enabled": True})
    assert tenancy.discover(f"ann@{domain}")["idp"]["connectionId"] == conn["id"]

    # a SAML connection is named with its type
    saml_domain = verified_domain(tenancy, t["id"])
    saml = tenancy.as_admin("POST", path, {"name": "ADFS", "domains": [saml_domain],
                                           "saml": {"metadataXml": SAML_METADATA}}, status=201)
    idp = tenancy.discover(f"cy@{saml_domain}")["idp"]
    assert idp["type"] == "SAML" and idp["connectionId"] == saml["id"], idp

    # a suspended tenant routes nothing
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/suspend")
    assert tenancy.discover(f"ann@{domain}")["idp"] == "cognito"
    tenancy.as_admin("POST", f"/v1/tenants/{t['id']}/reactivate")
    v1_ok(tenancy.call("DELETE", f"{path}/{conn['id']}", bearer=tenancy.admin), 204)
    assert tenancy.discover(f"ann@{domain}") == before


def test_released_domains_and_tier_moves(tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssomove")
    d1, d2 = verified_domain(tenancy, t["id"]), verified_domain(tenancy, t["id"])
    path = f"/v1/tenants/{t['id']}/connections"
    conn = tenancy.as_admin("POST", path, oidc_body(oidc_issuer, [d1, d2]), status=201)

    # a released domain no longer routes through the connection, in Cognate or the pool
    tenancy.as_admin("DELETE", f"/v1/tenants/{t['id']}/domains/{d2}", status=204)
    assert tenancy.as_admin("GET", f"{path}/{conn['id']}")["domains"] == [d1]
    assert describe(tenancy, conn)["IdpIdentifiers"] == [d1]
    assert tenancy.discover(f"ann@{d2}")["idp"] == "cognito"
    # claimed again by another tenant, it routes nowhere near this one
    other = tenancy.create_tenant("ssomove-b")
    verified_domain(tenancy, other["id"], d2)
    found = tenancy.discover(f"ann@{d2}")
    assert found["tenantId"] == other["id"] and found["idp"] == "cognito", found

    # the provider lives in the tenant's pool: a move to another pool waits for its removal
    assert_v1_error(tenancy.call("PUT", f"/v1/tenants/{t['id']}/tier", bearer=tenancy.admin,
                                 body={"tier": "platinum"}), 409, "conflict")
    assert tenancy.tenant(t["id"])["tier"] == "standard"
    tenancy.as_admin("DELETE", f"{path}/{conn['id']}", status=204)
    moved = tenancy.as_admin("PUT", f"/v1/tenants/{t['id']}/tier", {"tier": "platinum"})
    assert moved["tier"] == "platinum" and moved["poolId"] != t["poolId"], moved
    # in the dedicated pool, a new connection's provider is there
    again = tenancy.as_admin("POST", path, oidc_body(oidc_issuer, [d1]), status=201)
    assert again["poolId"] == moved["poolId"], again
    assert describe(tenancy, again)["IdpIdentifiers"] == [d1]


def test_testing_a_connection_reads_the_provider_now(tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssotest")
    d1, d2, d3 = (verified_domain(tenancy, t["id"]) for _ in range(3))
    path = f"/v1/tenants/{t['id']}/connections"
    oidc = tenancy.as_admin("POST", path, oidc_body(oidc_issuer, [d1]), status=201)
    report = tenancy.as_admin("POST", f"{path}/{oidc['id']}/test")
    assert report["type"] == "OIDC" and report["error"] is None, report
    assert report["oidc"]["issuer"] == oidc_issuer and report["oidc"]["authorize_url"], report
    # The loopback issuer publishes no signing key: a sign-in could not verify an ID token.
    assert report["ok"] is False and any("signing key" in w for w in report["warnings"]), report

    saml = tenancy.as_admin("POST", path, {"name": "Entra ID", "domains": [d2],
                                           "saml": {"metadataXml": SAML_METADATA}}, status=201)
    report = tenancy.as_admin("POST", f"{path}/{saml['id']}/test")
    # Metadata without a signing certificate: no response could ever be verified.
    assert report["type"] == "SAML" and report["ok"] is False, report
    assert "signing certificate" in report["error"], report

    gone = tenancy.as_admin("POST", path, oidc_body("http://127.0.0.1:9/nowhere", [d3]), status=201)
    report = tenancy.as_admin("POST", f"{path}/{gone['id']}/test")
    assert report["ok"] is False and report["error"], report
    tenancy.as_admin("POST", f"{path}/conn_aaaaaaaaaaaaaaaaaaaa/test", status=404)


def test_a_connection_cannot_map_what_its_idp_may_not_vouch_for(tenancy, oidc_issuer):
    t = tenancy.create_tenant("ssomap")
    domain = verified_domain(tenancy, t["id"])
    path = f"/v1/tenants/{t['id']}/connections"
    for key in ("email_verified", "phone_number_verified", "custom:tenantId", "dev:custom:tenantId",
                "dev:custom:anything"):
        resp = tenancy.call("POST", path, bearer=tenancy.admin,
                            body=oidc_body(oidc_issuer, [domain], attributeMapping={key: "x"}))
        err = assert_v1_error(resp, 400, "invalid_request")
        assert key in err["message"], err
    assert tenancy.list_all(path) == []
