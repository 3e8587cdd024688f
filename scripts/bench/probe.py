"""The pipeline benchmark's probe, run on the pipeline host with the job's virtualenv (kafka-python, pyarrow).

    /opt/spark/venv/bin/python probe.py sample  --status FILE [--interval 10] [--drain-seconds 600] ...
    /opt/spark/venv/bin/python probe.py latency --run RUN --since-ms MS --expected N [--timeout 300] ...
    /opt/spark/venv/bin/python probe.py parquet --run RUN [--run RUN ...] [--output-dir DIR]

``sample`` prints one JSON line at once and then one every ``--interval`` seconds: the writer's progress (its status
file), the end offsets of the chat topic and of the scored topic, the offsets each source query of the job has
committed (from its checkpoint, see :func:`committed_offsets`), the CPU time used so far by the processes of each
systemd unit of interest, per process name (:func:`unit_seconds`), by the whole host and by the machine
(``/proc/stat``, which is not namespaced), and the load average (the machine's, too). It ends once the writer is
done and the job has caught up (its ``messages`` query has committed the chat topic's end offsets and the scored
topic has grown by as many records as lines were written), or ``--drain-seconds`` after the writer finished, or
after ``--max-seconds``.

``latency`` reads the scored topic from ``--since-ms`` (by timestamp) and prints ``<seq> <record timestamp ms>``
for every record whose text carries ``bench-<run>-<seq>``, until it has seen every seq below ``--expected`` or
``--timeout`` passed; then one JSON line (``{"summary": ...}``) with the topic's timestamp type.

``parquet`` counts, per run, the rows of the job's committed ``messages`` table (read through the file sink's log,
as :mod:`chat_sentiment.tables` does) whose text carries that run's token: rows, distinct seqs, the lowest and
highest seq. Prints one JSON object.

Python 3.11, imports kafka and chat_sentiment lazily: ``--help`` works anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

TOKEN = re.compile(r"bench-([0-9a-z]+)-(\d+)")
#: Where systemd's unit cgroups are: pure cgroup v2, or the unified hierarchy of a hybrid setup.
CGROUP_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def committed_offsets(checkpoint: Path, topic: str) -> dict[str, int | None]:
    """What a Kafka-source query has processed: the end offsets (summed over the topic's partitions) of its last
    committed batch, and of the last planned one (``offsets/<n>`` is written before batch n runs, ``commits/<n>``
    after it has finished). None where the query has no batch yet."""
    out: dict[str, int | None] = {"committed": None, "planned": None, "batch": None}

    def batches(folder: str) -> list[int]:
        try:
            return sorted(int(name) for name in os.listdir(checkpoint / folder) if name.isdigit())
        except FileNotFoundError:
            return []

    def offsets_of(batch: int) -> int | None:
        try:
            lines = (checkpoint / "offsets" / str(batch)).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in lines[2:]:  # "v1", the batch metadata, then one line per source
            try:
                source = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(source, dict) and topic in source:
                return sum(int(v) for v in source[topic].values())
        return None

    planned = batches("offsets")
    commits = batches("commits")
    if planned:
        out["planned"] = offsets_of(planned[-1])
    if commits:
        out["committed"] = offsets_of(commits[-1])
        out["batch"] = commits[-1]
    return out


def process_seconds(pid: str) -> tuple[str, float]:
    """A process's name and CPU seconds, with the children it has reaped (``/proc/<pid>/stat``); 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "", 0.0
    head, _, tail = stat.rpartition(")")
    fields = tail.split()
    return head.partition("(")[2], sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime


def unit_seconds(unit: str) -> dict[str, float] | None:
    """CPU seconds used so far by the processes of a systemd unit (its cgroup, and any below it) per process name
    (``java``, ``python``...), or None when the unit has no cgroup. Summed per process rather than read from the
    cgroup's ``cpu.stat``: the test bed's hosts share one cgroup tree (a unit of the same name on another host
    would count too), but each host has its own PID namespace, where ``cgroup.procs`` lists only its processes."""
    for root in CGROUP_ROOTS:
        folder = root / "system.slice" / unit
        if folder.is_dir():
            pids = [pid for dirpath, _, files in os.walk(folder) if "cgroup.procs" in files
                    for pid in (Path(dirpath) / "cgroup.procs").read_text().split()]
            out: dict[str, float] = {}
            for pid in pids:
                name, seconds = process_seconds(pid)
                if name:
                    out[name] = out.get(name, 0.0) + seconds
            return out
    return None


def host_seconds() -> float:
    """CPU seconds of every process of this host (its PID namespace), with their reaped children."""
    return sum(process_seconds(entry)[1] for entry in os.listdir("/proc") if entry.isdigit())


def machine_cpu() -> dict[str, float]:
    """The machine's CPU seconds, busy and total, summed over its CPUs (``/proc/stat``; not namespaced)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return {"busy": (sum(fields[:8]) - idle) / CLOCK_TICKS, "total": sum(fields[:8]) / CLOCK_TICKS}


def _consumer(bootstrap: str) -> Any:
    from kafka import KafkaConsumer  # noqa: PLC0415 - the job's venv has it

    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         request_timeout_ms=30000)


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition  # noqa: PLC0415

    deadline = time.monotonic() + 60
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise SystemExit(f"probe: topic {topic} has no partitions (does it exist?)")
        time.sleep(1)


def end_offset(consumer: Any, partitions: list[Any]) -> int:
    return sum(consumer.end_offsets(partitions).values())


def read_status(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def sample(args: argparse.Namespace) -> int:
    consumer = _consumer(args.bootstrap)
    chat = _partitions(consumer, args.topic)
    scored = _partitions(consumer, args.scored_topic)
    queries = [q for q in args.queries.split(",") if q]
    units = [u for u in args.units.split(",") if u]
    started = time.monotonic()
    scored_start = end_offset(consumer, scored) if args.scored_base is None else args.scored_base
    done_at: float | None = None
    while True:
        now = time.monotonic()
        status = read_status(args.status)
        record: dict[str, Any] = {
            "t": round(now - started, 3),
            "time": time.time(),
            "written": int(status.get("written", 0)),
            "writer_done": bool(status.get("done", False)),
            "topic_end": end_offset(consumer, chat),
            "scored_end": end_offset(consumer, scored),
            "queries": {q: committed_offsets(Path(args.checkpoints) / q, args.topic) for q in queries},
            "cpu_seconds": {u: unit_seconds(u) for u in units},
            "host_cpu_seconds": host_seconds(),
            "machine_cpu": machine_cpu(),
            "load": [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]],
        }
        emit(record)
        if record["writer_done"] and done_at is None:
            done_at = now
        caught_up = (record["writer_done"] and record["queries"].get("ingest", {}).get("committed") is not None
                     and record["queries"]["ingest"]["committed"] >= record["topic_end"]
                     and record["scored_end"] - scored_start >= record["written"])
        if caught_up or (done_at is not None and now - done_at > args.drain_seconds) \
                or now - started > args.max_seconds:
            return 0
        time.sleep(max(0.0, started + (int((time.monotonic() - started) / args.interval) + 1) * args.interval
                       - time.monotonic()))


def latency(args: argparse.Namespace) -> int:
    consumer = _consumer(args.bootstrap)
    partitions = _partitions(consumer, args.scored_topic)
    consumer.assign(partitions)
    starts = consumer.offsets_for_times({tp: args.since_ms for tp in partitions})
    for tp in partitions:
        found = starts.get(tp)
        if found is None:
            consumer.seek_to_end(tp)
        else:
            consumer.seek(tp, found.offset)
    seen: set[int] = set()
    records = 0
    types: dict[int, int] = {}
    deadline = time.monotonic() + args.timeout
    while len(seen) < args.expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
            for message in batch:
                try:
                    text = json.loads(message.value)["text"] or ""
                except (ValueError, KeyError, TypeError):
                    continue
                match = TOKEN.search(text)
                if not match or match.group(1) != args.run:
                    continue
                seq = int(match.group(2))
                records += 1
                types[message.timestamp_type] = types.get(message.timestamp_type, 0) + 1
                seen.add(seq)
                print(f"{seq} {message.timestamp}")
    sys.stdout.flush()
    emit({"summary": {"records": records, "distinct": len(seen), "expected": args.expected,
                      "timestamp_types": {("LogAppendTime" if k == 1 else "CreateTime"): v for k, v in types.items()},
                      "timed_out": len(seen) < args.expected}})
    return 0


def parquet(args: argparse.Namespace) -> int:
    from chat_sentiment.tables import read_table  # noqa: PLC0415 - the job's package

    frame = read_table(Path(args.output_dir) / "messages", ["text"])
    out: dict[str, dict[str, int | None]] = {run: {"rows": 0, "distinct": 0, "min_seq": None, "max_seq": None}
                                             for run in args.run}
    if not frame.empty:
        tokens = frame["text"].fillna("").str.extract(TOKEN.pattern)
        tokens.columns = ["run", "seq"]
        tokens = tokens.dropna()
        for run in args.run:
            seqs = tokens.loc[tokens["run"] == run, "seq"].astype(int)
            if len(seqs):
                out[run] = {"rows": len(seqs), "distinct": int(seqs.nunique()), "min_seq": int(seqs.min()),
                            "max_seq": int(seqs.max())}
    emit(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="twitch-chat")
    parser.add_argument("--scored-topic", default="chat-sentiment-scored")
    sub = parser.add_subparsers(dest="command", required=True)
    p_sample = sub.add_parser("sample")
    p_sample.add_argument("--status", required=True, help="the writer's status file")
    p_sample.add_argument("--interval", type=float, default=10.0)
    p_sample.add_argument("--drain-seconds", type=float, default=600.0)
    p_sample.add_argument("--max-seconds", type=float, default=7200.0)
    p_sample.add_argument("--scored-base", type=int, default=None,
                          help="the scored topic's end offset the writer's lines count from (default: now)")
    p_sample.add_argument("--checkpoints", default="/var/lib/chat-sentiment/checkpoints")
    p_sample.add_argument("--queries", default="ingest")
    p_sample.add_argument("--units", default="chat-sentiment.service,kafka.service,filebeat.service")
    p_latency = sub.add_parser("latency")
    p_latency.add_argument("--run", required=True)
    p_latency.add_argument("--since-ms", type=int, required=True)
    p_latency.add_argument("--expected", type=int, required=True)
    p_latency.add_argument("--timeout", type=float, default=300.0)
    p_parquet = sub.add_parser("parquet")
    p_parquet.add_argument("--run", action="append", required=True)
    p_parquet.add_argument("--output-dir", default="/var/lib/chat-sentiment/output")
    args = parser.parse_args(argv)
    return {"sample": sample, "latency": latency, "parquet": parquet}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
