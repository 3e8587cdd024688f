"""The streaming job on p1: real-format Filebeat events in, every chat message scored exactly once.

Each run of these checks puts a fresh batch on ``twitch-chat`` (Chatty lines of two new channels, Korean and English,
/me actions, other line kinds, re-sends of earlier events, garbage; built by ``tests/integration/chat_events.py``)
and finds each record again by its Kafka offset: a chat message in ``messages/`` once, a re-send nowhere, another
line kind in ``events/``, garbage in ``dead_letters/``; the per-minute aggregates of the new channels add up to the
messages, and the snapshot lists them. The scores are compared with ``chat-sentiment score`` run on the host with
the scorer and model the job is configured with, so after the side effect (transformers scorer, a model whose
every score is the same positive value) the same checks prove which scorer scored the new messages.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import e2e
from chat_events import TZ, ChatLog, Sent, chat_line, make_events

VENV = "/opt/spark/venv"
PYTHON = f"{VENV}/bin/python"
CONFIG = "/etc/chat-sentiment/job.toml"
ENV_FILE = "/etc/chat-sentiment/job.env"
SERVICE = "chat-sentiment"
USER = "chat-sentiment"
TOPIC = "twitch-chat"
WAIT_S = 600  # a loaded test bed: the first transformers batch loads the model

# Host-side helpers, run with the job's virtualenv.
READ_TABLES = r"""
import json, sys
from chat_sentiment import tables
out = {}
for table in sys.argv[2:]:
    try:
        frame = tables.read_table(f"{sys.argv[1]}/{table}")
    except FileNotFoundError:
        out[table] = []
        continue
    out[table] = json.loads(frame.to_json(orient="records", date_format="iso")) if len(frame) else []
