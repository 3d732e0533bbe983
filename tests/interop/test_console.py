"""The web consoles in a real browser (Debian's Chromium through Playwright), on both backends.

The seed's story end to end — a platform admin creates a tenant and invites its admin, the
admin accepts from the email's link, adds a domain, creates an API key, sees its usage and
reads the audit log — then the authorization matrix through the pages (a member cannot
reach admin pages, another tenant's ids give 403, a platform page refuses users) and the
attacks on the console's own surface: CSRF, open redirects, a replayed authorization code,
a forged or stale session cookie, invitation races.
"""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from cognate_harness import Tenancy, uid

PASSWORD = "Console-Pass-42!"

#: The tenant console's pages (under /console/t/{tenant}).
CONSOLE_PAGES = ["", "/members", "/invitations", "/domains", "/connections", "/keys", "/usage", "/audit",
                 "/settings", "/webhooks", "/analytics"]
#: Those only the tenant's admins (and platform admins) open.
ADMIN_PAGES = [p for p in CONSOLE_PAGES if p]


# --------------------------------------------------------------------------- helpers


def invitation_link(tenancy: Tenancy, email: str, *, not_in: set | None = None) -> str:
    """The console link of the newest invitation mailed to `email`."""
    token = tenancy.invitation_token(email, not_in=not_in)
    for msg in tenancy.outbox_for(email):
        body = msg.get("body") or ""
        if token in body:
            m = re.search(r"Accept in your browser: (\S+)", body)
            assert m, f"the invitation email has no console link: {body!r}"
            assert token in m.group(1)
            return m.group(1)
    pytest.fail("no invitation message")


def sign_in_user(context, base: str, email: str, password: str = PASSWORD):
    """Signs a user in to the console through the hosted login; returns the page."""
    page = context.new_page()
    page.goto(f"{base}/console")
    page.fill("#email", email)
    page.click("text=Continue")
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/"))
    return page


def sign_in_admin(context, base: str, creds: dict):
    page = context.new_page()
    page.goto(f"{base}/console")
    page.fill("#accessKeyId", creds["key"])
    page.fill("#secretAccessKey", creds["secret"])
    page.click("text=Sign in as platform admin")
    page.wait_for_url(re.compile(r"/console/admin"))
    return page


#: What every console page must hold to: each field labelled, each button and link named,
#: and nothing wider than the viewport (no sideways scrolling at 375 px).
USABILITY_PROBE = """() => {
  const out = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.getAttribute('aria-label') || el.closest('label');
    if (!labelled) out.push('unlabelled field ' + (el.name || el.outerHTML.slice(0, 80)));
  }
  for (const el of document.querySelectorAll('button, a')) {
    if (!(el.innerText.trim() || el.getAttribute('aria-label'))) out.push('nameless ' + el.outerHTML.slice(0, 80));
  }
  if (!document.querySelector('h1')) out.push('no h1');
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    out.push('wider than the viewport: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
  }
  return out;
}"""


def assert_usable(page) -> None:
    problems = page.evaluate(USABILITY_PROBE)
    assert not problems, f"{page.url}: {problems}"


def csrf_of(page) -> str:
    return page.locator("input[name=_csrf]").first.get_attribute("value")


# --------------------------------------------------------------------------- the story


