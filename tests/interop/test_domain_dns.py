"""Domain verification by DNS, against a real DNS server: Debian's dnsmasq, authoritative for
`.test` on a free loopback port, and Cognate started with `COGNATE_DNS_NAMESERVER` pointing at
it (both backends).

What it proves: a missing record, a wrong value and another tenant's value are refused with
their own codes; the claim's own record verifies it and discovery then routes to the tenant;
a member cannot ask for a check and a tenant admin cannot attest; a platform admin still
attests without DNS; a dead nameserver is a fast `503 dns_unavailable`, never a 500.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from cognate_harness import Tenancy, assert_v1_error, dispose_server, uid, v1_ok
from conftest import BACKENDS, start_backend

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def txt_query(port: int, name: str, timeout: float = 0.5) -> int | None:
    """The RCODE of a TXT query for `name` at 127.0.0.1:port, or None without an answer."""
    qid = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 16, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(packet, ("127.0.0.1", port))
            answer = s.recv(4096)
        except OSError:
            return None
    return answer[3] & 0x0F if answer[:2] == qid.to_bytes(2, "big") else None


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port, authoritative for `.test` (unknown names are NXDOMAIN), with
    the TXT records it is given; `serve()` restarts it with new ones on the same port."""

    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def serve(self, records: dict[str, list[str]]) -> None:
        self.stop()
        args = [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=", "--local=/test/", "--log-facility=-"]
        if os.geteuid() == 0:
            args.append("--user=root")
        args += [f"--txt-record={name},{value}" for name, values in records.items()
                 for value in values]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while txt_query(self.port, "ready.test") is None:
            if self.proc.poll() is not None:
                pytest.fail(f"dnsmasq exited: {self.proc.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail("dnsmasq did not answer within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            self.proc = None


@pytest.fixture(scope="module", params=BACKENDS)
def world(request):
    """(Tenancy, Dnsmasq): a server of this module's own asking the loopback dnsmasq."""
    if not os.path.exists(DNSMASQ):
        pytest.fail("dnsmasq is not installed (scripts/test installs dnsmasq-base)")
    dns = Dnsmasq()
    dns.serve({})
    server = start_backend(request.param, {"COGNATE_DNS_NAMESERVER": f"127.0.0.1:{dns.port}"})
    try:
        yield Tenancy(server), dns
    finally:
        dispose_server(server)
        dns.stop()


def claim(api: Tenancy, prefix: str) -> tuple[dict, str, dict]:
    """A tenant with one claimed domain under `.test`: (tenant, domain, verificationRecord)."""
    tenant = api.create_tenant(prefix)
    domain = f"{prefix}-{uid()}.test"
    made = api.as_admin("POST", f"/v1/tenants/{tenant['id']}/domains", {"domain": domain}, status=201)
    record = made["verificationRecord"]
    assert record["type"] == "TXT" and record["name"] == f"_cognate.{domain}", record
    assert record["value"].startswith("cognate-verification="), record
    return tenant, domain, record


def test_the_claims_own_record_verifies_it_and_nothing_else_does(world):
    api, dns = world
    acme, domain, record = claim(api, "acme")
    _, _, evil_record = claim(api, "evil")
    verify = f"/v1/tenants/{acme['id']}/domains/{domain}/verify"
    admin = api.sign_in(acme["clientId"], api.new_user(acme["id"], "admin").email)["AccessToken"]
    member = api.sign_in(acme["clientId"], api.new_user(acme["id"], "member").email)["AccessToken"]

    # the record is shown again, the same, on a later read of the one domain
    again = v1_ok(api.call("GET", f"/v1/tenants/{acme['id']}/domains/{domain}", bearer=admin))
    assert again["verificationRecord"] == record and again["verified"] is False, again

    # nothing published: NXDOMAIN from the authoritative server
    dns.serve({})
    assert txt_query(dns.port, record["name"]) == 3
    assert_v1_error(api.call("POST", verify, bearer=admin), 422, "dns_record_missing")

    # another tenant's value and a near miss at this name: refused, the claim stays unverified
    dns.serve({record["name"]: [evil_record["value"], record["value"] + "x"]})
    assert_v1_error(api.call("POST", verify, bearer=admin, body={"method": "dns"}), 422,
                    "dns_record_mismatch")
    assert api.discover(f"ann@{domain}")["tenantId"] is None

    # the right value, among others: a member may not ask, a tenant admin may not attest
    dns.serve({record["name"]: ["v=spf1 -all", record["value"]]})
    assert_v1_error(api.call("POST", verify, bearer=member), 403, "forbidden")
    assert_v1_error(api.call("POST", verify, bearer=admin, body={"method": "attest"}), 403,
                    "forbidden")
    assert_v1_error(api.call("POST", verify, bearer=admin, body={"method": "guess"}), 400,
                    "invalid_request")
    verified = v1_ok(api.call("POST", verify, bearer=admin))
    assert verified["verified"] is True and verified["verificationRecord"] is None, verified
    found = api.discover(f"ann@{domain}")
    assert found["tenantId"] == acme["id"] and found["poolId"] == acme["poolId"], found

    # idempotent, even once the record is gone
    dns.serve({})
    assert v1_ok(api.call("POST", verify, bearer=admin))["verified"] is True

    # the checks are in the tenant's audit trail (written shortly after the answer)
    deadline = time.monotonic() + 10
    while True:
        events = api.list_all(f"/v1/tenants/{acme['id']}/audit")
        if sum(e.get("action") == "domain.verify" for e in events) >= 6:
            break
        assert time.monotonic() < deadline, [e.get("action") for e in events]
        time.sleep(0.2)


def test_another_tenants_published_record_does_not_verify_this_claim(world):
    """Evil claims a domain and publishes, at the victim's claim name, its own valid record:
    the victim's claim is not verified by it, and Evil cannot check a claim it does not hold."""
    api, dns = world
    victim, domain, record = claim(api, "victim")
    evil, evil_domain, evil_record = claim(api, "evil")
    evil_admin = api.sign_in(evil["clientId"], api.new_user(evil["id"], "admin").email)["AccessToken"]
    dns.serve({record["name"]: [evil_record["value"]], evil_record["name"]: [record["value"]]})
    assert_v1_error(api.call("POST", f"/v1/tenants/{victim['id']}/domains/{domain}/verify",
                             bearer=evil_admin), 403, "forbidden")
    assert_v1_error(api.call("POST", f"/v1/tenants/{evil['id']}/domains/{evil_domain}/verify",
                             bearer=evil_admin), 422, "dns_record_mismatch")
    assert api.as_admin("GET", f"/v1/tenants/{victim['id']}/domains/{domain}")["verified"] is False


def test_platform_admins_check_dns_by_default_and_may_attest(world):
    api, dns = world
    tenant, domain, record = claim(api, "initech")
    verify = f"/v1/tenants/{tenant['id']}/domains/{domain}/verify"
    dns.serve({})
    assert_v1_error(api.call("POST", verify, bearer=api.admin), 422, "dns_record_missing")
    attested = api.as_admin("POST", verify, {"method": "attest"})
    assert attested["verified"] is True and attested["verificationRecord"] is None, attested
    assert api.discover(f"bob@{domain}")["tenantId"] == tenant["id"]


def test_a_dead_nameserver_is_a_clear_fast_error(world):
    api, dns = world
    tenant, domain, _ = claim(api, "globex")
    admin = api.sign_in(tenant["clientId"], api.new_user(tenant["id"], "admin").email)["AccessToken"]
    dns.stop()
    try:
        started = time.monotonic()
        resp = api.call("POST", f"/v1/tenants/{tenant['id']}/domains/{domain}/verify", bearer=admin)
        elapsed = time.monotonic() - started
        assert_v1_error(resp, 503, "dns_unavailable")
        assert elapsed < 8, f"the lookup took {elapsed:.1f} s"
    finally:
        dns.serve({})
    assert api.as_admin("GET", f"/v1/tenants/{tenant['id']}/domains/{domain}")["verified"] is False
