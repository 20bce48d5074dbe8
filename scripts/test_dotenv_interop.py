"""Keyhold's .env import and export against python-dotenv itself, through the real binary.

Import: every input of python-dotenv's own test suite (scripts/dotenv/upstream_cases.json)
and Keyhold's cases (keyhold_cases.json) is written to a file, read by python-dotenv the
way Flask reads it (`dotenv_values(path, encoding="utf-8")`) and imported by `keyhold import
--format dotenv`: the same keys with the same values byte for byte, the lines python-dotenv
cannot parse named, a key given twice reported; `${...}` refused by default, kept by
--literal, expanded by --expand exactly as python-dotenv expands it (in an empty
environment), or refused when it names a key not defined earlier in the file.

Export: hostile values are stored with `secret set` and written with `keyhold export
--format dotenv`; python-dotenv reads each back byte for byte, with interpolation on and
off; values it cannot carry stop the export, naming the secret, and nothing is written.

The binary: KEYHOLD_BIN, else .build/debug/keyhold. Vaults use the cheap test KDF.
The python-dotenv version is pinned in scripts/requirements-test.txt.
"""

import io
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from dotenv.variables import Variable, parse_variables
from dotenv.version import __version__ as DOTENV_VERSION

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KEYHOLD = os.environ.get("KEYHOLD_BIN") or str(REPO / ".build" / "debug" / "keyhold")
PASSWORD = "mossy granite under the bridge"
SKIPS = "python-dotenv skips this line"


def load_cases():
    cases = []
    for name in ("upstream_cases.json", "keyhold_cases.json"):
        data = json.loads((HERE / "dotenv" / name).read_text(encoding="utf-8"))
        for c in data["cases"]:
            raw = bytes.fromhex(c["input_hex"]) if "input_hex" in c else c["input"].encode("utf-8")
            cases.append((f"{name.split('_')[0]}:{c.get('from') or c.get('why')}", raw))
    return cases


CASES = load_cases()


def test_pinned_version():
    pinned = [line for line in (HERE / "requirements-test.txt").read_text().splitlines() if line.startswith("python-dotenv==")]
    assert pinned == [f"python-dotenv=={DOTENV_VERSION}"]
    # The version the code and docs name is the one tested.
    assert f'pythonDotenvVersion = "{DOTENV_VERSION}"' in (REPO / "Sources/KeyholdFormats/DotEnv.swift").read_text()
    assert f"python-dotenv {DOTENV_VERSION}" in (REPO / "docs/CLI.md").read_text()


