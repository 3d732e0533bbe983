"""The consoles' webhook and analytics pages in a real browser (Debian's Chromium through
Playwright), on both backends, against what /v1 says.

A tenant admin adds an endpoint (its secret shown once), invites a member and sees the
delivery in the log, replays it, rotates the secret, edits the filter, disables, enables
and deletes the endpoint; a platform admin does the same with a platform endpoint, sets
the price model and downloads the month's statement, which is /v1's to the byte. The
analytics pages show the figures /v1 answers for the month. Another tenant's pages and
ids are refused, and so is every form without its CSRF token.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import standardwebhooks

from cognate_harness import Tenancy, admin_bearer, uid, v1, v1_ok
from test_console import assert_usable, csrf_of, sign_in_admin, sign_in_user
from test_webhooks import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def this_month() -> tuple[str, str, str]:
    """(YYYY-MM, first day, last day) of the current month, UTC."""
    now = datetime.now(timezone.utc)
    first = now.replace(day=1)
    nxt = (first.replace(year=first.year + 1, month=1) if first.month == 12
           else first.replace(month=first.month + 1))
    last = datetime.fromordinal(nxt.toordinal() - 1)
    return first.strftime("%Y-%m"), first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


def wait_page(page, url: str, predicate, timeout: float = 30.0) -> str:
    """Reloads `url` until the main text satisfies `predicate`; returns that text."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        text = page.inner_text("main")
        if predicate(text):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.5)


def secret_on(page) -> str:
    """The secret a page shows once, with its copy button."""
    secret = page.inner_text("#webhook-secret").strip()
    assert secret.startswith("whsec_"), secret
    assert page.locator("button[data-copy=webhook-secret]").count() == 1
    return secret


# --------------------------------------------------------------------------- webhooks


