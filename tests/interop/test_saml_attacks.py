"""Forged SAML responses posted to Cognate's assertion consumer (/saml2/idpresponse), each
refused: the attack battery of enterprise SSO. The responses are signed the way an IdP
signs them, with signxml (RSA-SHA256, exclusive C14N, an enveloped signature after the
Issuer) by a test IdP whose certificate is in the provider's MetadataFile; each attack then
changes one thing. A genuine response signs the user in, once, and only in the browser that
began the sign-in. Both backends."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import uuid
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

from cognate_harness import uid
from hosted_login import CALLBACK, redirected_to

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
IDP_ENTITY = "https://idp.forge.test/metadata"
IDP_SSO = "https://idp.forge.test/sso"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def key_and_cert(common_name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


IDP_KEY, IDP_CERT = key_and_cert("forge idp")
OTHER_KEY, OTHER_CERT = key_and_cert("attacker")


def metadata(cert_pem: bytes) -> str:
    body = b"".join(cert_pem.strip().splitlines()[1:-1]).decode()
    return (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ENTITY}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f'<ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
        '</md:KeyDescriptor>'
        '<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>'
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO}"/>'
        '</md:IDPSSODescriptor></md:EntityDescriptor>'
    )


def instant(offset_secs: int = 0) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_secs)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Forge:
    """One pool with a SAML provider trusting IDP_CERT, and a client using it."""

    def __init__(self, server, cognito, *, idp_init: bool = False):
        self.server = server
        self.pool_id = cognito.create_user_pool(PoolName=f"saml-{uid()}")["UserPool"]["Id"]
        self.provider = "Forge"
        details = {"MetadataFile": metadata(IDP_CERT)}
        if idp_init:
            details["IDPInit"] = "true"
        cognito.create_identity_provider(
            UserPoolId=self.pool_id, ProviderName=self.provider, ProviderType="SAML", ProviderDetails=details,
            AttributeMapping={"email": "email"}, IdpIdentifiers=["forge.test"])
        self.client_id = cognito.create_user_pool_client(
            UserPoolId=self.pool_id, ClientName="web", CallbackURLs=[CALLBACK], AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"],
            SupportedIdentityProviders=[self.provider], GenerateSecret=False)["UserPoolClient"]["ClientId"]
        self.audience = f"urn:amazon:cognito:sp:{self.pool_id}"
        self.acs = f"{server.url}/saml2/idpresponse"

    def start(self) -> tuple[requests.Session, str, str]:
        """An SP-initiated sign-in: the browser, the AuthnRequest's ID and the RelayState."""
        http = requests.Session()
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK,
                 "scope": "openid email", "identity_provider": self.provider,
                 "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
        resp = http.get(f"{self.server.url}/oauth2/authorize", params=query, allow_redirects=False, timeout=10)
        assert resp.status_code == 302, resp.text
        location = resp.headers["Location"]
        assert location.startswith(IDP_SSO + "?"), location
        params = parse_qs(urlsplit(location).query)
        request = zlib.decompress(base64.b64decode(params["SAMLRequest"][0]), -15)
        authn = etree.fromstring(request)
        assert authn.get("AssertionConsumerServiceURL") == self.acs
        assert authn.findtext("saml:Issuer", namespaces=NS) == self.audience
        return http, authn.get("ID"), params["RelayState"][0]

    def assertion(self, request_id: str | None, *, name_id: str = "alice@forge.test", audience: str | None = None,
                  recipient: str | None = None, not_before: int = -60, not_after: int = 300,
                  issuer: str = IDP_ENTITY) -> etree._Element:
        aid = "_" + uuid.uuid4().hex
        in_response_to = f' InResponseTo="{request_id}"' if request_id else ""
        xml = (
            f'<saml:Assertion xmlns:saml="{NS["saml"]}" ID="{aid}" Version="2.0" IssueInstant="{instant()}">'
            f'<saml:Issuer>{issuer}</saml:Issuer>'
            '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/>'
            '<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
            f'{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{instant(not_after)}" '
            f'Recipient="{recipient or self.acs}"{in_response_to}/></saml:SubjectConfirmation></saml:Subject>'
            f'<saml:Conditions NotBefore="{instant(not_before)}" NotOnOrAfter="{instant(not_after)}">'
            f'<saml:AudienceRestriction><saml:Audience>{audience or self.audience}</saml:Audience>'
            '</saml:AudienceRestriction></saml:Conditions>'
            f'<saml:AuthnStatement AuthnInstant="{instant()}" SessionIndex="_s{uuid.uuid4().hex}">'
            '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password'
            '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
            '<saml:AttributeStatement><saml:Attribute Name="email">'
            f'<saml:AttributeValue>{name_id}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>'
            '</saml:Assertion>'
        )
        return etree.fromstring(xml)

    @staticmethod
    def sign(element: etree._Element, key: bytes = IDP_KEY, cert: bytes = IDP_CERT) -> etree._Element:
        signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                           c14n_algorithm=EXC_C14N)
        return signer.sign(element, key=key, cert=cert, reference_uri=element.get("ID"))

    @staticmethod
    def unsigned(element: etree._Element) -> etree._Element:
        for sig in element.findall("ds:Signature", NS):
            element.remove(sig)
        return element

    def response(self, request_id: str | None, *assertions: etree._Element, status: str = "Success",
                 destination: str | None = None, issuer: str = IDP_ENTITY) -> str:
        in_response_to = f' InResponseTo="{request_id}"' if request_id else ""
        head = (
            f'<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="_{uuid.uuid4().hex}" '
            f'Version="2.0" IssueInstant="{instant()}" Destination="{destination or self.acs}"{in_response_to}>'
            f'<saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode '
            f'Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:Status>'
        )
        body = "".join(etree.tostring(a).decode() for a in assertions)
        return head + body + "</samlp:Response>"

    def post(self, http: requests.Session, xml: str, relay: str) -> requests.Response:
        data = {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay}
        return http.post(self.acs, data=data, allow_redirects=False, timeout=10)

    def finish(self, http: requests.Session, resp: requests.Response) -> requests.Response:
        """Follows the ACS's 303 back on Cognate's origin (with the browser's cookies)."""
        assert resp.status_code == 303, (resp.status_code, resp.text[:500])
        return http.get(self.server.url + resp.headers["Location"], allow_redirects=False, timeout=10)


