"""Limits shared by several nodes through Redis (docs/operations.md, "Scaling out: shared
limits on Redis").

Three `cognate serve` nodes share one PostgreSQL database, one master key and one Redis
(`COGNATE_REDIS_URL`, with a key prefix of this run's own so concurrent runs never meet).
boto3 and plain HTTP prove that brute-force locks, the per-address authentication window and
the per-tenant `/v1` window hold for the three together, not per node. A fourth node pointed
at a port where no Redis listens still starts, warns in its log, and enforces the same limits
on its own: never a 5xx, never an open door.

The nodes trust 127.0.0.1 as a reverse proxy, so each test signs in from addresses of its own
(X-Forwarded-For) and the tests do not use up each other's windows.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from cognate_harness import (
    CognateServer,
    Tenancy,
    admin_bearer,
    dispose_server,
    new_server,
    pg_skip_requested,
    uid,
    v1,
)

REDIS_URL = os.environ.get("COGNATE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
PASSWORD = "Corr3ct-Horse!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
AUTH_PER_IP = 10
ADMIN_PER_TENANT = 5


# --------------------------------------------------------------------------- Redis, by hand

def redis_command(*args: str):
    """One command over RESP (enough for KEYS/DEL/PING: no client package needed)."""
    parts = urlsplit(REDIS_URL)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                  timeout=5) as sock:
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        sock.sendall(payload.encode())
        return _read_reply(sock.makefile("rb"))


def _read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return [] if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected Redis reply {line!r}")


def redis_keys(prefix: str) -> list[str]:
    return redis_command("KEYS", f"{prefix}:*")


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the cluster

class Cluster:
    """Nodes on one PostgreSQL database, one master key and one public URL (the first node
    bootstraps the admin credential; the others get a copy of its file, as an operator
    would)."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.first = new_server("postgres")
        self.first.extra_env.update(env)
        self.nodes: list[CognateServer] = []
        #: Every node but the first, stopped before the first drops the database.
        self.extra: list[CognateServer] = []
        self.roots: list[Path] = []

    def start(self, n: int) -> list[CognateServer]:
        self.first.start()
        self.nodes = [self.first] + [self.add() for _ in range(n - 1)]
        return self.nodes

    def add(self, **env: str) -> CognateServer:
        """One more node on the same database (`env` overrides the cluster's settings)."""
        root = Path(tempfile.mkdtemp(prefix="cognate-it-redis-"))
        self.roots.append(root)
        data = root / "data"
        data.mkdir()
        shutil.copy2(self.first.credentials_path, data / "admin-credentials.json")
        node = CognateServer(backend="postgres", data_dir=data,
                             database_url=self.first.database_url,
                             extra_env={**self.env, **env})
        self.extra.append(node)
        node.start()
        return node

    def dispose(self) -> None:
        for node in self.extra:
            node.stop()
        dispose_server(self.first)
        if os.environ.get("COGNATE_IT_KEEP") != "1":
            for root in self.roots:
                shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_prefix():
    try:
        assert redis_command("PING") == "PONG"
    except (OSError, RuntimeError, AssertionError) as exc:
        pytest.fail(f"Redis is unreachable at {REDIS_URL} ({exc!r}); start it or set "
                    "COGNATE_TEST_REDIS_URL", pytrace=False)
    prefix = f"cognate-it-{uid(12)}"
    yield prefix
    for key in redis_keys(prefix):
        redis_command("DEL", key)


@pytest.fixture(scope="module")
def cluster(redis_prefix):
    if pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1: the shared-limits nodes need PostgreSQL")
    env = {
        "COGNATE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        # One issuer for all nodes, as behind a load balancer: a token from one is good on all.
        "COGNATE_PUBLIC_URL": "https://auth.cognate.test",
        "COGNATE_REDIS_URL": REDIS_URL,
        "COGNATE_REDIS_PREFIX": redis_prefix,
        "COGNATE_TRUSTED_PROXIES": "127.0.0.1",
        "COGNATE_RATE_AUTH_PER_IP": str(AUTH_PER_IP),
        "COGNATE_RATE_ADMIN_PER_TENANT": str(ADMIN_PER_TENANT),
    }
    made = Cluster(env)
    try:
        made.start(3)
        yield made
    finally:
        made.dispose()