def test_a_tenant_admin_runs_an_endpoint_from_the_console(chromium, server, tenancy, receiver):
    acme = tenancy.create_tenant("hooks")
    tid = acme["id"]
    admin = tenancy.new_user(tid, "admin")
    path = f"/console-{uid(6)}"
    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, admin.email, admin.password)
        page.click("nav.sub >> text=Webhooks")
        assert page.url == f"{server.url}/console/t/{tid}/webhooks"
        assert "No webhook endpoints yet." in page.inner_text("main")
        assert_usable(page)

        # Create, hearing invitations only: the secret once, with a copy button.
        page.fill("#webhook-url", receiver.url(path))
        page.fill("#webhook-description", "console test")
        page.check("input[name='event_invitation.created']")
        page.click("button:text-is('Add endpoint')")
        secret = secret_on(page)
        hooks = tenancy.as_admin("GET", f"/v1/tenants/{tid}/webhooks")["items"]
        assert len(hooks) == 1 and hooks[0]["eventTypes"] == ["invitation.created"], hooks
        hook = hooks[0]["id"]
        page.goto(f"{server.url}/console/t/{tid}/webhooks")
        assert secret not in page.content()
        row = page.locator("tr", has_text=receiver.url(path))
        assert "invitation.created" in row.inner_text() and "none yet" in row.inner_text()

        # A member invited through the console: the event arrives, signed with the secret,
        # and the delivery is in the endpoint's log.
        page.goto(f"{server.url}/console/t/{tid}/members")
        invited = f"new-{uid(6)}@example.com"
        page.fill("#invite-email", invited)
        page.select_option("#invite-role", "member")
        page.click("text=Send invitation")
        assert "Invitation sent." in page.inner_text("[role=status]")
        receiver.wait_for(path, lambda got: len(got) >= 1)
        [event] = receiver.events(path, secret)
        assert event["type"] == "invitation.created" and event["data"]["email"] == invited
        log_url = f"{server.url}/console/t/{tid}/webhooks/{hook}"
        wait_page(page, log_url, lambda t: "delivered" in t and "invitation.created" in t)
        row = page.locator("table tbody tr", has_text="invitation.created")
        assert row.count() == 1 and "204" in row.inner_text() and " ms" in row.inner_text()
        assert_usable(page)
        # The list says how the last delivery went.
        page.goto(f"{server.url}/console/t/{tid}/webhooks")
        assert "delivered (204)" in page.locator("tr", has_text=receiver.url(path)).inner_text()

        # Replay: the same webhook-id again.
        page.goto(log_url)
        page.click(f"button[aria-label='Replay the delivery {event['id']}']")
        assert "queued again" in page.inner_text("[role=status]")
        got = receiver.wait_for(path, lambda g: len(g) >= 2)
        assert got[-1][0]["webhook-id"] == event["id"]

        # Rotate: a new secret, once; the old one still signs beside it for a day.
        page.click("text=Rotate the secret")
        rotated = secret_on(page)
        assert rotated != secret
        assert "also signs until" in page.inner_text("main")
        page.goto(log_url)
        assert rotated not in page.content() and secret not in page.content()
        page.click("text=Send a test event")
        assert "Test event queued" in page.inner_text("[role=status]")
        headers, body = receiver.wait_for(path, lambda g: len(g) >= 3)[-1]
        for s in (secret, rotated):
            assert standardwebhooks.Webhook(s).verify(body, headers)["type"] == "webhook.test"

        # Edit the URL and filter; disable (and why); enable.
        page.click("text=Edit the URL, description and events")
        page.check("input[name='event_membership.added']")
        page.uncheck("input[name='event_invitation.created']")
        page.click("button:text-is('Save')")
        assert "Endpoint saved." in page.inner_text("[role=status]")
        view = tenancy.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook}")
        assert view["eventTypes"] == ["membership.added"], view
        page.click("button:text-is('Disable')")
        assert page.inner_text("#endpoint-state") == "disabled by an admin"
        assert tenancy.as_admin("GET", f"/v1/tenants/{tid}/webhooks/{hook}")["enabled"] is False
        assert page.locator("button", has_text="Replay").count() == 0
        page.click("button:text-is('Enable')")
        assert page.inner_text("#endpoint-state") == "enabled"

        # Delete, behind a confirmation page.
        page.click(f"a[aria-label='Delete the endpoint {receiver.url(path)}']")
        assert "cannot be undone" in page.inner_text("main")
        assert tenancy.as_admin("GET", f"/v1/tenants/{tid}/webhooks")["items"] != []
        page.click("button:text-is('Delete the endpoint')")
        assert "Endpoint deleted" in page.inner_text("[role=status]")
        assert tenancy.as_admin("GET", f"/v1/tenants/{tid}/webhooks")["items"] == []

        # Each action is in the tenant's trail under /v1's name, by this user, and no
        # secret is anywhere in it.
        events = tenancy.as_admin("GET", f"/v1/tenants/{tid}/audit", params={"limit": 100})["items"]
        actions = {e["action"] for e in events if e["actor"] == f"user:{admin.sub}"}
        for action in ("webhook.create", "webhook.replay", "webhook.rotate_secret", "webhook.test",
                       "webhook.update", "webhook.delete"):
            assert action in actions, actions
        assert secret not in json.dumps(events) and rotated not in json.dumps(events)
    finally:
        context.close()


