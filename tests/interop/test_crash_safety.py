"""Crash safety (SQLite): every AdminCreateUser acknowledged with a 200 survives `kill -9`."""

from __future__ import annotations

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from cognate_harness import dispose_server, new_server, uid

THREADS = 8
MAX_CALLS = 2000
# Kill once this many calls were acknowledged (and at least MIN_RUN seconds passed), so the
# test does not depend on how fast a loaded machine hashes passwords; give up after
# ACK_DEADLINE seconds.
KILL_AT_ACKS = 20
MIN_RUN = 1.0
ACK_DEADLINE = 60.0
HARD_DEADLINE = 30.0


def test_acknowledged_writes_survive_kill_9():
    srv = new_server("sqlite")
    try:
        srv.start()
        pool = srv.cognito.create_user_pool(PoolName=f"crash-{uid()}")["UserPool"]["Id"]
        acknowledged: list[str] = []
        unexpected: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        calls = [0]

        def worker(n: int) -> None:
            client = srv.client(read_timeout=10)
            i = 0
            while not stop.is_set():
                with lock:
                    if calls[0] >= MAX_CALLS:
                        return
                    calls[0] += 1
                name = f"w{n}-{i}-{uid(6)}"
                i += 1
                try:
                    resp = client.admin_create_user(
                        UserPoolId=pool, Username=name, MessageAction="SUPPRESS",
                        TemporaryPassword="Temp-Passw0rd!")
                except ClientError as exc:
                    if not stop.is_set():
                        with lock:
                            unexpected.append(f"{name}: {exc.response['Error']}")
                    continue
                except BotoCoreError:
                    # Connection refused/reset once the server is gone.
                    if stop.is_set():
                        return
                    time.sleep(0.01)
                    continue
                if resp["ResponseMetadata"]["HTTPStatusCode"] == 200:
                    with lock:
                        acknowledged.append(name)

        threads = [threading.Thread(target=worker, args=(n,), daemon=True)
                   for n in range(THREADS)]
        for t in threads:
            t.start()
        started = time.monotonic()
        while time.monotonic() - started < ACK_DEADLINE:
            with lock:
                enough = len(acknowledged) >= KILL_AT_ACKS
            if enough and time.monotonic() - started >= MIN_RUN:
                break
            time.sleep(0.05)
        srv.kill()  # SIGKILL while calls are in flight
        stop.set()
        deadline = time.monotonic() + HARD_DEADLINE
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "workers did not stop"
        assert not unexpected, unexpected[:5]
        assert len(acknowledged) >= KILL_AT_ACKS, f"only {len(acknowledged)} users were created in {ACK_DEADLINE}s"
        print(f"{len(acknowledged)} acknowledged of {calls[0]} calls before kill -9")

        srv.start()  # same data dir
        client = srv.client()
        client.describe_user_pool(UserPoolId=pool)  # the pool itself survived
        missing = []
        for name in acknowledged:
            try:
                client.admin_get_user(UserPoolId=pool, Username=name)
            except ClientError as exc:
                missing.append((name, exc.response["Error"]["Code"]))
        assert not missing, (f"{len(missing)} of {len(acknowledged)} acknowledged users lost "
                             f"after kill -9: {missing[:5]}")
        # The database is usable for writes after recovery.
        client.admin_create_user(UserPoolId=pool, Username=f"after-{uid()}",
                                 MessageAction="SUPPRESS", TemporaryPassword="Temp-Passw0rd!")
    finally:
        dispose_server(srv)
