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


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def lbl(s: str) -> bytes:
    """A label in a signed message: ASCII, then one NUL (FORMAT.md section 1)."""
    return s.encode() + b"\x00"


def keyed(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=32).digest()


def migrations(through: int) -> str:
    """schema.sql's sections "-- migration 1" to "-- migration <through>"."""
    out, number = [], 0
    for line in SCHEMA.read_text().splitlines(keepends=True):
        if line.startswith("-- migration "):
            number = int(line.split()[2].rstrip(":"))
        if number <= through:
            out.append(line)
    return "".join(out)


def migration(n: int) -> str:
    return migrations(n)[len(migrations(n - 1)):]


# The roles the writer's vaults start with: name -> permissions.
ROLES = {
    "admin": ["users.read", "users.write", "roles.manage", "secrets.list", "secrets.read", "secrets.write",
              "keys.manage", "audit.read"],
    "operator": ["secrets.list", "secrets.read", "secrets.write", "users.read"],
    "helpdesk": ["users.read", "users.write"],
    "auditor": ["audit.read", "users.read", "secrets.list"],
}
ACCESS = {"secrets.read", "secrets.write", "keys.manage"}


class VaultWriter:
    """Makes a vault by the document: format 1 (`fmt=1`, then `upgrade()` brings it to 2) or format 2."""

    def __init__(self, path: Path, wal: bool = False, fmt: int = 1):
        self.path = path
        self.fmt = fmt
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous = OFF")  # test data: no fsync per statement
        if wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
        if fmt == 1:
            # Format 1: migrations 1 to 4, recorded as GRDB did; no application id (FORMAT.md section 0).
            self.conn.executescript(migrations(4))
            self.conn.execute("CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            self.conn.executemany("INSERT INTO grdb_migrations VALUES (?)", [(str(i),) for i in range(1, 5)])
        else:
            self.conn.executescript(migrations(5))
            self.stamp()
        self.now = 1_700_000_000_000
        self.recovery = nacl.utils.random(32)
        self.root = nacl.utils.random(32)
        self.root_version = 1
        self.vault_id = nacl.utils.random(16)
        self.anchor: tuple[int, bytes] | None = None  # (seq, hash)
        self.data_keys: dict[int, bytes] = {}
        self.values: dict[str, dict[int, bytes]] = {}
        self.signers: dict[int, nacl.signing.SigningKey] = {}
        self.key_of: dict[int, int] = {}  # user id -> current key id
        self.head_seq = 0
        self.head_hash = bytes(32)
        columns = "id, format, created_at, kdf_opslimit, kdf_memlimit, recovery_sealed"
        values = [1, fmt, self.tick(), 2, 67108864, seal(self.recovery, self.root, "keyhold/recovery")]
        if fmt == 2:
            columns += ", vault_id"
            values.append(self.vault_id)
            self.conn.execute("INSERT INTO root_keys (version, public_key, created_at) VALUES (1, ?, ?)",
                              (self.root_public_key, self.now))
        self.conn.execute(f"INSERT INTO vault ({columns}) VALUES ({', '.join('?' * len(values))})", values)
        for name, perms in ROLES.items():
            rid = self.conn.execute("INSERT INTO roles (name, builtin, created_at) VALUES (?, 1, ?)", (name, self.now)).lastrowid
            self.conn.executemany("INSERT INTO role_permissions VALUES (?, ?)", [(rid, p) for p in perms])

    def stamp(self) -> None:
        self.conn.execute(f"PRAGMA application_id = {0x4B484C44}")
        self.conn.execute("PRAGMA user_version = 2")

    @property
    def recovery_text(self) -> str:
        return encode_recovery_key(self.recovery)

    def tick(self) -> int:
        self.now += 1000
        return self.now

    # ---- format 2's signing keys (FORMAT.md 8.3)

    @property
    def root_signer(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(keyed(self.root, b"keyhold/root-signing-key/v1"))

    @property
    def root_public_key(self) -> bytes:
        return bytes(self.root_signer.verify_key)

    def endorse(self, uid: int, kid: int) -> None:
        pk = self.signers[kid].verify_key.encode()
        msg = lbl("keyhold/key-endorsement/v1") + self.vault_id + u64(self.root_version) + u64(uid) + u64(kid) + pk
        self.conn.execute("UPDATE user_keys SET endorsement = ?, endorsed_root = ? WHERE id = ?",
                          (self.root_signer.sign(msg).signature, self.root_version, kid))

    def pin(self, uid: int, kid: int) -> None:
        seq, h = self.anchor
        pk = self.signers[kid].verify_key.encode()
        msg = lbl("keyhold/pin/v1") + self.vault_id + u64(seq) + h + u64(uid) + u64(kid) + pk
        self.conn.execute("UPDATE user_keys SET pin = ? WHERE id = ?", (self.signers[kid].sign(msg).signature, kid))

    def seal_grant(self, uid: int, kid: int) -> None:
        """R sealed to the key; in format 2 signed by the root signing key (8.4)."""
        pk = self.signers[kid].verify_key.encode()
        sealed = sodium.crypto_box_seal(self.root, sodium.crypto_sign_ed25519_pk_to_curve25519(pk))
        sig = None
        if self.fmt == 2:
            msg = lbl("keyhold/grant/v1") + self.vault_id + u64(self.root_version) + u64(uid) + u64(kid) + b2b(sealed)
            sig = self.root_signer.sign(msg).signature
        self.conn.execute(
            "INSERT OR REPLACE INTO grants (user_id, key_id, sealed_root, created_at, signature) VALUES (?, ?, ?, ?, ?)"
            if self.fmt == 2 else
            "INSERT OR REPLACE INTO grants (user_id, key_id, sealed_root, created_at) VALUES (?, ?, ?, ?)",
            (uid, kid, sealed, self.now) + ((sig,) if self.fmt == 2 else ()),
        )

    def tag(self, sid: int, name: str) -> bytes:
        n = keyed(self.root, b"keyhold/secret-names/v1")
        return keyed(n, lbl("keyhold/secret-name/v1") + u64(sid) + name.encode())

    # ---- rows

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

    def make_key(self, uid: int, username: str, password: str = "correct horse battery") -> int:
        """A key pair for the user, its secret key sealed under U (FORMAT.md section 3); pinned in format 2."""
        sk = nacl.signing.SigningKey.generate()
        salt = nacl.utils.random(16)
        ops, mem = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
        u = sodium.crypto_pwhash_alg(32, password.encode(), salt, ops, mem, sodium.crypto_pwhash_ALG_ARGON2ID13)
        kid = self.conn.execute(
            "INSERT INTO user_keys (user_id, username, public_key, kdf_salt, kdf_opslimit, kdf_memlimit, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uid, username, bytes(sk.verify_key), salt, ops, mem, self.now),
        ).lastrowid
        full_sk = bytes(sk) + bytes(sk.verify_key)  # libsodium's 64-byte form
        self.conn.execute(
            "UPDATE user_keys SET sealed_secret_key = ? WHERE id = ?",
            (seal(u, full_sk, f"keyhold/userkey/{uid}/{kid}"), kid),
        )
        self.conn.execute("UPDATE users SET key_id = ? WHERE id = ?", (kid, uid))
        self.signers[kid] = sk
        self.key_of[uid] = kid
        if self.fmt == 2 and self.anchor:
            self.pin(uid, kid)
        return kid

    def insert_user(self, username: str, roles: list[str]) -> int:
        now = self.tick()
        uid = self.conn.execute(
            "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (username, "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", now, now),
        ).lastrowid
        for r in roles:
            self.conn.execute("INSERT INTO user_roles SELECT ?, id FROM roles WHERE name = ?", (uid, r))
        return uid

    def retire(self, kid: int) -> None:
        self.conn.execute(
            "UPDATE user_keys SET sealed_secret_key = NULL, kdf_salt = NULL, kdf_opslimit = NULL, kdf_memlimit = NULL,"
            " retired_at = ? WHERE id = ?",
            (self.now, kid),
        )

    def add_user(self, username: str, roles: list[str] = ("admin",), actor: tuple[int, int] | None = None,
                 password: str = "correct horse battery") -> tuple[int, int]:
        """A user with a key and (with a role giving key access) R sealed to it. In format 2 the actor's
        user.create event introduces both (8.6); format 1 leaves the event to the caller."""
        roles = list(roles)
        uid = self.insert_user(username, roles)
        kid = self.make_key(uid, username, password)
        access = any(set(ROLES[r]) & ACCESS for r in roles) or self.fmt == 1
        if self.fmt == 2:
            self.endorse(uid, kid)
        if access:
            self.seal_grant(uid, kid)
        if self.fmt == 2 and actor is not None:
            self.audit(actor, self.name_of(actor[0]), "user.create", f"user:{username}",
                       {"user_id": uid, "key_id": kid, "public_key": self.signers[kid].verify_key.encode().hex(),
                        "roles": roles, "temporary_password_expires": self.now + 86_400_000})
        return uid, kid

    def name_of(self, uid: int) -> str:
        return self.conn.execute("SELECT username FROM users WHERE id = ?", (uid,)).fetchone()[0]

    def genesis(self, admin: str = "admin") -> tuple[int, int]:
        """Format 2's first administrator and the vault.create anchor (FORMAT.md 8.1)."""
        uid = self.insert_user(admin, ["admin"])
        kid = self.make_key(uid, admin)
        self.endorse(uid, kid)
        self.seal_grant(uid, kid)
        seq = self.audit((uid, kid), admin, "vault.create", "vault", {
            "format": 2, "admin": admin, "vault_id": self.vault_id.hex(), "user_id": uid, "key_id": kid,
            "public_key": self.signers[kid].verify_key.encode().hex(), "root_version": 1,
            "root_public_key": self.root_public_key.hex(),
            "roles": [f"{n}={','.join(p)}" for n, p in ROLES.items()], "kdf_opslimit": 2, "kdf_memlimit": 67108864,
        })
        self.anchor = (seq, self.head_hash)
        self.conn.execute("UPDATE vault SET anchor_seq = ? WHERE id = 1", (seq,))
        self.pin(uid, kid)
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
            if self.fmt == 2:
                self.conn.execute("UPDATE secrets SET name_tag = ? WHERE id = ?", (self.tag(sid, name), sid))
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

    # ---- format 2's events that change who holds what (FORMAT.md 8.6)

    def reset_password(self, actor: tuple[int, int], uid: int) -> int:
        old = self.key_of[uid]
        self.retire(old)
        name = self.name_of(uid)
        kid = self.make_key(uid, name)
        self.endorse(uid, kid)
        if self.conn.execute("SELECT 1 FROM grants WHERE user_id = ?", (uid,)).fetchone():
            self.seal_grant(uid, kid)
        self.audit(actor, self.name_of(actor[0]), "user.reset-password", f"user:{name}",
                   {"user_id": uid, "key_id": kid, "public_key": self.signers[kid].verify_key.encode().hex(),
                    "retired_key_id": old})
        return kid

    def import_users(self, actor: tuple[int, int], names: list[str], roles: list[str]) -> list[int]:
        """Accounts without keys; key access waits for the first login and an approval."""
        ids = []
        for n in names:
            uid = self.insert_user(n, roles)
            if any(set(ROLES[r]) & ACCESS for r in roles):
                self.conn.execute("INSERT INTO grants (user_id, created_at) VALUES (?, ?)", (uid, self.now))
            ids.append(uid)
        digest = b2b("\n".join(str(i) for i in ids).encode()).hex()
        self.audit(actor, self.name_of(actor[0]), "user.import", "users",
                   {"count": len(ids), "digest": digest, "user_ids": [f"{ids[0]}-{ids[-1]}"], "roles": roles, "legacy": 0})
        return ids

    def first_login(self, uid: int) -> int:
        """An imported account's first login makes its key (pinned, not endorsed: it awaits approval)."""
        name = self.name_of(uid)
        kid = self.make_key(uid, name)
        self.conn.execute("UPDATE grants SET key_id = ? WHERE user_id = ?", (kid, uid))
        self.audit((uid, kid), name, "login", f"user:{name}",
                   {"key_access": False, "key_pair": "created", "user_id": uid, "key_id": kid,
                    "public_key": self.signers[kid].verify_key.encode().hex()})
        return kid

    def approve(self, actor: tuple[int, int], uid: int) -> None:
        kid = self.key_of[uid]
        self.endorse(uid, kid)
        self.seal_grant(uid, kid)
        pk = self.signers[kid].verify_key.encode()
        self.audit(actor, self.name_of(actor[0]), "key.approve", f"user:{self.name_of(uid)}",
                   {"user_id": uid, "key_id": kid, "public_key": pk.hex(), "fingerprint": "-"})

    def recover(self, uid: int, proof_key: nacl.signing.SigningKey | None = None) -> int:
        """vault.recover (8.6 rule 2): the user's keys retired, a new one vouched for by the root signing key."""
        name = self.name_of(uid)
        old = self.key_of.get(uid)
        if old is not None:
            self.retire(old)
        kid = self.make_key(uid, name)
        self.endorse(uid, kid)
        self.seal_grant(uid, kid)
        pk = self.signers[kid].verify_key.encode()
        proof = (proof_key or self.root_signer).sign(
            lbl("keyhold/recover/v1") + self.vault_id + u64(uid) + u64(kid) + pk).signature
        self.audit((None, kid), "recovery-key", "vault.recover", f"user:{name}",
                   {"user": name, "user_id": uid, "key_id": kid, "public_key": pk.hex(), "recovery_signature": proof.hex(),
                    **({"retired_key_id": old} if old is not None else {})})
        return kid

    def rotate_root(self, actor: tuple[int, int]) -> None:
        """A new R: chained, every data key, grant, endorsement, tag and the recovery seal re-made (6a, 8.3)."""
        old_signer, old_version = self.root_signer, self.root_version
        self.root = nacl.utils.random(32)
        self.root_version += 1
        link = old_signer.sign(lbl("keyhold/root-key/v1") + self.vault_id + u64(self.root_version) + self.root_public_key).signature
        self.conn.execute("INSERT INTO root_keys (version, public_key, link, created_at) VALUES (?, ?, ?, ?)",
                          (self.root_version, self.root_public_key, link, self.tick()))
        self.conn.execute("UPDATE vault SET root_version = ?, recovery_sealed = ?", (
            self.root_version, seal(self.recovery, self.root, "keyhold/recovery")))
        for v, d in self.data_keys.items():
            self.conn.execute("UPDATE data_keys SET sealed = ? WHERE version = ?", (seal(self.root, d, f"keyhold/datakey/{v}"), v))
        for kid, uid in self.conn.execute(
            "SELECT id, user_id FROM user_keys WHERE retired_at IS NULL AND endorsed_root = ?", (old_version,)
        ).fetchall():
            self.endorse(uid, kid)
        for uid, kid in self.conn.execute("SELECT user_id, key_id FROM grants WHERE sealed_root IS NOT NULL").fetchall():
            self.seal_grant(uid, kid)
        for sid, name in self.conn.execute("SELECT id, name FROM secrets").fetchall():
            self.conn.execute("UPDATE secrets SET name_tag = ? WHERE id = ?", (self.tag(sid, name), sid))
        self.audit(actor, self.name_of(actor[0]), "key.rotate-root", "root-key",
                   {"root_version": self.root_version, "root_public_key": self.root_public_key.hex(),
                    "root_link": link.hex(), "grants": [], "cleared_warning": False})

    def upgrade(self, admin: tuple[int, int]) -> int:
        """FORMAT.md section 9, from the document: a format-1 vault becomes a format-2 one."""
        assert self.fmt == 1
        c = self.conn
        c.execute("BEGIN")
        for statement in split_sql(migration(5)):
            c.execute(statement)
        c.execute("DROP TABLE grdb_migrations")
        self.fmt = 2
        (self.root_version,) = c.execute("SELECT root_version FROM vault").fetchone()
        c.execute("INSERT INTO root_keys (version, public_key, created_at) VALUES (?, ?, ?)",
                  (self.root_version, self.root_public_key, self.tick()))
        roles = [f"{n}={','.join(p)}" for n, p in ROLES.items()]
        users = [f"{u}:{r}" for u, r in c.execute(
            "SELECT ur.user_id, group_concat(r.name, ',') FROM user_roles ur JOIN roles r ON r.id = ur.role_id GROUP BY ur.user_id")]
        keys = [f"{k}:{u}:{bytes(pk).hex()}" for k, u, pk in c.execute(
            "SELECT id, user_id, public_key FROM user_keys WHERE retired_at IS NULL AND sealed_secret_key IS NOT NULL")]
        for uid, kid in c.execute("SELECT user_id, key_id FROM grants WHERE sealed_root IS NOT NULL").fetchall():
            self.endorse(uid, kid)
            self.seal_grant(uid, kid)
        for sid, name in c.execute("SELECT id, name FROM secrets").fetchall():
            c.execute("UPDATE secrets SET name_tag = ? WHERE id = ?", (self.tag(sid, name), sid))
        (through,) = c.execute("SELECT max(id) FROM users").fetchone()
        seq = self.audit(admin, self.name_of(admin[0]), "vault.upgrade", "vault", {
            "from_format": 1, "format": 2, "vault_id": self.vault_id.hex(), "root_version": self.root_version,
            "root_public_key": self.root_public_key.hex(), "roles": roles, "users": users, "keys": keys,
            "users_through": through, "backup": "-",
        })
        self.anchor = (seq, self.head_hash)
        c.execute("UPDATE vault SET vault_id = ?, anchor_seq = ?, format = 2", (self.vault_id, seq))
        self.pin(*admin)
        self.stamp()
        c.execute("COMMIT")
        return seq

    def audit(self, actor: tuple[int | None, int | None] | None, name: str, action: str, target: str, details: dict,
              sign: bool = True, signer: nacl.signing.SigningKey | None = None) -> int:
        seq = self.head_seq + 1
        at = self.tick()
        actor_id, key_id = actor if actor else (None, None)
        if not sign:
            key_id = None
        det = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        canonical = b"keyhold/audit/v1\x00" + b"".join(
            field(x) for x in (seq, at, actor_id, name, key_id, action, target, det)
        )
        h = b2b(self.head_hash + canonical)
        sig = None
        if key_id is not None:
            sig = (signer or self.signers[key_id]).sign(h).signature
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


def split_sql(script: str) -> list[str]:
    """Statements of a migration (none of schema.sql's migration 5 holds a ';' inside)."""
    body = "\n".join(l for l in script.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def build_vault(path: Path, wal: bool = False) -> VaultWriter:
    """A small format-1 vault: two users, two data key versions, five secrets, a dozen events."""
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


def build_vault2(path: Path) -> VaultWriter:
    """A format-2 vault whose log uses every rule of FORMAT.md 8.6: users made, imported (with a first
    login and an approval), reset and recovered, a role made and granted, the root key rotated."""
    w = VaultWriter(path, fmt=2)
    w.add_data_key()
    admin = w.genesis("admin")
    alice = w.add_user("alice", ["operator"], actor=admin)  # ids: admin 1, alice 2
    w.add_user("hal", ["helpdesk"], actor=admin)  # 3: no key access, no grant
    for name in ("app/db", "app/api", "ci/token"):
        w.put_secret(name, b"plain-" + name.encode() + b"-" + pysecrets.token_hex(8).encode())
        w.audit(admin, "admin", "secret.create", f"secret:{name}", {"version": 1, "generated": False})
    w.put_secret("app/db", b"plain-app/db-second-" + pysecrets.token_hex(8).encode())
    w.audit(alice, "alice", "secret.update", "secret:app/db", {"version": 2, "generated": False})
    w.audit(None, "mallory", "login.failed", "user:mallory", {"reason": "unknown user"}, sign=False)
    (ivy,) = w.import_users(admin, ["ivy"], ["operator"])  # 4
    w.first_login(ivy)
    w.approve(admin, ivy)
    w.audit((ivy, w.key_of[ivy]), "ivy", "secret.reveal", "secret:app/db", {"version": 2})
    w.audit(admin, "admin", "role.create", "role:deployer", {"permissions": ["secrets.list", "secrets.read"]})
    w.audit(admin, "admin", "user.grant-role", "user:hal", {"role": "deployer", "user_id": 3})
    w.seal_grant(3, w.key_of[3])
    new_alice_key = w.reset_password(admin, alice[0])
    alice = (alice[0], new_alice_key)
    w.audit(alice, "alice", "password.change", "user:alice", {"forced": True})
    w.add_data_key()
    w.audit(admin, "admin", "key.rotate-data", "data-key", {"from": 1, "to": 2, "total": 0})
    w.rotate_root(admin)
    w.put_secret("unicode/\u00e9t\u00e9", "mot de passe \u00e9t\u00e9 \u2603".encode())
    w.audit(alice, "alice", "secret.create", "secret:unicode/\u00e9t\u00e9", {"version": 1, "generated": False})
    w.put_secret("binary", bytes(range(256)) + os.urandom(32))
    w.audit(admin, "admin", "secret.create", "secret:binary", {"version": 1, "generated": False})
    new_admin_key = w.recover(admin[0])
    w.audit((admin[0], new_admin_key), "admin", "login", "user:admin", {"key_access": True, "must_change": True})
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


# ------------------------------------------------------- format 2 (FORMAT.md section 8)
#
# build_vault2's rows: users admin 1, alice 2 (operator), hal 3 (helpdesk, then deployer), ivy 4
# (imported, operator); keys admin 1 (retired by the recovery) and 6, alice 2 (retired by the reset)
# and 5, hal 3, ivy 4; secrets app/db 1, app/api 2, ci/token 3, unicode/été 4, binary 5; root key
# version 2 (rotated once).


@pytest.fixture
def vault2(tmp_path: Path) -> VaultWriter:
    w = build_vault2(tmp_path / "vault2.db")
    yield w
    w.close()


def anchor_of(c: sqlite3.Connection) -> tuple[bytes, int, bytes]:
    vault_id, seq = c.execute("SELECT vault_id, anchor_seq FROM vault").fetchone()
    (h,) = c.execute("SELECT hash FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    return vault_id, seq, h


def plant_key(w: VaultWriter, c: sqlite3.Connection, uid: int, username: str) -> int:
    """What an attacker with the file and no password can do: their own key pair in user_keys, with a
    pin that verifies (it needs only public data and the attacker's own key)."""
    sk = nacl.signing.SigningKey.generate()
    pk = bytes(sk.verify_key)
    kid = c.execute(
        "INSERT INTO user_keys (user_id, username, public_key, sealed_secret_key, kdf_salt, kdf_opslimit, kdf_memlimit,"
        " created_at) VALUES (?, ?, ?, ?, ?, 1, 8192, 0)",
        (uid, username, pk, os.urandom(104), os.urandom(16)),
    ).lastrowid
    vault_id, seq, h = anchor_of(c)
    pin = sk.sign(lbl("keyhold/pin/v1") + vault_id + u64(seq) + h + u64(uid) + u64(kid) + pk).signature
    c.execute("UPDATE user_keys SET pin = ? WHERE id = ?", (pin, kid))
    w.signers[kid] = sk
    return kid


def test_format2_vault_verifies(vault2, tmp_path):
    expect = vault2.expect_file(tmp_path / "expect.json")
    r = run_verify(vault2, "--expect", str(expect), "--head", vault2.head)
    assert r.code == 0, repr(r)
    lines = r.out.splitlines()
    assert lines[0] == "vault: format 2 (application_id KHLD, user_version 2), the recovery key opens the root key"
    assert lines[1] == f"anchor: event 1 (vault.create), vault id {vault2.vault_id.hex()}"
    assert "root keys: 2 of 2 chained from the anchor's, current version 2; the recovery key's root key is that generation's" in lines
    assert "pins: 4 of 4 keys in use pinned to this vault" in lines
    assert "grants: 4 of 4 sealed grants signed by the current root key, to keys it endorsed" in lines
    assert "name tags: 5 of 5 secrets match their names" in lines
    assert "expect: 6 versions match" in lines
    assert f"audit: {vault2.head_seq} events verified, head {vault2.head}" in lines
    assert "authority: signers replayed from the anchor at seq 1; every key in use and every user was introduced by the log" in lines
    assert lines[-1] == "OK"


def test_format2_json(vault2):
    r = run_verify(vault2, "--json")
    assert r.code == 0, repr(r)
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["format"] == 2
    assert doc["header"] == {"application_id": "0x4b484c44", "user_version": 2}
    t = doc["trust"]
    assert t["anchor"] == {"seq": 1, "action": "vault.create"}
    assert t["root_keys"] == {"rows": 2, "chained": 2, "current": 2, "recovery_matches": True}
    assert t["pins"] == {"keys": 4, "pinned": 4, "awaiting": 0}
    assert t["endorsements"] == {"current": 4, "valid": 4}
    assert t["grants"] == {"sealed": 4, "verified": 4, "pending": 0}
    assert t["name_tags"] == {"checked": True, "secrets": 5, "matched": 5}
    assert doc["audit"]["authority"] is True
    assert doc["audit"]["planted"] == {"keys": [], "users": []}
    assert doc["audit"]["verified"] == vault2.head_seq


def test_planted_key_with_a_pin_from_public_data_is_named(vault2):
    # Attack 1: a key of the attacker's, pinned (anyone can), and a pending grant asking for R.
    c = raw(vault2)
    kid = plant_key(vault2, c, 2, "alice")
    c.execute("UPDATE users SET key_id = ? WHERE id = 2", (kid,))
    c.execute("UPDATE grants SET key_id = ?, sealed_root = NULL, signature = NULL WHERE user_id = 2", (kid,))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f'error: user_keys id={kid} (user "alice"): no signed audit event introduced this key (planted outside Keyhold?)' in r.out
    # The pin verifies: it is the replay that names the key.
    assert "pins: 5 of 5 keys in use pinned to this vault" in r.out
    assert "grants: 3 of 3 sealed grants signed by the current root key, to keys it endorsed; 1 pending" in r.out
    assert r.out.splitlines()[-1] == "FAILED: 1 error"
    doc = json.loads(run_verify(vault2, "--json").out)
    assert doc["audit"]["planted"] == {"keys": [kid], "users": []}


def test_planted_user_is_named(vault2):
    c = raw(vault2)
    uid = c.execute(
        "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ('mallory', 'x', 0, 0)"
    ).lastrowid
    c.execute("INSERT INTO user_roles SELECT ?, id FROM roles WHERE name = 'admin'", (uid,))
    kid = plant_key(vault2, c, uid, "mallory")
    c.execute("UPDATE users SET key_id = ? WHERE id = ?", (kid, uid))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f'error: users id={uid} ("mallory"): no signed audit event introduced this user (planted outside Keyhold?)' in r.out
    assert f'error: user_keys id={kid} (user "mallory"): no signed audit event introduced this key' in r.out


def test_substituted_grant_is_named(vault2):
    # Attack 2: alice's grant replaced by a sealing of an R' the attacker chose, to alice's own key.
    c = raw(vault2)
    (pk,) = c.execute("SELECT public_key FROM user_keys WHERE id = 5").fetchone()
    forged = sodium.crypto_box_seal(nacl.utils.random(32), sodium.crypto_sign_ed25519_pk_to_curve25519(pk))
    c.execute("UPDATE grants SET sealed_root = ? WHERE user_id = 2", (forged,))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: grants user_id=2 (user "alice"): not signed by root key version 2 (replaced or planted outside Keyhold)' in r.out
    assert "grants: 3 of 4 sealed grants" in r.out


def test_grant_to_a_key_without_endorsement_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE user_keys SET endorsement = NULL WHERE id = 5")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: grants user_id=2 (user "alice"): sealed to key 5, which root key version 2 did not endorse' in r.out


def test_root_key_row_not_linked_is_named(vault2):
    c = raw(vault2)
    attacker = nacl.signing.SigningKey.generate()
    c.execute("INSERT INTO root_keys (version, public_key, link, created_at) VALUES (3, ?, ?, 0)",
              (bytes(attacker.verify_key), os.urandom(64)))
    c.execute("UPDATE vault SET root_version = 3")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: root_keys version=3: not signed by root key version 2 (its link does not verify)" in r.out
    assert "error: vault.root_version: 3, but the chain of root keys ends at version 2" in r.out
    assert "root keys: 2 of 3 chained from the anchor's, current version 2" in r.out


def test_root_key_row_signed_by_the_wrong_generation_is_named(vault2):
    # A link made with the anchor's generation (1) instead of the current one (2) does not chain.
    c = raw(vault2)
    old = nacl.signing.SigningKey.generate()
    c.execute("UPDATE root_keys SET link = ? WHERE version = 2",
              (old.sign(lbl("keyhold/root-key/v1") + vault2.vault_id + u64(2) + vault2.root_public_key).signature,))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: root_keys version=2: not signed by root key version 1 (its link does not verify)" in r.out


def test_recovery_key_that_opens_a_root_key_the_vault_never_made(vault2):
    c = raw(vault2)
    c.execute("UPDATE vault SET recovery_sealed = ?", (seal(vault2.recovery, nacl.utils.random(32), "keyhold/recovery"),))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert ("error: vault.recovery_sealed: opens to a root key whose signing key is not root key version 2's "
            "(a root key this vault never made)") in r.out
    assert "name tags: not checked (no genuine root key)" in r.out


def test_swapped_names_name_both_rows(vault2):
    # Attack 4: the values still open (their AADs name the row id), only the tags catch it.
    c = raw(vault2)
    c.execute("UPDATE secrets SET name = 'tmp' WHERE id = 1")
    c.execute("UPDATE secrets SET name = 'app/db' WHERE id = 2")
    c.execute("UPDATE secrets SET name = 'app/api' WHERE id = 1")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert ('error: secrets id=1 (name "app/api"): the name does not match its tag '
            "(moved from another row, or renamed outside Keyhold)") in r.out
    assert 'error: secrets id=2 (name "app/db"): the name does not match its tag' in r.out
    assert "name tags: 3 of 5 secrets match their names" in r.out
    assert r.out.splitlines()[-1] == "FAILED: 2 errors"


def test_missing_name_tag_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE secrets SET name_tag = NULL WHERE id = 3")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: secrets id=3 (name "ci/token"): has no name tag' in r.out


def test_forged_event_signed_by_a_planted_key_is_named(vault2):
    # Attack 3: an event appended, hash-chained and signed, with a key planted in user_keys.
    c = raw(vault2)
    kid = plant_key(vault2, c, 2, "alice")
    c.close()
    seq = vault2.audit((2, kid), "alice", "user.grant-role", "user:alice", {"role": "admin", "user_id": 2})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: signed by user_keys id={kid}, which no entitled event introduced" in r.out
    assert f"audit: {seq - 1} of {seq} events verified, first failure at seq {seq}" in r.out
    assert f'error: user_keys id={kid} (user "alice"): no signed audit event introduced this key' in r.out


def test_forged_tail_without_a_saved_head_is_named(vault2):
    # The whole tail rewritten from event 3 on, every event re-signed by a planted key of the admin.
    c = raw(vault2)
    kid = plant_key(vault2, c, 1, "admin")
    c.execute("DELETE FROM audit_events WHERE seq >= 3")
    c.close()
    vault2.head_seq, vault2.head_hash = 2, c_hash(vault2, 2)
    seq = vault2.audit((1, kid), "admin", "secret.reveal", "secret:app/db", {"version": 1})
    vault2.audit((1, kid), "admin", "secret.reveal", "secret:app/api", {"version": 1})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: signed by user_keys id={kid}, which no entitled event introduced" in r.out


def c_hash(w: VaultWriter, seq: int) -> bytes:
    c = sqlite3.connect(w.path)
    try:
        return c.execute("SELECT hash FROM audit_events WHERE seq = ?", (seq,)).fetchone()[0]
    finally:
        c.close()


def test_user_create_without_users_write_is_named(vault2):
    # alice (operator) holds a genuine key, but not users.write: her user.create does not count.
    seq_before = vault2.head_seq
    uid, kid = vault2.add_user("eve", ["admin"], actor=(2, 5))
    seq = vault2.head_seq
    assert seq == seq_before + 1
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f'error: audit event seq={seq}: user.create by "alice", who did not hold users.write at the time' in r.out
    # What the refused event would have introduced is then planted.
    assert f'error: users id={uid} ("eve"): no signed audit event introduced this user' in r.out
    assert f'error: user_keys id={kid} (user "eve"): no signed audit event introduced this key' in r.out


def test_role_given_permissions_the_actor_did_not_hold_is_named(vault2):
    # hal holds users.write (helpdesk) but not roles.manage.
    seq = vault2.audit((3, 3), "hal", "role.create", "role:mine", {"permissions": ["keys.manage"]})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f'error: audit event seq={seq}: role.create by "hal", who did not hold roles.manage at the time' in r.out


def test_vault_restore_needs_keys_manage(vault2):
    # hal (helpdesk) holds a genuine key but not keys.manage: his vault.restore breaks the rules.
    seq = vault2.audit((3, 3), "hal", "vault.restore", "vault", {"backup": "/elsewhere.db", "cut_events": 0})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f'error: audit event seq={seq}: vault.restore by "hal", who did not hold keys.manage at the time' in r.out


def test_bad_vault_recover_proof_is_named(vault2):
    kid = vault2.recover(2, proof_key=nacl.signing.SigningKey.generate())
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    seq = vault2.head_seq
    assert f"error: audit event seq={seq}: vault.recover without a valid proof by root key version 2 (recovery_signature)" in r.out
    assert f'error: user_keys id={kid} (user "alice"): no signed audit event introduced this key' in r.out


def test_vault_recover_signed_by_another_key_is_named(vault2):
    kid = vault2.recover(2)
    # Re-sign the same event with hal's key, claiming hal's key id.
    c = raw(vault2)
    c.execute("DELETE FROM audit_events WHERE seq = ?", (vault2.head_seq,))
    c.close()
    vault2.head_seq, vault2.head_hash = vault2.head_seq - 1, c_hash(vault2, vault2.head_seq - 1)
    pk = vault2.signers[kid].verify_key.encode()
    proof = vault2.root_signer.sign(lbl("keyhold/recover/v1") + vault2.vault_id + u64(2) + u64(kid) + pk).signature
    seq = vault2.audit((None, 3), "recovery-key", "vault.recover", "user:alice",
                       {"user": "alice", "user_id": 2, "key_id": kid, "public_key": pk.hex(), "recovery_signature": proof.hex()})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: vault.recover signed by user_keys id=3, not by the key it introduces (id={kid})" in r.out


def test_a_key_signs_only_for_its_own_user(vault2):
    seq = vault2.audit((2, 3), "alice", "secret.reveal", "secret:app/db", {"version": 1})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert (f"error: audit event seq={seq}: signed by user_keys id=3 of user 3 for actor_id=2 "
            "(a key signs only for its own user)") in r.out


def test_a_retired_key_no_longer_signs(vault2):
    seq = vault2.audit((2, 2), "alice", "secret.reveal", "secret:app/db", {"version": 1})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: signed by user_keys id=2 after it was retired (by event" in r.out


def test_first_login_of_a_user_with_a_key_is_named(vault2):
    sk = nacl.signing.SigningKey.generate()
    pk = bytes(sk.verify_key)
    seq = vault2.audit((2, 99), "alice", "login", "user:alice",
                       {"key_access": False, "key_pair": "created", "user_id": 2, "key_id": 99, "public_key": pk.hex()},
                       signer=sk)
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: first login of user 2, who already holds user_keys id=5" in r.out


def test_rotate_root_without_a_link_is_named(vault2):
    attacker = nacl.signing.SigningKey.generate()
    seq = vault2.audit((vault2_admin(vault2)), "admin", "key.rotate-root", "root-key", {
        "root_version": 3, "root_public_key": bytes(attacker.verify_key).hex(), "root_link": os.urandom(64).hex()})
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert f"error: audit event seq={seq}: key.rotate-root whose new root key root key version 2 did not sign (root_link)" in r.out


def vault2_admin(w: VaultWriter) -> tuple[int, int]:
    return (1, w.key_of[1])


def test_cut_tail_that_took_a_rotation_is_noticed_without_a_head(vault2):
    c = raw(vault2)
    (seq,) = c.execute("SELECT seq FROM audit_events WHERE action = 'key.rotate-root'").fetchone()
    c.execute("DELETE FROM audit_events WHERE seq >= ?", (seq,))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert ("error: audit: the log's root key is version 1, but root_keys' current one is version 2 "
            "(a key.rotate-root event is missing from the log?)") in r.out


def test_key_without_a_pin_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE user_keys SET pin = NULL WHERE id = 3")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: user_keys id=3 (user "hal"): carries no pin: no user made it in this vault (planted?)' in r.out


def test_pin_for_another_vault_is_named(vault2):
    c = raw(vault2)
    _, seq, h = anchor_of(c)
    pk = vault2.signers[3].verify_key.encode()
    other = vault2.signers[3].sign(lbl("keyhold/pin/v1") + os.urandom(16) + u64(seq) + h + u64(3) + u64(3) + pk).signature
    c.execute("UPDATE user_keys SET pin = ? WHERE id = 3", (other,))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: user_keys id=3 (user "hal"): its pin names another vault or anchor event (copied?)' in r.out


def test_anchor_naming_another_vault_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE vault SET vault_id = ?", (os.urandom(16),))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert ("error: audit_events seq=1: the anchor event does not name this vault (vault_id) "
            "and its root key (root_version, root_public_key)") in r.out


def test_anchor_that_is_not_an_anchor_event_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE vault SET anchor_seq = 2")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert 'error: audit_events seq=2: the vault names it as its anchor, but it is a "user.create" event' in r.out


# ---------------------------------------------------------------------- the header


def test_format2_header_rewritten_to_format1_is_refused(vault2):
    # Format 1's rules would not check section 8: a downgraded header must not escape them.
    c = raw(vault2)
    c.execute("PRAGMA application_id = 0")
    c.execute("PRAGMA user_version = 0")
    c.execute("CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
    c.executemany("INSERT INTO grdb_migrations VALUES (?)", [(str(i),) for i in range(1, 5)])
    c.execute("UPDATE vault SET format = 1")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert ("error: header: format 1, but the file has format 2's root_keys table "
            "(a format-2 vault with its header rewritten?)") in r.out


def test_later_format_is_refused(vault2):
    c = raw(vault2)
    c.execute("PRAGMA user_version = 4")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: header: format 4 is later than this verifier reads (formats 1, 2 and 3)" in r.out


def test_format3_is_format2_with_name_indexes(vault2, tmp_path):
    """FORMAT.md section 11: format 3 adds the name indexes (FTS5 tables over the rows, which the
    verifier does not read); every check of format 2 runs as before."""
    c = raw(vault2)
    c.execute("CREATE VIRTUAL TABLE secret_names USING fts5(name, content='secrets', content_rowid='id', "
              "tokenize='trigram', detail='none', columnsize=0)")
    c.execute("INSERT INTO secret_names(secret_names) VALUES ('rebuild')")
    c.execute("UPDATE vault SET format = 3")
    c.execute("PRAGMA user_version = 3")
    c.close()
    expect = vault2.expect_file(tmp_path / "expect.json")
    r = run_verify(vault2, "--expect", str(expect), "--head", vault2.head)
    assert r.code == 0, repr(r)
    lines = r.out.splitlines()
    assert lines[0] == "vault: format 3 (application_id KHLD, user_version 3), the recovery key opens the root key"
    assert "name tags: 5 of 5 secrets match their names" in lines
    assert "authority: signers replayed from the anchor at seq 1; every key in use and every user was introduced by the log" in lines
    assert lines[-1] == "OK"


def test_header_and_vault_format_must_agree(vault2):
    c = raw(vault2)
    c.execute("UPDATE vault SET format = 1")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: vault.format: 1, but the file's header says format 2" in r.out


def test_another_programs_database_is_a_usage_error(vault2):
    c = raw(vault2)
    c.execute("PRAGMA application_id = 305419896")
    c.close()
    r = run_verify(vault2)
    assert r.code == 2, repr(r)
    assert "not a Keyhold vault (application_id 0x12345678 is another program's)" in r.err


def test_format1_without_its_migrations_is_a_usage_error(vault):
    c = raw(vault)
    c.execute("DROP TABLE grdb_migrations")
    c.close()
    r = run_verify(vault)
    assert r.code == 2, repr(r)
    assert "not format 1's grdb_migrations rows 1 to 4" in r.err


# ---------------------------------------------------------------------- the upgrade


def upgraded(tmp_path: Path) -> VaultWriter:
    """build_vault's format-1 vault brought to format 2 by section 9, then used."""
    w = build_vault(tmp_path / "upgraded.db")
    w.upgrade((1, 1))
    w.audit((2, 2), "alice", "secret.reveal", "secret:app/db", {"version": 3})  # a key the anchor lists
    w.add_user("bob", ["operator"], actor=(1, 1))
    w.put_secret("after/upgrade", b"made-in-format-two-" + pysecrets.token_hex(8).encode())
    w.audit((1, 1), "admin", "secret.create", "secret:after/upgrade", {"version": 1})
    return w


def test_upgraded_vault_verifies(tmp_path):
    w = upgraded(tmp_path)
    try:
        r = run_verify(w, "--expect", str(w.expect_file(tmp_path / "e.json")), "--head", w.head)
        assert r.code == 0, repr(r)
        assert "anchor: event 13 (vault.upgrade)" in r.out
        assert "pins: 2 of 3 keys in use pinned to this vault (1 listed by the upgrade, to be pinned at their owner's next login)" in r.out
        assert "grants: 3 of 3 sealed grants signed by the current root key, to keys it endorsed" in r.out
        assert "name tags: 6 of 6 secrets match their names" in r.out
        assert f"audit: {w.head_seq} events verified, head {w.head}" in r.out
        assert "authority: signers replayed from the anchor at seq 13" in r.out
    finally:
        w.close()


def test_upgraded_vault_events_before_the_anchor_keep_format1s_rule(tmp_path):
    w = upgraded(tmp_path)
    w.close()
    c = raw(w)
    # An event before the anchor, signed by a key the vault holds: format 1's rule accepts it,
    # so its signature (not its signer's entitlement) is what is checked.
    c.execute("UPDATE audit_events SET signature = ? WHERE seq = 5", (os.urandom(64),))
    c.close()
    r = run_verify(w)
    assert r.code == 1, repr(r)
    assert "error: audit event seq=5: signature does not verify under user_keys id=1" in r.out


def test_upgraded_vault_key_not_in_the_anchor_is_named(tmp_path):
    w = upgraded(tmp_path)
    w.close()
    c = raw(w)
    kid = plant_key(w, c, 2, "alice")
    c.execute("UPDATE user_keys SET pin = NULL WHERE id = ?", (kid,))
    c.close()
    r = run_verify(w)
    assert r.code == 1, repr(r)
    assert f'error: user_keys id={kid} (user "alice"): carries no pin: no user made it in this vault (planted?)' in r.out
    assert f'error: user_keys id={kid} (user "alice"): no signed audit event introduced this key' in r.out


def test_grant_of_a_disabled_user_is_a_warning(vault2):
    c = raw(vault2)
    c.execute("UPDATE users SET disabled = 1 WHERE id = 2")
    c.close()
    r = run_verify(vault2)
    assert r.code == 0, repr(r)
    assert 'warning: grants user_id=2 (user "alice"): the user is disabled but holds the root key (rotate the root key)' in r.out


def test_missing_vault_row_is_named(vault2):
    c = raw(vault2)
    c.execute("DELETE FROM vault")
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: vault: 0 rows, expected exactly 1" in r.out


def test_root_key_row_below_the_anchors_is_named(tmp_path):
    # A format-1 vault whose root key was rotated once: its upgrade's anchor starts at version 2.
    w = build_vault(tmp_path / "rotated.db")
    w.conn.execute("UPDATE vault SET root_version = 2")
    w.upgrade((1, 1))
    w.close()
    assert run_verify(w).code == 0
    c = raw(w)
    c.execute("INSERT INTO root_keys (version, public_key, created_at) VALUES (1, ?, 0)", (os.urandom(32),))
    c.close()
    r = run_verify(w)
    assert r.code == 1, repr(r)
    assert "error: root_keys version=1: not in the chain of root keys (the anchor's is version 2)" in r.out
    assert "root keys: 1 of 2 chained from the anchor's, current version 2" in r.out


def test_root_key_row_the_anchor_names_replaced_is_named(vault2):
    c = raw(vault2)
    c.execute("UPDATE root_keys SET public_key = ? WHERE version = 1", (os.urandom(32),))
    c.close()
    r = run_verify(vault2)
    assert r.code == 1, repr(r)
    assert "error: root_keys version=1: not the root key the anchor event names" in r.out
