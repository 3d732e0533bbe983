"""Choice-based sign-in (`USER_AUTH`, docs/user-auth.md) with boto3: SELECT_CHALLENGE and
AvailableChallenges, PASSWORD, PASSWORD_SRP (pycognito's SRP), EMAIL_OTP with the code read
from an SMTP relay, throttling, the pool's SignInPolicy and the client's ALLOW_USER_AUTH;
and passkeys registered and used in Chromium with its virtual authenticator (DevTools
protocol), with the attacks a relying party must refuse."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright import sync_api as playwright_api
from pycognito.aws_srp import AWSSRP

from cognate_harness import jwt_claims, raises_cognito, uid
from conftest import PASSWORD, start_backend
from test_smtp import body_text, free_port, smtp_env, start_relay

FLOWS = ["ALLOW_USER_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
ALL_FACTORS = ["PASSWORD", "EMAIL_OTP", "WEB_AUTHN"]
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request):
    """A server of its own per backend, delivering mail to an SMTP relay of the module."""
    controller, inbox = start_relay(free_port())
    srv = start_backend(request.param, {**smtp_env(controller.port), "COGNATE_THROTTLE_IP_FAILURES": "100000"})
    yield srv, inbox
    from cognate_harness import dispose_server

    dispose_server(srv)
    controller.stop()


@pytest.fixture
def idp(env):
    return env[0].cognito


@pytest.fixture
def inbox(env):
    return env[1]


def make_pool(idp, factors=None, **kw) -> str:
    policies = {"SignInPolicy": {"AllowedFirstAuthFactors": factors or ALL_FACTORS}}
    pool = idp.create_user_pool(PoolName=f"ua-{uid()}", Policies=policies, **kw)["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool, WebAuthnConfiguration={"RelyingPartyId": "localhost"})
    return pool


def make_client(idp, pool: str, flows=None, **kw) -> str:
    """An app client; one that says which users exist unless told otherwise."""
    kw.setdefault("PreventUserExistenceErrors", "LEGACY")
    return idp.create_user_pool_client(UserPoolId=pool, ClientName=f"c-{uid()}", ExplicitAuthFlows=flows or FLOWS,
                                       **kw)["UserPoolClient"]["ClientId"]


def make_user(idp, pool: str, email: str | None = None, verified: bool = True) -> str:
    name = f"u{uid()}"
    attrs = []
    if email:
        attrs = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": str(verified).lower()}]
    idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS", UserAttributes=attrs)
    idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    return name


def start(idp, client: str, username: str, **params) -> dict:
    return idp.initiate_auth(ClientId=client, AuthFlow="USER_AUTH", AuthParameters={"USERNAME": username, **params})


def respond(idp, client: str, name: str, session: str, **responses) -> dict:
    return idp.respond_to_auth_challenge(ClientId=client, ChallengeName=name, Session=session,
                                         ChallengeResponses=responses)


def code_for(inbox, address: str, count: int = 1) -> str:
    msg = inbox.wait_for(address, count)[count - 1]
    m = CODE.search(body_text(msg))
    assert m, body_text(msg)
    return m.group(1)


# --------------------------------------------------------------------------- choices


def test_the_pool_policy_is_described_and_checked(idp):
    pool = make_pool(idp, ["PASSWORD", "EMAIL_OTP"])
    policy = idp.describe_user_pool(UserPoolId=pool)["UserPool"]["Policies"]["SignInPolicy"]
    assert policy == {"AllowedFirstAuthFactors": ["PASSWORD", "EMAIL_OTP"]}
    plain = idp.create_user_pool(PoolName=f"ua-{uid()}")["UserPool"]
    assert plain["Policies"]["SignInPolicy"] == {"AllowedFirstAuthFactors": ["PASSWORD"]}
    for bad in (["EMAIL_OTP"], ["PASSWORD", "SOFTWARE_TOKEN"], ["PASSWORD", "FACE"]):
        with raises_cognito("InvalidParameterException"):
            idp.update_user_pool(UserPoolId=pool, Policies={"SignInPolicy": {"AllowedFirstAuthFactors": bad}})
    config = idp.get_user_pool_mfa_config(UserPoolId=pool)
    assert config["WebAuthnConfiguration"]["RelyingPartyId"] == "localhost"
    for bad in ({"RelyingPartyId": "https://x.io"}, {"UserVerification": "always"}):
        with raises_cognito("InvalidParameterException"):
            idp.set_user_pool_mfa_config(UserPoolId=pool, WebAuthnConfiguration=bad)


def test_select_challenge_lists_what_the_user_can_use(idp):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    with_mail = make_user(idp, pool, f"{uid()}@example.com")
    out = start(idp, client, with_mail)
    assert out["ChallengeName"] == "SELECT_CHALLENGE" and out["Session"]
    assert out["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP"]
    unverified = make_user(idp, pool, f"{uid()}@example.com", verified=False)
    assert start(idp, client, unverified)["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP"]
    # A preferred challenge the user cannot use falls back to the choice.
    assert start(idp, client, unverified, PREFERRED_CHALLENGE="EMAIL_OTP")["ChallengeName"] == "SELECT_CHALLENGE"
    with raises_cognito("InvalidParameterException"):
        start(idp, client, with_mail, PREFERRED_CHALLENGE="FACE_ID")
    with raises_cognito("UserNotFoundException"):
        start(idp, client, "nobody-" + uid())


def test_password_directly_and_through_the_choice(idp):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    name = make_user(idp, pool)
    tokens = start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)["AuthenticationResult"]
    assert jwt_claims(tokens["AccessToken"])["username"] == name
    out = start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD")
    assert out["ChallengeName"] == "PASSWORD"
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "PASSWORD", out["Session"], USERNAME=name, PASSWORD="Wr0ng-passw0rd!")
    tokens = respond(idp, client, "PASSWORD", out["Session"], USERNAME=name, PASSWORD=PASSWORD)
    assert tokens["AuthenticationResult"]["IdToken"]
    select = start(idp, client, name)
    tokens = respond(idp, client, "SELECT_CHALLENGE", select["Session"], USERNAME=name, ANSWER="PASSWORD",
                     PASSWORD=PASSWORD)
    assert tokens["AuthenticationResult"]["RefreshToken"]
    # The session is for this user: another name is refused.
    other = make_user(idp, pool)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "SELECT_CHALLENGE", select["Session"], USERNAME=other, ANSWER="PASSWORD",
                PASSWORD=PASSWORD)


def test_password_srp_continues_into_password_verifier(idp):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    name = make_user(idp, pool)
    helper = AWSSRP(username=name, password=PASSWORD, pool_id=pool, client_id=client, client=idp)
    out = start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD_SRP", SRP_A=helper.get_auth_params()["SRP_A"])
    assert out["ChallengeName"] == "PASSWORD_VERIFIER"
    answer = helper.process_challenge(out["ChallengeParameters"], {"USERNAME": name})
    tokens = idp.respond_to_auth_challenge(ClientId=client, ChallengeName="PASSWORD_VERIFIER",
                                           ChallengeResponses=answer)["AuthenticationResult"]
    assert jwt_claims(tokens["IdToken"])["cognito:username"] == name
    # Through SELECT_CHALLENGE, then the PASSWORD_SRP challenge with SRP_A.
    helper = AWSSRP(username=name, password=PASSWORD, pool_id=pool, client_id=client, client=idp)
    select = start(idp, client, name)
    owed = respond(idp, client, "SELECT_CHALLENGE", select["Session"], USERNAME=name, ANSWER="PASSWORD_SRP")
    assert owed["ChallengeName"] == "PASSWORD_SRP"
    out = respond(idp, client, "PASSWORD_SRP", owed["Session"], USERNAME=name,
                  SRP_A=helper.get_auth_params()["SRP_A"])
    answer = helper.process_challenge(out["ChallengeParameters"], {"USERNAME": name})
    assert idp.respond_to_auth_challenge(ClientId=client, ChallengeName="PASSWORD_VERIFIER",
                                         ChallengeResponses=answer)["AuthenticationResult"]["AccessToken"]


def test_a_mailed_code_does_not_stand_in_for_the_pools_required_mfa(idp, inbox):
    """EMAIL_OTP is one factor (the mailbox): in a pool that requires MFA the sign-in goes on
    to the authenticator, as after a password."""
    pool = make_pool(idp)
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="ON",
                                 SoftwareTokenMfaConfiguration={"Enabled": True},
                                 EmailMfaConfiguration={"Subject": "Sign in", "Message": "Your code: {####}"})
    client = make_client(idp, pool)
    address = f"{uid()}@example.com"
    name = make_user(idp, pool, address)
    out = start(idp, client, name, PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "EMAIL_OTP"
    after = respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=name,
                    EMAIL_OTP_CODE=code_for(inbox, address))
    assert "AuthenticationResult" not in after
    assert after["ChallengeName"] == "MFA_SETUP", after


def test_disabled_users_get_no_mailed_code(idp, inbox):
    pool = make_pool(idp)
    address = f"{uid()}@example.com"
    name = make_user(idp, pool, address)
    idp.admin_disable_user(UserPoolId=pool, Username=name)
    with raises_cognito("NotAuthorizedException"):
        start(idp, make_client(idp, pool), name, PREFERRED_CHALLENGE="EMAIL_OTP")
    # Users hidden: the same answer as for nobody (a masked address), and still no mail.
    hidden = start(idp, make_client(idp, pool, PreventUserExistenceErrors="ENABLED"), name,
                   PREFERRED_CHALLENGE="EMAIL_OTP")
    assert hidden["ChallengeName"] == "EMAIL_OTP"
    time.sleep(1)
    assert inbox.to(address) == []


def test_email_otp_signs_in_once_without_mfa(idp, inbox):
    pool = make_pool(idp)
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True},
                                 EmailMfaConfiguration={"Subject": "Sign in", "Message": "Your code: {####}"})
    client = make_client(idp, pool)
    address = f"{uid()}@example.com"
    name = make_user(idp, pool, address)
    out = start(idp, client, name, PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "EMAIL_OTP"
    assert out["ChallengeParameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"] == "EMAIL"
    assert out["ChallengeParameters"]["CODE_DELIVERY_DESTINATION"] == f"{address[0]}***@e***"
    code = code_for(inbox, address)
    msg = inbox.wait_for(address)[0]
    assert msg["Subject"] == "Sign in" and body_text(msg).startswith("Your code: ")
    wrong = "000000" if code != "000000" else "111111"
    with raises_cognito("CodeMismatchException"):
        respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=name, EMAIL_OTP_CODE=wrong)
    tokens = respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=name, EMAIL_OTP_CODE=code)
    assert jwt_claims(tokens["AuthenticationResult"]["AccessToken"])["username"] == name
    # Single use: the same code and session again are refused.
    with raises_cognito("ExpiredCodeException"):
        respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=name, EMAIL_OTP_CODE=code)
    # A code from one sign-in does not answer another.
    first = start(idp, client, name, PREFERRED_CHALLENGE="EMAIL_OTP")
    code1 = code_for(inbox, address, 2)
    select = start(idp, client, name)
    second = respond(idp, client, "SELECT_CHALLENGE", select["Session"], USERNAME=name, ANSWER="EMAIL_OTP")
    code2 = code_for(inbox, address, 3)
    # The second code replaced the first, and is bound to the second session.
    with raises_cognito("CodeMismatchException"):
        respond(idp, client, "EMAIL_OTP", first["Session"], USERNAME=name, EMAIL_OTP_CODE=code1)
    with raises_cognito("CodeMismatchException"):
        respond(idp, client, "EMAIL_OTP", first["Session"], USERNAME=name, EMAIL_OTP_CODE=code2)
    if code1 != code2:
        with raises_cognito("CodeMismatchException"):
            respond(idp, client, "EMAIL_OTP", second["Session"], USERNAME=name, EMAIL_OTP_CODE=code1)
    assert respond(idp, client, "EMAIL_OTP", second["Session"], USERNAME=name,
                   EMAIL_OTP_CODE=code2)["AuthenticationResult"]


def test_wrong_codes_lock_the_user(idp, inbox):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    address = f"{uid()}@example.com"
    name = make_user(idp, pool, address)
    out = start(idp, client, name, PREFERRED_CHALLENGE="EMAIL_OTP")
    code = code_for(inbox, address)
    wrong = "000000" if code != "000000" else "111111"
    errors = set()
    for _ in range(8):
        try:
            respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=name, EMAIL_OTP_CODE=wrong)
        except idp.exceptions.ClientError as e:
            errors.add(e.response["Error"]["Code"])
    assert "CodeMismatchException" in errors
    assert errors & {"NotAuthorizedException", "ExpiredCodeException"}, errors
    # Locked now: even the password is refused, as after wrong passwords.
    with raises_cognito("NotAuthorizedException"):
        start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)


def test_the_pool_policy_and_the_client_flow_refuse(idp, inbox):
    pool = make_pool(idp, ["PASSWORD"])
    client = make_client(idp, pool)
    address = f"{uid()}@example.com"
    name = make_user(idp, pool, address)
    out = start(idp, client, name, PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "SELECT_CHALLENGE"
    assert out["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP"]
    with raises_cognito("InvalidParameterException"):
        respond(idp, client, "SELECT_CHALLENGE", out["Session"], USERNAME=name, ANSWER="EMAIL_OTP")
    assert inbox.to(address) == []
    with raises_cognito("WebAuthnNotEnabledException"):
        tokens = start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)
        idp.start_web_authn_registration(AccessToken=tokens["AuthenticationResult"]["AccessToken"])
    no_flow = make_client(idp, pool, ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    with raises_cognito("InvalidParameterException"):
        start(idp, no_flow, name)


def test_unknown_users_get_decoys(idp, inbox):
    pool = make_pool(idp)
    client = make_client(idp, pool, PreventUserExistenceErrors="ENABLED")
    real = make_user(idp, pool, f"{uid()}@example.com")
    ghost = f"ghost-{uid()}"
    shown = start(idp, client, real)["AvailableChallenges"]
    assert start(idp, client, ghost)["AvailableChallenges"] == shown == ALL_FACTORS[:1] + ["PASSWORD_SRP"] + ALL_FACTORS[1:]
    out = start(idp, client, ghost, PREFERRED_CHALLENGE="EMAIL_OTP")
    assert out["ChallengeName"] == "EMAIL_OTP" and out["ChallengeParameters"]["CODE_DELIVERY_DESTINATION"]
    with raises_cognito("CodeMismatchException"):
        respond(idp, client, "EMAIL_OTP", out["Session"], USERNAME=ghost, EMAIL_OTP_CODE="123456")
    web = start(idp, client, ghost, PREFERRED_CHALLENGE="WEB_AUTHN")
    options = json.loads(web["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    assert options["rpId"] == "localhost" and len(options["allowCredentials"]) == 1
    again = json.loads(start(idp, client, ghost, PREFERRED_CHALLENGE="WEB_AUTHN")["ChallengeParameters"]
                       ["CREDENTIAL_REQUEST_OPTIONS"])
    assert again["allowCredentials"] == options["allowCredentials"] and again["challenge"] != options["challenge"]
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", web["Session"], USERNAME=ghost, CREDENTIAL=json.dumps({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"}}))
    with raises_cognito("NotAuthorizedException"):
        start(idp, client, ghost, PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)


# --------------------------------------------------------------------------- passkeys

B64URL_JS = """
const b2u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const u2b = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), c => c.charCodeAt(0));
"""

CREATE_JS = B64URL_JS + """
async (o) => {
  o.challenge = u2b(o.challenge); o.user.id = u2b(o.user.id);
  (o.excludeCredentials || []).forEach(c => c.id = u2b(c.id));
  const c = await navigator.credentials.create({publicKey: o});
  return {id: c.id, rawId: b2u(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment,
          clientExtensionResults: c.getClientExtensionResults(),
          response: {clientDataJSON: b2u(c.response.clientDataJSON), attestationObject: b2u(c.response.attestationObject),
                     transports: c.response.getTransports()}};
}"""

GET_JS = B64URL_JS + """
async (o) => {
  o.challenge = u2b(o.challenge);
  (o.allowCredentials || []).forEach(c => c.id = u2b(c.id));
  const c = await navigator.credentials.get({publicKey: o});
  return {id: c.id, rawId: b2u(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment,
          clientExtensionResults: c.getClientExtensionResults(),
          response: {clientDataJSON: b2u(c.response.clientDataJSON), authenticatorData: b2u(c.response.authenticatorData),
                     signature: b2u(c.response.signature), userHandle: c.response.userHandle ? b2u(c.response.userHandle) : null}};
}"""


class Browser:
    """A page at Cognate's own origin with a virtual platform authenticator."""

    def __init__(self, chromium, server, host: str = "localhost"):
        self.context = chromium.new_context()
        self.page = self.context.new_page()
        port = server.url.rsplit(":", 1)[1]
        self.origin = f"http://{host}:{port}"
        self.page.goto(f"{self.origin}/healthz")
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})["authenticatorId"]

    def create(self, options: dict) -> dict:
        return self.page.evaluate(CREATE_JS, options)

    def get(self, options: dict) -> dict:
        return self.page.evaluate(GET_JS, options)

    def private_key(self):
        creds = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})["credentials"]
        der = base64.b64decode(creds[-1]["privateKey"])
        return serialization.load_der_private_key(der, None), creds[-1]

    def close(self):
        self.context.close()


