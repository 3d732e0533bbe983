"""Remembered devices: NewDeviceMetadata at sign-in in pools that track devices,
ConfirmDevice with a device verifier computed by pycognito's client code, DEVICE_SRP_AUTH
and DEVICE_PASSWORD_VERIFIER answered as Cognito's clients answer them, a remembered device
skipping MFA, the device operations and their Admin forms, and amazon-cognito-identity-js
remembering a device across sign-ins."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pycognito.aws_srp import AWSSRP, generate_hash_device

from cognate_harness import attrs, jwt_claims, raises_cognito, uid
from conftest import PASSWORD
from test_mfa import enrol_with_token

JS = Path(__file__).parent / "js"
FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
ON_PROMPT = {"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": True}
ALWAYS = {"ChallengeRequiredOnNewDevice": False, "DeviceOnlyRememberedOnUserPrompt": False}


@pytest.fixture
def tracked(make_app):
    def make(config=ON_PROMPT, **client_kw):
        return make_app(pool={"DeviceConfiguration": config}, flows=FLOWS, **client_kw)
    return make


class Device:
    """What a client keeps for a remembered device."""

    def __init__(self, key: str, group_key: str, password: str):
        self.key, self.group_key, self.password = key, group_key, password


def srp_sign_in(cognito, app, username, device: Device | None = None, password=PASSWORD) -> dict:
    """USER_SRP_AUTH + PASSWORD_VERIFIER (with the device key when given); returns the
    answer to PASSWORD_VERIFIER (tokens or the next challenge) and the helper."""
    helper = AWSSRP(username=username, password=password, pool_id=app.pool_id, client_id=app.client_id,
                    client=cognito, client_secret=app.client_secret,
                    **({"device_key": device.key, "device_group_key": device.group_key,
                        "device_password": device.password} if device else {}))
    params = helper.get_auth_params()
    first = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    answer = helper.process_challenge(first["ChallengeParameters"], params)
    resp = cognito.respond_to_auth_challenge(ClientId=app.client_id, ChallengeName="PASSWORD_VERIFIER",
                                             ChallengeResponses=answer)
    return resp, helper


def prove_device(cognito, app, username, resp, helper, device: Device) -> dict:
    """Answers DEVICE_SRP_AUTH and DEVICE_PASSWORD_VERIFIER as amazon-cognito-identity-js does
    (the Session passed along), with pycognito's device proof."""
    assert resp["ChallengeName"] == "DEVICE_SRP_AUTH", resp
    assert resp["ChallengeParameters"]["USERNAME"]
    srp_a = helper.get_auth_params()["SRP_A"]
    second = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="DEVICE_SRP_AUTH", Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "DEVICE_KEY": device.key, "SRP_A": srp_a})
    assert second["ChallengeName"] == "DEVICE_PASSWORD_VERIFIER", second
    params = second["ChallengeParameters"]
    assert params["DEVICE_KEY"] == device.key
    answer = helper.process_device_challenge(params)
    return cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="DEVICE_PASSWORD_VERIFIER", Session=second["Session"],
        ChallengeResponses=answer)


def confirm(cognito, tokens: dict, name="laptop") -> tuple[Device, dict]:
    meta = tokens["NewDeviceMetadata"]
    password, config = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    resp = cognito.confirm_device(AccessToken=tokens["AccessToken"], DeviceKey=meta["DeviceKey"],
                                  DeviceSecretVerifierConfig=config, DeviceName=name)
    return Device(meta["DeviceKey"], meta["DeviceGroupKey"], password), resp


def test_a_tracked_pool_hands_out_devices_that_are_confirmed_and_proven(cognito, tracked, make_confirmed_user):
    app = tracked()
    assert cognito.describe_user_pool(UserPoolId=app.pool_id)["UserPool"]["DeviceConfiguration"] == ON_PROMPT
    username = make_confirmed_user(app.pool_id)
    resp, _ = srp_sign_in(cognito, app, username)
    tokens = resp["AuthenticationResult"]
    meta = tokens["NewDeviceMetadata"]
    assert meta["DeviceKey"].startswith(app.pool_id.split("_")[0] + "_") and meta["DeviceGroupKey"]

    device, confirmed = confirm(cognito, tokens)
    assert confirmed["UserConfirmationNecessary"] is True  # remembered only on the user's word
    listed = cognito.list_devices(AccessToken=tokens["AccessToken"])["Devices"]
    assert [d["DeviceKey"] for d in listed] == [device.key]
    assert attrs(listed[0]["DeviceAttributes"])["dev:device_remembered_status"] == "not_remembered"
    assert attrs(listed[0]["DeviceAttributes"])["device_name"] == "laptop"
    cognito.update_device_status(AccessToken=tokens["AccessToken"], DeviceKey=device.key,
                                 DeviceRememberedStatus="remembered")
    got = cognito.get_device(AccessToken=tokens["AccessToken"], DeviceKey=device.key)["Device"]
    assert attrs(got["DeviceAttributes"])["dev:device_remembered_status"] == "remembered"
    assert attrs(got["DeviceAttributes"])["device_status"] == "valid"

    # The next sign-in names the device and proves it; no new device is handed out.
    resp, helper = srp_sign_in(cognito, app, username, device)
    done = prove_device(cognito, app, username, resp, helper, device)
    assert "NewDeviceMetadata" not in done["AuthenticationResult"]
    assert jwt_claims(done["AuthenticationResult"]["AccessToken"])["username"] == username

    # So does a USER_PASSWORD_AUTH sign-in that names it.
    resp = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD,
                                                 "DEVICE_KEY": device.key})
    done = prove_device(cognito, app, username, resp, AWSSRP(
        username=username, password=PASSWORD, pool_id=app.pool_id, client_id=app.client_id,
        client=cognito, device_key=device.key, device_group_key=device.group_key,
        device_password=device.password), device)
    assert "AccessToken" in done["AuthenticationResult"]