def test_invited_admin_accepts_from_the_email_and_manages_members(chromium, server, tenancy):
    tenant = tenancy.create_tenant("story")
    tid = tenant["id"]
    email = f"ada-{uid(6)}@example.com"
    tenancy.invite(tid, email, "admin")
    link = invitation_link(tenancy, email)

    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(link)
        assert page.title().startswith("Invitation to")
        assert email in page.inner_text("main")
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.click("text=Create my account and accept")
        # On to the hosted login for the new account, the address filled in.
        page.wait_for_url(re.compile(r"/login\?"))
        assert page.input_value("#username") == email
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/console/t/{tid}")
        assert "admin" in page.inner_text("main")

        # Members: the last-admin rule is visible, inviting works.
        page.click("nav.sub >> text=Members")
        row = page.locator("tr", has_text=email)
        assert "last admin" in row.inner_text()
        assert row.locator("button", has_text="Remove").count() == 0
        bob = f"bob-{uid(6)}@example.com"
        page.fill("#invite-email", bob)
        page.select_option("#invite-role", "member")
        page.click("text=Send invitation")
        assert "Invitation sent." in page.inner_text("[role=status]")
        bob_link = invitation_link(tenancy, bob)

        # Invitations: resend makes a new link and kills the old one; revoke.
        page.click("nav.sub >> text=Invitations")
        page.click(f"button[aria-label='Resend the invitation to {bob}']")
        assert "previous link no longer works" in page.inner_text("[role=status]")
        new_link = invitation_link(tenancy, bob)
        assert new_link != bob_link
        assert requests.get(bob_link, timeout=10).status_code == 400
        assert requests.get(new_link, timeout=10).status_code == 200
        page.click(f"button[aria-label='Revoke the invitation to {bob}']")
        assert "Invitation revoked." in page.inner_text("[role=status]")
        assert requests.get(new_link, timeout=10).status_code == 400

        # The trail holds the console's actions under /v1's names, by this user.
        events = tenancy.as_admin("GET", f"/v1/tenants/{tid}/audit", params={"limit": 50})["items"]
        actions = [e["action"] for e in events]
        for action in ("invitation.accept", "invitation.create", "invitation.revoke"):
            assert action in actions, actions

        # Signing out ends the session: the page sends the browser to sign in again.
        page.click("text=Sign out")
        page.wait_for_url(re.compile(r"/console$"))
        page.goto(f"{server.url}/console/t/{tid}/members")
        assert re.search(r"/console\?next=", page.url)
    finally:
        context.close()


def test_the_seed_story_through_the_pages(chromium, server, tenancy):
    """Create tenant → invite its admin → the admin accepts → adds a domain → creates an API
    key → sees its usage → reads the audit log, every step through the consoles."""
    run = uid(6)
    tid = f"story-{run}"
    domain = f"story-{run}.example"
    admin_email = f"ada-{run}@example.com"
    operator = chromium.new_context()
    owner = chromium.new_context()
    try:
        # The platform admin creates the tenant and invites its first admin.
        portal = sign_in_admin(operator, server.url, server.credentials())
        portal.goto(f"{server.url}/console/admin/tenants")
        assert_usable(portal)
        portal.fill("#tenant-name", f"Story {run}")
        portal.fill("#tenant-id", tid)
        portal.select_option("#tenant-tier", "standard")
        portal.click("text=Create tenant")
        assert tenancy.as_admin("GET", f"/v1/tenants/{tid}")["name"] == f"Story {run}"
        portal.goto(f"{server.url}/console/t/{tid}/invitations")
        portal.fill("#invite-email", admin_email)
        portal.select_option("#invite-role", "admin")
        portal.click("text=Send invitation")
        assert "Invitation sent." in portal.inner_text("[role=status]")

        # The admin accepts from the email's link, with a new account.
        page = owner.new_page()
        page.goto(invitation_link(tenancy, admin_email))
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.click("text=Create my account and accept")
        page.wait_for_url(re.compile(r"/login\?"))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/console/t/{tid}")

        # Adds the company's domain: the TXT record to publish is shown; the operator
        # attests it (DNS verification has tests of its own, with a real DNS server).
        page.click("nav.sub >> text=Domains")
        page.fill("#domain-name", domain)
        page.click("text=Add domain")
        assert f"_cognate.{domain}" in page.inner_text("main")
        assert "cognate-verification=" in page.inner_text("main")
        assert_usable(page)
        portal.goto(f"{server.url}/console/t/{tid}/domains")
        portal.click(f"button[aria-label='Attest {domain} without DNS']")
        assert tenancy.discover(f"someone@{domain}")["tenantId"] == tid

        # Creates an API key: the secret once, with a copy button.
        page.click("nav.sub >> text=API keys")
        page.fill("#key-name", "billing-sync")
        page.click("text=Create key")
        key = page.inner_text("#new-key").strip()
        assert key and page.locator("button[data-copy=new-key]").count() == 1
        page.click("nav.sub >> text=API keys")
        assert key not in page.content()

        # The key in use, then its usage on the page.
        for _ in range(3):
            r = requests.post(f"{server.url}/v1/api-keys/verify", json={"key": key},
                              headers={"Authorization": f"Bearer {tenancy.admin}"}, timeout=10)
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while True:
            page.goto(f"{server.url}/console/t/{tid}/usage")
            rows = page.locator("table tbody tr", has_text="billing-sync")
            if rows.count() and "3" in rows.first.inner_text():
                break
            assert time.monotonic() < deadline, page.inner_text("main")
            time.sleep(1)
        assert page.locator("svg.chart[role=img]").count() >= 1

        # Reads the audit log: every step, filtered, and downloaded.
        page.click("nav.sub >> text=Audit log")
        text = page.inner_text("main")
        for action in ("invitation.accept", "domain.add", "api_key.create"):
            assert action in text, text
        page.fill("#audit-action", "api_key.create")
        page.click("text=Filter")
        # htmx swaps the results in when they arrive: wait for the filtered table.
        rows = page.locator("table tbody tr")
        deadline = time.monotonic() + 15
        while not (rows.count() >= 1
                   and all("api_key.create" in rows.nth(i).inner_text() for i in range(rows.count()))):
            assert time.monotonic() < deadline, page.inner_text("main")
            time.sleep(0.2)
        download = owner.request.get(f"{server.url}/console/t/{tid}/audit/export?format=csv")
        assert download.status == 200 and "api_key.create" in download.text()
        assert key not in download.text()
    finally:
        operator.close()
        owner.close()