def away_from_a_minute_boundary(margin: float = 20.0) -> None:
    """Rate windows are fixed minutes aligned on the clock: a test that fills one must not
    straddle two."""
    left = 60 - (time.time() % 60)
    if left < margin:
        time.sleep(left + 0.2)


def setup_pool(node: CognateServer, users: list[str]) -> str:
    idp = node.cognito
    pool = idp.create_user_pool(PoolName=f"shared-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", ExplicitAuthFlows=FLOWS)[
        "UserPoolClient"]["ClientId"]
    for name in users:
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    return client


def sign_in(node: CognateServer, client: str, username: str, password: str, ip: str,
            **extra) -> tuple[str, requests.Response]:
    """InitiateAuth from `ip` (X-Forwarded-For); (outcome, response). Never a 5xx."""
    resp = node.raw("InitiateAuth", {"ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH",
                                     "AuthParameters": {"USERNAME": username, "PASSWORD": password},
                                     **extra},
                    sign=False, headers={"X-Forwarded-For": ip})
    assert resp.status_code < 500, f"HTTP {resp.status_code} from {node.url}: {resp.text[:300]!r}"
    if resp.status_code == 200:
        return "ok", resp
    return resp.json()["__type"], resp


def metric(node: CognateServer, series: str) -> float:
    text = v1(node, "GET", "/metrics", bearer=admin_bearer(node)).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    pytest.fail(f"no {series} in the metrics of {node.url}", pytrace=False)


# --------------------------------------------------------------------------- tests

def test_wrong_passwords_spread_over_three_nodes_lock_the_user(cluster, redis_prefix):
    a, b, c = cluster.nodes
    client = setup_pool(a, ["victim", "bystander"])
    ip = "198.51.100.7"
    # Five wrong passwords, spread over the nodes: no node saw more than two.
    for i, node in enumerate([a, b, c, a, b]):
        outcome, resp = sign_in(node, client, "victim", f"Wrong-{i}!", ip)
        assert (outcome, resp.json()["message"]) == ("NotAuthorizedException",
                                                     "Incorrect username or password."), i
    # The sixth attempt, with the RIGHT password, is refused on any node as locked.
    for node in (c, a):
        outcome, resp = sign_in(node, client, "victim", PASSWORD, ip)
        assert (outcome, resp.json()["message"]) == ("NotAuthorizedException",
                                                     "Password attempts exceeded"), node.url
    # Another user from the same address is not affected.
    assert sign_in(b, client, "bystander", PASSWORD, ip)[0] == "ok"
    # The counts are in Redis under this run's prefix, named without the user or address.
    keys = redis_keys(redis_prefix)
    assert any(k.startswith(f"{redis_prefix}:lock:user:") for k in keys), keys
    assert not any("victim" in k or "198.51.100" in k for k in keys), keys
    for node in cluster.nodes:
        assert "limits shared through Redis" in node.log_tail(200_000), node.url
        assert metric(node, 'cognate_shared_limits_backend{backend="redis"}') == 1.0
        assert metric(node, "cognate_shared_limits_fallbacks_total") == 0.0


