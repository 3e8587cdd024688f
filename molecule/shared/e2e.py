"""End-to-end helpers for the scenarios that run the whole Twitch pipeline (molecule/pipeline, molecule/kafka-cluster).

Lines go into the chat-log folder the way the chat logger writes them (as its user, files 0640): the bundled sample
is replayed by ``scripts/chat_replay.py`` (stamped with the wall clock) in a transient systemd unit on the shipper
host, so faults can be injected while it runs. What the job must make of each line is worked out on the host from
the files themselves: every line becomes the event Filebeat would send (path, byte offset) and goes through the job's
own parser, which gives its id and kind. The checks then compare those ids with the job's Parquet tables: every chat
message is a row exactly once, no other line kind is, and the per-minute aggregates equal a recount of the rows
(``chat-sentiment report --json``).
"""

from __future__ import annotations

import base64
import json
import shlex
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "scripts" / "demo" / "sample-chat"
REPLAY = REPO / "scripts" / "chat_replay.py"
LOG_DIR = "/var/lib/chat-logger/logs"
VENV = "/opt/spark/venv"
PYTHON = f"{VENV}/bin/python"
CONFIG = "/etc/chat-sentiment/job.toml"
REMOTE = "/var/tmp/chat-e2e"

# What the job must make of each line of the given files, worked out without the job's code: a line of Chatty's
# format whose body (after the "[stamp] ") starts with "<nick>" is a chat message or /me action (shared/formats/
# chatty-log.md; the rule the replay and the chat logger write by), a line with bytes that are not UTF-8 is a dead
# letter (Filebeat replaces them), a blank line is nothing, anything else is another kind; every line's id is the one
# the job documents for a Twitch line: the first 24 hex digits of the SHA-1 of "twitch", the file's path, the byte
# offset of the line's start and the line (without its newline), joined by U+001F.
EXPECTED = r"""
import hashlib, json, re, sys
from collections import defaultdict
CHAT = re.compile(r"^\[[^\]]*\] <[^<>]+>")
def line_id(*parts):
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8"), usedforsecurity=False).hexdigest()[:24]
out = defaultdict(list)
for arg in sys.argv[1:]:
    path, _, copy = arg.partition("=")  # the file's path on the shipper, and where it is read here if elsewhere
    offset = 0
    with open(copy or path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # Filebeat waits for the end of the line
            line = raw[:-1][:-1] if raw[:-1].endswith(b"\r") else raw[:-1]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and not text.strip():
                kind = "blank"
            elif text is None:
                kind = "dead"
            elif CHAT.match(text):
                kind = "chat"
            else:
                kind = "other"
            shown = text if text is not None else line.decode("utf-8", "replace")
            out[kind].append([line_id("twitch", path, offset, shown) if text is not None else f"{path}:{offset}",
                              shown[:120]])
            offset += len(raw)
print(json.dumps(out))
"""

# The rows of the job's tables, by table: id, channel, text, origin and raw (its start) where the table has them.
TABLES = r"""
import json, sys
from chat_sentiment import tables
out = {}
for table in sys.argv[2:]:
    try:
        frame = tables.read_table(f"{sys.argv[1]}/{table}")
    except FileNotFoundError:
        out[table] = []
        continue
    keep = [c for c in ("id", "channel", "kind", "text", "origin", "reason", "label", "score", "raw")
            if c in frame.columns]
    if "raw" in keep:
        frame["raw"] = frame["raw"].str.slice(0, 2000)  # enough to find a record by a token near its start
    out[table] = json.loads(frame[keep].to_json(orient="records")) if len(frame) else []
print(json.dumps(out))
"""

READ_TOML = "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))"


def run(host, command: str, *args: str, timeout_note: str = "") -> str:
    result = host.run(command, *args)
    assert result.rc == 0, f"{command % args if args else command} failed ({result.rc}){timeout_note}: " \
                           f"{result.stderr[-2000:]}"
    return result.stdout


def python(host, code: str, *args: str) -> Any:
    return json.loads(run(host, f"{PYTHON} -c %s" + " %s" * len(args), code, *args))


def job_settings(host) -> dict[str, Any]:
    return python(host, READ_TOML, CONFIG)


def upload(host, local: Path, remote: str) -> None:
    """A controller file or folder onto the host (Ansible's copy module through testinfra)."""
    result = host.ansible("copy", f"src={local} dest={remote} mode=a+rX", check=False, become=True)
    assert not result.get("failed"), result


def wait_for(what: str, probe, timeout: float, every: float = 5.0, explain=None) -> Any:
    """``probe()``'s first true value; on a timeout an AssertionError, with ``explain()`` appended when given."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(every)


def job_journal(host, pattern: str, lines: int) -> str:
    """The job's last ``lines`` journal lines matching the extended regex ``pattern``."""
    return host.run(f"journalctl -u chat-sentiment --no-pager -o cat | grep -E {shlex.quote(pattern)} "
                    f"| tail -{lines}").stdout


