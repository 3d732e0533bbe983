"""RevokeToken (then refusal), EnableTokenRevocation, and the revocation feed
`GET /{poolId}/revocations` that guards poll to reject revoked tokens before `exp`."""

from __future__ import annotations

import time

import pytest
import requests

from cognate_harness import jwt_claims, raises_cognito, uid


def feed(server, app, after=None, limit=None, auth=None):
    params = {}
    if after is not None:
        params["after"] = after
    if limit is not None:
        params["limit"] = limit
    return requests.get(f"{server.url}/{app.pool_id}/revocations", params=params,
                        auth=auth if auth is not None else (app.client_id, app.client_secret),
                        timeout=30)


def feed_items(server, app, after=None, limit=None):
    """(items, cursor to pass as `after` next time)."""
    resp = feed(server, app, after, limit)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body["items"], list), body
    for item in body["items"]:
        assert isinstance(item["cursor"], str) and item["cursor"], item
        assert item["kind"] in ("token", "user"), item
    if body["items"]:
        assert isinstance(body.get("nextCursor"), str) and body["nextCursor"], body
    # an empty feed may have no cursor yet: then the caller keeps the one it had
    return body["items"], body.get("nextCursor") or after


def all_items(server, app, after=None, limit=None):
    items, pages = [], 0
    while True:
        page, after = feed_items(server, app, after, limit)
        if limit is not None:
            assert len(page) <= limit
        if not page:
            return items, after
        items.extend(page)
        pages += 1
        assert pages < 100, "the feed does not end"


# --------------------------------------------------------------------------- RevokeToken


def test_revoke_token_refuses_the_family(cognito, user_tokens, sign_in):
    app, username, tokens = user_tokens
    refreshed = cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})[
        "AuthenticationResult"]
    other = sign_in(app, username)

    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)

    for access in (tokens["AccessToken"], refreshed["AccessToken"]):
        with raises_cognito("NotAuthorizedException"):
            cognito.get_user(AccessToken=access)
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    with raises_cognito("NotAuthorizedException"):
        cognito.get_tokens_from_refresh_token(ClientId=app.client_id,
                                              RefreshToken=tokens["RefreshToken"])
    # another sign-in of the same user is a different family and keeps working
    assert cognito.get_user(AccessToken=other["AccessToken"])["Username"] == username
    # revoking again, or an unknown token, is not an error (RFC 7009 semantics)
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)
    cognito.revoke_token(Token="not-a-refresh-token-" + uid(40), ClientId=app.client_id)
    assert cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                 AuthParameters={"REFRESH_TOKEN": other["RefreshToken"]})[
        "AuthenticationResult"]["AccessToken"]


def test_revoke_token_with_secret_client(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(secret=True)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    for kw in ({}, {"ClientSecret": "wrong-secret-" + uid(20)}):
        with raises_cognito("NotAuthorizedException"):
            cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id, **kw)
    assert cognito.get_user(AccessToken=tokens["AccessToken"])["Username"] == username
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id,
                         ClientSecret=app.client_secret)
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["AccessToken"])


def test_revoke_token_refused_cases(cognito, user_tokens, make_client, make_app,
                                    make_confirmed_user, sign_in):
    app, username, tokens = user_tokens
    # another client of the pool cannot revoke this client's token
    other = make_client(app.pool_id)
    with raises_cognito("UnauthorizedException"):
        cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=other.client_id)
    # an access token is not a refresh token
    with raises_cognito("UnsupportedTokenTypeException"):
        cognito.revoke_token(Token=tokens["AccessToken"], ClientId=app.client_id)
    assert cognito.get_user(AccessToken=tokens["AccessToken"])["Username"] == username

    # a client with EnableTokenRevocation=false cannot revoke
    no_revoke = make_app(EnableTokenRevocation=False)
    user = make_confirmed_user(no_revoke.pool_id)
    nr_tokens = sign_in(no_revoke, user)
    with raises_cognito("UnsupportedOperationException"):
        cognito.revoke_token(Token=nr_tokens["RefreshToken"], ClientId=no_revoke.client_id)
    assert cognito.get_user(AccessToken=nr_tokens["AccessToken"])["Username"] == user


# --------------------------------------------------------------------------- feed


@pytest.fixture
def watcher(make_client, app):
    """A client with a secret in `app`'s pool: what a resource server uses to read the feed."""
    return make_client(app.pool_id, secret=True)


def test_revocation_feed_reports_revoke_and_sign_out(server, cognito, app, watcher,
                                                     make_confirmed_user, sign_in):
    items, cursor = feed_items(server, watcher)
    assert items == []  # a new pool has revoked nothing

    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    origin = jwt_claims(tokens["AccessToken"])["origin_jti"]
    sub = jwt_claims(tokens["AccessToken"])["sub"]

    before = int(time.time()) - 2
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)
    items, cursor2 = feed_items(server, watcher, after=cursor)
    revoked = [i for i in items if i["kind"] == "token" and i.get("originJti") == origin]
    assert len(revoked) == 1, items
    assert isinstance(revoked[0]["at"], int) and before <= revoked[0]["at"] <= time.time() + 2

    # nothing new after the cursor
    assert feed_items(server, watcher, after=cursor2)[0] == []

    second = sign_in(app, username)
    cognito.global_sign_out(AccessToken=second["AccessToken"])
    items, cursor3 = feed_items(server, watcher, after=cursor2)
    signed_out = [i for i in items if i["kind"] == "user" and i.get("sub") == sub]
    assert len(signed_out) == 1, items
    assert not [i for i in items if i.get("originJti") == origin], "old item repeated"
    assert isinstance(signed_out[0]["notBefore"], int)
    assert before <= signed_out[0]["notBefore"] <= time.time() + 2
    assert feed_items(server, watcher, after=cursor3)[0] == []

    # from the start: both, in order
    everything, _ = all_items(server, watcher)
    cursors = [i["cursor"] for i in everything]
    assert len(set(cursors)) == len(cursors)
    assert cursors.index(revoked[0]["cursor"]) < cursors.index(signed_out[0]["cursor"])


