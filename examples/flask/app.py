"""A small Flask application whose accounts live in a Keyhold vault.

It logs users in against the vault's read-only ``app_users`` view
(docs/APPLICATIONS.md): Argon2 hashes are verified with argon2-cffi, imported
bcrypt hashes with bcrypt. Every request opens its own read-only connection,
so locking, disabling or expiring an account in Keyhold takes effect at the
user's next request. Each page needs one permission.

Its own secrets, SECRET_KEY (sessions) and API_TOKEN (an upstream service),
come from the environment, put there by ``keyhold run``; without SECRET_KEY
the application refuses to start:

    keyhold secret generate app/SECRET_KEY --length 64
    keyhold run --prefix app/ -- flask --app examples/flask/app.py run

The vault is the one ``keyhold`` uses: ``KEYHOLD_DB``, else
``$XDG_DATA_HOME/keyhold/keyhold.db``, else ``~/.local/share/keyhold/keyhold.db``.
The application never writes to it.
"""

import hashlib
import os
import secrets
import sqlite3
from functools import wraps
from pathlib import Path

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_argon2 = PasswordHasher()


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


def create_app(vault_path: str | None = None) -> Flask:
    secret_key = os.environ.get("SECRET_KEY")
    if not secret_key:
        raise RuntimeError(
            "SECRET_KEY is not set. Start the application through Keyhold:\n"
            "    keyhold secret generate app/SECRET_KEY --length 64\n"
            "    keyhold run --prefix app/ -- flask --app examples/flask/app.py run")

    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret_key
    app.config["API_TOKEN"] = os.environ.get("API_TOKEN")
    app.config["KEYHOLD_DB"] = vault_path or default_vault_path()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
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
                    return redirect(url_for("login", next=request.path))
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
        user = find_user(username) if 3 <= len(username) <= 32 else None
        verified = verify_password(user["password_hash"] if user else dummy_hash, password)
        if user is None or not verified:
            flash("Wrong username or password.")
            return render_template("login.html"), 401
        # The account's state is told only to someone who knows the password.
        why = refusal(user)
        if why is not None:
            flash(why)
            return render_template("login.html"), 403
        session.clear()
        session["user_id"] = user["id"]
        target = request.args.get("next", "")
        return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("index"))

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("login"))

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

    return app
