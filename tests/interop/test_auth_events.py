"""A user's authentication history (AdminListUserAuthEvents) and feedback on its events
(AdminUpdateAuthEventFeedback), for pools with threat protection on, with boto3."""

from __future__ import annotations

from cognate_harness import raises_cognito, walk
from conftest import PASSWORD

AUDIT = {"AdvancedSecurityMode": "AUDIT"}


def events(cognito, pool_id, username, **kw):
    return cognito.admin_list_user_auth_events(UserPoolId=pool_id, Username=username, **kw)["AuthEvents"]


def test_sign_ins_leave_a_history_with_feedback(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(pool={"UserPoolAddOns": AUDIT})
    make_confirmed_user(app.pool_id, "carol")
    with raises_cognito("NotAuthorizedException"):
        sign_in(app, "carol", "Wrong-password-1")
    sign_in(app, "carol")
    history = events(cognito, app.pool_id, "carol", MaxResults=10)
    assert [e["EventType"] for e in history] == ["SignIn", "SignIn"]
    newest, oldest = history
    assert newest["EventResponse"] == "Pass"
    assert newest["ChallengeResponses"] == [{"ChallengeName": "Password", "ChallengeResponse": "Success"}]
    assert oldest["EventResponse"] == "Fail"
    assert oldest["ChallengeResponses"] == [{"ChallengeName": "Password", "ChallengeResponse": "Failure"}]
    assert newest["CreationDate"] >= oldest["CreationDate"]
    assert newest["EventContextData"]["IpAddress"] == "127.0.0.1"
    assert "EventRisk" not in newest, "Cognate rates no risk"

    cognito.admin_update_auth_event_feedback(UserPoolId=app.pool_id, Username="carol",
                                             EventId=oldest["EventId"], FeedbackValue="Invalid")
    marked = {e["EventId"]: e for e in events(cognito, app.pool_id, "carol")}[oldest["EventId"]]
    assert marked["EventFeedback"]["FeedbackValue"] == "Invalid"
    assert marked["EventFeedback"]["Provider"] == "Admin"
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_update_auth_event_feedback(UserPoolId=app.pool_id, Username="carol",
                                                 EventId="no-such-event", FeedbackValue="Valid")
    with raises_cognito("InvalidParameterException"):
        cognito.admin_update_auth_event_feedback(UserPoolId=app.pool_id, Username="carol",
                                                 EventId=oldest["EventId"], FeedbackValue="Maybe")
    with raises_cognito("UserNotFoundException"):
        events(cognito, app.pool_id, "nobody")


def test_events_are_the_users_own_and_page(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app(pool={"UserPoolAddOns": AUDIT})
    make_confirmed_user(app.pool_id, "dave")
    make_confirmed_user(app.pool_id, "erin")
    for _ in range(5):
        sign_in(app, "dave")
    sign_in(app, "erin")
    listed, sizes = walk(lambda **kw: cognito.admin_list_user_auth_events(
        UserPoolId=app.pool_id, Username="dave", **kw), "AuthEvents", "NextToken", "NextToken", "MaxResults", 2)
    assert len(listed) == 5 and sizes == [2, 2, 1]
    assert len({e["EventId"] for e in listed}) == 5
    assert len(events(cognito, app.pool_id, "erin")) == 1
    # Erin's event id is not Dave's to mark.
    erins = events(cognito, app.pool_id, "erin")[0]["EventId"]
    with raises_cognito("ResourceNotFoundException"):
        cognito.admin_update_auth_event_feedback(UserPoolId=app.pool_id, Username="dave",
                                                 EventId=erins, FeedbackValue="Valid")
    with raises_cognito("InvalidParameterException"):
        cognito.admin_list_user_auth_events(UserPoolId=app.pool_id, Username="dave", MaxResults=61)
    # A deleted user's history goes with them.
    cognito.admin_delete_user(UserPoolId=app.pool_id, Username="dave")
    with raises_cognito("UserNotFoundException"):
        events(cognito, app.pool_id, "dave")


def test_pools_without_threat_protection_keep_no_history(cognito, make_app, make_confirmed_user, sign_in):
    app = make_app()
    make_confirmed_user(app.pool_id, "frank")
    sign_in(app, "frank")
    with raises_cognito("UserPoolAddOnNotEnabledException"):
        events(cognito, app.pool_id, "frank")
    # Turning it on starts a history from then on.
    cognito.update_user_pool(UserPoolId=app.pool_id, UserPoolAddOns=AUDIT)
    assert events(cognito, app.pool_id, "frank") == []
    sign_in(app, "frank", PASSWORD)
    assert len(events(cognito, app.pool_id, "frank")) == 1


def test_hosted_login_sign_ins_are_in_the_history(server, cognito, make_pool, make_confirmed_user):
    import time

    import requests
    from hosted_login import CALLBACK, Browser

    pool_id = make_pool(UserPoolAddOns=AUDIT)["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", CallbackURLs=[CALLBACK], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"], AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]
    make_confirmed_user(pool_id, "gina")
    url = requests.Request("GET", f"{server.url}/oauth2/authorize", params={
        "response_type": "code", "client_id": client["ClientId"], "redirect_uri": CALLBACK,
        "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"}).prepare().url
    browser = Browser(server.url)
    browser.get(url)
    assert browser.sign_in("gina", "Wrong-password-1").status_code != 302
    assert browser.sign_in("gina", PASSWORD).status_code == 302
    history: list = []
    for _ in range(50):  # written beside the page's answer
        history = events(cognito, pool_id, "gina")
        if len(history) == 2:
            break
        time.sleep(0.1)
    assert [(e["EventType"], e["EventResponse"]) for e in history] == [("SignIn", "Pass"), ("SignIn", "Fail")]
