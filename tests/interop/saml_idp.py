"""SimpleSAMLphp as a real SAML 2.0 identity provider for the federation tests.

Debian's `simplesamlphp` package (installed by scripts/test) is served by PHP's built-in web
server from a temp dir of its own: config, metadata, key and certificate, sessions and logs all
live there, and SIMPLESAMLPHP_CONFIG_DIR points SimpleSAMLphp at that config, so nothing under
/etc is read or written and two IdPs can run side by side. A router script maps
/simplesaml/... onto the package's www/ folder, as Debian's Apache alias does.

    idp = SimpleSamlIdp(sps=[SamlSp(entity_id=..., acs_url=..., signing_cert_pem=...)])
    with idp:
        idp.metadata_url                              # for CreateIdentityProvider's MetadataURL
        idp.idp_initiated_url(sp_entity_id, "relay")  # IdP-initiated sign-in

Users sign in with `exampleauth:UserPass` (form fields #username, #password, #submit_button);
each has a `uid` (the NameID by default), `email`, `givenName`, `sn` and the multi-valued
`groups` and `eduPersonAffiliation`. `set_user_attributes` changes what the next sign-in
asserts (PHP reads the config on every request).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import html.parser
import http.server
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import requests

SIMPLESAMLPHP_ROOT = Path(os.environ.get("COGNATE_SIMPLESAMLPHP", "/usr/share/simplesamlphp"))
PHP = os.environ.get("COGNATE_PHP", "php")
START_TIMEOUT = 20.0

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"


#: Every running IdP, so that a failing test can show their logs (conftest.py).
LIVE_IDPS: list["SimpleSamlIdp"] = []


class SamlIdpError(RuntimeError):
    """SimpleSAMLphp could not be set up or started; the message says why (and shows its log)."""


@dataclass
class SamlUser:
    """One account of the IdP's `exampleauth:UserPass` source. Attribute values are lists:
    SAML attributes are multi-valued."""

    username: str
    password: str
    attributes: dict[str, list[str]]


def default_users() -> list[SamlUser]:
    """Two users with the attributes a Cognito attribute mapping usually reads."""
    return [
        SamlUser("alice", "alice-Passw0rd", {
            "uid": ["alice"],
            "email": ["alice@idp.example.com"],
            "givenName": ["Alice"],
            "sn": ["Liddell"],
            "groups": ["staff", "admins"],
            "eduPersonAffiliation": ["member", "staff"],
        }),
        SamlUser("bob", "bob-Passw0rd", {
            "uid": ["bob"],
            "email": ["bob@idp.example.com"],
            "givenName": ["Bob"],
            "sn": ["Builder"],
            "groups": ["staff"],
            "eduPersonAffiliation": ["member"],
        }),
    ]


@dataclass
class SamlSp:
    """A service provider registered at the IdP (its `saml20-sp-remote.php` entry).

    `signing_cert_pem`: the certificate the SP signs AuthnRequests and logout messages with;
    when given, the IdP refuses unsigned or badly signed requests (`validate.authnrequest`).
    `encryption_cert_pem`: when given, assertions are encrypted to it (`assertion.encryption`,
    data encrypted with `encryption_algorithm`, AES-128-CBC by default as SimpleSAMLphp does).
    The Response and the Assertion are both signed by default; each can be turned off.
    The NameID is the user's `name_id_attribute` (`uid`) in `name_id_format` (persistent)."""

    entity_id: str
    acs_url: str
    slo_url: str | None = None
    signing_cert_pem: str | None = None
    encryption_cert_pem: str | None = None
    encryption_algorithm: str = AES128_CBC
    sign_response: bool = True
    sign_assertion: bool = True
    name_id_format: str = NAMEID_PERSISTENT
    name_id_attribute: str = "uid"


# --------------------------------------------------------------------------- keys


