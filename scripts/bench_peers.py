#!/usr/bin/env python3
"""Keyhold side by side with pass and keepassxc-cli (README, "Performance").

Runs the same workloads on the release `keyhold` binary, on `pass` (with
throwaway gpg keys made for the run) and on `keepassxc-cli`, the way a user
scripts each of them: one process per call, credentials in the environment or
on standard input, never in argv. Every tool keeps its default settings
(Keyhold's Argon2id cost, keepassxc-cli's KDF, gpg's default key type).
Everything lives in a throwaway directory that is removed afterwards.

Workloads, for each N: insert N secrets (one call per secret, and the tool's
bulk path where it has one), show one, list all, re-encrypt everything. The
fixed cost of one call (process start, the KDF) is measured on its own.

The agent section, at each N of --agent-sizes: `keyhold unlock` once, then
`secret show`, `secret set` and `secret list --prefix` one process per call
through the agent and with `--no-agent`, interleaved with `pass show` on a pass
store of the same N, each call judged against the target of at most half of
`pass show`'s median time. `--only agent` runs it alone (at 100,000 unless
--agent-sizes says otherwise), in a few minutes; it needs pass and gpg only.

Usage:

    bench_peers.py --keyhold PATH [--out FILE] [--dir DIR] [--runs 3]
                   [--calls 3] [--large-calls 1] [--fixed-calls 7]
                   [--sizes 100,1000] [--large 100000] [--single-loop-from 1000]
                   [--only all|agent] [--agent-sizes LIST] [--agent-calls 15]
                   [--agent-direct-calls 5]

Prints progress on stderr and the Markdown report on stdout; with --out it
also writes the report there (a `## Notes` section already in that file is
kept). Standard library only; `make bench-peers` runs it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

TOOLS = ("keyhold", "pass", "keepassxc-cli")
PEERS = ("pass", "keepassxc-cli")

# (key, label) in report order.
WORKLOADS = (
    ("insert-loop", "insert N, one call per secret"),
    ("insert-bulk", "insert N, bulk path"),
    ("show", "show one"),
    ("list", "list all"),
    ("reencrypt", "re-encrypt everything"),
)

# What one call of each workload does, written beside the numbers.
DOES = {
    "keyhold": {
        "insert-loop": "`secret set NAME --stdin`: process start; login (two Argon2id at the vault's cost: "
        "password check and key-pair unwrap; two committed transactions, one signed audit event); "
        "root and data key opened, the value sealed; one more transaction with its signed audit event. "
        "Every commit is fsync'd (WAL, synchronous FULL); the file is not rewritten",
        "insert-bulk": "`import --format json FILE`: one process, one login; every entry checked first, "
        "then sealed and written 1,000 per transaction, one signed audit event per batch",
        "show": "`secret show NAME`: process start, login as above, one value opened; "
        "the reveal is audited (one more signed, committed event)",
        "list": "`secret list`: process start, login as above, one query; names and metadata, nothing decrypted",
        "reencrypt": "`key rotate-data`: one process, one login; a new data key, every secret version "
        "opened and re-sealed 1,000 per transaction; the old key destroyed, the WAL truncated",
    },
    "pass": {
        "insert-loop": "`pass insert -m NAME`: bash start (pass is a shell script); gpg encrypts the value "
        "to the public key (no KDF); one new file, nothing else rewritten",
        "insert-bulk": "none: pass has no bulk insert (one gpg file per secret)",
        "show": "`pass show NAME`: bash start; gpg decrypts one file, the private-key operation in gpg-agent "
        "(key without a passphrase: no KDF)",
        "list": "`pass ls`: bash start; `tree` over the directory; nothing decrypted",
        "reencrypt": "`pass init NEWKEY`: one call; per file, gpg lists its recipients, then one gpg "
        "decrypts and another encrypts it to the new key (three gpg processes per file)",
    },
    "keepassxc-cli": {
        "insert-loop": "`add -p DB NAME`: process start (Qt); the KDF to open; the whole file decrypted and "
        "parsed; then the whole database serialized, compressed, encrypted and rewritten",
        "insert-bulk": "`import XML DB`: one process makes a new database from a KeePass XML export: "
        "the KDF once, one whole-file write",
        "show": "`show -s -a password DB NAME`: process start; the KDF; the whole file decrypted and parsed",
        "list": "`ls -R -f DB`: process start; the KDF; the whole file decrypted and parsed",
        "reencrypt": "`db-edit --set-password DB`: open (KDF), the new key's KDF, the whole file re-encrypted "
        "under a new master seed and rewritten (every save re-encrypts the whole file; "
        "keepassxc-cli 2.7 has no option to change the KDF)",
    },
}


# The agent section (`--only agent` runs it alone): Keyhold's everyday calls through its agent
# (`keyhold unlock`), and the same calls logging in (`--no-agent`), beside `pass show`.
# (key, label) in report order.
AGENT_CALLS = (
    ("show", "`secret show NAME`"),
    ("set", "`secret set NAME --stdin`"),
    ("list-prefix", "`secret list --prefix bench/s0000`"),
)
# Names bench/s000001 ... bench/s000099: a small set whatever N (all of them below 100).
AGENT_PREFIX = "bench/s0000"
# The target (issue 16): each call through the agent at most half of `pass show`'s median time.
AGENT_TARGET = 0.5
AGENT_DOES = {
    "show": "process start; connect to the agent's socket and send the command line, working directory and "
    "environment (never a password); the agent runs it in its session (no login, no Argon2id): "
    "the permission check, one value opened, the reveal audited (a signed event, committed and fsync'd); "
    "the value comes back over the socket",
    "set": "as above, the value streamed from standard input over the socket; the agent seals it and adds "
    "a new version to an existing secret, with its signed `secret.update` event, in one committed transaction",
    "list-prefix": "as above; one query for the names under the prefix (99 at N ≥ 100), nothing decrypted, "
    "no audit event",
}


# ------------------------------------------------------------ pure parts


def median(values: Sequence[float]) -> float:
    """The median; the mean of the middle two for an even count."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def ratio(keyhold: Optional[float], peer: Optional[float]) -> Optional[float]:
    """Keyhold's time over the peer's (below 1: Keyhold is faster); None if either is missing."""
    if keyhold is None or peer is None or peer <= 0:
        return None
    return keyhold / peer


def format_seconds(seconds: float) -> str:
    """Three significant digits in s, ms or µs: `8.21 µs`, `412 ms`, `1.25 s`, `312 s`."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            decimals = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{decimals}f} {unit}"
    raise AssertionError("unreachable")


def format_ratio(r: Optional[float]) -> str:
    """`0.25x (4.0x faster)`, `3.10x (3.1x slower)`, `1.02x (even)` within 5%; `–` when unknown."""
    if r is None:
        return "–"
    if 0.95 <= r <= 1.05:
        return f"{r:.2f}x (even)"
    if r < 1:
        return f"{r:.2f}x ({1 / r:.1f}x faster)"
    return f"{r:.2f}x ({r:.1f}x slower)"


def format_count(n: int) -> str:
    return f"{n:,}"


# (tool, workload, N) -> one list of seconds per run.
Samples = Dict[Tuple[str, str, int], List[List[float]]]


def flat(runs: Sequence[Sequence[float]]) -> List[float]:
    return [v for run in runs for v in run]


@dataclass(frozen=True)
class Timing:
    """One measurement: wall time, and CPU time (user + sys) of the process and every child it waited for."""

    wall: float
    cpu: float

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


@dataclass
class FixedCost:
    """The time of one call that does (almost) nothing but a tool's fixed work."""

    tool: str
    call: str
    does: str
    samples: List[Timing] = field(default_factory=list)


