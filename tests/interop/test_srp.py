"""SRP sign-in (USER_SRP_AUTH + PASSWORD_VERIFIER) with clients nobody here wrote: pycognito's
AWSSRP over boto3, and amazon-cognito-identity-js (the SRP client inside Amplify) in Node.
Also the refusals: wrong passwords counted toward the lock, replayed and tampered answers,
stale timestamps, decoys for unknown users, users whose password predates SRP."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path

import pytest
from pycognito.aws_srp import AWSSRP

from cognate_harness import jwt_claims, raises_cognito, uid
from conftest import PASSWORD, TEMP_PASSWORD

JS = Path(__file__).parent / "js"
SRP_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
NEW_PASSWORD = "N3w-Passw0rd!!"


def srp(cognito, app, username: str, password: str = PASSWORD) -> AWSSRP:
    return AWSSRP(username=username, password=password, pool_id=app.pool_id,
                  client_id=app.client_id, client=cognito, client_secret=app.client_secret)


def challenge(cognito, app, username: str, helper: AWSSRP, **kw) -> dict:
    """InitiateAuth USER_SRP_AUTH with `helper`'s A; returns the response."""
    return cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_SRP_AUTH",
                                 AuthParameters=helper.get_auth_params(), **kw)


def answer(cognito, app, responses: dict) -> dict:
    return cognito.respond_to_auth_challenge(ClientId=app.client_id, ChallengeName="PASSWORD_VERIFIER",
                                             ChallengeResponses=responses)


@pytest.fixture
def srp_app(make_app):
    return make_app(flows=SRP_FLOWS)


def test_pycognito_signs_in_with_srp(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    result = srp(cognito, srp_app, username).authenticate_user()["AuthenticationResult"]
    assert jwt_claims(result["AccessToken"])["username"] == username
    assert cognito.get_user(AccessToken=result["AccessToken"])["Username"] == username
    # The refresh token of an SRP sign-in refreshes like any other.
    refreshed = cognito.initiate_auth(ClientId=srp_app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})
    assert "AccessToken" in refreshed["AuthenticationResult"]


