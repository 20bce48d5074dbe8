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
]


@pytest.mark.parametrize("name", CHECKS)
def test_under_keyhold_run(child_results, name):
    assert name in child_results, f"the child did not report {name}"
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


def test_app_refuses_to_start_without_secret_key(monkeypatch, vault):
    from app import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app(str(vault["db"]))
