"""The SAML IdP the federation tests use (saml_idp.py: Debian's SimpleSAMLphp under `php -S`),
checked on its own, without Cognate: a loopback stand-in plays the SP's assertion consumer
service, Chromium walks the IdP's login, and xmlsec1 checks what the IdP signed and encrypted.

With COGNATE_SAML_FIXTURES=DIR the IdP-initiated test also writes one real signed Response,
one with an encrypted assertion, the IdP metadata and the SP key to DIR (README.txt says
when and for which SP) — material for the SP side's own unit tests."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests

from saml_idp import (
    DSIG_NS,
    NAMEID_PERSISTENT,
    SAML_NS,
    SAMLP_NS,
    AcsStandIn,
    SamlIdpError,
    SamlSp,
    SimpleSamlIdp,
    decrypt_assertion,
    make_key_and_cert,
    redirect_authn_request,
    sign_in_with_requests,
    simplesamlphp_missing,
    verify_signature,
)

playwright_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs Playwright")

SP_ENTITY = "urn:amazon:cognito:sp:local_StandIn1"
NS = {"samlp": SAMLP_NS, "saml": SAML_NS, "ds": DSIG_NS}


@pytest.fixture(scope="module", autouse=True)
def simplesamlphp_installed():
    missing = simplesamlphp_missing()
    if missing:
        pytest.fail(missing, pytrace=False)


def attributes_of(assertion: ET.Element) -> dict[str, list[str]]:
    return {
        a.get("Name"): [v.text or "" for v in a.findall("saml:AttributeValue", NS)]
        for a in assertion.findall("saml:AttributeStatement/saml:Attribute", NS)
    }


def check_assertion(assertion: ET.Element, idp: SimpleSamlIdp, acs_url: str) -> None:
    assert assertion.findtext("saml:Issuer", namespaces=NS) == idp.entity_id
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.text == "alice"
    assert name_id.get("Format") == NAMEID_PERSISTENT
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert confirmation is not None and confirmation.get("Recipient") == acs_url
    assert assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience",
                              namespaces=NS) == SP_ENTITY
    attrs = attributes_of(assertion)
    assert attrs["email"] == ["alice@idp.example.com"]
    assert attrs["givenName"] == ["Alice"]
    assert sorted(attrs["groups"]) == ["admins", "staff"]


def test_idp_initiated_sign_in_in_chromium_posts_a_signed_response(chromium, tmp_path):
    sp_key, sp_cert = make_key_and_cert("Cognate SP stand-in")
    with AcsStandIn() as acs:
        sp = SamlSp(SP_ENTITY, acs.acs_url, slo_url=acs.acs_url.replace("idpresponse", "logout"),
                    signing_cert_pem=sp_cert)
        with SimpleSamlIdp(sps=[sp]) as idp:
            context = chromium.new_context()
            page = context.new_page()
            # How test_saml_federation.py sees the Response: the browser's own request.
            seen_posts = []
            page.on("request", lambda r: seen_posts.append(r.post_data)
                    if r.method == "POST" and r.url == acs.acs_url else None)
            page.goto(idp.idp_initiated_url(SP_ENTITY, "relay-123"))
            page.locator("#username").fill("alice")
            page.locator("#password").fill("wrong-password")
            page.locator("#submit_button").click()
            page.locator("#password").wait_for()
            assert not acs.posts, "a wrong password reached the SP"
            page.locator("#username").fill("alice")
            page.locator("#password").fill(idp.user("alice").password)
            page.locator("#submit_button").click()
            posted = acs.wait_for_post()
            page.get_by_text("captured").wait_for()
            context.close()

            assert posted.relay_state == "relay-123"
            assert len(seen_posts) == 1
            assert parse_qs(seen_posts[0])["SAMLResponse"] == [posted.saml_response]
            xml = posted.xml
            root = ET.fromstring(xml)
            assert root.tag == f"{{{SAMLP_NS}}}Response"
            assert root.get("Destination") == acs.acs_url
            assert root.get("InResponseTo") is None, "IdP-initiated: unsolicited"
            assert root.find("samlp:Status/samlp:StatusCode", NS).get("Value") == \
                "urn:oasis:names:tc:SAML:2.0:status:Success"
            assert root.find("ds:Signature", NS) is not None, "the Response is signed"
            assertion = root.find("saml:Assertion", NS)
            assert assertion is not None and assertion.find("ds:Signature", NS) is not None
            check_assertion(assertion, idp, acs.acs_url)
            verify_signature(xml, idp.cert_pem)  # the Response's
            verify_signature(xml, idp.cert_pem, "//*[local-name()='Assertion']/*[local-name()='Signature']")
            other_key, other_cert = make_key_and_cert("not the IdP")
            with pytest.raises(SamlIdpError):
                verify_signature(xml, other_cert)
            tampered = xml.replace("alice@idp.example.com", "mallory@idp.example.com")
            with pytest.raises(SamlIdpError):
                verify_signature(tampered, idp.cert_pem)

            # The same walk with the assertion encrypted to the SP.
            enc_key, enc_cert = make_key_and_cert("Cognate SP stand-in encryption")
            idp.add_sp(SamlSp(SP_ENTITY, acs.acs_url, signing_cert_pem=sp_cert,
                              encryption_cert_pem=enc_cert))
            http = requests.Session()
            encrypted = sign_in_with_requests(http, idp.idp_initiated_url(SP_ENTITY, "relay-456"),
                                              "alice", idp.user("alice").password)
            assert encrypted.action == acs.acs_url and encrypted.relay_state == "relay-456"
            enc_root = ET.fromstring(encrypted.xml)
            assert enc_root.find("saml:Assertion", NS) is None, "no plaintext assertion"
            assert enc_root.find("saml:EncryptedAssertion", NS) is not None
            assert "alice@idp.example.com" not in encrypted.xml
            verify_signature(encrypted.xml, idp.cert_pem)
            with pytest.raises(SamlIdpError):
                decrypt_assertion(encrypted.xml, other_key)
            decrypted = decrypt_assertion(encrypted.xml, enc_key)
            verify_signature(decrypted, idp.cert_pem,
                             "//*[local-name()='Assertion']/*[local-name()='Signature']")
            clear = ET.fromstring(decrypted)
            # xmlsec1 puts the Assertion where the EncryptedData was, inside EncryptedAssertion.
            check_assertion(clear.find("saml:EncryptedAssertion/saml:Assertion", NS), idp, acs.acs_url)

            fixtures = os.environ.get("COGNATE_SAML_FIXTURES")
            if fixtures:
                write_fixtures(Path(fixtures), idp, acs.acs_url, xml, encrypted.xml, enc_key, enc_cert)


def write_fixtures(out: Path, idp: SimpleSamlIdp, acs_url: str, signed: str, encrypted: str,
                   enc_key: str, enc_cert: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "simplesamlphp-response.xml").write_text(signed)
    (out / "simplesamlphp-response-encrypted.xml").write_text(encrypted)
    (out / "simplesamlphp-idp-metadata.xml").write_text(idp.metadata_xml())
    (out / "simplesamlphp-sp-encryption-key.pem").write_text(enc_key)
    (out / "simplesamlphp-sp-encryption-cert.pem").write_text(enc_cert)
    (out / "README.txt").write_text(
        f"""Real SAML 2.0 Responses from SimpleSAMLphp 1.19.7 (Debian bookworm) made by