def test_the_challenge_is_cognitos(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    resp = challenge(cognito, srp_app, username, srp(cognito, srp_app, username))
    assert resp["ChallengeName"] == "PASSWORD_VERIFIER"
    params = resp["ChallengeParameters"]
    assert set(params) == {"SALT", "SECRET_BLOCK", "SRP_B", "USERNAME", "USER_ID_FOR_SRP"}, params
    assert params["USERNAME"] == params["USER_ID_FOR_SRP"] == username
    assert int(params["SALT"], 16) > 0 and int(params["SRP_B"], 16) > 0
    assert params["SALT"] == params["SALT"].lower() and not params["SRP_B"].startswith("0")
    base64.b64decode(params["SECRET_BLOCK"], validate=True)


def test_secret_clients_and_email_sign_in(cognito, make_app, make_confirmed_user):
    # A client with a secret: SECRET_HASH on both steps.
    app = make_app(flows=SRP_FLOWS, secret=True)
    username = make_confirmed_user(app.pool_id)
    assert "AccessToken" in srp(cognito, app, username).authenticate_user()["AuthenticationResult"]
    helper = srp(cognito, app, username)
    params = helper.get_auth_params()
    del params["SECRET_HASH"]
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params)

    # A pool that signs in by email: the user is named by email, the proof uses the
    # internal username the challenge gives as USER_ID_FOR_SRP.
    app = make_app(pool={"UsernameAttributes": ["email"]}, flows=SRP_FLOWS)
    email = f"{uid()}@example.com"
    cognito.admin_create_user(UserPoolId=app.pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email_verified", "Value": "true"}])
    cognito.admin_set_user_password(UserPoolId=app.pool_id, Username=email, Password=PASSWORD,
                                    Permanent=True)
    resp = challenge(cognito, app, email, srp(cognito, app, email))
    internal = resp["ChallengeParameters"]["USER_ID_FOR_SRP"]
    assert internal != email
    result = srp(cognito, app, email).authenticate_user()["AuthenticationResult"]
    assert jwt_claims(result["IdToken"])["email"] == email


def test_amazon_cognito_identity_js_signs_in(server, cognito, srp_app, make_confirmed_user, make_user):
    username = make_confirmed_user(srp_app.pool_id)
    out = run_js(server, srp_app, username, PASSWORD)
    assert "error" not in out, out
    assert jwt_claims(out["accessToken"])["username"] == username
    assert cognito.get_user(AccessToken=out["accessToken"])["Username"] == username

    wrong = run_js(server, srp_app, username, "Wr0ng-Password!")
    assert wrong["error"] == "NotAuthorizedException", wrong
    assert wrong["message"] == "Incorrect username or password."

    # A temporary password: the JS client's newPasswordRequired callback, then tokens.
    temp_user = make_user(srp_app.pool_id)["Username"]
    done = run_js(server, srp_app, temp_user, TEMP_PASSWORD, NEW_PASSWORD)
    assert "accessToken" in done, done
    assert "accessToken" in run_js(server, srp_app, temp_user, NEW_PASSWORD)

    # With MFA on: the totpRequired callback, then sendMFACode completes the sign-in.
    from test_mfa import enrol_with_token

    cognito.set_user_pool_mfa_config(UserPoolId=srp_app.pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    auth = enrol_with_token(cognito, out["accessToken"])
    assert run_js(server, srp_app, username, PASSWORD) == {"challenge": "SOFTWARE_TOKEN_MFA"}
    done = run_js(server, srp_app, username, PASSWORD, totp=auth.fresh())
    assert jwt_claims(done["accessToken"])["username"] == username


def run_js(server, app, username: str, password: str, new_password: str = "", totp: str = "") -> dict:
    args = ["node", str(JS / "srp_sign_in.cjs"), server.url + "/", app.pool_id, app.client_id, username,
            password, new_password, totp]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_wrong_passwords_count_toward_the_lock(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    for _ in range(5):
        with raises_cognito("NotAuthorizedException") as info:
            srp(cognito, srp_app, username, "Wr0ng-Password!").authenticate_user()
        assert info.value.response["Error"]["Message"] == "Incorrect username or password."
    # Locked now, for SRP and for the password flow alike.
    with raises_cognito("NotAuthorizedException") as info:
        srp(cognito, srp_app, username).authenticate_user()
    assert info.value.response["Error"]["Message"] == "Password attempts exceeded"
    with raises_cognito("NotAuthorizedException") as info:
        cognito.initiate_auth(ClientId=srp_app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert info.value.response["Error"]["Message"] == "Password attempts exceeded"


def test_an_answer_is_accepted_once(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    helper = srp(cognito, srp_app, username)
    resp = challenge(cognito, srp_app, username, helper)
    responses = helper.process_challenge(resp["ChallengeParameters"], helper.get_auth_params())
    assert "AuthenticationResult" in answer(cognito, srp_app, responses)
    with raises_cognito("NotAuthorizedException"):
        answer(cognito, srp_app, responses)


def test_tampered_and_stale_answers_are_refused(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    helper = srp(cognito, srp_app, username)
    params = challenge(cognito, srp_app, username, helper)["ChallengeParameters"]
    good = helper.process_challenge(params, helper.get_auth_params())

    block = bytearray(base64.b64decode(good["PASSWORD_CLAIM_SECRET_BLOCK"]))
    block[len(block) // 2] ^= 1
    for bad in (
        {"PASSWORD_CLAIM_SECRET_BLOCK": base64.b64encode(bytes(block)).decode()},
        {"PASSWORD_CLAIM_SECRET_BLOCK": "not base64 at all!"},
        {"PASSWORD_CLAIM_SECRET_BLOCK": ""},
    ):
        with raises_cognito("NotAuthorizedException"):
            answer(cognito, srp_app, {**good, **bad})

    signature = bytearray(base64.b64decode(good["PASSWORD_CLAIM_SIGNATURE"]))
    signature[0] ^= 1
    with raises_cognito("NotAuthorizedException") as info:
        answer(cognito, srp_app, {**good, "PASSWORD_CLAIM_SIGNATURE": base64.b64encode(bytes(signature)).decode()})
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."

    # A timestamp an hour old (signed correctly for it) is refused, as is a malformed one.
    old = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
    stale = sign_at(helper, params, old)
    with raises_cognito("InvalidParameterException"):
        answer(cognito, srp_app, stale)
    with raises_cognito("InvalidParameterException"):
        answer(cognito, srp_app, {**good, "TIMESTAMP": "yesterday"})

    # Another user's name with this answer: refused.
    other = make_confirmed_user(srp_app.pool_id)
    with raises_cognito("NotAuthorizedException"):
        answer(cognito, srp_app, {**good, "USERNAME": other})

    # Missing answers are named.
    for name in ("PASSWORD_CLAIM_SIGNATURE", "PASSWORD_CLAIM_SECRET_BLOCK", "TIMESTAMP", "USERNAME"):
        partial = {k: v for k, v in good.items() if k != name}
        with raises_cognito("InvalidParameterException") as info:
            answer(cognito, srp_app, partial)
        assert name in info.value.response["Error"]["Message"]

    # The untouched answer still works after all that (none of it spent the block).
    assert "AuthenticationResult" in answer(cognito, srp_app, good)


def sign_at(helper: AWSSRP, params: dict, at: datetime.datetime) -> dict:
    """AWSSRP.process_challenge with the clock at `at`."""
    original = AWSSRP.get_cognito_formatted_timestamp
    try:
        AWSSRP.get_cognito_formatted_timestamp = staticmethod(lambda _now: original(at))
        return helper.process_challenge(params, helper.get_auth_params())
    finally:
        AWSSRP.get_cognito_formatted_timestamp = staticmethod(original)


def test_bad_client_values_and_flows(cognito, cognito_nv, srp_app, make_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    for a in ("0", "zz", "", "f" * 2000):
        with raises_cognito("InvalidParameterException"):
            cognito_nv.initiate_auth(ClientId=srp_app.client_id, AuthFlow="USER_SRP_AUTH",
                                     AuthParameters={"USERNAME": username, "SRP_A": a})
    # N itself (A mod N = 0) is refused.
    from pycognito.aws_srp import N_HEX
    with raises_cognito("InvalidParameterException"):
        cognito.initiate_auth(ClientId=srp_app.client_id, AuthFlow="USER_SRP_AUTH",
                              AuthParameters={"USERNAME": username, "SRP_A": N_HEX})
    with raises_cognito("InvalidParameterException") as info:
        cognito.initiate_auth(ClientId=srp_app.client_id, AuthFlow="USER_SRP_AUTH",
                              AuthParameters={"USERNAME": username})
    assert "SRP_A" in info.value.response["Error"]["Message"]

    no_srp = make_app(flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    other = make_confirmed_user(no_srp.pool_id)
    with raises_cognito("InvalidParameterException"):
        srp(cognito, no_srp, other).authenticate_user()
    # A client created with no flows gets Cognito's defaults, SRP among them.
    default = make_app(flows=None)
    third = make_confirmed_user(default.pool_id)
    assert "AuthenticationResult" in srp(cognito, default, third).authenticate_user()


def test_unknown_users(cognito, make_app):
    # Hidden (the default for new clients): a decoy challenge with a stable salt, then the
    # same refusal a wrong password gets.
    app = make_app(flows=SRP_FLOWS, PreventUserExistenceErrors="ENABLED")
    name = f"ghost-{uid()}"
    first = challenge(cognito, app, name, srp(cognito, app, name))["ChallengeParameters"]
    second = challenge(cognito, app, name, srp(cognito, app, name))["ChallengeParameters"]
    assert first["SALT"] == second["SALT"] and first["SRP_B"] != second["SRP_B"]
    with raises_cognito("NotAuthorizedException") as info:
        srp(cognito, app, name).authenticate_user()
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."

    # The decoy's answer goes through the same checks as a real user's: a stale timestamp
    # is InvalidParameterException for both, a name other than the challenged one an
    # invalid session for both.
    helper = srp(cognito, app, name)
    params = challenge(cognito, app, name, helper)["ChallengeParameters"]
    stale = sign_at(helper, params, datetime.datetime.utcnow() - datetime.timedelta(hours=1))
    with raises_cognito("InvalidParameterException"):
        answer(cognito, app, stale)
    with raises_cognito("NotAuthorizedException") as info:
        answer(cognito, app, {**helper.process_challenge(params, helper.get_auth_params()),
                              "USERNAME": f"other-{uid()}"})
    assert info.value.response["Error"]["Message"] == "Invalid session for the user."

    # Where users sign in by email, a real user's USER_ID_FOR_SRP is an internal UUID; a
    # name nobody has gets one too (the same every time), not the email back.
    by_email = make_app(pool={"UsernameAttributes": ["email"]}, flows=SRP_FLOWS,
                        PreventUserExistenceErrors="ENABLED")
    ghost = f"{uid()}@example.com"
    ids = {challenge(cognito, by_email, ghost, srp(cognito, by_email, ghost))["ChallengeParameters"]
           ["USER_ID_FOR_SRP"] for _ in range(2)}
    assert len(ids) == 1 and ghost not in ids and len(ids.pop()) == 36, ids

    shown = make_app(flows=SRP_FLOWS, PreventUserExistenceErrors="LEGACY")
    with raises_cognito("UserNotFoundException"):
        srp(cognito, shown, name).authenticate_user()


def test_temporary_password_then_new_password(cognito, srp_app, make_user):
    username = make_user(srp_app.pool_id)["Username"]
    helper = srp(cognito, srp_app, username, TEMP_PASSWORD)
    params = challenge(cognito, srp_app, username, helper)["ChallengeParameters"]
    resp = answer(cognito, srp_app, helper.process_challenge(params, helper.get_auth_params()))
    assert resp["ChallengeName"] == "NEW_PASSWORD_REQUIRED", resp
    done = cognito.respond_to_auth_challenge(
        ClientId=srp_app.client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": NEW_PASSWORD})
    assert "AuthenticationResult" in done
    # The new password's verifier was written with it.
    assert "AuthenticationResult" in srp(cognito, srp_app, username, NEW_PASSWORD).authenticate_user()
    with raises_cognito("NotAuthorizedException"):
        srp(cognito, srp_app, username, TEMP_PASSWORD).authenticate_user()


def test_a_changed_password_changes_the_verifier(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    tokens = srp(cognito, srp_app, username).authenticate_user()["AuthenticationResult"]
    cognito.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD,
                            ProposedPassword=NEW_PASSWORD)
    assert "AuthenticationResult" in srp(cognito, srp_app, username, NEW_PASSWORD).authenticate_user()
    with raises_cognito("NotAuthorizedException"):
        srp(cognito, srp_app, username).authenticate_user()
    # A challenge begun before a password change cannot be answered with the old password.
    helper = srp(cognito, srp_app, username, NEW_PASSWORD)
    params = challenge(cognito, srp_app, username, helper)["ChallengeParameters"]
    cognito.admin_set_user_password(UserPoolId=srp_app.pool_id, Username=username, Password=PASSWORD,
                                    Permanent=True)
    with raises_cognito("NotAuthorizedException"):
        answer(cognito, srp_app, helper.process_challenge(params, helper.get_auth_params()))
    assert "AuthenticationResult" in srp(cognito, srp_app, username).authenticate_user()


def test_a_user_from_before_srp_gets_a_verifier_at_the_next_password_sign_in(
        server, cognito, make_app, make_client, make_confirmed_user, sign_in):
    srp_app = make_app(flows=SRP_FLOWS, PreventUserExistenceErrors="LEGACY")
    hiding = make_client(srp_app.pool_id, flows=SRP_FLOWS, PreventUserExistenceErrors="ENABLED")
    username = make_confirmed_user(srp_app.pool_id)
    server.raw_rows("UPDATE users SET srp_verifier = NULL WHERE pool_id = ? AND username = ?",
                    (srp_app.pool_id, username))
    # Said plainly where the client shows which users exist; a decoy where it hides them.
    with raises_cognito("NotAuthorizedException") as info:
        srp(cognito, srp_app, username).authenticate_user()
    assert "USER_PASSWORD_AUTH" in info.value.response["Error"]["Message"]
    with raises_cognito("NotAuthorizedException") as info:
        srp(cognito, hiding, username).authenticate_user()
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."
    sign_in(srp_app, username)
    (sealed,) = server.raw_rows("SELECT srp_verifier FROM users WHERE pool_id = ? AND username = ?",
                                (srp_app.pool_id, username))[0]
    assert sealed and "salt" not in sealed  # sealed, not the verifier in the clear
    assert "AuthenticationResult" in srp(cognito, srp_app, username).authenticate_user()


def test_mfa_follows_an_srp_sign_in(cognito, srp_app, make_confirmed_user):
    from test_mfa import Authenticator, enrol_with_token

    cognito.set_user_pool_mfa_config(UserPoolId=srp_app.pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    username = make_confirmed_user(srp_app.pool_id)
    tokens = srp(cognito, srp_app, username).authenticate_user()["AuthenticationResult"]
    auth: Authenticator = enrol_with_token(cognito, tokens["AccessToken"])
    helper = srp(cognito, srp_app, username)
    params = challenge(cognito, srp_app, username, helper)["ChallengeParameters"]
    resp = answer(cognito, srp_app, helper.process_challenge(params, helper.get_auth_params()))
    assert resp["ChallengeName"] == "SOFTWARE_TOKEN_MFA", resp
    done = cognito.respond_to_auth_challenge(
        ClientId=srp_app.client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": auth.fresh()})
    assert "AuthenticationResult" in done


def test_admin_initiate_auth_speaks_srp_too(cognito, srp_app, make_confirmed_user):
    username = make_confirmed_user(srp_app.pool_id)
    helper = srp(cognito, srp_app, username)
    resp = cognito.admin_initiate_auth(UserPoolId=srp_app.pool_id, ClientId=srp_app.client_id,
                                       AuthFlow="USER_SRP_AUTH", AuthParameters=helper.get_auth_params())
    responses = helper.process_challenge(resp["ChallengeParameters"], helper.get_auth_params())
    done = cognito.admin_respond_to_auth_challenge(UserPoolId=srp_app.pool_id, ClientId=srp_app.client_id,
                                                   ChallengeName="PASSWORD_VERIFIER",
                                                   ChallengeResponses=responses)
    assert "AuthenticationResult" in done


def pycognito_user(server, app, username: str):
    """pycognito's high-level Cognito object for `username`, pointed at this server; it checks
    every token it receives against the pool's JWKS, issuer and audience."""
    from pycognito import Cognito

    from cognate_harness import REGION

    creds = server.credentials()
    return Cognito(app.pool_id, app.client_id, username=username, client_secret=app.client_secret,
                   user_pool_region=REGION, access_key=creds["key"], secret_key=creds["secret"],
                   boto3_client_kwargs={"endpoint_url": server.url})


def test_pycognito_authenticate_new_password_and_mfa(server, cognito, make_app, make_user,
                                                     make_confirmed_user):
    from pycognito.exceptions import SoftwareTokenMFAChallengeException
    from test_mfa import enrol_with_token

    app = make_app(flows=SRP_FLOWS, secret=True)
    username = make_confirmed_user(app.pool_id)
    user = pycognito_user(server, app, username)
    user.authenticate(password=PASSWORD)
    assert jwt_claims(user.access_token)["username"] == username
    assert user.get_user().username == username

    temp = make_user(app.pool_id)["Username"]
    fresh = pycognito_user(server, app, temp)
    fresh.new_password_challenge(TEMP_PASSWORD, NEW_PASSWORD)
    assert jwt_claims(fresh.id_token)["cognito:username"] == temp
    pycognito_user(server, app, temp).authenticate(password=NEW_PASSWORD)

    # With MFA on: authenticate() stops at SOFTWARE_TOKEN_MFA, the code completes it.
    cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    auth = enrol_with_token(cognito, user.access_token)
    mfa_user = pycognito_user(server, app, username)
    with pytest.raises(SoftwareTokenMFAChallengeException):
        mfa_user.authenticate(password=PASSWORD)
    mfa_user.respond_to_software_token_mfa_challenge(auth.fresh())
    assert jwt_claims(mfa_user.access_token)["username"] == username