@dataclass
class AgentRun:
    """The agent section at one N: each call through the agent and with `--no-agent`, and
    `pass show` on a pass store of the same N, measured in interleaved rounds."""

    n: int
    agent: Dict[str, List[Timing]] = field(default_factory=dict)
    direct: Dict[str, List[Timing]] = field(default_factory=dict)
    pass_show: List[Timing] = field(default_factory=list)
    # How many commands the agent said it had served when `keyhold lock` ended it.
    served: int = 0


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def verdict(r: Optional[float], target: float = AGENT_TARGET) -> str:
    """`MET` when Keyhold's time over the peer's is at most the target, `MISS` above it."""
    if r is None:
        return "not measured"
    return "MET" if r <= target else "MISS"


def wall_median(ts: Optional[Sequence[Timing]]) -> Optional[float]:
    return median([t.wall for t in ts]) if ts else None


def cpu_mean(ts: Optional[Sequence[Timing]]) -> Optional[float]:
    return mean([t.cpu for t in ts]) if ts else None


def opt_seconds(v: Optional[float]) -> str:
    return "–" if v is None else format_seconds(v)


def render_agent(runs: Sequence[AgentRun], target: float = AGENT_TARGET) -> List[str]:
    """The agent section: per N a table of every call through the agent and with `--no-agent`,
    pass show's median, the ratio, and one verdict line per call against the target."""
    out: List[str] = []
    w = out.append
    w("## Through the agent, beside `pass show`")
    w("")
    w(f"Target (issue 16): `secret show`, `secret set` and `secret list --prefix` through the agent "
      f"(`keyhold unlock` once, then one process per call) at most {target:.2f}x `pass show`'s median time "
      "in a 100,000-secret vault. Each round runs, one after another, `pass show`, the three calls through "
      "the agent and (in the first rounds) the three with `--no-agent`, so that every figure sees the same "
      "load; one untimed round first. Wall: the median; CPU: the mean per call of the client and the daemon "
      "it talks to (Keyhold's agent, gpg-agent), read from /proc in 10 ms ticks, so only a mean over many "
      "calls means something.")
    w("")
    for r in runs:
        p_wall, p_cpu = wall_median(r.pass_show), cpu_mean(r.pass_show)
        w(f"### N = {format_count(r.n)}")
        w("")
        w(f"| call | through the agent | CPU | `--no-agent` | CPU | agent ÷ pass show | target ≤ {target:.2f}x |")
        w("|---|---:|---:|---:|---:|---:|---|")
        w(f"| `pass show NAME` | {opt_seconds(p_wall)} | {opt_seconds(p_cpu)} | – | – | – | |")
        verdicts: List[str] = []
        for key, label in AGENT_CALLS:
            a, d = r.agent.get(key), r.direct.get(key)
            a_wall = wall_median(a)
            rt = ratio(a_wall, p_wall)
            v = verdict(rt, target)
            w(f"| {label} | {opt_seconds(a_wall)} | {opt_seconds(cpu_mean(a))} | {opt_seconds(wall_median(d))} "
              f"| {opt_seconds(cpu_mean(d))} | {format_ratio(rt)} | {v} |")
            shown = "–" if rt is None else f"{rt:.2f}x"
            verdicts.append(f"- {label} through the agent: {opt_seconds(a_wall)} against `pass show`'s "
                            f"{opt_seconds(p_wall)}: {shown} (target ≤ {target:.2f}x): **{v}**.")
        w("")
        counts = [len(r.pass_show)] + [len(r.agent.get(k, [])) for k, _ in AGENT_CALLS]
        direct = [len(r.direct.get(k, [])) for k, _ in AGENT_CALLS]
        w(f"Timed calls: `pass show` {counts[0]}, each call through the agent {min(counts[1:])}"
          f"{'' if min(counts[1:]) == max(counts[1:]) else f' to {max(counts[1:])}'}, with `--no-agent` "
          f"{min(direct)}{'' if min(direct) == max(direct) else f' to {max(direct)}'}. "
          f"The agent served {r.served} commands in all (warm-up and checks included), "
          "as `keyhold lock` reported.")
        w("")
        out.extend(verdicts)
        w("")
    w("What one call through the agent does:")
    w("")
    for key, label in AGENT_CALLS:
        w(f"- {label}: {AGENT_DOES[key]}.")
    w("- With `--no-agent` the same call logs in first, as every call without an agent: two Argon2id at the "
      "vault's cost, two committed transactions and a signed `login` event.")
    w("- " + DOES["pass"]["show"] + ".")
    w("")
    return out


def render_agent_runs(runs: Sequence[AgentRun]) -> List[str]:
    """The raw wall times of the agent section, for `## Every run`."""
    out: List[str] = []
    for r in runs:
        n = format_count(r.n)
        out.append(f"- pass, N = {n}, agent section, `pass show`: " + ", ".join(f"{t.wall:.4f}" for t in r.pass_show))
        for key, label in AGENT_CALLS:
            for how, got in (("through the agent", r.agent), ("`--no-agent`", r.direct)):
                if got.get(key):
                    out.append(f"- keyhold, N = {n}, {label} {how}: " + ", ".join(f"{t.wall:.4f}" for t in got[key]))
    return out


@dataclass
class Report:
    """Everything the report shows; render() makes the Markdown."""

    date: str
    sizes: List[int]
    large: Optional[int]
    runs: int
    calls: int
    large_calls: int
    setup: List[str]
    fixed: List[FixedCost]
    samples: Samples
    cpu: Samples = field(default_factory=dict)
    total_seconds: float = 0.0
    agent: List[AgentRun] = field(default_factory=list)
    # "all", or "agent" for the agent section alone (`--only agent`).
    only: str = "all"


def cell(runs: Optional[List[List[float]]], workload: str, n: int, expected_runs: int) -> str:
    """A table cell: the median over all runs, the time per secret for whole-store work,
    and `[1 run]` when it had fewer runs than the others."""
    if not runs:
        return "–"
    m = median(flat(runs))
    text = format_seconds(m)
    if workload in ("insert-loop", "insert-bulk", "reencrypt"):
        text += f" ({format_seconds(m / n)}/secret)"
    if len(runs) < expected_runs:
        text += f" [{len(runs)} run{'s' if len(runs) > 1 else ''}]"
    return text


def medians(samples: Samples, tool: str, workload: str, n: int) -> Optional[float]:
    runs = samples.get((tool, workload, n))
    return median(flat(runs)) if runs else None