@pytest.fixture
def forge(server, cognito):
    return Forge(server, cognito)


def signed_in(resp: requests.Response) -> bool:
    if resp.status_code not in (302, 303):
        return False
    callback, query = redirected_to(resp)
    return callback == CALLBACK and "code" in query


def refused(forge: Forge, http: requests.Session, xml: str, relay: str) -> None:
    resp = forge.post(http, xml, relay)
    if resp.status_code == 303:
        resp = forge.finish(http, resp)
    assert not signed_in(resp), resp.headers.get("Location")
    assert 400 <= resp.status_code < 500 or redirected_to(resp)[1].get("error"), (resp.status_code, resp.text[:300])


def test_a_genuine_response_signs_in_once_and_only_in_its_browser(forge, cognito):
    http, request_id, relay = forge.start()
    xml = forge.response(request_id, forge.sign(forge.assertion(request_id)))
    resp = forge.post(http, xml, relay)
    # Another browser carrying the continuation gets nothing (login CSRF).
    stranger = requests.Session()
    assert not signed_in(forge.finish(stranger, resp))
    # The one that began it was refused with it: the request is used up. Start again.
    http, request_id, relay = forge.start()
    xml = forge.response(request_id, forge.sign(forge.assertion(request_id)))
    done = forge.finish(http, forge.post(http, xml, relay))
    assert signed_in(done), (done.status_code, done.text[:500])
    user = cognito.admin_get_user(UserPoolId=forge.pool_id, Username="Forge_alice@forge.test")
    assert user["UserStatus"] == "EXTERNAL_PROVIDER"
    attrs = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attrs["email"] == "alice@forge.test"
    assert '"providerName":"Forge"' in attrs["identities"].replace(" ", "")
    groups = cognito.admin_list_groups_for_user(UserPoolId=forge.pool_id, Username="Forge_alice@forge.test")
    assert [g["GroupName"] for g in groups["Groups"]] == [f"{forge.pool_id}_Forge"]
    # The same response again: a replay.
    refused(forge, http, xml, relay)
    http2, _, relay2 = forge.start()
    refused(forge, http2, xml, relay2)


