"""pytest plugin (`-p moto_against_cognate`) for moto's test_cognitoidp.py against Cognate.

The one setting that environment variables cannot make: `mock_aws` replaces AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY with moto's fake pair while a test runs, unless moto's documented
user configuration says `core.mock_credentials = False`. Cognate checks SigV4 signatures, so
the requests must stay signed with the Cognate admin credential that test_moto_module.py puts
in the environment. Nothing else about the tests changes.
"""

from moto.core.config import default_user_config

default_user_config["core"]["mock_credentials"] = False
