#!/usr/bin/env python3
"""Verify a Keyhold vault from the outside, following docs/FORMAT.md alone.

Given only the database file and the recovery key, this program opens the
root key, every data key and every secret version, and walks the audit
chain, checking each hash and signature. It shares no code with Keyhold: it
is the proof that FORMAT.md says everything a reader needs.

It reads formats 1, 2 and 3 (the file's header says which, FORMAT.md section 0;
format 3 is format 2 with the name indexes of section 11, which hold no
secret and are not read here). In a vault of format 2 or 3 it also checks
what section 8 makes checkable: the
anchor event, the chain of root keys from the anchor's, that the recovery
key's root key is the current generation's, every key's pin, every sealed
grant's signature and its key's endorsement, every secret's name tag, and
who was entitled to sign each event from the anchor on (the authority
replay, which also names keys and users in the tables that no event
introduced).

Usage:

    keyhold_verify.py DB [--expect FILE] [--head SEQ:HEX] [--json] < recovery-key

The recovery key is read from standard input (one line; typed without echo
when standard input is a terminal). It is never taken from the command line
and never printed, and neither is any secret value.

--expect FILE   JSON {"secrets": {"<name>": {"<version>": "<base64>", ...}}}:
                every expected version must open to that value, and every
                version that opens must be expected.
--head SEQ:HEX  a head printed earlier: event SEQ must still exist with
                that hash, so a removed tail is noticed.
--json          print one JSON object instead of the summary lines.

Exit status: 0 everything verified; 1 something did not verify (each
problem is named); 2 usage or input error (bad arguments, unreadable
database or --expect file, a file that is not a Keyhold vault of format 1,
2 or 3); 3 the recovery key is malformed.

Needs Python 3.11 and PyNaCl.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import json
import sqlite3
import sys
import time
import urllib.parse
from dataclasses import dataclass, field as dataclass_field

try:
    import nacl.bindings
    import nacl.exceptions
    import nacl.signing
except ImportError:  # pragma: no cover - environment problem
    sys.stderr.write("keyhold_verify: PyNaCl is required (pip install pynacl)\n")
    sys.exit(2)

FORMATS = (1, 2, 3)
APPLICATION_ID = 0x4B484C44  # "KHLD", FORMAT.md section 0
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 13
NONCE_BYTES = 24
TAG_BYTES = 16
KEY_BYTES = 32
MAX_SECRET_BYTES = 65536
UNSIGNED_ACTIONS = (b"login.failed", b"login.refused")
AUDIT_DOMAIN = b"keyhold/audit/v1\x00"
ZERO_HASH = bytes(32)
ANCHOR_ACTIONS = ("vault.create", "vault.upgrade")
# How many failing secret versions to try against the other rows' AADs, to
# say where a moved ciphertext belongs. Bounded: each try is one decrypt per
# row.
DIAGNOSE_LIMIT = 64
# The longest run of ids one user.import event may name (FORMAT.md 8.6), so a
# forged range cannot make the replay loop for ever.
MAX_ID_RUN = 10_000_000

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RECOVERY_KEY = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2."""


class RecoveryKeyError(Exception):
    """The typed recovery key is malformed: exit 3. Never carries key text."""


# ---------------------------------------------------------------- helpers


def blake2b256(data: bytes, key: bytes | None = None) -> bytes:
    """FORMAT.md section 1: unkeyed, or keyed with `key`."""
    if key is None:
        return hashlib.blake2b(data, digest_size=32).digest()
    return hashlib.blake2b(data, key=key, digest_size=32).digest()


def decimal(n: int) -> str:
    return str(int(n))


def u64(n: int) -> bytes:
    """FORMAT.md section 1: 8 bytes, big-endian."""
    return (int(n) & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "big")


def label(s: str) -> bytes:
    """A label in a signed message: its ASCII bytes and one 0x00."""
    return s.encode("ascii") + b"\x00"


def hex_bytes(value, length: int | None = None) -> bytes | None:
    """Lower-case hex (FORMAT.md section 1) to bytes; None if it is not that (or not `length` bytes)."""
    if not isinstance(value, str) or len(value) % 2 or any(c not in "0123456789abcdef" for c in value):
        return None
    b = bytes.fromhex(value)
    if length is not None and len(b) != length:
        return None
    return b


def blob(value) -> bytes | None:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else None


def signature_holds(public_key, message: bytes, signature) -> bool:
    """An Ed25519 detached signature (crypto_sign_detached) of `message` under `public_key`."""
    pk, sig = blob(public_key), blob(signature)
    if pk is None or sig is None or len(pk) != 32 or len(sig) != 64:
        return False
    try:
        nacl.signing.VerifyKey(pk).verify(message, sig)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError, ValueError, TypeError):
        return False


def root_signing_public_key(root: bytes) -> bytes:
    """FORMAT.md 8.3: the public key of the Ed25519 pair seeded by BLAKE2b-256(key: R, "keyhold/root-signing-key/v1")."""
    seed = blake2b256(b"keyhold/root-signing-key/v1", key=root)
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def open_sealed(key: bytes, sealed: bytes, aad: str) -> bytes | None:
    """FORMAT.md section 2: nonce(24) || AEAD(m, aad). None if it does not open."""
    if not isinstance(sealed, (bytes, bytearray)) or len(sealed) < NONCE_BYTES + TAG_BYTES:
        return None
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            bytes(sealed[NONCE_BYTES:]), aad.encode("ascii"), bytes(sealed[:NONCE_BYTES]), key
        )
    except nacl.exceptions.CryptoError:
        return None


def text(b: bytes | str | None) -> str:
    """Stored text for display (the connection returns raw bytes)."""
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.decode("utf-8", errors="replace")


def quoted(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# ---------------------------------------------------------- recovery key


def check_symbol(index: int, group: str) -> str:
    digest = blake2b256(b"keyhold/recovery-check/" + decimal(index).encode() + b":" + group.encode("ascii"))
    return ALPHABET[digest[0] % 32]


def parse_recovery_key(typed: str) -> bytes:
    """FORMAT.md section 4. Raises RecoveryKeyError naming the problem, never the key."""
    symbols = []
    for ch in typed.upper():
        if ch == "-" or ch.isspace():
            continue
        ch = {"O": "0", "I": "1", "L": "1"}.get(ch, ch)
        symbols.append(ch)
    for position, ch in enumerate(symbols):
        if ch not in ALPHABET:
            group = position // 5 + 1
            raise RecoveryKeyError(
                f"recovery key: symbol {position % 5 + 1} of group {group} is not a recovery key symbol"
            )
    if len(symbols) != GROUPS * 5:
        raise RecoveryKeyError(f"recovery key: expected 65 symbols in 13 groups, got {len(symbols)}")
    data = []
    for g in range(GROUPS):
        group = "".join(symbols[g * 5 : g * 5 + 4])
        if symbols[g * 5 + 4] != check_symbol(g + 1, group):
            raise RecoveryKeyError(f"recovery key: group {g + 1} does not match its check")
        data.append(group)
    value = 0
    for ch in "".join(data):
        value = (value << 5) | ALPHABET.index(ch)
    if value & 0xF:
        raise RecoveryKeyError(f"recovery key: the padding bits of group {GROUPS} are not zero")
    return (value >> 4).to_bytes(32, "big")


def read_recovery_key() -> str:
    if sys.stdin is None:
        raise RecoveryKeyError("recovery key: none given on standard input")
    if sys.stdin.isatty():
        line = getpass.getpass("recovery key: ")
    else:
        line = sys.stdin.readline()
    if not line.strip():
        raise RecoveryKeyError("recovery key: none given on standard input")
    return line


# ------------------------------------------------------------ the report


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.info: dict = {
            "format": None,
            "header": {"application_id": None, "user_version": None},
            "root_key": False,
            "trust": None,
            "data_keys": {"rows": 0, "opened": 0, "active": None},
            "secrets": {
                "secrets": 0,
                "versions": 0,
                "opened": 0,
                "secrets_opened": 0,
                "shredded": 0,
                "not_opened": 0,
            },
            "expect": None,
            "audit": {
                "events": 0,
                "verified": 0,
                "unsigned": 0,
                "head": None,
                "last": None,
                "first_failure": None,
                "anchor": None,
                "authority": False,
                "planted": None,
            },
            "head_check": None,
        }

    def error(self, msg: str) -> None:
        self.errors.append(msg)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)


