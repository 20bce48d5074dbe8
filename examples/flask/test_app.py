"""The Flask example against a real vault made with the keyhold command line.

A vault is created with `keyhold init`; accounts are added with `user add`
(and their forced password change), locked, disabled, expired; a bcrypt and an
argon2i account are imported with `user import`; SECRET_KEY is generated and
API_TOKEN set with `keyhold secret`. Then keyhold_child.py runs the app with
Flask's test client UNDER `keyhold run --prefix app/`, exactly as the
application is started, and reports each check; one test here per check.

The binary: KEYHOLD_BIN, else .build/debug/keyhold at the repository root.
Vaults use the cheap test KDF (KEYHOLD_INSECURE_TEST_KDF=1).
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KEYHOLD = os.environ.get("KEYHOLD_BIN") or str(REPO / ".build" / "debug" / "keyhold")

API_TOKEN = "tok_live_example_0123456789abcdef"  # a test value, set through the CLI like a real one
PASSWORDS = {  # none contains its username (a password rule)
    "admin": "mossy granite under the old bridge",
    "alice": "keeper of the lighthouse lamp",
    "ursula": "reads maps by candlelight",
    "lou": "locked out of the garden gate",
    "dan": "switched the alarm off at dawn",
    "eve": "gone before the night bell",
    "bert": "still on an old bcrypt hash",
    "ivy": "came over with argon2i hashes",
}

sys.path.insert(0, str(HERE))


def keyhold(args, env, stdin="", check=True):
    """Runs the keyhold binary; returns the CompletedProcess (text)."""
    r = subprocess.run([KEYHOLD, *args], input=stdin, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"keyhold {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def base_env(db):
    env = {k: v for k, v in os.environ.items()
           if k not in ("KEYHOLD_USER", "KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD", "SECRET_KEY", "API_TOKEN")}
    env.update(KEYHOLD_DB=str(db), KEYHOLD_INSECURE_TEST_KDF="1")
    return env


def as_user(env, name, password=None, new=None):
    e = dict(env, KEYHOLD_USER=name, KEYHOLD_PASSWORD=password or PASSWORDS[name])
    if new:
        e["KEYHOLD_NEW_PASSWORD"] = new
    return e


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    if not os.access(KEYHOLD, os.X_OK):
        pytest.fail(f"no keyhold binary at {KEYHOLD}: run `swift build` or set KEYHOLD_BIN")
    root = tmp_path_factory.mktemp("flask-example")
    os.chmod(root, 0o700)
    db = root / "vault" / "keyhold.db"
    env = base_env(db)
    admin = as_user(env, "admin")
    keyhold(["init"], admin)

    def add(name, *roles):
        temp = keyhold(["user", "add", name, *sum((["--role", r] for r in roles), [])], admin).stdout.strip()
        return temp

    for name, roles in [("alice", ["operator"]), ("ursula", ["user"]), ("lou", ["user"]), ("dan", ["user"]),
                        ("eve", ["user"])]:
        temp = add(name, *roles)
        keyhold(["status"], as_user(env, name, temp, new=PASSWORDS[name]))  # the forced change at first login
    passwords = dict(PASSWORDS, newbie=add("newbie", "user"))  # never changes its temporary password: must_change
    keyhold(["user", "lock", "lou"], admin)
    keyhold(["user", "disable", "dan"], admin)
    keyhold(["user", "expire", "eve", "--at", "2001-01-01"], admin)

    users = root / "users.csv"
    bert = bcrypt.hashpw(PASSWORDS["bert"].encode(), bcrypt.gensalt(4)).decode()
    ivy = PasswordHasher(type=Type.I, time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORDS["ivy"])
    users.write_text("username,email,display_name,password_hash,roles\n"
                     f"bert,bert@example.com,Bert,{bert},user\n"
                     f"ivy,ivy@example.com,Ivy,{ivy},operator\n")
    imported = keyhold(["user", "import", "--format", "csv", str(users)], admin)
    assert "Imported 2 users; 2 with a legacy hash (1 argon2i, 1 bcrypt)." in imported.stdout

    keyhold(["secret", "generate", "app/SECRET_KEY", "--length", "64"], admin)
    keyhold(["secret", "set", "app/API_TOKEN", "--stdin"], admin, stdin=API_TOKEN + "\n")
    return {"db": db, "env": env, "admin": admin, "passwords": passwords}


@pytest.fixture(scope="module")
def child_results(vault):
    """keyhold_child.py's checks, run once under `keyhold run --prefix app/`."""
    admin = vault["admin"]
    # The test may read the generated key back (an audited reveal) to compare fingerprints.
    secret_key = keyhold(["secret", "show", "app/SECRET_KEY"], admin).stdout
    env = dict(admin,
               KEYHOLD_BIN=KEYHOLD,
               EXAMPLE_PASSWORDS=json.dumps(vault["passwords"]),
               EXPECT_SECRET_KEY_SHA256=hashlib.sha256(secret_key.encode()).hexdigest(),
               EXPECT_API_TOKEN_SHA256=hashlib.sha256(API_TOKEN.encode()).hexdigest())
    r = keyhold(["run", "--prefix", "app/", "--", sys.executable, str(HERE / "keyhold_child.py")], env, check=False)
    assert r.returncode == 0, f"the child under keyhold run exited {r.returncode}: {r.stderr[-2000:]}"
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert "child_crashed" not in results, results["child_crashed"][1]
    return results


