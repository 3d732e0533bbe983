"""Email delivery through SMTP (README, "Self-service"): with COGNATE_SMTP_URL set, a worker
sends outbox messages to the relay and `cognate outbox` shows them delivered. The relay is
aiosmtpd, run in-process on a free loopback port."""

from __future__ import annotations

import email
import os
import subprocess
import email.policy
import re
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from cognate_harness import cognate_bin, uid

PASSWORD = "Corr3ct-H0rse!"
NEW_PASSWORD = "N3w-Passw0rd!!"
FROM = "Cognate Test <auth@cognate.test>"
#: Bound on how long a test waits for the worker (it polls every second).
WAIT = 20.0


class Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        with self.lock:
            return [m for _, rcpts, m in self.messages if address in rcpts]

    def wait_for(self, address: str, count: int = 1) -> list[email.message.EmailMessage]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            got = self.to(address)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        pytest.fail(f"no email to {address} within {WAIT} s; the relay got {self.messages!r}",
                    pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_relay(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    relay = Controller(inbox, hostname="127.0.0.1", port=port)
    relay.start()
    return relay, inbox


@pytest.fixture
def relay():
    controller, inbox = start_relay(free_port())
    yield controller, inbox
    controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {"COGNATE_SMTP_URL": f"smtp://127.0.0.1:{port}?tls=none", "COGNATE_SMTP_FROM": FROM}


def body_text(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def wait_outbox(srv, pool_id: str, username: str, done) -> dict:
    """Polls `cognate outbox` until the newest message to `username` satisfies `done`."""
    deadline = time.monotonic() + WAIT
    last = None
    while time.monotonic() < deadline:
        msgs = srv.messages_for(pool_id, username)
        if msgs:
            last = msgs[0]
            if done(last):
                return last
        time.sleep(0.2)
    pytest.fail(f"outbox message for {username} never reached the expected state: {last!r}",
                pytrace=False)


def setup_app(srv):
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"smtp-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return idp, pool, client


def confirmed_user(idp, pool, address: str) -> str:
    username = f"user-{uid()}"
    idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": address},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=PASSWORD,
                                Permanent=True)
    return username


def test_forgot_password_code_arrives_by_email(fresh_server, relay):
    controller, inbox = relay
    srv = fresh_server(smtp_env(controller.port))
    idp, pool, client = setup_app(srv)
    address = f"{uid()}@example.com"
    username = confirmed_user(idp, pool, address)

    idp.forgot_password(ClientId=client, Username=username)
    [msg] = inbox.wait_for(address)
    assert msg["To"] == address
    assert msg["From"] == FROM
    body = body_text(msg)
    codes = re.findall(r"\b\d{6}\b", body)
    assert len(codes) == 1, body
    code = codes[0]

    row = wait_outbox(srv, pool, username, lambda m: m["status"] == "delivered")
    assert row["medium"] == "EMAIL" and row["destination"] == address
    assert row["subject"] == msg["Subject"]
    # Once delivered, the code leaves the outbox: no copy of the database keeps it.
    assert row["body"] is None
    assert row["attempts"] == 0 and row["lastError"] is None and row["deliveredAt"] >= row["createdAt"]

    # The emailed code is the one the server checks.
    idp.confirm_forgot_password(ClientId=client, Username=username, ConfirmationCode=code,
                                Password=NEW_PASSWORD)
    idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                      AuthParameters={"USERNAME": username, "PASSWORD": NEW_PASSWORD})
    # Sent once, even though the worker keeps polling.
    time.sleep(1.5)
    assert len(inbox.to(address)) == 1


def test_invitation_carries_the_temporary_password(fresh_server, relay):
    controller, inbox = relay
    srv = fresh_server(smtp_env(controller.port))
    idp, pool, _ = setup_app(srv)
    address = f"{uid()}@example.com"
    username = f"invitee-{uid()}"
    temporary = "Tmp-" + uid(8) + "1!"
    idp.admin_create_user(UserPoolId=pool, Username=username, TemporaryPassword=temporary,
                          DesiredDeliveryMediums=["EMAIL"],
                          UserAttributes=[{"Name": "email", "Value": address}])
    [msg] = inbox.wait_for(address)
    body = body_text(msg)
    assert temporary in body and username in body, body
    row = wait_outbox(srv, pool, username, lambda m: m["status"] == "delivered")
    assert row["destination"] == address


def test_unreachable_relay_is_retried_until_it_answers(fresh_server):
    port = free_port()  # nothing listens here yet
    srv = fresh_server(smtp_env(port))
    idp, pool, client = setup_app(srv)
    address = f"{uid()}@example.com"
    username = confirmed_user(idp, pool, address)
    idp.forgot_password(ClientId=client, Username=username)

    failed = wait_outbox(srv, pool, username, lambda m: m["attempts"] >= 1)
    assert failed["status"] == "pending" and failed["deliveredAt"] is None
    assert failed["lastError"], failed
    assert failed["body"] and failed["body"] not in failed["lastError"]

    controller, inbox = start_relay(port)
    try:
        [msg] = inbox.wait_for(address)
        assert re.search(r"\b\d{6}\b", body_text(msg))
        row = wait_outbox(srv, pool, username, lambda m: m["status"] == "delivered")
        assert row["attempts"] >= 1
    finally:
        controller.stop()


@pytest.mark.parametrize("env, setting", [
    ({"COGNATE_SMTP_URL": "smtp://relay?tls=sometimes"}, "COGNATE_SMTP_URL"),
    ({"COGNATE_SMTP_URL": "smtp://user:s3cret@relay?tls=none", "COGNATE_SMTP_FROM": "nobody"},
     "COGNATE_SMTP_FROM"),
    ({"COGNATE_SMTP_URL": "http://user:s3cret@relay"}, "COGNATE_SMTP_URL"),
])
def test_invalid_smtp_settings_stop_start_up(tmp_path, env, setting):
    proc = subprocess.run(
        [str(cognate_bin()), "serve"], cwd=tmp_path, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=30,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("COGNATE_")},
             "COGNATE_DATA_DIR": str(tmp_path / "data"), "COGNATE_LISTEN": "127.0.0.1:0", **env},
    )
    assert proc.returncode == 2, proc
    assert setting in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stderr