def test_a_remembered_device_skips_mfa_and_a_forgotten_one_does_not(cognito, tracked, make_confirmed_user):
    app = tracked(ALWAYS)
    username = make_confirmed_user(app.pool_id)
    tokens = srp_sign_in(cognito, app, username)[0]["AuthenticationResult"]
    device, confirmed = confirm(cognito, tokens)
    assert confirmed["UserConfirmationNecessary"] is False  # remembered at once
    cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    auth = enrol_with_token(cognito, tokens["AccessToken"])

    # Remembered: the device proof replaces the MFA code.
    resp, helper = srp_sign_in(cognito, app, username, device)
    done = prove_device(cognito, app, username, resp, helper, device)
    assert "AccessToken" in done["AuthenticationResult"], done

    # Not remembered: the device is proven, then MFA is asked; no new device after it.
    cognito.admin_update_device_status(UserPoolId=app.pool_id, Username=username, DeviceKey=device.key,
                                       DeviceRememberedStatus="not_remembered")
    resp, helper = srp_sign_in(cognito, app, username, device)
    mfa = prove_device(cognito, app, username, resp, helper, device)
    assert mfa["ChallengeName"] == "SOFTWARE_TOKEN_MFA", mfa
    done = cognito.respond_to_auth_challenge(
        ClientId=app.client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=mfa["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": auth.fresh()})
    assert "NewDeviceMetadata" not in done["AuthenticationResult"]

    # Forgotten: naming it is ResourceNotFoundException (clients then sign in without it).
    cognito.admin_forget_device(UserPoolId=app.pool_id, Username=username, DeviceKey=device.key)
    with raises_cognito("ResourceNotFoundException") as info:
        srp_sign_in(cognito, app, username, device)
    assert info.value.response["Error"]["Message"] == "Device does not exist."
    assert cognito.admin_list_devices(UserPoolId=app.pool_id, Username=username)["Devices"] == []


def test_a_wrong_device_password_is_refused_and_counted(cognito, tracked, make_confirmed_user):
    app = tracked(ALWAYS)
    username = make_confirmed_user(app.pool_id)
    tokens = srp_sign_in(cognito, app, username)[0]["AuthenticationResult"]
    device, _ = confirm(cognito, tokens)
    impostor = Device(device.key, device.group_key, "not-the-device-password")
    resp, helper = srp_sign_in(cognito, app, username, impostor)
    with raises_cognito("NotAuthorizedException") as info:
        prove_device(cognito, app, username, resp, helper, impostor)
    assert info.value.response["Error"]["Message"] == "Incorrect username or password."
    # DEVICE_SRP_AUTH needs the Session of the sign-in that named the device.
    resp, helper = srp_sign_in(cognito, app, username, device)
    with raises_cognito("NotAuthorizedException"):
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="DEVICE_SRP_AUTH",
            ChallengeResponses={"USERNAME": username, "DEVICE_KEY": device.key,
                                "SRP_A": helper.get_auth_params()["SRP_A"]})
    # ... and the device it named, not another.
    with raises_cognito("NotAuthorizedException"):
        cognito.respond_to_auth_challenge(
            ClientId=app.client_id, ChallengeName="DEVICE_SRP_AUTH", Session=resp["Session"],
            ChallengeResponses={"USERNAME": username, "DEVICE_KEY": f"local_{uid()}",
                                "SRP_A": helper.get_auth_params()["SRP_A"]})


