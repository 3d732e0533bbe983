"""SAML 2.0 federation end to end: a pool's SAML identity provider is a real SimpleSAMLphp
(saml_idp.py), the browser is Chromium, and the client is an OAuth 2.0 app with PKCE.

Cognate plays Cognito's SP: entity id `urn:amazon:cognito:sp:{poolId}`, assertion consumer
service `/saml2/idpresponse` (HTTP-POST), single logout `/saml2/logout`, AuthnRequests signed
RSA-SHA256 with the pool's signing certificate (GetSigningCertificate), metadata at
`/saml2/metadata/{poolId}`. CreateIdentityProvider reads the IdP from its MetadataURL.
Both storage backends."""

from __future__ import annotations

import base64
import json
import re
import secrets
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cognate_harness import attrs, uid
from hosted_login import CALLBACK
from saml_idp import (
    SAML_NS,
    SAMLP_NS,
    SamlSp,
    SimpleSamlIdp,
    sign_in_with_requests,
    simplesamlphp_missing,
)

playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")

PROVIDER = "CorpSaml"
SIGNED_OUT = "https://app.example.com/signed-out"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SCOPES = "openid email profile"
MAPPING = {
    "email": "email",
    "given_name": "givenName",
    "family_name": "sn",
    "custom:groups": "groups",
}


@pytest.fixture(scope="module", autouse=True)
def simplesamlphp_installed():
    missing = simplesamlphp_missing()
    if missing:
        pytest.fail(missing, pytrace=False)