def test_revocation_feed_admin_sign_out_and_paging(server, cognito, app, watcher,
                                                   make_confirmed_user, sign_in):
    _, start = feed_items(server, watcher)
    users = [make_confirmed_user(app.pool_id) for _ in range(3)]
    subs = []
    for username in users:
        tokens = sign_in(app, username)
        subs.append(jwt_claims(tokens["AccessToken"])["sub"])
        cognito.admin_user_global_sign_out(UserPoolId=app.pool_id, Username=username)

    first_page, _ = feed_items(server, watcher, after=start, limit=2)
    assert len(first_page) == 2
    items, _ = all_items(server, watcher, after=start, limit=2)
    assert [i["sub"] for i in items if i["kind"] == "user"] == subs


def test_revocation_feed_is_per_pool_and_authenticated(server, cognito, app, watcher, make_app,
                                                       make_confirmed_user, sign_in):
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    cognito.revoke_token(Token=tokens["RefreshToken"], ClientId=app.client_id)

    assert requests.get(f"{server.url}/{app.pool_id}/revocations",
                        timeout=30).status_code == 401
    assert feed(server, watcher, auth=(watcher.client_id, "wrong-secret")).status_code == 401
    # a public client (no secret) cannot read the feed
    assert feed(server, app, auth=(app.client_id, "")).status_code == 401
    # a client of another pool cannot read this pool's feed
    stranger = make_app(secret=True)
    resp = feed(server, watcher, auth=(stranger.client_id, stranger.client_secret))
    assert resp.status_code in (401, 403), resp.text
    # ... and its own pool's feed does not show this pool's revocations
    assert feed_items(server, stranger)[0] == []


# --------------------------------------------------------------------------- disable / delete


def _introspect(server, watcher, token):
    resp = requests.post(f"{server.url}/oauth2/introspect", data={"token": token},
                         auth=(watcher.client_id, watcher.client_secret), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_disable_revokes_and_enable_restores_nothing(server, cognito, app, watcher,
                                                     make_confirmed_user, sign_in):
    """AdminDisableUser revokes every token family at once (as Cognito does) and publishes
    it; AdminEnableUser brings no old token back."""
    _, cursor = feed_items(server, watcher)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    sub = jwt_claims(tokens["AccessToken"])["sub"]

    cognito.admin_disable_user(UserPoolId=app.pool_id, Username=username)
    items, cursor = feed_items(server, watcher, after=cursor)
    assert [i for i in items if i["kind"] == "user" and i["sub"] == sub], items

    cognito.admin_enable_user(UserPoolId=app.pool_id, Username=username)
    with raises_cognito("NotAuthorizedException"):
        cognito.get_user(AccessToken=tokens["AccessToken"])
    with raises_cognito("NotAuthorizedException"):
        cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    assert _introspect(server, watcher, tokens["AccessToken"])["active"] is False
    # a new sign-in after re-enabling works
    fresh = sign_in(app, username)
    assert cognito.get_user(AccessToken=fresh["AccessToken"])["Username"] == username


@pytest.mark.parametrize("how", ["admin", "self"])
def test_deleted_users_are_published(server, cognito, app, watcher, make_confirmed_user,
                                     sign_in, how):
    _, cursor = feed_items(server, watcher)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    sub = jwt_claims(tokens["AccessToken"])["sub"]
    if how == "admin":
        cognito.admin_delete_user(UserPoolId=app.pool_id, Username=username)
    else:
        cognito.delete_user(AccessToken=tokens["AccessToken"])
    items, _ = feed_items(server, watcher, after=cursor)
    published = [i for i in items if i["kind"] == "user" and i["sub"] == sub]
    assert len(published) == 1, items
    assert published[0]["notBefore"] >= jwt_claims(tokens["AccessToken"])["iat"]


@pytest.mark.parametrize("how", ["change", "admin_set", "admin_reset"])
def test_a_password_change_ends_every_session(server, cognito, app, watcher, make_confirmed_user, sign_in, how):
    """ChangePassword, AdminSetUserPassword and AdminResetUserPassword revoke the user's
    token families at once and publish it (the token contract)."""
    _, cursor = feed_items(server, watcher)
    username = make_confirmed_user(app.pool_id)
    tokens = sign_in(app, username)
    other = sign_in(app, username)
    sub = jwt_claims(tokens["AccessToken"])["sub"]
    if how == "change":
        from conftest import PASSWORD  # noqa: PLC0415

        cognito.change_password(AccessToken=tokens["AccessToken"], PreviousPassword=PASSWORD,
                                ProposedPassword="N3w-" + PASSWORD)
    elif how == "admin_set":
        cognito.admin_set_user_password(UserPoolId=app.pool_id, Username=username,
                                        Password="N3w-Passw0rd!", Permanent=True)
    else:
        cognito.admin_reset_user_password(UserPoolId=app.pool_id, Username=username)
    for t in (tokens, other):
        with raises_cognito("NotAuthorizedException"):
            cognito.get_user(AccessToken=t["AccessToken"])
        with raises_cognito("NotAuthorizedException"):
            cognito.initiate_auth(ClientId=app.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": t["RefreshToken"]})
    items, _ = feed_items(server, watcher, after=cursor)
    assert [i for i in items if i["kind"] == "user" and i["sub"] == sub], items