class Vault:
    """A vault made by `keyhold init` in a private directory, run as its administrator."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.chmod(0o700)
        self.db = self.dir / "keyhold.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEYHOLD_")}
        self.env.update(KEYHOLD_DB=str(self.db), KEYHOLD_INSECURE_TEST_KDF="1")
        r = self.run(["init"], stdin=f"owner\n{PASSWORD}\n", login=False)
        assert r.returncode == 0, r.stderr
        self.env.update(KEYHOLD_USER="owner", KEYHOLD_PASSWORD=PASSWORD)

    def run(self, args, stdin=b"", login=True):
        if isinstance(stdin, str):
            stdin = stdin.encode()
        r = subprocess.run([KEYHOLD, *args], input=stdin, capture_output=True, env=self.env)
        r.stdout_text = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        return r

    def values(self, prefix=""):
        """Every secret under `prefix` (left out of the names), as bytes, from `export --format json`."""
        r = self.run(["export", "--format", "json", "--yes", "--prefix", prefix, "-"])
        if r.returncode == 67:  # nothing under the prefix
            return {}
        assert r.returncode == 0, r.stderr
        out = {}
        for s in json.loads(r.stdout)["secrets"]:
            out[s["name"]] = s["value"].encode("utf-8") if "value" in s else __import__("base64").b64decode(s["value_base64"])
        return out

    def set(self, name, value):
        f = self.dir / "value"
        f.write_bytes(value)
        f.chmod(0o600)
        r = self.run(["secret", "set", name, "--from-file", str(f)])
        f.unlink()
        assert r.returncode == 0, f"secret set {name}: {r.stderr}"


# ---------------------------------------------------------------------------------------
# What python-dotenv makes of a file


class Reference:
    """python-dotenv's reading of one file: its statements (with the line each starts on,
    after leading white space, as Keyhold names them), its values with interpolation off,
    and with interpolation on in an empty environment."""

    def __init__(self, path):
        self.unreadable = False
        try:
            with open(path, encoding="utf-8") as f:  # as DotEnv._get_stream opens it
                text = f.read()
        except UnicodeDecodeError:
            self.unreadable = True
            return
        self.bindings, self.errors = [], []
        for b in parse_stream(io.StringIO(text)):
            s = b.original.string
            lead = s[: len(s) - len(s.lstrip())]
            line = b.original.line + lead.count("\n")
            if b.error:
                self.errors.append(line)
            elif b.key is not None:
                self.bindings.append((b.key, b.value, line))
        warnings = []
        handler = logging.Handler()
        handler.emit = lambda record: warnings.append(record.getMessage())
        logger = logging.getLogger("dotenv.main")
        logger.addHandler(handler)
        try:
            with mock.patch.dict(os.environ, {}, clear=True):
                self.literal = dotenv_values(path, interpolate=False, encoding="utf-8")
                self.expanded = dotenv_values(path, interpolate=True, encoding="utf-8")
        finally:
            logger.removeHandler(handler)
        assert len([w for w in warnings if "could not parse" in w]) == len(self.errors) * 2
        self.last_line = {k: line for k, _, line in self.bindings}
        self.lines = {}
        for k, _, line in self.bindings:
            self.lines.setdefault(k, []).append(line)
        self.has_variables = any(
            v is not None and any(isinstance(a, Variable) for a in parse_variables(v)) for _, v, _ in self.bindings)
        # Which keys --expand must refuse: a ${NAME} (NAME not empty) whose NAME is not bound
        # earlier in the file, or is bound to a value that was itself refused.
        self.unresolvable_lines = set()
        state = {}
        for k, v, line in self.bindings:
            if v is None:
                state[k] = True
                continue
            ok = all(a.name == "" or state.get(a.name, False)
                     for a in parse_variables(v) if isinstance(a, Variable))
            if not ok:
                self.unresolvable_lines.add(line)
            state[k] = ok


# ---------------------------------------------------------------------------------------
# Import


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Imports every case three ways into one vault (each under its own prefix), then reads the vault once."""
    vault = Vault(tmp_path_factory.mktemp("dotenv-import"))
    results = []
    for i, (label, raw) in enumerate(CASES):
        path = vault.dir / f"case{i}.env"
        path.write_bytes(raw)
        ref = Reference(path)
        plain = vault.run(["import", "--format", "dotenv", "--prefix", f"d{i}/", str(path)])
        literal = vault.run(["import", "--format", "dotenv", "--literal", "--skip-bad", "--json", "--prefix", f"l{i}/", str(path)])
        expand = vault.run(["import", "--format", "dotenv", "--expand", "--skip-bad", "--json", "--prefix", f"e{i}/", str(path)])
        results.append((label, raw, ref, plain, literal, expand))
    everything = vault.values()
    by_prefix = {}
    for name, value in everything.items():
        prefix, rest = name.split("/", 1)
        by_prefix.setdefault(prefix, {})[rest] = value
    return results, by_prefix


