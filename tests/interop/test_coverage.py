"""The Cognito operations Cognate serves against botocore's model: `scripts/cognito-coverage`
must give a reason for every operation not served (and none for one that is), and the suite
prints the count."""

from __future__ import annotations

import json
import subprocess
import sys

from cognate_harness import REPO_ROOT


def test_every_operation_not_served_has_a_reason():
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/cognito-coverage"), "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["problems"] == [], report["problems"]
    assert all(report["not_served"].values())
    print(f"\ncognito-idp operations served: {len(report['served'])} of {report['botocore']}")