def test_an_existing_account_signs_in_to_accept(chromium, server, tenancy):
    first = tenancy.create_tenant("first")
    second = tenancy.create_tenant("second")
    user = tenancy.new_user(first["id"], "member")
    tenancy.invite(second["id"], user.email, "read_only")
    link = invitation_link(tenancy, user.email)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(link)
        page.click("text=Sign in and accept")
        page.wait_for_url(re.compile(r"/login\?"))
        page.fill("#password", user.password)
        page.click("button[type=submit]")
        # The console moves the session into the tenant just joined.
        page.wait_for_url(re.compile(r"/console/home"))
        assert "Invitation accepted" in page.inner_text("[role=status]")
        text = page.inner_text("main")
        assert second["name"] in text and first["name"] in text
        # read_only in the second tenant: the overview opens, the admin pages do not.
        page.goto(f"{server.url}/console/t/{second['id']}")
        assert "read_only" in page.inner_text("main")
        assert page.locator("nav.sub >> text=Members").count() == 0
        resp = page.goto(f"{server.url}/console/t/{second['id']}/members")
        assert resp.status == 403
        # Switching back to the first tenant from the list.
        page.goto(f"{server.url}/console/home?list=1")
        page.click(f"text=Switch to {first['name']}")
        page.wait_for_url(f"{server.url}/console/t/{first['id']}")
    finally:
        context.close()


# --------------------------------------------------------------------------- authorization


