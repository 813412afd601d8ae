"""Run every benchmark and write their figures to bench/RESULTS.md (issue 8).

    python bench/run_all.py [--quick] [--only NAME,...] [--args NAME="--flag value ..."]
                            [--output bench/RESULTS.md]

NAME: callbacks, tokens-a, proxy, tokens-b, admin, webhooks, prune, refresh, tokens-steady,
lockout, fuzz, soak. With --only, the other benchmarks' sections of the existing file are kept, each
marked with the date of the run that wrote it.

Each benchmark runs as a subprocess, one after the other (they would compete for the machine's
cores otherwise); its stdout is kept whole and its figure lines are parsed: a figure is a line
`label: value [unit]`, with `  (target OP number [unit])` at its end when it has a target (OP is
one of <, <=, >, >=, =; anything after a colon inside the parentheses is ignored). A benchmark
whose script does not exist yet is listed as such. The file gets the date, the machine, one
table per benchmark (figure, value, target, met?) and each benchmark's raw output. Progress lines
(the benchmarks' stderr) pass through to this process's stderr.

--quick runs smaller sizes (a few minutes in all instead of about half an hour); --args replaces
one benchmark's arguments, e.g. --args tokens-b="--part b --tenants 5000 --ttl 900".
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from redis import Redis

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.callbacks import POSTGRES  # noqa: E402

REDIS = os.environ.get("SUITE_SERVER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str  # under bench/
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout: int  # seconds
    reading: str = ""  # how to read its table, printed above it


BENCHMARKS = [
    Benchmark("callbacks", "callbacks.py", (), ("--count", "1000"), 900),
    Benchmark("tokens-a", "tokens.py", ("--part", "a"), ("--part", "a", "--count", "2000"), 900),
    Benchmark("proxy", "proxy.py", (), ("--count", "1200"), 900),
    Benchmark(
        "tokens-b",
        "tokens.py",
        ("--part", "b", "--redis-url", REDIS),
        ("--part", "b", "--tenants", "2000", "--ttl", "300", "--redis-url", REDIS),
        3600,
        "WeCom renews a corp token only once it has expired, so each tenant is refreshed once "
        "per lifetime, just after its expiry, and tenants filled together are refreshed in a "
        "burst. Calls per tenant per lifetime is below 1.0 when the window ends inside a burst: "
        "read it with calls per new token (1.00: every call renewed a token), the seconds after "
        "expiry and tokens served expired.",
    ),
    # Run when it exists (issue 7 / 8); its own "met" after the target is ignored: judged here.
    Benchmark("admin", "admin.py", (), ("--tenants", "20000", "--requests", "100"), 900),
    Benchmark(
        "webhooks",
        "webhook_drain.py",
        ("--redis-url", REDIS),
        ("--redis-url", REDIS),
        900,
        "One tenant's 300 webhook messages, piled up while the 2 workers were suspended, then "
        "drained in order to a receiver on loopback; the baseline is one thread POSTing them one "
        "after the other. In-order delivery is one request at a time, so the drain time is the "
        "sum of the per-delivery costs (two small transactions, a POST, an enqueue): it grows "
        "with the machine's load.",
    ),
    Benchmark(
        "prune",
        "prune.py",
        (),
        ("--events", "100000"),
        1800,
        "The retention job deleting a backlog of processed events 40 days old (one in ten with a "
        "delivered webhook), 1,000 rows a transaction, while a thread stores an event every 5 ms; "
        "the baseline is the same thread's store times on the idle database just before.",
    ),
    Benchmark(
        "refresh",
        "refresh.py",
        ("--redis-url", REDIS),
        ("--tenants", "2000", "--redis-url", REDIS),
        3600,
        "Every tenant's token dead at once (as after an outage longer than a lifetime), "
        "refreshed by 2 workers, once with the sandbox answering at once and once after 80 ms, "
        "the platforms' latency from a server in mainland China. The 0 ms run is this machine's "
        "floor (its cores shared by the sandbox, workers and database); the ratio says how much "
        "of the latency the workers' concurrent refreshes hide.",
    ),
    Benchmark(
        "tokens-steady",
        "tokens.py",
        ("--part", "b", "--steady", "--tenants", "100000", "--ttl", "2400", "--redis-url", REDIS),
        ("--part", "b", "--steady", "--tenants", "5000", "--ttl", "300", "--redis-url", REDIS),
        7200,
        "Tenants whose tokens are of every age, as after the server has run a while, for two "
        "lifetimes: each token is refreshed once a lifetime, just after it expires (WeCom), by "
        "batches the sweep hands out; the sweep's own time is read from RQ.",
    ),
    Benchmark(
        "lockout",
        "lockout.py",
        (),
        ("--bursts", "2"),
        900,
        "Bursts of 40 concurrent wrong passwords, each from its own address, then the right one: "
        "how many were checked before the account's lock, and whether the right one got in.",
    ),
    Benchmark(
        "fuzz",
        "fuzz.py",
        (),
        ("--count", "500"),
        900,
        "Hostile requests at every URL family of a gunicorn deployment, by status; 503s are "
        "install starts, as no platform is reachable here.",
    ),
    Benchmark(
        "soak",
        "soak.py",
        ("--duration", "300", "--redis-url", REDIS),
        ("--duration", "60", "--redis-url", REDIS),
        1500,
        "Every few seconds one of our processes (3 gunicorns sharing a port, 2 workers, 2 cron) "
        "SIGKILLed and started again, while the sandbox (80 ms) pushes tickets, authorizations "
        "and messages to a WeCom suite and an Open component (Open refresh tokens rotating) and "
        "50 readers use tokens; then a drain without kills, and a forced refresh per tenant. "
        "Pushes the platform gave up on (our server did not answer any of its 3 attempts) are "
        "not losses; the loss figures are those with a target.",
    ),
]

FIGURE = re.compile(
    r"^(?P<label>\S[^:]*): (?P<value>-?\d+(?:\.\d+)?|n/a)(?P<unit>[^()\d]*?)"
    r"(?:\s+\(target (?P<op><=|>=|<|>|=) (?P<target>-?\d+(?:\.\d+)?)\s*(?P<target_unit>[^):]*)"
    r"(?::[^)]*)?\))?"
    r"\s*$"
)


@dataclass(frozen=True)
class Figure:
    label: str
    value: float | None  # None: the benchmark printed n/a (could not measure it)
    unit: str
    op: str | None
    target: float | None
    target_unit: str

    @property
    def met(self) -> bool | None:
        if self.op is None or self.target is None:
            return None
        if self.value is None:
            return False
        return {
            "<": self.value < self.target,
            "<=": self.value <= self.target,
            ">": self.value > self.target,
            ">=": self.value >= self.target,
            "=": abs(self.value - self.target) < 1e-9,
        }[self.op]


def parse(output: str) -> list[Figure]:
    figures = []
    for line in output.splitlines():
        found = FIGURE.match(line)
        if found is None:
            continue
        target = found["target"]
        figures.append(
            Figure(
                found["label"].strip(),
                None if found["value"] == "n/a" else float(found["value"]),
                found["unit"].strip(),
                found["op"],
                float(target) if target is not None else None,
                (found["target_unit"] or "").strip(),
            )
        )
    return figures


@dataclass
class Outcome:
    benchmark: Benchmark
    command: list[str]
    returncode: int | None  # None: not run
    seconds: float
    stdout: str
    note: str = ""
    load: str = ""  # load average when it started: how busy the shared machine was


def run(benchmark: Benchmark, arguments: list[str]) -> Outcome:
    script = BENCH / benchmark.script
    command = [sys.executable, f"bench/{benchmark.script}", *arguments]
    if not script.exists():
        note = f"no benchmark yet (bench/{benchmark.script} does not exist)"
        print(f"== {benchmark.name}: {note}", file=sys.stderr, flush=True)
        return Outcome(benchmark, command, None, 0.0, "", note)
    print(f"== {benchmark.name}: {shlex.join(command)}", file=sys.stderr, flush=True)
    load = load_average()
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=BENCH.parent,
            stdout=subprocess.PIPE,
            text=True,
            timeout=benchmark.timeout,
        )
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        note = f"stopped after {benchmark.timeout} s"
        return Outcome(benchmark, command, -1, time.monotonic() - started, stdout, note, load)
    elapsed = time.monotonic() - started
    sys.stderr.write(done.stdout)
    return Outcome(benchmark, command, done.returncode, elapsed, done.stdout, load=load)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the machine -------------------------------------------------------------------------------


def machine() -> list[tuple[str, str]]:
    def meminfo() -> str:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        except OSError:
            pass
        return "unknown"

    def cpu_model() -> str:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown"

    def postgres() -> str:
        try:
            engine = sa.create_engine(POSTGRES)
            with engine.connect() as connection:
                version = connection.scalar(sa.text("SHOW server_version"))
            engine.dispose()
            return f"PostgreSQL {version}"
        except Exception as exc:  # noqa: BLE001 - describe the machine whatever is missing
            return f"unavailable ({type(exc).__name__})"

    def redis() -> str:
        try:
            return "Redis " + Redis.from_url(REDIS).info("server")["redis_version"]
        except Exception as exc:  # noqa: BLE001
            return f"unavailable ({type(exc).__name__})"

    return [
        ("platform", platform.platform()),
        ("CPU", f"{os.cpu_count()} × {cpu_model()}"),
        ("memory", meminfo()),
        ("Python", platform.python_version()),
        ("database", postgres()),
        ("Redis", redis()),
        ("load average at start (1, 5, 15 min)", load_average()),
    ]


# -- RESULTS.md --------------------------------------------------------------------------------

# A section written by hand, kept from one run to the next: figures measured once to choose a
# design, which the code's comments refer to instead of quoting them.
KEPT = "## Figures behind design choices"


def earlier_runs(previous: str) -> dict[str, tuple[str, str]]:
    """Each benchmark's summary row and section in the previous RESULTS.md, by name, marked
    with when they were written (for the benchmarks a run with --only leaves out)."""
    when = re.search(r" on (\d{4}-\d\d-\d\d \d\d:\d\d \w+)\.", previous)
    written = f"kept from the run of {when.group(1)}" if when else "kept from an earlier run"
    body = previous.split("\n" + KEPT)[0]
    rows = dict(re.findall(r"^\| (\S+) (\| .*\|)$", body.split("\n## ", 2)[1], re.MULTILINE))
    found = {}
    for chunk in body.split("\n## ")[2:]:
        name, _, text = chunk.partition("\n")
        if name in rows:
            if "kept from" not in text.split("\n\n", 2)[1]:
                text = f"\n({written})\n" + text
            found[name] = (rows[name], text.strip("\n"))
    return found


def kept_section(previous: str) -> str:
    """The hand-written section of the previous RESULTS.md (from its heading to the end), or ""."""
    at = previous.find("\n" + KEPT)
    return "" if at < 0 else previous[at:].rstrip("\n") + "\n"


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def table(figures: list[Figure]) -> list[str]:
    lines = ["| figure | value | target | met? |", "| --- | --- | --- | --- |"]
    for f in figures:
        value = f"{_number(f.value)} {f.unit}".strip()
        target = "" if f.op is None else f"{f.op} {_number(f.target)} {f.target_unit}".strip()
        met = {None: "", True: "yes", False: "**no**"}[f.met]
        lines.append(f"| {f.label} | {value} | {target} | {met} |")
    return lines


def report(
    outcomes: list[Outcome], quick: bool, started: str, host: list, earlier: dict | None = None
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run_all.py{' --quick' if quick else ''}"
        f"{' --only ' + ','.join(sorted(o.benchmark.name for o in outcomes)) if earlier else ''}`"
        f" on {started}. "
        "Each benchmark ran alone, one after the other, but on a shared machine (other "
        "people's tests may have run at the same time): read the figures as noisy, and compare "
        "ratios measured within one run rather than absolute rates across runs."
        + (
            " A benchmark not run this time keeps its earlier section, which says so."
            if earlier
            else ""
        ),
        "",
        "| machine | |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in host],
        "",
        "## Summary",
        "",
        "| benchmark | exit | time | targets met |",
        "| --- | --- | --- | --- |",
    ]
    ran = {o.benchmark.name: o for o in outcomes}
    kept = {name: run for name, run in (earlier or {}).items() if name not in ran}
    order = [b.name for b in BENCHMARKS if b.name in ran or b.name in kept]
    for name in order:
        if name in kept:
            lines.append(f"| {name} {kept[name][0]}")
            continue
        o = ran[name]
        figures = parse(o.stdout)
        judged = [f for f in figures if f.met is not None]
        met = sum(1 for f in judged if f.met)
        exit_text = o.note or str(o.returncode)
        if o.returncode is None:
            lines.append(f"| {o.benchmark.name} | {exit_text} | | |")
        else:
            lines.append(
                f"| {o.benchmark.name} | {exit_text} | {o.seconds:.0f} s | {met} of {len(judged)} |"
            )
    for name in order:
        if name in kept:
            lines += ["", f"## {name}", "", kept[name][1]]
            continue
        o = ran[name]
        lines += ["", f"## {o.benchmark.name}", ""]
        if o.returncode is None:
            lines.append(o.note)
            continue
        lines += [
            f"`{shlex.join(o.command[1:])}`: {o.seconds:.0f} s, exit {o.returncode}, "
            f"load average at its start {o.load}",
            "",
        ]
        if o.note:
            lines += [o.note, ""]
        if o.benchmark.reading:
            lines += [o.benchmark.reading, ""]
        figures = parse(o.stdout)
        lines += table(figures) if figures else ["(no figures printed)"]
        lines += ["", "```", o.stdout.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", default=",".join(names), help="comma-separated names")
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar='NAME="ARGS"',
        help="replace one benchmark's arguments",
    )
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    options = parser.parse_args()
    chosen = [n.strip() for n in options.only.split(",") if n.strip()]
    unknown = set(chosen) - set(names)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; known: {', '.join(names)}")
    replaced = {}
    for item in options.args:
        name, _, value = item.partition("=")
        if name not in names:
            parser.error(f"--args: unknown benchmark {name!r}")
        replaced[name] = shlex.split(value)

    started = time.strftime("%Y-%m-%d %H:%M %Z")
    host = machine()  # now, so the load average is the one before the benchmarks
    outcomes = []
    for benchmark in BENCHMARKS:
        if benchmark.name not in chosen:
            continue
        default = benchmark.quick if options.quick else benchmark.full
        outcomes.append(run(benchmark, replaced.get(benchmark.name, list(default))))
    output = Path(options.output)
    previous = output.read_text() if output.exists() else ""
    earlier = earlier_runs(previous) if previous and len(chosen) < len(names) else None
    output.write_text(
        report(outcomes, options.quick, started, host, earlier) + kept_section(previous)
    )
    print(f"wrote {options.output}", file=sys.stderr)
    failed = [o.benchmark.name for o in outcomes if o.returncode not in (None, 0)]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