def test_the_platform_portal_runs_platform_endpoints(chromium, server, tenancy, receiver):
    path = f"/platform-{uid(6)}"
    context = chromium.new_context()
    created = None
    try:
        page = sign_in_admin(context, server.url, server.credentials())
        page.click("header.top >> text=Webhooks")
        assert page.url == f"{server.url}/console/admin/webhooks"
        assert "every tenant's events" in page.inner_text("main")
        page.fill("#webhook-url", receiver.url(path))
        page.check("input[name='event_tenant.created']")
        page.click("button:text-is('Add endpoint')")
        secret = secret_on(page)
        created = next(h["id"] for h in tenancy.as_admin("GET", "/v1/webhooks", params={"limit": 100})["items"]
                       if h["url"] == receiver.url(path))
        new = tenancy.create_tenant("heard")
        receiver.wait_for(path, lambda g: len(g) >= 1)
        [event] = receiver.events(path, secret)
        assert event["type"] == "tenant.created" and event["data"]["tenantId"] == new["id"]
        log_url = f"{server.url}/console/admin/webhooks/{created}"
        wait_page(page, log_url, lambda t: "delivered" in t)
        page.click(f"button[aria-label='Replay the delivery {event['id']}']")
        assert receiver.wait_for(path, lambda g: len(g) >= 2)[-1][0]["webhook-id"] == event["id"]
        page.click("text=Rotate the secret")
        assert secret_on(page) != secret
        page.goto(log_url)
        page.click(f"a[aria-label='Delete the endpoint {receiver.url(path)}']")
        page.click("button:text-is('Delete the endpoint')")
        assert page.url.startswith(f"{server.url}/console/admin/webhooks?done=deleted")
        assert created not in {h["id"] for h in tenancy.as_admin("GET", "/v1/webhooks")["items"]}
        created = None
        platform_actions = {e["action"] for e in
                            tenancy.as_admin("GET", "/v1/audit", params={"limit": 100})["items"]}
        for action in ("webhook.create", "webhook.replay", "webhook.rotate_secret", "webhook.delete"):
            assert action in platform_actions, platform_actions
    finally:
        context.close()
        if created:
            tenancy.as_admin("DELETE", f"/v1/webhooks/{created}", status=204)


# --------------------------------------------------------------------------- analytics


def figures_of(page) -> dict:
    return {name: page.inner_text(f"#fig-{name}").strip()
            for name in ("mau", "sign-ins", "failures", "tokens", "api-calls", "mfa")}


def v1_figures(report: dict) -> dict:
    totals = report["totals"]
    adoption = report["mfa"]["adoption"] * 100
    return {
        "mau": str(report["months"][0]["mau"]),
        "sign-ins": str(totals.get("sign_ins", 0)),
        "failures": str(totals.get("sign_in_failures", 0)),
        "tokens": str(sum(n for k, n in totals.items() if k.startswith("tokens."))),
        "api-calls": str(totals.get("api_calls", 0)),
        "mfa": f"{adoption:.0f}%" if round(adoption, 1) == round(adoption) else f"{adoption:.1f}%",
    }


def test_tenant_analytics_show_what_v1_answers(chromium, server, tenancy):
    month, first, last = this_month()
    acme = tenancy.create_tenant("stats")
    tid = acme["id"]
    admin = tenancy.new_user(tid, "admin")
    member = tenancy.new_user(tid, "member")
    _, client_id = tenancy.shared_placement()
    tenancy.sign_in(client_id, member.email, tenant_id=tid)
    key = tenancy.as_admin("POST", f"/v1/tenants/{tid}/api-keys", {"name": "reporting"}, status=201)
    for _ in range(3):
        tenancy.as_admin("POST", "/v1/api-keys/verify", {"key": key["key"]})
    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, admin.email, admin.password)
        page.click("nav.sub >> text=Analytics")
        assert page.url == f"{server.url}/console/t/{tid}/analytics"
        assert page.input_value("#month") == month
        shown = figures_of(page)
        report = tenancy.as_admin("GET", f"/v1/tenants/{tid}/analytics", params={"from": first, "to": last})
        assert shown == v1_figures(report), (shown, report)
        assert int(shown["mau"]) >= 1 and int(shown["sign-ins"]) >= 1 and shown["api-calls"] == "3"
        row = page.locator("#api-calls tr", has_text="reporting")
        assert key["id"] in row.inner_text() and row.inner_text().strip().endswith("3")
        assert page.locator("svg.chart[role=img]").count() == 2
        assert_usable(page)

        # The month picker: an earlier month has nothing of this new tenant.
        page.fill("#month", "2001-02")
        page.click("button:text-is('Show')")
        assert page.url.endswith("/analytics?month=2001-02")
        assert figures_of(page)["sign-ins"] == "0" and "2001-02-28" in page.inner_text("main")
        assert page.goto(f"{server.url}/console/t/{tid}/analytics?month=2001-13").status == 400
        assert page.goto(f"{server.url}/console/t/{tid}/analytics?month=1969-12").status == 400
    finally:
        context.close()


