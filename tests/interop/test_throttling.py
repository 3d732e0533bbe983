"""Brute-force protection of password sign-in (README, "Brute-force protection").

Each test starts a server of its own with the default thresholds: 5 free failures per user
(then a delay of 1 s, doubling), 20 per client IP. Everything here comes from 127.0.0.1.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from cognate_harness import uid

PASSWORD = "Corr3ct-Horse!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


def setup_pool(srv, users):
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"throttle-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", ExplicitAuthFlows=FLOWS)[
        "UserPoolClient"]["ClientId"]
    for name in users:
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    return idp, client


def attempt(idp, client, username, password):
    try:
        idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": password})
        return "ok", None
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert 400 <= e.response["ResponseMetadata"]["HTTPStatusCode"] < 500
        return err["Code"], err["Message"]


def test_one_user_is_locked_after_repeated_failures_while_another_signs_in(fresh_server):
    srv = fresh_server()
    idp, client = setup_pool(srv, ["victim", "bystander"])
    for i in range(5):
        assert attempt(idp, client, "victim", f"Wrong-{i}!") == ("NotAuthorizedException",
                                                                 "Incorrect username or password.")
    # Locked now: even the right password is refused, with Cognito's message.
    assert attempt(idp, client, "victim", PASSWORD) == ("NotAuthorizedException", "Password attempts exceeded")
    assert attempt(idp, client, "victim", "Wrong-again!") == ("NotAuthorizedException",
                                                              "Password attempts exceeded")
    # Another user of the same pool, from the same address, is unaffected.
    assert attempt(idp, client, "bystander", PASSWORD) == ("ok", None)


def test_a_client_ip_spraying_many_users_is_slowed(fresh_server):
    srv = fresh_server()
    users = [f"u{i}" for i in range(5)]
    idp, client = setup_pool(srv, users + ["later"])
    outcomes = []
    # 20 failures spread over users (at most 4 each, so no user is locked on its own),
    # some of them for users that do not exist.
    for i in range(20):
        name = users[i % 5] if i % 4 else f"ghost-{i}"
        outcomes.append(attempt(idp, client, name, f"Wrong-{i}!")[0])
    assert outcomes[:19] == ["NotAuthorizedException"] * 19
    code, message = attempt(idp, client, "later", PASSWORD)
    assert code == "TooManyRequestsException", (code, message)
    assert "retry" in message


@pytest.mark.parametrize("prevent", ["ENABLED", "LEGACY"])
def test_unknown_user_answers_match_the_client_setting(fresh_server, prevent):
    srv = fresh_server()
    idp, _ = setup_pool(srv, [])
    pool = idp.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = [p["Id"] for p in pool if p["Name"].startswith("throttle-")][0]
    client = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="c", ExplicitAuthFlows=FLOWS,
                                         PreventUserExistenceErrors=prevent)["UserPoolClient"]["ClientId"]
    code, message = attempt(idp, client, "nobody", "Wrong-1!")
    if prevent == "ENABLED":
        assert (code, message) == ("NotAuthorizedException", "Incorrect username or password.")
    else:
        assert code == "UserNotFoundException"
