"""A small Flask application whose accounts live in a Keyhold vault.

It logs users in with Keyhold's application service when ``KEYHOLD_APP_SOCKET``
names its socket (``keyhold app-serve``, docs/APPLICATIONS.md "The application
service"): Keyhold verifies the password, counts failures toward its lockout,
audits the login, replaces a legacy hash, and lets users change their own
password (``/password``, required when an administrator set it). Without the
service it verifies against the vault's read-only ``app_users`` view itself:
Argon2 hashes with argon2-cffi, imported bcrypt hashes with bcrypt (which the
service leaves to the application in any case). Every request opens its own
read-only connection to read the account, so locking, disabling or expiring an
account in Keyhold takes effect at the user's next request. Each page needs one
permission.

Its own secrets, SECRET_KEY (sessions) and API_TOKEN (an upstream service),
come from the environment, put there by ``keyhold run``; without SECRET_KEY
(or with one shorter than 32 characters) the application refuses to start:

    keyhold secret generate app/dev/SECRET_KEY --length 64
    keyhold run --prefix app/dev/ -- flask --app examples/flask/app.py run

The vault is the one ``keyhold`` uses: ``KEYHOLD_DB``, else
``$XDG_DATA_HOME/keyhold/keyhold.db``, else ``~/.local/share/keyhold/keyhold.db``.
The application never writes to it.

It follows the practices a web application on Keyhold should follow
(docs/APPLICATIONS.md, "What the example shows"): a ``next`` target after
sign-in is only ever a path on this site, every form carries a CSRF token
(Flask-WTF), the session cookie is HttpOnly, SameSite=Lax and Secure, every
response carries security headers, and the login route is rate-limited per
client address and per username.
"""

import hashlib
import math
import os
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections import deque
from functools import wraps
from pathlib import Path
from urllib.parse import unquote, urlsplit

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from keyhold_app import AccountRefused, InvalidRequest, KeyholdApp, KeyholdAppError, LoginFailed

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_argon2 = PasswordHasher()

MIN_SECRET_KEY_LENGTH = 32
MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. Run the application under `keyhold run`, which puts it in the environment:\n"
    "    keyhold secret generate app/dev/SECRET_KEY --length 64\n"
    "    keyhold run --prefix app/dev/ -- flask --app examples/flask/app.py run")

# Every response: no inline script or style, nothing from elsewhere, no framing.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: Flask-WTF checks the Referer of a POST over HTTPS.
    "Referrer-Policy": "same-origin",
    # Every page shows one user's data: no shared or back-button cache keeps it.
    "Cache-Control": "no-store",
}
# Only over HTTPS (a browser ignores it over HTTP anyway). One year; add includeSubDomains
# once every subdomain is served over HTTPS.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"

# Failed sign-ins allowed in a window, per client address and per username, before the
# login route answers 429 without checking the password.
LOGIN_LIMIT_PER_ADDRESS = (20, 300.0)
LOGIN_LIMIT_PER_USERNAME = (5, 300.0)

_MAX_NEXT_LENGTH = 2048
_MAX_DECODE_ROUNDS = 3