def test_unsigned_and_wrongly_signed_responses_are_refused(forge):
    http, rid, relay = forge.start()
    refused(forge, http, forge.response(rid, forge.unsigned(forge.assertion(rid))), relay)
    http, rid, relay = forge.start()
    # Signed by a key the metadata does not hold, its certificate in KeyInfo.
    refused(forge, http, forge.response(rid, forge.sign(forge.assertion(rid), OTHER_KEY, OTHER_CERT)), relay)
    http, rid, relay = forge.start()
    # Changed after signing.
    signed = forge.sign(forge.assertion(rid))
    signed.find(".//saml:NameID", NS).text = "admin@forge.test"
    refused(forge, http, forge.response(rid, signed), relay)
    http, rid, relay = forge.start()
    # An attribute added after signing.
    signed = forge.sign(forge.assertion(rid))
    value = signed.find(".//saml:AttributeValue", NS)
    value.text = "boss@forge.test"
    refused(forge, http, forge.response(rid, signed), relay)


def test_signature_wrapping_is_refused(forge):
    # 1. An unsigned evil assertion before the signed one.
    http, rid, relay = forge.start()
    good = forge.sign(forge.assertion(rid))
    evil = forge.unsigned(forge.assertion(rid, name_id="admin@forge.test"))
    refused(forge, http, forge.response(rid, evil, good), relay)
    # 2. ... and after it.
    http, rid, relay = forge.start()
    good = forge.sign(forge.assertion(rid))
    evil = forge.unsigned(forge.assertion(rid, name_id="admin@forge.test"))
    refused(forge, http, forge.response(rid, good, evil), relay)
    # 3. The evil assertion takes the signed one's ID; the signed one hides in Extensions.
    http, rid, relay = forge.start()
    good = forge.sign(forge.assertion(rid))
    evil = forge.unsigned(forge.assertion(rid, name_id="admin@forge.test"))
    evil.set("ID", good.get("ID"))
    xml = forge.response(rid, evil).replace(
        "<samlp:Status>", "<samlp:Extensions>" + etree.tostring(good).decode() + "</samlp:Extensions><samlp:Status>")
    refused(forge, http, xml, relay)
    # 4. The signed assertion's Signature moved into the evil one (same ID), the original
    #    assertion tucked inside the Signature's Object.
    http, rid, relay = forge.start()
    good = forge.sign(forge.assertion(rid))
    evil = forge.unsigned(forge.assertion(rid, name_id="admin@forge.test"))
    evil.set("ID", good.get("ID"))
    signature = copy.deepcopy(good.find("ds:Signature", NS))
    obj = etree.SubElement(signature, f"{{{NS['ds']}}}Object")
    obj.append(forge.unsigned(copy.deepcopy(good)))
    evil.insert(1, signature)
    refused(forge, http, forge.response(rid, evil), relay)
    # 5. The signed assertion inside the evil one's Advice.
    http, rid, relay = forge.start()
    good = forge.sign(forge.assertion(rid))
    evil = forge.unsigned(forge.assertion(rid, name_id="admin@forge.test"))
    advice = etree.SubElement(evil, f"{{{NS['saml']}}}Advice")
    advice.append(good)
    refused(forge, http, forge.response(rid, evil), relay)


