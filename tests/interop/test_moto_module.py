"""moto's own Cognito test module, run unmodified against Cognate (issue 14).

`tests/test_cognitoidp/test_cognitoidp.py` comes from moto's sdist on PyPI, pinned by version
and SHA-256, downloaded once with pip and cached in tests/interop/.moto-cache/ (git-ignored;
it is moto's code, not ours). It runs in a pytest subprocess against a Cognate started here,
pointed there only through moto's and boto3's own settings:

* `TEST_SERVER_MODE=true` + `TEST_SERVER_MODE_ENDPOINT`: moto's `mock_aws` intercepts nothing
  and hands every `boto3.client(...)` made inside it Cognate's URL (moto/core/models.py,
  ServerModeMockAWS). Its per-test `POST /moto-api/reset` is switched off
  (`MOTO_CALL_RESET_API=false`): Cognate has no such endpoint, and a product should not.
* `MOTO_TEST_ALLOW_AWS_REQUEST=true` + `AWS_ENDPOINT_URL`: the AWS-verified tests run as they do
  against AWS (outside `mock_aws`, taking the branches written for AWS), with boto3's own
  endpoint setting naming Cognate.
* `AWS_ENDPOINT_URL_IAM`: the three MFA pools of `cognitoidp_aws_verified(with_mfa=...)` name an
  SNS caller role made in IAM; IAM is another AWS service, served here by a moto server.
* the Cognate admin credential as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, kept while a test runs
  by moto's `core.mock_credentials = False` setting (moto_support/moto_against_cognate.py,
  loaded with `-p`: `mock_aws` otherwise swaps in its fake keys); Cognate configured
  with region us-west-2 (the tests' region) and account id 123456789012 (moto's).

moto's repository helpers that the module imports (`tests`, `tests.test_cognitoidp`) are not in
the sdist: tests/interop/moto_support/ holds stand-ins written here (see their docstrings).

Every test passes except those listed in moto_expected_failures.txt, each with a category and a
reason; a listed test that passes fails this test too, so the list cannot rot.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from cognate_harness import dispose_server, new_server, pg_skip_requested

HERE = Path(__file__).resolve().parent
MOTO_VERSION = "5.2.6"
SDIST_SHA256 = "247351594cfa4917ec74834a0be62915804d568ad3b667988194668ad39c44a7"
MODULE_IN_SDIST = f"moto-{MOTO_VERSION}/tests/test_cognitoidp/test_cognitoidp.py"
CACHE = HERE / ".moto-cache"
SUPPORT = HERE / "moto_support"
EXPECTED_FILE = HERE / "moto_expected_failures.txt"
CATEGORIES = ("moto-accepts-invalid-input", "moto-differs-from-aws", "moto-internals",
              "other-aws-service", "not-served-yet")
ACCOUNT_ID = "123456789012"  # moto's DEFAULT_ACCOUNT_ID, in the tests' expected ARNs
REGION = "us-west-2"  # the region nearly every test names


def moto_module() -> Path:
    """The cached test module, downloaded (and checked) on first use."""
    run_dir = CACHE / f"moto-{MOTO_VERSION}"
    module = run_dir / "test_cognitoidp.py"
    if module.exists():
        return module
    CACHE.mkdir(exist_ok=True)
    sdist = CACHE / f"moto-{MOTO_VERSION}.tar.gz"
    if not sdist.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"moto=={MOTO_VERSION}",
             "--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(CACHE)],
            check=True, timeout=600,
        )
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert digest == SDIST_SHA256, f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256}"
    with tarfile.open(sdist) as tar:
        source = tar.extractfile(MODULE_IN_SDIST)
        assert source is not None, f"{MODULE_IN_SDIST} missing from {sdist}"
        run_dir.mkdir(exist_ok=True)
        partial = module.with_suffix(".part")
        partial.write_bytes(source.read())
        partial.replace(module)
    return module


def load_expected() -> dict[str, tuple[str, str]]:
    """moto_expected_failures.txt: `test_name  category[: operation]  reason` per line."""
    expected: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(EXPECTED_FILE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        assert len(parts) == 3, f"{EXPECTED_FILE.name}:{number}: want `test category reason`"
        name, category, reason = parts
        if category.startswith("not-served-yet"):
            op, _, reason = reason.partition(" ")
            category = f"{category} {op}"
            assert category.startswith("not-served-yet: ") and op and reason, \
                f"{EXPECTED_FILE.name}:{number}: want `not-served-yet: Operation reason`"
        else:
            assert category in CATEGORIES, f"{EXPECTED_FILE.name}:{number}: unknown {category!r}"
        assert name not in expected, f"{EXPECTED_FILE.name}:{number}: {name} listed twice"
        expected[name] = (category, reason.strip())
    return expected


def outcomes(junit: Path) -> dict[str, str]:
    """test name -> passed | failed | skipped, from pytest's JUnit XML report."""
    result: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            outcome = "failed"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        name = case.get("name", "")
        # A teardown error reports the test a second time: failure wins.
        if result.get(name) != "failed":
            result[name] = outcome
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="module")
def iam_endpoint():
    """A moto server for IAM only (the SNS role of the tests' MFA pools)."""
    exe = Path(sys.executable).parent / "moto_server"
    port = free_port()
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/moto-api/")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_module(server, iam: str, tmp_path: Path) -> tuple[dict[str, str], str]:
    module = moto_module()
    creds = server.credentials()
    junit = tmp_path / "moto-junit.xml"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MOTO_", "TEST_", "PYTEST_"))}
    env.update({
        "TEST_SERVER_MODE": "true",
        "TEST_SERVER_MODE_ENDPOINT": server.url,
        "MOTO_CALL_RESET_API": "false",
        "MOTO_TEST_ALLOW_AWS_REQUEST": "true",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ENDPOINT_URL_IAM": iam,
        "AWS_ACCESS_KEY_ID": creds["key"],
        "AWS_SECRET_ACCESS_KEY": creds["secret"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PYTHONPATH": str(SUPPORT),
    })
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-c", str(SUPPORT / "pytest.ini"),
         "--rootdir", str(module.parent), "--confcutdir", str(module.parent),
         "-p", "no:cacheprovider", "-p", "moto_against_cognate", "-q", "-rfE", "--tb=short", f"--junitxml={junit}"],
        cwd=module.parent, env=env, capture_output=True, text=True, timeout=3600,
    )
    assert junit.exists(), f"pytest wrote no report (exit {proc.returncode}):\n" \
                           f"{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    return outcomes(junit), proc.stdout