def test_the_portal_shows_cost_shares_and_sets_the_price_model(chromium, server, tenancy):
    month, first, last = this_month()
    bearer = admin_bearer(server)
    before = v1_ok(v1(server, "GET", "/v1/analytics/price-model", bearer=bearer))
    context = chromium.new_context()
    try:
        page = sign_in_admin(context, server.url, server.credentials())
        page.click("header.top >> text=Analytics")
        assert page.url == f"{server.url}/console/admin/analytics"

        # The price model, as decimals with their currency.
        page.fill("#price-currency", "EUR")
        page.fill("#price-mau", "0.0055")
        page.fill("#price-federated", "0.015")
        page.fill("#price-api", "0.01")
        page.fill("#price-pool", "100")
        page.fill("#price-fixed", "250")
        page.click("text=Save the price model")
        assert "Price model saved" in page.inner_text("[role=status]")
        model = v1_ok(v1(server, "GET", "/v1/analytics/price-model", bearer=bearer))
        assert model == {"currency": "EUR", "perMau": "0.005500", "perFederatedMau": "0.015000",
                         "perThousandApiCalls": "0.010000", "perDedicatedPool": "100.000000",
                         "platformFixed": "250.000000"}, model
        assert page.input_value("#price-mau") == "0.0055" and page.input_value("#price-fixed") == "250.00"
        assert "Per monthly active user (EUR)" in page.inner_text("main")
        # A refused amount: /v1's words, the entered values kept, nothing stored.
        page.fill("#price-mau", "-1")
        page.click("text=Save the price model")
        assert "perMau must be a non-negative decimal" in page.inner_text("[role=alert]")
        assert page.input_value("#price-mau") == "-1"
        assert v1_ok(v1(server, "GET", "/v1/analytics/price-model", bearer=bearer)) == model

        # The cost shares and figures are /v1's for the month.
        page.goto(f"{server.url}/console/admin/analytics")
        statement = v1_ok(v1(server, "GET", "/v1/analytics/costs", bearer=bearer, params={"month": month}))
        report = v1_ok(v1(server, "GET", "/v1/analytics", bearer=bearer, params={"from": first, "to": last}))
        assert figures_of(page) == v1_figures(report)
        amount, currency = page.inner_text("#cost-total").split()
        assert Decimal(amount) == Decimal(statement["total"]) and currency == "EUR"
        rows = page.locator("#cost-lines tbody tr")
        assert rows.count() == len(statement["lines"])
        line = next(l for l in statement["lines"] if l["tenantId"])
        row = page.locator(f"#cost-lines tr[data-tenant='{line['tenantId']}']")
        assert row.locator("td[data-label='MAU']").inner_text() == str(line["mau"])
        assert Decimal(row.locator("td[data-label='Total (EUR)']").inner_text()) == Decimal(line["total"])

        # The downloads are /v1's export, to the byte.
        for fmt in ("csv", "json"):
            mine = context.request.get(f"{server.url}/console/admin/analytics/costs?month={month}&format={fmt}")
            theirs = v1(server, "GET", "/v1/analytics/costs", bearer=bearer, params={"month": month, "format": fmt})
            assert mine.status == 200 and theirs.status_code == 200
            assert mine.body() == theirs.content, fmt
            assert f"costs-{month}.{fmt}" in mine.headers["content-disposition"]
        assert context.request.get(f"{server.url}/console/admin/analytics/costs?month={month}&format=xml").status == 400

        trail = tenancy.as_admin("GET", "/v1/audit", params={"limit": 100})["items"]
        changes = [e for e in trail if e["action"] == "analytics.price_model"]
        assert {e["outcome"] for e in changes} == {"success", "failure"}, changes
    finally:
        context.close()
        v1_ok(v1(server, "PUT", "/v1/analytics/price-model", bearer=bearer, body=before))


# --------------------------------------------------------------------------- refusals


