"""Start/stop `cognate serve` processes and talk to them (boto3 and raw signed HTTP).

Contract with the server (README.md, "Set-up" and "Configuration"):
  * `cognate serve` reads COGNATE_LISTEN, COGNATE_DATA_DIR, COGNATE_DATABASE_URL,
    COGNATE_REGION from the environment;
  * when ready it prints `Cognate is listening on http://127.0.0.1:PORT` on stdout;
  * on first start it writes `<data dir>/admin-credentials.json` (mode 0600);
  * SIGTERM shuts it down gracefully with exit code 0.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"Cognate is listening on (http://\S+)")
START_TIMEOUT = 60.0
TARGET_PREFIX = "AWSCognitoIdentityProviderService"
REGION = "local"
PG_ADMIN_URL = os.environ.get(
    "COGNATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)

CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")

# Every live server, so that a failing test can show the servers' logs.
LIVE_SERVERS: list["CognateServer"] = []


def cognate_bin() -> Path:
    override = os.environ.get("COGNATE_BIN")
    return Path(override) if override else REPO_ROOT / "target" / "debug" / "cognate"


def uid(n: int = 10) -> str:
    return uuid.uuid4().hex[:n]


# --------------------------------------------------------------------------- PostgreSQL


def pg_skip_requested() -> bool:
    return os.environ.get("COGNATE_SKIP_PG", "") == "1"


def _pg_connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def pg_create_database() -> str:
    """Create a fresh database and return its URL. Fails the test if PG is unreachable."""
    name = f"cognate_it_{uid(12)}"
    try:
        with _pg_connect(PG_ADMIN_URL) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any connection problem is a hard failure
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_ADMIN_URL} ({exc!r}); "
            "start it or set COGNATE_SKIP_PG=1 to skip the PostgreSQL backend explicitly",
            pytrace=False,
        )
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def pg_drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with contextlib.suppress(Exception), _pg_connect(PG_ADMIN_URL) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- server process


@dataclass
class CognateServer:
    backend: str  # "sqlite" | "postgres"
    data_dir: Path
    database_url: str | None = None
    proc: subprocess.Popen | None = None
    url: str = ""
    stdout_lines: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    _client: object = None
    _nv_client: object = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / (self.data_dir.name + "-stderr.log")

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "admin-credentials.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COGNATE_")}
        env["COGNATE_LISTEN"] = "127.0.0.1:0"
        env["COGNATE_DATA_DIR"] = str(self.data_dir)
        env["COGNATE_REGION"] = REGION
        env.setdefault("RUST_BACKTRACE", "1")
        if self.database_url:
            env["COGNATE_DATABASE_URL"] = self.database_url
        # Every test talks from 127.0.0.1: request-rate limits are raised here and tested on
        # servers of their own (test_abuse.py).
        env["COGNATE_RATE_AUTH_PER_IP"] = "1000000"
        env["COGNATE_RATE_AUTH_PER_USER"] = "1000000"
        env["COGNATE_RATE_ADMIN_PER_TENANT"] = "1000000"
        # Identity providers and webhook receivers of the tests listen on 127.0.0.1, which
        # outbound requests refuse by default (SSRF protection); tests of the refusal
        # itself override this in extra_env.
        env["COGNATE_OUTBOUND_ALLOW"] = "127.0.0.0/8,::1/128"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = START_TIMEOUT) -> "CognateServer":
        binary = cognate_bin()
        if not binary.exists():
            pytest.fail(f"cognate binary not found at {binary} (build it or set COGNATE_BIN)")
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        log.write(f"\n===== cognate serve started {time.ctime()} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(binary), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env(),
            cwd=str(self.data_dir.parent),
            text=True,
            bufsize=1,
        )
        log.close()
        lines: queue.Queue[str | None] = queue.Queue()
        self.stdout_lines = []

        def pump(proc=self.proc, sink=self.stdout_lines):
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                pytest.fail(
                    f"cognate serve did not print the listening line within {timeout}s\n"
                    + self.describe_failure(),
                    pytrace=False,
                )
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=10)
                pytest.fail(
                    f"cognate serve exited with code {rc} before it was ready\n"
                    + self.describe_failure(),
                    pytrace=False,
                )
            m = LISTEN_RE.search(line)
            if m:
                self.url = m.group(1).rstrip("/")
                break
        self._client = None
        self._nv_client = None
        LIVE_SERVERS.append(self)
        return self

    def describe_failure(self) -> str:
        return (
            f"--- stdout ---\n{''.join(self.stdout_lines)[-4000:]}\n"
            f"--- stderr ({self.log_path}) ---\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 8000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"

    def _forget(self) -> None:
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; returns the exit code (kills and returns None on timeout)."""
        self._forget()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL, no chance to clean up."""
        self._forget()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    # ---- credentials and clients

    def credentials(self) -> dict[str, str]:
        deadline = time.monotonic() + 5
        while True:
            try:
                data = json.loads(self.credentials_path.read_text())
                return {"key": data["accessKeyId"], "secret": data["secretAccessKey"]}
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self, *, key: str | None = None, secret: str | None = None,
               region: str = REGION, validate: bool = True, **config):
        creds = self.credentials()
        cfg = Config(
            retries={"total_max_attempts": 1},
            connect_timeout=10,
            read_timeout=config.pop("read_timeout", 60),
            parameter_validation=validate,
            **config,
        )
        return boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key if key is not None else creds["key"],
            aws_secret_access_key=secret if secret is not None else creds["secret"],
            config=cfg,
        )

    @property
    def cognito(self):
        if self._client is None:
            self._client = self.client()
        return self._client

    # ---- raw HTTP

    def raw(self, operation: str | None, body, *, sign: bool = True, key: str | None = None,
            secret: str | None = None, region: str = REGION, service: str = "cognito-idp",
            target: str | None = None, headers: dict | None = None,
            body_after_signing: bytes | None = None, timeout: float = 30) -> requests.Response:
        """POST / with the AWS JSON 1.1 headers, optionally SigV4-signed (like botocore)."""
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        hdrs = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            hdrs["X-Amz-Target"] = target
        elif operation is not None:
            hdrs["X-Amz-Target"] = f"{TARGET_PREFIX}.{operation}"
        hdrs.update(headers or {})
        req = AWSRequest(method="POST", url=self.url + "/", data=data, headers=hdrs)
        if sign:
            creds = self.credentials()
            SigV4Auth(
                Credentials(key if key is not None else creds["key"],
                            secret if secret is not None else creds["secret"]),
                service,
                region,
            ).add_auth(req)
        prepared = req.prepare()
        send_body = body_after_signing if body_after_signing is not None else data
        return requests.post(self.url + "/", data=send_body,
                             headers=dict(prepared.headers.items()), timeout=timeout)


    # ---- OIDC URLs

    def issuer(self, pool_id: str) -> str:
        """`iss` of the pool's tokens: {publicUrl}/{poolId} (publicUrl = the listening URL)."""
        return f"{self.url}/{pool_id}"

    def jwks_url(self, pool_id: str) -> str:
        return f"{self.issuer(pool_id)}/.well-known/jwks.json"

    def jwks(self, pool_id: str) -> dict:
        resp = requests.get(self.jwks_url(pool_id), timeout=10)
        assert resp.status_code == 200, f"JWKS: HTTP {resp.status_code} {resp.text[:300]!r}"
        return resp.json()

    def kids(self, pool_id: str) -> set[str]:
        return {k["kid"] for k in self.jwks(pool_id).get("keys", [])}

    # ---- the CLI against this server's data dir and database

    def cli(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """Run `cognate ARGS` with the server's COGNATE_DATA_DIR / COGNATE_DATABASE_URL."""
        env = self.env()
        env.pop("COGNATE_LISTEN", None)
        proc = subprocess.run(
            [str(cognate_bin()), *args], env=env, cwd=str(self.data_dir.parent),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`cognate {' '.join(args)}` exited with {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}",
                pytrace=False,
            )
        return proc

    def raw_rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Runs `sql` straight on the database file or server, bypassing Cognate (what a
        copy or a backup holds, or what someone with write access could do); `?`
        placeholders. Returns the rows, if any."""
        if self.backend == "sqlite":
            import sqlite3  # noqa: PLC0415

            db = sqlite3.connect(self.data_dir / "cognate.db")
            try:
                rows = db.execute(sql, params).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        with _pg_connect(self.database_url) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def outbox(self, pool_id: str, limit: int = 20) -> list[dict]:
        """`cognate outbox --pool P --limit N`: messages, newest first."""
        out = self.cli("outbox", "--pool", pool_id, "--limit", str(limit)).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def messages_for(self, pool_id: str, username: str) -> list[dict]:
        return [m for m in self.outbox(pool_id, limit=100) if m.get("username") == username]

    def latest_code(self, pool_id: str, username: str, *, not_in: set | None = None) -> tuple[str, dict]:
        """The 6-digit code of the newest outbox message to `username` (skipping message ids
        in `not_in`); returns (code, message)."""
        for msg in self.messages_for(pool_id, username):
            if not_in and msg.get("id") in not_in:
                continue
            m = CODE_RE.search(msg.get("body") or "")
            assert m, f"no 6-digit code in the outbox message {msg!r}"
            return m.group(0), msg
        pytest.fail(f"no (new) outbox message for {username!r} in pool {pool_id}: "
                    f"{self.outbox(pool_id)!r}", pytrace=False)

    def keys(self, *args: str) -> str:
        """`cognate keys ARGS`; returns stdout."""
        return self.cli("keys", *args).stdout

    def rotate_key(self, pool_id: str) -> str:
        """`cognate keys rotate --pool P`; returns the new kid it prints."""
        out = self.keys("rotate", "--pool", pool_id).strip()
        assert out, "`cognate keys rotate` printed nothing"
        try:
            data = json.loads(out.splitlines()[-1])
            if isinstance(data, dict) and "kid" in data:
                return str(data["kid"])
        except ValueError:
            pass
        return out.splitlines()[-1].split()[-1].strip("\"'")


def new_server(backend: str, tmp_root: Path | None = None) -> CognateServer:
    db_url = pg_create_database() if backend == "postgres" else None
    root = Path(tempfile.mkdtemp(prefix=f"cognate-it-{backend}-", dir=tmp_root))
    data_dir = root / "data"
    data_dir.mkdir()
    return CognateServer(backend=backend, data_dir=data_dir, database_url=db_url)


def dispose_server(server: CognateServer) -> None:
    server.stop()
    if server.database_url:
        pg_drop_database(server.database_url)
    if os.environ.get("COGNATE_IT_KEEP") != "1":
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


# --------------------------------------------------------------------------- assertions


@contextlib.contextmanager
def raises_cognito(code: str):
    """Expect a botocore ClientError with Cognito exception `code` and a 4xx status."""
    with pytest.raises(ClientError) as info:
        yield info
    err = info.value.response.get("Error", {})
    status = info.value.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    assert err.get("Code") == code, (
        f"expected {code}, got {err.get('Code')!r} (HTTP {status}): {err.get('Message')!r}"
    )
    assert status is not None and 400 <= status <= 499, f"{code} came with HTTP {status}"
    assert err.get("Message"), f"{code} without a message"


def assert_raw_error(resp: requests.Response, code: str, statuses=range(400, 500)) -> dict:
    assert resp.status_code in statuses, (
        f"expected {code} with a 4xx, got HTTP {resp.status_code}: {resp.text[:500]!r}"
    )
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON (HTTP {resp.status_code}): {resp.text[:500]!r}")
    got = str(body.get("__type", "")).split("#")[-1]
    assert got == code, f"expected __type {code}, got {body!r}"
    return body


def attrs(attr_list) -> dict[str, str]:
    """[{'Name': n, 'Value': v}, ...] -> {n: v}; fails on a duplicated name."""
    out: dict[str, str] = {}
    for a in attr_list or []:
        assert a["Name"] not in out, f"attribute {a['Name']} listed twice: {attr_list}"
        out[a["Name"]] = a.get("Value")
    return out


def walk(call, items_key: str, token_in: str, token_out: str, page_size_key: str,
         page_size: int, max_pages: int = 200, **kwargs) -> tuple[list, list[int]]:
    """Walk a paginated Cognito list; return (all items, sizes of each page)."""
    items: list = []
    sizes: list[int] = []
    token = None
    for _ in range(max_pages):
        args = dict(kwargs)
        args[page_size_key] = page_size
        if token:
            args[token_in] = token
        resp = call(**args)
        page = resp.get(items_key, [])
        assert len(page) <= page_size, f"page of {len(page)} > requested {page_size}"
        items.extend(page)
        sizes.append(len(page))
        token = resp.get(token_out)
        if not token:
            return items, sizes
    pytest.fail(f"pagination did not end after {max_pages} pages")


# --------------------------------------------------------------------------- tokens


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH: base64(HMAC_SHA256(client_secret, username + client_id))."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_header(token: str) -> dict:
    return json.loads(_b64url_decode(token.split(".")[0]))


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, NOT verified (use PyJWT for verification)."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWS compact token: {token[:40]!r}..."
    return json.loads(_b64url_decode(parts[1]))


def tamper(token: str, **changes) -> str:
    """The same token with claims changed (default: `sub`) and the original signature."""
    head, payload, sig = token.split(".")
    claims = json.loads(_b64url_decode(payload))
    if not changes:
        changes = {"sub": "00000000-0000-4000-8000-000000000000"}
    claims.update(changes)
    new_payload = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{new_payload}.{sig}"


def unsigned_copy(token: str) -> str:
    """The token's claims under `alg: none` and no signature."""
    header = {"alg": "none", "typ": "JWT"}
    head = _b64url_encode(json.dumps(header).encode())
    return f"{head}.{token.split('.')[1]}."


# --------------------------------------------------------------------------- tenancy (/v1)
# The control plane of docs/tenancy.md: bearer auth, the `{"error": {"code", "message"}}`
# shape, invitation tokens read from the outbox, tenant users made through invitations, and
# sign-in / refresh with ClientMetadata.tenantId.

#: Meets the default password policy (>= 8 chars, upper, lower, digit, symbol).
TENANT_PASSWORD = "Passw0rd!x"
#: The token line of an invitation message: "Invitation token: <43 base64url chars>".
INVITATION_TOKEN_RE = re.compile(r"token:\s*([A-Za-z0-9_-]{43})(?![A-Za-z0-9_=-])", re.IGNORECASE)
TENANT_CLAIMS = ("custom:tenantId", "custom:tenantName", "custom:tenantTier", "custom:tenantRole")
#: Statuses accepted from `POST /v1/invitations/accept` on success (docs/tenancy.md names the
#: answer's body but not its status).
ACCEPT_OK = (200, 201)
V1_ERROR_CODE_RE = re.compile(r"[a-z][a-z0-9_]*")


def admin_bearer(server: CognateServer) -> str:
    """The platform admin's bearer credential: `{accessKeyId}:{secretAccessKey}`."""
    creds = server.credentials()
    return f"{creds['key']}:{creds['secret']}"


def v1(server: CognateServer, method: str, path: str, *, bearer: str | None = None,
       body=None, params: dict | None = None, headers: dict | None = None,
       timeout: float = 30) -> requests.Response:
    """One `/v1` request; `bearer` is what follows `Authorization: Bearer ` (None: no header)."""
    hdrs = {"Accept": "application/json"}
    if bearer is not None:
        hdrs["Authorization"] = f"Bearer {bearer}"
    hdrs.update(headers or {})
    kwargs = {} if body is None else {"json": body}
    return requests.request(method, server.url + path, headers=hdrs, params=params,
                            timeout=timeout, **kwargs)


def v1_error(resp: requests.Response) -> dict:
    """The `{"code", "message"}` of a `/v1` error answer, after checking the body's shape."""
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"/v1 error body is not JSON (HTTP {resp.status_code}): {resp.text[:500]!r}")
    assert isinstance(body, dict) and set(body) == {"error"}, (
        f"/v1 error body is not {{'error': {{...}}}} (HTTP {resp.status_code}): {body!r}")
    err = body["error"]
    assert isinstance(err, dict) and {"code", "message"} <= set(err), f"error shape: {body!r}"
    assert isinstance(err["code"], str) and V1_ERROR_CODE_RE.fullmatch(err["code"]), body
    assert isinstance(err["message"], str) and err["message"], f"error without a message: {body!r}"
    return err