def check_import(ref, run, stored, values, refused_lines=()):
    """One --skip-bad --json import against python-dotenv's `values` for the same file."""
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    bad = {}
    for b in report["bad"]:
        assert b["origin"].startswith("line "), b
        bad.setdefault(int(b["origin"][5:]), []).append(b["message"])
    skipped = sorted(line for line, ms in bad.items() for m in ms if m.endswith(SKIPS))
    assert skipped == sorted(ref.errors), "the lines python-dotenv cannot parse"
    expected = {k: v.encode("utf-8") for k, v in values.items() if v is not None}
    for key, value in expected.items():
        line = ref.last_line[key]
        if key in stored:
            assert stored[key] == value, f"{key!r}: {len(stored[key])} bytes imported, python-dotenv gives {len(value)}"
            assert line not in refused_lines
        else:
            # Not imported: only for a Keyhold rule (name, empty value) or a refused ${...}, named at its line.
            assert line in bad, f"{key!r} (line {line}) is neither imported nor named: {report}"
    assert set(stored) <= set(expected), "imported a key python-dotenv gives no value"
    for line in refused_lines:
        assert any("${...}" in m for m in bad.get(line, [])), f"line {line} should be refused: {report}"
    notes = {int(n["origin"][5:]) for n in report["notes"]}
    for key, lines in ref.lines.items():
        if len(lines) > 1:
            assert lines[-1] in notes, f"{key!r} is given {len(lines)} times; the report should say so"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_import_matches_python_dotenv(imported, index):
    results, stored = imported
    label, raw, ref, plain, literal, expand = results[index]
    if ref.unreadable:
        for r in (plain, literal, expand):
            assert r.returncode == 64, r.stderr
            assert "not UTF-8" in r.stderr and "nothing was imported" in r.stderr
        assert not any(p in stored for p in (f"d{index}", f"l{index}", f"e{index}"))
        return
    check_import(ref, literal, stored.get(f"l{index}", {}), ref.literal)
    check_import(ref, expand, stored.get(f"e{index}", {}), ref.expanded, refused_lines=ref.unresolvable_lines)
    # Without --literal or --expand: ${...} stops the import, naming the choices; else it is --literal's import.
    if ref.has_variables:
        assert plain.returncode == 64, plain.stderr
        assert "--expand" in plain.stderr and "--literal" in plain.stderr
    if plain.returncode == 0:
        assert stored.get(f"d{index}", {}) == stored.get(f"l{index}", {})
        assert not ref.errors
    else:
        assert plain.returncode == 64, plain.stderr
        assert "nothing was imported" in plain.stderr
        assert f"d{index}" not in stored


def test_the_cases_cover_what_they_should(imported):
    """The differential is only as good as its inputs: they include parse errors, repeats, variables."""
    results, _ = imported
    refs = [r[2] for r in results if not r[2].unreadable]
    assert sum(len(r.errors) for r in refs) >= 10
    assert sum(r.has_variables for r in refs) >= 15
    assert sum(any(len(v) > 1 for v in r.lines.values()) for r in refs) >= 5
    assert any(r.unresolvable_lines for r in refs)
    assert len(results) > 200


# ---------------------------------------------------------------------------------------
# Export

HOSTILE = [
    b"plain",
    b"it's",
    b'say "hi"',
    b"'both' \"kinds\"",
    b"C:\\Users\\",
    b"ends in two \\\\",
    b"\\",
    b"\\'",
    b"\\\"",
    b"a\\nb",
    b"tok$en",
    b"$",
    b"$$ $HOME $ {X}",
    b"# not a comment",
    b"x #y",
    b"x\t#y",
    b"multi\nline",
    b"crlf\r\nline",
    b"lone\rcr",
    b"\n",
    b"trailing newline\n",
    b"\ttabs\t",
    b" spaced ",
    "\u00a0nbsp\u00a0".encode(),
    "\u2028line separator\u2029".encode(),
    "\u3000ideographic\u3000".encode(),
    b"\x0cform feed\x0b",
    b"\x07\x08\x1b[31m\x7f",
    b"\x1c\x1d\x1e\x1f",
    "\u0085next line".encode(),
    "\ufeffbom".encode(),
    "caf\u00e9 \u2713 \U0001F511".encode(),
    b"=starts with equals",
    b"'starts with a quote",
    b"\"starts with a double quote",
    b"multi\nline ending \\",
    b" spaced ending \\",
    b"x #y \\",
    b"export X=1",
    (b"mixed 'single' \"double\" \\ $ # \t\r\n\xc2\xa0" * 40) + b"\\",
]

WITH_VARIABLES = [
    b"${X}",
    b"tok$en${HOME}x",
    b"${A:-default}",
    b"${}",
    b"${:-$}",
    b"$${X}}",
    b"${X\\}",
    b"pre ${X} mid ${Y:-z} post \\",
    b"quote ' and ${X} and \" and \\",
]


