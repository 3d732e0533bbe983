"""Webhooks (docs/operations.md, "Webhooks"), received by a local HTTP server that verifies
every delivery with the Standard Webhooks reference library (`standardwebhooks`).

Each test starts a server of its own with a fast retry schedule
(COGNATE_WEBHOOK_RETRY_BASE_MS=50: retries after ~50 ms, ~3 s, …) on both backends.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.exceptions
import pyotp
import pytest
import standardwebhooks

from cognate_harness import Tenancy, assert_v1_error, uid, v1, v1_ok

FAST = {"COGNATE_WEBHOOK_RETRY_BASE_MS": "50", "COGNATE_THROTTLE_IP_FAILURES": "100000"}
PASSWORD = "Corr3ct-Horse!"


class Receiver:
    """A local receiver. Each path answers a script of statuses in turn (then 204), and
    records (path, headers, body) of every request."""

    def __init__(self):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.scripts: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with outer.lock:
                    outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    script = outer.scripts.get(self.path, [])
                    status = script.pop(0) if script else 204
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str, script: list[int] | None = None) -> str:
        self.scripts[path] = list(script or [])
        return self.base + path

    def at(self, path: str) -> list[tuple[dict, bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]

    def events(self, path: str, secret: str) -> list[dict]:
        """Every delivery to `path`, each verified with `secret`, as (type, data, id)."""
        out = []
        for headers, body in self.at(path):
            payload = standardwebhooks.Webhook(secret).verify(body, headers)
            out.append({"type": payload["type"], "data": payload["data"], "id": headers["webhook-id"]})
        return out

    def wait_for(self, path: str, predicate, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if predicate(got):
                return got
            time.sleep(0.05)
        pytest.fail(f"{path}: condition not met; got {[(h.get('webhook-id'), b[:120]) for h, b in self.at(path)]}")

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def create_hook(t: Tenancy, path_prefix: str, url: str, types=None, bearer=None) -> dict:
    body = {"url": url, "description": "it"}
    if types is not None:
        body["eventTypes"] = types
    return v1_ok(t.call("POST", f"{path_prefix}/webhooks", bearer=bearer or t.admin, body=body), 201)


def types_at(receiver: Receiver, path: str, secret: str) -> list[str]:
    return [e["type"] for e in receiver.events(path, secret)]


def wait_types(receiver: Receiver, path: str, secret: str, wanted: set[str], timeout: float = 30.0) -> list[dict]:
    receiver.wait_for(path, lambda got: wanted <= {json.loads(b)["type"] for _, b in got}, timeout)
    return receiver.events(path, secret)


def test_a_tenant_story_is_reported_signed_and_to_its_own_endpoints_only(fresh_server, receiver):
    srv = fresh_server(FAST)
    t = Tenancy(srv)
    platform = create_hook(t, "/v1", receiver.url("/platform"))
    acme = t.create_tenant("acme", tier="platinum")
    other = t.create_tenant("other")
    hook = create_hook(t, f"/v1/tenants/{acme['id']}", receiver.url("/acme"))
    other_hook = create_hook(t, f"/v1/tenants/{other['id']}", receiver.url("/other"))
    assert hook["secret"].startswith("whsec_") and hook["tenantId"] == acme["id"]
    tid = acme["id"]

    # Members: an invitation accepted (a new account), a role change, a removal.
    member = t.new_user(tid, "member")
    v1_ok(t.call("PATCH", f"/v1/tenants/{tid}/members/{member.sub}", bearer=t.admin, body={"role": "read_only"}))
    invited, _ = t.invite(tid, f"later-{uid()}@example.com", "member")
    v1_ok(t.call("DELETE", f"/v1/tenants/{tid}/invitations/{invited['id']}", bearer=t.admin), 204)
    # API keys.
    key = t.as_admin("POST", f"/v1/tenants/{tid}/api-keys", {"name": "ci", "scopes": ["read"]}, status=201)
    rotated = t.as_admin("POST", f"/v1/tenants/{tid}/api-keys/{key['id']}/rotate", {}, status=(200, 201))
    v1_ok(t.call("DELETE", f"/v1/tenants/{tid}/api-keys/{rotated['id']}", bearer=t.admin), (200, 204))
    # The Cognito API on the tenant's dedicated pool.
    idp = srv.cognito
    pool = acme["poolId"]
    name = f"bob-{uid()}"
    idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}])
    idp.admin_update_user_attributes(UserPoolId=pool, Username=name,
                                     UserAttributes=[{"Name": "name", "Value": "Bob"}])
    idp.admin_disable_user(UserPoolId=pool, Username=name)
    idp.admin_delete_user(UserPoolId=pool, Username=name)
    # Sign-in failures, then a lock (5 failures), then MFA enrolment of the member.
    client = acme["clientId"]
    for i in range(5):
        with pytest.raises(botocore.exceptions.ClientError):
            t.sign_in(client, member.email, f"Wrong-{i}-pass!", tenant_id=tid)
    # Suspension and reactivation, then a tier change.
    t.as_admin("POST", f"/v1/tenants/{tid}/suspend")
    t.as_admin("POST", f"/v1/tenants/{tid}/reactivate")
    # Removal last (the member's sign-ins above).
    v1_ok(t.call("DELETE", f"/v1/tenants/{tid}/members/{member.sub}", bearer=t.admin), 204)

    wanted = {
        "invitation.created", "invitation.accepted", "invitation.revoked", "user.created",
        "membership.added", "membership.role_changed", "membership.removed",
        "api_key.created", "api_key.rotated", "api_key.revoked",
        "user.updated", "user.disabled", "user.deleted",
        "sign_in.failed", "sign_in.locked", "tenant.suspended", "tenant.reactivated",
    }
    events = wait_types(receiver, "/acme", hook["secret"], wanted)
    for e in events:
        assert e["data"].get("tenantId") == tid, e
        text = json.dumps(e["data"])
        assert key.get("key", "#none#") not in text and "Wrong-" not in text, e
    plat = wait_types(receiver, "/platform", platform["secret"], wanted | {"tenant.created"})
    assert {e["data"].get("tenantId") for e in plat} >= {tid, other["id"]}
    # The other tenant's endpoint heard nothing of acme.
    assert all(e["data"].get("tenantId") == other["id"] for e in receiver.events("/other", other_hook["secret"]))
    # A receiver holding another endpoint's secret cannot verify these deliveries.
    h, b = receiver.at("/acme")[0]
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other_hook["secret"]).verify(b, h)


def test_mfa_enrolment_is_reported(fresh_server, receiver):
    srv = fresh_server(FAST)
    t = Tenancy(srv)
    acme = t.create_tenant("mfa", tier="platinum")
    hook = create_hook(t, f"/v1/tenants/{acme['id']}", receiver.url("/mfa"), ["mfa.enrolled"])
    member = t.new_user(acme["id"], "member")
    tokens = t.sign_in(acme["clientId"], member.email, tenant_id=acme["id"])
    secret = srv.cognito.associate_software_token(AccessToken=tokens["AccessToken"])["SecretCode"]
    srv.cognito.verify_software_token(AccessToken=tokens["AccessToken"], UserCode=pyotp.TOTP(secret).now())
    events = wait_types(receiver, "/mfa", hook["secret"], {"mfa.enrolled"})
    assert [e["type"] for e in events] == ["mfa.enrolled"]
    assert events[0]["data"]["sub"] == member.sub and "secret" not in json.dumps(events[0]["data"]).lower()


def test_a_flaky_endpoint_is_retried_with_the_same_id_then_410_disables(fresh_server, receiver):
    srv = fresh_server(FAST)
    t = Tenancy(srv)
    tid = t.create_tenant("flaky")["id"]
    hook = create_hook(t, f"/v1/tenants/{tid}", receiver.url("/flaky", [500, 503]))
    sent = t.as_admin("POST", f"/v1/tenants/{tid}/webhooks/{hook['id']}/test", status=202)
    got = receiver.wait_for("/flaky", lambda g: len(g) >= 3, timeout=20)
    ids = {h["webhook-id"] for h, _ in got}
    assert ids == {sent["id"]}, ids
    assert [e["type"] for e in receiver.events("/flaky", hook["secret"])] == ["webhook.test"] * 3
    log = t.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook['id']}/deliveries")["items"]
    deadline = time.monotonic() + 10
    while log[0]["status"] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.1)
        log = t.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook['id']}/deliveries")["items"]
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 3, log[0]
    assert [a["statusCode"] for a in log[0]["attemptLog"]] == [500, 503, 204]
    failed = t.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook['id']}/deliveries",
                        params={"status": "failed"})["items"]
    assert failed == []

    # Replay: the same webhook-id again.
    t.as_admin("POST", f"/v1/tenants/{tid}/webhooks/{hook['id']}/deliveries/{sent['id']}/replay", status=202)
    got = receiver.wait_for("/flaky", lambda g: len(g) >= 4)
    assert got[-1][0]["webhook-id"] == sent["id"]

    # 410 Gone disables the endpoint at once.
    gone = create_hook(t, f"/v1/tenants/{tid}", receiver.url("/gone", [410]))
    t.as_admin("POST", f"/v1/tenants/{tid}/webhooks/{gone['id']}/test", status=202)
    receiver.wait_for("/gone", lambda g: len(g) >= 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        view = t.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{gone['id']}")
        if not view["enabled"]:
            break
        time.sleep(0.1)
    assert view["enabled"] is False and "410" in view["disabledReason"], view
    assert_v1_error(t.call("POST", f"/v1/tenants/{tid}/webhooks/{gone['id']}/test", bearer=t.admin), 409)


def test_rotation_signs_with_both_secrets(fresh_server, receiver):
    srv = fresh_server(FAST)
    t = Tenancy(srv)
    tid = t.create_tenant("rot")["id"]
    hook = create_hook(t, f"/v1/tenants/{tid}", receiver.url("/rot"))
    rotated = t.as_admin("POST", f"/v1/tenants/{tid}/webhooks/{hook['id']}/rotate-secret")
    assert rotated["secret"] != hook["secret"] and rotated["previousSecretUntil"]
    assert "secret" not in t.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook['id']}")
    t.as_admin("POST", f"/v1/tenants/{tid}/webhooks/{hook['id']}/test", status=202)
    headers, body = receiver.wait_for("/rot", lambda g: len(g) >= 1)[0]
    sigs = headers["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs), sigs
    for secret in (hook["secret"], rotated["secret"]):
        assert standardwebhooks.Webhook(secret).verify(body, headers)["type"] == "webhook.test"


def test_cross_tenant_ids_and_roles_are_refused(fresh_server, receiver):
    srv = fresh_server(FAST)
    t = Tenancy(srv)
    a, b = t.create_tenant("a")["id"], t.create_tenant("b")["id"]
    hook = create_hook(t, f"/v1/tenants/{a}", receiver.url("/a"))
    assert_v1_error(t.call("GET", f"/v1/tenants/{b}/webhooks/{hook['id']}", bearer=t.admin), 404, "not_found")
    assert_v1_error(t.call("GET", f"/v1/webhooks/{hook['id']}", bearer=t.admin), 404, "not_found")
    admin_b = t.new_user(b, "admin")
    shared_client = t.shared_placement()[1]
    token = t.sign_in(shared_client, admin_b.email, tenant_id=b)["AccessToken"]
    assert_v1_error(t.call("GET", f"/v1/tenants/{a}/webhooks", bearer=token), 403)
    assert_v1_error(t.call("GET", f"/v1/tenants/{a}/webhooks/{hook['id']}", bearer=token), 403)
    assert_v1_error(t.call("GET", "/v1/webhooks", bearer=token), 403)
    own = create_hook(t, f"/v1/tenants/{b}", receiver.url("/b"), bearer=token)
    assert own["tenantId"] == b
    member_b = t.new_user(b, "member")
    member_token = t.sign_in(shared_client, member_b.email, tenant_id=b)["AccessToken"]
    assert_v1_error(t.call("GET", f"/v1/tenants/{b}/webhooks", bearer=member_token), 403)


def test_private_targets_are_refused_unless_allowed(fresh_server):
    srv = fresh_server({**FAST, "COGNATE_OUTBOUND_ALLOW": ""})
    t = Tenancy(srv)
    tid = t.create_tenant("ssrf")["id"]
    for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hook", "http://[::1]/hook",
                "http://localhost:9/hook", "http://vm:9/hook", "http://[::ffff:127.0.0.1]/hook",
                "http://user:pw@example.com/hook", "file:///etc/passwd"]:
        resp = v1(srv, "POST", f"/v1/tenants/{tid}/webhooks", bearer=t.admin, body={"url": url})
        err = assert_v1_error(resp, 400, "invalid_request")
        assert "url" in err["message"].lower(), err