def test_pages_refuse_what_v1_refuses(chromium, server, tenancy):
    acme = tenancy.create_tenant("acme")
    other = tenancy.create_tenant("other")
    admin = tenancy.new_user(acme["id"], "admin")
    member = tenancy.new_user(acme["id"], "member")
    other_admin = tenancy.new_user(other["id"], "admin")
    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, admin.email, admin.password)
        for p in CONSOLE_PAGES:
            assert page.goto(f"{server.url}/console/t/{acme['id']}{p}").status == 200
            # Another tenant's pages, existing or not: the same 403.
            assert page.goto(f"{server.url}/console/t/{other['id']}{p}").status == 403
            assert page.goto(f"{server.url}/console/t/nope-{uid(5)}{p}").status == 403
        # Another tenant's member through this tenant's form: refused, nothing changes.
        page.goto(f"{server.url}/console/t/{acme['id']}/members")
        csrf = csrf_of(page)
        r = context.request.post(f"{server.url}/console/t/{acme['id']}/members/{other_admin.sub}/remove",
                                 form={"_csrf": csrf})
        assert r.status == 404, r.text()
        r = context.request.post(f"{server.url}/console/t/{other['id']}/members/{other_admin.sub}/remove",
                                 form={"_csrf": csrf})
        assert r.status == 403
        assert tenancy.as_admin("GET", f"/v1/tenants/{other['id']}/members/{other_admin.sub}")["status"] == "active"
        # Users never reach the platform portal.
        assert page.goto(f"{server.url}/console/admin").status == 403
    finally:
        context.close()

    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, member.email, member.password)
        assert page.goto(f"{server.url}/console/t/{acme['id']}").status == 200
        for p in ADMIN_PAGES:
            assert page.goto(f"{server.url}/console/t/{acme['id']}{p}").status == 403
        # The developer portal is every member's; another tenant's is not.
        assert page.goto(f"{server.url}/console/dev/{acme['id']}").status == 200
        assert page.goto(f"{server.url}/console/dev/{other['id']}").status == 403
        page.goto(f"{server.url}/console/t/{acme['id']}")
        csrf = csrf_of(page)
        r = context.request.post(f"{server.url}/console/t/{acme['id']}/members",
                                 form={"_csrf": csrf, "email": f"x-{uid(5)}@example.com", "role": "admin"})
        assert r.status == 403
    finally:
        context.close()


# --------------------------------------------------------------------------- attacks


