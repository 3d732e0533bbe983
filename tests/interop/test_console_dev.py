"""The developer portal's snippets run as printed: the Python and curl snippets are taken from
the rendered page (/console/dev/{tenant}) and executed against the running server, with a real
tenant user, a machine client and an API key made through the console pages.

Also: the page is escaped, a missing CSRF token is refused, another tenant's client cannot be
deleted, and a tenant-owned client verifies its own tenant's keys only."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from cognate_harness import uid

SNIPPET_RE = re.compile(r'<code id="([a-z0-9-]+)" class="snippet" data-lang="([a-z]+)">(.*?)</code>', re.S)


def console_admin(server) -> requests.Session:
    """A browser session signed in to the console as the platform admin."""
    s = requests.Session()
    page = s.get(server.url + "/console")
    creds = server.credentials()
    r = s.post(server.url + "/console/admin/signin", data={
        "_csrf": csrf(page.text), "accessKeyId": creds["key"],
        "secretAccessKey": creds["secret"]}, allow_redirects=False)
    assert r.status_code == 303, r.text
    return s


def csrf(page: str) -> str:
    m = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert m, page[:500]
    return m.group(1)


def snippets(page: str) -> dict[str, str]:
    return {m.group(1): html.unescape(m.group(3)) for m in SNIPPET_RE.finditer(page)}


#: Where the JavaScript snippets run: their `import`s resolve from the interop suite's
#: node_modules (aws-jwt-verify, installed by scripts/test with npm ci).
JS_DIR = Path(__file__).parent / "js"


def run(lang: str, code: str, env: dict[str, str]) -> str:
    if lang == "python":
        cmd = [sys.executable, "-c", code]
    elif lang == "javascript":
        cmd = ["node", "--input-type=module", "-e", code]
    else:
        cmd = ["bash", "-c", "set -euo pipefail\n" + code]
    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                          cwd=JS_DIR)
    assert done.returncode == 0, f"{lang} snippet failed:\n{code}\n---\n{done.stdout}\n{done.stderr}"
    return done.stdout


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_the_snippets_run_as_printed(server, tenancy):
    tenant = tenancy.create_tenant("dev", name="Dev <b>&co</b>")["id"]
    other = tenancy.create_tenant("oth")["id"]
    user = tenancy.new_user(tenant, "member")
    pool, default_client = tenancy.shared_placement()
    # The API the machine client is for: a resource server of the tenant's (shared) pool.
    api = f"https://api-{uid()}.example.com"
    server.cognito.create_resource_server(UserPoolId=pool, Identifier=api, Name="notes",
                                          Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}])

    s = console_admin(server)
    base = f"{server.url}/console/dev/{tenant}"
    page = s.get(base)
    assert page.status_code == 200, page.text
    assert "Dev &lt;b&gt;" in page.text or "Dev &#60;b&#62;" in page.text, "the tenant name is escaped"
    assert "<b>&co</b>" not in page.text
    for shown in (pool, default_client, f"{server.url}/{pool}/.well-known/jwks.json",
                  f"{server.url}/{pool}/.well-known/openid-configuration", f"{server.url}/oauth2/token"):
        assert shown in page.text, shown
    code = snippets(page.text)
    assert {"sign-in-py", "sign-in-sh", "refresh-py", "refresh-sh", "call-py", "call-sh", "verify-py",
            "verify-js", "m2m-py", "m2m-sh", "key-py", "key-sh"} <= set(code), sorted(code)

    # Missing CSRF: refused, nothing made.
    r = s.post(f"{base}/clients", data={"name": "sneaky", f"scope:{api}/read": "on"})
    assert r.status_code == 403, r.text
    # An unknown scope: 400 with the reason on the page.
    r = s.post(f"{base}/clients", data={"_csrf": csrf(page.text), "name": "bad", "scope:nope/x": "on"})
    assert r.status_code == 400 and "Unknown scope" in r.text, r.text

    # A machine client, its secret shown once.
    made = s.post(f"{base}/clients", data={"_csrf": csrf(page.text), "name": "billing sync",
                                           f"scope:{api}/read": "on"})
    assert made.status_code == 200, made.text
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', made.text).group(1)
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', made.text).group(1)
    assert secret not in s.get(base).text, "the list never shows the secret"

    # An API key made on the keys page.
    keys_page = s.get(f"{server.url}/console/t/{tenant}/keys")
    made = s.post(f"{server.url}/console/t/{tenant}/keys", data={"_csrf": csrf(keys_page.text), "name": "cli"})
    assert made.status_code == 200, made.text
    api_key = re.search(r'<code id="new-key">([^<]+)</code>', made.text).group(1)

    env = {"COGNATE_USERNAME": user.email, "COGNATE_PASSWORD": user.password}
    # Sign in: boto3 and curl.
    access, refresh = run("python", code["sign-in-py"], env).split()
    assert claims(access)["custom:tenantId"] == tenant
    answer = json.loads(run("sh", code["sign-in-sh"], env))
    assert answer["AuthenticationResult"]["AccessToken"]
    # Refresh: boto3 and curl.
    env["REFRESH_TOKEN"] = refresh
    assert claims(run("python", code["refresh-py"], env).strip())["token_use"] == "access"
    assert json.loads(run("sh", code["refresh-sh"], env))["AuthenticationResult"]["AccessToken"]
    # Call an API and verify the token.
    env["ACCESS_TOKEN"] = access
    assert user.sub in run("python", code["call-py"], env)
    assert json.loads(run("sh", code["call-sh"], env))["sub"] == user.sub
    assert run("python", code["verify-py"], env).split() == [user.sub, tenant]
    # The same in JavaScript (Node's fetch; aws-jwt-verify, AWS's own verifier).
    assert user.sub in run("javascript", code["call-js"], env)
    assert run("javascript", code["verify-js"], env).split() == [user.sub, tenant]
    # A machine token: it carries the tenant.
    env.update({"CLIENT_ID": client_id, "CLIENT_SECRET": secret})
    machine = run("python", code["m2m-py"], env).strip()
    assert claims(machine)["custom:tenantId"] == tenant and claims(machine)["scope"] == f"{api}/read"
    assert claims(json.loads(run("sh", code["m2m-sh"], env))["access_token"])["custom:tenantId"] == tenant
    assert claims(run("javascript", code["m2m-js"], env).strip())["custom:tenantId"] == tenant
    # Verify the API key with the tenant's client.
    env["API_KEY"] = api_key
    assert "'valid': True" in run("python", code["key-py"], env)
    verdict = json.loads(run("sh", code["key-sh"], env))
    assert verdict["valid"] is True and verdict["tenantId"] == tenant, verdict
    assert "valid: true" in run("javascript", code["key-js"], env)

    # The tenant's client answers for its tenant only: another tenant's key is unknown to it.
    theirs = tenancy.as_admin("POST", f"/v1/tenants/{other}/api-keys", {"name": "theirs"}, status=201)["key"]
    verdict = json.loads(run("sh", code["key-sh"], {**env, "API_KEY": theirs}))
    assert verdict == {"valid": False, "code": "unknown_key"}, verdict

    # Another tenant's page cannot delete this tenant's client; the client stays.
    other_page = s.get(f"{server.url}/console/dev/{other}")
    r = s.post(f"{server.url}/console/dev/{other}/clients/{client_id}/delete", data={"_csrf": csrf(other_page.text)})
    assert r.status_code == 404, r.text
    run("python", code["m2m-py"], env)
    # Its own page deletes it; its secret then gets no token.
    r = s.post(f"{base}/clients/{client_id}/delete", data={"_csrf": csrf(page.text)}, allow_redirects=False)
    assert r.status_code == 303, r.text
    r = requests.post(f"{server.url}/oauth2/token", auth=(client_id, secret), data={"grant_type": "client_credentials"})
    assert r.status_code in (400, 401), r.text
