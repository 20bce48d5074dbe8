"""The application service (`keyhold app-serve`), its Python client and the Flask example on it.

A vault is made with the keyhold binary (cheap test KDF); accounts are added,
disabled, and imported with hashes made by Werkzeug itself (scrypt and
pbkdf2:sha256, what Flask's generate_password_hash writes) and by bcrypt. The
real binary then serves applications on a socket; keyhold_app.KeyholdApp and
the example (Flask's test client, in this process, its SECRET_KEY a random
test value) talk to it. What they did is read back with the command line:
users' state and the audit log.
"""

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest
from werkzeug.security import generate_password_hash

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from keyhold_app import AccountRefused, InvalidRequest, KeyholdApp, LoginFailed, ServiceUnavailable  # noqa: E402
from test_app import as_user, base_env, keyhold  # noqa: E402

ADMIN = "mossy granite under the old bridge"
PASSWORDS = {
    "carol": "keeper of the lighthouse lamp",
    "gus": "a breeze over the harbour wall",
    "dora": "switched the alarm off at dawn",
    "wendy": "came over from werkzeug scrypt",
    "pat": "came over from werkzeug pbkdf2",
    "bert": "still on an old bcrypt hash",
}
WRONG = "not the password at all 77"


class Service:
    """`keyhold app-serve` running as a child process."""

    def __init__(self, env, sock, allow):
        self.sock = str(sock)
        self.proc = subprocess.Popen([os.environ.get("KEYHOLD_BIN") or str(HERE.parent.parent / ".build/debug/keyhold"),
                                      "app-serve", "--socket", self.sock, *sum((["--allow", str(a)] for a in allow), [])],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.banner = self.proc.stdout.readline()
        if "Serving applications on" not in self.banner:
            self.proc.kill()
            raise AssertionError(f"app-serve did not start: {self.banner}{self.proc.stderr.read()}")

    def stop(self):
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        return self.banner + out, err


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    from test_app import KEYHOLD
    if not os.access(KEYHOLD, os.X_OK):
        pytest.fail(f"no keyhold binary at {KEYHOLD}: run `swift build` or set KEYHOLD_BIN")
    root = tmp_path_factory.mktemp("app-service")
    os.chmod(root, 0o700)
    env = base_env(root / "vault" / "keyhold.db")
    admin = as_user(env, "admin", ADMIN)
    keyhold(["init"], admin)
    temporary = {}
    for name in ["carol", "gus", "dora", "sam", "tess", "nell"]:
        temporary[name] = keyhold(["user", "add", name, "--role", "user"], admin).stdout.strip()
    for name in ["carol", "gus", "dora"]:
        keyhold(["status"], as_user(env, name, temporary[name], new=PASSWORDS[name]))
    keyhold(["user", "disable", "dora"], admin)
    hashes = {
        "wendy": generate_password_hash(PASSWORDS["wendy"], "scrypt:16384:8:1"),
        "pat": generate_password_hash(PASSWORDS["pat"], "pbkdf2:sha256:20000"),
        "bert": bcrypt.hashpw(PASSWORDS["bert"].encode(), bcrypt.gensalt(4)).decode(),
    }
    users = root / "users.csv"
    users.write_text("username,email,display_name,password_hash,roles\n"
                     + "".join(f"{n},{n}@example.com,{n.title()},{h},user\n" for n, h in hashes.items()))
    out = keyhold(["user", "import", "--format", "csv", str(users)], admin).stdout
    assert "3 with a legacy hash (1 bcrypt, 1 pbkdf2-sha256, 1 scrypt)" in out, out
    v = {"root": root, "env": env, "admin": admin, "temporary": temporary, "hashes": hashes,
         "service": Service(env, root / "app.sock", [os.getuid()])}
    yield v
    v["service"].stop()  # the one running now (a test restarts it)


def audit(v, action=None, actor=None):
    """The audit log, less the administrator's own logins (each `keyhold audit list` here is one)."""
    args = ["audit", "list", "--json"] + (["--action", action] if action else [])
    events = json.loads(keyhold(args, v["admin"]).stdout)["events"]
    events = [e for e in events if not (e["actor"] == "admin" and e["action"] == "login")]
    return [e for e in events if actor is None or e["actor"] == actor]


def user(v, name):
    return json.loads(keyhold(["user", "show", name, "--json"], v["admin"]).stdout)


def view_row(v, name):
    import sqlite3

    from app import read_only_uri
    conn = sqlite3.connect(read_only_uri(str(v["root"] / "vault" / "keyhold.db")), uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM app_users WHERE username = ?", (name,)).fetchone())
    finally:
        conn.close()


def client(v):
    return KeyholdApp(v["service"].sock)


# The client against the real service


def test_login_right_and_wrong(vault):
    account = client(vault).login("carol", PASSWORDS["carol"])
    assert (account.username, account.must_change) == ("carol", False)
    with pytest.raises(LoginFailed) as failed:
        client(vault).login("carol", WRONG)
    assert failed.value.code == "login_failed"
    assert user(vault, "carol")["failed_logins"] == 1
    events = audit(vault, actor="carol")[-2:]
    assert [e["action"] for e in events] == ["login", "login.failed"]
    assert all(e["details"]["via"] == "app" for e in events)
    client(vault).login("carol", PASSWORDS["carol"])
    assert user(vault, "carol")["failed_logins"] == 0


@pytest.mark.parametrize("name,scheme", [("wendy", "scrypt"), ("pat", "pbkdf2-sha256")])
def test_werkzeug_hash_verified_then_upgraded(vault, name, scheme):
    before = user(vault, name)
    assert (before["password_scheme"], before["legacy_hash"]) == (scheme, True)
    with pytest.raises(LoginFailed):
        client(vault).login(name, WRONG)
    assert view_row(vault, name)["password_hash"] == vault["hashes"][name], "a wrong password changes nothing"
    assert client(vault).login(name, PASSWORDS[name]).username == name
    row = view_row(vault, name)
    assert row["password_hash"].startswith("$argon2id$") and row["legacy_hash"] == 0
    login = audit(vault, "login", actor=name)[-1]
    assert login["details"]["rehashed"] is True and login["details"]["via"] == "app"
    assert client(vault).login(name, PASSWORDS[name]).username == name
    assert "$argon2id$" in row["password_hash"] and user(vault, name)["password_scheme"] == "argon2id"


def test_bcrypt_left_to_the_application(vault):
    with pytest.raises(AccountRefused) as refused:
        client(vault).login("bert", PASSWORDS["bert"])
    assert refused.value.code == "unsupported_hash"
    assert user(vault, "bert")["failed_logins"] == 0


def test_disabled_told_only_after_the_right_password(vault):
    with pytest.raises(AccountRefused) as refused:
        client(vault).login("dora", PASSWORDS["dora"])
    assert refused.value.code == "disabled"
    with pytest.raises(LoginFailed):
        client(vault).login("dora", WRONG)


def test_lockout_is_keyholds_whatever_the_origin(vault):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            client(vault).login("gus", WRONG)
    for _ in range(2):  # Keyhold's own login counts toward the same lockout
        r = keyhold(["status"], as_user(vault["env"], "gus", WRONG), check=False)
        assert r.returncode != 0
    assert user(vault, "gus")["status"] == "locked-out"
    with pytest.raises(LoginFailed):  # the right password, the same answer
        client(vault).login("gus", PASSWORDS["gus"])
    assert keyhold(["status"], as_user(vault["env"], "gus", PASSWORDS["gus"]), check=False).returncode != 0
    refused = audit(vault, "login.refused", actor="gus")
    assert any(e["details"] == {"reason": "locked", "via": "app"} for e in refused)
    assert any(e["details"] == {"reason": "locked"} for e in refused)


def test_temporary_password_must_change_then_changes(vault):
    temp = vault["temporary"]["sam"]
    assert client(vault).login("sam", temp).must_change
    with pytest.raises(InvalidRequest) as weak:
        client(vault).change_password("sam", temp, "short")
    assert (weak.value.code, weak.value.field, weak.value.rule) == ("invalid", "new password", "length")
    with pytest.raises(LoginFailed):
        client(vault).change_password("sam", WRONG, "salt marsh at low tide")
    account = client(vault).change_password("sam", temp, "salt marsh at low tide")
    assert account.must_change is False
    assert user(vault, "sam")["must_change_password"] is False
    change = audit(vault, "password.change")[-1]
    assert change["actor"] == "sam" and change["details"] == {"forced": True, "via": "app"}
    # Keyhold itself takes the new password (the user's key pair was re-sealed under it).
    keyhold(["status"], as_user(vault["env"], "sam", "salt marsh at low tide"))


# Attacks


def raw_exchange(sock, data: bytes) -> tuple[bytes, bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(sock)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except BrokenPipeError:
            pass  # a refused uid is answered before anything is read
        head = s.recv(5, socket.MSG_WAITALL)
        n = struct.unpack(">I", head[1:5])[0]
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        return head[:1], body


def frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def test_uid_not_on_the_allow_list_is_refused(vault):
    other = Service(vault["env"], vault["root"] / "other.sock", [os.getuid() + 4242])
    try:
        before = len(audit(vault))
        with pytest.raises(ServiceUnavailable) as refused:
            KeyholdApp(other.sock).login("carol", PASSWORDS["carol"])
        assert refused.value.code == "refused"
        assert f"uid {os.getuid()} is not allowed" in refused.value.message
        kind, _ = raw_exchange(other.sock, frame(b"Q", b'{"v":1,"verb":"login","username":"carol"}') + frame(b"R", WRONG.encode()))
        assert kind == b"F"
        assert len(audit(vault)) == before, "a refused uid writes nothing"
        assert user(vault, "carol")["failed_logins"] == 0
    finally:
        out, err = other.stop()
    assert f"refused a connection from uid {os.getuid()}" in err
    assert PASSWORDS["carol"] not in out + err and WRONG not in out + err


@pytest.mark.parametrize("label,data", [
    ("not frames", b"login carol please\n"),
    ("not JSON", frame(b"Q", b"login carol") + frame(b"R", WRONG.encode())),
    ("password in the request", frame(b"Q", json.dumps({"v": 1, "verb": "login", "username": "carol", "password": WRONG}).encode())),
    ("unknown verb", frame(b"Q", b'{"v":1,"verb":"delete_user","username":"carol"}') + frame(b"R", WRONG.encode())),
    ("no password", frame(b"Q", b'{"v":1,"verb":"login","username":"carol"}')),
    ("half a frame", frame(b"Q", b'{"v":1,"verb":"login","username":"carol"}') + b"R\x00\x00\x01\x00abc"),
    ("a huge length", b"Q\x7f\xff\xff\xff"),
])
def test_malformed_request_gets_an_error_and_writes_nothing(vault, label, data):
    before = len(audit(vault))
    failures = user(vault, "carol")["failed_logins"]
    kind, body = raw_exchange(vault["service"].sock, data)
    answer = json.loads(body)
    assert kind == b"s" and answer["ok"] is False and answer["error"] == "bad_request", answer
    assert WRONG not in body.decode()
    assert len(audit(vault)) == before, label
    assert user(vault, "carol")["failed_logins"] == failures


def test_no_password_in_audit_details_or_service_output(vault):
    """Runs last in this module's order of definition: everything above has gone through the service."""
    every = json.dumps([e["details"] for e in audit(vault)])
    for password in [*PASSWORDS.values(), WRONG, "salt marsh at low tide", *vault["temporary"].values()]:
        assert password not in every
    service = vault["service"]
    out, err = service.stop()
    vault["service"] = Service(vault["env"], vault["root"] / "app.sock", [os.getuid()])  # for the tests after
    for password in [*PASSWORDS.values(), WRONG, "salt marsh at low tide", *vault["temporary"].values()]:
        assert password not in out and password not in err


# The Flask example on the service


@pytest.fixture()
def flask_app(vault, monkeypatch):
    from app import create_app
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    return create_app(str(vault["root"] / "vault" / "keyhold.db"), testing=True, app_socket=vault["service"].sock)


def form(c, path, **data):
    import re
    page = c.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return c.post(path, data={"csrf_token": token, **data})


def test_flask_login_through_the_service(vault, flask_app):
    c = flask_app.test_client()
    failures = user(vault, "carol")["failed_logins"]
    r = form(c, "/login", username="carol", password=WRONG)
    assert r.status_code == 401 and "Wrong username or password." in r.get_data(as_text=True)
    assert user(vault, "carol")["failed_logins"] == failures + 1, "the application's failure counts in Keyhold"
    r = form(c, "/login", username="carol", password=PASSWORDS["carol"])
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = c.get("/")
    assert home.status_code == 200 and "carol" in home.get_data(as_text=True) and "/password" in home.get_data(as_text=True)
    assert audit(vault, "login", actor="carol")[-1]["details"]["via"] == "app"


def test_flask_disabled_and_bcrypt(vault, flask_app):
    c = flask_app.test_client()
    r = form(c, "/login", username="dora", password=PASSWORDS["dora"])
    assert r.status_code == 403 and "This account is disabled." in r.get_data(as_text=True)
    r = form(c, "/login", username="bert", password=PASSWORDS["bert"])  # the application verifies bcrypt itself
    assert r.status_code == 302 and c.get("/").status_code == 200
    c2 = flask_app.test_client()
    assert form(c2, "/login", username="bert", password=WRONG).status_code == 401


def test_flask_temporary_password_is_changed_through_the_service(vault, flask_app):
    c = flask_app.test_client()
    temp = vault["temporary"]["tess"]
    r = form(c, "/login", username="tess", password=temp)
    assert r.status_code == 302 and r.headers["Location"] == "/password"
    assert c.get("/").status_code == 302, "not signed in before the new password"
    page = c.get("/password")
    assert page.status_code == 200 and "tess" in page.get_data(as_text=True)
    r = form(c, "/password", current_password=WRONG, new_password="lanterns along the quay", confirm_password="lanterns along the quay")
    assert r.status_code == 401 and "The current password is wrong." in r.get_data(as_text=True)
    r = form(c, "/password", current_password=temp, new_password="tess", confirm_password="tess")
    assert r.status_code == 400 and "new password: must be at least" in r.get_data(as_text=True)
    r = form(c, "/password", current_password=temp, new_password="lanterns along the quay", confirm_password="lanterns along the quay!")
    assert r.status_code == 400 and "differ" in r.get_data(as_text=True)
    assert user(vault, "tess")["must_change_password"] is True, "refusals changed nothing"
    r = form(c, "/password", current_password=temp, new_password="lanterns along the quay", confirm_password="lanterns along the quay")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert c.get("/").status_code == 200
    assert user(vault, "tess")["must_change_password"] is False and view_row(vault, "tess")["must_change"] == 0
    assert audit(vault, "password.change")[-1]["details"] == {"forced": True, "via": "app"}
    c2 = flask_app.test_client()
    assert form(c2, "/login", username="tess", password="lanterns along the quay").status_code == 302


def test_flask_signed_in_user_changes_own_password(vault, flask_app):
    c = flask_app.test_client()
    temp = vault["temporary"]["nell"]
    keyhold(["status"], as_user(vault["env"], "nell", temp, new="north wind in the rigging"))
    assert form(c, "/login", username="nell", password="north wind in the rigging").status_code == 302
    r = form(c, "/password", current_password="north wind in the rigging", new_password="south wind in the sails",
             confirm_password="south wind in the sails")
    assert r.status_code == 302
    assert audit(vault, "password.change")[-1]["details"] == {"forced": False, "via": "app"}
    keyhold(["status"], as_user(vault["env"], "nell", "south wind in the sails"))


def test_flask_service_down_answers_503(vault, monkeypatch):
    from app import create_app
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    app = create_app(str(vault["root"] / "vault" / "keyhold.db"), testing=True, app_socket=str(vault["root"] / "nothing.sock"))
    r = form(app.test_client(), "/login", username="carol", password=PASSWORDS["carol"])
    assert r.status_code == 503 and "unavailable" in r.get_data(as_text=True)


def test_flask_without_the_service_has_no_password_page(vault, monkeypatch):
    from app import create_app
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.delenv("KEYHOLD_APP_SOCKET", raising=False)
    app = create_app(str(vault["root"] / "vault" / "keyhold.db"), testing=True)
    assert app.test_client().get("/password").status_code == 404
