"""Runs the example application under `keyhold run` and reports what it saw.

test_app.py starts this script as

    keyhold run --prefix app/ -- python keyhold_child.py

so SECRET_KEY and API_TOKEN reach it only the way they reach the real
application. It drives the app with Flask's test client against the vault
test_app.py prepared, and prints one JSON object: check name -> [ok, detail].
It never prints a secret value: the injected ones are compared by SHA-256
fingerprints that test_app.py passes in.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import create_app, read_only_uri  # noqa: E402

PASSWORDS = json.loads(os.environ["EXAMPLE_PASSWORDS"])  # username -> password (test accounts only)
results: dict[str, list] = {}


def check(name: str, ok: bool, detail: str = "") -> None:
    results[name] = [bool(ok), detail]


def fingerprint(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value is not None else None


def sign_in(client, username: str, password: str | None = None):
    return client.post("/login", data={"username": username, "password": password or PASSWORDS[username]})


def main() -> None:
    app = create_app()
    app.config["TESTING"] = True

    # The secrets came through keyhold run, and nothing else put them there.
    check("secret_key_injected", fingerprint(app.config["SECRET_KEY"]) == os.environ["EXPECT_SECRET_KEY_SHA256"])
    check("api_token_injected", fingerprint(app.config["API_TOKEN"]) == os.environ["EXPECT_API_TOKEN_SHA256"])
    check("no_password_in_environment", "KEYHOLD_PASSWORD" not in os.environ,
          "keyhold run removes KEYHOLD_PASSWORD from the child's environment")

    with app.test_client() as c:
        r = c.get("/secrets-page")
        check("anonymous_redirected_to_login", r.status_code == 302 and "/login" in r.headers["Location"], str(r.status_code))

        r = sign_in(c, "alice")
        check("right_password_logs_in", r.status_code == 302, str(r.status_code))
        r = c.get("/")
        check("home_shows_user", r.status_code == 200 and b"alice" in r.data and b"operator" in r.data, str(r.status_code))
        r = c.get("/secrets-page")
        check("operator_may_list_secrets", r.status_code == 200, str(r.status_code))
        r = c.get("/admin")
        check("operator_denied_admin", r.status_code == 403 and b"users.write" in r.data, str(r.status_code))
        r = c.get("/integration")
        check("integration_sees_token", r.status_code == 200 and r.json["api_token_configured"] is True
              and r.json["api_token_sha256_prefix"] == os.environ["EXPECT_API_TOKEN_SHA256"][:12], str(r.json))
        c.post("/logout")
        r = c.get("/")
        check("logout_ends_session", r.status_code == 302, str(r.status_code))

    with app.test_client() as c:
        r = sign_in(c, "alice", "not alice's password at all")
        check("wrong_password_refused", r.status_code == 401 and b"Wrong username or password" in r.data, str(r.status_code))
        r = c.get("/")
        check("wrong_password_no_session", r.status_code == 302, str(r.status_code))
        r = sign_in(c, "nobody-here", "whatever it is")
        check("unknown_user_refused_alike", r.status_code == 401 and b"Wrong username or password" in r.data, str(r.status_code))

    for name, status, text in [("lou", 403, b"locked"), ("dan", 403, b"disabled"), ("eve", 403, b"expired"),
                               ("newbie", 403, b"keyhold user passwd")]:
        with app.test_client() as c:
            r = sign_in(c, name)
            check(f"{name}_refused", r.status_code == status and text in r.data, f"{r.status_code} {r.data[-300:]!r}")
            check(f"{name}_no_session", c.get("/").status_code == 302)
            r = sign_in(c, name, "a wrong password for them")
            check(f"{name}_state_hidden_from_wrong_password", r.status_code == 401 and text not in r.data, str(r.status_code))

    with app.test_client() as c:
        r = sign_in(c, "ursula")
        check("plain_user_logs_in", r.status_code == 302, str(r.status_code))
        r = c.get("/secrets-page")
        check("permission_denied_403", r.status_code == 403 and b"secrets.list" in r.data, str(r.status_code))
        check("plain_user_home_200", c.get("/").status_code == 200)

    with app.test_client() as c:
        r = sign_in(c, "admin")
        check("admin_logs_in", r.status_code == 302, str(r.status_code))
        check("admin_page_200", c.get("/admin").status_code == 200)

    # Imported accounts: the application verifies their legacy hashes itself.
    for name, path in [("bert", "/"), ("ivy", "/secrets-page")]:
        with app.test_client() as c:
            r = sign_in(c, name)
            check(f"imported_{name}_logs_in", r.status_code == 302, str(r.status_code))
            check(f"imported_{name}_page", c.get(path).status_code == 200)
            r = sign_in(c, name, "not the imported password")
            check(f"imported_{name}_wrong_password", r.status_code == 401, str(r.status_code))

    # The next request sees a change made in Keyhold: lock a signed-in user.
    with app.test_client() as c:
        sign_in(c, "ursula")
        before = c.get("/").status_code
        env = dict(os.environ, KEYHOLD_USER="admin", KEYHOLD_PASSWORD=PASSWORDS["admin"])
        locked = subprocess.run([os.environ["KEYHOLD_BIN"], "user", "lock", "ursula"], env=env,
                                capture_output=True, text=True)
        after = c.get("/").status_code
        check("lock_takes_effect_next_request", before == 200 and locked.returncode == 0 and after == 302,
              f"{before} {locked.returncode} {locked.stderr[-200:]} {after}")

    # The application's connection cannot write.
    conn = sqlite3.connect(read_only_uri(app.config["KEYHOLD_DB"]), uri=True)
    try:
        conn.execute("UPDATE users SET locked = 0")
        check("connection_is_read_only", False, "an UPDATE went through")
    except sqlite3.OperationalError as e:
        check("connection_is_read_only", "readonly" in str(e), str(e))
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except Exception:
        results["child_crashed"] = [False, traceback.format_exc()[-2000:]]
    print(json.dumps(results))