# The module takes about 150 s per backend here (some AWS-verified MFA tests wait for the
# next TOTP step, as against AWS); the suite's 300 s default is too tight under load.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_moto_cognitoidp_module(backend, iam_endpoint, tmp_path):
    if backend == "postgres" and pg_skip_requested():
        pytest.skip("COGNATE_SKIP_PG=1")
    expected = load_expected()
    server = new_server(backend)
    server.extra_env.update({
        "COGNATE_REGION": REGION,
        "COGNATE_ACCOUNT_ID": ACCOUNT_ID,
        "COGNATE_THROTTLE_IP_FAILURES": "100000",
    })
    try:
        server.start()
        results, stdout = run_module(server, iam_endpoint, tmp_path)
    finally:
        dispose_server(server)

    passed = sorted(n for n, o in results.items() if o == "passed")
    failed = sorted(n for n, o in results.items() if o == "failed")
    skipped = sorted(n for n, o in results.items() if o == "skipped")
    by_category: dict[str, int] = {}
    for name in failed:
        if name in expected:
            category = expected[name][0].split(":")[0]
            by_category[category] = by_category.get(category, 0) + 1
    summary = ", ".join(f"{n} {c}" for c, n in sorted(by_category.items()))
    print(f"\nmoto {MOTO_VERSION} test_cognitoidp.py on {backend}: {len(passed)} of "
          f"{len(results)} pass, {len(skipped)} skipped by moto in server mode; "
          f"{len(failed)} expected failures ({summary})")

    unexpected = [n for n in failed if n not in expected]
    now_passing = [n for n in passed if n in expected]
    not_failing = [n for n in expected if results.get(n) != "failed" and n not in now_passing]
    assert not unexpected, (
        f"{len(unexpected)} moto tests fail that are not in {EXPECTED_FILE.name}: "
        f"{unexpected}\n{stdout[-20000:]}"
    )
    assert not now_passing, f"listed in {EXPECTED_FILE.name} but passing now: {now_passing}"
    assert not not_failing, (
        f"listed in {EXPECTED_FILE.name} but skipped or not in moto's module: {not_failing}"
    )