def render(report: Report) -> str:
    """The Markdown report."""
    if report.only == "agent":
        return render_agent_only(report)
    out: List[str] = []
    w = out.append
    w(f"# Keyhold side by side with pass and keepassxc-cli, {report.date}")
    w("")
    w("`make bench-peers` (`scripts/bench_peers.py`): the release `keyhold` binary, `pass` and "
      "`keepassxc-cli` driven as a user scripts them, one process per call, credentials on stdin or in "
      "the environment, on the same machine in the same run. Each tool keeps its default settings. "
      "Wall-clock times; every number is a median.")
    w("")
    for line in report.setup:
        w(f"- {line}")
    large = f" ({report.large_calls} at N = {format_count(report.large)})" if report.large else ""
    w(f"- Runs: {report.runs} per cell unless marked `[1 run]`; show and list: {report.calls} calls per run"
      f"{large}, the median taken over all of them. Each run starts from a fresh store.")
    w(f"- Total time of the benchmark: {report.total_seconds:.0f} s.")
    w("")
    w("## Fixed cost of one call")
    w("")
    w("What every call pays before doing any work: starting the process, and the key derivation "
      "that opens the store. Median of the calls shown.")
    w("")
    w("| tool | call | wall | CPU | calls | what the call does |")
    w("|---|---|---:|---:|---:|---|")
    for f in report.fixed:
        if f.samples:
            wall = format_seconds(median([t.wall for t in f.samples]))
            cpu = format_seconds(median([t.cpu for t in f.samples]))
        else:
            wall, cpu = "not measured", "–"
        w(f"| {f.tool} | {f.call} | {wall} | {cpu} | {len(f.samples)} | {f.does} |")
    w("")
    w("CPU is user + sys of the process and the processes it waited for, and for pass also of gpg-agent "
      "(the daemon that does every private-key operation; read from /proc in clock ticks of 10 ms): unlike "
      "wall time, it hardly depends on other work on the machine.")
    w("")
    for n in report.sizes:
        w(f"## N = {format_count(n)}")
        w("")
        out += comparison(report.samples, n, report.runs)
        w("")
        w("Keyhold ÷ peer is Keyhold's median time over the peer's: below 1, Keyhold is faster. "
          "Whole-store work also shows the time per secret.")
        w("")
        if any(key[2] == n for key in report.cpu):
            w("CPU time (user + sys, as above, pass with gpg-agent's share):")
            w("")
            out += comparison(report.cpu, n, report.runs)
            w("")
    if report.large:
        n = report.large
        w(f"## N = {format_count(n)}, Keyhold alone")
        w("")
        w("| workload | Keyhold | CPU | secrets/s |")
        w("|---|---:|---:|---:|")
        for key, label in WORKLOADS:
            runs = report.samples.get(("keyhold", key, n))
            if not runs:
                continue
            rate = f"{n / median(flat(runs)):,.0f}" if key in ("insert-bulk", "reencrypt") else ""
            cpu = cell(report.cpu.get(("keyhold", key, n)), key, n, report.runs)
            w(f"| {label.replace('N', format_count(n), 1)} | {cell(runs, key, n, report.runs)} | {cpu} | {rate} |")
        w("")
        w("The peers are left out at this size: one call per secret would take hours "
          "(see the fixed costs above).")
        w("")
    if report.agent:
        out += render_agent(report.agent)
    w("## What one call does")
    w("")
    for tool in TOOLS:
        w(f"**{tool}**")
        w("")
        for key, label in WORKLOADS:
            w(f"- {label}: {DOES[tool][key]}.")
        w("")
    w("## Every run")
    w("")
    w("Wall seconds, in the order measured; `;` separates runs.")
    w("")
    for (tool, key, n), runs in sorted(report.samples.items(), key=_sample_order):
        label = dict(WORKLOADS)[key].replace(" N,", ",")
        w(f"- {tool}, N = {format_count(n)}, {label}: " + "; ".join(", ".join(f"{v:.3f}" for v in run) for run in runs))
    out += render_agent_runs(report.agent)
    w("")
    return "\n".join(out)


def render_agent_only(report: Report) -> str:
    """The report of `--only agent`: the setup and the agent section."""
    out: List[str] = []
    w = out.append
    w(f"# Keyhold through its agent beside `pass show`, {report.date}")
    w("")
    w("`make bench-peers-agent` (`scripts/bench_peers.py --only agent`): the release `keyhold` binary and `pass`, "
      "one process per call, credentials on stdin or in the environment, on the same machine in the same run. "
      "Each tool keeps its default settings.")
    w("")
    for line in report.setup:
        w(f"- {line}")
    w(f"- Total time of the benchmark: {report.total_seconds:.0f} s.")
    w("")
    out += render_agent(report.agent)
    w("## Every run")
    w("")
    w("Wall seconds, in the order measured.")
    w("")
    out += render_agent_runs(report.agent)
    w("")
    return "\n".join(out)


def comparison(samples: Samples, n: int, runs: int) -> List[str]:
    """The table of one N: each tool's median per workload and Keyhold's ratio to each peer."""
    lines = ["| workload | Keyhold | pass | keepassxc-cli | Keyhold ÷ pass | Keyhold ÷ keepassxc-cli |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, label in WORKLOADS:
        cells = [cell(samples.get((t, key, n)), key, n, runs) for t in TOOLS]
        k = medians(samples, "keyhold", key, n)
        ratios = [format_ratio(ratio(k, medians(samples, p, key, n))) for p in PEERS]
        lines.append(f"| {label.replace('N', format_count(n), 1)} | " + " | ".join(cells + ratios) + " |")
    return lines


def _sample_order(item: Tuple[Tuple[str, str, int], List[List[float]]]) -> Tuple[int, int, int]:
    (tool, key, n), _ = item
    return (n, TOOLS.index(tool), [k for k, _ in WORKLOADS].index(key))


def keep_notes(old: Optional[str], new: str) -> str:
    """The new report followed by the hand-written `## Notes` section of the old one, if any."""
    if not old:
        return new
    at = old.find("\n## Notes")
    if at < 0:
        return new
    return new.rstrip("\n") + "\n\n" + old[at + 1:]


def entry_name(i: int) -> str:
    """The name of secret i, the same in every tool (a group or directory `bench`)."""
    return f"bench/s{i:06d}"


def count_names(output: bytes) -> int:
    """How many distinct secret names a list call printed (tables, trees and colours alike)."""
    return len(set(re.findall(rb"s\d{6}", output)))


def keepass_xml(entries: Sequence[Tuple[str, str]]) -> str:
    """A KeePass 2 XML export holding the entries in one group `bench` (names `bench/TITLE`)."""
    def uid() -> str:
        return base64.b64encode(uuid.uuid4().bytes).decode()

    parts = ['<?xml version="1.0" encoding="utf-8" standalone="yes"?>', "<KeePassFile>",
             "<Meta><Generator>keyhold bench-peers</Generator></Meta>", "<Root>",
             f"<Group><UUID>{uid()}</UUID><Name>Root</Name>",
             f"<Group><UUID>{uid()}</UUID><Name>bench</Name>"]
    for name, value in entries:
        title = name.split("/", 1)[1]
        parts.append(f"<Entry><UUID>{uid()}</UUID>"
                     f"<String><Key>Title</Key><Value>{escape(title)}</Value></String>"
                     f'<String><Key>Password</Key><Value ProtectInMemory="True">{escape(value)}</Value></String>'
                     "</Entry>")
    parts += ["</Group>", "</Group>", "</Root>", "</KeePassFile>", ""]
    return "\n".join(parts)


# ------------------------------------------------------------ running tools


class BenchError(Exception):
    pass


class Progress:
    """Progress lines on stderr with the time since the start."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.0f} s] {message}", file=sys.stderr, flush=True)


def base_env(home: Path) -> Dict[str, str]:
    """A clean environment: none of the user's stores, keys, agents or test settings leak in."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
           "XDG_CACHE_HOME": str(home / ".cache"), "TMPDIR": str(home / "tmp")}
    for d in (home / ".config", home / ".local/share", home / ".cache", home / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + sys, every thread, exited ones too) a running process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(argv: Sequence[str], env: Dict[str, str], stdin: bytes = b"",
         daemon_cpu: Optional[Callable[[], float]] = None) -> Tuple[Timing, bytes]:
    """Runs one command; returns its timing and stdout. stdin carries any password or value.
    daemon_cpu adds the CPU a daemon the command talks to (gpg-agent) used meanwhile."""
    cpu = children_cpu() + (daemon_cpu() if daemon_cpu else 0.0)
    start = time.perf_counter()
    done = subprocess.run(list(argv), input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    elapsed = Timing(wall, children_cpu() + (daemon_cpu() if daemon_cpu else 0.0) - cpu)
    if done.returncode != 0:
        # stderr of these tools names files and keys, never a value: values only ever go to stdin.
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"`{' '.join(argv)}` exited {done.returncode}: {' / '.join(tail)}")
    return elapsed, done.stdout