def make_key_and_cert(common_name: str, days: int = 365) -> tuple[str, str]:
    """A fresh RSA-2048 key and a self-signed certificate for it, both PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_body(pem: str) -> str:
    """The base64 DER of a PEM certificate (what SAML metadata and SimpleSAMLphp's `keys` hold).
    Refuses anything but exactly one certificate."""
    lines = [line.strip() for line in pem.strip().splitlines() if line.strip()]
    if (len(lines) < 3 or lines[0] != "-----BEGIN CERTIFICATE-----"
            or lines[-1] != "-----END CERTIFICATE-----"):
        raise SamlIdpError("expected one PEM certificate (BEGIN/END CERTIFICATE)")
    body = "".join(lines[1:-1])
    try:
        base64.b64decode(body, validate=True)
    except ValueError as exc:
        raise SamlIdpError(f"the certificate's base64 is malformed: {exc}") from exc
    return body


# --------------------------------------------------------------------------- PHP literals


@dataclass(frozen=True)
class RawPhp:
    """PHP source written as is (a constant such as `\\SimpleSAML\\Logger::DEBUG`)."""

    code: str


def php(value) -> str:
    """A Python value as a PHP literal. Strings are single-quoted, where only backslash and
    quote are special, so any text (an attribute value, a URL) is carried verbatim."""
    if isinstance(value, RawPhp):
        return value.code
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{php(str(k))} => {php(v)}" for k, v in value.items()) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(php(v) for v in value) + "]"
    raise TypeError(f"no PHP literal for {type(value).__name__}")


def php_file(assignments: list[tuple[str, object]]) -> str:
    return "<?php\n// Written by tests/interop/saml_idp.py for one test run.\n" + "".join(
        f"{target} = {php(value)};\n" for target, value in assignments
    )


# The router for `php -S`: /simplesaml/<script>.php[/path-info] runs that script of www/ with
# the server variables Apache would set (SimpleSAMLphp derives its own URLs from
# SCRIPT_FILENAME and REQUEST_URI), other paths under /simplesaml/ are static files of www/,
# and anything outside www/ is a 404.
ROUTER = r"""<?php
$www = getenv('SIMPLESAMLPHP_WWW');
$path = rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/');
$prefix = '/simplesaml/';
if ($path === '/simplesaml') {
    header('Location: /simplesaml/');
    return true;
}
if (strncmp($path, $prefix, strlen($prefix)) !== 0 || strpos($path, "\0") !== false) {
    http_response_code(404);
    echo "Not found\n";
    return true;
}
$rest = substr($path, strlen($prefix));
if ($rest === '' || substr($rest, -1) === '/') {
    $rest .= 'index.php';
}
$script = $rest;
$pathInfo = '';
if (preg_match('#^(.*?\.php)(/.*)?$#', $rest, $m)) {
    $script = $m[1];
    $pathInfo = $m[2] ?? '';
}
$file = realpath($www . '/' . $script);
if ($file === false || strncmp($file, $www . '/', strlen($www) + 1) !== 0 || !is_file($file)) {
    http_response_code(404);
    echo "Not found\n";
    return true;
}
if (substr($file, -4) === '.php') {
    $_SERVER['SCRIPT_FILENAME'] = $file;
    $_SERVER['SCRIPT_NAME'] = $prefix . $script;
    $_SERVER['PHP_SELF'] = $prefix . $script . $pathInfo;
    if ($pathInfo === '') {
        unset($_SERVER['PATH_INFO']);
    } else {
        $_SERVER['PATH_INFO'] = $pathInfo;
    }
    chdir(dirname($file));
    require $file;
    return true;
}
$types = ['css' => 'text/css', 'js' => 'application/javascript', 'png' => 'image/png',
          'gif' => 'image/gif', 'jpg' => 'image/jpeg', 'svg' => 'image/svg+xml',
          'ico' => 'image/x-icon', 'woff' => 'font/woff', 'woff2' => 'font/woff2',
          'ttf' => 'font/ttf', 'eot' => 'application/vnd.ms-fontobject'];
$ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
header('Content-Length: ' . filesize($file));
readfile($file);
return true;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simplesamlphp_missing() -> str | None:
    """Why SimpleSAMLphp cannot run here (None when it can)."""
    if not (SIMPLESAMLPHP_ROOT / "www" / "_include.php").is_file():
        return (f"SimpleSAMLphp is not installed at {SIMPLESAMLPHP_ROOT} "
                "(scripts/test installs Debian's simplesamlphp)")
    if not shutil.which(PHP):
        return f"{PHP} is not on PATH (scripts/test installs Debian's php-cli)"
    return None


# --------------------------------------------------------------------------- the IdP


@dataclass(eq=False)  # identity, not field equality: LIVE_IDPS holds running processes
class SimpleSamlIdp:
    """One SimpleSAMLphp IdP process. `start()` writes its files and waits until the metadata
    answers; `stop()` ends the process and removes the temp dir (kept with COGNATE_IT_KEEP=1)."""

    sps: list[SamlSp] = field(default_factory=list)
    users: list[SamlUser] = field(default_factory=default_users)
    #: the IdP's own key and certificate (PEM); generated when not given
    key_pem: str | None = None
    cert_pem: str | None = None
    port: int = 0
    root: Path | None = None
    proc: subprocess.Popen | None = None
    #: fixed for the IdP's life: SimpleSAMLphp keys its session tokens and NameID hashes on it
    secret_salt: str = field(default_factory=lambda: secrets.token_hex(16))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    # ----- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simplesaml/"

    @property
    def metadata_url(self) -> str:
        return self.base_url + "saml2/idp/metadata.php"

    @property
    def entity_id(self) -> str:
        """SimpleSAMLphp's dynamic entity id is its metadata URL."""
        return self.metadata_url

    @property
    def sso_url(self) -> str:
        return self.base_url + "saml2/idp/SSOService.php"

    @property
    def slo_url(self) -> str:
        return self.base_url + "saml2/idp/SingleLogoutService.php"

    def idp_initiated_url(self, sp_entity_id: str, relay_state: str | None = None) -> str:
        """The URL that starts an IdP-initiated sign-in for that SP: after the login form the
        browser POSTs an unsolicited Response (no InResponseTo) to the SP's ACS."""
        query = {"spentityid": sp_entity_id}
        if relay_state is not None:
            query["RelayState"] = relay_state
        return self.sso_url + "?" + urlencode(query)

    def user(self, username: str) -> SamlUser:
        for u in self.users:
            if u.username == username:
                return u
        raise KeyError(username)

    # ----- files

    @property
    def config_dir(self) -> Path:
        assert self.root is not None
        return self.root / "config"

    @property
    def metadata_dir(self) -> Path:
        assert self.root is not None
        return self.root / "metadata"

    @property
    def cert_dir(self) -> Path:
        assert self.root is not None
        return self.root / "cert"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "log" / "simplesamlphp.log"

    def _config(self) -> list[tuple[str, object]]:
        assert self.root is not None
        return [("$config", {
            "baseurlpath": self.base_url,
            "certdir": str(self.cert_dir) + "/",
            "loggingdir": str(self.root / "log") + "/",
            "datadir": str(self.root / "data") + "/",
            "tempdir": str(self.root / "tmp"),
            "metadatadir": str(self.metadata_dir) + "/",
            "metadata.sources": [{"type": "flatfile", "directory": str(self.metadata_dir)}],
            "secretsalt": self.secret_salt,
            "auth.adminpassword": self.admin_password,
            "admin.protectindexpage": True,
            "admin.protectmetadata": False,
            "technicalcontact_name": "Cognate interop tests",
            "technicalcontact_email": "na@example.org",
            "timezone": "UTC",
            "logging.level": RawPhp("\\SimpleSAML\\Logger::DEBUG"),
            "logging.handler": "file",
            "logging.logfile": "simplesamlphp.log",
            "debug": {"saml": True, "backtraces": True, "validatexml": False},
            "showerrors": True,
            "errorreporting": False,
            "enable.saml20-idp": True,
            "enable.shib13-idp": False,
            "enable.adfs-idp": False,
            "module.enable": {"exampleauth": True, "core": True, "saml": True, "admin": True},
            "store.type": "phpsession",
            "session.phpsession.savepath": str(self.root / "sessions"),
            "session.phpsession.cookiename": "SimpleSAMLSessionID",
            "session.cookie.secure": False,
            "session.cookie.samesite": None,
            "session.duration": 3600,
            "language.available": ["en"],
            "language.default": "en",
            "theme.use": "default",
            "usenewui": False,
        })]

    def _authsources(self) -> list[tuple[str, object]]:
        accounts = {}
        for u in self.users:
            if ":" in u.username or ":" in u.password:
                raise SamlIdpError(f"exampleauth:UserPass keys are user:password; no ':' in {u.username!r}")
            accounts[f"{u.username}:{u.password}"] = {k: list(v) for k, v in u.attributes.items()}
        return [("$config", {
            "admin": ["core:AdminPassword"],
            "example-userpass": {0: "exampleauth:UserPass", **accounts},
        })]

    def _idp_hosted(self) -> list[tuple[str, object]]:
        return [("$metadata['__DYNAMIC:1__']", {
            "host": "__DEFAULT__",
            "privatekey": "idp.key",
            "certificate": "idp.crt",
            "auth": "example-userpass",
            "signature.algorithm": RSA_SHA256,
            "NameIDFormat": NAMEID_PERSISTENT,
            "SingleSignOnServiceBinding": [BINDING_REDIRECT, BINDING_POST],
            "SingleLogoutServiceBinding": [BINDING_REDIRECT, BINDING_POST],
        })]

    def _sp_remote(self) -> list[tuple[str, object]]:
        entries = []
        for sp in self.sps:
            entry: dict[str, object] = {
                "AssertionConsumerService": [{"Binding": BINDING_POST, "Location": sp.acs_url, "index": 0}],
                "NameIDFormat": sp.name_id_format,
                "simplesaml.nameidattribute": sp.name_id_attribute,
                "saml20.sign.response": sp.sign_response,
                "saml20.sign.assertion": sp.sign_assertion,
                "signature.algorithm": RSA_SHA256,
                "attributes.NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                # Sign logout messages sent over HTTP-Redirect (Cognate refuses unsigned ones).
                "redirect.sign": True,
            }
            if sp.slo_url:
                entry["SingleLogoutService"] = [{"Binding": BINDING_REDIRECT, "Location": sp.slo_url}]
            keys = []
            if sp.signing_cert_pem:
                keys.append({"type": "X509Certificate", "signing": True, "encryption": False,
                             "X509Certificate": cert_body(sp.signing_cert_pem)})
                entry["validate.authnrequest"] = True
                entry["validate.logout"] = True
            if sp.encryption_cert_pem:
                keys.append({"type": "X509Certificate", "signing": False, "encryption": True,
                             "X509Certificate": cert_body(sp.encryption_cert_pem)})
                entry["assertion.encryption"] = True
                entry["sharedkey_algorithm"] = sp.encryption_algorithm
            if keys:
                entry["keys"] = keys
            entries.append((f"$metadata[{php(sp.entity_id)}]", entry))
        return entries

    def write_files(self) -> None:
        """(Re)writes config, users and metadata; a running IdP reads them on its next request."""
        assert self.root is not None
        # Each file is replaced whole (written aside, then renamed), so a request the running
        # IdP serves meanwhile reads the old file or the new one, never half of one.
        for path, text in (
            (self.config_dir / "config.php", php_file(self._config())),
            (self.config_dir / "authsources.php", php_file(self._authsources())),
            (self.metadata_dir / "saml20-idp-hosted.php", php_file(self._idp_hosted())),
            (self.metadata_dir / "saml20-sp-remote.php", php_file(self._sp_remote())),
        ):
            aside = path.with_suffix(".tmp")
            aside.write_text(text)
            os.replace(aside, path)

    def add_sp(self, sp: SamlSp) -> None:
        """Registers one more SP (or replaces the one with that entity id)."""
        self.sps = [s for s in self.sps if s.entity_id != sp.entity_id] + [sp]
        if self.root is not None:
            self.write_files()

    def set_user_attributes(self, username: str, **attributes: list[str]) -> None:
        """Changes what the IdP asserts for that user from the next sign-in on."""
        self.user(username).attributes.update({k: list(v) for k, v in attributes.items()})
        if self.root is not None:
            self.write_files()

    def add_user(self, user: SamlUser) -> None:
        """Adds an account (or replaces the one with that username) from the next sign-in on."""
        self.users = [u for u in self.users if u.username != user.username] + [user]
        if self.root is not None:
            self.write_files()

    # ----- process

    def start(self) -> "SimpleSamlIdp":
        missing = simplesamlphp_missing()
        if missing:
            raise SamlIdpError(missing)
        if self.key_pem is None or self.cert_pem is None:
            self.key_pem, self.cert_pem = make_key_and_cert("SimpleSAMLphp IdP (Cognate tests)")
        self.root = Path(tempfile.mkdtemp(prefix="cognate-saml-idp-"))
        for sub in ("config", "metadata", "cert", "log", "data", "tmp", "sessions"):
            (self.root / sub).mkdir()
        (self.cert_dir / "idp.key").write_text(self.key_pem)
        os.chmod(self.cert_dir / "idp.key", 0o600)
        (self.cert_dir / "idp.crt").write_text(self.cert_pem)
        router = self.root / "router.php"
        router.write_text(ROUTER)
        www = (SIMPLESAMLPHP_ROOT / "www").resolve()

        last_error = ""
        for _attempt in range(3):  # a port picked free may be taken before php binds it
            self.port = self.port or free_port()
            self.write_files()
            env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLESAMLPHP")}
            env["SIMPLESAMLPHP_CONFIG_DIR"] = str(self.config_dir)
            env["SIMPLESAMLPHP_WWW"] = str(www)
            # Several workers: the login form's assets and the next page need not queue
            # behind one another.
            env["PHP_CLI_SERVER_WORKERS"] = "4"
            server_log = open(self.root / "log" / "php-server.log", "ab")  # noqa: SIM115
            self.proc = subprocess.Popen(
                # No opcode cache: it revalidates a file every few seconds at best (and by
                # whole-second mtimes), so a config rewritten by set_user_attributes or
                # add_user could be served stale to the next sign-in.
                [PHP, "-d", "opcache.enable=0", "-d", "display_errors=stderr", "-d", "log_errors=On",
                 "-d", f"session.save_path={self.root / 'sessions'}",
                 "-d", "variables_order=EGPCS",
                 "-S", f"127.0.0.1:{self.port}", "-t", str(www), str(router)],
                stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT,
                env=env, cwd=str(self.root),
                # Its own process group: with workers, php -S forks children, and stop()
                # ends them all through the group of this process.
                start_new_session=True,
            )
            server_log.close()
            try:
                self._wait_ready()
                LIVE_IDPS.append(self)
                return self
            except SamlIdpError as exc:
                last_error = str(exc)
                self._end_process()
                self.port = 0
        self._remove_root()
        raise SamlIdpError(last_error)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SamlIdpError(f"php -S exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                resp = requests.get(self.metadata_url, timeout=5)
                if resp.status_code == 200 and "EntityDescriptor" in resp.text:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:800]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise SamlIdpError(f"SimpleSAMLphp did not serve its metadata within {START_TIMEOUT}s "
                           f"({last})\n{self.log_tail()}")

    def metadata_xml(self) -> str:
        resp = requests.get(self.metadata_url, timeout=10)
        resp.raise_for_status()
        return resp.text

    def log_tail(self, limit: int = 4000) -> str:
        """The end of php's server log and SimpleSAMLphp's own log (for a failing test)."""
        if self.root is None:
            return ""
        out = []
        for path in (self.root / "log" / "php-server.log", self.log_path):
            with contextlib.suppress(OSError):
                out.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-limit:]}")
        return "\n".join(out)

    def _end_process(self) -> None:
        if self.proc is None:
            return
        group = self.proc.pid  # the group this process leads (start_new_session)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # The workers may outlive the parent by a moment; wait until the group is empty.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.proc = None

    def _remove_root(self) -> None:
        if self.root is not None and os.environ.get("COGNATE_IT_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def stop(self) -> None:
        if self in LIVE_IDPS:
            LIVE_IDPS.remove(self)
        self._end_process()
        self._remove_root()

    def __enter__(self) -> "SimpleSamlIdp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- SP-side helpers
# What a test needs to play the SP without Cognate: a signed AuthnRequest (HTTP-Redirect), a
# stand-in ACS that captures the POSTed Response, the login walked with requests, and an
# independent check of the IdP's XML signatures and encryption (xmlsec1).

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def redirect_authn_request(sso_url: str, sp_entity_id: str, acs_url: str, *,
                           key_pem: str | None = None, relay_state: str | None = None,
                           request_id: str | None = None,
                           name_id_format: str | None = NAMEID_PERSISTENT) -> tuple[str, str]:
    """An AuthnRequest on the HTTP-Redirect binding, signed RSA-SHA256 over the query string
    as the binding specifies when `key_pem` is given. Returns (URL, the request's ID)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    request_id = request_id or "_" + secrets.token_hex(20)
    issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = (f'<samlp:NameIDPolicy Format="{name_id_format}" AllowCreate="true"/>'
              if name_id_format else "")
    xml = (f'<samlp:AuthnRequest xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}" '
           f'ID="{request_id}" Version="2.0" IssueInstant="{issued}" Destination="{sso_url}" '
           f'ProtocolBinding="{BINDING_POST}" AssertionConsumerServiceURL="{acs_url}">'
           f'<saml:Issuer>{sp_entity_id}</saml:Issuer>{policy}</samlp:AuthnRequest>')
    deflater = zlib.compressobj(wbits=-15)
    encoded = base64.b64encode(deflater.compress(xml.encode()) + deflater.flush()).decode()
    query = "SAMLRequest=" + quote(encoded, safe="")
    if relay_state is not None:
        query += "&RelayState=" + quote(relay_state, safe="")
    if key_pem is not None:
        query += "&SigAlg=" + quote(RSA_SHA256, safe="")
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        signature = key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        query += "&Signature=" + quote(base64.b64encode(signature).decode(), safe="")
    return sso_url + "?" + query, request_id


@dataclass
class PostedResponse:
    """What the IdP's auto-submitting form (or a browser) POSTed to an ACS."""

    action: str
    saml_response: str  # base64, as posted
    relay_state: str | None

    @property
    def xml(self) -> str:
        return base64.b64decode(self.saml_response).decode()


def posted_form(page_html: str, base_url: str) -> PostedResponse:
    """The SAMLResponse form of SimpleSAMLphp's POST-binding page."""

    class Form(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.action = ""
            self.fields: dict[str, str] = {}

        def handle_starttag(self, tag, attrs):
            a = {k: v or "" for k, v in attrs}
            if tag == "form":
                self.action = a.get("action", "")
            elif tag == "input" and a.get("name"):
                self.fields[a["name"]] = a.get("value", "")

    form = Form()
    form.feed(page_html)
    if "SAMLResponse" not in form.fields:
        raise SamlIdpError(f"no SAMLResponse form on the page:\n{page_html[:2000]}")
    return PostedResponse(urljoin(base_url, form.action), form.fields["SAMLResponse"],
                          form.fields.get("RelayState"))


def sign_in_with_requests(http: requests.Session, start_url: str, username: str,
                          password: str) -> PostedResponse:
    """Opens `start_url` (an SSO URL with a request, or an IdP-initiated one), fills the login
    form and returns the Response the IdP would have the browser POST (not posted)."""
    page = http.get(start_url, timeout=30)
    if "AuthState" not in page.url:
        if "SAMLResponse" in page.text:  # already signed in at the IdP
            return posted_form(page.text, page.url)
        raise SamlIdpError(f"no login form at {page.url} (HTTP {page.status_code}):\n{page.text[:2000]}")
    auth_state = parse_qs(urlsplit(page.url).query)["AuthState"][0]
    done = http.post(page.url.split("?")[0], data={"username": username, "password": password,
                                                    "AuthState": auth_state}, timeout=30)
    return posted_form(done.text, done.url)


class AcsStandIn:
    """A loopback HTTP server playing an SP's assertion consumer service: it records every
    POSTed SAMLResponse/RelayState and answers 200 "captured". Only for tests without Cognate."""

    def __init__(self, path: str = "/saml2/idpresponse") -> None:
        self.posts: list[PostedResponse] = []
        self._arrived = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                ok = self.path.split("?")[0] == path and "SAMLResponse" in form
                if ok:
                    with outer._arrived:
                        outer.posts.append(PostedResponse(outer.acs_url, form["SAMLResponse"],
                                                          form.get("RelayState")))
                        outer._arrived.notify_all()
                body = b"<h1>captured</h1>" if ok else b"<h1>not an ACS post</h1>"
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.acs_url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def wait_for_post(self, count: int = 1, timeout: float = 20.0) -> PostedResponse:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.posts) >= count, timeout=timeout):
                raise SamlIdpError(f"no SAMLResponse reached {self.acs_url} within {timeout}s")
            return self.posts[count - 1]

    def __enter__(self) -> "AcsStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def _xmlsec1(args: list[str], xml: str) -> subprocess.CompletedProcess:
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise SamlIdpError("xmlsec1 is not installed (scripts/test installs Debian's xmlsec1)")
    with tempfile.TemporaryDirectory(prefix="cognate-xmlsec-") as tmp:
        doc = Path(tmp) / "doc.xml"
        doc.write_text(xml)
        files = []
        for i, a in enumerate(args):
            if a.startswith("@pem:"):  # a PEM passed inline: written to a file of its own
                f = Path(tmp) / f"key{i}.pem"
                f.write_text(a[5:])
                files.append(str(f))
            else:
                files.append(a)
        return subprocess.run(["xmlsec1", *files, str(doc)], capture_output=True, text=True,
                              timeout=30)