def test_device_operations_and_their_admin_forms(cognito, tracked, make_confirmed_user):
    app = tracked()
    alice, bob = make_confirmed_user(app.pool_id), make_confirmed_user(app.pool_id)
    a_tokens = srp_sign_in(cognito, app, alice)[0]["AuthenticationResult"]
    b_tokens = srp_sign_in(cognito, app, bob)[0]["AuthenticationResult"]
    a_device, _ = confirm(cognito, a_tokens, "alice-phone")
    b_device, _ = confirm(cognito, b_tokens, "bob-phone")
    # Someone else's device is not there for you, by token or by name.
    for call in (
        lambda: cognito.get_device(AccessToken=a_tokens["AccessToken"], DeviceKey=b_device.key),
        lambda: cognito.forget_device(AccessToken=a_tokens["AccessToken"], DeviceKey=b_device.key),
        lambda: cognito.update_device_status(AccessToken=a_tokens["AccessToken"], DeviceKey=b_device.key,
                                             DeviceRememberedStatus="remembered"),
        lambda: cognito.admin_get_device(UserPoolId=app.pool_id, Username=alice, DeviceKey=b_device.key),
    ):
        with raises_cognito("ResourceNotFoundException"):
            call()
    # ConfirmDevice takes only the device the token's own sign-in was handed, once: not
    # another user's, not another of the user's, and never a confirmed one again (a stolen
    # token cannot re-key a device).
    later = srp_sign_in(cognito, app, alice)[0]["AuthenticationResult"]
    for token, key in ((a_tokens, b_device.key), (later, a_device.key), (a_tokens, a_device.key)):
        with raises_cognito("InvalidParameterException") as info:
            cognito.confirm_device(AccessToken=token["AccessToken"], DeviceKey=key,
                                   DeviceSecretVerifierConfig=generate_hash_device("-g", key)[1])
        assert "Invalid device key given" in info.value.response["Error"]["Message"]
    assert jwt_claims(later["AccessToken"])["device_key"] == later["NewDeviceMetadata"]["DeviceKey"]
    got = cognito.admin_get_device(UserPoolId=app.pool_id, Username=bob, DeviceKey=b_device.key)["Device"]
    assert attrs(got["DeviceAttributes"])["device_name"] == "bob-phone"
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_device_status(UserPoolId=app.pool_id, Username=bob, DeviceKey=b_device.key,
                                           DeviceRememberedStatus="sometimes")
    # Pages: a second device for Alice, one per page.
    confirm(cognito, later, "alice-laptop")
    first_page = cognito.admin_list_devices(UserPoolId=app.pool_id, Username=alice, Limit=1)
    assert len(first_page["Devices"]) == 1 and first_page["PaginationToken"]
    rest = cognito.admin_list_devices(UserPoolId=app.pool_id, Username=alice, Limit=1,
                                      PaginationToken=first_page["PaginationToken"])
    assert len(rest["Devices"]) == 1 and "PaginationToken" not in rest
    assert rest["Devices"][0]["DeviceKey"] != first_page["Devices"][0]["DeviceKey"]
    cognito.forget_device(AccessToken=a_tokens["AccessToken"], DeviceKey=a_device.key)
    with raises_cognito("ResourceNotFoundException"):
        cognito.get_device(AccessToken=a_tokens["AccessToken"], DeviceKey=a_device.key)
    # Bad verifier configurations are InvalidParameterException.
    third = srp_sign_in(cognito, app, alice)[0]["AuthenticationResult"]
    for config in ({"PasswordVerifier": "!!", "Salt": "AAAA"}, {"PasswordVerifier": "AA==", "Salt": "AQ=="},
                   {"Salt": "AQ=="}):
        with raises_cognito("InvalidParameterException"):
            cognito.confirm_device(AccessToken=third["AccessToken"],
                                   DeviceKey=third["NewDeviceMetadata"]["DeviceKey"],
                                   DeviceSecretVerifierConfig=config)


def test_a_pool_without_tracking_hands_out_no_devices(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(flows=FLOWS)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    assert "NewDeviceMetadata" not in tokens
    with raises_cognito("InvalidParameterException"):
        cognito.confirm_device(AccessToken=tokens["AccessToken"], DeviceKey=f"local_{uid()}",
                               DeviceSecretVerifierConfig=generate_hash_device("-g", "k")[1])
    # A DEVICE_KEY sent anyway is ignored.
    resp = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD,
                                                 "DEVICE_KEY": f"local_{uid()}"})
    assert "AccessToken" in resp["AuthenticationResult"]


def test_amazon_cognito_identity_js_remembers_a_device(server, cognito, tracked, make_confirmed_user, tmp_path):
    app = tracked(ALWAYS)
    username = make_confirmed_user(app.pool_id)
    storage = tmp_path / "storage.json"
    first = run_js(server, app, username, storage)
    assert "accessToken" in first, first
    (device,) = cognito.admin_list_devices(UserPoolId=app.pool_id, Username=username)["Devices"]
    assert attrs(device["DeviceAttributes"])["dev:device_remembered_status"] == "remembered"
    cognito.set_user_pool_mfa_config(UserPoolId=app.pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    enrol_with_token(cognito, first["accessToken"])
    # The same browser storage: the device is proven and MFA is not asked.
    again = run_js(server, app, username, storage)
    assert "accessToken" in again, again
    assert cognito.admin_list_devices(UserPoolId=app.pool_id, Username=username)["Devices"][0][
        "DeviceLastAuthenticatedDate"] >= device["DeviceLastAuthenticatedDate"]
    # A fresh storage is a new device: MFA is asked.
    assert run_js(server, app, username, tmp_path / "other.json") == {"challenge": "SOFTWARE_TOKEN_MFA"}


def run_js(server, app, username: str, storage: Path) -> dict:
    args = ["node", str(JS / "srp_device.cjs"), server.url + "/", app.pool_id, app.client_id, username,
            PASSWORD, str(storage)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