def password() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Store:
    """One store of one tool: where it is, its environment and its current password."""

    dir: Path
    env: Dict[str, str]
    password: str = ""
    file: Path = Path()


class Keyhold:
    name = "keyhold"
    has_bulk = True

    def __init__(self, binary: str, env: Dict[str, str]) -> None:
        self.bin = binary
        self.env = env

    def create(self, d: Path) -> Store:
        d.mkdir(mode=0o700)
        s = Store(d, dict(self.env), password(), d / "vault.db")
        s.env.update(KEYHOLD_DB=str(s.file), KEYHOLD_USER="benchadmin", KEYHOLD_PASSWORD=s.password)
        call([self.bin, "init"], s.env)  # the recovery key it prints on stdout is dropped
        return s

    def insert(self, s: Store, name: str, value: str) -> Timing:
        return call([self.bin, "secret", "set", name, "--stdin"], s.env, value.encode())[0]

    def bulk(self, d: Path, entries: Sequence[Tuple[str, str]]) -> Tuple[Store, Timing]:
        s = self.create(d)
        source = d / "import.json"
        source.write_text(json.dumps({"secrets": [{"name": n, "value": v} for n, v in entries]}))
        t = call([self.bin, "import", "--format", "json", str(source)], s.env)[0]
        source.unlink()
        return s, t

    def show(self, s: Store, name: str) -> Tuple[Timing, str]:
        t, out = call([self.bin, "secret", "show", name], s.env)
        return t, out.decode()

    def list(self, s: Store) -> Tuple[Timing, bytes]:
        return call([self.bin, "secret", "list"], s.env)

    def reencrypt(self, s: Store) -> Timing:
        return call([self.bin, "key", "rotate-data"], s.env)[0]

    def check_reencrypted(self, s: Store) -> None:
        status = json.loads(call([self.bin, "key", "status", "--json"], s.env)[1])
        if status.get("data_keys") != [2] or status.get("active_data_key") != 2:
            raise BenchError(f"keyhold: after rotation the data keys are {status.get('data_keys')}")

    def kdf(self, s: Store) -> Dict[str, int]:
        return json.loads(call([self.bin, "key", "status", "--json"], s.env)[1])["kdf"]

    # The agent: `unlock` takes the password from KEYHOLD_PASSWORD in the store's environment;
    # the calls through it run without any password in theirs, so that a call the agent did not
    # serve would fail (it could not log in) rather than pass unnoticed.

    def unlock(self, s: Store) -> int:
        """Starts the vault's agent; returns its pid (read from /proc: the process serving s)."""
        call([self.bin, "unlock"], s.env)
        pids = agent_pids(s.file)
        if len(pids) != 1:
            raise BenchError(f"keyhold: after `unlock` {len(pids)} agent processes serve the vault")
        return pids[0]

    def lock(self, s: Store) -> int:
        """Ends the vault's agent; returns how many commands it said it had served."""
        out = call([self.bin, "lock"], s.env)[1].decode()
        found = re.search(r"ended after (\d+) command", out)
        if not found:
            raise BenchError(f"keyhold: `lock` did not end an agent: {out.strip()}")
        return int(found.group(1))

    @staticmethod
    def agent_env(s: Store) -> Dict[str, str]:
        return {k: v for k, v in s.env.items() if k != "KEYHOLD_PASSWORD"}

    def agent_call(self, s: Store, key: str, name: str, value: str, direct: bool,
                   agent_cpu: Optional[Callable[[], float]]) -> Tuple[Timing, bytes]:
        """One call of the agent section: through the agent, or logging in with `--no-agent`."""
        argv = {"show": [self.bin, "secret", "show", name],
                "set": [self.bin, "secret", "set", name, "--stdin"],
                "list-prefix": [self.bin, "secret", "list", "--prefix", AGENT_PREFIX]}[key]
        stdin = value.encode() if key == "set" else b""
        if direct:
            return call(argv + ["--no-agent"], s.env, stdin)
        return call(argv, self.agent_env(s), stdin, daemon_cpu=agent_cpu)


class Pass:
    name = "pass"
    has_bulk = False

    def __init__(self, env: Dict[str, str], key: str, new_key: str) -> None:
        self.env = env
        self.key = key
        self.new_key = new_key
        # gpg-agent does every private-key operation: its CPU is counted with the call's.
        out = call(["gpg-connect-agent", "--no-autostart", "getinfo pid", "/bye"], env)[1].decode()
        self.agent = int(re.search(r"^D (\d+)", out, re.M).group(1))

    def agent_cpu(self) -> float:
        return process_cpu(self.agent)

    def create(self, d: Path, key: Optional[str] = None) -> Store:
        d.mkdir(mode=0o700)
        s = Store(d, dict(self.env), file=d / "store")
        s.env["PASSWORD_STORE_DIR"] = str(s.file)
        call(["pass", "init", key or self.key], s.env)
        return s

    def insert(self, s: Store, name: str, value: str) -> Timing:
        return call(["pass", "insert", "--multiline", name], s.env, (value + "\n").encode(),
                    daemon_cpu=self.agent_cpu)[0]

    def bulk_store(self, d: Path, entries: Sequence[Tuple[str, str]], chunk: int = 2000) -> Store:
        """A store holding the entries, made as `pass insert -m` makes each file (the value and a
        newline, encrypted to the store's key with pass's gpg options), but by one gpg process per
        `chunk` files (`--encrypt-files`): the agent section needs a 100,000-secret store, which one
        `pass insert` per secret would take hours to make. The plaintext files (throwaway values)
        are removed as soon as they are encrypted."""
        s = self.create(d)
        for start in range(0, len(entries), chunk):
            plain = []
            for name, value in entries[start:start + chunk]:
                f = s.file / name
                f.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(value + "\n")
                plain.append(f)
            try:
                call(["gpg", "--quiet", "--yes", "--compress-algo=none", "--no-encrypt-to", "--batch",
                      "--use-agent", "-r", self.key, "--encrypt-files"], s.env,
                     "".join(f"{f}\n" for f in plain).encode())
            finally:
                for f in plain:
                    f.unlink()
        made = sum(1 for _ in s.file.rglob("*.gpg"))
        if made != len(entries):
            raise BenchError(f"pass: the store holds {made} of {len(entries)} files")
        return s

    def show(self, s: Store, name: str) -> Tuple[Timing, str]:
        t, out = call(["pass", "show", name], s.env, daemon_cpu=self.agent_cpu)
        return t, out.decode().rstrip("\n")

    def list(self, s: Store) -> Tuple[Timing, bytes]:
        return call(["pass", "ls"], s.env, daemon_cpu=self.agent_cpu)

    def reencrypt(self, s: Store) -> Timing:
        return call(["pass", "init", self.new_key], s.env, daemon_cpu=self.agent_cpu)[0]

    def check_reencrypted(self, s: Store) -> None:
        files = sorted((s.file / "bench").glob("*.gpg"))
        recipients = set()
        for f in (files[0], files[-1]):
            _, out = call(["gpg", "--batch", "--list-packets", "--list-only", str(f)], s.env)
            recipients |= set(re.findall(rb"keyid ([0-9A-F]{16})", out))
        subkeys = encryption_subkeys(self.env, self.new_key)
        if not recipients or not recipients <= subkeys:
            raise BenchError("pass: after `pass init` the files are not encrypted to the new key")


