"""Cross-node propagation (docs/operations.md, "Scaling out: propagation between nodes"):
two `cognate serve` nodes share one PostgreSQL database; each caches its pools' signing
and verification keys, told to refresh only every 30 s here (COGNATE_CACHE_REFRESH_SECS).
With change notifications (LISTEN/NOTIFY, the default) a rotation or retirement made
elsewhere takes effect on node B well within that: B signs with the new key, and refuses
tokens of the retired one, within 2 s (milliseconds in practice). With COGNATE_NOTIFY=off,
B keeps its cached key for those 30 s, which shows the notification is what made it fast.
A listener whose connection is killed reconnects and catches up. Revocations are read from
the database per request, so they hold on B at once in both modes.
"""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cognate_harness import (
    TARGET_PREFIX, CognateServer, _pg_connect, admin_bearer, dispose_server, jwt_header, new_server,
    pg_skip_requested, uid,
)

PASSWORD = "Pr0pagation!ok"
REFRESH_SECS = "30"
# Far below the 30 s poll interval, far above what a notification takes on loopback.
PROMPT = 2.0
PUBLIC_URL = "https://auth.propagation.test"


def unsigned(node: CognateServer, operation: str, body: dict) -> requests.Response:
    return requests.post(node.url + "/", json=body, timeout=10, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"})


def refreshed_kid(node: CognateServer, client: str, refresh_token: str) -> str:
    resp = unsigned(node, "InitiateAuth", {"ClientId": client, "AuthFlow": "REFRESH_TOKEN_AUTH",
                                           "AuthParameters": {"REFRESH_TOKEN": refresh_token}})
    assert resp.status_code == 200, resp.text
    return jwt_header(resp.json()["AuthenticationResult"]["AccessToken"])["kid"]


def within(seconds: float, effect) -> float:
    """Seconds until `effect()` holds, asked every 5 ms; fails after `seconds`."""
    start = time.monotonic()
    while not effect():
        assert time.monotonic() - start < seconds, f"no effect within {seconds} s"
        time.sleep(0.005)
    return time.monotonic() - start


def metrics(node: CognateServer) -> dict:
    resp = requests.get(node.url + "/metrics", headers={"Authorization": f"Bearer {admin_bearer(node)}"},
                        timeout=10)
    assert resp.status_code == 200, resp.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(resp.text) for s in fam.samples}


@pytest.fixture
def two_nodes():
    """Yields `start(notify)`: nodes A and B on one fresh database and data directory (so
    one master key), caches refreshed every 30 s; plus a pool, a client and a user."""
    if pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1: PostgreSQL backend skipped on request")
    base = new_server("postgres")
    nodes: list[CognateServer] = []

    def start(notify: str):
        # One public URL, as behind a load balancer: a token of either node is the pool's.
        env = {"COGNATE_NOTIFY": notify, "COGNATE_CACHE_REFRESH_SECS": REFRESH_SECS,
               "COGNATE_PUBLIC_URL": PUBLIC_URL}
        for _ in range(2):
            node = CognateServer(backend="postgres", data_dir=base.data_dir, database_url=base.database_url,
                                 extra_env=dict(env))
            nodes.append(node)
            node.start()
        a, b = nodes[-2], nodes[-1]
        idp = a.cognito
        pool = idp.create_user_pool(PoolName=f"prop-{uid()}")["UserPool"]["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="prop", EnableTokenRevocation=True,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
        name = f"u-{uid()}"
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
        tokens = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]
        return a, b, pool, client, tokens

    yield start
    for node in nodes:
        node.stop()
    dispose_server(base)


def test_rotation_and_retirement_reach_node_b_at_once(two_nodes):
    a, b, pool, client, tokens = two_nodes("on")
    old_kid = refreshed_kid(b, client, tokens["RefreshToken"])  # B caches the ring now
    assert unsigned(b, "GetUser", {"AccessToken": tokens["AccessToken"]}).status_code == 200
    seen = metrics(b)
    assert seen[("cognate_change_listener_up", ())] == 1

    new_kid = a.rotate_key(pool)
    assert new_kid != old_kid
    took = within(PROMPT, lambda: refreshed_kid(b, client, tokens["RefreshToken"]) == new_kid)
    print(f"rotation seen on node B after {took * 1000:.1f} ms")

    # The old key is retired: B refuses its tokens without waiting for its cache to expire.
    a.keys("retire", "--pool", pool, "--kid", old_kid)
    within(PROMPT, lambda: unsigned(b, "GetUser", {"AccessToken": tokens["AccessToken"]}).status_code == 400)
    after = metrics(b)
    heard = ("cognate_change_notifications_total", (("kind", "keys"),))
    assert after[heard] >= seen.get(heard, 0) + 2, after[heard]


def test_without_notifications_node_b_waits_for_its_poll(two_nodes):
    a, b, pool, client, tokens = two_nodes("off")
    old_kid = refreshed_kid(b, client, tokens["RefreshToken"])
    assert metrics(b)[("cognate_change_listener_up", ())] == 0
    new_kid = a.rotate_key(pool)
    assert refreshed_kid(a, client, tokens["RefreshToken"]) in (old_kid, new_kid)
    deadline = time.monotonic() + PROMPT
    while time.monotonic() < deadline:
        assert refreshed_kid(b, client, tokens["RefreshToken"]) == old_kid
        time.sleep(0.05)


def test_a_listener_that_loses_its_connection_reconnects_and_catches_up(two_nodes):
    a, b, pool, client, tokens = two_nodes("on")
    old_kid = refreshed_kid(b, client, tokens["RefreshToken"])
    # Kill every LISTEN connection of this database (both nodes'), as a failover would.
    with _pg_connect(b.database_url) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND query LIKE 'LISTEN%'").fetchone()[0]
    assert killed >= 2, killed
    new_kid = a.rotate_key(pool)
    # Whether the rotation came before or after the reconnection, B signs with the new key
    # within the reconnect backoff, not the 30 s poll.
    within(5.0, lambda: refreshed_kid(b, client, tokens["RefreshToken"]) == new_kid)
    within(5.0, lambda: metrics(b)[("cognate_change_listener_up", ())] == 1)


@pytest.mark.parametrize("notify", ["on", "off"])
def test_revocations_hold_on_every_node_at_once(two_nodes, notify):
    a, b, pool, client, tokens = two_nodes(notify)
    refreshed_kid(b, client, tokens["RefreshToken"])
    assert unsigned(b, "GetUser", {"AccessToken": tokens["AccessToken"]}).status_code == 200
    assert unsigned(a, "RevokeToken", {"ClientId": client, "Token": tokens["RefreshToken"]}).status_code == 200
    resp = unsigned(b, "InitiateAuth", {"ClientId": client, "AuthFlow": "REFRESH_TOKEN_AUTH",
                                        "AuthParameters": {"REFRESH_TOKEN": tokens["RefreshToken"]}})
    assert resp.status_code == 400 and resp.json()["__type"] == "NotAuthorizedException", resp.text
    assert unsigned(b, "GetUser", {"AccessToken": tokens["AccessToken"]}).status_code == 400