def test_conditions_audience_recipient_times_and_issuer_are_checked(forge):
    cases = [
        {"audience": "urn:amazon:cognito:sp:us-east-1_Other0000"},
        {"recipient": "https://evil.example.com/saml2/idpresponse"},
        {"not_before": -600, "not_after": -300},  # expired
        {"not_before": 3600, "not_after": 7200},  # not yet valid
        {"issuer": "https://idp.other.test/metadata"},
    ]
    for case in cases:
        http, rid, relay = forge.start()
        refused(forge, http, forge.response(rid, forge.sign(forge.assertion(rid, **case))), relay)
    # The response's own Destination and status.
    http, rid, relay = forge.start()
    xml = forge.response(rid, forge.sign(forge.assertion(rid)), destination="https://evil.example.com/acs")
    refused(forge, http, xml, relay)
    http, rid, relay = forge.start()
    refused(forge, http, forge.response(rid, forge.sign(forge.assertion(rid)), status="Responder"), relay)


def test_responses_must_answer_this_browsers_request(forge):
    # InResponseTo of another (or no) request, or another request's RelayState.
    http, rid, relay = forge.start()
    refused(forge, http, forge.response("_never", forge.sign(forge.assertion("_never"))), relay)
    http, rid, relay = forge.start()
    _, other_rid, other_relay = forge.start()
    refused(forge, http, forge.response(rid, forge.sign(forge.assertion(rid))), other_relay)
    # Unsolicited (IdP-initiated) while the provider does not allow it.
    http, rid, relay = forge.start()
    query = (f"response_type=code&client_id={forge.client_id}&redirect_uri={CALLBACK}"
             f"&identity_provider={forge.provider}&scope=openid")
    refused(forge, http, forge.response(None, forge.sign(forge.assertion(None))), query)


def test_idp_initiated_sign_in_only_where_allowed(server, cognito):
    forge = Forge(server, cognito, idp_init=True)
    query = (f"response_type=code&client_id={forge.client_id}&redirect_uri={CALLBACK}"
             f"&identity_provider={forge.provider}&scope=openid+email&code_challenge_method=S256"
             "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    http = requests.Session()
    resp = forge.post(http, forge.response(None, forge.sign(forge.assertion(None))), query)
    assert signed_in(resp), (resp.status_code, resp.headers.get("Location"), resp.text[:300])
    # An assertion answering a request is still refused when it answers none of ours.
    resp = forge.post(http, forge.response(None, forge.sign(forge.assertion("_x"))), query)
    assert not signed_in(resp)


def test_dtds_and_entities_are_refused_before_parsing(forge):
    http, rid, relay = forge.start()
    good = forge.response(rid, forge.sign(forge.assertion(rid)))
    xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + good
    refused(forge, http, xxe, relay)
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                        for i in range(1, 10)) + ']>')
    refused(forge, http, laughs + good, relay)
    # Not XML, not base64, too large: a clear 4xx, never a 5xx.
    for junk in ("<samlp:Response", "\x00\x01", "A" * 300_000):
        resp = http.post(forge.acs, data={"SAMLResponse": junk, "RelayState": relay}, allow_redirects=False,
                         timeout=10)
        assert 400 <= resp.status_code < 500, resp.status_code
    resp = http.post(forge.acs, data={"SAMLResponse": "%%%", "RelayState": relay}, allow_redirects=False,
                     timeout=10)
    assert 400 <= resp.status_code < 500


def test_sp_metadata_names_the_pool_and_its_acs(forge, cognito):
    resp = requests.get(f"{forge.server.url}/saml2/metadata/{forge.pool_id}", timeout=10)
    assert resp.status_code == 200
    doc = etree.fromstring(resp.content)
    assert doc.get("entityID") == forge.audience
    acs = doc.find(".//{urn:oasis:names:tc:SAML:2.0:metadata}AssertionConsumerService")
    assert acs.get("Location") == forge.acs
    cert = cognito.get_signing_certificate(UserPoolId=forge.pool_id)["Certificate"]
    assert cert in resp.text
    assert requests.get(f"{forge.server.url}/saml2/metadata/us-east-1_Nope00000", timeout=10).status_code == 404


