"""Tests for keyhold_verify.py against vaults made by an independent writer.

The writer below follows docs/FORMAT.md and schema.sql only; it shares no
code with the verifier (it encodes the recovery key, seals and chains on its
own), so a vault it makes that verifies is evidence that the document is
enough to read and write the format.

Run: python -m pytest -q scripts/test_keyhold_verify.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as pysecrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import nacl.bindings as sodium
import nacl.pwhash
import nacl.signing
import nacl.utils
import pytest

HERE = Path(__file__).resolve().parent
VERIFY = HERE / "keyhold_verify.py"
SCHEMA = HERE.parent / "schema.sql"

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --------------------------------------------------------------- writer


def b2b(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def seal(key: bytes, message: bytes, aad: str) -> bytes:
    nonce = nacl.utils.random(24)
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad.encode(), nonce, key)


def recovery_check(i: int, group: str) -> str:
    return CROCKFORD[b2b(f"keyhold/recovery-check/{i}:{group}".encode())[0] % 32]


def encode_recovery_key(key: bytes, padding: int = 0) -> str:
    """FORMAT.md section 4, written from the prose as a bit string."""
    assert len(key) == 32
    bits = "".join(f"{b:08b}" for b in key) + f"{padding:04b}"
    symbols = "".join(CROCKFORD[int(bits[i : i + 5], 2)] for i in range(0, 260, 5))
    groups = [symbols[i : i + 4] for i in range(0, 52, 4)]
    return "-".join(g + recovery_check(n, g) for n, g in enumerate(groups, start=1))


def field(x) -> bytes:
    if x is None:
        b = b""
    elif isinstance(x, int):
        b = str(x).encode()
    else:
        b = x.encode("utf-8")
    return len(b).to_bytes(4, "big") + b


class VaultWriter:
    """Makes a format-1 vault by the document."""

    def __init__(self, path: Path, wal: bool = False):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        if wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA.read_text())
        self.now = 1_700_000_000_000
        self.recovery = nacl.utils.random(32)
        self.root = nacl.utils.random(32)
        self.data_keys: dict[int, bytes] = {}
        self.values: dict[str, dict[int, bytes]] = {}
        self.signers: dict[int, nacl.signing.SigningKey] = {}
        self.head_seq = 0
        self.head_hash = bytes(32)
        self.conn.execute(
            "INSERT INTO vault (id, format, created_at, kdf_opslimit, kdf_memlimit, recovery_sealed)"
            " VALUES (1, 1, ?, 2, 67108864, ?)",
            (self.tick(), seal(self.recovery, self.root, "keyhold/recovery")),
        )

    @property
    def recovery_text(self) -> str:
        return encode_recovery_key(self.recovery)

    def tick(self) -> int:
        self.now += 1000
        return self.now

    def add_data_key(self) -> int:
        v = max(self.data_keys, default=0) + 1
        d = nacl.utils.random(32)
        self.conn.execute("UPDATE data_keys SET state = 'decrypt-only' WHERE state = 'active'")
        self.conn.execute(
            "INSERT INTO data_keys (version, sealed, state, created_at) VALUES (?, ?, 'active', ?)",
            (v, seal(self.root, d, f"keyhold/datakey/{v}"), self.tick()),
        )
        self.data_keys[v] = d
        return v

    def add_user(self, username: str, password: str = "correct horse battery") -> tuple[int, int]:
        now = self.tick()
        cur = self.conn.execute(
            "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (username, "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", now, now),
        )
        uid = cur.lastrowid
        sk = nacl.signing.SigningKey.generate()
        salt = nacl.utils.random(16)
        ops, mem = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
        u = sodium.crypto_pwhash_alg(32, password.encode(), salt, ops, mem, sodium.crypto_pwhash_ALG_ARGON2ID13)
        cur = self.conn.execute(
            "INSERT INTO user_keys (user_id, username, public_key, kdf_salt, kdf_opslimit, kdf_memlimit, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uid, username, bytes(sk.verify_key), salt, ops, mem, now),
        )
        kid = cur.lastrowid
        full_sk = bytes(sk) + bytes(sk.verify_key)  # libsodium's 64-byte form
        self.conn.execute(
            "UPDATE user_keys SET sealed_secret_key = ? WHERE id = ?",
            (seal(u, full_sk, f"keyhold/userkey/{uid}/{kid}"), kid),
        )
        self.conn.execute("UPDATE users SET key_id = ? WHERE id = ?", (kid, uid))
        self.conn.execute(
            "INSERT INTO grants (user_id, key_id, sealed_root, created_at) VALUES (?, ?, ?, ?)",
            (uid, kid, sodium.crypto_box_seal(self.root, sodium.crypto_sign_ed25519_pk_to_curve25519(bytes(sk.verify_key))), now),
        )
        self.signers[kid] = sk
        return uid, kid

    def put_secret(self, name: str, value: bytes) -> tuple[int, int]:
        """A new version of `name` (created if new), sealed under the active data key."""
        now = self.tick()
        row = self.conn.execute("SELECT id, last_version FROM secrets WHERE name = ?", (name,)).fetchone()
        if row is None:
            sid = self.conn.execute(
                "INSERT INTO secrets (name, current_version, last_version, created_at, updated_at) VALUES (?, 1, 1, ?, ?)",
                (name, now, now),
            ).lastrowid
            version = 1
        else:
            sid, version = row[0], row[1] + 1
            self.conn.execute(
                "UPDATE secrets SET current_version = ?, last_version = ?, updated_at = ? WHERE id = ?",
                (version, version, now, sid),
            )
        kv = max(self.data_keys)
        self.conn.execute(
            "INSERT INTO secret_versions (secret_id, version, key_version, ciphertext, created_at) VALUES (?, ?, ?, ?, ?)",
            (sid, version, kv, seal(self.data_keys[kv], value, f"keyhold/secret/{sid}/{version}/{kv}"), now),
        )
        self.values.setdefault(name, {})[version] = value
        return sid, version

    def audit(self, actor: tuple[int, int] | None, name: str, action: str, target: str, details: dict, sign: bool = True) -> int:
        seq = self.head_seq + 1
        at = self.tick()
        actor_id, key_id = actor if actor else (None, None)
        if not sign:
            key_id = None
        det = json.dumps(details, sort_keys=True, separators=(",", ":"))
        canonical = b"keyhold/audit/v1\x00" + b"".join(
            field(x) for x in (seq, at, actor_id, name, key_id, action, target, det)
        )
        h = b2b(self.head_hash + canonical)
        sig = self.signers[key_id].sign(h).signature if key_id is not None else None
        self.conn.execute(
            "INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details,"
            " prev_hash, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, actor_id, name, key_id, action, target, det, self.head_hash, h, sig),
        )
        self.head_seq, self.head_hash = seq, h
        return seq

    @property
    def head(self) -> str:
        return f"{self.head_seq}:{self.head_hash.hex()}"

    def expect_file(self, path: Path, values: dict[str, dict[int, bytes]] | None = None) -> Path:
        values = self.values if values is None else values
        doc = {"secrets": {n: {str(v): base64.b64encode(b).decode() for v, b in vs.items()} for n, vs in values.items()}}
        path.write_text(json.dumps(doc))
        return path

    def close(self) -> None:
        self.conn.close()


def build_vault(path: Path, wal: bool = False) -> VaultWriter:
    """A small vault: two users, two data key versions, five secrets, a dozen events."""
    w = VaultWriter(path, wal=wal)
    w.add_data_key()
    admin = w.add_user("admin")
    w.audit(admin, "admin", "vault.create", "vault", {})
    alice = w.add_user("alice")
    w.audit(admin, "admin", "user.create", "user:alice", {"roles": ["reader"]})
    for name in ("app/db", "app/api", "ci/token"):
        w.put_secret(name, b"plain-" + name.encode() + b"-" + pysecrets.token_hex(8).encode())
        w.audit(admin, "admin", "secret.create", f"secret:{name}", {"version": 1})
    w.put_secret("binary", bytes(range(256)) + os.urandom(32))
    w.audit(admin, "admin", "secret.create", "secret:binary", {"version": 1})
    w.audit(None, "mallory", "login.failed", "user:mallory", {"reason": "no such user"}, sign=False)
    w.put_secret("app/db", b"plain-app/db-second-" + pysecrets.token_hex(8).encode())
    w.audit(alice, "alice", "secret.update", "secret:app/db", {"version": 2})
    v = w.add_data_key()
    w.audit(admin, "admin", "keys.rotate", "datakey", {"version": v})
    w.put_secret("app/db", b"plain-app/db-third-" + pysecrets.token_hex(8).encode())
    w.put_secret("unicode/\u00e9t\u00e9", "mot de passe \u00e9t\u00e9 \u2603".encode())
    w.audit(alice, "alice", "secret.update", "secret:app/db", {"version": 3})
    w.audit(alice, "alice", "secret.reveal", "secret:app/db", {"version": 3})
    w.audit((alice[0], None), "alice", "login.refused", "user:alice", {"reason": "locked"}, sign=False)
    return w


# --------------------------------------------------------------- running


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.all = proc.stdout + proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def forbidden_strings(w: VaultWriter) -> list[str]:
    """Things that must never be printed: the recovery key in any form, the keys, every value."""
    out = [w.recovery_text, w.recovery_text.replace("-", ""), w.recovery.hex(), w.root.hex(),
           base64.b64encode(w.recovery).decode(), base64.b64encode(w.root).decode()]
    out += [d.hex() for d in w.data_keys.values()]
    for versions in w.values.values():
        for value in versions.values():
            out.append(value.hex())
            out.append(base64.b64encode(value).decode())
            text = value.decode("utf-8", errors="ignore")
            if len(text) >= 8:
                out.append(text)
    return out


def run_verify(w: VaultWriter, *args: str, key: str | None = None) -> Result:
    """Runs the verifier as a subprocess, key on stdin, and checks no secret leaked."""
    typed = w.recovery_text if key is None else key
    proc = subprocess.run(
        [sys.executable, str(VERIFY), str(w.path), *args],
        input=typed + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    r = Result(proc)
    for s in forbidden_strings(w) + [typed.strip()]:
        assert s not in r.all, f"printed something secret:\n{r!r}"
    assert "Traceback" not in r.err, repr(r)
    return r


@pytest.fixture
def vault(tmp_path: Path) -> VaultWriter:
    w = build_vault(tmp_path / "vault.db")
    yield w
    w.close()


def raw(w: VaultWriter) -> sqlite3.Connection:
    """A second connection for tampering, with the append-only triggers dropped."""
    c = sqlite3.connect(w.path, isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS audit_no_update")
    c.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return c


# ------------------------------------------------------------------ tests


def test_good_vault_verifies_with_expect(vault, tmp_path):
    expect = vault.expect_file(tmp_path / "expect.json")
    r = run_verify(vault, "--expect", str(expect), "--head", vault.head)
    assert r.code == 0, repr(r)
    lines = r.out.splitlines()
    assert lines[-1] == "OK"
    assert "secrets: 7 versions of 5 secrets opened" in lines
    assert "expect: 7 versions match" in lines
    assert f"audit: {vault.head_seq} events verified, head {vault.head}" in lines
    assert r.err == ""


def test_json_output(vault, tmp_path):
    expect = vault.expect_file(tmp_path / "expect.json")
    r = run_verify(vault, "--expect", str(expect), "--json")
    assert r.code == 0, repr(r)
    doc = json.loads(r.out)
    assert doc["ok"] is True
    assert doc["errors"] == []
    assert doc["secrets"]["opened"] == 7
    assert doc["secrets"]["secrets_opened"] == 5
    assert doc["data_keys"] == {"rows": 2, "opened": 2, "active": 2}
    assert doc["audit"]["verified"] == vault.head_seq
    assert doc["audit"]["unsigned"] == 2
    assert doc["audit"]["head"] == vault.head
    assert doc["expect"] == {"matched": 7, "mismatched": 0}


def test_swapped_ciphertexts_name_both_rows(vault):
    c = raw(vault)
    a = c.execute("SELECT ciphertext FROM secret_versions WHERE secret_id = 1 AND version = 2").fetchone()[0]
    b = c.execute("SELECT ciphertext FROM secret_versions WHERE secret_id = 2 AND version = 1").fetchone()[0]
    c.execute("UPDATE secret_versions SET ciphertext = ? WHERE secret_id = 1 AND version = 2", (b,))
    c.execute("UPDATE secret_versions SET ciphertext = ? WHERE secret_id = 2 AND version = 1", (a,))
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert "secret_versions secret_id=1 version=2: does not open (wrong key or moved ciphertext)" in r.out
    assert "secret_versions secret_id=2 version=1: does not open (wrong key or moved ciphertext)" in r.out
    assert "its ciphertext is that of secret_id=2 version=1" in r.out
    assert "secrets: 5 versions of 4 secrets opened (2 did not open)" in r.out
    assert r.out.splitlines()[-1] == "FAILED: 2 errors"


def test_ciphertext_moved_to_another_key_version_fails(vault):
    # Same bytes, but the row claims another data key version: the AAD differs.
    c = raw(vault)
    c.execute("UPDATE secret_versions SET key_version = 2 WHERE secret_id = 2 AND version = 1")
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert "secret_versions secret_id=2 version=1: does not open" in r.out


def test_data_key_swapped_between_rows_is_named(vault):
    c = raw(vault)
    k1 = c.execute("SELECT sealed FROM data_keys WHERE version = 1").fetchone()[0]
    k2 = c.execute("SELECT sealed FROM data_keys WHERE version = 2").fetchone()[0]
    c.execute("UPDATE data_keys SET sealed = ? WHERE version = 1", (k2,))
    c.execute("UPDATE data_keys SET sealed = ? WHERE version = 2", (k1,))
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert "data_keys version=1: does not open" in r.out
    assert "data_keys version=2: does not open" in r.out


def test_tampered_details_names_the_event(vault):
    seq = 4  # secret.create of app/api
    c = raw(vault)
    c.execute("UPDATE audit_events SET details = ? WHERE seq = ?", ('{"version":9}', seq))
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert f"audit event seq={seq}: hash does not recompute (the event was altered)" in r.out
    assert f"audit: {seq - 1} of {vault.head_seq} events verified, first failure at seq {seq}" in r.out


def test_rehashed_tamper_fails_the_signature(vault):
    # An attacker who recomputes the hash after editing still cannot sign it.
    seq = 5
    c = raw(vault)
    row = c.execute(
        "SELECT seq, at, actor_id, actor_name, actor_key_id, action, target, prev_hash FROM audit_events WHERE seq = ?",
        (seq,),
    ).fetchone()
    details = '{"version":42}'
    canonical = b"keyhold/audit/v1\x00" + b"".join(field(x) for x in (*row[:7], details))
    c.execute("UPDATE audit_events SET details = ?, hash = ? WHERE seq = ?", (details, b2b(row[7] + canonical), seq))
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert f"audit event seq={seq}: signature does not verify under user_keys id=1" in r.out


def test_deleted_middle_event_is_named(vault):
    c = raw(vault)
    c.execute("DELETE FROM audit_events WHERE seq = 6")
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert "audit event seq=7: follows seq 5: event 6 missing; prev_hash is not the hash of seq 5" in r.out
    doc = json.loads(run_verify(vault, "--json").out)
    assert doc["ok"] is False
    assert doc["audit"]["first_failure"] == 7
    assert doc["audit"]["verified"] == 5
    assert doc["errors"] == ["audit event seq=7: follows seq 5: event 6 missing; prev_hash is not the hash of seq 5"]


def test_renumbered_events_break_the_hash(vault):
    # Close the gap by renumbering: the seq is hashed, so it is still caught.
    c = raw(vault)
    c.execute("DELETE FROM audit_events WHERE seq = 6")
    c.execute("UPDATE audit_events SET seq = seq - 1 WHERE seq > 6")
    c.close()
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert "audit event seq=6: prev_hash is not the hash of seq 5; hash does not recompute" in r.out


def test_unsigned_event_of_a_signed_kind_fails(vault):
    seq = vault.audit(None, "nobody", "secret.reveal", "secret:app/db", {}, sign=False)
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert f'audit event seq={seq}: unsigned, and action "secret.reveal" must be signed' in r.out


def test_signature_by_another_key_fails(vault):
    uid, _ = vault.add_user("eve")
    # Signed by eve's key but claiming alice's key id (2).
    eve_kid = max(vault.signers)
    vault.signers[2], saved = vault.signers[eve_kid], vault.signers[2]
    seq = vault.audit((2, 2), "alice", "secret.reveal", "secret:app/db", {})
    vault.signers[2] = saved
    r = run_verify(vault)
    assert r.code == 1, repr(r)
    assert f"audit event seq={seq}: signature does not verify under user_keys id=2" in r.out


def test_wrong_check_symbol_names_the_group(vault):
    key = vault.recovery_text
    groups = key.split("-")
    g = groups[4]
    wrong = next(s for s in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" if s != g[4])
    groups[4] = g[:4] + wrong
    r = run_verify(vault, key="-".join(groups))
    assert r.code == 3, repr(r)
    assert "recovery key: group 5 does not match its check" in r.err
    assert r.out == ""


def test_wrong_check_symbol_json(vault):
    groups = vault.recovery_text.split("-")
    g = groups[12]
    groups[12] = g[:4] + ("0" if g[4] != "0" else "1")
    r = run_verify(vault, "--json", key="-".join(groups))
    assert r.code == 3, repr(r)
    assert json.loads(r.out) == {"ok": False, "errors": ["recovery key: group 13 does not match its check"], "warnings": []}


def test_nonzero_padding_bits_are_refused(vault):
    r = run_verify(vault, key=encode_recovery_key(vault.recovery, padding=0b0101))
    assert r.code == 3, repr(r)
    assert "padding bits" in r.err


def test_short_key_is_refused(vault):
    r = run_verify(vault, key=vault.recovery_text[:-6])
    assert r.code == 3, repr(r)
    assert "expected 65 symbols in 13 groups, got 60" in r.err


def test_recovery_key_is_normalized(vault):
    typed = vault.recovery_text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    r = run_verify(vault, key="  " + typed + "  ")
    assert r.code == 0, repr(r)


def test_wrong_recovery_key_fails_but_audit_is_still_checked(vault):
    r = run_verify(vault, key=encode_recovery_key(nacl.utils.random(32)))
    assert r.code == 1, repr(r)
    assert "vault.recovery_sealed: does not open" in r.out
    assert f"audit: {vault.head_seq} events verified" in r.out


def test_head_later_than_the_log_fails(vault):
    r = run_verify(vault, "--head", f"{vault.head_seq + 1}:{'ab' * 32}")
    assert r.code == 1, repr(r)
    assert f"head {vault.head_seq + 1}: no event with seq {vault.head_seq + 1} (the log ends at seq {vault.head_seq})" in r.out


def test_head_catches_a_cut_tail(vault):
    head = vault.head
    c = raw(vault)
    c.execute("DELETE FROM audit_events WHERE seq >= ?", (vault.head_seq - 2,))
    c.close()
    # The chain that is left is intact: only the head shows the loss.
    r = run_verify(vault)
    assert r.code == 0, repr(r)
    r = run_verify(vault, "--head", head)
    assert r.code == 1, repr(r)
    assert "no event with seq" in r.out


def test_head_with_another_hash_fails(vault):
    r = run_verify(vault, "--head", f"3:{'00' * 32}")
    assert r.code == 1, repr(r)
    assert "head 3: event 3 has a different hash" in r.out


def test_earlier_head_still_verifies(vault):
    head = vault.head
    vault.audit((1, 1), "admin", "user.update", "user:alice", {"locked": True})
    r = run_verify(vault, "--head", head)
    assert r.code == 0, repr(r)


def test_bad_head_syntax_is_a_usage_error(vault):
    r = run_verify(vault, "--head", "12")
    assert r.code == 2, repr(r)


def test_expect_mismatches_are_named_without_values(vault, tmp_path):
    values = {n: dict(vs) for n, vs in vault.values.items()}
    values["app/db"][2] = b"something else entirely"
    del values["app/api"][1]  # opened but not expected
    values["ci/token"][2] = b"never written"  # expected but absent
    expect = vault.expect_file(tmp_path / "expect.json", values)
    r = run_verify(vault, "--expect", str(expect))
    assert r.code == 1, repr(r)
    assert 'expect: secret "app/db" version 2: value differs' in r.out
    assert 'expect: secret "app/api" version 1: opened, but not expected' in r.out
    assert 'expect: secret "ci/token" version 2: expected, but the vault has no such version' in r.out
    assert "something else entirely" not in r.all
    assert "never written" not in r.all


def test_shredded_versions_are_not_errors(vault, tmp_path):
    # Crypto-shredding: data key 1 destroyed on purpose (section 5).
    c = raw(vault)
    c.execute("DELETE FROM data_keys WHERE version = 1")
    c.close()
    survivors = {}
    for n, vs in vault.values.items():
        for v in vs:
            if (n, v) in (("app/db", 3), ("unicode/\u00e9t\u00e9", 1)):
                survivors.setdefault(n, {})[v] = vs[v]
    r = run_verify(vault, "--expect", str(vault.expect_file(tmp_path / "e.json", survivors)))
    assert r.code == 0, repr(r)
    assert "secrets: 2 versions of 2 secrets opened (5 shredded (data key destroyed))" in r.out


def test_wal_file_is_read(tmp_path):
    w = build_vault(tmp_path / "wal.db", wal=True)
    w.conn.execute("PRAGMA wal_autocheckpoint=0")
    w.put_secret("late/secret", b"written-after-the-checkpoint")
    w.audit((1, 1), "admin", "secret.create", "secret:late/secret", {"version": 1})
    assert (tmp_path / "wal.db-wal").stat().st_size > 0
    try:
        expect = w.expect_file(tmp_path / "expect.json")
        r = run_verify(w, "--expect", str(expect), "--head", w.head)
        assert r.code == 0, repr(r)
        assert "secrets: 8 versions of 6 secrets opened" in r.out
    finally:
        w.close()


def test_database_is_not_modified(vault, tmp_path):
    vault.close()
    before = vault.path.read_bytes()
    r = run_verify(vault)
    assert r.code == 0, repr(r)
    assert vault.path.read_bytes() == before


def test_missing_database_is_a_usage_error(tmp_path):
    w = VaultWriter.__new__(VaultWriter)
    w.path = tmp_path / "absent.db"
    w.recovery = nacl.utils.random(32)
    w.root, w.data_keys, w.values = nacl.utils.random(32), {}, {}
    r = run_verify(w)
    assert r.code == 2, repr(r)
    assert not w.path.exists()


def test_recovery_key_never_read_from_argv():
    proc = subprocess.run([sys.executable, str(VERIFY), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "recovery" in proc.stdout and "standard input" in proc.stdout
    assert "--key" not in proc.stdout
