"""A minimal scripted browser for the hosted login: a cookie jar, redirects followed only
within Cognate, and the forms of each page (read with the standard library's HTML parser).
The real-browser tests use Chromium; these drive the same pages quickly from requests."""

from __future__ import annotations

import html.parser
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

CALLBACK = "https://app.example.com/callback"
LOGOUT = "https://app.example.com/signed-out"


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    #: submit buttons carrying a name and value (the tenant picker's choices)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", "")))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self._button = [a["name"], a.get("value", ""), ""]

    def handle_data(self, data):
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self.forms[-1].buttons.append(tuple(self._button))
            self._button = None


def forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


class Browser:
    """Follows redirects within `base` and stops at any other (the client's callback)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.page: requests.Response | None = None

    def _follow(self, resp: requests.Response) -> requests.Response:
        for _ in range(10):
            location = resp.headers.get("Location")
            if resp.status_code not in (301, 302, 303) or not location:
                break
            target = urljoin(resp.url, location)
            if not target.startswith(self.base):
                break
            resp = self.http.get(target, allow_redirects=False, timeout=30)
        self.page = resp
        return resp

    def get(self, url: str) -> requests.Response:
        return self._follow(self.http.get(url, allow_redirects=False, timeout=30))

    def submit(self, values: dict[str, str] | None = None, *, form: int = 0,
               drop: tuple[str, ...] = ()) -> requests.Response:
        assert self.page is not None
        f = forms(self.page.text)[form]
        data = {**f.fields, **(values or {})}
        for name in drop:
            data.pop(name, None)
        url = urljoin(self.page.url, f.action)
        return self._follow(self.http.post(url, data=data, allow_redirects=False, timeout=30))

    def sign_in(self, username: str, password: str) -> requests.Response:
        return self.submit({"username": username, "password": password})


def redirected_to(resp: requests.Response) -> tuple[str, dict[str, str]]:
    """The callback a response sends the browser to, and its query parameters."""
    assert resp.status_code == 302, (resp.status_code, resp.text[:500])
    location = resp.headers["Location"]
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


def fragment_of(resp: requests.Response) -> dict[str, str]:
    location = resp.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}