class KeePassXC:
    name = "keepassxc-cli"
    has_bulk = True

    def __init__(self, env: Dict[str, str]) -> None:
        self.env = env

    def create(self, d: Path, extra: Sequence[str] = ()) -> Store:
        d.mkdir(mode=0o700)
        s = Store(d, dict(self.env), password(), d / "bench.kdbx")
        twice = f"{s.password}\n{s.password}\n".encode()
        call(["keepassxc-cli", "db-create", "-q", "--set-password", *extra, str(s.file)], s.env, twice)
        call(["keepassxc-cli", "mkdir", "-q", str(s.file), "bench"], s.env, self._pw(s))
        return s

    @staticmethod
    def _pw(s: Store) -> bytes:
        return f"{s.password}\n".encode()

    def insert(self, s: Store, name: str, value: str) -> Timing:
        return call(["keepassxc-cli", "add", "-q", "--password-prompt", str(s.file), name], s.env,
                    f"{s.password}\n{value}\n".encode())[0]

    def bulk(self, d: Path, entries: Sequence[Tuple[str, str]]) -> Tuple[Store, Timing]:
        d.mkdir(mode=0o700)
        s = Store(d, dict(self.env), password(), d / "bench.kdbx")
        source = d / "import.xml"
        source.write_text(keepass_xml(entries))
        t = call(["keepassxc-cli", "import", "-q", "--set-password", str(source), str(s.file)], s.env,
                 f"{s.password}\n{s.password}\n".encode())[0]
        source.unlink()
        return s, t

    def show(self, s: Store, name: str) -> Tuple[Timing, str]:
        t, out = call(["keepassxc-cli", "show", "-q", "--show-protected", "--attributes", "password",
                       str(s.file), name], s.env, self._pw(s))
        return t, out.decode().rstrip("\n")

    def list(self, s: Store) -> Tuple[Timing, bytes]:
        return call(["keepassxc-cli", "ls", "-q", "--recursive", "--flatten", str(s.file)], s.env, self._pw(s))

    def reencrypt(self, s: Store) -> Timing:
        new = password()
        t = call(["keepassxc-cli", "db-edit", "-q", "--set-password", str(s.file)], s.env,
                 f"{s.password}\n{new}\n{new}\n".encode())[0]
        s.password = new
        return t

    def check_reencrypted(self, s: Store) -> None:
        pass  # the show that follows opens the file with the new password only

    def info(self, s: Store) -> str:
        out = call(["keepassxc-cli", "db-info", "-q", str(s.file)], s.env, self._pw(s))[1].decode()
        found = dict(re.findall(r"^(Cipher|KDF): (.*)$", out, re.M))
        return f"{found.get('KDF', '?')}, cipher {found.get('Cipher', '?')}, KDBX {kdbx_version(s.file)}"


def agent_pids(vault: Path) -> List[int]:
    """The processes of this user serving `vault` as a Keyhold agent (`keyhold agent-serve --db VAULT`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent-serve" in argv and any(a == str(vault).encode() for a in argv):
            found.append(int(entry.name))
    return found


def runtime_dir(root: Path) -> Path:
    """The benchmark's own XDG_RUNTIME_DIR (0700), so that no agent of the user's is ever reached:
    inside root, unless the agent's socket path would pass the 108-byte limit of a Unix socket."""
    run = root / "run"
    if len(str(run / "keyhold" / "agent-0123456789abcdef.sock")) >= 100:
        run = Path(tempfile.mkdtemp(prefix="keyhold-run-"))
    else:
        run.mkdir(mode=0o700)
    os.chmod(run, 0o700)
    return run


def kdbx_version(path: Path) -> str:
    """The format version in a .kdbx header (bytes 8-11: minor, major, little-endian)."""
    head = path.read_bytes()[:12]
    minor = int.from_bytes(head[8:10], "little")
    major = int.from_bytes(head[10:12], "little")
    return f"{major}.{minor}"


def gnupg_home(root: Path) -> Path:
    """The throwaway GNUPGHOME: inside root, unless gpg-agent's socket paths there would pass the
    108-byte limit of a Unix socket; then a second throwaway directory in the system's temp dir."""
    home = root / "gnupg"
    if len(str(home / "S.gpg-agent.browser")) >= 100:
        home = Path(tempfile.mkdtemp(prefix="keyhold-gpg-")) / "gnupg"
    home.mkdir(mode=0o700)
    return home


def make_gpg_key(env: Dict[str, str], uid: str, passphrase: Optional[str] = None) -> str:
    """An unattended gpg key of gpg's default type; returns its fingerprint."""
    argv = ["gpg", "--batch", "--quiet"]
    if passphrase is None:
        argv += ["--passphrase", ""]
        stdin = b""
    else:
        argv += ["--pinentry-mode", "loopback", "--passphrase-fd", "0"]
        stdin = (passphrase + "\n").encode()
    call(argv + ["--quick-generate-key", uid, "default", "default", "never"], env, stdin)
    out = call(["gpg", "--batch", "--with-colons", "--list-keys", uid], env)[1].decode()
    return re.search(r"^fpr:+([0-9A-F]{40}):", out, re.M).group(1)


def encryption_subkeys(env: Dict[str, str], key: str) -> set:
    out = call(["gpg", "--batch", "--with-colons", "--list-keys", key], env)[1].decode()
    return {line.split(":")[4].encode() for line in out.splitlines()
            if line.startswith("sub:") and "e" in line.split(":")[11]}


def gpg_key_type(env: Dict[str, str], key: str) -> str:
    out = call(["gpg", "--batch", "--with-colons", "--list-keys", key], env)[1].decode()
    pub = next(line.split(":") for line in out.splitlines() if line.startswith("pub:"))
    algo = {"1": "rsa", "16": "elg", "17": "dsa", "18": "ecdh", "19": "ecdsa", "22": "eddsa"}.get(pub[3], pub[3])
    return f"{algo}{pub[2]}"


def first_line(argv: Sequence[str], env: Dict[str, str]) -> str:
    try:
        out = call(argv, env)[1].decode().strip()
        return next((line for line in out.splitlines() if re.search(r"\d+\.\d+", line)), out).strip()
    except (BenchError, OSError):
        return "unknown"