def assert_v1_error(resp: requests.Response, status: int, code: str | None = None) -> dict:
    """Expect a `/v1` error with this HTTP status (and code); returns the error object."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.path_url}: expected HTTP {status}"
        f"{' ' + code if code else ''}, got {resp.status_code}: {resp.text[:500]!r}")
    err = v1_error(resp)
    if code is not None:
        assert err["code"] == code, f"expected error code {code}, got {err!r}"
    return err


def v1_ok(resp: requests.Response, status: int | tuple = 200):
    """Expect a success with this status (or one of these); returns the JSON body (None for 204)."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (
        f"{resp.request.method} {resp.request.path_url}: expected HTTP {statuses}, got "
        f"{resp.status_code}: {resp.text[:500]!r}")
    if resp.status_code == 204:
        assert not resp.content, f"204 with a body: {resp.text[:200]!r}"
        return None
    return resp.json()


@dataclass
class TenantUser:
    """A user made through an invitation (email verified), with the tenant they joined first."""
    email: str
    sub: str
    tenant_id: str
    role: str
    password: str = TENANT_PASSWORD


def tenant_claims(token: str) -> dict:
    """The tenant claims and groups of a token (unverified): {claim: value or None}."""
    claims = jwt_claims(token)
    out = {k: claims.get(k) for k in TENANT_CLAIMS}
    out["cognito:groups"] = claims.get("cognito:groups")
    return out


