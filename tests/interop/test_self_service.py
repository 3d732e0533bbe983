"""Self-service operations (unsigned): SignUp, ConfirmSignUp, ResendConfirmationCode,
ForgotPassword, ConfirmForgotPassword, ChangePassword, GetUser, UpdateUserAttributes,
DeleteUser, GlobalSignOut, and AdminUserGlobalSignOut. Codes are read from the outbox with
`cognate outbox`."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from cognate_harness import attrs, raises_cognito, uid
from conftest import PASSWORD

NEW_PASSWORD = "N3w-Passw0rd!!"
# SignUp sends a code only to an auto-verified contact, as in Cognito.
VERIFY_EMAIL = {"AutoVerifiedAttributes": ["email"]}
TENANT_SCHEMA = [{"Name": "tenantId", "AttributeDataType": "String", "Mutable": True},
                 {"Name": "dept", "AttributeDataType": "String", "Mutable": True}]


def sign_up(cognito, app, username=None, email=None, password=PASSWORD, **kw):
    username = username or f"user-{uid()}"
    email = email or f"{uid()}@example.com"
    if app.client_secret:
        kw["SecretHash"] = app.secret_hash(username)
    resp = cognito.sign_up(ClientId=app.client_id, Username=username, Password=password,
                           UserAttributes=[{"Name": "email", "Value": email}], **kw)
    return username, email, resp


def status(cognito, app, username) -> str:
    return cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)["UserStatus"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --------------------------------------------------------------------------- SignUp / confirm


def test_sign_up_and_confirm(server, cognito, make_app, sign_in):
    app = make_app(VERIFY_EMAIL)
    username, email, resp = sign_up(cognito, app)
    assert resp["UserConfirmed"] is False
    assert str(uuid.UUID(resp["UserSub"])) == resp["UserSub"]
    delivery = resp["CodeDeliveryDetails"]
    assert delivery["DeliveryMedium"] == "EMAIL"
    assert delivery["AttributeName"] == "email"
    assert delivery["Destination"] and delivery["Destination"] != email  # masked
    assert status(cognito, app, username) == "UNCONFIRMED"
    got = attrs(cognito.admin_get_user(UserPoolId=app.pool_id,
                                       Username=username)["UserAttributes"])
    assert got["sub"] == resp["UserSub"] and got["email"] == email

    code, msg = server.latest_code(app.pool_id, username)
    assert msg["poolId"] == app.pool_id
    assert msg["medium"].upper() == "EMAIL"
    assert msg["destination"] == email

    with raises_cognito("CodeMismatchException"):
        cognito.confirm_sign_up(ClientId=app.client_id, Username=username,
                                ConfirmationCode=wrong(code))
    assert status(cognito, app, username) == "UNCONFIRMED"
    cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code)
    assert status(cognito, app, username) == "CONFIRMED"
    tokens = sign_in(app, username)
    assert cognito.get_user(AccessToken=tokens["AccessToken"])["Username"] == username
    # the code was single-use, and the user is confirmed already (Cognito's answer)
    with raises_cognito("NotAuthorizedException") as info:
        cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code)
    assert "CONFIRMED" in info.value.response["Error"]["Message"]


def test_sign_up_errors(cognito, app, make_app):
    username, _, _ = sign_up(cognito, app)
    with raises_cognito("UsernameExistsException"):
        sign_up(cognito, app, username=username)
    with raises_cognito("InvalidPasswordException"):
        sign_up(cognito, app, password="short")
    with raises_cognito("ResourceNotFoundException"):
        cognito.sign_up(ClientId="c" * 26, Username=f"user-{uid()}", Password=PASSWORD)

    secret = make_app(secret=True)
    with raises_cognito("NotAuthorizedException"):
        cognito.sign_up(ClientId=secret.client_id, Username=f"user-{uid()}", Password=PASSWORD)
    with raises_cognito("NotAuthorizedException"):
        cognito.sign_up(ClientId=secret.client_id, Username="someone", Password=PASSWORD,
                        SecretHash=secret.secret_hash("someone-else"))
    name, _, resp = sign_up(cognito, secret)
    assert resp["UserConfirmed"] is False


def test_confirm_sign_up_with_secret_client(server, cognito, make_app):
    app = make_app(VERIFY_EMAIL, secret=True)
    username, _, _ = sign_up(cognito, app)
    code, _ = server.latest_code(app.pool_id, username)
    with raises_cognito("NotAuthorizedException"):
        cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code)
    cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code,
                            SecretHash=app.secret_hash(username))
    assert status(cognito, app, username) == "CONFIRMED"


def test_confirmation_attempts_are_limited(server, cognito, make_app):
    app = make_app(VERIFY_EMAIL)
    username, _, _ = sign_up(cognito, app)
    code, _ = server.latest_code(app.pool_id, username)
    bad = wrong(code)
    for _ in range(5):
        with raises_cognito("CodeMismatchException"):
            cognito.confirm_sign_up(ClientId=app.client_id, Username=username,
                                    ConfirmationCode=bad)
    with pytest.raises(ClientError) as info:
        cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=bad)
    assert info.value.response["Error"]["Code"] in {"TooManyFailedAttemptsException",
                                                    "LimitExceededException"}
    assert 400 <= info.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    # the code is spent: even the right one no longer confirms; a new code does
    with pytest.raises(ClientError):
        cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code)
    assert status(cognito, app, username) == "UNCONFIRMED"
    _, first = server.latest_code(app.pool_id, username)
    cognito.resend_confirmation_code(ClientId=app.client_id, Username=username)
    fresh, _ = server.latest_code(app.pool_id, username, not_in={first["id"]})
    cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=fresh)
    assert status(cognito, app, username) == "CONFIRMED"


def test_resend_confirmation_code(server, cognito, make_app):
    app = make_app(VERIFY_EMAIL)
    username, _, _ = sign_up(cognito, app)
    _, first = server.latest_code(app.pool_id, username)
    resp = cognito.resend_confirmation_code(ClientId=app.client_id, Username=username)
    assert resp["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert resp["CodeDeliveryDetails"]["AttributeName"] == "email"
    code, second = server.latest_code(app.pool_id, username, not_in={first["id"]})
    assert second["id"] != first["id"]
    cognito.confirm_sign_up(ClientId=app.client_id, Username=username, ConfirmationCode=code)
    assert status(cognito, app, username) == "CONFIRMED"


def test_sign_up_unknown_user_confirmation(cognito, app):
    # PreventUserExistenceErrors=ENABLED: does not reveal that the user does not exist
    with raises_cognito("CodeMismatchException"):
        cognito.confirm_sign_up(ClientId=app.client_id, Username=f"ghost-{uid()}",
                                ConfirmationCode="123456")


# --------------------------------------------------------------------------- forgotten password


def test_forgot_password_through_the_outbox(server, cognito, app, make_confirmed_user, sign_in):
    email = f"{uid()}@example.com"
    username = make_confirmed_user(app.pool_id, attributes={"email": email,
                                                            "email_verified": "true"})
    resp = cognito.forgot_password(ClientId=app.client_id, Username=username)
    assert resp["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert resp["CodeDeliveryDetails"]["AttributeName"] == "email"
    code, msg = server.latest_code(app.pool_id, username)
    assert msg["destination"] == email

    with raises_cognito("CodeMismatchException"):
        cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                        ConfirmationCode=wrong(code), Password=NEW_PASSWORD)
    with raises_cognito("InvalidPasswordException"):
        cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                        ConfirmationCode=code, Password="short")
    cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                    ConfirmationCode=code, Password=NEW_PASSWORD)
    assert status(cognito, app, username) == "CONFIRMED"
    with raises_cognito("NotAuthorizedException"):
        sign_in(app, username, PASSWORD)
    assert sign_in(app, username, NEW_PASSWORD)["AccessToken"]
    # single-use code (with PreventUserExistenceErrors every failure is a mismatch, so the
    # answer cannot tell a real user from an unknown one)
    with raises_cognito("CodeMismatchException"):
        cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                        ConfirmationCode=code, Password="An0ther-Passw0rd!")
    assert sign_in(app, username, NEW_PASSWORD)["AccessToken"]


def test_forgot_password_from_reset_required(server, cognito, app, make_confirmed_user,
                                             sign_in):
    username = make_confirmed_user(app.pool_id, attributes={"email": f"{uid()}@example.com",
                                                            "email_verified": "true"})
    cognito.admin_reset_user_password(UserPoolId=app.pool_id, Username=username)
    assert status(cognito, app, username) == "RESET_REQUIRED"
    seen = {m["id"] for m in server.messages_for(app.pool_id, username)}
    cognito.forgot_password(ClientId=app.client_id, Username=username)
    code, _ = server.latest_code(app.pool_id, username, not_in=seen)
    cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                    ConfirmationCode=code, Password=NEW_PASSWORD)
    assert status(cognito, app, username) == "CONFIRMED"
    assert sign_in(app, username, NEW_PASSWORD)["AccessToken"]


def test_forgot_password_with_secret_client(server, cognito, make_app, make_confirmed_user,
                                            sign_in):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id, attributes={"email": f"{uid()}@example.com",
                                                            "email_verified": "true"})
    with raises_cognito("NotAuthorizedException"):
        cognito.forgot_password(ClientId=app.client_id, Username=username)
    cognito.forgot_password(ClientId=app.client_id, Username=username,
                            SecretHash=app.secret_hash(username))
    code, _ = server.latest_code(app.pool_id, username)
    cognito.confirm_forgot_password(ClientId=app.client_id, Username=username,
                                    ConfirmationCode=code, Password=NEW_PASSWORD,
                                    SecretHash=app.secret_hash(username))
    assert sign_in(app, username, NEW_PASSWORD)["AccessToken"]


# --------------------------------------------------------------------------- access-token ops


def test_change_password(cognito, user_tokens, sign_in):
    app, username, tokens = user_tokens
    with raises_cognito("NotAuthorizedException"):
        cognito.change_password(AccessToken=tokens["AccessToken"],
                                PreviousPassword="Wr0ng-Password!", ProposedPassword=NEW_PASSWORD)
    with raises_cognito("InvalidPasswordException"):
        cognito.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD,
                                ProposedPassword="short")
    cognito.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD,
                            ProposedPassword=NEW_PASSWORD)
    with raises_cognito("NotAuthorizedException"):
        sign_in(app, username, PASSWORD)
    assert sign_in(app, username, NEW_PASSWORD)["AccessToken"]
    with raises_cognito("NotAuthorizedException"):
        cognito.change_password(AccessToken="not.a.token", PreviousPassword=NEW_PASSWORD,
                                ProposedPassword=PASSWORD)


def test_get_user(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(pool={"Schema": TENANT_SCHEMA})
    email = f"{uid()}@example.com"
    username = make_confirmed_user(app.pool_id, attributes={
        "email": email, "email_verified": "true", "custom:tenantId": "acme"})
    tokens = sign_in(app, username)
    got = cognito.get_user(AccessToken=tokens["AccessToken"])
    assert got["Username"] == username
    a = attrs(got["UserAttributes"])
    assert a["email"] == email and a["email_verified"] == "true"
    assert a["custom:tenantId"] == "acme"
    assert a["sub"] == attrs(cognito.admin_get_user(
        UserPoolId=app.pool_id, Username=username)["UserAttributes"])["sub"]
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["IdToken"])


def test_update_user_attributes_honours_write_attributes(cognito, make_app, make_client,
                                                         make_confirmed_user, sign_in):
    app = make_app(pool={"Schema": TENANT_SCHEMA},
                   ReadAttributes=["email", "given_name", "custom:tenantId"],
                   WriteAttributes=["given_name"])
    username = make_confirmed_user(app.pool_id, attributes={"custom:tenantId": "acme"})
    tokens = sign_in(app, username)

    cognito.update_user_attributes(AccessToken=tokens["AccessToken"],
                                   UserAttributes=[{"Name": "given_name", "Value": "Grace"}])
    a = attrs(cognito.get_user(AccessToken=tokens["AccessToken"])["UserAttributes"])
    assert a["given_name"] == "Grace"

    with raises_cognito("NotAuthorizedException") as info:
        cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
            {"Name": "custom:tenantId", "Value": "evil-corp"}])
    assert "A client attempted to write unauthorized attribute" in info.value.response[
        "Error"]["Message"]
    with raises_cognito("NotAuthorizedException"):  # all or nothing
        cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
            {"Name": "given_name", "Value": "Mallory"},
            {"Name": "custom:tenantId", "Value": "evil-corp"}])
    a = attrs(cognito.admin_get_user(UserPoolId=app.pool_id,
                                     Username=username)["UserAttributes"])
    assert a["custom:tenantId"] == "acme" and a["given_name"] == "Grace"

    # a client without WriteAttributes may write the standard attributes, not custom ones
    # (Cognito's default; custom:tenantId must stay admin-only)
    open_client = make_client(app.pool_id)
    tokens = sign_in(open_client, username)
    cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
        {"Name": "family_name", "Value": "Hopper"}])
    with raises_cognito("NotAuthorizedException"):
        cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
            {"Name": "custom:tenantId", "Value": "globex"}])
    # a client that lists a custom attribute in WriteAttributes may write it
    writer = make_client(app.pool_id, WriteAttributes=["given_name", "custom:dept"])
    tokens = sign_in(writer, username)
    cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
        {"Name": "custom:dept", "Value": "R&D"}])
    a = attrs(cognito.admin_get_user(UserPoolId=app.pool_id,
                                     Username=username)["UserAttributes"])
    assert a["custom:dept"] == "R&D" and a["family_name"] == "Hopper"
    # tenant attributes belong to the control plane: no client may write them, even one
    # that lists them in WriteAttributes (docs/tenancy.md)
    tenant_writer = make_client(app.pool_id, WriteAttributes=["custom:tenantId"])
    tokens = sign_in(tenant_writer, username)
    with raises_cognito("NotAuthorizedException"):
        cognito.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=[
            {"Name": "custom:tenantId", "Value": "globex"}])
    assert attrs(cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)[
        "UserAttributes"])["custom:tenantId"] == "acme"


def test_delete_user(cognito, user_tokens, sign_in):
    app, username, tokens = user_tokens
    cognito.delete_user(AccessToken=tokens["AccessToken"])
    with raises_cognito("UserNotFoundException"):
        cognito.admin_get_user(UserPoolId=app.pool_id, Username=username)
    with raises_cognito("NotAuthorizedException"):
        sign_in(app, username)
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["AccessToken"])


# --------------------------------------------------------------------------- sign-out


def assert_signed_out(cognito, app, sessions):
    for tokens in sessions:
        with raises_cognito("NotAuthorizedException"):
            cognito.get_user(AccessToken=tokens["AccessToken"])
        with raises_cognito("NotAuthorizedException"):
            cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
        with raises_cognito("NotAuthorizedException"):
            cognito.get_tokens_from_refresh_token(ClientId=app.client_id,
                                                  RefreshToken=tokens["RefreshToken"])


def test_global_sign_out(cognito, user_tokens, sign_in, make_confirmed_user):
    app, username, first = user_tokens
    second = sign_in(app, username)
    refreshed = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]})[
        "AuthenticationResult"]
    other_user = make_confirmed_user(app.pool_id)
    bystander = sign_in(app, other_user)

    cognito.global_sign_out(AccessToken=second["AccessToken"])
    assert_signed_out(cognito, app, [first, second])
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=refreshed["AccessToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.global_sign_out(AccessToken=second["AccessToken"])
    # other users are untouched
    assert cognito.get_user(AccessToken=bystander["AccessToken"])["Username"] == other_user
    # signing in again right away works
    again = sign_in(app, username)
    assert cognito.get_user(AccessToken=again["AccessToken"])["Username"] == username
    assert cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                 AuthParameters={"REFRESH_TOKEN": again["RefreshToken"]})[
        "AuthenticationResult"]["AccessToken"]


def test_admin_user_global_sign_out(cognito, user_tokens, sign_in):
    app, username, first = user_tokens
    second = sign_in(app, username)
    cognito.admin_user_global_sign_out(UserPoolId=app.pool_id, Username=username)
    assert_signed_out(cognito, app, [first, second])
    again = sign_in(app, username)
    assert cognito.get_user(AccessToken=again["AccessToken"])["Username"] == username
    with raises_cognito("UserNotFoundException"):
        cognito.admin_user_global_sign_out(UserPoolId=app.pool_id, Username=f"ghost-{uid()}")


# --------------------------------------------------------------------------- secrets at rest


def test_codes_and_invitations_are_sealed_at_rest_and_blanked_when_expired(fresh_server):
    """Someone reading the database (the SQLite file, a PostgreSQL backup) finds no reset
    code, temporary password or invitation token in the outbox; once the secret expired the
    body is gone entirely."""
    from cognate_harness import Tenancy  # noqa: PLC0415

    srv = fresh_server()
    idp = srv.cognito
    pool = idp.create_user_pool(PoolName=f"sealed-{uid()}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    email = f"{uid()}@example.com"
    temporary = "Tmp-" + uid(8) + "1!"
    idp.admin_create_user(UserPoolId=pool, Username="sealed-user", TemporaryPassword=temporary,
                          DesiredDeliveryMediums=["EMAIL"],
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username="sealed-user", Password=PASSWORD, Permanent=True)
    idp.forgot_password(ClientId=client, Username="sealed-user")
    code, _ = srv.latest_code(pool, "sealed-user")  # readable through `cognate outbox`
    t = Tenancy(srv)
    tenant = t.create_tenant("sealed")
    _, token = t.invite(tenant["id"], f"{uid()}@example.com", "admin")

    rows = srv.raw_rows("SELECT body, secret_expires_at FROM outbox")
    assert len(rows) >= 3
    for body, expires in rows:
        assert body.startswith("sealed:"), body[:40]
        assert code not in body and temporary not in body and token not in body
        assert expires is not None

    # Forty days later every secret has expired: the bodies are blanked (the server blanks
    # them every minute; here the time is moved instead of waited for).
    assert srv.stop() == 0
    srv.raw_rows("UPDATE outbox SET secret_expires_at = 1")
    srv.start()  # the redactor runs at once on start
    import time  # noqa: PLC0415

    deadline = time.monotonic() + 10
    while any(body for (body,) in srv.raw_rows("SELECT body FROM outbox")):
        assert time.monotonic() < deadline, "expired bodies were not blanked"
        time.sleep(0.2)
    assert all(m["body"] is None for m in srv.outbox(pool))
