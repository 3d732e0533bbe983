"""Multi-region (docs/operations.md, "Multi-region"): one Cognate per region, each with its
own database (nothing replicated between them), and one resource server — examples/notes-api
on cognate-guard — trusting both regions' issuers. Pool ids carry the region
(`eu-west-1_…`, `us-east-1_…`) and issuers carry the pool id, so the guard tells the regions
apart by `iss` before it looks at a key. Tokens of both regions are admitted and confined to
their tenant; a token of one region claiming the other's issuer is refused; a key rotation
in one region leaves the other's tokens alone.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from cognate_harness import (
    CognateServer, Tenancy, cognate_bin, dispose_server, jwt_claims, jwt_header, new_server, tamper, uid,
)

REGIONS = ("eu-west-1", "us-east-1")


class Region:
    """A Cognate serving one region, its shared pool, and a tenant with an admin."""

    def __init__(self, name: str):
        self.name = name
        self.server: CognateServer = new_server("sqlite")
        self.server.extra_env["COGNATE_REGION"] = name
        self.server.start()
        self.tenancy = Tenancy(self.server)
        self.pool, self.client = self.tenancy.shared_placement()
        # Tenant ids are chosen per region but must be unique across regions: the guard
        # confines data by `custom:tenantId` alone.
        self.tenant = self.tenancy.create_tenant(f"{name.split('-')[0]}-co")
        self.user = self.tenancy.new_user(self.tenant["id"], "admin")

    def sign_in(self) -> dict:
        return self.tenancy.sign_in(self.client, self.user.email, tenant_id=self.tenant["id"])

    @property
    def issuer(self) -> str:
        return f"{self.server.url}/{self.pool}"


@pytest.fixture(scope="module")
def regions():
    made: list[Region] = []
    try:
        for name in REGIONS:
            made.append(Region(name))
        yield made
    finally:
        for region in made:
            dispose_server(region.server)


@pytest.fixture(scope="module")
def notes(regions, tmp_path_factory):
    """notes-api trusting the shared pool of each region (access tokens)."""
    binary = cognate_bin().parent / "notes-api"
    if not binary.exists():
        pytest.fail(f"notes-api binary not found at {binary} (cargo build -p notes-api)")
    tmp = tmp_path_factory.mktemp("notes")
    issuers = ";".join(f"cognate|{r.server.url}|{r.pool}|{r.client}" for r in regions)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
    env.update({"NOTES_DATABASE_URL": f"sqlite://{tmp}/notes.db", "NOTES_LISTEN": "127.0.0.1:0",
                "NOTES_ISSUERS": issuers})
    log = open(tmp / "notes-stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("notes-api listening on "), (line, (tmp / "notes-stderr.log").read_text())
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def call(notes: str, method: str, path: str, token: str, **kw) -> requests.Response:
    return requests.request(method, notes + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kw)


def test_pool_ids_and_issuers_carry_the_region(regions):
    for region in regions:
        assert region.pool.startswith(region.name + "_"), region.pool
        claims = jwt_claims(region.sign_in()["AccessToken"])
        assert claims["iss"] == region.issuer and claims["custom:tenantId"] == region.tenant["id"], claims
    # Nothing is replicated: each region knows only its own tenants.
    eu, us = regions
    assert eu.tenancy.call("GET", f"/v1/tenants/{us.tenant['id']}", bearer=eu.tenancy.admin).status_code == 404
    assert us.tenancy.call("GET", f"/v1/tenants/{eu.tenant['id']}", bearer=us.tenancy.admin).status_code == 404


def test_both_regions_are_admitted_and_confined_to_their_tenant(regions, notes):
    eu, us = regions
    eu_token, us_token = eu.sign_in()["AccessToken"], us.sign_in()["AccessToken"]
    made = {}
    for region, token in ((eu, eu_token), (us, us_token)):
        resp = call(notes, "POST", "/api/projects", token, json={"name": f"{region.name} plan {uid(4)}"})
        assert resp.status_code in (200, 201), resp.text
        made[region.name] = resp.json()
    for region, token, other in ((eu, eu_token, us), (us, us_token, eu)):
        listed = call(notes, "GET", "/api/projects", token)
        assert listed.status_code == 200, listed.text
        names = [p["name"] for p in listed.json()]
        assert made[region.name]["name"] in names and made[other.name]["name"] not in names, names
        assert call(notes, "GET", f"/api/projects/{made[other.name]['id']}", token).status_code == 404
        assert call(notes, "DELETE", f"/api/projects/{made[other.name]['id']}", token).status_code == 404


def test_a_token_claiming_the_other_regions_issuer_is_refused(regions, notes):
    eu, us = regions
    eu_token = eu.sign_in()["AccessToken"]
    assert call(notes, "GET", "/api/projects", eu_token).status_code == 200
    forged = [
        tamper(eu_token, iss=us.issuer),  # region A's signature, region B's issuer
        tamper(eu_token, iss=us.issuer, client_id=us.client),
        tamper(eu_token, **{"custom:tenantId": us.tenant["id"]}),
    ]
    for token in forged:
        resp = call(notes, "GET", "/api/projects", token)
        assert resp.status_code == 401, (jwt_claims(token), resp.text)
        assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    # Region B's Cognate refuses it too: its pool never issued it.
    resp = requests.post(us.server.url + "/", json={"AccessToken": forged[0]}, timeout=10, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.GetUser"})
    assert resp.status_code == 400 and resp.json()["__type"] == "NotAuthorizedException", resp.text


def test_a_key_rotation_in_one_region_leaves_the_other_alone(regions, notes):
    eu, us = regions
    eu_before, us_before = eu.sign_in()["AccessToken"], us.sign_in()["AccessToken"]
    us_kids = us.server.kids(us.pool)
    new_kid = eu.server.rotate_key(eu.pool)
    assert us.server.kids(us.pool) == us_kids
    # The eu node signs with the new key once its cache turns over (a few seconds at most).
    deadline = time.monotonic() + 15
    while jwt_header(eu_after := eu.sign_in()["AccessToken"])["kid"] != new_kid:
        assert time.monotonic() < deadline, "the eu node never signed with the new key"
        time.sleep(0.2)
    # The guard fetches eu's new key (an unknown kid of a configured issuer); tokens of the
    # old eu key (still published) and of us are unaffected.
    for token in (eu_after, eu_before, us_before, us.sign_in()["AccessToken"]):
        resp = call(notes, "GET", "/api/projects", token)
        assert resp.status_code == 200, (jwt_claims(token)["iss"], resp.text)
