"""Tests for bench_peers.py: the pure parts (statistics, formatting, the report), and the agent
section end to end at a tiny N with the debug binary named by KEYHOLD_BIN (`make test-python`
sets it) and the cheap KDF, which only this test can turn on.

Run: python -m pytest -q scripts/test_bench_peers.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_peers as bp  # noqa: E402


def test_median_odd_even_and_unsorted():
    assert bp.median([3.0]) == 3.0
    assert bp.median([5.0, 1.0, 3.0]) == 3.0
    assert bp.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert bp.median([0.2, 0.1, 100.0]) == 0.2  # an outlier does not move it


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        bp.median([])


def test_ratio_is_keyholds_time_over_the_peers():
    assert bp.ratio(1.0, 4.0) == 0.25
    assert bp.ratio(3.0, 1.5) == 2.0
    assert bp.ratio(None, 1.0) is None
    assert bp.ratio(1.0, None) is None
    assert bp.ratio(1.0, 0.0) is None


@pytest.mark.parametrize("seconds, text", [
    (0.00000821, "8.21 µs"),
    (0.00002, "20.0 µs"),
    (0.00821, "8.21 ms"),
    (0.0123, "12.3 ms"),
    (0.4124, "412 ms"),
    (0.9996, "1000 ms"),
    (1.254, "1.25 s"),
    (31.24, "31.2 s"),
    (312.4, "312 s"),
])
def test_format_seconds(seconds, text):
    assert bp.format_seconds(seconds) == text


@pytest.mark.parametrize("r, text", [
    (0.25, "0.25x (4.0x faster)"),
    (3.1, "3.10x (3.1x slower)"),
    (1.02, "1.02x (even)"),
    (0.96, "0.96x (even)"),
    (None, "–"),
])
def test_format_ratio(r, text):
    assert bp.format_ratio(r) == text


def test_cell_shows_per_secret_time_and_marks_fewer_runs():
    assert bp.cell([[10.0], [12.0], [11.0]], "insert-loop", 100, 3) == "11.0 s (110 ms/secret)"
    assert bp.cell([[50.0]], "insert-loop", 1000, 3) == "50.0 s (50.0 ms/secret) [1 run]"
    # Several calls of one run are still one run; the median is over every call.
    assert bp.cell([[0.3, 0.2, 0.4]], "show", 1000, 3) == "300 ms [1 run]"
    assert bp.cell([[0.3, 0.1], [0.5], [0.2, 0.2]], "list", 1000, 3) == "200 ms"
    assert bp.cell([[1.0], [2.0]], "reencrypt", 100, 3) == "1.50 s (15.0 ms/secret) [2 runs]"
    assert bp.cell(None, "insert-bulk", 100, 3) == "–"


def test_count_names_in_tables_trees_and_colours():
    table = b"NAME           VERSIONS\nbench/s000001  1\nbench/s000002  1\n"
    tree = b"Password Store\n\x1b[01;34mbench\x1b[0m\n\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 s000001\n" \
           b"\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 s000002\n"
    flat = b"bench/\nbench/s000001\nbench/s000002\nbench/s000002\n"
    assert bp.count_names(table) == 2
    assert bp.count_names(tree) == 2
    assert bp.count_names(flat) == 2
    assert bp.count_names(b"Password Store\n") == 0


def test_entry_names_sort_and_match_the_counter():
    names = [bp.entry_name(i) for i in (1, 2, 100_000)]
    assert names == ["bench/s000001", "bench/s000002", "bench/s100000"]
    assert bp.count_names("\n".join(names).encode()) == 3


def test_keepass_xml_holds_every_entry_escaped():
    entries = [("bench/s000001", "a<b&c>\"d"), ("bench/s000002", "plain")]
    root = ET.fromstring(bp.keepass_xml(entries).encode())
    group = root.find("Root/Group/Group")
    assert group.find("Name").text == "bench"
    got = {}
    for entry in group.findall("Entry"):
        strings = {s.find("Key").text: s.find("Value").text for s in entry.findall("String")}
        got[strings["Title"]] = strings["Password"]
    assert got == {"s000001": "a<b&c>\"d", "s000002": "plain"}
    assert len({e.find("UUID").text for e in root.iter("Entry")}) == 2


def test_kdbx_version_reads_the_header(tmp_path):
    f = tmp_path / "x.kdbx"
    f.write_bytes(bytes.fromhex("03d9a29a67fb4bb5") + (1).to_bytes(2, "little") + (4).to_bytes(2, "little"))
    assert bp.kdbx_version(f) == "4.1"


def test_keep_notes():
    new = "# Report\n\nnumbers\n"
    old = "# Old report\n\nold numbers\n\n## Notes\n\nWritten by hand.\n"
    assert bp.keep_notes(old, new) == "# Report\n\nnumbers\n\n## Notes\n\nWritten by hand.\n"
    assert bp.keep_notes(None, new) == new
    assert bp.keep_notes("# Old\n", new) == new


def report(**changes) -> bp.Report:
    samples = {
        ("keyhold", "insert-loop", 100): [[30.0], [31.0], [29.0]],
        ("pass", "insert-loop", 100): [[6.0], [6.0], [6.0]],
        ("keepassxc-cli", "insert-loop", 100): [[60.0], [61.0], [59.0]],
        ("keyhold", "show", 100): [[0.3, 0.3], [0.3, 0.4], [0.2, 0.3]],
        ("pass", "show", 100): [[0.05, 0.05], [0.05, 0.05], [0.05, 0.05]],
        ("keyhold", "insert-bulk", 1000): [[0.5], [0.6], [0.4]],
        ("keyhold", "insert-loop", 1000): [[300.0]],
        ("keyhold", "insert-bulk", 100_000): [[2.0], [2.0], [2.0]],
        ("keyhold", "list", 100_000): [[9.0], [10.0], [11.0]],
    }
    fields = dict(date="2026-11-23", sizes=[100, 1000], large=100_000, runs=3, calls=2, large_calls=1,
                  setup=["Machine: test."], samples=samples, total_seconds=1234.0,
                  fixed=[bp.FixedCost("keyhold", "`--version`", "process start only",
                                      [bp.Timing(0.01, 0.004), bp.Timing(0.02, 0.005), bp.Timing(0.03, 0.006)]),
                         bp.FixedCost("pass", "`show`", "gpg", [])],
                  cpu={("keyhold", "insert-loop", 100): [[12.0], [12.5], [11.0]],
                       ("pass", "insert-loop", 100): [[3.0], [3.0], [3.0]],
                       ("keyhold", "list", 100_000): [[4.0], [4.0], [5.0]]})
    fields.update(changes)
    return bp.Report(**fields)


def row(text: str, label: str):
    """The cells of the first table row named `label`, or None."""
    line = next((line for line in text.splitlines() if line.startswith(f"| {label} |")), None)
    return line and [c.strip() for c in line.strip("|").split("|")]


def test_render_tables_ratios_and_markers():
    text = bp.render(report())
    assert text.startswith("# Keyhold side by side with pass and keepassxc-cli, 2026-11-23\n")
    assert "- Machine: test." in text
    assert "show and list: 2 calls per run (1 at N = 100,000)" in text
    assert "Total time of the benchmark: 1234 s." in text
    assert row(text, "insert 100, one call per secret") == [
        "insert 100, one call per secret", "30.0 s (300 ms/secret)", "6.00 s (60.0 ms/secret)",
        "60.0 s (600 ms/secret)", "5.00x (5.0x slower)", "0.50x (2.0x faster)"]
    assert row(text, "show one")[1:] == ["300 ms", "50.0 ms", "–", "6.00x (6.0x slower)", "–"]
    assert row(text, "insert 1,000, one call per secret")[1] == "300 s (300 ms/secret) [1 run]"
    assert row(text, "insert 1,000, bulk path")[1:] == ["500 ms (500 µs/secret)", "–", "–", "–", "–"]
    assert row(text, "insert 100,000, bulk path") == ["insert 100,000, bulk path", "2.00 s (20.0 µs/secret)",
                                                      "–", "50,000"]
    large = text[text.index("## N = 100,000, Keyhold alone"):]
    assert row(large, "list all")[1:] == ["10.0 s", "4.00 s", ""]
    assert row(large, "show one") is None
    assert row(text, "keyhold")[2:5] == ["20.0 ms", "5.00 ms", "3"]
    assert row(text, "pass")[2:5] == ["not measured", "–", "0"]
    cpu = text[text.index("CPU time (user + sys, as above"):text.index("## N = 1,000")]
    assert row(cpu, "insert 100, one call per secret")[1:] == [
        "12.0 s (120 ms/secret)", "3.00 s (30.0 ms/secret)", "–", "4.00x (4.0x slower)", "–"]
    assert "CPU time" not in text[text.index("## N = 1,000"):text.index("## N = 100,000")]
    assert "- keyhold, N = 1,000, insert, one call per secret: 300.000\n" in text
    assert "- keyhold, N = 100, show one: 0.300, 0.300; 0.300, 0.400; 0.200, 0.300\n" in text


def test_timings_add_up():
    total = bp.Timing(0.0, 0.0)
    for t in (bp.Timing(1.0, 0.25), bp.Timing(2.0, 0.5)):
        total += t
    assert total == bp.Timing(3.0, 0.75)


def test_call_measures_the_childs_cpu(tmp_path):
    env = {"PATH": "/usr/bin:/bin"}
    busy = [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass"]
    t, out = bp.call(busy, env)
    assert t.cpu >= 0.15 and t.wall >= t.cpu * 0.9
    idle, _ = bp.call(["sleep", "0.2"], env)
    assert idle.wall >= 0.19 and idle.cpu < 0.1
    with pytest.raises(bp.BenchError, match="exited 3"):
        bp.call([sys.executable, "-c", "raise SystemExit(3)"], env)


def test_render_without_the_large_size():
    text = bp.render(report(large=None))
    assert "Keyhold alone" not in text
    assert "calls per run, the median" in text
    assert "## N = 1,000" in text


@pytest.mark.parametrize("r, text", [
    (0.25, "MET"),
    (0.5, "MET"),
    (0.5001, "MISS"),
    (2.0, "MISS"),
    (None, "not measured"),
])
def test_verdict_against_half_of_pass_show(r, text):
    assert bp.verdict(r) == text


def ms(*walls, cpu=0.004):
    return [bp.Timing(w / 1000, cpu) for w in walls]


def agent_run() -> bp.AgentRun:
    return bp.AgentRun(
        n=100_000,
        agent={"show": ms(10, 12, 11), "set": ms(20, 30, 25, cpu=0.01), "list-prefix": ms(13, 12, 14)},
        direct={"show": ms(600, 650), "set": ms(700, 720), "list-prefix": ms(610, 590)},
        pass_show=ms(26, 24, 25, 100, 22, cpu=0.012),
        served=55)


def test_render_agent_table_ratio_and_verdicts():
    text = "\n".join(bp.render_agent([agent_run()]))
    assert "### N = 100,000" in text
    assert row(text, "`pass show NAME`")[1:3] == ["25.0 ms", "12.0 ms"]
    # Through the agent: the median wall, the mean CPU; --no-agent beside; the ratio to pass show's median.
    assert row(text, "`secret show NAME`")[1:] == ["11.0 ms", "4.00 ms", "625 ms", "4.00 ms", "0.44x (2.3x faster)", "MET"]
    assert row(text, "`secret set NAME --stdin`")[1:] == ["25.0 ms", "10.0 ms", "710 ms", "4.00 ms",
                                                          "1.00x (even)", "MISS"]
    assert row(text, "`secret list --prefix bench/s0000`")[-2:] == ["0.52x (1.9x faster)", "MISS"]
    assert ("- `secret show NAME` through the agent: 11.0 ms against `pass show`'s 25.0 ms: 0.44x "
            "(target ≤ 0.50x): **MET**.") in text
    assert ("- `secret list --prefix bench/s0000` through the agent: 13.0 ms against `pass show`'s 25.0 ms: "
            "0.52x (target ≤ 0.50x): **MISS**.") in text
    assert "Timed calls: `pass show` 5, each call through the agent 3, with `--no-agent` 2." in text
    assert "The agent served 55 commands" in text


def test_render_agent_without_pass_figures_says_not_measured():
    run = agent_run()
    run.pass_show = []
    text = "\n".join(bp.render_agent([run]))
    assert row(text, "`secret show NAME`")[-2:] == ["–", "not measured"]
    assert "**MET**" not in text


def test_render_agent_only_report_and_in_the_full_report():
    only = bp.render(report(only="agent", agent=[agent_run()], sizes=[], large=None, samples={}, cpu={}, fixed=[]))
    assert only.startswith("# Keyhold through its agent beside `pass show`, 2026-11-23\n")
    assert "- Machine: test." in only
    assert "## Fixed cost" not in only and "## N = 100\n" not in only
    assert "**MET**" in only and "**MISS**" in only
    assert "- keyhold, N = 100,000, `secret show NAME` through the agent: 0.0100, 0.0120, 0.0110\n" in only
    assert "- pass, N = 100,000, agent section, `pass show`: 0.0260, 0.0240, 0.0250, 0.1000, 0.0220\n" in only
    full = bp.render(report(agent=[agent_run()]))
    assert "## Fixed cost" in full
    at = full.index("## Through the agent")
    assert full.index("## N = 100,000, Keyhold alone") < at < full.index("## What one call does")
    assert "through the agent: 0.0100" in full
    assert "## Through the agent" not in bp.render(report())


def test_agent_options():
    base = ["--keyhold", "/bin/true"]
    assert bp.parse_args(base).agent_sizes == [100, 1000, 100_000]
    assert bp.parse_args(base + ["--large", "0"]).agent_sizes == [100, 1000]
    quick = bp.parse_args(base + ["--only", "agent"])
    assert quick.only == "agent" and quick.agent_sizes == [100_000]
    assert bp.parse_args(base + ["--only", "agent", "--agent-sizes", "1000,100000"]).agent_sizes == [1000, 100_000]
    for bad in (["--agent-sizes", "1"], ["--agent-calls", "0"], ["--agent-direct-calls", "16"],
                ["--only", "console"]):
        with pytest.raises(SystemExit):
            bp.parse_args(base + bad)


KEYHOLD_BIN = os.environ.get("KEYHOLD_BIN")
needs_tools = pytest.mark.skipif(
    not KEYHOLD_BIN or any(shutil.which(t) is None for t in ("pass", "gpg", "gpgconf")),
    reason="needs KEYHOLD_BIN (a debug keyhold; `make test-python` sets it), pass and gpg")


@needs_tools
def test_agent_section_end_to_end(tmp_path):
    args = bp.parse_args(["--keyhold", KEYHOLD_BIN, "--only", "agent", "--agent-sizes", "12",
                          "--agent-calls", "2", "--agent-direct-calls", "1"])
    root = tmp_path / "r"
    root.mkdir()
    bench = bp.Bench(args, root, bp.Progress())
    # The cheap KDF: a debug binary's switch, and the benchmark's refusal lifted, for this test alone.
    bench.env["KEYHOLD_INSECURE_TEST_KDF"] = "1"
    bench.cheap_kdf_ok = True
    try:
        report = bench.run()
        # A call "through the agent" when none serves the vault cannot log in (no password in its
        # environment): the section would stop rather than time a login.
        s = bench.keyhold.create(bench.fresh("keyhold"))
        s.env["XDG_RUNTIME_DIR"] = str(bench.runtime)
        bench.keyhold.insert(s, "bench/s000001", "v")
        with pytest.raises(bp.BenchError, match="exited 65"):
            bench.keyhold.agent_call(s, "show", "bench/s000001", "", False, None)
        assert bench.keyhold.agent_call(s, "show", "bench/s000001", "", True, None)[1] == b"v"
    finally:
        bench.cleanup()
        subprocess.run(["gpgconf", "--kill", "all"], env=bench.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(bp.Path(bench.env["GNUPGHOME"]).parent, ignore_errors=True)
        if bench.runtime is not None:  # in the system's temp dir when tmp_path is too long for a socket
            shutil.rmtree(bench.runtime, ignore_errors=True)
    (run,) = report.agent
    assert run.n == 12
    assert len(run.pass_show) == 2
    assert {k: len(v) for k, v in run.agent.items()} == {"show": 2, "set": 2, "list-prefix": 2}
    assert {k: len(v) for k, v in run.direct.items()} == {"show": 1, "set": 1, "list-prefix": 1}
    # Three rounds (one untimed) of three calls through the agent, then the five values set
    # (three through the agent, two with --no-agent) read back through it.
    assert run.served == 3 * 3 + 5
    assert all(t.wall > 0 for ts in run.agent.values() for t in ts)
    assert bench.unlocked == []
    assert not [pid for pid in _agents_under(root)], "an agent outlived the section"
    text = bp.render(report)
    assert text.count("**MET**") + text.count("**MISS**") == 3
    assert "### N = 12" in text


def _agents_under(root):
    found = []
    for entry in bp.Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"agent-serve" in argv and str(root).encode() in argv:
            found.append(entry.name)
    return found