def assert_tenant_token(token: str, tenant_id: str, role: str, *, name: str | None = None,
                        tier: str | None = None) -> dict:
    """The token names this active tenant and role; `cognito:groups` holds that tenant's role
    group and no other. Returns all claims (unverified)."""
    claims = jwt_claims(token)
    got = tenant_claims(token)
    assert got["custom:tenantId"] == tenant_id, f"expected tenant {tenant_id}: {got!r}"
    assert got["custom:tenantRole"] == role, f"expected role {role}: {got!r}"
    if name is not None:
        assert got["custom:tenantName"] == name, got
    if tier is not None:
        assert got["custom:tenantTier"] == tier, got
    assert got["cognito:groups"] == [f"{tenant_id}-{role}"], (
        f"groups must be exactly the active tenant's role group: {got!r}")
    return claims


def assert_tenant_tokens(result: dict, tenant: dict, role: str, **kw) -> dict:
    """Both tokens of an AuthenticationResult (or a switch-tenant answer) name `tenant` (a
    tenant JSON: id, name, tier) and `role`; returns the access token's claims."""
    access = result.get("AccessToken") or result.get("accessToken")
    id_token = result.get("IdToken") or result.get("idToken")
    assert access and id_token, f"no tokens in {result!r}"
    kw.setdefault("name", tenant.get("name"))
    kw.setdefault("tier", tenant.get("tier"))
    assert_tenant_token(id_token, tenant["id"], role, **kw)
    return assert_tenant_token(access, tenant["id"], role, **kw)