@pytest.fixture
def browser(chromium, env):
    made = []

    def make(host: str = "localhost") -> Browser:
        b = Browser(chromium, env[0], host)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def sign_in_password(idp, client: str, name: str) -> str:
    out = start(idp, client, name, PREFERRED_CHALLENGE="PASSWORD", PASSWORD=PASSWORD)
    return out["AuthenticationResult"]["AccessToken"]


def register(idp, b: Browser, access: str) -> dict:
    options = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    credential = b.create(options)
    idp.complete_web_authn_registration(AccessToken=access, Credential=credential)
    return credential


def passkey_challenge(idp, client: str, name: str) -> tuple[str, dict]:
    out = start(idp, client, name, PREFERRED_CHALLENGE="WEB_AUTHN")
    assert out["ChallengeName"] == "WEB_AUTHN", out
    return out["Session"], json.loads(out["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])


def test_passkey_registration_and_sign_in_in_chromium(idp, browser):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    name = make_user(idp, pool)
    access = sign_in_password(idp, client, name)
    b = browser()
    options = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    assert options["rp"]["id"] == "localhost" and options["challenge"]
    credential = b.create(options)
    idp.complete_web_authn_registration(AccessToken=access, Credential=credential)
    # The registration was single use.
    with raises_cognito("WebAuthnChallengeNotFoundException"):
        idp.complete_web_authn_registration(AccessToken=access, Credential=credential)
    listed = idp.list_web_authn_credentials(AccessToken=access)["Credentials"]
    assert [c["CredentialId"] for c in listed] == [credential["id"]]
    assert listed[0]["RelyingPartyId"] == "localhost" and listed[0]["FriendlyCredentialName"]
    assert "internal" in listed[0]["AuthenticatorTransports"]
    assert start(idp, client, name)["AvailableChallenges"][-1] == "WEB_AUTHN"

    session, request = passkey_challenge(idp, client, name)
    assert request["rpId"] == "localhost"
    assert [c["id"] for c in request["allowCredentials"]] == [credential["id"]]
    assertion = b.get(request)
    tokens = respond(idp, client, "WEB_AUTHN", session, USERNAME=name, CREDENTIAL=json.dumps(assertion))
    assert jwt_claims(tokens["AuthenticationResult"]["AccessToken"])["username"] == name

    # Replayed: the same assertion with its session, and with a new session.
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", session, USERNAME=name, CREDENTIAL=json.dumps(assertion))
    other_session, _ = passkey_challenge(idp, client, name)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", other_session, USERNAME=name, CREDENTIAL=json.dumps(assertion))

    # Deleted, the passkey no longer signs in.
    session, request = passkey_challenge(idp, client, name)
    fresh = b.get(request)
    idp.delete_web_authn_credential(AccessToken=access, CredentialId=credential["id"])
    assert idp.list_web_authn_credentials(AccessToken=access)["Credentials"] == []
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", session, USERNAME=name, CREDENTIAL=json.dumps(fresh))
    with raises_cognito("ResourceNotFoundException"):
        idp.delete_web_authn_credential(AccessToken=access, CredentialId=credential["id"])


def test_assertions_bound_to_user_session_and_pool(idp, browser):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    ann, bob = make_user(idp, pool), make_user(idp, pool)
    b_ann, b_bob = browser(), browser()
    register(idp, b_ann, sign_in_password(idp, client, ann))
    register(idp, b_bob, sign_in_password(idp, client, bob))

    # Bob's assertion (for his own challenge) does not answer Ann's challenge.
    ann_session, ann_request = passkey_challenge(idp, client, ann)
    _, bob_request = passkey_challenge(idp, client, bob)
    bob_assertion = b_bob.get(bob_request)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", ann_session, USERNAME=ann, CREDENTIAL=json.dumps(bob_assertion))
    # An assertion made for one session does not answer another session of the same user.
    s1, r1 = passkey_challenge(idp, client, ann)
    s2, _ = passkey_challenge(idp, client, ann)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", s2, USERNAME=ann, CREDENTIAL=json.dumps(b_ann.get(r1)))

    # A passkey of another pool (same relying party) is not Ann's here.
    pool2 = make_pool(idp)
    client2 = make_client(idp, pool2)
    carol = make_user(idp, pool2)
    b_carol = browser()
    register(idp, b_carol, sign_in_password(idp, client2, carol))
    session, request = passkey_challenge(idp, client, ann)
    _, carol_request = passkey_challenge(idp, client2, carol)
    request["allowCredentials"] = carol_request["allowCredentials"]
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", session, USERNAME=ann, CREDENTIAL=json.dumps(b_carol.get(request)))
    # Ann's own passkey still works after all that.
    session, request = passkey_challenge(idp, client, ann)
    assert respond(idp, client, "WEB_AUTHN", session, USERNAME=ann,
                   CREDENTIAL=json.dumps(b_ann.get(request)))["AuthenticationResult"]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_assertion(key, cred: dict, request: dict, origin: str, counter: int) -> dict:
    """An assertion signed with the authenticator's own key, for a page at `origin`."""
    client_data = json.dumps({"type": "webauthn.get", "challenge": request["challenge"], "origin": origin,
                              "crossOrigin": False}).encode()
    rp_hash = hashlib.sha256(b"localhost").digest()
    auth_data = rp_hash + bytes([0x05]) + counter.to_bytes(4, "big")
    signature = key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
    cred_id = b64u(base64.b64decode(cred["credentialId"]))
    return {"id": cred_id, "rawId": cred_id, "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(client_data), "authenticatorData": b64u(auth_data),
                         "signature": b64u(signature), "userHandle": None}}


def test_origins_and_counters(idp, browser):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    name = make_user(idp, pool)
    access = sign_in_password(idp, client, name)
    b = browser()
    register(idp, b, access)
    # A page at 127.0.0.1 cannot even ask the browser for a localhost passkey.
    elsewhere = browser("127.0.0.1")
    _, request = passkey_challenge(idp, client, name)
    with pytest.raises(playwright_api.Error, match="SecurityError|not a valid domain|relying party"):
        elsewhere.get(request)
    # Nor can a registration made there be completed.
    options = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    with pytest.raises(playwright_api.Error):
        elsewhere.create(options)

    # Signed with the real key but made on another origin: refused by Cognate itself.
    key, cred = b.private_key()
    counter = cred["signCount"] + 10
    session, request = passkey_challenge(idp, client, name)
    wrong = forged_assertion(key, cred, request, elsewhere.origin, counter)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", session, USERNAME=name, CREDENTIAL=json.dumps(wrong))
    # The same, from the right origin, passes (the forging is sound) ...
    session, request = passkey_challenge(idp, client, name)
    right = forged_assertion(key, cred, request, b.origin, counter)
    assert respond(idp, client, "WEB_AUTHN", session, USERNAME=name,
                   CREDENTIAL=json.dumps(right))["AuthenticationResult"]
    # ... and a counter that does not move forward (a cloned authenticator) is refused.
    session, request = passkey_challenge(idp, client, name)
    cloned = forged_assertion(key, cred, request, b.origin, counter)
    with raises_cognito("NotAuthorizedException"):
        respond(idp, client, "WEB_AUTHN", session, USERNAME=name, CREDENTIAL=json.dumps(cloned))


def test_registration_checks_and_listing(idp, browser):
    pool = make_pool(idp)
    client = make_client(idp, pool)
    name = make_user(idp, pool)
    access = sign_in_password(idp, client, name)
    b = browser()
    with raises_cognito("WebAuthnChallengeNotFoundException"):
        idp.complete_web_authn_registration(AccessToken=access, Credential={"id": "x"})
    # A registration begun by one app client is completed by that client only.
    other_client = make_client(idp, pool)
    options = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    credential = b.create(options)
    other_access = sign_in_password(idp, other_client, name)
    with raises_cognito("WebAuthnClientMismatchException"):
        idp.complete_web_authn_registration(AccessToken=other_access, Credential=credential)
    for _ in range(3):  # one authenticator holds one passkey of a user: three browsers
        register(idp, browser(), access)
    page1 = idp.list_web_authn_credentials(AccessToken=access, MaxResults=2)
    assert len(page1["Credentials"]) == 2 and page1["NextToken"]
    page2 = idp.list_web_authn_credentials(AccessToken=access, MaxResults=2, NextToken=page1["NextToken"])
    assert len(page2["Credentials"]) == 1 and "NextToken" not in page2
    # Deleting the user deletes the passkeys with it.
    idp.admin_delete_user(UserPoolId=pool, Username=name)
    with raises_cognito("NotAuthorizedException"):
        idp.list_web_authn_credentials(AccessToken=access)