# ------------------------------------------------------------- the vault


def connect(path: str) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(path, safe="/") + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.text_factory = bytes  # text exactly as stored, for the canonical bytes
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as e:
        raise UsageError(f"{path}: cannot open the database read-only: {e}") from None
    names = {text(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in ("vault", "data_keys", "secrets", "secret_versions", "user_keys", "audit_events") if t not in names]
    if missing:
        conn.close()
        raise UsageError(f"{path}: not a Keyhold vault (no table {', '.join(missing)})")
    return conn


def tables(conn: sqlite3.Connection) -> set[str]:
    return {text(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check_header(conn: sqlite3.Connection, path: str, rep: Report) -> int | None:
    """FORMAT.md section 0: application_id and user_version say the format.

    Read through SQLite (PRAGMA), which also sees a header still in the -wal
    file. Returns the format, or None (with the error reported) when the file
    claims a format this program does not read."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    rep.info["header"] = {"application_id": f"0x{app & 0xFFFFFFFF:08x}", "user_version": version}
    names = tables(conn)
    if app == APPLICATION_ID:
        if version in (2, 3):
            if "root_keys" not in names:
                rep.error(f"header: format {version}, but the file has no root_keys table")
                return None
            return version
        if version > 3:
            rep.error(f"header: format {version} is later than this verifier reads (formats 1, 2 and 3)")
        else:
            rep.error(f"header: application_id KHLD with user_version {version}, which names no Keyhold format")
        return None
    if app != 0:
        raise UsageError(f"{path}: not a Keyhold vault (application_id 0x{app & 0xFFFFFFFF:08x} is another program's)")
    # Format 1 predates the header: recognised by its tables and GRDB's migrations 1 to 4.
    migrations: set[str] = set()
    if "grdb_migrations" in names:
        migrations = {text(r[0]) for r in conn.execute("SELECT identifier FROM grdb_migrations")}
    if migrations != {"1", "2", "3", "4"}:
        raise UsageError(
            f"{path}: not a Keyhold vault (application_id 0, and not format 1's grdb_migrations rows 1 to 4)"
        )
    if version != 0:
        rep.error(f"header: application_id 0 (format 1) with user_version {version}")
        return None
    # A format-2 vault whose header was rewritten to format 1 would escape section 8's checks.
    if "root_keys" in names:
        rep.error("header: format 1, but the file has format 2's root_keys table (a format-2 vault with its header rewritten?)")
        return None
    return 1


def check_vault(conn: sqlite3.Connection, recovery: bytes, fmt: int, rep: Report) -> bytes | None:
    """vault row: format and recovery_sealed -> R."""
    rows = conn.execute("SELECT id, format, recovery_sealed FROM vault").fetchall()
    if len(rows) != 1:
        rep.error(f"vault: {len(rows)} rows, expected exactly 1")
        if not rows:
            return None
    _, column, sealed = rows[0]
    if column != fmt:
        rep.error(f"vault.format: {column!r}, but the file's header says format {fmt}")
    root = open_sealed(recovery, sealed, "keyhold/recovery")
    if root is None:
        rep.error("vault.recovery_sealed: does not open (wrong recovery key or altered bytes)")
        return None
    if len(root) != KEY_BYTES:
        rep.error(f"vault.recovery_sealed: opens to {len(root)} bytes, a root key is {KEY_BYTES}")
        return None
    rep.info["root_key"] = True
    return root


def check_data_keys(conn: sqlite3.Connection, root: bytes | None, rep: Report) -> tuple[dict[int, bytes], set[int]]:
    """data_keys rows -> {v: D_v}, and the set of versions present in the table."""
    keys: dict[int, bytes] = {}
    present: set[int] = set()
    active = []
    rows = conn.execute("SELECT version, sealed, state FROM data_keys ORDER BY version").fetchall()
    rep.info["data_keys"]["rows"] = len(rows)
    for version, sealed, state in rows:
        present.add(version)
        if text(state) == "active":
            active.append(version)
        if root is None:
            continue
        d = open_sealed(root, sealed, f"keyhold/datakey/{decimal(version)}")
        if d is None:
            rep.error(f"data_keys version={version}: does not open (wrong root key or moved ciphertext)")
        elif len(d) != KEY_BYTES:
            rep.error(f"data_keys version={version}: opens to {len(d)} bytes, a data key is {KEY_BYTES}")
        else:
            keys[version] = d
    rep.info["data_keys"]["opened"] = len(keys)
    if len(active) == 1:
        rep.info["data_keys"]["active"] = active[0]
    elif rows:
        rep.error(f"data_keys: {len(active)} rows are active, expected exactly 1")
    return keys, present


def check_secrets(
    conn: sqlite3.Connection,
    keys: dict[int, bytes],
    present: set[int],
    root_opened: bool,
    rep: Report,
) -> dict[str, dict[int, bytes]]:
    """Open every secret_versions row. Returns {name: {version: value}} of those that opened."""
    names: dict[int, str] = {}
    current: dict[int, int] = {}
    for sid, name, cur in conn.execute("SELECT id, name, current_version FROM secrets ORDER BY id"):
        try:
            names[sid] = name.decode("utf-8")
        except UnicodeDecodeError:
            names[sid] = text(name)
            rep.error(f"secrets id={sid}: name is not valid UTF-8")
        current[sid] = cur
    rep.info["secrets"]["secrets"] = len(names)

    rows = conn.execute(
        "SELECT secret_id, version, key_version, ciphertext FROM secret_versions ORDER BY secret_id, version"
    ).fetchall()
    rep.info["secrets"]["versions"] = len(rows)
    opened: dict[str, dict[int, bytes]] = {}
    versions_of: dict[int, set[int]] = {}
    failed = []
    s = rep.info["secrets"]
    for sid, version, kv, ct in rows:
        versions_of.setdefault(sid, set()).add(version)
        where = f"secret_versions secret_id={sid} version={version}"
        if sid not in names:
            rep.error(f"{where}: no secrets row with id={sid}")
        if kv not in present:
            s["shredded"] += 1  # section 5: its data key was destroyed on purpose
            continue
        if kv not in keys:
            s["not_opened"] += 1
            if root_opened:
                rep.error(f"{where}: not opened, its data key version={kv} did not open")
            continue
        value = open_sealed(keys[kv], ct, f"keyhold/secret/{decimal(sid)}/{decimal(version)}/{decimal(kv)}")
        if value is None:
            s["not_opened"] += 1
            failed.append((sid, version, kv, ct))
            continue
        if not 1 <= len(value) <= MAX_SECRET_BYTES:
            rep.error(f"{where}: value is {len(value)} bytes, outside 1 to {MAX_SECRET_BYTES}")
        s["opened"] += 1
        if sid in names:
            opened.setdefault(names[sid], {})[version] = value

    # Say where a moved ciphertext belongs, when it opens under another row's AAD.
    all_rows = [(sid, version, kv) for sid, version, kv, _ in rows]
    for i, (sid, version, kv, ct) in enumerate(failed):
        where = f"secret_versions secret_id={sid} version={version}"
        origin = None
        if i < DIAGNOSE_LIMIT:
            for osid, over, okv in all_rows:
                if (osid, over) == (sid, version) or okv not in keys:
                    continue
                if open_sealed(keys[okv], ct, f"keyhold/secret/{decimal(osid)}/{decimal(over)}/{decimal(okv)}") is not None:
                    origin = f"secret_id={osid} version={over}"
                    break
        if origin:
            rep.error(f"{where}: does not open (wrong key or moved ciphertext); its ciphertext is that of {origin}")
        else:
            rep.error(f"{where}: does not open (wrong key or moved ciphertext)")

    for sid, cur in current.items():
        if cur not in versions_of.get(sid, set()):
            rep.error(f"secrets id={sid} name={quoted(names[sid])}: current_version {cur} has no secret_versions row")
    s["secrets_opened"] = len(opened)
    return opened


def check_expect(path: str, opened: dict[str, dict[int, bytes]], shredded_or_failed: dict[str, set[int]], rep: Report) -> None:
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--expect {path}: cannot read it as JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("secrets"), dict):
        raise UsageError(f'--expect {path}: expected {{"secrets": {{"<name>": {{"<version>": "<base64>"}}}}}}')
    expected: dict[str, dict[int, bytes]] = {}
    for name, versions in doc["secrets"].items():
        if not isinstance(versions, dict):
            raise UsageError(f"--expect {path}: secret {quoted(name)}: expected an object of versions")
        for v, b64 in versions.items():
            if not (isinstance(v, str) and v.isdigit()) or not isinstance(b64, str):
                raise UsageError(f"--expect {path}: secret {quoted(name)}: bad version entry")
            try:
                value = base64.b64decode(b64, validate=True)
            except ValueError:
                raise UsageError(f"--expect {path}: secret {quoted(name)} version {v}: not base64") from None
            expected.setdefault(name, {})[int(v)] = value

    matched = mismatched = 0
    for name in sorted(expected):
        for v in sorted(expected[name]):
            label = f"expect: secret {quoted(name)} version {v}"
            if v in opened.get(name, {}):
                if hmac.compare_digest(opened[name][v], expected[name][v]):
                    matched += 1
                else:
                    mismatched += 1
                    rep.error(f"{label}: value differs")
            elif v in shredded_or_failed.get(name, set()):
                mismatched += 1
                rep.error(f"{label}: expected, but the version did not open")
            else:
                mismatched += 1
                rep.error(f"{label}: expected, but the vault has no such version")
    for name in sorted(opened):
        for v in sorted(opened[name]):
            if v not in expected.get(name, {}):
                mismatched += 1
                rep.error(f"expect: secret {quoted(name)} version {v}: opened, but not expected")
    rep.info["expect"] = {"matched": matched, "mismatched": mismatched}




# ------------------------------------------------ trust in the file (format 2)


def pin_message(anchor: "Anchor", user_id: int, key_id: int, public_key: bytes) -> bytes:
    """FORMAT.md 8.2."""
    return (
        label("keyhold/pin/v1") + anchor.vault_id + u64(anchor.seq) + anchor.hash
        + u64(user_id) + u64(key_id) + public_key
    )


def root_link_message(vault_id: bytes, version: int, public_key: bytes) -> bytes:
    """FORMAT.md 8.3: what generation v - 1 signs to introduce generation v."""
    return label("keyhold/root-key/v1") + vault_id + u64(version) + public_key


def endorsement_message(vault_id: bytes, version: int, user_id: int, key_id: int, public_key: bytes) -> bytes:
    """FORMAT.md 8.3."""
    return label("keyhold/key-endorsement/v1") + vault_id + u64(version) + u64(user_id) + u64(key_id) + public_key


def grant_message(vault_id: bytes, version: int, user_id: int, key_id: int, sealed_root: bytes) -> bytes:
    """FORMAT.md 8.4."""
    return label("keyhold/grant/v1") + vault_id + u64(version) + u64(user_id) + u64(key_id) + blake2b256(sealed_root)


def recover_message(vault_id: bytes, user_id: int, key_id: int, public_key: bytes) -> bytes:
    """FORMAT.md 8.6, rule 2."""
    return label("keyhold/recover/v1") + vault_id + u64(user_id) + u64(key_id) + public_key


def name_tag(root: bytes, secret_id: int, name: bytes) -> bytes:
    """FORMAT.md 8.5: N = BLAKE2b-256(key: R, "keyhold/secret-names/v1") (no NUL), then the keyed tag."""
    n = blake2b256(b"keyhold/secret-names/v1", key=root)
    return blake2b256(label("keyhold/secret-name/v1") + u64(secret_id) + name, key=n)


def parse_details(details) -> dict:
    """An event's details as a JSON object ({} when they are not one)."""
    try:
        parsed = json.loads(bytes(details).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def d_int(d: dict, key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def d_str(d: dict, key: str) -> str | None:
    v = d.get(key)
    return v if isinstance(v, str) else None


def d_strings(d: dict, key: str) -> list[str] | None:
    v = d.get(key)
    return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None


def parse_snapshot_key(entry: str) -> tuple[int, int, bytes] | None:
    """A key of a vault.upgrade anchor: "<key id>:<user id>:<public key hex>"."""
    parts = entry.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    pk = hex_bytes(parts[2], 32)
    return None if pk is None else (int(parts[0]), int(parts[1]), pk)


@dataclass
class Anchor:
    """FORMAT.md 8.1: the event trust starts from, as the vault row names it."""

    seq: int
    hash: bytes
    vault_id: bytes
    action: str
    root_version: int
    root_public_key: bytes
    # Keys a vault.upgrade anchor lists: they may lack a pin until their owner's next login.
    unpinned: dict[int, bytes]


@dataclass
class RootKey:
    version: int
    public_key: bytes


def read_anchor(conn: sqlite3.Connection, rep: Report) -> Anchor | None:
    """FORMAT.md 8.1. Reports what is wrong and returns None if there is no usable anchor."""
    row = conn.execute("SELECT vault_id, anchor_seq FROM vault").fetchone()
    if row is None:
        return None  # check_vault named the missing row
    vault_id, anchor_seq = row
    vault_id = blob(vault_id)
    if vault_id is None or len(vault_id) != 16:
        rep.error("vault.vault_id: missing or not 16 bytes")
        return None
    rep.info["trust"]["vault_id"] = vault_id.hex()
    if not isinstance(anchor_seq, int) or anchor_seq < 1:
        rep.error("vault.anchor_seq: missing (the vault names no anchor event)")
        return None
    row = conn.execute(
        "SELECT seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash"
        " FROM audit_events WHERE seq = ?",
        (anchor_seq,),
    ).fetchone()
    where = f"audit_events seq={anchor_seq}"
    if row is None:
        rep.error(f"{where}: the anchor event the vault names is missing")
        return None
    *fields, prev_hash, h = row
    action = text(fields[5])
    if action not in ANCHOR_ACTIONS:
        rep.error(f"{where}: the vault names it as its anchor, but it is a {quoted(action)} event, not vault.create or vault.upgrade")
        return None
    if blob(prev_hash) is None or blob(h) is None or blake2b256(bytes(prev_hash) + canonical(*fields)) != bytes(h):
        rep.error(f"{where}: the anchor event's hash does not recompute (the event was altered)")
        return None
    if action == "vault.create" and anchor_seq != 1:
        rep.error(f"{where}: a vault.create anchor must be event 1")
        return None
    d = parse_details(fields[7])
    version, root_pk = d_int(d, "root_version"), hex_bytes(d.get("root_public_key"), 32)
    if hex_bytes(d.get("vault_id"), 16) != vault_id or version is None or version < 1 or root_pk is None:
        rep.error(f"{where}: the anchor event does not name this vault (vault_id) and its root key (root_version, root_public_key)")
        return None
    unpinned: dict[int, bytes] = {}
    if action == "vault.upgrade":
        for entry in d_strings(d, "keys") or []:
            k = parse_snapshot_key(entry)
            if k is not None:
                unpinned[k[0]] = k[2]
    rep.info["trust"]["anchor"] = {"seq": anchor_seq, "action": action}
    return Anchor(anchor_seq, bytes(h), vault_id, action, version, root_pk, unpinned)


def check_root_keys(conn: sqlite3.Connection, anchor: Anchor, root: bytes | None, rep: Report) -> RootKey | None:
    """FORMAT.md 8.3: the chain from the anchor's root key, each row signed by the one before.

    Returns the last generation the chain reaches (the current one when nothing is wrong)."""
    info = rep.info["trust"]["root_keys"]
    rows = conn.execute("SELECT version, public_key, link FROM root_keys ORDER BY version").fetchall()
    info["rows"] = len(rows)
    for version, _, _ in rows:
        if not isinstance(version, int) or version < anchor.root_version:
            rep.error(f"root_keys version={version}: not in the chain of root keys (the anchor's is version {anchor.root_version})")
    chain = [r for r in rows if isinstance(r[0], int) and r[0] >= anchor.root_version]
    if not chain or chain[0][0] != anchor.root_version:
        rep.error(f"root_keys version={anchor.root_version}: missing (the anchor event names it)")
        return None
    if blob(chain[0][1]) != anchor.root_public_key:
        rep.error(f"root_keys version={anchor.root_version}: not the root key the anchor event names")
        return None
    current = RootKey(anchor.root_version, anchor.root_public_key)
    info["chained"] = 1
    for version, pk, link in chain[1:]:
        pk = blob(pk)
        if (
            version != current.version + 1
            or pk is None
            or len(pk) != 32
            or not signature_holds(current.public_key, root_link_message(anchor.vault_id, version, pk), link)
        ):
            rep.error(f"root_keys version={version}: not signed by root key version {current.version} (its link does not verify)")
            break
        current = RootKey(version, pk)
        info["chained"] += 1
    info["current"] = current.version
    vault_version = (conn.execute("SELECT root_version FROM vault").fetchone() or (None,))[0]
    if vault_version != current.version:
        rep.error(f"vault.root_version: {vault_version!r}, but the chain of root keys ends at version {current.version}")
    if root is not None:
        matches = hmac.compare_digest(root_signing_public_key(root), current.public_key)
        info["recovery_matches"] = matches
        if not matches:
            rep.error(
                "vault.recovery_sealed: opens to a root key whose signing key is not root key version "
                f"{current.version}'s (a root key this vault never made)"
            )
    return current


@dataclass
class KeyRow:
    id: int
    user_id: int
    username: str
    public_key: bytes
    sealed: bool
    retired: bool
    pin: bytes | None
    endorsement: bytes | None
    endorsed_root: int | None


def load_keys(conn: sqlite3.Connection) -> dict[int, KeyRow]:
    keys = {}
    for kid, uid, name, pk, sealed, retired, pin, endorsement, endorsed_root in conn.execute(
        "SELECT id, user_id, username, public_key, sealed_secret_key, retired_at, pin, endorsement, endorsed_root"
        " FROM user_keys ORDER BY id"
    ):
        keys[kid] = KeyRow(kid, uid, text(name), blob(pk) or b"", sealed is not None, retired is not None,
                           blob(pin), blob(endorsement), endorsed_root)
    return keys


def check_pins(keys: dict[int, KeyRow], anchor: Anchor, rep: Report) -> None:
    """FORMAT.md 8.2: every key in use is pinned to this vault's anchor (or, listed by a vault.upgrade
    anchor, awaits its owner's next login)."""
    info = rep.info["trust"]["pins"]
    for k in keys.values():
        if k.retired:
            continue
        info["keys"] += 1
        if signature_holds(k.public_key, pin_message(anchor, k.user_id, k.id, k.public_key), k.pin):
            info["pinned"] += 1
        elif k.pin is None and anchor.unpinned.get(k.id) == k.public_key:
            info["awaiting"] += 1
        elif k.pin is None:
            rep.error(f"user_keys id={k.id} (user {quoted(k.username)}): carries no pin: no user made it in this vault (planted?)")
        else:
            rep.error(f"user_keys id={k.id} (user {quoted(k.username)}): its pin names another vault or anchor event (copied?)")


def check_endorsements(keys: dict[int, KeyRow], anchor: Anchor, current: RootKey, rep: Report) -> None:
    """FORMAT.md 8.3: an endorsement that names the current generation must be its signature."""
    info = rep.info["trust"]["endorsements"]
    for k in keys.values():
        if k.retired or k.endorsement is None or k.endorsed_root != current.version:
            continue
        info["current"] += 1
        message = endorsement_message(anchor.vault_id, current.version, k.user_id, k.id, k.public_key)
        if signature_holds(current.public_key, message, k.endorsement):
            info["valid"] += 1
        else:
            rep.error(f"user_keys id={k.id} (user {quoted(k.username)}): its endorsement is not root key version {current.version}'s signature")


def check_grants(conn: sqlite3.Connection, keys: dict[int, KeyRow], anchor: Anchor, current: RootKey, now: int, rep: Report) -> None:
    """FORMAT.md 8.3 and 8.4: R is sealed only to the user's own current key, endorsed by the current
    root signing key, and each sealed grant carries that key's signature."""
    info = rep.info["trust"]["grants"]
    users = {}
    for uid, name, key_id, disabled, locked, expires in conn.execute(
        "SELECT id, username, key_id, disabled, locked, expires_at FROM users"
    ):
        users[uid] = (text(name), key_id, disabled, locked, expires)
    for uid, key_id, sealed, signature in conn.execute(
        "SELECT user_id, key_id, sealed_root, signature FROM grants ORDER BY user_id"
    ):
        if sealed is None:
            info["pending"] += 1
            continue
        info["sealed"] += 1
        where = f"grants user_id={uid}"
        if uid not in users:
            rep.error(f"{where}: a grant for no user")
            continue
        name, current_key, disabled, locked, expires = users[uid]
        where += f" (user {quoted(name)})"
        key = keys.get(key_id)
        if key is None:
            rep.error(f"{where}: sealed to key {key_id}, which does not exist")
            continue
        if key.user_id != uid or current_key != key_id or key.retired:
            rep.error(f"{where}: sealed to key {key_id}, which is not the user's current key")
            continue
        if not signature_holds(current.public_key, grant_message(anchor.vault_id, current.version, uid, key_id, bytes(sealed)), signature):
            rep.error(f"{where}: not signed by root key version {current.version} (replaced or planted outside Keyhold)")
            continue
        endorsed = key.endorsed_root == current.version and signature_holds(
            current.public_key, endorsement_message(anchor.vault_id, current.version, uid, key_id, key.public_key), key.endorsement
        )
        if not endorsed:
            rep.error(f"{where}: sealed to key {key_id}, which root key version {current.version} did not endorse")
            continue
        info["verified"] += 1
        if disabled or locked or (isinstance(expires, int) and expires <= now):
            state = "disabled" if disabled else "locked" if locked else "expired"
            rep.warn(f"{where}: the user is {state} but holds the root key (rotate the root key)")


def check_name_tags(conn: sqlite3.Connection, root: bytes, rep: Report) -> None:
    """FORMAT.md 8.5: each secret's name is bound to its row by a keyed hash only holders of R can make."""
    info = rep.info["trust"]["name_tags"]
    info["checked"] = True
    for sid, name, tag in conn.execute("SELECT id, name, name_tag FROM secrets ORDER BY id"):
        info["secrets"] += 1
        where = f"secrets id={sid} (name {quoted(text(name))})"
        if blob(tag) is None:
            rep.error(f"{where}: has no name tag")
        elif not hmac.compare_digest(name_tag(root, sid, bytes(name)), bytes(tag)):
            rep.error(f"{where}: the name does not match its tag (moved from another row, or renamed outside Keyhold)")
        else:
            info["matched"] += 1


def check_trust(conn: sqlite3.Connection, root: bytes | None, now: int, rep: Report) -> tuple[Anchor | None, RootKey | None]:
    """FORMAT.md section 8: everything in the tables a signature or keyed hash vouches for."""
    rep.info["trust"] = {
        "vault_id": None,
        "anchor": None,
        "root_keys": {"rows": 0, "chained": 0, "current": None, "recovery_matches": None},
        "pins": {"keys": 0, "pinned": 0, "awaiting": 0},
        "endorsements": {"current": 0, "valid": 0},
        "grants": {"sealed": 0, "verified": 0, "pending": 0},
        "name_tags": {"checked": False, "secrets": 0, "matched": 0},
    }
    missing = [t for t in ("users", "grants", "root_keys") if t not in tables(conn)]
    if missing:
        rep.error(f"format 2: no table {', '.join(missing)}")
        return None, None
    anchor = read_anchor(conn, rep)
    if anchor is None:
        return None, None
    current = check_root_keys(conn, anchor, root, rep)
    keys = load_keys(conn)
    check_pins(keys, anchor, rep)
    if current is not None:
        check_endorsements(keys, anchor, current, rep)
        check_grants(conn, keys, anchor, current, now, rep)
    # Tags are made with the genuine R only: with any other, every tag would fail and say nothing.
    if root is not None and rep.info["trust"]["root_keys"]["recovery_matches"]:
        check_name_tags(conn, root, rep)
    return anchor, current


# ------------------------------------------------------------ the audit log


def field(x: int | bytes | str | None) -> bytes:
    if x is None:
        b = b""
    elif isinstance(x, int):
        b = decimal(x).encode("ascii")
    elif isinstance(x, str):
        b = x.encode("utf-8")
    else:
        b = bytes(x)
    return len(b).to_bytes(4, "big") + b


def canonical(seq, at, actor_id, actor_name, actor_key_id, action, target, details) -> bytes:
    return AUDIT_DOMAIN + b"".join(
        field(x) for x in (seq, at, actor_id, actor_name, actor_key_id, action, target, details)
    )


def sorted_keys(obj) -> bool:
    if isinstance(obj, dict):
        keys = list(obj)
        return keys == sorted(keys) and all(sorted_keys(v) for v in obj.values())
    if isinstance(obj, list):
        return all(sorted_keys(v) for v in obj)
    return True


@dataclass
class Event:
    seq: int
    actor_id: int | None
    actor_name: str
    actor_key_id: int | None
    action: str
    target: str
    hash: bytes
    signature: bytes | None
    details: dict


@dataclass
class IntroducedKey:
    user_id: int
    public_key: bytes
    retired_at: int | None = None  # the event that retired it


@dataclass
class Authority:
    """FORMAT.md 8.6: who may sign, replayed from the events alone (never from the tables)."""

    vault_id: bytes = b""
    root_version: int = 0
    root_public_key: bytes = b""
    roles: dict[str, set[str]] = dataclass_field(default_factory=dict)  # role name (lower-case) -> permissions
    user_roles: dict[int, set[str]] = dataclass_field(default_factory=dict)
    introduced: set[int] = dataclass_field(default_factory=set)
    users_through: int = 0
    keys: dict[int, IntroducedKey] = dataclass_field(default_factory=dict)

    def is_introduced(self, user_id: int) -> bool:
        return user_id in self.introduced or user_id <= self.users_through

    def permissions(self, user_id: int) -> set[str]:
        held: set[str] = set()
        for role in self.user_roles.get(user_id, set()):
            held |= self.roles.get(role, set())
        return held

    def retire_keys_of(self, user_id: int, seq: int) -> None:
        for k in self.keys.values():
            if k.user_id == user_id and k.retired_at is None:
                k.retired_at = seq

    def start(self, e: Event) -> str | None:
        """The anchor's details are the starting state; the anchor itself is then signed by rule 4."""
        d = e.details
        vault_id, version = hex_bytes(d.get("vault_id"), 16), d_int(d, "root_version")
        root_pk = hex_bytes(d.get("root_public_key"), 32)
        if vault_id is None or version is None or root_pk is None:
            return "the anchor event lacks the vault id or the root key (vault_id, root_version, root_public_key)"
        self.vault_id, self.root_version, self.root_public_key = vault_id, version, root_pk
        for entry in d_strings(d, "roles") or []:
            name, eq, perms = entry.partition("=")
            if not eq:
                return f"the anchor event names a role badly: {quoted(entry)}"
            self.roles[name.lower()] = {p for p in perms.split(",") if p}
        if e.action == "vault.create":
            uid, kid, pk = d_int(d, "user_id"), d_int(d, "key_id"), hex_bytes(d.get("public_key"), 32)
            if uid is None or kid is None or pk is None:
                return "the vault.create anchor lacks the first administrator's key (user_id, key_id, public_key)"
            self.introduced.add(uid)
            self.user_roles[uid] = {"admin"}
            self.keys[kid] = IntroducedKey(uid, pk)
        else:
            self.users_through = d_int(d, "users_through") or 0
            for entry in d_strings(d, "users") or []:
                uid, colon, roles = entry.partition(":")
                if not colon or not uid.isdigit() or ":" in roles:
                    return f"the vault.upgrade anchor names a user badly: {quoted(entry)}"
                self.user_roles[int(uid)] = {r.lower() for r in roles.split(",") if r}
            for entry in d_strings(d, "keys") or []:
                k = parse_snapshot_key(entry)
                if k is None:
                    return f"the vault.upgrade anchor names a key badly: {quoted(entry)}"
                self.keys[k[0]] = IntroducedKey(k[1], k[2])
        return self.signature_problem(e)

    def signature_problem(self, e: Event) -> str | None:
        """Rule 4: an introduced key, not retired, of the actor, whose signature verifies."""
        kid = e.actor_key_id
        key = self.keys.get(kid) if kid is not None else None
        if key is None:
            return f"signed by user_keys id={kid}, which no entitled event introduced"
        if key.retired_at is not None:
            return f"signed by user_keys id={kid} after it was retired (by event {key.retired_at})"
        if key.user_id != e.actor_id:
            return (f"signed by user_keys id={kid} of user {key.user_id} for actor_id={e.actor_id} "
                    "(a key signs only for its own user)")
        if not signature_holds(key.public_key, e.hash, e.signature):
            return f"signature does not verify under user_keys id={kid} (the public key the log introduced)"
        return None

    def apply(self, e: Event) -> str | None:
        """Rules 2 to 5 for a signed event after the anchor; its effects only when it passes."""
        d = e.details
        if e.action == "vault.recover":
            uid, kid, pk = d_int(d, "user_id"), d_int(d, "key_id"), hex_bytes(d.get("public_key"), 32)
            proof = hex_bytes(d.get("recovery_signature"), 64)
            if uid is None or kid is None or pk is None or proof is None or not signature_holds(
                self.root_public_key, recover_message(self.vault_id, uid, kid, pk), proof
            ):
                return f"vault.recover without a valid proof by root key version {self.root_version} (recovery_signature)"
            if e.actor_key_id != kid:
                return f"vault.recover signed by user_keys id={e.actor_key_id}, not by the key it introduces (id={kid})"
            if not signature_holds(pk, e.hash, e.signature):
                return f"signature does not verify under user_keys id={kid} (the key the event introduces)"
            self.retire_keys_of(uid, e.seq)
            self.keys[kid] = IntroducedKey(uid, pk)
            self.introduced.add(uid)
            return None
        if e.action == "login" and d.get("key_pair") == "created":
            uid, kid, pk = d_int(d, "user_id"), d_int(d, "key_id"), hex_bytes(d.get("public_key"), 32)
            if uid is None or kid is None or pk is None or e.actor_id != uid or e.actor_key_id != kid:
                return "a first login that does not name its new key (user_id, key_id, public_key, the actor and the signing key)"
            if not self.is_introduced(uid):
                return f"first login of user {uid}, whom no entitled event introduced"
            held = [i for i, k in self.keys.items() if k.user_id == uid and k.retired_at is None]
            if held:
                return f"first login of user {uid}, who already holds user_keys id={held[0]}"
            if not signature_holds(pk, e.hash, e.signature):
                return f"signature does not verify under user_keys id={kid} (the key the event introduces)"
            self.keys[kid] = IntroducedKey(uid, pk)
            return None
        problem = self.signature_problem(e)
        return problem if problem else self.effects(e)

    def effects(self, e: Event) -> str | None:
        """Rule 5: what the event changes, each change needing a permission the actor held."""
        d, actor = e.details, e.actor_id
        if actor is None:
            return None
        held = self.permissions(actor)

        def need(*perms: str) -> str | None:
            for p in perms:
                if p not in held:
                    return f"{e.action} by {quoted(e.actor_name)}, who did not hold {p} at the time"
            return None

        def new_key(user_id: int) -> str | None:
            kid, pk = d_int(d, "key_id"), hex_bytes(d.get("public_key"), 32)
            if kid is None or pk is None:
                return f"{e.action} does not name the key it introduces (key_id, public_key)"
            self.keys[kid] = IntroducedKey(user_id, pk)
            return None

        def role_name() -> str:
            return e.target[len("role:"):].lower() if e.target.startswith("role:") else ""

        a = e.action
        if a == "user.create":
            uid = d_int(d, "user_id")
            if uid is None:
                return "user.create does not name the user (user_id)"
            roles = {r.lower() for r in d_strings(d, "roles") or []}
            problem = need("users.write", *(["roles.manage"] if roles else []))
            if problem:
                return problem
            self.introduced.add(uid)
            self.user_roles[uid] = roles
            return new_key(uid)
        if a == "user.import":
            roles = {r.lower() for r in d_strings(d, "roles") or []}
            problem = need("users.write", *(["roles.manage"] if roles else []))
            if problem:
                return problem
            ids = []
            for run in d_strings(d, "user_ids") or []:
                first, _, last = run.partition("-")
                last = last or first
                if not (first.isdigit() and last.isdigit()) or not 0 <= int(last) - int(first) < MAX_ID_RUN:
                    return f"user.import names its users badly: {quoted(run)}"
                ids.append(range(int(first), int(last) + 1))
            for run in ids:
                for uid in run:
                    self.introduced.add(uid)
                    self.user_roles[uid] = set(roles)
            # Roles of single entries: "<user id>:<role>,<role>".
            for entry in d_strings(d, "user_roles") or []:
                uid, sep, names = entry.partition(":")
                if not sep or not uid.isdigit() or int(uid) not in self.introduced:
                    return f"user.import names an account's roles badly: {quoted(entry)}"
                own = {r.lower() for r in names.split(",") if r}
                if own:
                    problem = need("roles.manage")
                    if problem:
                        return problem
                self.user_roles[int(uid)] |= own
            return None
        if a == "user.reset-password":
            problem = need("users.write")
            if problem:
                return problem
            uid = d_int(d, "user_id")
            if uid is None:
                return "user.reset-password does not name the user (user_id)"
            self.retire_keys_of(uid, e.seq)
            return new_key(uid)
        if a == "user.delete":
            problem = need("users.write")
            if problem:
                return problem
            uid = d_int(d, "user_id")
            if uid is None:
                return "user.delete does not name the user (user_id)"
            self.retire_keys_of(uid, e.seq)
            self.user_roles.pop(uid, None)
            self.introduced.discard(uid)
            return None
        if a in ("user.grant-role", "user.revoke-role"):
            problem = need("roles.manage")
            if problem:
                return problem
            uid, role = d_int(d, "user_id"), d_str(d, "role")
            if uid is None or role is None:
                return f"{a} does not name the user and role (user_id, role)"
            if a == "user.grant-role":
                self.user_roles.setdefault(uid, set()).add(role.lower())
            else:
                self.user_roles.get(uid, set()).discard(role.lower())
            return None
        if a in ("role.create", "role.edit"):
            problem = need("roles.manage")
            if problem:
                return problem
            perms = d_strings(d, "permissions")
            if perms is not None:
                beyond = sorted(set(perms) - held)
                if beyond:
                    return f"{a} gave permissions {quoted(e.actor_name)} did not hold ({', '.join(beyond)})"
                self.roles[role_name()] = set(perms)
            elif a == "role.create":
                self.roles[role_name()] = set()
            return None
        if a == "role.delete":
            problem = need("roles.manage")
            if problem:
                return problem
            self.roles.pop(role_name(), None)
            return None
        if a in ("key.approve", "vault.restore"):
            return need("keys.manage")
        if a == "key.rotate-root":
            problem = need("keys.manage")
            if problem:
                return problem
            version, pk = d_int(d, "root_version"), hex_bytes(d.get("root_public_key"), 32)
            link = hex_bytes(d.get("root_link"), 64)
            if (
                version != self.root_version + 1
                or pk is None
                or link is None
                or not signature_holds(self.root_public_key, root_link_message(self.vault_id, version, pk), link)
            ):
                return f"key.rotate-root whose new root key root key version {self.root_version} did not sign (root_link)"
            self.root_version, self.root_public_key = version, pk
            return None
        if a in ANCHOR_ACTIONS:
            return f"a second anchor event ({a} after the anchor)"
        return None


@dataclass
class AuditResult:
    hashes: dict[int, bytes]
    # The replay's state at the end of the log (format 2, the chain unbroken), else None.
    authority: Authority | None


def legacy_problem(actor_key_id, h: bytes, sig, public: dict[int, bytes]) -> str | None:
    """Format 1's rule (and format 2's before the anchor): a signature by a key the vault holds."""
    if actor_key_id is None:
        return "signed, but actor_key_id is NULL"
    if actor_key_id not in public:
        return f"signing key user_keys id={actor_key_id} does not exist"
    if not signature_holds(public[actor_key_id], h, sig):
        return f"signature does not verify under user_keys id={actor_key_id}"
    return None


def check_audit(conn: sqlite3.Connection, fmt: int, anchor_seq: int | None, rep: Report) -> AuditResult:
    """FORMAT.md sections 6 and 8.6. Names the first failing event; a broken chain ends the walk."""
    public: dict[int, bytes] = {}
    for kid, pk in conn.execute("SELECT id, public_key FROM user_keys"):
        public[kid] = pk
    a = rep.info["audit"]
    a["anchor"] = anchor_seq
    hashes: dict[int, bytes] = {}
    authority = Authority()
    started = False
    chain_broken = False
    prev_seq = 0
    prev_hash = ZERO_HASH

    def fail(seq: int, reason: str) -> None:
        if a["first_failure"] is None:
            a["first_failure"] = seq
            rep.error(f"audit event seq={seq}: {reason}")

    cur = conn.execute(
        "SELECT seq, at, actor_id, actor_name, actor_key_id, action, target, details,"
        " prev_hash, hash, signature FROM audit_events ORDER BY seq"
    )
    for row in cur:
        seq, at, actor_id, actor_name, actor_key_id, action, target, details, ph, h, sig = row
        a["events"] += 1
        hashes[seq] = h
        a["last"] = f"{seq}:{bytes(h).hex()}" if isinstance(h, (bytes, bytearray)) else f"{seq}:"
        if chain_broken:
            continue
        # The chain: sequence, link and hash.
        reasons = []
        if seq != prev_seq + 1:
            if prev_seq == 0:
                reasons.append(f"the log starts at seq {seq}, not 1")
            elif seq > prev_seq + 1:
                missing = f"event {prev_seq + 1}" if seq == prev_seq + 2 else f"events {prev_seq + 1} to {seq - 1}"
                reasons.append(f"follows seq {prev_seq}: {missing} missing")
            else:
                reasons.append(f"follows seq {prev_seq}")
        for col, val in (("at", at), ("actor_id", actor_id), ("actor_key_id", actor_key_id)):
            if val is not None and (not isinstance(val, int) or val < 0):
                reasons.append(f"{col} is not a non-negative integer")
        if not isinstance(ph, (bytes, bytearray)) or bytes(ph) != prev_hash:
            reasons.append(
                "prev_hash is not 32 zero bytes" if prev_seq == 0 else f"prev_hash is not the hash of seq {prev_seq}"
            )
        if isinstance(ph, (bytes, bytearray)) and isinstance(h, (bytes, bytearray)):
            try:
                recomputed = blake2b256(
                    bytes(ph) + canonical(seq, at, actor_id, actor_name, actor_key_id, action, target, details)
                )
            except (TypeError, ValueError):
                recomputed = None
            if recomputed is None or not hmac.compare_digest(recomputed, bytes(h)):
                reasons.append("hash does not recompute (the event was altered)")
        else:
            reasons.append("hash or prev_hash is not a blob")
        if reasons:
            chain_broken = True
            fail(seq, "; ".join(reasons))
            continue

        # Who signed: rule 1 for unsigned events; then format 1's rule before the anchor, 8.6 from it on.
        problem = None
        event = Event(seq, actor_id, text(actor_name), actor_key_id, text(action), text(target), bytes(h), blob(sig),
                      parse_details(details))
        if sig is None:
            if bytes(action or b"") not in UNSIGNED_ACTIONS:
                problem = f"unsigned, and action {quoted(text(action))} must be signed"
            elif actor_key_id is not None:
                problem = "unsigned, but actor_key_id is set"
        elif fmt >= 2 and anchor_seq is not None and seq == anchor_seq:
            if event.action not in ANCHOR_ACTIONS:
                problem = f"the vault names it as its anchor, but it is a {quoted(event.action)} event"
                chain_broken = True
            else:
                started = True
                problem = authority.start(event)
        elif fmt >= 2 and anchor_seq is not None and seq > anchor_seq:
            problem = authority.apply(event)
        else:
            problem = legacy_problem(actor_key_id, bytes(h), sig, public)
        prev_seq, prev_hash = seq, bytes(h)
        if problem:
            fail(seq, problem)
            continue
        if a["first_failure"] is not None:
            continue
        if sig is None:
            a["unsigned"] += 1
        parsed = None
        try:
            parsed = json.loads(bytes(details).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, TypeError):
            rep.warn(f"audit event seq={seq}: details is not JSON")
        if parsed is not None:
            if not isinstance(parsed, dict):
                rep.warn(f"audit event seq={seq}: details is not a JSON object")
            elif not sorted_keys(parsed):
                rep.warn(f"audit event seq={seq}: details keys are not in code point order")
        a["verified"] += 1
        a["head"] = a["last"]

    if fmt >= 2 and anchor_seq is not None and not started and a["first_failure"] is None:
        a["first_failure"] = anchor_seq
        rep.error(f"audit event seq={anchor_seq}: the anchor event the vault names is missing from the log")
    a["authority"] = fmt >= 2 and started
    return AuditResult(hashes, authority if fmt >= 2 and started and not chain_broken else None)


def check_planted(conn: sqlite3.Connection, authority: Authority, rep: Report) -> None:
    """Like Keyhold's `check`: keys in use and users that no event of the replay introduced."""
    planted = {"keys": [], "users": []}
    for kid, uid, name, pk in conn.execute(
        "SELECT id, user_id, username, public_key FROM user_keys"
        " WHERE retired_at IS NULL AND sealed_secret_key IS NOT NULL ORDER BY id"
    ):
        known = authority.keys.get(kid)
        if known is None or known.user_id != uid or known.public_key != blob(pk) or known.retired_at is not None:
            planted["keys"].append(kid)
            rep.error(f"user_keys id={kid} (user {quoted(text(name))}): no signed audit event introduced this key (planted outside Keyhold?)")
    for uid, name in conn.execute("SELECT id, username FROM users ORDER BY id"):
        if not authority.is_introduced(uid):
            planted["users"].append(uid)
            rep.error(f"users id={uid} ({quoted(text(name))}): no signed audit event introduced this user (planted outside Keyhold?)")
    rep.info["audit"]["planted"] = planted


def check_log_root(authority: Authority, current: RootKey, rep: Report) -> None:
    """The log's root key (the anchor's, then each key.rotate-root) must be the tables' current one:
    a cut tail that took a rotation with it is noticed without a saved head."""
    if authority.root_version != current.version or authority.root_public_key != current.public_key:
        rep.error(
            f"audit: the log's root key is version {authority.root_version}, but root_keys' current one is "
            f"version {current.version} (a key.rotate-root event is missing from the log?)"
        )

def check_head(head: str, hashes: dict[int, bytes], rep: Report) -> None:
    seq_text, _, hex_text = head.partition(":")
    if not seq_text.isdigit() or len(hex_text) != 64:
        raise UsageError("--head: expected SEQ:HEX with a 64-digit hex hash")
    try:
        want = bytes.fromhex(hex_text)
    except ValueError:
        raise UsageError("--head: expected SEQ:HEX with a 64-digit hex hash") from None
    seq = int(seq_text)
    if seq not in hashes:
        last = max(hashes) if hashes else 0
        rep.error(f"head {seq}: no event with seq {seq} (the log ends at seq {last}): events were removed")
        rep.info["head_check"] = False
    elif not hmac.compare_digest(bytes(hashes[seq]), want):
        rep.error(f"head {seq}: event {seq} has a different hash: the log was rewritten")
        rep.info["head_check"] = False
    else:
        rep.info["head_check"] = True


# ------------------------------------------------------------------ main


def now_ms() -> int:
    return int(time.time() * 1000)


def run(args: argparse.Namespace, recovery: bytes) -> Report:
    rep = Report()
    conn = connect(args.db)
    try:
        fmt = check_header(conn, args.db, rep)
        rep.info["format"] = fmt
        if fmt is None:
            return rep
        root = check_vault(conn, recovery, fmt, rep)
        current: RootKey | None = None
        anchor_seq: int | None = None
        if fmt >= 2:
            anchor, current = check_trust(conn, root, now_ms(), rep)
            # The walk starts the replay at the event the vault names, even when it did not check out above.
            column = (conn.execute("SELECT anchor_seq FROM vault").fetchone() or (None,))[0]
            anchor_seq = anchor.seq if anchor else column if isinstance(column, int) and column >= 1 else None
        keys, present = check_data_keys(conn, root, rep)
        opened = check_secrets(conn, keys, present, root is not None, rep)
        if args.expect:
            not_opened: dict[str, set[int]] = {}
            for sid, version, name in conn.execute(
                "SELECT v.secret_id, v.version, s.name FROM secret_versions v JOIN secrets s ON s.id = v.secret_id"
            ):
                n = text(name)
                if version not in opened.get(n, {}):
                    not_opened.setdefault(n, set()).add(version)
            check_expect(args.expect, opened, not_opened, rep)
        audit = check_audit(conn, fmt, anchor_seq, rep)
        if audit.authority is not None:
            check_planted(conn, audit.authority, rep)
            if current is not None and rep.info["audit"]["first_failure"] is None:
                check_log_root(audit.authority, current, rep)
        if args.head:
            check_head(args.head, audit.hashes, rep)
    finally:
        conn.close()
    return rep


def trust_lines(i: dict) -> list[str]:
    t = i["trust"]
    lines = []
    if t["anchor"] is None:
        return ["anchor: NOT found (section 8 not checked)"]
    lines.append(f"anchor: event {t['anchor']['seq']} ({t['anchor']['action']}), vault id {t['vault_id']}")
    r = t["root_keys"]
    line = f"root keys: {r['chained']} of {r['rows']} chained from the anchor's"
    if r["current"] is not None:
        line += f", current version {r['current']}"
    if r["recovery_matches"] is True:
        line += "; the recovery key's root key is that generation's"
    elif r["recovery_matches"] is False:
        line += "; the recovery key's root key is NOT that generation's"
    lines.append(line)
    p = t["pins"]
    line = f"pins: {p['pinned']} of {p['keys']} keys in use pinned to this vault"
    if p["awaiting"]:
        line += f" ({p['awaiting']} listed by the upgrade, to be pinned at their owner's next login)"
    lines.append(line)
    g = t["grants"]
    line = f"grants: {g['verified']} of {g['sealed']} sealed grants signed by the current root key, to keys it endorsed"
    if g["pending"]:
        line += f"; {g['pending']} pending"
    lines.append(line)
    n = t["name_tags"]
    if n["checked"]:
        lines.append(f"name tags: {n['matched']} of {n['secrets']} secrets match their names")
    else:
        lines.append("name tags: not checked (no genuine root key)")
    return lines


def summary_lines(rep: Report) -> list[str]:
    i = rep.info
    lines = []
    fmt = i["format"]
    if fmt not in FORMATS:
        return lines
    opened = "the recovery key opens the root key" if i["root_key"] else "root key NOT opened"
    if fmt == 1:
        lines.append(f"vault: format 1, {opened}")
    else:
        lines.append(f"vault: format {fmt} (application_id KHLD, user_version {fmt}), {opened}")
        lines += trust_lines(i)
    d = i["data_keys"]
    lines.append(f"data keys: {d['opened']} of {d['rows']} opened" + (f", active {d['active']}" if d["active"] else ""))
    s = i["secrets"]
    line = f"secrets: {s['opened']} versions of {s['secrets_opened']} secrets opened"
    extra = []
    if s["shredded"]:
        extra.append(f"{s['shredded']} shredded (data key destroyed)")
    if s["not_opened"]:
        extra.append(f"{s['not_opened']} did not open")
    if extra:
        line += " (" + ", ".join(extra) + ")"
    lines.append(line)
    if i["expect"] is not None:
        e = i["expect"]
        lines.append(f"expect: {e['matched']} versions match" + (f", {e['mismatched']} not matched" if e["mismatched"] else ""))
    a = i["audit"]
    if a["first_failure"] is None:
        line = f"audit: {a['verified']} events verified"
        line += f", head {a['head']}" if a["head"] else ", no events"
    else:
        line = f"audit: {a['verified']} of {a['events']} events verified, first failure at seq {a['first_failure']}"
        if a["last"]:
            line += f"; the log ends at seq {a['last'].split(':')[0]} (no verified head)"
    lines.append(line)
    if fmt >= 2 and a["authority"]:
        line = f"authority: signers replayed from the anchor at seq {a['anchor']}"
        planted = a["planted"]
        if planted is None:
            line += "; planted rows not checked (the chain is broken)"
        elif planted["keys"] or planted["users"]:
            k, u = len(planted["keys"]), len(planted["users"])
            line += f"; {k} key{'s' if k != 1 else ''} and {u} user{'s' if u != 1 else ''} no event introduced"
        else:
            line += "; every key in use and every user was introduced by the log"
        lines.append(line)
    if i["head_check"] is not None:
        lines.append("head: " + ("the given head is in the log" if i["head_check"] else "the given head is NOT in the log"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keyhold_verify.py",
        description="Verify a Keyhold vault (format 1, 2 or 3) per docs/FORMAT.md. The recovery key is read from standard input.",
    )
    parser.add_argument("db", metavar="DB", help="the vault database file")
    parser.add_argument("--expect", metavar="FILE", help='JSON {"secrets": {"<name>": {"<version>": "<base64>"}}}')
    parser.add_argument("--head", metavar="SEQ:HEX", help="a head printed earlier, which must still be in the log")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def fail(code: int, msg: str) -> int:
        if args.json:
            print(json.dumps({"ok": False, "errors": [msg], "warnings": []}))
        else:
            print(msg, file=sys.stderr)
        return code

    try:
        recovery = parse_recovery_key(read_recovery_key())
    except RecoveryKeyError as e:
        return fail(EXIT_RECOVERY_KEY, str(e))
    except (EOFError, KeyboardInterrupt):
        return fail(EXIT_RECOVERY_KEY, "recovery key: none given on standard input")

    try:
        rep = run(args, recovery)
    except UsageError as e:
        return fail(EXIT_USAGE, str(e))
    except sqlite3.Error as e:
        return fail(EXIT_USAGE, f"{args.db}: cannot read the database: {e}")

    ok = not rep.errors
    if args.json:
        out = dict(rep.info)
        out["ok"] = ok
        out["errors"] = rep.errors
        out["warnings"] = rep.warnings
        print(json.dumps(out, ensure_ascii=False))
    else:
        for line in summary_lines(rep):
            print(line)
        for w in rep.warnings:
            print(f"warning: {w}")
        for e in rep.errors:
            print(f"error: {e}")
        print("OK" if ok else f"FAILED: {len(rep.errors)} error{'s' if len(rep.errors) != 1 else ''}")
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
