"""The pipeline benchmark: sustained throughput and end-to-end latency of the Twitch pipeline on one test-bed host.

    python -m scripts.bench_pipeline [--rate 2000] [--duration 300] [--latency-rate 200] [--latency-duration 120]
                                     [--interval 10] [--idle 30] [--drain-timeout 1800] [--phases latency,throughput]
                                     [--skip-converge] [-e KEY=VALUE ...] [--json FILE] [--down]

1. boots the all-in-one host ``bench`` (every group: zookeeper, kafka, spark, shipper, web) and converges
   ``ansible/playbooks/site.yml`` on it with ``chat_source: twitch`` and the benchmark's variables
   (scripts/bench/vars.yml: bigger heaps, two shuffle partitions, a 2 s trigger; ``-e`` adds or overrides one, e.g.
   ``-e 'sentiment_job_trigger_interval=5 seconds'``). ``--skip-converge`` reuses a converged host;
2. copies scripts/bench/ (the writer and the probe) and the demo's chat sample onto the host, and warms the pipeline
   up: 200 lines, all of which must come out scored (else the benchmark stops with exit status 1);
3. **latency**: the writer (scripts/bench/writer.py, as the chat logger's user, in its own systemd unit) appends
   Chatty lines with a unique token each to four channel files in the chat logger's folder at ``--latency-rate``
   for ``--latency-duration`` seconds and logs when each line was flushed; the probe (scripts/bench/probe.py, with
   the job's virtualenv) then reads the ``chat-sentiment-scored`` topic and finds every token's record. A line's
   latency is its scored record's Kafka timestamp (CreateTime: set by the job's producer when it sends the
   record) minus the moment the writer flushed it -- both clocks are the host's. Every line must be scored exactly
   once: one record per token in the topic (at-least-once there) and one row per token in the Parquet table;
4. **throughput**: the probe samples every ``--interval`` seconds, ``--idle`` seconds of idle baseline first, then
   the writer writes at ``--rate`` for ``--duration`` seconds: lines written, the end offsets of ``twitch-chat``
   (what Filebeat shipped), the offsets the job's ``ingest`` query has committed in its checkpoint (what it
   processed; lag = end offsets - committed offsets, see scripts/bench/README.md), the end offsets of
   ``chat-sentiment-scored`` (rows scored and published), the CPU time of the job (its JVM and its Python
   processes apart), Kafka, Filebeat and the writer, of the whole host and of the machine (the others on it). It
   goes on until the job has caught up, or ``--drain-timeout`` seconds after the writer stopped; the job's
   per-batch ``progress`` lines of that time (``journalctl -u chat-sentiment``) are summed per query;
5. prints markdown tables: the setup (host CPUs, load averages, converge time), latency percentiles, the
   per-interval throughput table, the lag summary (start/middle/end of the writing, slope over its second half),
   what each part cost in CPU per line (and the rate that allows with the host's CPUs to itself: on a shared
   machine, the figure to compare between runs), the job's batches per query, and whether each target is met:
   2,000 msg/s sustained for 5 minutes with a lag that does not grow; p99 latency under 10 s at 200 msg/s, every
   message scored exactly once.

Exit status 1 only when the benchmark cannot run (boot, converge, the warm-up, a probe failing; a dropped ssh
connection to a probe is retried); missing a target is reported, not an error. ``--down`` removes the host at the
end (else it is kept for ``--skip-converge``; ``python -m scripts.testbed down bench`` removes it).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scripts import testbed
from scripts.paths import REPO

HOST = "bench"
GROUPS = ("zookeeper", "kafka", "spark", "shipper", "web")
BENCH = REPO / "scripts" / "bench"
VARS = BENCH / "vars.yml"
SAMPLE = REPO / "scripts" / "demo" / "sample-chat"
REMOTE = "/var/tmp/chat-bench"
LOG_DIR = "/var/lib/chat-logger/logs"
VENV_PYTHON = "/opt/spark/venv/bin/python"
UNITS = ("chat-sentiment.service", "kafka.service", "filebeat.service")
CHANNELS = 4

TARGET_RATE = 2000.0
TARGET_SECONDS = 300.0
TARGET_LATENCY_RATE = 200.0
TARGET_P99 = 10.0
#: The lag "grows" when its least-squares slope over the second half of the writing exceeds this share of the rate.
LAG_GROWTH_SHARE = 0.02
#: The writer "reaches" its rate when it writes at least this share of it.
RATE_SHARE = 0.98


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ pure parts


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank: the smallest value with at least q% of them at or below it.
    NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0-100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """A GitHub-markdown table, columns padded; ``numeric`` columns are right-aligned (by default: the columns
    whose cells are all numbers or empty). None prints as ``-``, floats with up to one decimal."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:,.1f}" if abs(value) < 1e15 else f"{value:.3g}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value).replace("|", "\\|")

    text = [[cell(v) for v in row] for row in rows]
    if numeric is None:
        numeric = [all((isinstance(row[i], int | float) and not isinstance(row[i], bool)) or row[i] is None
                       for row in rows) and bool(rows) for i in range(len(headers))]
    widths = [max([len(h), 3, *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w
                               for w, num in zip(widths, numeric, strict=True)) + " |"]
    for row in text:
        lines.append("| " + " | ".join(c.rjust(w) if num else c.ljust(w)
                                       for c, w, num in zip(row, widths, numeric, strict=True)) + " |")
    return "\n".join(lines)


@dataclass
class WriteLog:
    """When the writer flushed each seq: ``<first> <last> <time>`` lines, one per tick, in seq order."""

    firsts: list[int] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> WriteLog:
        log = cls()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3:
                log.firsts.append(int(parts[0]))
                log.lasts.append(int(parts[1]))
                log.times.append(float(parts[2]))
        return log

    def time_of(self, seq: int) -> float | None:
        index = bisect.bisect_right(self.firsts, seq) - 1
        if index < 0 or seq > self.lasts[index]:
            return None
        return self.times[index]

    @property
    def lines(self) -> int:
        return sum(last - first + 1 for first, last in zip(self.firsts, self.lasts, strict=True))


@dataclass
class LatencyResult:
    expected: int
    records: int  # scored records carrying one of the run's tokens (repeats included)
    distinct: int
    latencies: list[float]  # seconds, one per distinct seq: first record's timestamp - flush time
    buckets: list[tuple[float, list[float]]]  # (seconds since the first write, latencies of lines written then)

    @property
    def duplicates(self) -> int:
        return self.records - self.distinct

    @property
    def missing(self) -> int:
        return self.expected - self.distinct

    def summary(self) -> dict[str, float]:
        values = self.latencies
        return {"p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99),
                "max": max(values) if values else math.nan,
                "mean": sum(values) / len(values) if values else math.nan}


def latency_result(write_log: WriteLog, observations: Sequence[tuple[int, int]], expected: int,
                   bucket_seconds: float = 20.0) -> LatencyResult:
    """Join the writer's flush times with the scored records' ``(seq, timestamp ms)``: the first record of each seq
    counts for its latency, every record for the repeats."""
    first: dict[int, int] = {}
    records = 0
    for seq, stamp in observations:
        if 0 <= seq < expected:
            records += 1
            first[seq] = min(stamp, first.get(seq, stamp))
    latencies: list[float] = []
    origin = write_log.times[0] if write_log.times else 0.0
    buckets: dict[int, list[float]] = {}
    for seq in sorted(first):
        written = write_log.time_of(seq)
        if written is None:
            continue
        value = first[seq] / 1000 - written
        latencies.append(value)
        buckets.setdefault(int((written - origin) // bucket_seconds), []).append(value)
    return LatencyResult(expected, records, len(first), latencies,
                         [(k * bucket_seconds, v) for k, v in sorted(buckets.items())])


def lag_of(sample: dict[str, Any], query: str = "ingest") -> int | None:
    """Records of the chat topic a query has not processed yet: end offsets - its committed offsets."""
    committed = sample["queries"].get(query, {}).get("committed")
    return None if committed is None else max(0, sample["topic_end"] - committed)


def nearest(samples: Sequence[dict[str, Any]], when: float) -> dict[str, Any]:
    return min(samples, key=lambda s: abs(s["time"] - when))


def interpolate(samples: Sequence[dict[str, Any]], key: str, when: float) -> float:
    """A cumulative sample field at wall time ``when``, linearly between the samples around it."""
    before = [s for s in samples if s["time"] <= when]
    after = [s for s in samples if s["time"] >= when]
    if not before:
        return float(samples[0][key])
    if not after:
        return float(samples[-1][key])
    a, b = before[-1], after[0]
    if b["time"] == a["time"]:
        return float(a[key])
    return a[key] + (b[key] - a[key]) * (when - a["time"]) / (b["time"] - a["time"])


JOB_UNIT = "chat-sentiment.service"


def cpu_seconds(sample: dict[str, Any], unit: str, names: Sequence[str] = (), exclude: bool = False) -> float | None:
    """CPU seconds a unit's processes have used (the probe's per-process-name sums): all of them, only ``names``, or
    all but ``names`` (``exclude``). None when the unit was not there."""
    per = sample["cpu_seconds"].get(unit)
    if per is None:
        return None
    return sum(v for k, v in per.items() if not names or ((k in names) != exclude))


def _cpu_percent(a: dict[str, Any], b: dict[str, Any], unit: str, names: Sequence[str] = (),
                 exclude: bool = False) -> float | None:
    x, y = cpu_seconds(a, unit, names, exclude), cpu_seconds(b, unit, names, exclude)
    seconds = b["time"] - a["time"]
    if x is None or y is None or seconds <= 0:
        return None
    return max(0.0, y - x) / seconds * 100


def _others_percent(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """CPU used on the machine outside this host, in % of one CPU."""
    seconds = b["time"] - a["time"]
    if a.get("host_cpu_seconds") is None or b.get("host_cpu_seconds") is None or seconds <= 0:
        return None
    busy = b["machine_cpu"]["busy"] - a["machine_cpu"]["busy"]
    ours = b["host_cpu_seconds"] - a["host_cpu_seconds"]
    return max(0.0, busy - ours) / seconds * 100


def at_start(samples: Sequence[dict[str, Any]], start: float) -> dict[str, Any]:
    """The last sample taken before the writer started (the baseline), else the first one."""
    return ([s for s in samples if s["time"] <= start] or [samples[0]])[-1]


INTERVAL_HEADERS = ("t (s)", "written", "written/s", "shipped/s", "processed/s", "scored/s", "not shipped",
                    "job lag", "job JVM cpu%", "job Python cpu%", "kafka cpu%", "filebeat cpu%",
                    "writer cpu%", "others cpu%", "load1")


def interval_rows(samples: Sequence[dict[str, Any]], writer_unit: str, start: float) -> list[list[Any]]:
    """One row per pair of consecutive samples: rates over the interval, levels at its end. ``start``: the wall
    time the writer started (t = 0; rows before it are the idle baseline). CPU in % of one CPU."""
    rows: list[list[Any]] = []
    base = at_start(samples, start)
    for a, b in itertools.pairwise(samples):
        seconds = b["time"] - a["time"]
        if seconds <= 0:
            continue
        processed = [s["queries"].get("ingest", {}).get("committed") for s in (a, b)]
        rows.append([
            round(b["time"] - start), b["written"], (b["written"] - a["written"]) / seconds,
            (b["topic_end"] - a["topic_end"]) / seconds,
            None if None in processed else (processed[1] - processed[0]) / seconds,
            (b["scored_end"] - a["scored_end"]) / seconds,
            max(0, b["written"] - (b["topic_end"] - base["topic_end"])), lag_of(b),
            _cpu_percent(a, b, JOB_UNIT, ("java",)), _cpu_percent(a, b, JOB_UNIT, ("java",), exclude=True),
            _cpu_percent(a, b, "kafka.service"), _cpu_percent(a, b, "filebeat.service"),
            _cpu_percent(a, b, writer_unit), _others_percent(a, b), b["load"][0],
        ])
    return rows


CPU_HEADERS = ("what", "cpu% idle (before writing)", "cpu% while writing", "cpu-s, writing + catching up",
               "cpu-ms per line", "lines/s if it had every CPU")


def cpu_cost_rows(samples: Sequence[dict[str, Any]], start: float, seconds: float, lines: int, *, writer_unit: str,
                  cpus: int) -> list[list[Any]]:
    """What each part of the pipeline costs: its CPU % in the idle baseline and while the writer wrote, its CPU
    seconds from the writer's start to the end of the sampling (when the job had caught up) per line written, and
    the rate that cost would allow with all of the host's ``cpus`` to itself (an upper bound: no contention, no
    waiting, perfect parallelism). % are of one CPU."""
    base = at_start(samples, start)
    idle = [s for s in samples if s["time"] <= start]
    end = nearest(samples, start + seconds)
    parts: list[tuple[str, str | None, Sequence[str], bool]] = [
        ("job (JVM + Python)", JOB_UNIT, (), False), ("job: JVM", JOB_UNIT, ("java",), False),
        ("job: Python workers and driver", JOB_UNIT, ("java",), True), ("Kafka", "kafka.service", (), False),
        ("Filebeat", "filebeat.service", (), False), ("writer", writer_unit, (), False),
        ("the whole host", None, (), False)]
    rows: list[list[Any]] = []
    for label, unit, names, exclude in parts:
        def value(sample: dict[str, Any], unit: str | None = unit, names: Sequence[str] = names,
                  exclude: bool = exclude) -> float | None:
            return sample.get("host_cpu_seconds") if unit is None else cpu_seconds(sample, unit, names, exclude)

        def percent(a: dict[str, Any], b: dict[str, Any]) -> float | None:
            x, y = value(a), value(b)
            if y is None or b["time"] <= a["time"]:
                return None
            return max(0.0, y - (x or 0.0)) / (b["time"] - a["time"]) * 100

        present = [s for s in samples if s["time"] >= base["time"] and value(s) is not None]
        used = None if not present else max(0.0, (value(present[-1]) or 0.0) - (value(base) or 0.0))
        per_line = None if used is None or not lines else used / lines * 1000
        rows.append([label, percent(idle[0], idle[-1]) if len(idle) > 1 else None, percent(base, end), used,
                     None if per_line is None else round(per_line, 3),
                     None if not per_line else cpus * 1000 / per_line])
    return rows


def others_share(samples: Sequence[dict[str, Any]], start: float) -> float | None:
    """The machine's CPU used outside this host from the writer's start to the last sample, % of one CPU."""
    return _others_percent(at_start(samples, start), samples[-1])


@dataclass
class ThroughputSummary:
    lines: int
    write_seconds: float
    written_rate: float
    scored_in_window: float  # scored rows produced while the writer wrote, per second
    scored_total: int  # scored rows by the end of the sampling
    caught_up_after: float | None  # seconds after the writer stopped until every line was scored
    end_to_end_rate: float | None  # lines / (last line scored - writer start)
    lag_start: int | None
    lag_middle: int | None
    lag_end: int | None
    lag_max: int | None
    lag_slope: float | None  # msg/s over the second half of the writing
    lag_grew: bool

    def met(self, target_rate: float, target_seconds: float) -> tuple[bool, str]:
        why = []
        if self.write_seconds < target_seconds * RATE_SHARE:
            why.append(f"wrote for {self.write_seconds:.0f}s, not {target_seconds:.0f}s")
        if self.written_rate < target_rate * RATE_SHARE:
            why.append(f"wrote {self.written_rate:,.0f} msg/s")
        if self.scored_in_window < target_rate * RATE_SHARE:
            why.append(f"scored {self.scored_in_window:,.0f} msg/s while writing")
        if self.lag_grew:
            why.append(f"lag grew {self.lag_slope:+,.0f} msg/s")
        return not why, "; ".join(why)


def throughput_summary(samples: Sequence[dict[str, Any]], start: float, seconds: float,
                       lines: int) -> ThroughputSummary:
    """The writing window is [start, start + seconds] (wall time); ``samples`` cover it and the drain after it."""
    end = start + seconds
    base = at_start(samples, start)
    scored = [dict(s, scored_rows=s["scored_end"] - base["scored_end"]) for s in samples]
    in_window = interpolate(scored, "scored_rows", end) - interpolate(scored, "scored_rows", start)
    done = next((s for s in scored if s["scored_rows"] >= lines and s["writer_done"]), None)
    lag_points = [(s["time"] - start, float(lag)) for s in samples
                  if start + seconds / 2 <= s["time"] <= end + 1 and (lag := lag_of(s)) is not None]
    growth = slope(lag_points)
    lags = [lag for s in samples if start <= s["time"] <= end + 1 and (lag := lag_of(s)) is not None]
    return ThroughputSummary(
        lines=lines, write_seconds=seconds, written_rate=lines / seconds if seconds else 0.0,
        scored_in_window=in_window / seconds if seconds else 0.0, scored_total=scored[-1]["scored_rows"],
        caught_up_after=None if done is None else max(0.0, done["time"] - end),
        end_to_end_rate=None if done is None else lines / max(1e-9, done["time"] - start),
        lag_start=lag_of(nearest(samples, start)), lag_middle=lag_of(nearest(samples, start + seconds / 2)),
        lag_end=lag_of(nearest(samples, end)), lag_max=max(lags, default=None), lag_slope=growth,
        lag_grew=growth is not None and growth > LAG_GROWTH_SHARE * (lines / seconds if seconds else 0.0),
    )


PROGRESS = re.compile(r"progress query=(?P<query>\S+) batch=(?P<batch>\d+) in=(?P<in>\d+) out=(?P<out>\S+)"
                      r".*? duration_ms=(?P<ms>\d+)")


def batch_stats(journal: str, wall_seconds: float) -> list[list[Any]]:
    """Per query, from the job's ``progress`` lines: batches, rows in and out, batch durations (mean, p90, max,
    seconds), and busy % (the sum of the durations over ``wall_seconds``: near 100, the query never idles)."""
    per: dict[str, list[tuple[int, int, float]]] = {}
    for match in PROGRESS.finditer(journal):
        out = int(match["out"]) if match["out"].isdigit() else 0
        per.setdefault(match["query"], []).append((int(match["in"]), out, int(match["ms"]) / 1000))
    rows = []
    for query, batches in per.items():
        durations = [d for _, _, d in batches]
        rows.append([query, len(batches), sum(i for i, _, _ in batches), sum(o for _, o, _ in batches),
                     sum(i for i, _, _ in batches) / len(batches), sum(durations) / len(durations),
                     percentile(durations, 90), max(durations),
                     100 * sum(durations) / wall_seconds if wall_seconds > 0 else None])
    return rows


BATCH_HEADERS = ("query", "batches", "rows in", "rows out", "rows in/batch", "mean batch s", "p90 batch s",
                 "max batch s", "busy %")


def verdict(met: bool, what: str, why: str = "") -> str:
    return f"- {what}: **{'met' if met else 'not met'}**" + (f" ({why})" if why and not met else "")


# ------------------------------------------------------------------------------------------------ the host


def host() -> testbed.Host:
    return next(h for h in testbed.known_hosts() if h.name == HOST)


def ssh(command: str, *, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    return testbed.ssh(host(), command, check=check, timeout=timeout)


class ConnectionLost(RuntimeError):
    """ssh itself failed (status 255): the connection dropped, not the command."""


#: How often a dropped connection to a probe is retried (the probes can start again where they were).
SSH_RETRIES = 3


def ssh_lines(command: str) -> Iterator[str]:
    """Run ``command`` on the host and yield its output lines as they come; raise if it fails (ConnectionLost when
    ssh does)."""
    process = subprocess.Popen([*testbed._ssh_args(host()), command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    finished = False
    try:
        yield from process.stdout
        finished = True
    finally:
        if not finished and process.poll() is None:  # the caller stopped early; at EOF ssh is about to exit
            process.terminate()
        _, err = process.communicate(timeout=60)
    if process.returncode:
        kind = ConnectionLost if process.returncode == 255 else RuntimeError
        raise kind(f"on {HOST}: {command!r} failed ({process.returncode}): {err.strip()}")


def boot() -> None:
    args = ["up", *[arg for g in GROUPS for arg in ("--group", f"{g}={HOST}")], HOST]
    try:
        testbed.main(args)
    except RuntimeError as exc:  # a host whose boot check raced is usually up a moment later; `up` is idempotent
        say(f"boot check failed ({exc}); asking once more")
        time.sleep(5)
        testbed.main(args)


def converge(extra: Sequence[str]) -> float:
    say("converging ansible/playbooks/site.yml (chat_source: twitch) with scripts/bench/vars.yml")
    started = time.monotonic()
    command = ["ansible-playbook", "-i", str(testbed.INVENTORY), "--limit", HOST, "-e", f"@{VARS}",
               "-e", f"chat_logger_server_host={testbed.BRIDGE_ADDR}"]
    for item in extra:
        command += ["-e", item]
    subprocess.run([*command, str(REPO / "ansible" / "playbooks" / "site.yml")], cwd=REPO, check=True)
    seconds = time.monotonic() - started
    say(f"converged in {seconds:.0f}s")
    return seconds


def copy_tools() -> None:
    """scripts/bench/ and the demo's sample (texts for the writer) onto the host, in one tar over ssh."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bench.tar"
        with tarfile.open(bundle, "w") as tar:
            tar.add(BENCH / "writer.py", arcname="writer.py")
            tar.add(BENCH / "probe.py", arcname="probe.py")
            tar.add(SAMPLE, arcname="sample")
        command = [*testbed._ssh_args(host()),
                   f"mkdir -p {REMOTE} && rm -rf {REMOTE}/sample && tar -C {REMOTE} -xf - && chmod -R a+rX {REMOTE}"]
        with bundle.open("rb") as handle:
            subprocess.run(command, stdin=handle, check=True, timeout=120)


def host_facts() -> dict[str, Any]:
    out = ssh("nproc; cat /proc/loadavg; grep MemTotal /proc/meminfo").stdout.split("\n")
    return {"address": host().address, "cpus": int(out[0]), "load": [float(v) for v in out[1].split()[:3]],
            "memory_gb": round(int(out[2].split()[1]) / 1024 ** 2, 1)}


def start_writer(run: str, rate: float, seconds: float) -> str:
    """Start the writer in its own systemd unit (so its CPU is accounted apart) as the chat logger's user."""
    folder = f"{REMOTE}/{run}"
    unit = f"bench-writer-{run}"
    writer = (f"/usr/bin/python3 {REMOTE}/writer.py --dest {LOG_DIR} --rate {rate:g} --seconds {seconds:g} "
              f"--run {run} --records {folder}/records.tsv --status {folder}/status.json --channels {CHANNELS} "
              f"--sample {REMOTE}/sample")
    ssh(f"install -d -o chat-logger -g chat-logger {folder} && systemd-run --quiet --collect --unit {unit} "
        f"--uid chat-logger --gid chat-logger -p UMask=0027 {writer}", timeout=120)
    return unit + ".service"


def writer_status(run: str) -> dict[str, Any]:
    return json.loads(ssh(f"cat {REMOTE}/{run}/status.json").stdout)


def wait_writer(run: str, seconds: float) -> dict[str, Any]:
    """The writer's final status, once it is done (polled, so a dropped connection costs nothing)."""
    deadline = time.monotonic() + seconds + 300
    while True:
        try:
            status = writer_status(run)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            status = {}  # not started yet, or the connection dropped: ask again
        if status.get("done"):
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"the writer of run {run} has not finished after {seconds + 300:.0f}s")
        time.sleep(2)


def scored_records(run: str, since_ms: int, expected: int,
                   timeout: float) -> tuple[list[tuple[int, int]], dict[str, Any]]:
    observations: list[tuple[int, int]] = []
    summary: dict[str, Any] = {}
    command = (f"{VENV_PYTHON} {REMOTE}/probe.py latency --run {run} --since-ms {since_ms} --expected {expected} "
               f"--timeout {timeout:g}")
    for attempt in range(SSH_RETRIES + 1):
        observations.clear()
        try:
            for line in ssh_lines(command):
                if line.startswith("{"):
                    summary = json.loads(line)["summary"]
                elif line.strip():
                    seq, stamp = line.split()
                    observations.append((int(seq), int(stamp)))
            break
        except ConnectionLost as exc:
            if attempt == SSH_RETRIES:
                raise
            say(f"{exc}; reading the scored topic again")
    return observations, summary


def parquet_counts(runs: Sequence[str]) -> dict[str, dict[str, Any]]:
    args = " ".join(f"--run {r}" for r in runs)
    return json.loads(ssh(f"{VENV_PYTHON} {REMOTE}/probe.py parquet {args}", timeout=900).stdout)


def new_run() -> str:
    return secrets.token_hex(3)


def warm_up() -> None:
    run = new_run()
    say("warming up: 200 lines at 40/s, waiting until all are scored")
    since = int(time.time() * 1000) - 5000
    start_writer(run, 40, 5)
    wait_writer(run, 5)
    observations, summary = scored_records(run, since, 200, timeout=600)
    if summary.get("distinct", 0) < 200:
        raise RuntimeError(f"warm-up: only {summary.get('distinct', 0)} of 200 lines were scored in 10 minutes; "
                           f"see journalctl -u chat-sentiment on {HOST}")
    say(f"warm-up done: {len(observations)} scored records")


@dataclass
class LatencyPhase:
    run: str
    rate: float
    seconds: float
    result: LatencyResult
    probe: dict[str, Any]
    load_start: list[float]
    load_end: list[float]


def latency_phase(rate: float, seconds: float, timeout: float) -> LatencyPhase:
    run = new_run()
    expected = round(rate * seconds)
    load_start = host_facts()["load"]
    say(f"latency: {expected} lines at {rate:g}/s for {seconds:g}s (run {run})")
    since = int(time.time() * 1000) - 5000
    start_writer(run, rate, seconds)
    status = wait_writer(run, seconds)
    observations, summary = scored_records(run, since, status["written"], timeout)
    write_log = WriteLog.parse(ssh(f"cat {REMOTE}/{run}/records.tsv").stdout)
    result = latency_result(write_log, observations, status["written"])
    say(f"latency: {result.distinct} of {result.expected} lines scored, {result.duplicates} repeats")
    written_seconds = float(status.get("seconds", seconds))
    return LatencyPhase(run, status["written"] / max(written_seconds, 1e-9), written_seconds, result, summary,
                        load_start, host_facts()["load"])


@dataclass
class ThroughputPhase:
    run: str
    rate: float
    samples: list[dict[str, Any]]
    status: dict[str, Any]
    writer_unit: str
    journal: str
    restarts: str
    errors: list[str]


def throughput_phase(rate: float, seconds: float, interval: float, drain: float, idle: float) -> ThroughputPhase:
    run = new_run()
    unit = f"bench-writer-{run}.service"
    units = ",".join([*UNITS, unit])
    command = (f"{VENV_PYTHON} {REMOTE}/probe.py sample --status {REMOTE}/{run}/status.json --interval {interval:g} "
               f"--drain-seconds {drain:g} --max-seconds {idle + seconds + drain + 600:g} --units {units}")
    samples: list[dict[str, Any]] = []
    say(f"throughput: {rate:g} lines/s for {seconds:g}s (run {run}), sampling every {interval:g}s, "
        f"after {idle:g}s of idle baseline")
    started_at = None
    base: dict[str, Any] = {}
    for attempt in range(SSH_RETRIES + 1):
        # a probe started again after a dropped connection counts the scored records from the same base
        again = f" --scored-base {samples[0]['scored_end']}" if samples else ""
        try:
            for line in ssh_lines(command + again):
                sample = json.loads(line)
                samples.append(sample)
                if started_at is None:
                    if len(samples) > 1 and sample["time"] - samples[0]["time"] >= idle:
                        start_writer(run, rate, seconds)
                        started_at, base = time.time(), sample
                    continue
                say(f"t={sample['time'] - started_at:5.0f}s written={sample['written']:>8,} "
                    f"shipped={sample['topic_end'] - base['topic_end']:>8,} "
                    f"scored={sample['scored_end'] - base['scored_end']:>8,} lag={lag_of(sample)}")
            break
        except ConnectionLost as exc:
            if attempt == SSH_RETRIES:
                raise
            say(f"{exc}; starting the probe again")
    status = writer_status(run)
    since = int(status["started"]) - 5
    journal = ssh(f"journalctl -u chat-sentiment --since @{since} -o cat --no-pager", timeout=300).stdout
    restarts = ssh("systemctl show -p NRestarts --value chat-sentiment").stdout.strip()
    errors = [line for line in journal.splitlines() if " ERROR " in line or "Exception" in line]
    return ThroughputPhase(run, rate, samples, status, unit, journal, restarts, errors)


# ------------------------------------------------------------------------------------------------ the report


def report_setup(facts: dict[str, Any], end_facts: dict[str, Any], converge_seconds: float | None,
                 args: argparse.Namespace) -> str:
    rows = [
        ["host", f"{HOST} ({facts['address']}), all five groups"],
        ["host CPUs (nproc) / memory", f"{facts['cpus']} / {facts['memory_gb']} GB (the machine's, shared)"],
        ["load average at start (1/5/15 min)", " / ".join(f"{v:.2f}" for v in facts["load"])],
        ["load average at end (1/5/15 min)", " / ".join(f"{v:.2f}" for v in end_facts["load"])],
        ["converge", "skipped (--skip-converge)" if converge_seconds is None else f"{converge_seconds:.0f} s"],
        ["variables", f"scripts/bench/vars.yml{''.join(' -e ' + e for e in args.extra_vars)}"],
    ]
    return markdown_table(["setup", "value"], rows, numeric=[False, False])


def report_latency(phase: LatencyPhase) -> str:
    result = phase.result
    stats = result.summary()
    lines = [f"### Latency: {phase.rate:,.0f} msg/s for {phase.seconds:g} s (run {phase.run})", "",
             "Write (writer's flush) to scored record on `chat-sentiment-scored` (its Kafka timestamp: "
             f"{', '.join(f'{k} x{v:,}' for k, v in phase.probe.get('timestamp_types', {}).items()) or 'none'}).",
             "",
             markdown_table(["lines written", "scored (distinct)", "records", "repeats", "missing", "p50 s", "p90 s",
                             "p99 s", "max s", "mean s"],
                            [[result.expected, result.distinct, result.records, result.duplicates, result.missing,
                              round(stats["p50"], 2), round(stats["p90"], 2), round(stats["p99"], 2),
                              round(stats["max"], 2), round(stats["mean"], 2)]]),
             "", "Per 20 s of writing:", "",
             markdown_table(["written at (s)", "lines", "p50 s", "p99 s", "max s"],
                            [[round(start), len(values), round(percentile(values, 50), 2),
                              round(percentile(values, 99), 2), round(max(values), 2)]
                             for start, values in result.buckets]),
             "", f"Load average (1/5/15) at start {phase.load_start}, at end {phase.load_end}."]
    return "\n".join(lines)


def report_throughput(phase: ThroughputPhase, summary: ThroughputSummary, cpus: int) -> str:
    start = phase.status["started"]
    samples = phase.samples
    rows = interval_rows(samples, phase.writer_unit, start)
    wall = samples[-1]["time"] - start
    first, last = at_start(samples, start), samples[-1]
    others = others_share(samples, start)
    lines = [f"### Throughput: target {phase.rate:,.0f} msg/s for {summary.write_seconds:.0f} s (run {phase.run})",
             "", "Per interval (rates in msg/s over the interval; `not shipped`: written lines not yet in "
             "`twitch-chat`; `job lag`: records of `twitch-chat` the `ingest` query has not committed; "
             "cpu in % of one CPU; `others`: the machine's CPU used outside this host):", "",
             markdown_table(INTERVAL_HEADERS, rows), "",
             markdown_table(["summary", "value"], [
                 ["lines written", f"{summary.lines:,} in {summary.write_seconds:.1f} s"],
                 ["written msg/s", f"{summary.written_rate:,.0f}"],
                 ["scored msg/s while writing", f"{summary.scored_in_window:,.0f}"],
                 ["scored rows by the end", f"{summary.scored_total:,}"],
                 ["all scored", "no (drain timeout)" if summary.caught_up_after is None
                  else f"{summary.caught_up_after:.0f} s after the writer stopped"],
                 ["end-to-end msg/s (lines / first write to last scored)",
                  "-" if summary.end_to_end_rate is None else f"{summary.end_to_end_rate:,.0f}"],
                 ["job lag at start / middle / end of writing",
                  " / ".join("-" if v is None else f"{v:,}"
                             for v in (summary.lag_start, summary.lag_middle, summary.lag_end))],
                 ["job lag max while writing", "-" if summary.lag_max is None else f"{summary.lag_max:,}"],
                 ["lag slope, second half of writing",
                  "-" if summary.lag_slope is None else
                  f"{summary.lag_slope:+,.1f} msg/s ({'grows' if summary.lag_grew else 'does not grow'}; "
                  f"threshold {LAG_GROWTH_SHARE:.0%} of the rate)"],
                 ["job restarts (NRestarts) / error lines in its journal",
                  f"{phase.restarts} / {len(phase.errors)}"],
                 ["load average (1/5/15) at the writer's start / the last sample",
                  f"{first['load']} / {last['load']}"],
                 ["others' CPU on the machine, writer's start to the last sample",
                  "-" if others is None else f"{others:.0f}% of one CPU (of {cpus * 100}%)"],
             ], numeric=[False, False]), "",
             "What each part cost (CPU of its processes; `lines/s if it had every CPU`: the host's CPUs divided by "
             "the cost per line, an upper bound with no contention and perfect parallelism):", "",
             markdown_table(CPU_HEADERS, cpu_cost_rows(samples, start, summary.write_seconds, summary.lines,
                                                       writer_unit=phase.writer_unit, cpus=cpus)), "",
             f"The job's micro-batches from the writer's start to the end of sampling ({wall:.0f} s, "
             "`journalctl -u chat-sentiment`, `progress` lines):", "",
             markdown_table(BATCH_HEADERS, batch_stats(phase.journal, wall))]
    if phase.errors:
        lines += ["", "First error lines of the job:", "", "```", *phase.errors[:5], "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="throughput phase: msg/s (default 2000)")
    parser.add_argument("--duration", type=float, default=TARGET_SECONDS, help="throughput phase: seconds (300)")
    parser.add_argument("--latency-rate", type=float, default=TARGET_LATENCY_RATE, help="latency phase: msg/s (200)")
    parser.add_argument("--latency-duration", type=float, default=120.0, help="latency phase: seconds (120)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (10)")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="throughput phase: seconds sampled before the writer starts, the idle baseline (30)")
    parser.add_argument("--drain-timeout", type=float, default=1800.0,
                        help="seconds to wait for the job to catch up after a phase's writing (1800)")
    parser.add_argument("--phases", default="latency,throughput", help="which phases, comma-separated")
    parser.add_argument("--skip-converge", action="store_true", help="the host is converged already")
    parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE",
                        help="more variables for the converge (over scripts/bench/vars.yml)")
    parser.add_argument("--json", type=Path, help="also write the raw results (samples, latencies) here")
    parser.add_argument("--down", action="store_true", help="remove the host at the end")
    args = parser.parse_args(argv)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if phases - {"latency", "throughput"}:
        parser.error(f"--phases: unknown {sorted(phases - {'latency', 'throughput'})}")

    try:
        say(f"booting the all-in-one host {HOST!r} in {', '.join(GROUPS)}")
        boot()
        converge_seconds = None if args.skip_converge else converge(args.extra_vars)
        copy_tools()
        facts = host_facts()
        warm_up()
        latency = latency_phase(args.latency_rate, args.latency_duration, args.drain_timeout) \
            if "latency" in phases else None
        throughput = throughput_phase(args.rate, args.duration, args.interval, args.drain_timeout, args.idle) \
            if "throughput" in phases else None
        runs = [p.run for p in (latency, throughput) if p is not None]
        parquet = parquet_counts(runs) if runs else {}
        end_facts = host_facts()
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
        say(f"cannot run the benchmark: {exc}")
        return 1
    finally:
        if args.down:
            testbed.main(["down", HOST])

    out = [f"## Pipeline benchmark ({time.strftime('%Y-%m-%d %H:%M %Z')})", "",
           report_setup(facts, end_facts, converge_seconds, args)]
    verdicts = []
    raw: dict[str, Any] = {"facts": facts, "end_facts": end_facts, "converge_seconds": converge_seconds,
                           "parquet": parquet}
    if latency is not None:
        out += ["", report_latency(latency)]
        rows = parquet.get(latency.run, {})
        exactly_once = (latency.result.missing == 0 and latency.result.duplicates == 0
                        and rows.get("rows") == rows.get("distinct") == latency.result.expected)
        out += ["", f"Parquet `messages` rows with this run's tokens: {rows.get('rows', 0):,} "
                f"({rows.get('distinct', 0):,} distinct) of {latency.result.expected:,} lines."]
        p99 = latency.result.summary()["p99"]
        why = []
        if not p99 < TARGET_P99:
            why.append(f"p99 {p99:.2f}s")
        if latency.rate < TARGET_LATENCY_RATE * RATE_SHARE:
            why.append(f"at {latency.rate:,.0f} msg/s")
        if not exactly_once:
            why.append(f"{latency.result.missing} missing, {latency.result.duplicates} repeats in Kafka, "
                       f"{rows.get('rows', 0)} Parquet rows")
        verdicts.append(verdict(not why, f"p99 latency < {TARGET_P99:g} s at {TARGET_LATENCY_RATE:,.0f} msg/s, "
                                f"every message scored exactly once", "; ".join(why)))
        raw["latency"] = asdict(latency)
    if throughput is not None:
        summary = throughput_summary(throughput.samples, throughput.status["started"],
                                     float(throughput.status.get("seconds", args.duration)),
                                     int(throughput.status["written"]))
        out += ["", report_throughput(throughput, summary, facts["cpus"])]
        rows = parquet.get(throughput.run, {})
        out += ["", f"Parquet `messages` rows with this run's tokens: {rows.get('rows', 0):,} "
                f"({rows.get('distinct', 0):,} distinct) of {summary.lines:,} lines."]
        met, why = summary.met(TARGET_RATE, TARGET_SECONDS)
        verdicts.append(verdict(met, f"{TARGET_RATE:,.0f} msg/s sustained for {TARGET_SECONDS / 60:g} minutes, "
                                "lag not growing", why))
        raw["throughput"] = {**asdict(throughput), "summary": asdict(summary)}
    out += ["", "### Targets", "", *verdicts]
    print("\n".join(out), flush=True)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1, default=str))
        say(f"raw results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
