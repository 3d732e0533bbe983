"""Prometheus metrics (docs/operations.md, "Metrics"), read by the Prometheus project's own
text-format parser after a few good and bad sign-ins, on both backends: the main listener
serves them to platform admins only, the separate metrics listener to anyone who can reach
it, and every request leaves one access-log line without its query string.
"""

from __future__ import annotations

import re

import botocore.exceptions
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cognate_harness import admin_bearer, uid

PASSWORD = "Corr3ct-Horse!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
METRICS_RE = re.compile(r"Cognate metrics are served on (http://\S+)")


def families(text: str) -> dict:
    """name -> {labels as a sorted tuple -> value} for every sample, as Prometheus reads them."""
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def sample(fams: dict, name: str, **labels) -> float:
    return fams.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_metrics_after_good_and_bad_sign_ins(fresh_server):
    srv = fresh_server({"COGNATE_METRICS_LISTEN": "127.0.0.1:0"})
    found = [m.group(1) for line in srv.stdout_lines if (m := METRICS_RE.search(line))]
    assert len(found) == 1, srv.stdout_lines
    metrics_url = found[0]

    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"metrics-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", ExplicitAuthFlows=FLOWS)[
        "UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="ann", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="ann", Password=PASSWORD, Permanent=True)

    def sign_in(password):
        return idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": "ann", "PASSWORD": password})

    tokens = sign_in(PASSWORD)["AuthenticationResult"]
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError):
            sign_in("Wrong-Passw0rd!")
    idp.initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH",
                      AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    # A query string may carry a code or a token: it must reach neither a label nor the log.
    requests.get(f"{srv.url}/no-such-page?code=SeCrEt-{uid()}", timeout=10)

    # The main listener: platform admins only.
    assert requests.get(f"{srv.url}/metrics", timeout=10).status_code == 401
    wrong = requests.get(f"{srv.url}/metrics", headers={"Authorization": "Bearer AKIAX:nope"}, timeout=10)
    assert wrong.status_code == 401
    main = requests.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {admin_bearer(srv)}"},
                        timeout=10)
    assert main.status_code == 200
    assert main.headers["Content-Type"].startswith("text/plain; version=0.0.4")

    # The separate listener: no credential, and nothing but /metrics.
    open_scrape = requests.get(metrics_url, timeout=10)
    assert open_scrape.status_code == 200
    assert requests.get(metrics_url.replace("/metrics", "/healthz"), timeout=10).status_code == 404

    for text in (main.text, open_scrape.text):
        fams = families(text)
        assert sample(fams, "cognate_sign_ins_total", outcome="success") == 1
        assert sample(fams, "cognate_sign_ins_total", outcome="failure") == 2
        assert sample(fams, "cognate_refreshes_total", outcome="success") == 1
        assert sample(fams, "cognate_token_families_started_total") == 1
        assert sample(fams, "cognate_http_requests_total", surface="cognito", operation="InitiateAuth",
                      status="2xx") == 2
        assert sample(fams, "cognate_http_requests_total", surface="cognito", operation="InitiateAuth",
                      status="4xx") == 2
        assert sample(fams, "cognate_http_requests_total", surface="other", operation="unmatched",
                      status="4xx") == 1
        assert sample(fams, "cognate_http_request_duration_seconds_count", surface="cognito",
                      operation="InitiateAuth") == 4
        assert sample(fams, "cognate_db_pool_max_connections") >= 1
        for name in ("cognate_throttled_total", "cognate_rate_limited_total",
                     "cognate_token_families_revoked_total", "cognate_outbox_delivery_failures_total",
                     "cognate_audit_pending_events", "cognate_audit_lag_seconds",
                     "cognate_db_pool_connections"):
            assert name in fams, name
        assert "SeCrEt" not in text and "no-such-page" not in text

    log = srv.log_path.read_text(errors="replace")
    access = [line for line in log.splitlines() if "cognate::access" in line]
    assert any('operation="InitiateAuth"' in line and "status=200" in line and "request_id=" in line
               for line in access), access[-5:]
    assert "SeCrEt" not in log
    assert PASSWORD not in log and tokens["RefreshToken"] not in log