def append(host, channel: str, lines: list[bytes], *, name: str | None = None) -> str:
    """Bytes appended to ``#channel.log`` (or ``name``) in the log folder as the chat logger's user; the path.

    The bytes travel as a file (Ansible's copy), so a line may be longer than a command line may be."""
    path = f"{LOG_DIR}/{name or f'#{channel}.log'}"
    with tempfile.NamedTemporaryFile(prefix="chat-e2e-", suffix=".bin", delete=False) as handle:
        handle.write(b"".join(lines))
    staged = f"{REMOTE}/{Path(handle.name).name}"
    try:
        run(host, f"mkdir -p {REMOTE}")
        upload(host, Path(handle.name), staged)
    finally:
        Path(handle.name).unlink()
    run(host, "runuser -u chat-logger -- sh -c 'umask 027; cat \"$1\" >> \"$2\"' - %s %s && rm -f %s",
        staged, path, staged)
    return path


@dataclass
class Replay:
    """The bundled sample replayed into the log folder by a transient unit on the host."""

    host: Any
    speed: float = 8.0
    tail: float = 30.0
    unit: str = field(default_factory=lambda: f"chat-e2e-replay-{int(time.time())}")

    def start(self) -> None:
        run(self.host, f"mkdir -p {REMOTE}")
        upload(self.host, REPLAY, f"{REMOTE}/chat_replay.py")
        upload(self.host, SAMPLE, f"{REMOTE}/")
        command = (f"/usr/bin/python3 {REMOTE}/chat_replay.py --sample {REMOTE}/{SAMPLE.name} --dest {LOG_DIR} "
                   f"--speed {self.speed:g} --tail {self.tail:g} --tail-rate 2")
        run(self.host, f"systemd-run --unit {self.unit} --collect -p User=chat-logger -p Group=chat-logger "
                       f"-p UMask=0027 -p StandardOutput=file:{REMOTE}/{self.unit}.json "
                       f"-p StandardError=file:{REMOTE}/{self.unit}.err {command}")

    def running(self) -> bool:
        return self.host.run(f"systemctl is-active --quiet {self.unit}").rc == 0

    def stop(self, timeout: float = 900) -> dict[str, Any]:
        """Once the whole sample is written (the tail may be going on), stop the replay; its summary."""
        wait_for(f"the replay {self.unit} to write the whole sample",
                 lambda: self.host.run(f"grep -qF 'the whole sample is written' {REMOTE}/{self.unit}.err").rc == 0,
                 timeout)
        self.host.run(f"systemctl stop {self.unit}")
        return self.wait(timeout)

    def wait(self, timeout: float = 900) -> dict[str, Any]:
        wait_for(f"the replay {self.unit} to finish", lambda: not self.running(), timeout)
        out = run(self.host, f"cat {REMOTE}/{self.unit}.json").strip().splitlines()
        assert out, run(self.host, f"cat {REMOTE}/{self.unit}.err")
        return json.loads(out[-1])

    @staticmethod
    def channels() -> list[str]:
        return sorted(p.name[1:-4] for p in SAMPLE.glob("#*.log"))


def expected(host, paths: list[str], *, shipper=None) -> dict[str, list[list[str]]]:
    """{"chat": [[id, text]...], "other": ..., "dead": ..., "blank": ...} of every line of the files.

    ``host`` reads the files (with its Python); when the files are on another host (``shipper``)
    they are copied to ``host`` first and read there under their shipper paths, which the ids are made of."""
    if shipper is None or shipper is host:
        return python(host, EXPECTED, *paths)
    stage = f"{REMOTE}/shipped-logs"
    with tempfile.TemporaryDirectory(prefix="chat-e2e-") as local:
        folder = Path(local) / Path(stage).name
        folder.mkdir()
        for number, path in enumerate(paths):
            data = base64.b64decode(shipper.check_output("base64 -w0 -- %s", path))
            (folder / f"{number}.log").write_bytes(data)
        run(host, f"rm -rf {stage} && mkdir -p {REMOTE}")
        upload(host, folder, f"{REMOTE}/")
    return python(host, EXPECTED, *(f"{path}={stage}/{n}.log" for n, path in enumerate(paths)))


def tables(host, output_dir: str, *names: str) -> dict[str, list[dict[str, Any]]]:
    return python(host, TABLES, output_dir, *names)


def report(host, output_dir: str) -> dict[str, Any]:
    return json.loads(run(host, f"{VENV}/bin/chat-sentiment report --json --output-dir {shlex.quote(output_dir)}"))


def closed_report(host, output_dir: str, channels: set[str], timeout: float = 600) -> dict[str, Any]:
    """The report, once every one of ``channels`` has a closed minute (ended, with its aggregate row) and every
    aggregate row equals a recount of its rows.

    The job commits a batch's messages, then merges the windows they fall in into ``aggregates``: a report read
    between the two commits sees rows its window does not count yet, so the probe waits for a report where they
    agree. A timeout fails with what still differs and the job's last progress lines."""
    closed: set[str] = set()
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        got = report(host, output_dir)
        last.clear()
        last.update(got)
        closed.clear()
        closed.update(w["channel"] for w in got["windows"] if w["channel"] in channels and w["closed"])
        return got if closed == channels and not got["mismatches"] else None

    return wait_for(f"a window of each of {sorted(channels)} equal to its rows", probe, timeout, every=10,
                    explain=lambda: f"windows only for {sorted(closed)}; mismatches {last.get('mismatches')}; the "
                                    f"job's last progress lines:\n{job_journal(host, 'query=ingest', 8)}")