def pem_of(der_b64: str) -> str:
    body = "\n".join(der_b64[i:i + 64] for i in range(0, len(der_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


@dataclass
class Federation:
    """A pool federated with one SimpleSAMLphp IdP, and a web client that may use it."""

    server: object
    cognito: object
    pool_id: str
    client_id: str
    idp: SimpleSamlIdp
    sp_cert_pem: str

    @property
    def sp_entity_id(self) -> str:
        return f"urn:amazon:cognito:sp:{self.pool_id}"

    @property
    def acs_url(self) -> str:
        return f"{self.server.url}/saml2/idpresponse"

    def authorize_url(self, verifier: str, state: str, **selector) -> str:
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK,
                 "state": state, "scope": SCOPES,
                 "code_challenge": create_s256_code_challenge(verifier),
                 "code_challenge_method": "S256"}
        query.update(selector or {"identity_provider": PROVIDER})
        return requests.Request("GET", f"{self.server.url}/oauth2/authorize", params=query).prepare().url

    def exchange(self, code: str, verifier: str) -> dict:
        resp = requests.post(f"{self.server.url}/oauth2/token", data={
            "grant_type": "authorization_code", "client_id": self.client_id, "code": code,
            "redirect_uri": CALLBACK, "code_verifier": verifier}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def id_claims(self, id_token: str) -> dict:
        key = jwt.PyJWKClient(self.server.jwks_url(self.pool_id), cache_keys=False) \
            .get_signing_key_from_jwt(id_token)
        return jwt.decode(id_token, key.key, algorithms=["RS256"], audience=self.client_id,
                          issuer=self.server.issuer(self.pool_id))


@pytest.fixture
def federation(server, cognito):
    """Pool + client + SimpleSAMLphp with the pool registered as its SP + the pool's SAML
    provider read from the IdP's metadata URL. `make(**provider_details)` builds one."""
    made: list[SimpleSamlIdp] = []

    def make(identifiers: list[str] | None = None, **details: str) -> Federation:
        pool_id = cognito.create_user_pool(
            PoolName=f"saml-{uid()}",
            Schema=[{"Name": "groups", "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
        sp_cert = pem_of(cognito.get_signing_certificate(UserPoolId=pool_id)["Certificate"])
        idp = SimpleSamlIdp(sps=[SamlSp(
            entity_id=f"urn:amazon:cognito:sp:{pool_id}",
            acs_url=f"{server.url}/saml2/idpresponse",
            # The logout URL of Cognate's SP metadata names the pool.
            slo_url=f"{server.url}/saml2/logout?pool={pool_id}",
            signing_cert_pem=sp_cert,
        )])
        made.append(idp)
        idp.start()
        kw = {"IdpIdentifiers": identifiers} if identifiers else {}
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName=PROVIDER, ProviderType="SAML",
            ProviderDetails={"MetadataURL": idp.metadata_url, "RequestSigningAlgorithm": "rsa-sha256",
                             **details},
            AttributeMapping=MAPPING, **kw)
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="saml web", CallbackURLs=[CALLBACK],
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=SCOPES.split(),
            AllowedOAuthFlowsUserPoolClient=True, SupportedIdentityProviders=[PROVIDER], LogoutURLs=[SIGNED_OUT],
        )["UserPoolClient"]
        return Federation(server, cognito, pool_id, client["ClientId"], idp, sp_cert)

    yield make
    for idp in made:
        idp.stop()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser context; `page.callbacks` lists the client callback URLs
    (https://app.example.com) the browser asked for, `page.acs_posts` the form bodies it POSTed
    to Cognate's ACS. Requests are watched rather than routed: Playwright does not route the
    target of a redirect, and the ACS answers with one; such a navigation ends in a DNS error,
    which is fine once its URL is recorded."""
    context = chromium.new_context()
    page = context.new_page()
    page.callbacks = []
    page.acs_posts = []

    def record(request):
        if request.url.startswith("https://app.example.com/"):
            page.callbacks.append(request.url)
        elif request.method == "POST" and urlsplit(request.url).path == "/saml2/idpresponse":
            page.acs_posts.append(request.post_data or "")

    page.route(re.compile(r"^https://app\.example\.com/.*"),
               lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>"))
    page.on("request", record)
    yield page
    context.close()


def is_callback(request) -> bool:
    return request.url.startswith(CALLBACK)


def sign_in_at_idp(page, fed: Federation, username: str, **selector) -> tuple[str, str]:
    """Cognate's authorize → SimpleSAMLphp's login form → back through the ACS to the client's
    callback. Returns (code, PKCE verifier)."""
    verifier = secrets.token_urlsafe(48)
    state = "s-" + uid()
    try:
        page.goto(fed.authorize_url(verifier, state, **selector))
    except playwright_api.Error as exc:
        pytest.fail(f"authorize did not lead to the IdP: {page.callbacks[-1:] or exc}", pytrace=False)
    page.locator("#username").wait_for(timeout=15000)
    assert page.url.startswith(fed.idp.base_url), f"expected SimpleSAMLphp's login, at {page.url}"
    page.locator("#username").fill(username)
    page.locator("#password").fill(fed.idp.user(username).password)
    with page.expect_request(is_callback, timeout=20000) as reached:
        page.locator("#submit_button").click()
    query = parse_qs(urlsplit(reached.value.url).query)
    assert query.get("state") == [state], reached.value.url
    assert "code" in query, f"no code in the callback: {reached.value.url}"
    return query["code"][0], verifier


def test_sign_in_through_simplesamlphp_creates_a_federated_user(federation, browser_page, cognito):
    fed = federation()
    code, verifier = sign_in_at_idp(browser_page, fed, "alice")
    tokens = fed.exchange(code, verifier)
    claims = fed.id_claims(tokens["id_token"])

    username = f"{PROVIDER}_alice"
    assert claims["cognito:username"] == username
    assert claims["email"] == "alice@idp.example.com"
    assert claims["given_name"] == "Alice"
    assert claims["family_name"] == "Liddell"
    assert f"{fed.pool_id}_{PROVIDER}" in claims["cognito:groups"]
    identities = claims["identities"]
    if isinstance(identities, str):
        identities = json.loads(identities)
    assert len(identities) == 1
    assert identities[0]["userId"] == "alice"
    assert identities[0]["providerName"] == PROVIDER
    assert identities[0]["providerType"] == "SAML"
    assert str(identities[0]["primary"]).lower() == "true"

    user = cognito.admin_get_user(UserPoolId=fed.pool_id, Username=username)
    assert user["UserStatus"] == "EXTERNAL_PROVIDER"
    got = attrs(user["UserAttributes"])
    assert got["email"] == "alice@idp.example.com"
    # A multi-valued SAML attribute keeps every value.
    assert "staff" in got["custom:groups"] and "admins" in got["custom:groups"]
    groups = cognito.admin_list_groups_for_user(UserPoolId=fed.pool_id, Username=username)["Groups"]
    assert f"{fed.pool_id}_{PROVIDER}" in [g["GroupName"] for g in groups]

    # The IdP changes a mapped attribute: the next sign-in brings it to the same user.
    fed.idp.set_user_attributes("alice", givenName=["Alicia"])
    browser_page.context.clear_cookies()
    code, verifier = sign_in_at_idp(browser_page, fed, "alice")
    claims = fed.id_claims(fed.exchange(code, verifier)["id_token"])
    assert claims["cognito:username"] == username
    assert claims["given_name"] == "Alicia"
    assert claims["sub"] == fed.id_claims(tokens["id_token"])["sub"], "the same user"
    assert attrs(cognito.admin_get_user(UserPoolId=fed.pool_id, Username=username)[
        "UserAttributes"])["given_name"] == "Alicia"


def test_a_replayed_response_is_refused(federation, browser_page, cognito):
    fed = federation()
    code, verifier = sign_in_at_idp(browser_page, fed, "bob")
    assert "id_token" in fed.exchange(code, verifier)
    assert len(browser_page.acs_posts) == 1, "one Response POSTed to the ACS"
    body = browser_page.acs_posts[0]
    assert "SAMLResponse=" in body

    # The same browser (its cookies) posts the very same Response again.
    before = len(browser_page.callbacks)
    resp = browser_page.context.request.post(
        fed.acs_url, data=body, max_redirects=0,
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= resp.status < 500, f"replay answered {resp.status}: {resp.text()[:500]}"
    assert "code=" not in (resp.headers.get("location") or "")
    assert len(browser_page.callbacks) == before
    # And from elsewhere (no cookies).
    again = requests.post(fed.acs_url, data=body, allow_redirects=False, timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= again.status_code < 500, again.text[:500]
    assert "code=" not in again.headers.get("Location", "")


def test_idp_identifier_routes_to_the_provider_with_a_signed_request(federation, cognito):
    fed = federation(identifiers=["corp.example.com"])
    verifier = secrets.token_urlsafe(48)
    url = fed.authorize_url(verifier, "s-" + uid(), idp_identifier="corp.example.com")
    resp = requests.get(url, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    location = resp.headers["Location"]
    assert location.startswith(fed.idp.sso_url + "?"), location

    # HTTP-Redirect binding: deflated AuthnRequest, RSA-SHA256 over the raw query string.
    raw = dict(part.split("=", 1) for part in urlsplit(location).query.split("&"))
    assert unquote(raw["SigAlg"]) == RSA_SHA256
    signed = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in raw)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    cert = x509.load_pem_x509_certificate(fed.sp_cert_pem.encode())
    cert.public_key().verify(base64.b64decode(unquote(raw["Signature"])), signed.encode(),
                             padding.PKCS1v15(), hashes.SHA256())
    request = ET.fromstring(zlib.decompress(base64.b64decode(unquote(raw["SAMLRequest"])), -15))
    assert request.tag == f"{{{SAMLP_NS}}}AuthnRequest"
    assert request.findtext(f"{{{SAML_NS}}}Issuer") == fed.sp_entity_id
    assert request.get("Destination") == fed.idp.sso_url
    assert request.get("ID")

    # SimpleSAMLphp accepts it (it checks the signature with the registered certificate) and
    # shows its login form.
    page = requests.get(location, timeout=30)
    assert "AuthState" in page.url and 'name="password"' in page.text, page.text[:1000]

    # An identifier nobody registered is not routed anywhere.
    other = fed.authorize_url(verifier, "s-" + uid(), idp_identifier="nobody.example.com")
    resp = requests.get(other, allow_redirects=False, timeout=10)
    assert not resp.headers.get("Location", "").startswith(fed.idp.base_url)
    assert "SAMLRequest" not in resp.headers.get("Location", "")
    assert "code=" not in resp.headers.get("Location", "")


def test_idp_initiated_sign_in_is_refused_when_idpinit_is_false(federation, browser_page):
    fed = federation(IDPInit="false")
    # SP-initiated works for this very provider ...
    code, verifier = sign_in_at_idp(browser_page, fed, "alice")
    assert "id_token" in fed.exchange(code, verifier)
    # ... an unsolicited Response (no InResponseTo) does not.
    posted = sign_in_with_requests(requests.Session(), fed.idp.idp_initiated_url(fed.sp_entity_id),
                                   "alice", fed.idp.user("alice").password)
    assert posted.action == fed.acs_url
    assert ET.fromstring(posted.xml).get("InResponseTo") is None
    before = len(browser_page.callbacks)
    resp = browser_page.context.request.post(
        fed.acs_url, form={"SAMLResponse": posted.saml_response}, max_redirects=0)
    assert 400 <= resp.status < 500, f"IdP-initiated answered {resp.status}: {resp.text()[:500]}"
    assert "code=" not in (resp.headers.get("location") or "")
    assert len(browser_page.callbacks) == before


def test_sp_metadata_names_the_acs_and_the_signing_certificate(federation):
    fed = federation()
    resp = requests.get(f"{fed.server.url}/saml2/metadata/{fed.pool_id}", timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    root = ET.fromstring(resp.content)
    assert root.get("entityID") == fed.sp_entity_id
    sp = root.find(f"{{{MD_NS}}}SPSSODescriptor")
    assert sp is not None
    acs = [(a.get("Binding"), a.get("Location")) for a in sp.findall(f"{{{MD_NS}}}AssertionConsumerService")]
    assert ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", fed.acs_url) in acs
    certs = [c.text.strip() for c in sp.iter(f"{{{DS_NS}}}X509Certificate")]
    body = "".join(fed.sp_cert_pem.strip().splitlines()[1:-1])
    assert body in ["".join(c.split()) for c in certs]


def sp_encryption_cert(fed: Federation) -> str:
    """The certificate the SP metadata offers for encryption (a KeyDescriptor use="encryption",
    or one without `use`, which serves both)."""
    resp = requests.get(f"{fed.server.url}/saml2/metadata/{fed.pool_id}", timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    sp = ET.fromstring(resp.content).find(f"{{{MD_NS}}}SPSSODescriptor")
    assert sp is not None
    for descriptor in sp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if descriptor.get("use") in ("encryption", None):
            cert = descriptor.find(f".//{{{DS_NS}}}X509Certificate")
            assert cert is not None and cert.text
            return pem_of("".join(cert.text.split()))
    raise AssertionError(f"no encryption certificate in the SP metadata:\n{resp.text[:2000]}")


def test_encrypted_assertions_are_decrypted(federation, browser_page):
    fed = federation(EncryptedResponses="true")
    fed.idp.add_sp(SamlSp(entity_id=fed.sp_entity_id, acs_url=fed.acs_url,
                          slo_url=f"{fed.server.url}/saml2/logout", signing_cert_pem=fed.sp_cert_pem,
                          encryption_cert_pem=sp_encryption_cert(fed)))
    code, verifier = sign_in_at_idp(browser_page, fed, "bob")
    claims = fed.id_claims(fed.exchange(code, verifier)["id_token"])
    assert claims["cognito:username"] == f"{PROVIDER}_bob"
    assert claims["email"] == "bob@idp.example.com"
    posted = parse_qs(browser_page.acs_posts[-1])["SAMLResponse"][0]
    xml = base64.b64decode(posted).decode()
    assert "EncryptedAssertion" in xml and "bob@idp.example.com" not in xml, "it was encrypted"


def refresh(fed: Federation, refresh_token: str) -> requests.Response:
    return requests.post(f"{fed.server.url}/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": fed.client_id, "refresh_token": refresh_token}, timeout=10)


def test_sign_out_at_cognate_signs_out_at_the_idp_too(federation, browser_page):
    """SP-initiated single logout (IDPSignout): /logout sends a signed LogoutRequest to
    SimpleSAMLphp, whose LogoutResponse comes back to /saml2/logout and on to the app."""
    fed = federation(IDPSignout="true")
    code, verifier = sign_in_at_idp(browser_page, fed, "alice")
    fed.exchange(code, verifier)
    visited: list[str] = []
    browser_page.on("request", lambda r: visited.append(r.url))
    logout = requests.Request("GET", f"{fed.server.url}/logout", params={
        "client_id": fed.client_id, "logout_uri": SIGNED_OUT}).prepare().url
    with browser_page.expect_request(lambda r: r.url.startswith(SIGNED_OUT), timeout=20000):
        try:
            browser_page.goto(logout)
        except playwright_api.Error:
            pass  # the app's page, reached by a redirect, is not routed (see browser_page)
    assert any(u.startswith(fed.idp.slo_url) and "SAMLRequest=" in u for u in visited), visited
    assert any("/saml2/logout" in u and "SAMLResponse=" in u for u in visited), visited
    # Both sessions are gone: the next sign-in asks for the password at the IdP again
    # (with the IdP's session alive it would go straight back to the app).
    before = len(browser_page.callbacks)
    try:
        browser_page.goto(fed.authorize_url(secrets.token_urlsafe(48), "again"))
    except playwright_api.Error:
        pass
    assert len(browser_page.callbacks) == before, browser_page.callbacks[before:]
    browser_page.locator("#username").wait_for(timeout=15000)
    # The LogoutResponse cannot be used twice.
    response_url = next(u for u in visited if "/saml2/logout" in u and "SAMLResponse=" in u)
    assert requests.get(response_url, allow_redirects=False, timeout=10).status_code == 400


def test_the_idp_signs_the_user_out_of_cognate(federation, browser_page):
    """IdP-initiated single logout: SimpleSAMLphp's logout sends a signed LogoutRequest to
    Cognate's /saml2/logout, which ends the user's sessions and tokens and answers."""
    fed = federation(IDPSignout="true")
    code, verifier = sign_in_at_idp(browser_page, fed, "bob")
    tokens = fed.exchange(code, verifier)
    assert refresh(fed, tokens["refresh_token"]).status_code == 200
    visited: list[str] = []
    browser_page.on("request", lambda r: visited.append(r.url))
    # SimpleSAMLphp returns only to URLs it trusts: its own.
    done = fed.idp.base_url + "?signed-out"
    slo = requests.Request("GET", fed.idp.slo_url, params={"ReturnTo": done}).prepare().url
    try:
        with browser_page.expect_request(lambda r: r.url.startswith(done), timeout=20000):
            try:
                browser_page.goto(slo)
            except playwright_api.Error:
                pass  # the app's page, reached by a redirect, is not routed (see browser_page)
    except playwright_api.Error:
        pytest.fail(f"the IdP's logout did not come back: {visited} {browser_page.content()[:2000]}")
    assert any("/saml2/logout" in u and "SAMLRequest=" in u for u in visited), visited
    assert refresh(fed, tokens["refresh_token"]).status_code == 400
    # Without IDPSignout, or unsigned, a LogoutRequest is refused.
    request_url = next(u for u in visited if "/saml2/logout" in u and "SAMLRequest=" in u)
    unsigned = re.sub(r"&(Signature|SigAlg)=[^&]*", "", request_url)
    assert requests.get(unsigned, allow_redirects=False, timeout=10).status_code == 400