CHECKS = [
    "secret_key_injected", "api_token_injected", "no_password_in_environment",
    "anonymous_redirected_to_login", "right_password_logs_in", "home_shows_user", "operator_may_list_secrets",
    "operator_denied_admin", "integration_sees_token", "logout_ends_session",
    "wrong_password_refused", "wrong_password_no_session", "unknown_user_refused_alike",
    "lou_refused", "lou_no_session", "lou_state_hidden_from_wrong_password",
    "dan_refused", "dan_no_session", "dan_state_hidden_from_wrong_password",
    "eve_refused", "eve_no_session", "eve_state_hidden_from_wrong_password",
    "newbie_refused", "newbie_no_session", "newbie_state_hidden_from_wrong_password",
    "plain_user_logs_in", "permission_denied_403", "plain_user_home_200", "admin_logs_in", "admin_page_200",
    "imported_bert_logs_in", "imported_bert_page", "imported_bert_wrong_password",
    "imported_ivy_logs_in", "imported_ivy_page", "imported_ivy_wrong_password",
    "lock_takes_effect_next_request", "connection_is_read_only",
    # `next` after sign-in: the known open-redirect bypasses go home, paths on this site are kept.
    *(f"next_refused_{label}" for label in [
        "double_slash", "slash_backslash", "tab_between_slashes", "backslash_slash", "scheme_no_slashes",
        "absolute_url", "scheme_slash_backslash", "triple_slash", "encoded_slashes", "encoded_slashes_no_lead",
        "encoded_backslash", "encoded_tab", "double_encoded_tab", "quadruple_encoded_tab", "javascript", "newline", "header_injection",
        "encoded_newline", "tab", "nul", "leading_space", "line_separator", "no_leading_slash", "empty"]),
    *(f"next_kept_{label}" for label in [
        "path", "query", "query_plus", "query_holding_url", "query_encoded_slash", "fragment"]),
    "next_missing_goes_home", "next_round_trip_keeps_query",
    # CSRF tokens on every form.
    "login_form_has_token", "login_without_token_refused", "login_with_forged_token_refused",
    "token_of_another_session_refused", "refused_form_comes_back_with_token", "every_form_on_home_has_token",
    "logout_without_token_refused", "logout_with_forged_token_refused", "logout_with_token_works",
    # The session cookie, HTTPS, and the headers of every response.
    "https_post_without_referer_refused", "https_post_from_other_origin_refused", "https_login_works",
    "production_cookie_before_login", "production_cookie_after_login", "hsts_over_https",
    "production_cookie_secure_over_http_too", "no_hsts_over_http", "test_cookie_httponly_lax",
    *(f"security_headers_{label}" for label in [
        "login_page", "anonymous_redirect", "csrf_refusal", "not_found", "wrong_password", "sign_in", "page",
        "forbidden", "json", "sign_out"]),
    "csp_allows_no_inline_or_framing", "pages_need_no_inline_style_or_script",
    # The login route's rate limit.
    "username_limited_after_failures", "limited_answer_same_for_right_and_wrong",
    "other_username_same_address_allowed", "username_limit_follows_the_name_across_addresses_and_case",
    "unknown_username_limited_alike", "address_limited_after_failures", "other_address_allowed",
    "right_passwords_not_counted", "limit_ends_with_the_window",
]


