"""Collects the .env inputs of python-dotenv's own test suite into upstream_cases.json.

Run once by hand against an unpacked python-dotenv sdist (pip download --no-binary :all:
python-dotenv==VERSION), then commit the JSON:

    python scripts/dotenv/extract_cases.py path/to/python_dotenv-1.2.4 > scripts/dotenv/upstream_cases.json

An input is every string given to a test as a whole: each top-level string of a
@pytest.mark.parametrize row, and each string literal passed to write_text, write_bytes or
io.StringIO, in tests/test_parser.py, test_main.py, test_cli.py and test_variables.py (a
parse_variables input is wrapped as `V=<input>`). For test_set_key_round_trips, the file that
set_key writes for each value is added, as that test reads it back. Strings that are not
.env files (flag values, expected outputs) come along too; each is still a fair input.
"""

import ast
import json
import sys
import tempfile
from pathlib import Path

import dotenv
from dotenv.version import __version__

FILES = ["test_parser.py", "test_main.py", "test_cli.py", "test_variables.py"]


def strings(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        v = node.value
        return [v.decode("utf-8") if isinstance(v, bytes) else v]
    if isinstance(node, ast.JoinedStr):
        return []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = strings(node.left), strings(node.right)
        return [a + b for a in left for b in right]
    return []


def main(root):
    cases = []
    seen = set()

    def add(where, text):
        if text in seen:
            return
        seen.add(text)
        cases.append({"from": where, "input": text})

    for name in FILES:
        tree = ast.parse((Path(root) / "tests" / name).read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            where = f"tests/{name}::{fn.name}"
            wrap = (lambda s: "V=" + s) if name == "test_variables.py" else (lambda s: s)
            for deco in fn.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize" and len(deco.args) >= 2:
                    rows = deco.args[1]
                    for row in getattr(rows, "elts", []):
                        for item in (row.elts if isinstance(row, ast.Tuple) else [row]):
                            for s in strings(item):
                                add(where, wrap(s))
            for call in [n for n in ast.walk(fn) if isinstance(n, ast.Call)]:
                callee = getattr(call.func, "attr", getattr(call.func, "id", ""))
                if callee in ("write_text", "write_bytes", "StringIO") and call.args:
                    for s in strings(call.args[0]):
                        add(where, s)
    # test_set_key_round_trips: what set_key writes, then reads back.
    tree = ast.parse((Path(root) / "tests" / "test_main.py").read_text(encoding="utf-8"))
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "test_set_key_round_trips")
    values = [s for e in fn.decorator_list[0].args[1].elts for s in strings(e)]
    with tempfile.TemporaryDirectory() as d:
        for i, v in enumerate(values):
            p = Path(d) / f"{i}.env"
            p.write_text("")
            dotenv.set_key(p, "a", v)
            dotenv.set_key(p, "b", "sentinel")
            add("tests/test_main.py::test_set_key_round_trips (the file set_key writes)", p.read_text(encoding="utf-8"))
    json.dump({
        "source": f"python-dotenv {__version__} (its sdist), tests/, "
                  "BSD-3-Clause: see LICENSE.python-dotenv beside this file",
        "cases": cases,
    }, sys.stdout, ensure_ascii=True, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