def assert_no_tenant_claims(token: str) -> None:
    got = tenant_claims(token)
    assert all(got[k] is None for k in TENANT_CLAIMS), f"unexpected tenant claims: {got!r}"


class Tenancy:
    """The tenancy API of one server, driven as the platform admin unless told otherwise."""

    def __init__(self, server: CognateServer):
        self.server = server
        self.cognito = server.cognito
        self.admin = admin_bearer(server)
        self._shared: tuple[str, str] | None = None

    # ---- raw calls

    def call(self, method: str, path: str, *, bearer: str | None, body=None,
             params: dict | None = None) -> requests.Response:
        return v1(self.server, method, path, bearer=bearer, body=body, params=params)

    def as_admin(self, method: str, path: str, body=None, params: dict | None = None,
                 status: int | tuple = 200):
        """A platform admin call that must succeed with `status`; returns the JSON body."""
        return v1_ok(self.call(method, path, bearer=self.admin, body=body, params=params), status)

    def list_all(self, path: str, *, bearer: str | None = None, max_pages: int = 50) -> list[dict]:
        """Every item of a `/v1` list, following `nextCursor` (limit 100)."""
        items: list[dict] = []
        cursor = None
        for _ in range(max_pages):
            params = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = v1_ok(self.call("GET", path, bearer=bearer or self.admin, params=params))
            assert isinstance(page.get("items"), list) and "nextCursor" in page, page
            items.extend(page["items"])
            cursor = page["nextCursor"]
            if not cursor:
                return items
        pytest.fail(f"{path}: pagination did not end after {max_pages} pages")

    # ---- tenants and placement

    def create_tenant(self, prefix: str = "t", tier: str = "standard", *,
                      name: str | None = None, **extra) -> dict:
        """A tenant with a unique id `{prefix}-{uid}` (name defaults to the prefix, titled)."""
        body = {"id": f"{prefix}-{uid()}", "name": name or prefix.title(), "tier": tier, **extra}
        tenant = self.as_admin("POST", "/v1/tenants", body, status=201)
        assert tenant["id"] == body["id"] and tenant["tier"] == tier, tenant
        return tenant

    def tenant(self, tenant_id: str) -> dict:
        return self.as_admin("GET", f"/v1/tenants/{tenant_id}")

    def discover(self, email: str) -> dict:
        """`GET /v1/discovery?email=` without credentials."""
        return v1_ok(self.call("GET", "/v1/discovery", bearer=None, params={"email": email}))

    def shared_placement(self) -> tuple[str, str]:
        """(poolId, clientId) of the shared pool: what discovery answers for an unknown domain."""
        if self._shared is None:
            found = self.discover(f"probe@{uid()}.example.com")
            assert found["tenantId"] is None, found
            self._shared = (found["poolId"], found["clientId"])
        return self._shared

    # ---- outbox and invitations

    def outbox_for(self, email: str, limit: int = 200) -> list[dict]:
        """Outbox messages to `email` (any pool), newest first."""
        out = self.server.cli("outbox", "--limit", str(limit)).stdout
        msgs = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [m for m in msgs if str(m.get("destination") or "").lower() == email.lower()]

    def invitation_token(self, email: str, *, not_in: set | None = None,
                         timeout: float = 10.0) -> str:
        """The token of the newest outbox message to `email` whose id is not in `not_in`."""
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.outbox_for(email):
                if not_in and msg.get("id") in not_in:
                    continue
                m = INVITATION_TOKEN_RE.search(msg.get("body") or "")
                assert m, f"no invitation token in the outbox message {msg!r}"
                return m.group(1)
            if time.monotonic() > deadline:
                pytest.fail(f"no (new) invitation message to {email} in the outbox", pytrace=False)
            time.sleep(0.1)

    def invite(self, tenant_id: str, email: str, role: str, *, bearer: str | None = None,
               expires_in: int | None = None) -> tuple[dict, str]:
        """Create an invitation (as the platform admin unless `bearer`); returns (invitation,
        token read from the outbox)."""
        seen = {m.get("id") for m in self.outbox_for(email)}
        body = {"email": email, "role": role}
        if expires_in is not None:
            body["expiresInSeconds"] = expires_in
        resp = self.call("POST", f"/v1/tenants/{tenant_id}/invitations",
                         bearer=bearer or self.admin, body=body)
        invitation = v1_ok(resp, 201)
        token = self.invitation_token(email, not_in=seen)
        assert token not in resp.text, "the invitation token must never be returned by the API"
        return invitation, token

    def accept(self, token: str, *, password: str | None = None,
               bearer: str | None = None) -> requests.Response:
        body = {"token": token}
        if password is not None:
            body["password"] = password
        return self.call("POST", "/v1/invitations/accept", bearer=bearer, body=body)

    def new_user(self, tenant_id: str, role: str, *, email: str | None = None,
                 password: str = TENANT_PASSWORD) -> TenantUser:
        """Invite a new address and accept anonymously: the account is created in the tenant's
        pool with a verified email."""
        email = email or f"{role.replace('_', '-')}-{uid()}@example.com"
        _, token = self.invite(tenant_id, email, role)
        answer = v1_ok(self.accept(token, password=password), ACCEPT_OK)
        assert answer["tenantId"] == tenant_id and answer["role"] == role and answer["sub"], answer
        return TenantUser(email=email, sub=answer["sub"], tenant_id=tenant_id, role=role,
                          password=password)

    def join(self, tenant_id: str, user: TenantUser, role: str, access_token: str) -> dict:
        """Invite an existing user and accept with their access token; returns the answer."""
        _, token = self.invite(tenant_id, user.email, role)
        answer = v1_ok(self.accept(token, bearer=access_token), ACCEPT_OK)
        assert answer["tenantId"] == tenant_id and answer["role"] == role, answer
        assert answer["sub"] == user.sub, answer
        return answer

    # ---- sign-in with the active tenant

    def sign_in(self, client_id: str, username: str, password: str = TENANT_PASSWORD,
                tenant_id: str | None = None) -> dict:
        """InitiateAuth USER_PASSWORD_AUTH (ClientMetadata.tenantId when given) -> tokens."""
        kw = {"ClientMetadata": {"tenantId": tenant_id}} if tenant_id is not None else {}
        resp = self.cognito.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password}, **kw)
        assert "AuthenticationResult" in resp, f"expected tokens, got {resp!r}"
        return resp["AuthenticationResult"]

    def refresh(self, client_id: str, refresh_token: str, tenant_id: str | None = None) -> dict:
        """InitiateAuth REFRESH_TOKEN_AUTH (ClientMetadata.tenantId when given) -> tokens."""
        kw = {"ClientMetadata": {"tenantId": tenant_id}} if tenant_id is not None else {}
        resp = self.cognito.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                          AuthParameters={"REFRESH_TOKEN": refresh_token}, **kw)
        assert "AuthenticationResult" in resp, f"expected tokens, got {resp!r}"
        return resp["AuthenticationResult"]

    def me(self, access_token: str) -> dict:
        return v1_ok(self.call("GET", "/v1/me", bearer=access_token))

    def switch(self, access_token: str, tenant_id: str) -> requests.Response:
        return self.call("POST", "/v1/me/switch-tenant", bearer=access_token,
                         body={"tenantId": tenant_id})
