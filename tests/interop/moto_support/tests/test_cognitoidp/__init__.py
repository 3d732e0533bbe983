"""Stand-in for moto's repository module `tests/test_cognitoidp/__init__.py` (not in moto's
sdist): the `cognitoidp_aws_verified` decorator of the AWS-verified Cognito tests.

Written for Cognate's interop suite, not copied. Its contract, as the test module uses it:
create a user pool named `TestUserPool_*` in us-west-2 with the requested username attributes,
account recovery, auto-verified attributes and MFA (an MFA pool gets an SNS caller role made in
IAM, and software-token MFA unless `with_software_mfa=False`), create an app client
`TestAppClient` with the requested read attributes, auth flows and secret, pass both responses
to the test as `user_pool` and `user_pool_client`, and delete the pool (and the role) afterwards.

Against real AWS (MOTO_TEST_ALLOW_AWS_REQUEST=true) the test runs as is; otherwise inside
`mock_aws()`. test_moto_module.py runs it the first way: boto3 reaches Cognate through
AWS_ENDPOINT_URL, and IAM (another AWS service, which Cognate does not serve) through
AWS_ENDPOINT_URL_IAM, a moto server of its own.
"""

import json
from functools import wraps
from uuid import uuid4

import boto3

from moto import mock_aws
from tests import allow_aws_request

_SNS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "cognito-idp.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
}
_SNS_PUBLISH = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}],
}


class _SnsRole:
    """An IAM role Cognito may assume to send SMS through SNS (what an MFA pool names)."""

    def __init__(self):
        self.iam = boto3.client("iam", "us-east-1")
        suffix = uuid4().hex[:6]
        self.name = f"test-role-{suffix}"
        self.arn = self.iam.create_role(
            RoleName=self.name, AssumeRolePolicyDocument=json.dumps(_SNS_TRUST)
        )["Role"]["Arn"]
        self.policy_arn = self.iam.create_policy(
            PolicyName=f"test-policy-{suffix}", PolicyDocument=json.dumps(_SNS_PUBLISH), Path="/"
        )["Policy"]["Arn"]
        self.iam.attach_role_policy(RoleName=self.name, PolicyArn=self.policy_arn)

    def delete(self):
        self.iam.detach_role_policy(RoleName=self.name, PolicyArn=self.policy_arn)
        self.iam.delete_policy(PolicyArn=self.policy_arn)
        self.iam.delete_role(RoleName=self.name)


def cognitoidp_aws_verified(
    username_attributes=None,
    read_attributes=None,
    explicit_auth_flows=None,
    generate_secret=False,
    recovery=None,
    verified_attributes=None,
    with_mfa=None,
    with_software_mfa=True,
):
    def pool_args(role):
        args = {}
        if username_attributes:
            args["UsernameAttributes"] = username_attributes
        if recovery:
            args["AccountRecoverySetting"] = {"RecoveryMechanisms": recovery}
        if role is not None:
            args["MfaConfiguration"] = with_mfa
            args["SmsConfiguration"] = {"SnsCallerArn": role.arn}
        if verified_attributes:
            args["AutoVerifiedAttributes"] = verified_attributes
        return args

    def client_args():
        args = {}
        if read_attributes:
            args["ReadAttributes"] = read_attributes
        if explicit_auth_flows:
            args["ExplicitAuthFlows"] = explicit_auth_flows
        if generate_secret:
            args["GenerateSecret"] = True
        return args

    def decorate(test):
        def with_pool(args, kwargs):
            cognito = boto3.client("cognito-idp", "us-west-2")
            role = _SnsRole() if with_mfa else None
            try:
                pool = cognito.create_user_pool(
                    PoolName=f"TestUserPool_{uuid4().hex[:6]}", **pool_args(role)
                )
                pool_id = pool["UserPool"]["Id"]
                try:
                    if with_mfa and with_software_mfa:
                        cognito.set_user_pool_mfa_config(
                            UserPoolId=pool_id,
                            SoftwareTokenMfaConfiguration={"Enabled": True},
                            MfaConfiguration=with_mfa,
                        )
                    kwargs["user_pool"] = pool
                    kwargs["user_pool_client"] = cognito.create_user_pool_client(
                        UserPoolId=pool_id, ClientName="TestAppClient", **client_args()
                    )
                    return test(*args, **kwargs)
                finally:
                    cognito.delete_user_pool(UserPoolId=pool_id)
            finally:
                if role is not None:
                    role.delete()

        @wraps(test)
        def run(*args, **kwargs):
            if allow_aws_request():
                return with_pool(args, kwargs)
            with mock_aws():
                return with_pool(args, kwargs)

        return run

    return decorate