def _unsafe_character(c: str) -> bool:
    """Whitespace and every control, format, separator, private-use or unassigned code point."""
    return c.isspace() or unicodedata.category(c)[0] in "CZ"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/page?query``), else None.

    Browsers are lenient where a server is strict: they drop tabs and newlines from a
    URL, read ``\\`` as ``/``, take ``//host`` and ``https:host`` as another site. So a
    target is refused if, as given or after any round of percent-decoding, it holds a
    whitespace or control character or a backslash, does not start with exactly one
    ``/``, or parses (urllib.parse) with a scheme or a host.
    """
    if not target or len(target) > _MAX_NEXT_LENGTH:
        return None
    forms = [target]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    else:
        return None  # still encoded after several rounds: no honest link looks like that
    for form in forms:
        if any(_unsafe_character(c) for c in form) or "\\" in form:
            return None
        # urlsplit reads "///host" as a path; a browser reads it as "//host": hence the prefix rule.
        if not form.startswith("/") or form.startswith("//"):
            return None
        try:
            parts = urlsplit(form)
        except ValueError:
            return None
        if parts.scheme or parts.netloc:  # the parser's word as well, should the two ever disagree
            return None
    return target


class LoginLimiter:
    """Failed sign-ins per key (a client address, a username) in a sliding window, in this process.

    ``attempt`` records an attempt before the password is checked (so parallel guesses
    count too), or says how long to wait if the key is at its limit; ``succeeded``
    takes an attempt back out when the password was right. Counts live in this
    process's memory: with several workers or hosts each keeps its own, so a
    deployment of more than one process keeps them in a shared store instead
    (docs/APPLICATIONS.md). At most ``max_keys`` keys are kept, so a flood of new
    names or addresses cannot fill the memory.
    """

    def __init__(self, limit: int, window: float, max_keys: int = 10_000, clock=time.monotonic):
        self.limit, self.window, self.max_keys, self.clock = limit, window, max_keys, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._forget_old(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def _forget_old(self, now: float) -> None:
        """Drops keys with no attempt in the window; if still full, the oldest keys (memory stays bounded)."""
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:
            del self._hits[next(iter(self._hits))]

    def attempt(self, key: str) -> int:
        """Records an attempt for `key` and returns 0, or, if `key` is at its limit, records
        nothing and returns the seconds until it may try again."""
        with self._lock:
            now = self.clock()
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return 0

    def succeeded(self, key: str) -> None:
        """Takes one attempt for `key` back: it was not a failure."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()


def default_vault_path() -> str:
    """The vault path exactly as keyhold finds it."""
    if os.environ.get("KEYHOLD_DB"):
        return os.environ["KEYHOLD_DB"]
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "keyhold", "keyhold.db")