def test_bad_input_on_every_federation_endpoint_is_a_clear_4xx(forge):
    base = forge.server.url
    cases = [
        ("GET", "/oauth2/idpresponse", None),
        ("GET", "/oauth2/idpresponse?state=%00&code=x", None),
        ("GET", "/oauth2/idpresponse?state=a&state=b", None),
        ("GET", "/oauth2/idpresponse?state=" + "A" * 5000, None),
        ("GET", "/saml2/idpresponse?RelayState=%00", None),
        ("GET", "/saml2/idpresponse", None),
        ("POST", "/saml2/idpresponse", b"SAMLResponse=%00%01&RelayState=%00"),
        ("POST", "/saml2/idpresponse", b"\xff\xfe"),
        ("POST", "/saml2/idpresponse", b""),
        ("GET", "/saml2/logout", None),
        ("GET", "/saml2/logout?pool=%00&SAMLRequest=%00", None),
        ("GET", f"/saml2/logout?pool={forge.pool_id}&SAMLRequest=not-deflate", None),
        ("GET", "/saml2/logout?SAMLResponse=x&RelayState=%00", None),
        ("GET", "/saml2/metadata/%00", None),
        ("GET", "/saml2/metadata/" + "x" * 500, None),
        ("POST", "/login/sso?client_id=%00", b"email=a%40b.c"),
    ]
    for method, path, body in cases:
        resp = requests.request(method, base + path, data=body, allow_redirects=False, timeout=10,
                                headers={"content-type": "application/x-www-form-urlencoded"})
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code, resp.text[:200])


def test_the_provider_group_cannot_be_made_or_changed_beforehand(forge, cognito):
    """`{poolId}_{Provider}` holds the provider's users: nobody may create it in advance (say
    with a role ARN or precedence its users would inherit) or add people to it."""
    from cognate_harness import raises_cognito

    name = f"{forge.pool_id}_Forge"
    with raises_cognito("InvalidParameterException"):
        cognito.create_group(UserPoolId=forge.pool_id, GroupName=name, Precedence=0,
                             RoleArn="arn:aws:iam::000000000000:role/admin")
    with raises_cognito("InvalidParameterException"):
        cognito.create_group(UserPoolId=forge.pool_id, GroupName=f"{forge.pool_id}_Later")
    # Federation makes it at the first sign-in; it still cannot be changed through the API.
    http, request_id, relay = forge.start()
    done = forge.finish(http, forge.post(http, forge.response(request_id, forge.sign(forge.assertion(request_id))),
                                         relay))
    assert signed_in(done)
    assert cognito.get_group(UserPoolId=forge.pool_id, GroupName=name)["Group"]["GroupName"] == name
    with raises_cognito("InvalidParameterException"):
        cognito.update_group(UserPoolId=forge.pool_id, GroupName=name, Precedence=0)
    cognito.admin_create_user(UserPoolId=forge.pool_id, Username="mallory", MessageAction="SUPPRESS")
    with raises_cognito("InvalidParameterException"):
        cognito.admin_add_user_to_group(UserPoolId=forge.pool_id, Username="mallory", GroupName=name)


def test_a_pool_user_holding_the_federated_name_never_receives_the_identity(forge, cognito):
    """Someone takes the name `{Provider}_{NameID}` before the real person's first SSO
    sign-in: the sign-in is refused, and the squatter gets neither the identity nor anything
    the IdP asserts."""
    squatter = "Forge_victim@forge.test"
    cognito.admin_create_user(UserPoolId=forge.pool_id, Username=squatter, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": "mallory@evil.test"}])
    http, request_id, relay = forge.start()
    xml = forge.response(request_id, forge.sign(forge.assertion(request_id, name_id="victim@forge.test")))
    done = forge.finish(http, forge.post(http, xml, relay))
    assert not signed_in(done), done.headers.get("Location")
    user = cognito.admin_get_user(UserPoolId=forge.pool_id, Username=squatter)
    attrs = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert user["UserStatus"] != "EXTERNAL_PROVIDER" and attrs["email"] == "mallory@evil.test"
    assert "identities" not in attrs
    groups = cognito.admin_list_groups_for_user(UserPoolId=forge.pool_id, Username=squatter)["Groups"]
    assert groups == []
