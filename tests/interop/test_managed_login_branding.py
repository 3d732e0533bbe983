"""Managed login branding styles (CreateManagedLoginBranding … DeleteManagedLoginBranding)
through boto3, and their effect on the hosted login pages: the style's logo, background,
favicons and colours, served from Cognate's own origin, for its client only."""

from __future__ import annotations

import re

import pytest
import requests

from cognate_harness import raises_cognito, uid
from conftest import USER_FLOWS
from hosted_login import CALLBACK, LOGOUT, Browser

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000"
    "1ff89993d1d0000000049454e44ae426082")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
ICO = bytes([0, 0, 1, 0, 1, 0]) + bytes(16)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect width="1" height="1"/></svg>'
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00" + bytes(14)

BUTTON = "c0ffeeff"
PAGE = "102030"
SETTINGS = {
    "components": {
        "primaryButton": {"lightMode": {"defaults": {"backgroundColor": BUTTON, "textColor": "000000ff"}}},
        "pageBackground": {"lightMode": {"color": PAGE}},
    },
    "categories": {"global": {"colorSchemeMode": "LIGHT"}},
}


def asset(category: str, extension: str, data: bytes, mode: str = "LIGHT", **extra) -> dict:
    return {"Category": category, "ColorMode": mode, "Extension": extension, "Bytes": data} | extra


@pytest.fixture
def web_client(cognito, make_pool):
    """A public app client allowing the code flow (in a new pool unless one is given);
    returns (pool_id, client_id)."""

    def make(pool_id: str | None = None) -> tuple[str, str]:
        pool_id = pool_id or make_pool()["Id"]
        client = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=f"web-{uid()}", CallbackURLs=[CALLBACK], LogoutURLs=[LOGOUT],
            AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
            SupportedIdentityProviders=["COGNITO"], ExplicitAuthFlows=USER_FLOWS,
        )["UserPoolClient"]
        return pool_id, client["ClientId"]

    return make


# --------------------------------------------------------------------------- the API


def test_a_style_is_created_described_updated_and_deleted(cognito, web_client):
    pool_id, client_id = web_client()
    made = cognito.create_managed_login_branding(
        UserPoolId=pool_id, ClientId=client_id, Settings=SETTINGS,
        Assets=[asset("FORM_LOGO", "PNG", PNG, ResourceId="logo 1"), asset("PAGE_BACKGROUND", "JPEG", JPEG)],
    )["ManagedLoginBranding"]
    style_id = made["ManagedLoginBrandingId"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", style_id)
    assert made["UserPoolId"] == pool_id and made["UseCognitoProvidedValues"] is False
    assert made["Settings"] == SETTINGS
    assert [(a["Category"], a["ColorMode"], a["Extension"], a["Bytes"]) for a in made["Assets"]] == [
        ("FORM_LOGO", "LIGHT", "PNG", PNG), ("PAGE_BACKGROUND", "LIGHT", "JPEG", JPEG)]
    assert made["Assets"][0]["ResourceId"] == "logo 1"
    assert made["CreationDate"] == made["LastModifiedDate"]

    described = cognito.describe_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id)
    assert described["ManagedLoginBranding"] == made
    by_client = cognito.describe_managed_login_branding_by_client(UserPoolId=pool_id, ClientId=client_id)
    assert by_client["ManagedLoginBranding"] == made

    # ReturnMergedResources: the given settings over Cognito's default document.
    merged = cognito.describe_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                     ReturnMergedResources=True)["ManagedLoginBranding"]["Settings"]
    button = merged["components"]["primaryButton"]["lightMode"]
    assert button["defaults"] == {"backgroundColor": BUTTON, "textColor": "000000ff"}
    assert button["hover"]["backgroundColor"] == "033160ff"  # a default kept
    assert merged["components"]["pageBackground"]["lightMode"]["color"] == PAGE
    assert merged["componentClasses"]["link"]["lightMode"]["defaults"]["textColor"] == "0972d3ff"
    merged_by_client = cognito.describe_managed_login_branding_by_client(
        UserPoolId=pool_id, ClientId=client_id, ReturnMergedResources=True)["ManagedLoginBranding"]["Settings"]
    assert merged_by_client == merged

    # An update replaces what it is given and keeps the rest.
    new_settings = {"components": {"pageBackground": {"lightMode": {"color": "ffffffff"}}}}
    updated = cognito.update_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                    Settings=new_settings)["ManagedLoginBranding"]
    assert updated["Settings"] == new_settings and updated["Assets"] == made["Assets"]
    assert updated["LastModifiedDate"] >= made["LastModifiedDate"]
    assert updated["CreationDate"] == made["CreationDate"]
    updated = cognito.update_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                    Assets=[asset("FAVICON_ICO", "ICO", ICO, "DYNAMIC")])
    updated = updated["ManagedLoginBranding"]
    assert updated["Settings"] == new_settings
    assert [(a["Category"], a["Bytes"]) for a in updated["Assets"]] == [("FAVICON_ICO", ICO)]

    # Back to Cognito's defaults: no settings, no assets.
    reset = cognito.update_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                  UseCognitoProvidedValues=True)["ManagedLoginBranding"]
    assert reset["UseCognitoProvidedValues"] is True and reset["Assets"] == [] and "Settings" not in reset
    merged = cognito.describe_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                     ReturnMergedResources=True)["ManagedLoginBranding"]["Settings"]
    assert merged["components"]["primaryButton"]["lightMode"]["defaults"]["backgroundColor"] == "0972d3ff"

    cognito.delete_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_managed_login_branding_by_client(UserPoolId=pool_id, ClientId=client_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id)
    # The client may have a style again once its style is gone.
    again = cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id,
                                                  UseCognitoProvidedValues=True)["ManagedLoginBranding"]
    assert again["ManagedLoginBrandingId"] != style_id and again["UseCognitoProvidedValues"] is True