def test_the_per_address_authentication_window_is_global(cluster):
    a, b, c = cluster.nodes
    client = setup_pool(a, ["alice"])
    away_from_a_minute_boundary()
    ip = "203.0.113.50"
    # AUTH_PER_IP (10) a minute for the three nodes together: three or four each…
    for i in range(AUTH_PER_IP):
        node = cluster.nodes[i % 3]
        assert sign_in(node, client, "alice", PASSWORD, ip)[0] == "ok", (i, node.url)
    # …then every node refuses that address, with Retry-After.
    for node in (a, b, c):
        outcome, resp = sign_in(node, client, "alice", PASSWORD, ip)
        assert outcome == "TooManyRequestsException", (node.url, resp.text)
        assert "address" in resp.json()["message"]
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
    # Another address is not affected.
    assert sign_in(c, client, "alice", PASSWORD, "203.0.113.51")[0] == "ok"


def test_the_per_tenant_v1_window_is_global(cluster):
    a, b, c = cluster.nodes
    t = Tenancy(a)
    tenant, other = t.create_tenant("shared-a"), t.create_tenant("shared-b")

    def admin_token(tn: dict, ip: str) -> str:
        user = t.new_user(tn["id"], "admin")
        outcome, resp = sign_in(a, tn["clientId"], user.email, user.password, ip,
                                ClientMetadata={"tenantId": tn["id"]})
        assert outcome == "ok", resp.text
        return resp.json()["AuthenticationResult"]["AccessToken"]

    token, other_token = admin_token(tenant, "192.0.2.10"), admin_token(other, "192.0.2.11")
    away_from_a_minute_boundary()
    # ADMIN_PER_TENANT (5) a minute for the three nodes together…
    statuses = [v1(node, "GET", f"/v1/tenants/{tenant['id']}", bearer=token).status_code
                for node in [a, b, c, a, b]]
    assert statuses == [200] * 5
    # …then every node answers 429 for that tenant, with Retry-After.
    for node in (c, a, b):
        refused = v1(node, "GET", f"/v1/tenants/{tenant['id']}/members", bearer=token)
        assert refused.status_code == 429, (node.url, refused.text)
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another tenant, and the platform admin, are not affected.
    assert v1(c, "GET", f"/v1/tenants/{other['id']}", bearer=other_token).status_code == 200
    assert v1(b, "GET", f"/v1/tenants/{tenant['id']}", bearer=admin_bearer(b)).status_code == 200


def test_a_node_whose_redis_does_not_answer_counts_alone(cluster):
    """Start-up with no Redis at the URL: the node serves, warns, and keeps the limits on its
    own (per node, as without COGNATE_REDIS_URL) — never a 5xx, never more than the limits."""
    dead = cluster.add(COGNATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    started = time.monotonic()
    log = dead.log_tail(200_000)
    assert "Redis does not answer at start-up" in log, log[-3000:]
    client = setup_pool(dead, ["victim", "alice"])
    # Brute force: locked after five wrong passwords, the right one refused.
    ip = "198.51.100.77"
    for i in range(5):
        assert sign_in(dead, client, "victim", f"Wrong-{i}!", ip)[0] == "NotAuthorizedException"
    outcome, resp = sign_in(dead, client, "victim", PASSWORD, ip)
    assert (outcome, resp.json()["message"]) == ("NotAuthorizedException", "Password attempts exceeded")
    # The per-address window: refused beyond AUTH_PER_IP a minute.
    away_from_a_minute_boundary()
    ip = "203.0.113.77"
    for _ in range(AUTH_PER_IP):
        assert sign_in(dead, client, "alice", PASSWORD, ip)[0] == "ok"
    assert sign_in(dead, client, "alice", PASSWORD, ip)[0] == "TooManyRequestsException"
    # Said in the log (at most every 30 s, not per request) and in the metrics.
    log = dead.log_tail(200_000)
    assert "counted by this node alone" in log, log[-3000:]
    most = 1 + int((time.monotonic() - started) // 30)
    assert 1 <= log.count("Redis does not answer:") <= most, log[-3000:]
    assert metric(dead, "cognate_shared_limits_fallbacks_total") >= 10
    assert metric(dead, 'cognate_shared_limits_backend{backend="local"}') == 1.0