@pytest.mark.parametrize("name", CHECKS)
def test_under_keyhold_run(child_results, name):
    crashes = {k: v[1] for k, v in child_results.items() if k.startswith("crashed_in_")}
    assert name in child_results, f"the child did not report {name}; {crashes or 'no section crashed'}"
    ok, detail = child_results[name]
    assert ok, f"{name}: {detail}"


def test_every_reported_check_is_asserted(child_results):
    assert sorted(child_results) == sorted(CHECKS)


def test_handout_is_audited_without_values(vault, child_results):
    events = json.loads(keyhold(["audit", "list", "--action", "secret.handout", "--json"], vault["admin"]).stdout)["events"]
    assert events, "keyhold run records which secrets it handed out"
    assert sorted(events[-1]["details"]["names"]) == ["app/API_TOKEN", "app/SECRET_KEY"]
    assert API_TOKEN not in json.dumps(events)


def test_app_view_as_the_application_reads_it(vault):
    import sqlite3

    from app import read_only_uri

    conn = sqlite3.connect(read_only_uri(str(vault["db"])), uri=True)
    conn.row_factory = sqlite3.Row
    rows = {r["username"]: dict(r) for r in conn.execute("SELECT * FROM app_users")}
    conn.close()
    assert rows["alice"]["roles"] == "operator"
    assert rows["alice"]["permissions"] == "secrets.list,secrets.read,secrets.write,users.read"
    assert rows["bert"]["password_hash"].startswith("$2b$04$") and rows["bert"]["legacy_hash"] == 1
    assert rows["ivy"]["password_hash"].startswith("$argon2i$") and rows["ivy"]["legacy_hash"] == 1
    assert rows["alice"]["legacy_hash"] == 0
    assert (rows["lou"]["locked"], rows["lou"]["active"]) == (1, 0)
    assert (rows["dan"]["disabled"], rows["dan"]["active"]) == (1, 0)
    assert (rows["eve"]["expired"], rows["eve"]["active"]) == (1, 0)
    assert (rows["newbie"]["must_change"], rows["newbie"]["active"]) == (1, 1)


@pytest.mark.parametrize("value", [None, ""])
def test_app_refuses_to_start_without_secret_key(monkeypatch, vault, value):
    from app import create_app

    if value is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", value)
    for testing in (False, True):
        with pytest.raises(RuntimeError, match="SECRET_KEY is not set") as refused:
            create_app(str(vault["db"]), testing=testing)
        assert "keyhold run" in str(refused.value)


def test_app_refuses_a_short_secret_key(monkeypatch, vault):
    from app import create_app

    monkeypatch.setenv("SECRET_KEY", "x" * 31)
    with pytest.raises(RuntimeError, match="SECRET_KEY is too short: it must have at least 32 characters") as refused:
        create_app(str(vault["db"]))
    assert "x" * 31 not in str(refused.value)
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    assert create_app(str(vault["db"])).config["SECRET_KEY"] == "x" * 32


def test_every_template_form_carries_a_csrf_token():
    """A form added to a template without the token fails here before it fails in a browser."""
    for template in sorted((HERE / "templates").glob("*.html")):
        text = template.read_text()
        assert text.count("<form") == text.count('name="csrf_token" value="{{ csrf_token() }}"'), template.name


def test_login_limiter_memory_is_bounded():
    """A flood of new names or addresses cannot grow the limiter without end; idle keys go first."""
    from app import LoginLimiter

    now = [0.0]
    limiter = LoginLimiter(limit=2, window=10.0, max_keys=3, clock=lambda: now[0])
    limiter.attempt("live")
    now[0] = 1.0
    limiter.attempt("stale")
    now[0] = 9.0
    limiter.attempt("live")
    limiter.attempt("third")
    now[0] = 11.5  # "stale" has nothing left in the window; "live" (the oldest key) and "third" have
    limiter.attempt("new")  # full: the stale key goes, not the oldest one with a live count
    assert sorted(limiter._hits) == ["live", "new", "third"]
    for i in range(50):
        limiter.attempt(f"flood{i}")
        assert len(limiter._hits) <= 3
    assert limiter.attempt("flood49") == 0 and limiter.attempt("flood49") > 0
