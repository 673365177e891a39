"""Who may use a server: a token (random, stored owner-only, compared in constant time), needed
by default even on loopback, where any user of a shared computer could otherwise submit work
(``--no-token`` serves without one, on loopback only); TLS when given a certificate."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from mgie_desktop.core.errors import InputError
from mgie_desktop.core.paths import APP_NAME


def default_token_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "server-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "0.0.0.0": reachable from elsewhere


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read the token file {path} ({exc.strerror or exc})") from None
    if len(token) < 16:
        raise InputError(f"the token in {path} is too short (at least 16 characters)")
    return token


def server_token(
    token_file: Path | None, host: str, required: bool = True
) -> tuple[str | None, Path | None, bool]:
    """The token the server demands (None: none needed), the file it is in, and whether it was
    made just now: made and stored if not given. Only loopback may go without (``required``
    False: ``--no-token``)."""
    if not required:
        if not is_loopback(host):
            raise InputError(
                "--no-token is only for a loopback --host (127.0.0.1): beyond this computer "
                "a token is always needed"
            )
        if token_file is not None:
            raise InputError("--no-token and --token-file contradict each other: give one")
        return None, None, False
    if token_file is not None and token_file.exists():
        return read_token(token_file), token_file, False
    path = token_file or default_token_file()
    if path.exists():
        return read_token(path), path, False
    return write_token(path), path, True


def write_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created owner-only from the start: never a moment when others could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def token_matches(expected: str, given: str) -> bool:
    if not given.isascii():  # tokens are ASCII; other bytes (even invalid UTF-8) just do not match
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


def local_server_token(url: str) -> str | None:
    """The token of this computer's own server, for a client given none: read from where
    ``mgie-desktop serve`` makes it, if the address is loopback and the file is there."""
    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        return None
    try:
        return read_token(default_token_file())
    except InputError:  # none made yet, or unreadable: the server's 401 says what to do
        return None


def bearer(header: str | None) -> str:
    if header and header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return ""


def server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise InputError("TLS needs both --cert PEM and --key PEM")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot use the certificate {cert} with the key {key} ({exc})") from None
    return context


def client_tls(ca_file: Path | None) -> ssl.SSLContext | None:
    """Trust the system's authorities, plus ``ca_file`` (a workstation's own certificate)."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot read the certificate {ca_file} ({exc})") from None


def client_token_file() -> Path:
    """Where the window keeps the token of the server it connects to (owner-only)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "remote-token"


def save_client_token(token: str, path: Path | None = None) -> None:
    path = path or client_token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.replace(temporary, path)


def saved_client_token(path: Path | None = None) -> str:
    try:
        return (path or client_token_file()).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
