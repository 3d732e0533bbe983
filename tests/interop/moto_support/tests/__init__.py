"""Stand-in for moto's repository module `tests/__init__.py`, which moto's sdist does not ship
but `tests/test_cognitoidp/test_cognitoidp.py` imports (`from tests import allow_aws_request`).

Written for Cognate's interop suite, not copied: it keeps the one contract the Cognito test
module relies on. `MOTO_TEST_ALLOW_AWS_REQUEST=true` means "the AWS-verified tests talk to the
real service": test_moto_module.py sets it, because against Cognate they do (boto3 reaches
Cognate through AWS_ENDPOINT_URL), and the tests then take the branches written for AWS (for
example, waiting for a fresh TOTP code instead of replaying one, which AWS and Cognate refuse).
"""

import os


def allow_aws_request() -> bool:
    return os.environ.get("MOTO_TEST_ALLOW_AWS_REQUEST", "false").lower() == "true"
