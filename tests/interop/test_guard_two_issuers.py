"""cognate-guard with one configuration and two issuers: a Cognate pool and a pool of a
Cognito emulator nobody here wrote (moto's server mode, from PyPI), configured as for AWS
(the `https://cognito-idp.{region}.amazonaws.com/{pool}` issuer, JWKS URL overridden to the
emulator). The guard runs inside examples/notes-api, which confines every request to the
token's `custom:tenantId`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
import requests

from cognate_harness import cognate_bin, tamper, uid

PASSWORD = "Tw0-Issuers!ok"
TENANT_SCHEMA = [
    {"Name": "tenantId", "AttributeDataType": "String", "Mutable": True},
    {"Name": "tenantRole", "AttributeDataType": "String", "Mutable": True},
]
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="module")
def moto():
    """moto_server on a free loopback port; yields its base URL."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/moto-api/")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def user_with_tenant(idp, pool_id: str, tenant: str, role: str) -> str:
    username = f"user-{uid()}"
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "custom:tenantId", "Value": tenant},
                                          {"Name": "custom:tenantRole", "Value": role}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True)
    return username


def sign_in(idp, client_id: str, username: str) -> dict:
    return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})["AuthenticationResult"]


def make_pool(idp) -> tuple[str, str]:
    pool = idp.create_user_pool(PoolName=f"two-{uid()}", Schema=TENANT_SCHEMA)["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="notes", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool, client


@pytest.fixture
def two_issuers(server, moto, tmp_path):
    """notes-api trusting a Cognate pool (access tokens) and a moto pool (ID tokens)."""
    cognate = server.cognito
    c_pool, c_client = make_pool(cognate)
    aws = boto3.client("cognito-idp", endpoint_url=moto, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    m_pool, m_client = make_pool(aws)

    binary = cognate_bin().parent / "notes-api"
    if not binary.exists():
        pytest.fail(f"notes-api binary not found at {binary} (cargo build -p notes-api)")
    issuers = (f"cognate|{server.url}|{c_pool}|{c_client};"
               f"aws|{REGION}|{m_pool}|{m_client}|{moto}/{m_pool}/.well-known/jwks.json|id")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
    env.update({"NOTES_DATABASE_URL": f"sqlite://{tmp_path}/notes.db", "NOTES_LISTEN": "127.0.0.1:0",
                "NOTES_ISSUERS": issuers})
    log = open(tmp_path / "notes-stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("notes-api listening on "), (line, (tmp_path / "notes-stderr.log").read_text())
        notes = line.split()[-1]
        yield {"notes": notes, "cognate": (cognate, c_pool, c_client), "aws": (aws, m_pool, m_client)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def call(notes: str, method: str, path: str, token: str, **kw) -> requests.Response:
    return requests.request(method, notes + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw)


def test_one_configuration_accepts_both_issuers_and_keeps_tenants_apart(two_issuers):
    notes = two_issuers["notes"]
    cognate, c_pool, c_client = two_issuers["cognate"]
    aws, m_pool, m_client = two_issuers["aws"]
    acme_token = sign_in(cognate, c_client, user_with_tenant(cognate, c_pool, "acme", "admin"))["AccessToken"]
    moto_tokens = sign_in(aws, m_client, user_with_tenant(aws, m_pool, "globex", "member"))
    globex_token = moto_tokens["IdToken"]

    created = call(notes, "POST", "/api/projects", acme_token, json={"name": "Acme roadmap"})
    assert created.status_code in (200, 201), created.text
    created = call(notes, "POST", "/api/projects", globex_token, json={"name": "Globex plan"})
    assert created.status_code in (200, 201), created.text
    globex_project = created.json()["id"]

    acme_list = call(notes, "GET", "/api/projects", acme_token)
    globex_list = call(notes, "GET", "/api/projects", globex_token)
    assert acme_list.status_code == globex_list.status_code == 200
    assert [p["name"] for p in acme_list.json()] == ["Acme roadmap"]
    assert [p["name"] for p in globex_list.json()] == ["Globex plan"]
    # A Cognate-authenticated acme admin cannot see or delete globex's project.
    assert call(notes, "GET", f"/api/projects/{globex_project}", acme_token).status_code == 404
    assert call(notes, "DELETE", f"/api/projects/{globex_project}", acme_token).status_code == 404
    assert call(notes, "GET", f"/api/projects/{globex_project}", globex_token).status_code == 200


def test_each_issuer_only_gets_what_it_was_configured_for(two_issuers):
    notes = two_issuers["notes"]
    cognate, c_pool, c_client = two_issuers["cognate"]
    aws, m_pool, m_client = two_issuers["aws"]
    c_tokens = sign_in(cognate, c_client, user_with_tenant(cognate, c_pool, "acme", "member"))
    m_tokens = sign_in(aws, m_client, user_with_tenant(aws, m_pool, "globex", "member"))

    def status(token: str) -> int:
        resp = call(notes, "GET", "/api/projects", token)
        if resp.status_code == 401:
            assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        return resp.status_code

    assert status(c_tokens["AccessToken"]) == 200
    assert status(m_tokens["IdToken"]) == 200
    assert status(c_tokens["IdToken"]) == 401  # the Cognate entry accepts access tokens only
    assert status(m_tokens["AccessToken"]) == 401  # the moto entry accepts ID tokens only
    assert status(tamper(c_tokens["AccessToken"], **{"custom:tenantId": "globex"})) == 401
    assert status(tamper(m_tokens["IdToken"], **{"custom:tenantId": "acme"})) == 401
    # A token of another Cognate pool, validly signed, is not from a configured issuer.
    other_pool, other_client = make_pool(cognate)
    other = sign_in(cognate, other_client, user_with_tenant(cognate, other_pool, "acme", "admin"))
    assert status(other["AccessToken"]) == 401