def read_only_uri(path: str) -> str:
    """``file:`` URI of the vault, opened read-only (mode=ro): SQLite refuses every write."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def verify_password(stored_hash: str, password: str) -> bool:
    """Argon2 (argon2id, argon2i) with argon2-cffi; legacy bcrypt with bcrypt; anything else fails."""
    if stored_hash.startswith("$argon2"):
        try:
            return _argon2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if stored_hash.startswith(BCRYPT_PREFIXES):
        candidate = password.encode("utf-8")
        if len(candidate) > 72:  # bcrypt reads at most 72 bytes; bcrypt 5 refuses more
            return False
        try:
            return bcrypt.checkpw(candidate, stored_hash.encode("ascii"))
        except ValueError:
            return False
    return False


SERVICE_REFUSALS = {
    "disabled": "This account is disabled.",
    "expired": "This account has expired.",
    "temporary_password_expired": "Your temporary password has expired: ask an administrator for a new one.",
}


def refusal(user) -> str | None:
    """Why an account whose password is right may not use the application now (None: it may)."""
    if user["disabled"]:
        return "This account is disabled."
    if user["expired"]:
        return "This account has expired."
    if user["locked"]:
        return "This account is locked."
    if user["must_change"]:
        return "Your password was set by an administrator: change it with `keyhold user passwd` first."
    if not user["active"]:  # any future reason the vault gives
        return "This account cannot sign in now."
    return None


def create_app(vault_path: str | None = None, *, testing: bool = False, app_socket: str | None = None) -> Flask:
    """The application. SECRET_KEY comes from the environment only (``keyhold run``).

    ``testing``: Flask's test mode, and a session cookie without ``Secure`` so that a
    client on plain HTTP keeps it; outside tests the cookie is always ``Secure``.
    ``app_socket``: the application service's socket (else ``KEYHOLD_APP_SOCKET``; neither:
    logins are verified here against the read-only view, and passwords cannot be changed).
    """
    secret_key = os.environ.get("SECRET_KEY")
    if not secret_key:
        raise RuntimeError(MISSING_SECRET_KEY)
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(
            f"SECRET_KEY is too short: it must have at least {MIN_SECRET_KEY_LENGTH} characters. Give it a random "
            "value of 64 (`keyhold secret generate`) and run the application under `keyhold run`.")

    app = Flask(__name__)
    app.config["TESTING"] = testing
    app.config["SECRET_KEY"] = secret_key
    app.config["API_TOKEN"] = os.environ.get("API_TOKEN")
    app.config["KEYHOLD_DB"] = vault_path or default_vault_path()
    app.config["KEYHOLD_APP_SOCKET"] = app_socket or os.environ.get("KEYHOLD_APP_SOCKET") or None
    service = KeyholdApp(app.config["KEYHOLD_APP_SOCKET"]) if app.config["KEYHOLD_APP_SOCKET"] else None
    app.config["SESSION_COOKIE_HTTPONLY"] = True  # no script reads the session
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # not sent on another site's POST, nor in its frames
    app.config["SESSION_COOKIE_SECURE"] = not testing  # never over plain HTTP
    # Every POST needs the session's token (hidden field `csrf_token`), compared in constant time.
    CSRFProtect(app)
    limiters = {
        "address": LoginLimiter(*LOGIN_LIMIT_PER_ADDRESS),
        "username": LoginLimiter(*LOGIN_LIMIT_PER_USERNAME),
    }
    app.extensions["login_limiters"] = limiters
    # Same Argon2 work for an unknown username as for a real one.
    dummy_hash = _argon2.hash(secrets.token_urlsafe(16))

    def accounts() -> sqlite3.Connection:
        """This request's read-only connection to the vault."""
        if "accounts" not in g:
            g.accounts = sqlite3.connect(read_only_uri(app.config["KEYHOLD_DB"]), uri=True, timeout=5)
            g.accounts.row_factory = sqlite3.Row
        return g.accounts

    @app.teardown_appcontext
    def close_accounts(_exc):
        conn = g.pop("accounts", None)
        if conn is not None:
            conn.close()

    def find_user(username: str):
        return accounts().execute(
            "SELECT * FROM app_users WHERE username = ? COLLATE NOCASE", (username,)).fetchone()

    def current_user():
        """The signed-in user, re-read on every request; signed out if they may no longer use the app."""
        user_id = session.get("user_id")
        if user_id is None:
            return None
        user = accounts().execute("SELECT * FROM app_users WHERE id = ?", (user_id,)).fetchone()
        if user is None or refusal(user) is not None:
            session.clear()
            return None
        return user

    def permissions_of(user) -> set[str]:
        return {p for p in user["permissions"].split(",") if p}

    def requires(permission: str | None):
        """Sign-in, and `permission` if given: else 403."""
        def decorate(view):
            @wraps(view)
            def wrapped(*args, **kwargs):
                user = current_user()
                if user is None:
                    here = request.full_path if request.query_string else request.path
                    return redirect(url_for("login", next=here))
                if permission is not None and permission not in permissions_of(user):
                    abort(403, description=f"This page needs the permission {permission}.")
                g.user = user
                return view(*args, **kwargs)
            return wrapped
        return decorate

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            return render_template("login.html")
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        # Before any Argon2 work: too many failures from this address, or for this name
        # (known or not, so the answer says nothing about which names exist).
        keys = {"address": request.remote_addr or "unknown", "username": username.lower()[:64]}
        wait = limiters["address"].attempt(keys["address"])
        if not wait:
            wait = limiters["username"].attempt(keys["username"])
            if wait:
                limiters["address"].succeeded(keys["address"])  # a refused attempt counts nowhere
        if wait:
            flash(f"Too many sign-in attempts. Try again in {wait} seconds.")
            return render_template("login.html"), 429, {"Retry-After": str(wait)}
        if service is not None:
            return login_through_service(username, password, keys)
        user = find_user(username) if 3 <= len(username) <= 32 else None
        verified = verify_password(user["password_hash"] if user else dummy_hash, password)
        if user is None or not verified:
            flash("Wrong username or password.")
            return render_template("login.html"), 401
        return signed_in(user, keys)

    def signed_in(user, keys):
        """The password was right: the limits take the attempt back; the account's state decides."""
        for kind, key in keys.items():
            limiters[kind].succeeded(key)
        # The account's state is told only to someone who knows the password.
        why = refusal(user)
        if why is not None:
            flash(why)
            return render_template("login.html"), 403
        session.clear()
        session["user_id"] = user["id"]
        return redirect(safe_next(request.args.get("next")) or url_for("index"))

    def login_through_service(username: str, password: str, keys):
        """Keyhold checks the password, counts a failure toward its lockout and audits the login."""
        try:
            account = service.login(username, password)
        except (LoginFailed, InvalidRequest):
            flash("Wrong username or password.")
            return render_template("login.html"), 401
        except AccountRefused as e:
            if e.code == "unsupported_hash":  # bcrypt: Keyhold cannot verify it, this application can
                user = find_user(username)
                if user is None or not verify_password(user["password_hash"], password):
                    flash("Wrong username or password.")
                    return render_template("login.html"), 401
                return signed_in(user, keys)
            for kind, key in keys.items():
                limiters[kind].succeeded(key)
            flash(SERVICE_REFUSALS.get(e.code, "This account cannot sign in now."))
            return render_template("login.html"), 403
        except KeyholdAppError:
            flash("Signing in is unavailable at the moment. Please try again later.")
            return render_template("login.html"), 503
        if account.must_change:
            # Signed in only once a new password is chosen; the session holds the name, never a password.
            for kind, key in keys.items():
                limiters[kind].succeeded(key)
            session.clear()
            session["change_password_of"] = account.username
            flash("Your password was set by an administrator: choose a new one.")
            return redirect(url_for("change_password"))
        user = accounts().execute("SELECT * FROM app_users WHERE id = ?", (account.id,)).fetchone()
        if user is None:
            flash("Wrong username or password.")
            return render_template("login.html"), 401
        return signed_in(user, keys)

    @app.route("/password", methods=["GET", "POST"])
    def change_password():
        """One's own password, through the service: the current one, then the new one twice."""
        if service is None:
            abort(404)
        user = current_user()
        username = user["username"] if user is not None else session.get("change_password_of")
        if username is None:
            return redirect(url_for("login", next=url_for("change_password")))
        if request.method == "GET":
            return render_template("password.html", user=user, username=username)
        current = request.form.get("current_password", "")
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            flash("The two new passwords differ.")
            return render_template("password.html", user=user, username=username), 400
        # The current password is a guess like a sign-in's: the same limits apply.
        keys = {"address": request.remote_addr or "unknown", "username": username.lower()[:64]}
        wait = limiters["address"].attempt(keys["address"]) or limiters["username"].attempt(keys["username"])
        if wait:
            flash(f"Too many attempts. Try again in {wait} seconds.")
            return render_template("password.html", user=user, username=username), 429, {"Retry-After": str(wait)}
        try:
            account = service.change_password(username, current, new)
        except LoginFailed:
            flash("The current password is wrong.")
            return render_template("password.html", user=user, username=username), 401
        except InvalidRequest as e:
            for kind, key in keys.items():
                limiters[kind].succeeded(key)
            flash(f"The new password cannot be used: {e.message}.")
            return render_template("password.html", user=user, username=username), 400
        except AccountRefused as e:
            flash(SERVICE_REFUSALS.get(e.code, "This account cannot change its password now."))
            return render_template("password.html", user=user, username=username), 403
        except KeyholdAppError:
            flash("Changing passwords is unavailable at the moment. Please try again later.")
            return render_template("password.html", user=user, username=username), 503
        for kind, key in keys.items():
            limiters[kind].succeeded(key)
        session.clear()
        session["user_id"] = account.id
        flash("Your password was changed.")
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("login"))

    @app.context_processor
    def service_available():
        return {"password_change": service is not None}

    @app.route("/")
    @requires(None)
    def index():
        return render_template("page.html", title="Home", user=g.user,
                               body=f"Roles: {g.user['roles'] or '(none)'}. Permissions: {g.user['permissions'] or '(none)'}.")

    @app.route("/secrets-page")
    @requires("secrets.list")
    def secrets_page():
        return render_template("page.html", title="Secrets", user=g.user,
                               body="You may list the application's secrets (secrets.list).")

    @app.route("/admin")
    @requires("users.write")
    def admin():
        return render_template("page.html", title="Administration", user=g.user,
                               body="You may manage accounts (users.write).")

    @app.route("/integration")
    @requires(None)
    def integration():
        # Proves the token arrived without showing it: a short fingerprint only.
        token = app.config["API_TOKEN"]
        fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12] if token else None
        return {"api_token_configured": token is not None, "api_token_sha256_prefix": fingerprint}

    @app.errorhandler(403)
    def forbidden(error):
        return render_template("page.html", title="Forbidden", user=g.get("user"), body=error.description), 403

    @app.errorhandler(CSRFError)
    def csrf_refused(error):
        # The form is refused whole; the login form comes back with a fresh token.
        flash("This form expired or did not come from this site. Please try again.")
        if request.endpoint == "login":
            return render_template("login.html"), 400
        return render_template("page.html", title="Form refused", user=None,
                               body=f"Nothing was changed ({error.description})"), 400

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response

    return app