def test_one_style_per_client_and_the_style_goes_with_its_client(cognito, web_client):
    pool_id, client_id = web_client()
    first = cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id,
                                                  UseCognitoProvidedValues=True)["ManagedLoginBranding"]
    with raises_cognito("ManagedLoginBrandingExistsException"):
        cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id, Settings=SETTINGS)
    _, sibling = web_client(pool_id)
    cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=sibling, Settings=SETTINGS)
    cognito.delete_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_managed_login_branding(UserPoolId=pool_id,
                                                ManagedLoginBrandingId=first["ManagedLoginBrandingId"])
    assert cognito.describe_managed_login_branding_by_client(
        UserPoolId=pool_id, ClientId=sibling)["ManagedLoginBranding"]["Settings"] == SETTINGS


def test_styles_refuse_what_cognito_refuses(cognito, cognito_nv, web_client):
    pool_id, client_id = web_client()
    bad_inputs = [
        {"UseCognitoProvidedValues": True, "Settings": SETTINGS},
        {"UseCognitoProvidedValues": True, "Assets": [asset("FORM_LOGO", "PNG", PNG)]},
        {"Settings": ["not", "an", "object"]},
        {"Settings": "a string"},
        {"Settings": {"components": {"primaryButton": {"lightMode": {"defaults": {"backgroundColor": "red"}}}}}},
        {"Settings": {"components": {"pageBackground": {"lightMode": {"color": "fff;} body{x:url(//e)"}}}}},
        {"Assets": [asset("FORM_LOGO", "PNG", JPEG)]},  # not what it says it is
        {"Assets": [asset("FORM_LOGO", "JPEG", b"GIF89a....")]},
        {"Assets": [asset("FORM_LOGO", "SVG", b"<html><script>alert(1)</script></html>")]},
        {"Assets": [asset("FORM_LOGO", "WEBP", PNG)]},
        {"Assets": [asset("FAVICON_ICO", "PNG", PNG)]},  # a favicon category takes its own format
        {"Assets": [asset("FAVICON_SVG", "PNG", PNG)]},
        {"Assets": [asset("FORM_LOGO", "ICO", ICO)]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG), asset("FORM_LOGO", "JPEG", JPEG)]},  # one per category+mode
        {"Assets": [asset("FORM_LOGO", "PNG", b"")]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG, ResourceId="bad/id")]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG, ResourceId="nul\u0000")]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG, ResourceId="caf\u00e9")]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG)] * 41},
        {"Assets": [asset("LOGO", "PNG", PNG)]},
        {"Assets": [asset("FORM_LOGO", "GIF", PNG)]},
        {"Assets": [asset("FORM_LOGO", "PNG", PNG, mode="SEPIA")]},
        {"Assets": [{"Category": "FORM_LOGO", "ColorMode": "LIGHT", "Bytes": PNG}]},
    ]
    for change in bad_inputs:
        with raises_cognito("InvalidParameterException"):
            cognito_nv.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id, **change)
    with raises_cognito("ResourceNotFoundException"):  # nothing was written by the refusals
        cognito.describe_managed_login_branding_by_client(UserPoolId=pool_id, ClientId=client_id)

    # The same asset in two color modes is two assets.
    cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id, Assets=[
        asset("FORM_LOGO", "PNG", PNG), asset("FORM_LOGO", "WEBP", WEBP, "DARK"),
        asset("FAVICON_SVG", "SVG", SVG, "DYNAMIC")])
    mine = cognito.describe_managed_login_branding_by_client(UserPoolId=pool_id, ClientId=client_id)
    style_id = mine["ManagedLoginBranding"]["ManagedLoginBrandingId"]
    assert len(mine["ManagedLoginBranding"]["Assets"]) == 3
    with raises_cognito("InvalidParameterException"):
        cognito_nv.update_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                 Assets=[asset("PAGE_BACKGROUND", "PNG", JPEG)])
    with raises_cognito("InvalidParameterException"):
        cognito_nv.update_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id,
                                                 UseCognitoProvidedValues=True, Settings={})
    after = cognito.describe_managed_login_branding_by_client(UserPoolId=pool_id, ClientId=client_id)
    assert after["ManagedLoginBranding"] == mine["ManagedLoginBranding"]  # refused updates wrote nothing

    with raises_cognito("ResourceNotFoundException"):
        cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId="a" * 26, UseCognitoProvidedValues=True)
    other_pool, other_client = web_client()
    with raises_cognito("ResourceNotFoundException"):  # a client of another pool
        cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=other_client,
                                              UseCognitoProvidedValues=True)
    for call in (cognito.describe_managed_login_branding, cognito.delete_managed_login_branding):
        with raises_cognito("ResourceNotFoundException"):  # a style of another pool
            call(UserPoolId=other_pool, ManagedLoginBrandingId=style_id)
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_managed_login_branding(UserPoolId=other_pool, ManagedLoginBrandingId=style_id,
                                              Settings=SETTINGS)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.describe_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId="not-a-uuid")
    with raises_cognito("InvalidParameterException"):
        cognito_nv.update_managed_login_branding(UserPoolId=pool_id, Settings=SETTINGS)
    with raises_cognito("InvalidParameterException"):
        cognito_nv.create_managed_login_branding(UserPoolId=pool_id, UseCognitoProvidedValues=True)
    with raises_cognito("ResourceNotFoundException"):
        cognito.create_managed_login_branding(UserPoolId="local_nothere12", ClientId=client_id,
                                              UseCognitoProvidedValues=True)