def read_back(path, interpolate):
    warnings = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("dotenv.main")
    logger.addHandler(handler)
    try:
        with mock.patch.dict(os.environ, {"X": "environment", "HOME": "/home/someone", "A": "a"}, clear=True):
            values = dotenv_values(path, interpolate=interpolate, encoding="utf-8")
    finally:
        logger.removeHandler(handler)
    assert not warnings, warnings
    return values


@pytest.fixture(scope="module")
def export_vault(tmp_path_factory):
    vault = Vault(tmp_path_factory.mktemp("dotenv-export"))
    for i, v in enumerate(HOSTILE):
        vault.set(f"plain/V{i:02d}", v)
    for i, v in enumerate(WITH_VARIABLES):
        vault.set(f"vars/W{i:02d}", v)
    vault.set("vars/PLAIN", b"also here \\")
    vault.set("nul/OK", b"fine")
    vault.set("nul/ZERO", b"a\x00b")
    vault.set("bytes/OK", b"fine")
    vault.set("bytes/LATIN1", b"caf\xe9")
    return vault


def exported(vault, prefix, *flags):
    dest = Path(tempfile.mkdtemp(dir=vault.dir)) / "exported.env"
    r = vault.run(["export", "--format", "dotenv", "--yes", "--prefix", prefix, *flags, str(dest)])
    return r, dest


@pytest.mark.parametrize("interpolate", [False, True])
def test_export_reads_back_byte_for_byte(export_vault, interpolate):
    r, dest = exported(export_vault, "plain/")
    assert r.returncode == 0, r.stderr
    got = read_back(dest, interpolate)
    assert sorted(got) == [f"V{i:02d}" for i in range(len(HOSTILE))], "every value, each on its own"
    for i, v in enumerate(HOSTILE):
        back = got[f"V{i:02d}"]
        assert back is not None and back.encode("utf-8") == v, f"V{i:02d}: {len(v)} bytes exported, python-dotenv reads {len((back or '').encode())}"


def test_export_of_variables_needs_a_choice(export_vault):
    r, dest = exported(export_vault, "vars/")
    assert r.returncode == 64, r.stderr
    assert "vars/W" in r.stderr and "--interpolate" in r.stderr and "--no-interpolate" in r.stderr
    assert not dest.exists(), "a refused export writes nothing"


@pytest.mark.parametrize("interpolate", [True, False])
def test_export_of_variables_reads_back_as_chosen(export_vault, interpolate):
    r, dest = exported(export_vault, "vars/", "--interpolate" if interpolate else "--no-interpolate")
    assert r.returncode == 0, r.stderr
    got = read_back(dest, interpolate)
    assert got["PLAIN"] == "also here \\"
    for i, v in enumerate(WITH_VARIABLES):
        back = got[f"W{i:02d}"]
        assert back is not None and back.encode("utf-8") == v, f"W{i:02d}: {len(v)} bytes exported, python-dotenv reads {len((back or '').encode())}"


@pytest.mark.parametrize("prefix,name", [("nul/", "nul/ZERO"), ("bytes/", "bytes/LATIN1")])
def test_export_refuses_what_python_dotenv_cannot_carry(export_vault, prefix, name):
    r, dest = exported(export_vault, prefix)
    assert r.returncode == 64, r.stderr
    assert name in r.stderr and "nothing was written" in r.stderr
    assert not dest.exists()
    out = export_vault.run(["export", "--format", "dotenv", "--yes", "--prefix", prefix, "-"])
    assert out.returncode == 64 and out.stdout == b"", "standard output gets nothing either"


def test_export_then_import_is_the_same(export_vault):
    """Keyhold reads its own export back as python-dotenv does (and --expand undoes --interpolate)."""
    r, dest = exported(export_vault, "plain/")
    assert r.returncode == 0, r.stderr
    back = export_vault.run(["import", "--format", "dotenv", "--prefix", "again/", str(dest)])
    assert back.returncode == 0, back.stderr
    assert export_vault.values("again/") == export_vault.values("plain/")
    r, dest = exported(export_vault, "vars/", "--interpolate")
    assert r.returncode == 0, r.stderr
    back = export_vault.run(["import", "--format", "dotenv", "--expand", "--prefix", "again-vars/", str(dest)])
    assert back.returncode == 0, back.stderr
    assert export_vault.values("again-vars/") == export_vault.values("vars/")