tests/interop/test_saml_idp.py (COGNATE_SAML_FIXTURES) at unix time {int(time.time())}.

SP entity id (Audience):   {SP_ENTITY}
ACS URL (Destination, Recipient): {acs_url}
IdP entity id (Issuer):    {idp.entity_id}
Both are IdP-initiated (no InResponseTo), user alice: NameID "alice" (persistent format),
attributes uid, email=alice@idp.example.com, givenName=Alice, sn=Liddell,
groups=[staff, admins], eduPersonAffiliation=[member, staff]. The assertion is valid for
about 5 minutes after that time (NotOnOrAfter); tests must pin their clock.

simplesamlphp-response.xml            Response and Assertion both signed (RSA-SHA256,
                                      exclusive C14N), IdP cert in simplesamlphp-idp-metadata.xml
simplesamlphp-response-encrypted.xml  Response signed; EncryptedAssertion (AES-128-CBC data,
                                      RSA-OAEP key transport) to simplesamlphp-sp-encryption-cert.pem;
                                      decrypt with simplesamlphp-sp-encryption-key.pem; the
                                      assertion inside is signed too
simplesamlphp-idp-metadata.xml        the IdP's metadata (signing and encryption certificate)
"""
    )


def test_sp_initiated_requests_must_be_signed_by_the_registered_sp(tmp_path):
    """validate.authnrequest: a request signed with the SP's registered key is answered
    (InResponseTo its ID); unsigned or signed with another key, the IdP refuses it."""
    sp_key, sp_cert = make_key_and_cert("Cognate SP stand-in")
    acs_url = "http://127.0.0.1:9/saml2/idpresponse"
    with SimpleSamlIdp(sps=[SamlSp(SP_ENTITY, acs_url, signing_cert_pem=sp_cert,
                                   sign_response=False)]) as idp:
        url, request_id = redirect_authn_request(idp.sso_url, SP_ENTITY, acs_url, key_pem=sp_key,
                                                 relay_state="r1")
        posted = sign_in_with_requests(requests.Session(), url, "bob", idp.user("bob").password)
        root = ET.fromstring(posted.xml)
        assert root.get("InResponseTo") == request_id
        assert posted.action == acs_url and posted.relay_state == "r1"
        assert root.find("ds:Signature", NS) is None, "saml20.sign.response off"
        assertion = root.find("saml:Assertion", NS)
        assert assertion.find("saml:Subject/saml:NameID", NS).text == "bob"
        verify_signature(posted.xml, idp.cert_pem,
                         "//*[local-name()='Assertion']/*[local-name()='Signature']")

        unsigned, _ = redirect_authn_request(idp.sso_url, SP_ENTITY, acs_url)
        resp = requests.get(unsigned, timeout=30)
        assert "AuthState" not in resp.url and "SAMLResponse" not in resp.text
        assert "no signature found on message" in idp.log_tail(50000)
        other_key, _ = make_key_and_cert("not the SP")
        forged, _ = redirect_authn_request(idp.sso_url, SP_ENTITY, acs_url, key_pem=other_key)
        resp = requests.get(forged, timeout=30)
        assert "AuthState" not in resp.url and "SAMLResponse" not in resp.text
        assert "Unable to validate signature on query string" in idp.log_tail(50000)


def test_changed_attributes_reach_the_next_sign_in():
    acs_url = "http://127.0.0.1:9/saml2/idpresponse"
    with SimpleSamlIdp(sps=[SamlSp(SP_ENTITY, acs_url)]) as idp:
        first = sign_in_with_requests(requests.Session(), idp.idp_initiated_url(SP_ENTITY), "alice",
                                      idp.user("alice").password)
        idp.set_user_attributes("alice", email=["alice.new@idp.example.com"])
        second = sign_in_with_requests(requests.Session(), idp.idp_initiated_url(SP_ENTITY), "alice",
                                       idp.user("alice").password)
        email = lambda p: attributes_of(ET.fromstring(p.xml).find("saml:Assertion", NS))["email"]  # noqa: E731
        assert email(first) == ["alice@idp.example.com"]
        assert email(second) == ["alice.new@idp.example.com"]


def test_two_idps_run_side_by_side_and_stop_cleanly():
    a, b = SimpleSamlIdp(), SimpleSamlIdp()
    with a, b:
        assert a.port != b.port and a.entity_id != b.entity_id
        assert a.cert_pem != b.cert_pem
        pids = [a.proc.pid, b.proc.pid]
        roots = [a.root, b.root]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    if os.environ.get("COGNATE_IT_KEEP") != "1":
        assert not any(r.exists() for r in roots)
