#!/usr/bin/env python3
"""Verify a Keyhold vault from the outside, following docs/FORMAT.md alone.

Given only the database file and the recovery key, this program opens the
root key, every data key and every secret version, and walks the audit
chain, checking each hash and signature. It shares no code with Keyhold: it
is the proof that FORMAT.md says everything a reader needs.

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
database or --expect file); 3 the recovery key is malformed.

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
import urllib.parse

try:
    import nacl.bindings
    import nacl.exceptions
    import nacl.signing
except ImportError:  # pragma: no cover - environment problem
    sys.stderr.write("keyhold_verify: PyNaCl is required (pip install pynacl)\n")
    sys.exit(2)

FORMAT_VERSION = 1
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 13
NONCE_BYTES = 24
TAG_BYTES = 16
KEY_BYTES = 32
MAX_SECRET_BYTES = 65536
UNSIGNED_ACTIONS = (b"login.failed", b"login.refused")
AUDIT_DOMAIN = b"keyhold/audit/v1\x00"
ZERO_HASH = bytes(32)
# How many failing secret versions to try against the other rows' AADs, to
# say where a moved ciphertext belongs. Bounded: each try is one decrypt per
# row.
DIAGNOSE_LIMIT = 64

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RECOVERY_KEY = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2."""


class RecoveryKeyError(Exception):
    """The typed recovery key is malformed: exit 3. Never carries key text."""


# ---------------------------------------------------------------- helpers


def blake2b256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def decimal(n: int) -> str:
    return str(int(n))


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
            "root_key": False,
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
            "audit": {"events": 0, "verified": 0, "unsigned": 0, "head": None, "last": None, "first_failure": None},
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


def check_vault(conn: sqlite3.Connection, recovery: bytes, rep: Report) -> bytes | None:
    """vault row: format and recovery_sealed -> R."""
    rows = conn.execute("SELECT id, format, recovery_sealed FROM vault").fetchall()
    if len(rows) != 1:
        rep.error(f"vault: {len(rows)} rows, expected exactly 1")
        if not rows:
            return None
    _, fmt, sealed = rows[0]
    rep.info["format"] = fmt
    if fmt != FORMAT_VERSION:
        rep.error(f"vault: format {fmt!r}, this verifier reads format {FORMAT_VERSION} only")
        return None
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


def check_audit(conn: sqlite3.Connection, rep: Report) -> dict[int, bytes]:
    """FORMAT.md section 6. Stops at the first failing event. Returns {seq: stored hash}."""
    public: dict[int, bytes] = {}
    for kid, pk in conn.execute("SELECT id, public_key FROM user_keys"):
        public[kid] = pk
    a = rep.info["audit"]
    hashes: dict[int, bytes] = {}
    prev_seq = 0
    prev_hash = ZERO_HASH
    failed = False
    cur = conn.execute(
        "SELECT seq, at, actor_id, actor_name, actor_key_id, action, target, details,"
        " prev_hash, hash, signature FROM audit_events ORDER BY seq"
    )
    for row in cur:
        seq, at, actor_id, actor_name, actor_key_id, action, target, details, ph, h, sig = row
        a["events"] += 1
        hashes[seq] = h
        a["last"] = f"{seq}:{bytes(h).hex()}" if isinstance(h, (bytes, bytearray)) else f"{seq}:"
        if failed:
            continue
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
        if sig is None:
            if bytes(action or b"") not in UNSIGNED_ACTIONS:
                reasons.append(f"unsigned, and action {quoted(text(action))} must be signed")
            elif actor_key_id is not None:
                reasons.append("unsigned, but actor_key_id is set")
            else:
                a["unsigned"] += 1
        elif actor_key_id is None:
            reasons.append("signed, but actor_key_id is NULL")
        elif actor_key_id not in public:
            reasons.append(f"signing key user_keys id={actor_key_id} does not exist")
        else:
            pk = public[actor_key_id]
            try:
                nacl.signing.VerifyKey(bytes(pk)).verify(bytes(h), bytes(sig))
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError, TypeError, ValueError):
                reasons.append(f"signature does not verify under user_keys id={actor_key_id}")
        if reasons:
            failed = True
            a["first_failure"] = seq
            rep.error(f"audit event seq={seq}: " + "; ".join(reasons))
            continue
        try:
            parsed = json.loads(bytes(details).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            parsed = None
            rep.warn(f"audit event seq={seq}: details is not JSON")
        if parsed is not None:
            if not isinstance(parsed, dict):
                rep.warn(f"audit event seq={seq}: details is not a JSON object")
            elif not sorted_keys(parsed):
                rep.warn(f"audit event seq={seq}: details keys are not in code point order")
        a["verified"] += 1
        a["head"] = a["last"]
        prev_seq = seq
        prev_hash = bytes(h)
    return hashes


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


def run(args: argparse.Namespace, recovery: bytes) -> Report:
    rep = Report()
    conn = connect(args.db)
    try:
        root = check_vault(conn, recovery, rep)
        if rep.info["format"] != FORMAT_VERSION:
            return rep
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
        hashes = check_audit(conn, rep)
        if args.head:
            check_head(args.head, hashes, rep)
    finally:
        conn.close()
    return rep


def summary_lines(rep: Report) -> list[str]:
    i = rep.info
    lines = []
    if i["format"] != FORMAT_VERSION:
        return lines
    lines.append("vault: format 1, " + ("the recovery key opens the root key" if i["root_key"] else "root key NOT opened"))
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
        line += f"; the log ends at seq {a['last'].split(':')[0]} (no verified head)"
    lines.append(line)
    if i["head_check"] is not None:
        lines.append("head: " + ("the given head is in the log" if i["head_check"] else "the given head is NOT in the log"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keyhold_verify.py",
        description="Verify a Keyhold vault per docs/FORMAT.md. The recovery key is read from standard input.",
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