def test_other_tenants_pages_and_forms_without_csrf_are_refused(chromium, server, tenancy, receiver):
    acme = tenancy.create_tenant("mine")
    other = tenancy.create_tenant("theirs")
    admin = tenancy.new_user(acme["id"], "admin")
    member = tenancy.new_user(acme["id"], "member")
    theirs = v1_ok(v1(server, "POST", f"/v1/tenants/{other['id']}/webhooks", bearer=tenancy.admin,
                      body={"url": receiver.url("/theirs")}), 201)
    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, admin.email, admin.password)
        for p in ("/webhooks", "/analytics", f"/webhooks/{theirs['id']}", f"/webhooks/{theirs['id']}/delete"):
            assert page.goto(f"{server.url}/console/t/{other['id']}{p}").status == 403, p
        # Another tenant's endpoint id on this tenant's pages: not found, nothing changes.
        assert page.goto(f"{server.url}/console/t/{acme['id']}/webhooks/{theirs['id']}").status == 404
        page.goto(f"{server.url}/console/t/{acme['id']}/webhooks")
        csrf = csrf_of(page)
        for action in ("rotate", "disable", "delete", "test"):
            r = context.request.post(f"{server.url}/console/t/{acme['id']}/webhooks/{theirs['id']}/{action}",
                                     form={"_csrf": csrf})
            assert r.status == 404, (action, r.status)
            r = context.request.post(f"{server.url}/console/t/{other['id']}/webhooks/{theirs['id']}/{action}",
                                     form={"_csrf": csrf})
            assert r.status == 403, (action, r.status)
        view = tenancy.as_admin("GET", f"/v1/tenants/{other['id']}/webhooks/{theirs['id']}")
        assert view["enabled"] and view["previousSecretUntil"] is None
        # Users never reach the platform's pages.
        for p in ("/console/admin/webhooks", "/console/admin/analytics",
                  f"/console/admin/analytics/costs?month={this_month()[0]}&format=csv"):
            assert page.goto(f"{server.url}{p}").status == 403, p
        r = context.request.post(f"{server.url}/console/admin/analytics/price-model",
                                 form={"_csrf": csrf, "per_mau": "9"})
        assert r.status == 403

        # A form without its token, or with a forged one: refused, nothing made.
        target = f"{server.url}/console/t/{acme['id']}/webhooks"
        for form in ({}, {"_csrf": "forged"}):
            r = context.request.post(target, form={**form, "url": receiver.url("/csrf")})
            assert r.status == 403 and "expired or was not sent from this console" in r.text()
        # Bad input: the clear 400 /v1 gives, never a 5xx.
        for url, words in (("ftp://example.com/x", "The url is refused"), ("http://a\x00b/", "The form"),
                           ("", "The url is refused")):
            r = context.request.post(target, form={"_csrf": csrf, "url": url})
            assert r.status == 400 and words in r.text(), (url, r.status, r.text()[:300])
        r = context.request.post(target, form={"_csrf": csrf, "url": receiver.url("/x"), "event_nope.nope": "on"})
        assert r.status == 400 and "Unknown event type" in r.text()
        assert page.goto(f"{target}?after=../../x").status == 400
        assert tenancy.as_admin("GET", f"/v1/tenants/{acme['id']}/webhooks")["items"] == []
    finally:
        context.close()

    admin_context = chromium.new_context()
    try:
        portal = sign_in_admin(admin_context, server.url, server.credentials())
        portal.goto(f"{server.url}/console/admin/analytics")
        r = admin_context.request.post(f"{server.url}/console/admin/analytics/price-model",
                                       form={"per_mau": "9"})
        assert r.status == 403 and "expired or was not sent from this console" in r.text()
        # A platform admin may open any tenant's pages; a tenant endpoint is not the platform's.
        assert portal.goto(f"{server.url}/console/t/{other['id']}/webhooks/{theirs['id']}").status == 200
        assert portal.goto(f"{server.url}/console/admin/webhooks/{theirs['id']}").status == 404
    finally:
        admin_context.close()

    member_context = chromium.new_context()
    try:
        page = sign_in_user(member_context, server.url, member.email, member.password)
        for p in ("/webhooks", "/analytics"):
            assert page.goto(f"{server.url}/console/t/{acme['id']}{p}").status == 403, p
    finally:
        member_context.close()
