"""A client of Keyhold's application service (``keyhold app-serve``), standard library only.

The service verifies logins and changes users' own passwords for a local application,
with Keyhold's lockout, counted failures and audit events (docs/APPLICATIONS.md,
"The application service"). Copy this file into an application; it has no dependency.

    from keyhold_app import KeyholdApp, LoginFailed, AccountRefused

    service = KeyholdApp("/run/keyhold-app/app.sock")
    try:
        account = service.login("alice", password)       # Account(id, username, must_change)
    except LoginFailed:
        ...                                               # wrong username or password (or locked)
    except AccountRefused as e:
        ...                                               # e.code: disabled, expired, ...

One request per connection, in frames of a kind byte, a 32-bit big-endian length and the
bytes: the request (``Q``, JSON without any password), then each password in its own
``R`` frame; the answer is one ``s`` frame (JSON), or ``F`` when this process's uid is
not on the service's allow-list.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass

REQUEST, REPLY, RESPONSE, REFUSED = b"Q", b"R", b"s", b"F"
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class Account:
    """The account a right password opened."""
    id: int
    username: str
    must_change: bool  # set by an administrator: the user must choose a new password first


class KeyholdAppError(Exception):
    """Any refusal of the service; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field, self.rule = code, message, field, rule


class LoginFailed(KeyholdAppError):
    """Wrong username or password, or an account locked: deliberately one answer."""


class AccountRefused(KeyholdAppError):
    """The password was right, but the account may not sign in: ``disabled``, ``expired``,
    ``temporary_password_expired``; or ``unsupported_hash`` (bcrypt: verify it yourself)."""


class InvalidRequest(KeyholdAppError):
    """Bad input (``invalid``: ``field`` and ``rule`` say which, e.g. a new password the
    vault's policy refuses) or a malformed request (``bad_request``). Nothing was written."""


class ServiceUnavailable(KeyholdAppError):
    """The service cannot be reached, refused this process's uid, or could not answer."""


_REFUSALS = {"disabled", "expired", "temporary_password_expired", "unsupported_hash"}


class KeyholdApp:
    """The service at ``socket_path``."""

    def __init__(self, socket_path: str, timeout: float = 30.0):
        self.socket_path, self.timeout = socket_path, timeout

    def login(self, username: str, password: str) -> Account:
        """Verifies a login; raises LoginFailed, AccountRefused, InvalidRequest or ServiceUnavailable."""
        return self._call("login", username, [password])

    def change_password(self, username: str, current: str, new: str) -> Account:
        """Changes the user's own password (the current one is checked like a login)."""
        return self._call("change_password", username, [current, new])

    def _call(self, verb: str, username: str, passwords: list[str]) -> Account:
        request = json.dumps({"v": 1, "verb": verb, "username": username}).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.socket_path)
                try:
                    s.sendall(_frame(REQUEST, request) + b"".join(_frame(REPLY, p.encode()) for p in passwords))
                except BrokenPipeError:
                    pass  # a refusal may come before the request is read: read it
                kind, payload = _receive(s)
        except (OSError, ValueError) as e:
            raise ServiceUnavailable("unavailable", f"the Keyhold application service did not answer ({type(e).__name__})") from None
        if kind == REFUSED:
            raise ServiceUnavailable("refused", payload.decode("utf-8", "replace"))
        if kind != RESPONSE:
            raise ServiceUnavailable("unavailable", "the service answered out of protocol")
        answer = json.loads(payload)
        if answer.get("ok"):
            user = answer["user"]
            return Account(id=user["id"], username=user["username"], must_change=user["must_change"])
        code, message = answer.get("error", "unavailable"), answer.get("message", "")
        cls = (LoginFailed if code == "login_failed" else AccountRefused if code in _REFUSALS
               else InvalidRequest if code in ("invalid", "bad_request") else ServiceUnavailable)
        raise cls(code, message, answer.get("field"), answer.get("rule"))


def _frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _receive(s: socket.socket) -> tuple[bytes, bytes]:
    header = _exactly(s, 5)
    length = struct.unpack(">I", header[1:])[0]
    if length > MAX_ANSWER:
        raise ValueError("answer too long")
    return header[:1], _exactly(s, length)


def _exactly(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out
