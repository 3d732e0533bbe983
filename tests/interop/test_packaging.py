"""Running Cognate as a service: the graceful stop (drain, then finish what is under way, then
flush) and the packaging files in deploy/, checked against the binary they start.

The drain is what a load balancer or an orchestrator sees when a node is stopped: for
COGNATE_SHUTDOWN_DRAIN_SECS `/readyz` answers 503 `draining` and responses carry
`Connection: close`, while requests are still served; then the listener closes, a request
under way (here: one whose body is still arriving) is answered, and the process exits 0.
COGNATE_SHUTDOWN_TIMEOUT_SECS bounds how long a request that never ends can hold the stop up.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from cognate_harness import cognate_bin, dispose_server, new_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(request):
    s = new_server("sqlite")
    yield s
    dispose_server(s)


def open_slow_request(url: str, body: bytes) -> socket.socket:
    """Starts a POST of `body` to /oauth2/token and sends all but its last byte."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = (
        f"POST /oauth2/token HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:-1])
    return sock


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_a_stop_drains_then_answers_the_request_under_way_and_exits_cleanly(server):
    server.extra_env["COGNATE_SHUTDOWN_DRAIN_SECS"] = "3"
    server.start()
    assert requests.get(f"{server.url}/readyz", timeout=5).json()["status"] == "ready"

    body = b"grant_type=client_credentials&client_id=nobody"
    slow = open_slow_request(server.url, body)
    time.sleep(0.2)  # the server has read the head and waits for the body
    server.proc.send_signal(signal.SIGTERM)

    # Draining: still serving, readiness says so, and connections are not kept.
    deadline = time.monotonic() + 2
    while True:
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        if ready.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ready.status_code == 503, ready.text
    assert ready.json() == {"status": "draining"}
    assert ready.headers.get("Connection", "").lower() == "close"
    alive = requests.get(f"{server.url}/healthz", timeout=5)
    assert alive.status_code == 200 and alive.headers.get("Connection", "").lower() == "close"
    assert server.proc.poll() is None, "the process left before the drain period ended"

    # The request under way is answered (an OAuth error in its own shape), after the drain.
    slow.sendall(body[-1:])
    answer = read_response(slow).decode("utf-8", "replace")
    slow.close()
    assert answer.startswith("HTTP/1.1 4"), answer[:200]
    assert '"error"' in answer

    rc = server.proc.wait(timeout=20)
    assert rc == 0, server.log_tail()
    log = server.log_tail(20000)
    assert "draining" in log and "shut down cleanly" in log
    # After the drain the listener is closed.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/healthz", timeout=2)


def test_the_shutdown_timeout_cuts_off_a_request_that_never_ends(server):
    server.extra_env["COGNATE_SHUTDOWN_TIMEOUT_SECS"] = "1"
    server.start()
    stalled = open_slow_request(server.url, b"grant_type=client_credentials&client_id=x")
    time.sleep(0.2)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    rc = server.proc.wait(timeout=20)
    took = time.monotonic() - started
    stalled.close()
    assert rc == 0, server.log_tail()
    assert took < 10, f"the stop took {took:.1f} s"
    log = server.log_tail(20000)
    assert "cutting them off" in log and "shut down cleanly" in log


def test_without_a_drain_period_the_stop_is_immediate(server):
    server.start()
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    assert "draining:" not in server.log_tail(20000)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"COGNATE_SHUTDOWN_DRAIN_SECS": "301"}, "shutdown_drain_secs (COGNATE_SHUTDOWN_DRAIN_SECS) must be"),
        ({"COGNATE_SHUTDOWN_TIMEOUT_SECS": "0"}, "shutdown_timeout_secs (COGNATE_SHUTDOWN_TIMEOUT_SECS) must be"),
        ({"COGNATE_SHUTDOWN_DRAIN_SECS": "soon"}, "invalid value 'soon' for '--shutdown-drain-secs"),
    ],
)
def test_bad_shutdown_settings_are_refused_at_start(tmp_path, env, message):
    proc = subprocess.run(
        [str(cognate_bin()), "serve"],
        env={"COGNATE_DATA_DIR": str(tmp_path / "data"), "COGNATE_LISTEN": "127.0.0.1:0", "PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


def serve_settings() -> set[str]:
    """Every COGNATE_* variable `cognate serve` reads, from its own help."""
    help_text = subprocess.run(
        [str(cognate_bin()), "serve", "--help"], capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    return set(re.findall(r"\[env: (COGNATE_[A-Z0-9_]+)", help_text))


def test_the_dockerfile_and_the_systemd_unit_set_only_settings_cognate_knows():
    known = serve_settings()
    assert {"COGNATE_LISTEN", "COGNATE_DATA_DIR", "COGNATE_SHUTDOWN_DRAIN_SECS"} <= known
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    unit = (ROOT / "deploy/cognate.service").read_text()
    docker_env = set(re.findall(r"\b(COGNATE_[A-Z0-9_]+)=", dockerfile.split("ENV", 1)[1].split("VOLUME", 1)[0]))
    unit_env = set(re.findall(r"^Environment=(COGNATE_[A-Z0-9_]+)=", unit, re.M))
    assert docker_env and unit_env
    assert docker_env <= known, docker_env - known
    assert unit_env <= known, unit_env - known
    # The commented examples name real settings too.
    mentioned = set(re.findall(r"\b(COGNATE_[A-Z0-9_]+)\b", dockerfile + unit))
    assert mentioned <= known, mentioned - known
    # Both stop with SIGTERM and give the drain and the timeout time to run.
    assert "STOPSIGNAL SIGTERM" in dockerfile
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)
    stop_secs = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    assert stop_secs > 5 + 30
    assert re.search(r"^ExecStart=/usr/local/bin/cognate serve$", unit, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/cognate"]' in dockerfile and 'CMD ["serve"]' in dockerfile