print(json.dumps(out))
"""
PRODUCE = e2e.ADMIN_CLIENT + r"""
import base64, json, sys
from kafka import KafkaProducer
values = [base64.b64decode(v) for v in json.load(open(sys.argv[3]))]
producer = KafkaProducer(bootstrap_servers=sys.argv[1], acks="all", linger_ms=0, **admin_settings())
sent = [producer.send(sys.argv[2], value) for value in values]
producer.flush()
print(json.dumps([[m.partition, m.offset] for m in (f.get(timeout=60) for f in sent)]))
"""
READ_TOML = "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))"


def python(host, code: str, *args: str) -> Any:
    result = host.run(f"{PYTHON} -c %s" + " %s" * len(args), code, *args)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def settings(host) -> dict[str, Any]:
    return python(host, READ_TOML, CONFIG)


def tables(host, output_dir: str, *names: str) -> dict[str, list[dict[str, Any]]]:
    return python(host, READ_TABLES, output_dir, *names)


def score_on_host(host, texts: list[str], scorer: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``chat-sentiment score`` says on the host, with the given scorer settings, one dict per text."""
    args = ["--scorer", scorer["name"]] + (["--model", scorer["model"]] if scorer.get("model") else [])
    payload = base64.b64encode("".join(f"{t}\n" for t in texts).encode()).decode()
    result = host.run("printf %s %s | base64 -d | HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "
                      f"{VENV}/bin/chat-sentiment score" + " %s" * len(args), "%s", payload, *args)
    assert result.rc == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_for(what: str, probe, timeout: float = WAIT_S, every: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Batch:
    """One run's records, where they landed on Kafka, and what the job made of them."""

    def __init__(self, host) -> None:
        self.host = host
        self.config = settings(host)
        self.output = self.config["output_dir"]
        run = f"sj{int(time.time()) % 10_000_000}"
        self.channels = (f"{run}_ko", f"{run}_en")
        self.clock_channel = f"{run}_clock"
        # Chat time starts after everything the job has seen, so no window of this batch is already closed.
        seen = tables(host, self.output, "messages")["messages"]
        last = max((datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r in seen), default=None)
        start = datetime.now(UTC) - timedelta(minutes=5)
        if last is not None and last + timedelta(minutes=1) > start:
            start = last + timedelta(minutes=1)
        start = start.astimezone(TZ).replace(second=0, microsecond=0)
        log = ChatLog()
        self.sent: list[Sent] = make_events(log, start, 70, seed=int(run[2:]), channels=self.channels)
        end = start + timedelta(minutes=3)
        self.sent += [chat_line(log, self.channels[0], end, "ㅋㅋㅋㅋ 개꿀잼 PogChamp"),
                      chat_line(log, self.channels[1], end, "this is so boring ResidentSleeper"),
                      Sent(b'{"message": "[2024-05-01 12:00:0', "dead_letter")]
        # One message two minutes later moves the watermark past every window of the batch.
        self.sent.append(chat_line(log, self.clock_channel, end + timedelta(minutes=2), "gg"))
        self.offsets = self._produce()

    def _produce(self) -> list[int]:
        payload = json.dumps([base64.b64encode(s.value).decode() for s in self.sent])
        path = f"/tmp/{self.channels[0]}.json"
        written = self.host.run("printf %s %s | base64 -d > %s", "%s",
                                base64.b64encode(payload.encode()).decode(), path)
        assert written.rc == 0, written.stderr
        bootstrap = self.config["kafka"]["bootstrap_servers"]
        placed = python(self.host, PRODUCE, bootstrap, TOPIC, path)
        assert {partition for partition, _ in placed} == {0}
        return [offset for _, offset in placed]

    def expected(self, *kinds: str) -> set[int]:
        return {o for o, s in zip(self.offsets, self.sent, strict=True) if s.expect in kinds and not s.resend}

    @property
    def chat_offsets(self) -> set[int]:
        return self.expected("message", "action")

    @property
    def other_offsets(self) -> set[int]:
        kinds = {s.expect for s in self.sent} - {"message", "action", "dead_letter"}
        return self.expected(*kinds)

    @property
    def resend_offsets(self) -> set[int]:
        return {o for o, s in zip(self.offsets, self.sent, strict=True) if s.resend}

    def mine(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Filebeat ships to the same topic on this host: the batch's records are those at its own offsets.
        offsets = set(self.offsets)
        return [r for r in rows if r["topic"] == TOPIC and r["offset"] in offsets]

    def collect(self) -> dict[str, Any]:
        """Waits until every output holds the batch, then returns them."""

        def probe() -> dict[str, Any] | None:
            got = tables(self.host, self.output, "messages", "events", "dead_letters", "aggregates")
            messages = self.mine(got["messages"])
            windows = [w for w in got["aggregates"] if w["channel"] in self.channels]
            counted = sum(w["messages"] for w in windows)
            batch_chat = [r for r in messages if r["channel"] in self.channels]
            if (len({r["offset"] for r in messages}) < len(self.chat_offsets)
                    or len(self.mine(got["events"])) < len(self.other_offsets)
                    or len(self.mine(got["dead_letters"])) < len(self.expected("dead_letter"))
                    or counted < len(batch_chat)):
                return None
            got["snapshot"] = self.snapshot()
            listed = {c["channel"] for c in got["snapshot"].get("channels", [])}
            return got if set(self.channels) <= listed else None

        return wait_for("the batch in messages/, events/, dead_letters/, aggregates/ and the snapshot", probe)

    def snapshot(self) -> dict[str, Any]:
        path = self.config.get("snapshot_path") or f"{self.output}/snapshot.json"
        snapshot = self.host.file(path)
        return json.loads(snapshot.content_string) if snapshot.exists else {}


@pytest.fixture(scope="module")
def batch(host) -> Batch:
    return Batch(host)


@pytest.fixture(scope="module")
def outputs(batch: Batch) -> dict[str, Any]:
    return batch.collect()


def test_the_job_runs_as_its_own_user_under_systemd(host):
    service = host.service(SERVICE)
    assert service.is_enabled and service.is_running
    shown = host.check_output(f"systemctl show {SERVICE} -p MainPID -p KillMode -p Restart -p TimeoutStopUSec "
                              "-p EnvironmentFiles -p User")
    props = dict(line.split("=", 1) for line in shown.splitlines())
    assert props["User"] == USER and props["KillMode"] == "mixed" and props["Restart"] == "on-failure"
    assert props["EnvironmentFiles"].startswith(ENV_FILE)
    owner = host.check_output(f"ps -o user= -p {props['MainPID']}")
    assert owner.strip() == USER
    # Nothing of the job runs as root: the JVM and the Python workers are the driver's children.
    tree = host.check_output(f"ps -o user= --ppid {props['MainPID']}").split()
    assert tree and set(tree) == {USER}


def test_settings_and_state_are_where_the_role_put_them(host, outputs):
    config = settings(host)
    assert config["checkpoint_dir"].startswith("/var/lib/chat-sentiment")
    assert config["kafka"]["bootstrap_servers"].endswith(":9092")
    checkpoints = host.file(config["checkpoint_dir"])
    assert checkpoints.is_directory and checkpoints.user == USER and checkpoints.mode == 0o750
    assert host.file(f"{config['checkpoint_dir']}/ingest/offsets").is_directory
    env = host.file(ENV_FILE)
    assert env.user == "root" and env.group == USER and env.mode == 0o640
    check = host.run(f"runuser -u {USER} -- env $(grep -v '^#' {ENV_FILE} | xargs) "
                     f"{PYTHON} -m chat_sentiment.stream --config {CONFIG} --check")
    assert check.rc == 0, check.stderr
    assert json.loads(check.stdout)["config"]["scorer"]["name"] == config["scorer"]["name"]
    # the operator's command is on PATH
    assert host.run("command -v chat-sentiment").stdout.strip() == "/usr/local/bin/chat-sentiment"
    assert host.run("chat-sentiment --help").rc == 0


def test_every_chat_message_lands_in_messages_exactly_once(batch: Batch, outputs):
    rows = batch.mine(outputs["messages"])
    offsets = Counter(r["offset"] for r in rows)
    assert set(offsets) == batch.chat_offsets, "rows lost or invented"
    assert max(offsets.values()) == 1, f"repeated: {[o for o, n in offsets.items() if n > 1]}"
    assert not set(offsets) & batch.resend_offsets, "a re-sent event was not dropped"
    ids = Counter(r["id"] for r in rows)
    assert max(ids.values()) == 1
    by_offset = dict(zip(batch.offsets, batch.sent, strict=True))
    for row in rows:
        sent = by_offset[row["offset"]]
        assert row["kind"] == sent.expect and row["channel"] == sent.channel
        assert row["label"] in ("positive", "neutral", "negative") and -1.0 <= row["score"] <= 1.0
    assert any("ㅋ" in r["text"] for r in rows) and any("boring" in r["text"] for r in rows)


def test_other_line_kinds_are_events_and_garbage_is_dead_letters(batch: Batch, outputs):
    events = batch.mine(outputs["events"])
    assert Counter(r["offset"] for r in events) == Counter(batch.other_offsets)
    by_offset = dict(zip(batch.offsets, batch.sent, strict=True))
    assert all(r["kind"] == by_offset[r["offset"]].expect for r in events)
    dead = batch.mine(outputs["dead_letters"])
    assert Counter(r["offset"] for r in dead) == Counter(batch.expected("dead_letter"))
    assert all(r["reason"] for r in dead)


def test_aggregates_add_up_to_the_messages(batch: Batch, outputs):
    rows = [r for r in batch.mine(outputs["messages"]) if r["channel"] in batch.channels]
    expected: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        minute = row["ts"][:16]  # yyyy-mm-ddThh:mm, windows of one minute
        expected[(row["channel"], minute, row["label"])] += 1
    windows = [w for w in outputs["aggregates"] if w["channel"] in batch.channels]
    keys = [(w["channel"], w["window_start"][:16]) for w in windows]
    assert len(keys) == len(set(keys)), "a window was written twice"
    got: Counter[tuple[str, str, str]] = Counter()
    for window in windows:
        assert window["positive"] + window["neutral"] + window["negative"] == window["messages"]
        for label in ("positive", "neutral", "negative"):
            if window[label]:
                got[(window["channel"], window["window_start"][:16], label)] += window[label]
        scores = [r["score"] for r in rows
                  if r["channel"] == window["channel"] and r["ts"][:16] == window["window_start"][:16]]
        assert window["mean_score"] == pytest.approx(sum(scores) / len(scores), abs=1e-3)
    assert got == expected


def test_the_snapshot_lists_the_new_channels(batch: Batch, outputs):
    snapshot = outputs["snapshot"]
    assert snapshot["version"] == 1
    listed = {c["channel"]: c for c in snapshot["channels"]}
    for channel in batch.channels:
        windows = listed[channel]["windows"]
        assert windows and sum(w["messages"] for w in windows) == sum(
            1 for r in batch.mine(outputs["messages"]) if r["channel"] == channel)


def test_scores_are_the_configured_scorers(host, batch: Batch, outputs):
    rows = sorted(batch.mine(outputs["messages"]), key=lambda r: r["offset"])
    scorer = batch.config["scorer"]
    texts = [r["text"] for r in rows]
    expected = score_on_host(host, texts, scorer)
    got = [{"label": r["label"], "score": r["score"]} for r in rows]
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert [g["score"] for g in got] == pytest.approx([e["score"] for e in expected], abs=1e-4)
    lexicon = score_on_host(host, texts, {"name": "lexicon"})
    if scorer["name"] == "transformers":
        # The side effect's model gives every text the same positive score; the lexicon does not.
        assert {(g["label"], g["score"]) for g in got} == {(expected[0]["label"], expected[0]["score"])}
        assert expected[0]["label"] == "positive"
        assert [g["score"] for g in got] != [s["score"] for s in lexicon]
        journal = host.check_output(f"journalctl -u {SERVICE} --no-pager -o cat | grep ' settings ' | tail -n 1")
        assert '"name": "transformers"' in journal, journal
    else:
        assert {g["label"] for g in got} == {"positive", "neutral", "negative"}


ACTIVE_FILES = r"""
import sys
from chat_sentiment import tables
print(len(tables.open_table(sys.argv[1]).file_uris()))
"""


def test_table_maintenance_compacts_and_keeps_every_row(host, batch: Batch, outputs):
    """The role's timer runs ``chat-sentiment maintain`` (sandboxed, as the job's user); started by hand here, it
    compacts the tables while the job runs and keeps every row (retention is off by default)."""
    timer = host.service("chat-sentiment-maintain.timer")
    assert timer.is_enabled and timer.is_running
    exposure = host.run("systemd-analyze security chat-sentiment-maintain.service")
    level = float(exposure.stdout.rsplit("Overall exposure level for chat-sentiment-maintain.service: ", 1)[1][:3])
    assert level <= 1.5, exposure.stdout[-400:]
    path = f"{batch.output}/messages"
    before_rows = Counter(r["id"] for r in tables(host, batch.output, "messages")["messages"])
    before_files = int(python(host, ACTIVE_FILES, path))
    assert before_files > 2, "the job's batches left several small files to compact"
    started = host.run("systemctl start chat-sentiment-maintain.service")  # a oneshot: returns when it is done
    assert started.rc == 0, host.run("journalctl -u chat-sentiment-maintain -n 30 --no-pager").stdout
    journal = host.run("journalctl -u chat-sentiment-maintain --no-pager -o cat").stdout
    assert "maintained table=messages" in journal
    after_rows = Counter(r["id"] for r in tables(host, batch.output, "messages")["messages"])
    assert {i: n for i, n in after_rows.items() if i in before_rows} == before_rows
    assert int(python(host, ACTIVE_FILES, path)) < before_files