def test_forms_need_the_csrf_token(chromium, server, tenancy):
    acme = tenancy.create_tenant("csrf")
    admin = tenancy.new_user(acme["id"], "admin")
    context = chromium.new_context()
    try:
        page = sign_in_user(context, server.url, admin.email, admin.password)
        target = f"{server.url}/console/t/{acme['id']}/members"
        for form in ({}, {"_csrf": "forged"}, {"_csrf": ""}):
            r = context.request.post(target, form={**form, "email": f"c-{uid(5)}@example.com", "role": "admin"})
            assert r.status == 403, r.status
            assert "expired or was not sent from this console" in r.text()
        # A token from another browser does not fit this one's cookie.
        other = chromium.new_context()
        try:
            foreign = other.new_page()
            foreign.goto(f"{server.url}/console")
            token = csrf_of(foreign)
        finally:
            other.close()
        r = context.request.post(target, form={"_csrf": token, "email": f"c-{uid(5)}@example.com", "role": "admin"})
        assert r.status == 403
        # NUL bytes and malformed forms: a clear 400, never a 5xx.
        resp = page.goto(target)
        assert "form-action 'self'" in resp.headers["content-security-policy"]
        csrf = csrf_of(page)
        r = context.request.post(target, form={"_csrf": csrf, "email": "a\x00@example.com", "role": "admin"})
        assert r.status == 400
        r = context.request.post(target, data=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status == 400
        r = context.request.post(target, form={"_csrf": csrf, "email": "not-an-address", "role": "admin"})
        assert r.status == 400 and "email" in r.text().lower()
        r = context.request.post(target, form={"_csrf": csrf, "email": f"r-{uid(5)}@example.com", "role": "owner"})
        assert r.status == 400
    finally:
        context.close()


def test_pages_carry_a_strict_policy(server):
    r = requests.get(f"{server.url}/console", timeout=10)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    # The sign-in page's forms lead on to identity providers: no form-action there.
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    # Nothing inline for the policy to refuse: every script is a file of this origin.
    assert "<script>" not in r.text and not re.search(r"\son[a-z]+\s*=", r.text)


def test_no_open_redirect_through_next(server):
    session = requests.Session()
    for evil in ("https://evil.example/", "//evil.example/x", "/console//evil.example", "/\\evil.example",
                 "javascript:alert(1)", "/login?x=1", "/console/../oauth2/authorize?client_id=x",
                 "/console/%2e%2e/logout", "/console/./t"):
        r = session.get(f"{server.url}/console", params={"next": evil}, timeout=10)
        assert r.status_code == 200
        assert 'name="next" value="/console/home"' in r.text, evil


def test_a_replayed_code_is_refused_and_ends_the_first_session(chromium, server, tenancy):
    acme = tenancy.create_tenant("replay")
    admin = tenancy.new_user(acme["id"], "admin")
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/console")
        page.fill("#email", admin.email)
        page.click("text=Continue")
        page.wait_for_url(re.compile(r"/login\?"))
        # The round-trip cookie as it stands before the code comes back.
        pending = [c for c in context.cookies() if c["name"] == "cognate-console-pending"]
        assert pending, context.cookies()
        callbacks = []
        page.on("request", lambda req: callbacks.append(req.url) if "/console/callback" in req.url else None)
        page.fill("#password", admin.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/console/t/{acme['id']}")
        assert callbacks
        callback = callbacks[0]
        # The same code with the same round trip, from another browser: refused.
        thief = chromium.new_context()
        try:
            thief.add_cookies(pending)
            resp = thief.new_page().goto(callback)
            assert resp.status == 400
            assert not [c for c in thief.cookies() if c["name"] == "cognate-console"]
        finally:
            thief.close()
        # Replaying the code revoked what it had issued: the first session is over too.
        page.goto(f"{server.url}/console/t/{acme['id']}/members")
        assert re.search(r"/console\?next=", page.url)
        # The callback again in the first browser: no round trip any more.
        assert page.goto(callback).status == 400
        # A state that does not match the round trip this browser began.
        page.goto(f"{server.url}/console")
        begun = context.request.post(f"{server.url}/console/signin",
                                     form={"_csrf": csrf_of(page), "email": admin.email}, max_redirects=0)
        assert begun.status == 303
        q = parse_qs(urlparse(begun.headers["location"]).query)
        bad = f"{server.url}/console/callback?code=abc&state={q['state'][0]}x"
        assert page.goto(bad).status == 400
    finally:
        context.close()


def test_forged_and_foreign_session_cookies_are_ignored(chromium, server, tenancy):
    acme = tenancy.create_tenant("forge")
    admin = tenancy.new_user(acme["id"], "admin")
    context = chromium.new_context()
    try:
        sign_in_user(context, server.url, admin.email, admin.password)
        seat = next(c for c in context.cookies() if c["name"] == "cognate-console")
    finally:
        context.close()
    for value in ("garbage", seat["value"][:-4] + "AAAA", "A" * 2000):
        r = requests.get(f"{server.url}/console/t/{acme['id']}", cookies={"cognate-console": value},
                         allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["location"].startswith("/console?next="), value
    # The real cookie works from anywhere until it is revoked…
    r = requests.get(f"{server.url}/console/t/{acme['id']}", cookies={"cognate-console": seat["value"]},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 200
    # …and a removal from the tenant takes effect at once.
    tenancy.new_user(acme["id"], "admin")
    tenancy.as_admin("DELETE", f"/v1/tenants/{acme['id']}/members/{admin.sub}", status=204)
    r = requests.get(f"{server.url}/console/t/{acme['id']}", cookies={"cognate-console": seat["value"]},
                     allow_redirects=False, timeout=10)
    assert r.status_code in (303, 403)


def test_platform_admin_sign_in_is_checked_and_throttled(server):
    session = requests.Session()
    page = session.get(f"{server.url}/console", timeout=10)
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    creds = server.credentials()
    r = session.post(f"{server.url}/console/admin/signin",
                     data={"_csrf": csrf, "accessKeyId": creds["key"], "secretAccessKey": "wrong"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 401 and "Wrong access key id or secret" in r.text
    assert "cognate-console=" not in r.headers.get("set-cookie", "")
    # Wrong attempts for one access key id are counted (the shared test server's address is
    # everyone's here, so the key id's window is the one shown).
    statuses = []
    key = f"AKID{uid(8).upper()}"
    for _ in range(12):
        statuses.append(session.post(f"{server.url}/console/admin/signin",
                                     data={"_csrf": csrf, "accessKeyId": key, "secretAccessKey": "x"},
                                     allow_redirects=False, timeout=10).status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses


def test_an_invitation_is_accepted_once_under_a_race(server, tenancy):
    acme = tenancy.create_tenant("race")
    email = f"race-{uid(6)}@example.com"
    tenancy.invite(acme["id"], email, "member")
    link = invitation_link(tenancy, email)
    token = parse_qs(urlparse(link).query)["token"][0]
    results = []

    def accept():
        s = requests.Session()
        page = s.get(link, timeout=10)
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        r = s.post(f"{server.url}/console/invite/create",
                   data={"_csrf": csrf, "token": token, "password": PASSWORD, "confirm": PASSWORD},
                   allow_redirects=False, timeout=30)
        results.append(r.status_code)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(303) == 1, results
    assert all(s == 400 for s in results if s != 303), results
    members = tenancy.as_admin("GET", f"/v1/tenants/{acme['id']}/members")["items"]
    assert [m["email"] for m in members].count(email) == 1
    # The link is spent.
    assert requests.get(link, timeout=10).status_code == 400


def test_pages_are_labelled_and_fit_a_phone(chromium, server, tenancy):
    acme = tenancy.create_tenant("phone")
    admin = tenancy.new_user(acme["id"], "admin")
    tenancy.new_user(acme["id"], "member")
    email = f"pending-{uid(6)}@example.com"
    tenancy.invite(acme["id"], email, "member")
    link = invitation_link(tenancy, email)
    context = chromium.new_context(viewport={"width": 375, "height": 812})
    try:
        page = context.new_page()
        for url in (f"{server.url}/console", link):
            page.goto(url)
            assert_usable(page)
        page = sign_in_user(context, server.url, admin.email, admin.password)
        for path in CONSOLE_PAGES:
            resp = page.goto(f"{server.url}/console/t/{acme['id']}{path}")
            assert resp.status == 200, path
            assert_usable(page)
        page.goto(f"{server.url}/console/home?list=1")
        assert_usable(page)
        # The keyboard reaches the content first: the skip link, then the menu.
        page.goto(f"{server.url}/console/t/{acme['id']}/members")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    finally:
        context.close()


def register(context, server, tenancy, email: str):
    """Registers a developer through /console/register (the shared pool's sign-up, the
    emailed code, the hosted login); returns the page where the console lands."""
    page = context.new_page()
    page.goto(f"{server.url}/console")
    page.click("text=Create an account")
    page.wait_for_url(re.compile(r"/signup\?"))
    if page.locator("#username").count() and page.locator("#username").is_visible():
        page.fill("#username", f"dev{uid(8)}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#confirm_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#code")
    code = None
    for msg in tenancy.outbox_for(email):
        m = re.search(r"\b(\d{6})\b", msg.get("body") or "")
        if m:
            code = m.group(1)
            break
    assert code, tenancy.outbox_for(email)
    page.fill("#code", code)
    page.click("button[type=submit]")
    page.wait_for_selector("#password")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/"))
    return page


def test_a_developer_registers_and_joins_by_verified_domain(chromium, server, tenancy):
    domain = f"dev{uid(6)}.example"
    acme = tenancy.create_tenant("devs")
    tenancy.as_admin("POST", f"/v1/tenants/{acme['id']}/domains", {"domain": domain, "autoJoin": True}, status=201)
    tenancy.as_admin("POST", f"/v1/tenants/{acme['id']}/domains/{domain}/verify", {"method": "attest"})
    context = chromium.new_context()
    try:
        # An address of no tenant's domain: signed in, no tenant yet.
        page = register(context, server, tenancy, f"solo-{uid(6)}@example.com")
        assert page.url.endswith("/console/home")
        assert "not a member of any tenant yet" in page.inner_text("main")
        assert page.goto(f"{server.url}/console/t/{acme['id']}").status == 403
    finally:
        context.close()
    context = chromium.new_context()
    try:
        # An address of the tenant's verified auto-join domain: a member at once.
        page = register(context, server, tenancy, f"dev-{uid(6)}@{domain}")
        assert page.url.endswith(f"/console/t/{acme['id']}"), page.url
        assert "member" in page.inner_text("main")
    finally:
        context.close()