def swift_linking(binary: str) -> str:
    """How the binary has the Swift runtime: `make` release builds link it in (--static-swift-stdlib)."""
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    except OSError:
        return "Swift runtime: unknown"
    return "Swift runtime linked dynamically" if b"libswiftCore" in out else "Swift runtime linked statically"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# ------------------------------------------------------------ the benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path, progress: Progress) -> None:
        self.args = args
        self.root = root
        self.progress = progress
        self.samples: Samples = {}
        self.cpu: Samples = {}
        self.fixed: List[FixedCost] = []
        self.setup: List[str] = []
        self.env = base_env(root / "home")
        self.env["GNUPGHOME"] = str(gnupg_home(root))
        self.serial = 0
        self.agent_runs: List[AgentRun] = []
        # Vaults whose agent this run started and has not yet ended: cleanup() ends them.
        self.unlocked: List[Tuple[Store, int]] = []
        # Only the test of the agent section sets this (with a debug binary and the cheap KDF);
        # no option reaches it: a published figure always comes from a vault at the default cost.
        self.cheap_kdf_ok = False
        self.runtime: Optional[Path] = None

    def fresh(self, tool: str) -> Path:
        self.serial += 1
        return self.root / f"{self.serial:04d}-{tool}"

    def add(self, tool: str, workload: str, n: int, run: int, t: Timing) -> None:
        for samples, value in ((self.samples, t.wall), (self.cpu, t.cpu)):
            runs = samples.setdefault((tool, workload, n), [])
            while len(runs) < run:
                runs.append([])
            runs[run - 1].append(value)

    def run(self) -> Report:
        if self.args.only == "agent":
            return self.run_agent_only()
        a = self.args
        p = self.progress
        p(f"load average {load()}; throwaway directory {self.root}")
        p("making the gpg keys (no passphrase; a third one with a passphrase for the fixed costs)")
        key = make_gpg_key(self.env, "Keyhold bench A <bench-a@keyhold.invalid>")
        new_key = make_gpg_key(self.env, "Keyhold bench B <bench-b@keyhold.invalid>")
        self.keyhold = Keyhold(a.keyhold, self.env)
        self.pass_ = Pass(self.env, key, new_key)
        self.kpx = KeePassXC(self.env)
        self.tools = {"keyhold": self.keyhold, "pass": self.pass_, "keepassxc-cli": self.kpx}
        load_before = load()
        started = time.monotonic()

        self.measure_fixed(key)
        for n in a.sizes:
            entries = [(entry_name(i), secrets.token_urlsafe(32)) for i in range(1, n + 1)]
            single = n >= a.single_loop_from
            for run in range(1, a.runs + 1):
                for tool in TOOLS:
                    if single and run > 1 and not self.tools[tool].has_bulk:
                        continue  # its store comes only from the loop, which runs once at this size
                    self.workloads(tool, n, run, entries, loop=run == 1 or not single)
        if a.large:
            entries = [(entry_name(i), secrets.token_urlsafe(32)) for i in range(1, a.large + 1)]
            for run in range(1, a.runs + 1):
                self.workloads("keyhold", a.large, run, entries, loop=False)
        for n in a.agent_sizes:
            self.agent_runs.append(self.agent_section(n))

        self.setup = [
            f"Machine: {machine()}. The machine is shared: other work adds noise.",
            f"Load average (1, 5, 15 min) before: {load_before}; after: {load()}.",
            "Versions: " + "; ".join([
                "keyhold " + first_line([a.keyhold, "--version"], self.env)
                + f" (release build, {swift_linking(a.keyhold)})",
                "pass " + first_line(["pass", "--version"], self.env).strip("= ").split(" ")[-1].lstrip("v"),
                first_line(["gpg", "--version"], self.env),
                "keepassxc-cli " + first_line(["keepassxc-cli", "--version"], self.env)]),
            f"Keyhold: a vault made by `keyhold init` with the default password cost: {self.keyhold_kdf}; "
            "KEYHOLD_INSECURE_TEST_KDF is removed from the environment and the cost is checked before any timing.",
            f"keepassxc-cli: databases made by `db-create` / `import` with keepassxc-cli's defaults: {self.kpx_kdf}.",
            f"pass: a store made by `pass init` for a {self.gpg_type} key of gpg's default type, made for the "
            "run without a passphrase (pass itself asks for nothing; a passphrase would be asked by gpg-agent, "
            "which caches it: its per-decryption cost is measured separately below); "
            "re-encryption is `pass init` to a second such key.",
            f"Values: {len(entries[0][1])} random URL-safe characters; names `bench/s000001` ... in every tool "
            "(a group `bench` in keepassxc-cli, a directory in pass).",
            self.single_loop_note(),
            "Every value shown and every list is checked (the right value, all N names); "
            "after re-encryption the store is checked (Keyhold: only the new data key is left; "
            "pass: files encrypted to the new key; keepassxc-cli: opened with the new password).",
        ]
        if self.agent_runs:
            self.setup += self.agent_setup()
        return Report(date=time.strftime("%Y-%m-%d"), sizes=list(a.sizes), large=a.large, runs=a.runs,
                      calls=a.calls, large_calls=a.large_calls, setup=self.setup, fixed=self.fixed,
                      samples=self.samples, cpu=self.cpu, total_seconds=time.monotonic() - started,
                      agent=self.agent_runs)

    def run_agent_only(self) -> Report:
        """`--only agent`: the agent section alone, at each of --agent-sizes."""
        a = self.args
        p = self.progress
        p(f"load average {load()}; throwaway directory {self.root}")
        p("making the gpg key (no passphrase)")
        key = make_gpg_key(self.env, "Keyhold bench A <bench-a@keyhold.invalid>")
        self.keyhold = Keyhold(a.keyhold, self.env)
        self.pass_ = Pass(self.env, key, key)
        self.gpg_type = gpg_key_type(self.env, key)
        load_before = load()
        started = time.monotonic()
        for n in a.agent_sizes:
            self.agent_runs.append(self.agent_section(n))
        self.setup = [
            f"Machine: {machine()}. The machine is shared: other work adds noise.",
            f"Load average (1, 5, 15 min) before: {load_before}; after: {load()}.",
            "Versions: " + "; ".join([
                "keyhold " + first_line([a.keyhold, "--version"], self.env)
                + f" (release build, {swift_linking(a.keyhold)})",
                "pass " + first_line(["pass", "--version"], self.env).strip("= ").split(" ")[-1].lstrip("v"),
                first_line(["gpg", "--version"], self.env)]),
        ] + self.agent_setup()
        return Report(date=time.strftime("%Y-%m-%d"), sizes=[], large=None, runs=1, calls=a.agent_calls,
                      large_calls=0, setup=self.setup, fixed=[], samples={}, cpu={},
                      total_seconds=time.monotonic() - started, agent=self.agent_runs, only="agent")

    def agent_setup(self) -> List[str]:
        a = self.args
        return [
            f"Agent section, N = {', '.join(format_count(n) for n in a.agent_sizes)}: a Keyhold vault made by "
            f"`keyhold init` at the default password cost ({self.keyhold_kdf}; checked before any timing) "
            "and filled by `keyhold import`; `keyhold unlock` once (the password in KEYHOLD_PASSWORD, never "
            "in argv), with XDG_RUNTIME_DIR in the benchmark's own throwaway directory, so no agent of the "
            "user's is ever reached; `keyhold lock` at the end. Calls through the agent run with no password "
            "in their environment (a call the agent did not serve could not log in and would fail); the "
            "agent's count of commands served, reported by `lock`, is checked against the calls made.",
            f"Agent section, pass: a store of the same N made as `pass insert -m` makes each file "
            f"(value and newline, encrypted to a {self.gpg_type} key without a passphrase with pass's gpg "
            "options), by `gpg --encrypt-files` in chunks of 2,000 (one `pass insert` per secret would take "
            "hours at 100,000); `pass show` reads it as any store.",
            f"Agent section: {a.agent_calls} timed rounds after one untimed round; `--no-agent` calls in the "
            f"first {a.agent_direct_calls} timed rounds (each logs in: two Argon2id). `secret set` adds a new "
            "version to a different existing secret each call, with a fresh value on stdin. Checked: every "
            f"value shown (Keyhold and pass), every list (all the names under `{AGENT_PREFIX}`), and every "
            "value set, read back through the agent and the last one also with `--no-agent`.",
        ]

    def check_kdf(self, s: Store) -> None:
        """Refuses a vault below the default password cost (unless the agent section's test set cheap_kdf_ok)."""
        kdf = self.keyhold.kdf(s)
        if not self.cheap_kdf_ok and (kdf.get("opslimit", 0) < 2 or kdf.get("memlimit", 0) < 64 * 1024 * 1024):
            raise BenchError(f"keyhold made a vault below the default password cost ({kdf}): refusing to publish")
        self.keyhold_kdf = f"Argon2id, opslimit {kdf['opslimit']}, memlimit {kdf['memlimit'] // (1024 * 1024)} MiB"

    def agent_section(self, n: int) -> AgentRun:
        """Keyhold through its agent at N secrets, beside `pass show` on a pass store of N."""
        a = self.args
        p = self.progress
        tag = f"agent section, N = {format_count(n)}"
        if self.runtime is None:
            self.runtime = runtime_dir(self.root)
        entries = [(entry_name(i), secrets.token_urlsafe(32)) for i in range(1, n + 1)]
        p(f"{tag}: a Keyhold vault (`keyhold import`)")
        ks, t = self.keyhold.bulk(self.fresh("keyhold"), entries)
        p(f"  {format_seconds(t.wall)}")
        self.check_kdf(ks)
        ks.env["XDG_RUNTIME_DIR"] = str(self.runtime)
        p(f"{tag}: a pass store (`gpg --encrypt-files`)")
        started = time.monotonic()
        ps = self.pass_.bulk_store(self.fresh("pass"), entries)
        p(f"  {format_seconds(time.monotonic() - started)}")

        result = AgentRun(n)
        show_name, show_value = entries[n // 2]
        setters = [name for name, _ in entries if name != show_name]
        expected = sum(1 for name, _ in entries if name.startswith(AGENT_PREFIX))
        values_set: Dict[str, str] = {}
        served = 0

        p(f"{tag}: `keyhold unlock`")
        pid = self.keyhold.unlock(ks)
        self.unlocked.append((ks, pid))

        def agent_cpu() -> float:
            return process_cpu(pid)

        p(f"{tag}: {a.agent_calls} timed rounds after one untimed")
        for round_ in range(a.agent_calls + 1):
            timed = round_ > 0
            t, shown = self.pass_.show(ps, show_name)
            if shown != show_value:
                raise BenchError(f"pass: show returned the wrong value for {show_name}")
            if timed:
                result.pass_show.append(t)
            for direct in (False, True):
                if direct and round_ > a.agent_direct_calls:
                    continue
                for key, label in AGENT_CALLS:
                    name, value = show_name, ""
                    if key == "set":
                        name = setters[len(values_set) % len(setters)]
                        value = secrets.token_urlsafe(32)
                    t, out = self.keyhold.agent_call(ks, key, name, value, direct, agent_cpu)
                    served += 0 if direct else 1
                    how = "with --no-agent" if direct else "through the agent"
                    if key == "show" and out.decode() != show_value:
                        raise BenchError(f"keyhold: {label} {how} returned the wrong value for {name}")
                    if key == "set":
                        values_set[name] = value
                    if key == "list-prefix" and count_names(out) != expected:
                        raise BenchError(f"keyhold: {label} {how} printed {count_names(out)} of {expected} names")
                    if timed:
                        (result.direct if direct else result.agent).setdefault(key, []).append(t)
            if round_ % 5 == 0:
                p(f"  round {round_}/{a.agent_calls}")

        p(f"{tag}: reading back the {len(values_set)} values set")
        for name, value in values_set.items():
            _, out = self.keyhold.agent_call(ks, "show", name, "", False, None)
            served += 1
            if out.decode() != value:
                raise BenchError(f"keyhold: {name} does not read back the value set through the agent")
        last = list(values_set.items())[-1]
        if self.keyhold.agent_call(ks, "show", last[0], "", True, None)[1].decode() != last[1]:
            raise BenchError(f"keyhold: {last[0]} does not read back, logging in, the value set")

        p(f"{tag}: `keyhold lock`")
        result.served = self.keyhold.lock(ks)
        self.unlocked.remove((ks, pid))
        if result.served != served:
            raise BenchError(f"keyhold: the agent served {result.served} commands, {served} were sent to it")
        wait_gone(pid)
        p(f"{tag}: removing the vault and the store")
        for st in (ks, ps):
            shutil.rmtree(st.dir)
        return result

    def cleanup(self) -> None:
        """Ends any agent this run started and left running (after an error or an interrupt)."""
        for s, pid in self.unlocked:
            try:
                call([self.keyhold.bin, "lock"], s.env)
            except (BenchError, OSError):
                pass
            if not wait_gone(pid, raise_if_not=False):
                try:
                    os.kill(pid, 15)
                except OSError:
                    pass
        self.unlocked.clear()

    def single_loop_note(self) -> str:
        """Says which per-call loops ran once, and what one run of them cost."""
        a = self.args
        big = [n for n in a.sizes if n >= a.single_loop_from]
        if not big or a.runs == 1:
            return "Every workload ran in every run."
        spent = [f"{t} {format_seconds(sum(flat(self.samples.get((t, 'insert-loop', n), []))))}"
                 for n in big for t in TOOLS]
        return (f"Per-call insert loops at N ≥ {format_count(a.single_loop_from)} ran once (marked `[1 run]`), "
                f"to keep the benchmark near 20 minutes: one run of them took {', '.join(spent)}. "
                "Bulk inserts, show, list and re-encryption ran in every run, on stores made by the bulk path; "
                "pass, which has no bulk path, ran once at that size, all its workloads on the store its loop made.")

    def measure_fixed(self, key: str) -> None:
        """Per-call fixed costs, each on a store holding one secret, after one untimed warm-up call."""
        p = self.progress
        k = self.args.fixed_calls
        one = (entry_name(1), secrets.token_urlsafe(32))

        ks = self.keyhold.create(self.fresh("keyhold"))
        self.check_kdf(ks)
        self.keyhold.insert(ks, *one)
        ps = self.pass_.create(self.fresh("pass"))
        self.pass_.insert(ps, *one)
        self.gpg_type = gpg_key_type(self.env, key)
        xs = self.kpx.create(self.fresh("keepassxc"))
        self.kpx.insert(xs, *one)
        self.kpx_kdf = self.kpx.info(xs)

        # A passphrase-protected key, its passphrase cached in gpg-agent the way a pass user's is.
        phrase = password()
        protected = make_gpg_key(self.env, "Keyhold bench C <bench-c@keyhold.invalid>", phrase)
        cs = self.pass_.create(self.fresh("pass"), key=protected)
        self.pass_.insert(cs, *one)
        call(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase-fd", "0", "--decrypt",
              str(cs.file / (one[0] + ".gpg"))], cs.env, (phrase + "\n").encode())

        # For reference: a KDF tuned to one second, as the KeePassXC app tunes a new database's.
        slow = self.kpx.create(self.fresh("keepassxc"), extra=["--decryption-time", "1000"])
        slow_kdf = self.kpx.info(slow)

        kh = self.keyhold.bin
        plan: List[Tuple[str, str, str, Callable[[], Tuple[Timing, object]]]] = [
            ("keyhold", "`--version`", "process start only (Swift runtime, libraries)",
             lambda: call([kh, "--version"], ks.env)),
            ("keyhold", "`secret list` (one secret)",
             f"process start and login: two Argon2id ({self.keyhold_kdf}), two committed transactions, "
             "a signed audit event; one query", lambda: self.keyhold.list(ks)),
            ("pass", "`--version`", "bash start only (pass is a shell script)",
             lambda: call(["pass", "--version"], ps.env)),
            ("pass", "`gpg --version`", "gpg process start only", lambda: call(["gpg", "--version"], ps.env)),
            ("pass", "`show` (key without a passphrase)",
             f"bash start, gpg decrypts one file; the {self.gpg_type} private-key operation runs in gpg-agent",
             lambda: self.pass_.show(ps, one[0])),
            ("pass", "`show` (key with a passphrase, cached in gpg-agent)",
             "as above, plus gpg-agent unprotecting the key with the cached passphrase (its S2K) on every decryption",
             lambda: self.pass_.show(cs, one[0])),
            ("keepassxc-cli", "`--version`", "process start only (Qt)",
             lambda: call(["keepassxc-cli", "--version"], xs.env)),
            ("keepassxc-cli", "`ls` (one entry, default KDF)", f"process start, the KDF ({self.kpx_kdf}), "
             "the file decrypted and parsed", lambda: self.kpx.list(xs)),
            ("keepassxc-cli", "`ls` (one entry, KDF tuned to 1 s)",
             f"for reference, `db-create --decryption-time 1000` ({slow_kdf}): the one second the KeePassXC "
             "app tunes a new database's KDF to (there Argon2d); not used in the workloads",
             lambda: self.kpx.list(slow)),
        ]
        for tool, label, does, fn in plan:
            p(f"fixed cost: {tool} {label}")
            cost = FixedCost(tool, label, does)
            try:
                fn()  # warm-up, untimed
                for _ in range(k):
                    cost.samples.append(fn()[0])
            except BenchError as e:
                p(f"  not measured: {e}")
            self.fixed.append(cost)
        for s in (ks, ps, xs, cs, slow):
            shutil.rmtree(s.dir)

    def workloads(self, tool_name: str, n: int, run: int, entries: Sequence[Tuple[str, str]], loop: bool) -> None:
        p = self.progress
        tool = self.tools[tool_name]
        tag = f"{tool_name}, N = {format_count(n)}, run {run}/{self.args.runs}"
        main: Optional[Store] = None
        if tool.has_bulk:
            p(f"{tag}: bulk insert")
            main, t = tool.bulk(self.fresh(tool_name), entries)
            self.add(tool_name, "insert-bulk", n, run, t)
            p(f"  {format_seconds(t.wall)}")
        if loop:
            p(f"{tag}: insert, one call per secret")
            s = tool.create(self.fresh(tool_name))
            total = Timing(0.0, 0.0)
            step = max(n // 10, 1)
            for i, (name, value) in enumerate(entries, start=1):
                total += tool.insert(s, name, value)
                if i % step == 0 and i < n:
                    p(f"  {i:,}/{n:,}, {format_seconds(total.wall)} so far")
            self.add(tool_name, "insert-loop", n, run, total)
            p(f"  {format_seconds(total.wall)} ({format_seconds(total.wall / n)} per call, "
              f"{format_seconds(total.cpu / n)} CPU)")
            if main is None:
                main = s
            else:
                self.check_list(tool, s, n)
                shutil.rmtree(s.dir)
        name, value = entries[len(entries) // 2]
        p(f"{tag}: show, list")
        for _ in range(self.args.large_calls if n == self.args.large else self.args.calls):
            t, shown = tool.show(main, name)
            if shown != value:
                raise BenchError(f"{tool_name}: show returned the wrong value for {name}")
            self.add(tool_name, "show", n, run, t)
            self.add(tool_name, "list", n, run, self.check_list(tool, main, n))
        p(f"{tag}: re-encrypt everything")
        t = tool.reencrypt(main)
        self.add(tool_name, "reencrypt", n, run, t)
        p(f"  {format_seconds(t.wall)}")
        tool.check_reencrypted(main)
        if tool.show(main, name)[1] != value:
            raise BenchError(f"{tool_name}: after re-encryption show returned the wrong value for {name}")
        shutil.rmtree(main.dir)

    @staticmethod
    def check_list(tool, s: Store, n: int) -> Timing:
        t, out = tool.list(s)
        found = count_names(out)
        if found != n:
            raise BenchError(f"{tool.name}: list printed {found} of {n} names")
        return t


def wait_gone(pid: int, seconds: float = 5.0, raise_if_not: bool = True) -> bool:
    """Waits for process pid to end; True when it has."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    if raise_if_not:
        raise BenchError(f"keyhold: the agent (pid {pid}) still runs {seconds:.0f} s after `lock`")
    return False


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Keyhold side by side with pass and keepassxc-cli.")
    ap.add_argument("--keyhold", required=True, help="the release keyhold binary")
    ap.add_argument("--out", help="write the report here too (a `## Notes` section in it is kept)")
    ap.add_argument("--dir", help="where to make the throwaway directory (default: the system's)")
    ap.add_argument("--runs", type=int, default=3, help="runs per workload (default 3)")
    ap.add_argument("--calls", type=int, default=3, help="show and list calls per run (default 3)")
    ap.add_argument("--large-calls", type=int, default=1,
                    help="show and list calls per run at the --large N (default 1: a list there takes seconds)")
    ap.add_argument("--fixed-calls", type=int, default=7, help="calls per fixed-cost measurement (default 7)")
    ap.add_argument("--sizes", default="100,1000", help="N for all three tools (default 100,1000)")
    ap.add_argument("--large", type=int, default=100_000, help="N for Keyhold alone, bulk only; 0: none")
    ap.add_argument("--single-loop-from", type=int, default=1000,
                    help="per-call insert loops run once at this N and above (default 1000)")
    ap.add_argument("--only", choices=("all", "agent"), default="all",
                    help="agent: only the agent section (Keyhold through `keyhold unlock` beside `pass show`), "
                    "at --agent-sizes; a few minutes (default all)")
    ap.add_argument("--agent-sizes",
                    help="N of the agent section (default: the --sizes and --large; with --only agent, 100000)")
    ap.add_argument("--agent-calls", type=int, default=15,
                    help="timed rounds of the agent section, each call once per round (default 15)")
    ap.add_argument("--agent-direct-calls", type=int, default=5,
                    help="of those rounds, how many also run each call with --no-agent (default 5)")
    args = ap.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.agent_sizes is not None:
        args.agent_sizes = [int(x) for x in args.agent_sizes.split(",") if x]
    elif args.only == "agent":
        args.agent_sizes = [100_000]
    else:
        args.agent_sizes = args.sizes + ([args.large] if args.large else [])
    if min([args.runs, args.calls, args.large_calls, args.fixed_calls, args.agent_calls] + args.sizes) < 1:
        ap.error("--runs, --calls, --large-calls, --fixed-calls, --agent-calls and --sizes must be at least 1")
    if args.agent_direct_calls < 0 or args.agent_direct_calls > args.agent_calls:
        ap.error("--agent-direct-calls must be from 0 to --agent-calls")
    if min(args.agent_sizes, default=2) < 2 or (args.only == "agent" and not args.agent_sizes):
        ap.error("--agent-sizes must each be at least 2 (one secret shown, others set)")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    needed = ("pass", "gpg", "gpgconf") if args.only == "agent" else ("pass", "gpg", "gpgconf", "keepassxc-cli", "tree")
    for tool in needed:
        if shutil.which(tool) is None:
            print(f"bench_peers: `{tool}` is not installed (make bench-peers installs it)", file=sys.stderr)
            return 2
    if not os.access(args.keyhold, os.X_OK):
        print(f"bench_peers: no keyhold binary at {args.keyhold}", file=sys.stderr)
        return 2
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="keyhold-bench-peers-", dir=args.dir)).resolve()
    progress = Progress()
    bench = Bench(args, root, progress)
    try:
        report = bench.run()
    except BenchError as e:
        print(f"bench_peers: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_peers: interrupted; nothing written", file=sys.stderr)
        return 130
    finally:
        # End any Keyhold agent left running, stop the gpg-agent started for the throwaway keys,
        # then remove everything.
        bench.cleanup()
        subprocess.run(["gpgconf", "--kill", "all"], env=bench.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(Path(bench.env["GNUPGHOME"]).parent, ignore_errors=True)
        if bench.runtime is not None:
            shutil.rmtree(bench.runtime, ignore_errors=True)
    text = render(report)
    if args.out:
        out = Path(args.out)
        old = out.read_text() if out.exists() else None
        text = keep_notes(old, text)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        progress(f"wrote {out}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