def wait_scored(host, output_dir: str, ids: set[str], timeout: float) -> list[dict[str, Any]]:
    """The message rows, once every id is among them (the job may be restarting: a failed read is a retry)."""

    def probe() -> list[dict[str, Any]] | None:
        result = host.run(f"{PYTHON} -c %s %s messages", TABLES, output_dir)
        if result.rc != 0:
            return None
        rows = json.loads(result.stdout)["messages"]
        return rows if ids <= {r["id"] for r in rows} else None

    return wait_for(f"{len(ids)} chat messages to be scored", probe, timeout, every=10)


def exactly_once(rows: list[dict[str, Any]], chat: set[str], other: set[str]) -> None:
    """Every chat id is one row; no other line kind is a row."""
    counts = Counter(r["id"] for r in rows)
    missing = chat - set(counts)
    assert not missing, f"{len(missing)} chat messages never scored"
    repeated = {i: n for i, n in counts.items() if i in chat and n > 1}
    assert not repeated, f"{len(repeated)} chat messages scored more than once"
    assert not set(counts) & other, "a line that is not a chat message was scored"


def channels_scored_once(rows: list[dict[str, Any]], channels: set[str], chat: set[str], other: set[str]) -> None:
    """The rows of these channels are exactly the chat lines, each once (see exactly_once)."""
    mine = [r for r in rows if r["channel"] in channels]
    exactly_once(mine, chat, other)
    assert {r["id"] for r in mine} == chat, "a row with an id no chat line has"


def kill_and_wait(host, service: str, timeout: float = 300) -> dict[str, Any]:
    """``kill -9`` of the unit's main process; systemd (Restart=on-failure) must bring the service back. Returns
    what shows it happened: the main process before and after, and systemd's restart count before and after."""
    before = int(run(host, f"systemctl show -p NRestarts --value {service}").strip() or 0)
    pid = run(host, f"systemctl show -p MainPID --value {service}").strip()
    assert pid not in ("", "0"), f"{service} has no main process"
    run(host, f"kill -9 {pid}")

    def back() -> bool:
        restarts = int(host.run(f"systemctl show -p NRestarts --value {service}").stdout.strip() or 0)
        return restarts > before and host.run(f"systemctl is-active --quiet {service}").rc == 0

    wait_for(f"systemd to restart {service} after kill -9", back, timeout, every=2)
    return {"service": service, "pid": pid, "pid_after": run(host, f"systemctl show -p MainPID --value {service}")
            .strip(), "restarts": before,
            "restarts_after": int(run(host, f"systemctl show -p NRestarts --value {service}").strip() or 0)}


KAFKA_ADMIN_CONFIG = "/etc/kafka/admin.properties"
# Defines admin_settings(): kafka-python's settings of the kafka role's admin identity (TLS and SCRAM), read on a
# broker host from the root-only client settings the role writes; none when Kafka runs in plaintext.
ADMIN_CLIENT = r"""
import os, re
def admin_settings(path="/etc/kafka/admin.properties"):
    if not os.path.exists(path):
        return {}
    props = dict(line.split("=", 1) for line in open(path).read().splitlines() if "=" in line and line[0] != "#")
    user, password = re.search(r'username="([^"]*)" password="([^"]*)"', props["sasl.jaas.config"]).groups()
    return {"security_protocol": props["security.protocol"], "sasl_mechanism": props["sasl.mechanism"],
            "sasl_plain_username": user, "sasl_plain_password": password,
            "ssl_cafile": props["ssl.truststore.location"]}
"""

SEND_RAW = ADMIN_CLIENT + r"""
import base64, json, sys
from kafka import KafkaProducer
producer = KafkaProducer(bootstrap_servers=sys.argv[1].split(","), acks="all", **admin_settings())
for value in json.loads(sys.argv[3]):
    producer.send(sys.argv[2], base64.b64decode(value), partition=0)
producer.flush(60)
producer.close(10)
print(json.dumps(len(json.loads(sys.argv[3]))))
"""


def send_raw(host, topic: str, values: list[bytes]) -> int:
    """Records with exactly these bytes straight onto partition 0 of ``topic`` (the job's bootstrap servers), from
    the host with the job's own Kafka client library: what a buggy shipper, a replay or a re-send puts there."""
    bootstrap = job_settings(host)["kafka"]["bootstrap_servers"]
    sent = 0
    for start in range(0, len(values), 100):  # one argument stays far below the kernel's 128 kB limit
        encoded = json.dumps([base64.b64encode(v).decode() for v in values[start:start + 100]])
        sent += int(python(host, SEND_RAW, bootstrap, topic, encoded))
    return sent