# --------------------------------------------------------------------------- the pages


def login_page(server, client_id: str) -> requests.Response:
    page = Browser(server.url).get(
        f"{server.url}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={CALLBACK}"
        f"&scope=openid&code_challenge={'c' * 43}&code_challenge_method=S256")
    assert page.status_code == 200, page.text[:300]
    return page


def url_of(page: requests.Response, pattern: str) -> str | None:
    found = re.search(pattern, page.text)
    return found.group(1).replace("&#38;", "&") if found else None


def fetch(server, path: str) -> requests.Response:
    resp = requests.get(server.url + path, timeout=10)
    assert resp.status_code == 200, (path, resp.status_code)
    return resp


def test_the_style_brands_its_clients_pages_only(server, cognito, web_client):
    pool_id, client_id = web_client()
    _, plain = web_client(pool_id)
    classic = ".banner-customizable { color: #333; }"
    cognito.set_ui_customization(UserPoolId=pool_id, CSS=classic)  # the pool's classic branding
    cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id, Settings=SETTINGS, Assets=[
        asset("FORM_LOGO", "PNG", PNG), asset("PAGE_BACKGROUND", "JPEG", JPEG, "DYNAMIC"),
        asset("FAVICON_ICO", "ICO", ICO, "DYNAMIC"), asset("FAVICON_SVG", "SVG", SVG, "DYNAMIC"),
        asset("PAGE_HEADER_LOGO", "WEBP", WEBP, "DARK")])

    page = login_page(server, client_id)
    csp = page.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "style-src 'self'" in csp
    css_href = url_of(page, r'<link rel="stylesheet" href="(/login/assets/managed/[^"]+)"')
    assert css_href and f"/{pool_id}/{client_id}.css" in css_href
    assert "/login/assets/custom/" not in page.text  # the managed style wins over the classic one
    css = fetch(server, css_href)
    assert css.headers["Content-Type"].startswith("text/css")
    assert f"--button-bg: #{BUTTON};" in css.text and "--button-text: #000000ff;" in css.text
    assert f"--page-bg: #{PAGE}ff;" in css.text
    background = re.search(r'background-image: url\("([^"]+)"\)', css.text).group(1)
    assert fetch(server, background).content == JPEG

    logo_src = url_of(page, r'<img class="logo-customizable" src="([^"]+)"')
    assert logo_src.startswith(f"/login/assets/managed/{pool_id}/")
    logo = fetch(server, logo_src)
    assert logo.headers["Content-Type"] == "image/png" and logo.content == PNG
    assert logo.headers["X-Content-Type-Options"] == "nosniff"

    ico = url_of(page, r'<link rel="icon" type="image/x-icon" href="([^"]+)"')
    assert fetch(server, ico).content == ICO
    svg_href = url_of(page, r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"')
    svg = fetch(server, svg_href)
    assert svg.headers["Content-Type"] == "image/svg+xml" and svg.content == SVG
    assert svg.headers["Content-Security-Policy"] == ("default-src 'none'; style-src 'unsafe-inline'; "
                                                     "form-action 'none'; frame-ancestors 'none'; sandbox")
    assert "<svg" not in page.text  # never inlined

    # The sibling client without a style keeps the pool's classic branding, and sees
    # nothing of the other client's style.
    other = login_page(server, plain)
    assert "/login/assets/managed/" not in other.text and 'rel="icon"' not in other.text
    assert url_of(other, r'<link rel="stylesheet" href="(/login/assets/custom/[^"]+)"')
    assert requests.get(server.url + f"/login/assets/managed/{pool_id}/{plain}.css", timeout=10).status_code == 404

    # Asset URLs name one style of one pool: nothing else answers.
    style_id = re.search(r"/managed/[^/]+/([0-9a-f-]{36})\.", logo_src).group(1)
    other_pool, _ = web_client()
    for path in (f"/login/assets/managed/{other_pool}/{style_id}.FORM_LOGO.LIGHT",
                 f"/login/assets/managed/{pool_id}/{style_id}.FORM_LOGO.DARK",
                 f"/login/assets/managed/{pool_id}/{style_id}.FORM_LOGO",
                 f"/login/assets/managed/{pool_id}/{style_id}.NOPE.LIGHT",
                 f"/login/assets/managed/{pool_id}/../{style_id}.FORM_LOGO.LIGHT",
                 f"/login/assets/managed/{pool_id}/x%00.css"):
        assert requests.get(server.url + path, timeout=10).status_code in (400, 404), path

    # Deleting the style gives the client back the pool's classic branding.
    cognito.delete_managed_login_branding(UserPoolId=pool_id, ManagedLoginBrandingId=style_id)
    after = login_page(server, client_id)
    assert "/login/assets/managed/" not in after.text
    assert url_of(after, r'<link rel="stylesheet" href="(/login/assets/custom/[^"]+)"')
    assert requests.get(server.url + logo_src, timeout=10).status_code == 404


def test_a_style_with_cognito_defaults_changes_no_colour(server, cognito, web_client):
    pool_id, client_id = web_client()
    cognito.create_managed_login_branding(UserPoolId=pool_id, ClientId=client_id, UseCognitoProvidedValues=True)
    page = login_page(server, client_id)
    css = fetch(server, url_of(page, r'<link rel="stylesheet" href="(/login/assets/managed/[^"]+)"'))
    assert css.text.strip() == ":root { }"
    assert 'class="logo-customizable"' not in page.text
    # Turning the page background image off keeps the image stored but not shown.
    style_id = cognito.describe_managed_login_branding_by_client(
        UserPoolId=pool_id, ClientId=client_id)["ManagedLoginBranding"]["ManagedLoginBrandingId"]
    cognito.update_managed_login_branding(
        UserPoolId=pool_id, ManagedLoginBrandingId=style_id, Assets=[asset("PAGE_BACKGROUND", "PNG", PNG)],
        Settings={"components": {"pageBackground": {"image": {"enabled": False}}}})
    page = login_page(server, client_id)
    css = fetch(server, url_of(page, r'<link rel="stylesheet" href="(/login/assets/managed/[^"]+)"'))
    assert "background-image" not in css.text