ID_ATTRS = ["--id-attr:ID", f"{SAMLP_NS}:Response", "--id-attr:ID", f"{SAML_NS}:Assertion"]


def verify_signature(xml: str, cert_pem: str, node_xpath: str | None = None) -> None:
    """Checks one XML signature with xmlsec1 against `cert_pem` only: the first ds:Signature of
    the document, or the one `node_xpath` selects. Raises SamlIdpError when it does not verify."""
    args = ["--verify", "--enabled-reference-uris", "same-doc", "--pubkey-cert-pem", "@pem:" + cert_pem,
            *ID_ATTRS]
    if node_xpath:
        args += ["--node-xpath", node_xpath]
    done = _xmlsec1(args, xml)
    if done.returncode != 0:
        raise SamlIdpError(f"signature did not verify: {done.stderr[-2000:]}")


def decrypt_assertion(response_xml: str, key_pem: str) -> str:
    """The Response with its EncryptedAssertion decrypted in place by xmlsec1 with the SP's key."""
    args = ["--decrypt", "--privkey-pem", "@pem:" + key_pem, "--node-xpath",
            f"//*[local-name()='EncryptedAssertion']/*[local-name()='EncryptedData']"]
    done = _xmlsec1(args, response_xml)
    if done.returncode != 0:
        raise SamlIdpError(f"the assertion did not decrypt: {done.stderr[-2000:]}")
    return done.stdout
