"""The streaming job end to end: real ZooKeeper + Kafka 3.0.0 from the mirror, the job in Spark local mode.

One run (a module fixture) drives the job the way production will:

1. Filebeat events with real-format Chatty lines (messages, /me actions, Korean and English, emotes; BAN,
   Notification, Viewerstats, DELETED, BITS; garbage; re-sent copies) go to ``twitch-chat`` (2 partitions).
2. The job starts (``python -m chat_sentiment.stream --config FILE`` plus environment overrides, a 2 s trigger)
   and the test waits until every chat message of that first part is committed to ``messages/``.
3. More events are produced while the job runs; the job runs with a fault-injection pause between a ``messages``
   batch's files being moved into the table and their commit, and in that window (checked: the batch's files are
   in the table, its commit is not) the job's whole process group (Python driver and the JVM) is killed with
   SIGKILL. Among the first part are records that once failed every batch they were in, and records that make the
   job's parser and scorer raise on purpose: each must be a dead letter and the job must never fail.
4. The job is restarted on the same checkpoints and output and runs until everything is in.

The tests then check the committed output (read through the file sink's commit log, as any reader must): every
chat message exactly once and scored as the lexicon scores it, other line kinds kept as events, garbage in dead
letters with its reason, aggregates that add up to the messages, the Kafka outputs, the JSON snapshot; the last
test stops the job with SIGTERM and expects exit status 0.

Waits poll with bounded timeouts (generous: the cores are shared with other tests); nothing is timed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from chat_sentiment import tables
from chat_sentiment.aggregate import top_counts
from chat_sentiment.filebeat import parse_event
from chat_sentiment.records import ChatEvent
from chat_sentiment.scorers import get_scorer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.chat_events import ChatLog, Sent, chat_line, local_time, make_events, poison
from tests.integration.job_local import (
    Job,
    group_alive,
    job_environment,
    spark_settings,
    start_job,
    table,
    wait_for,
)
from tests.integration.kafka_local import Cluster, create_topics, start_cluster, tail

pytestmark = pytest.mark.integration

KAFKA_VERSION = "3.0.0"
TOPIC = "twitch-chat"
SCORED_TOPIC = "chat-sentiment-scored"
DEAD_LETTER_TOPIC = "chat-sentiment-dead-letters"
CHANNELS = ("examplestreamer", "gamer_kim")
FLUSH_CHANNEL = "flushchannel"
FIRST_PART, SECOND_PART = 240, 120
WAIT_S = 360.0  # per phase; the job's first batches are slow on a busy host (JVM warm-up)
STOP_TIMEOUT_S = 90.0
PAUSE_S = "6"  # CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT of the first run
PAUSE_LINE = re.compile(r"fault injection: batch (\d+) of messages is committed to the table")
QUERY_LINE = re.compile(r"started query=ingest id=(\S+)")
FAULT_MARKER = "FAULT-7f3a"  # the job's CHAT_SENTIMENT_FAULT_MARKER: records holding it make it raise on purpose


# ------------------------------------------------------------------------------------------------ helpers


def produce(bootstrap: str, topic: str, sent: list[Sent], pause: float = 0.0) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for record in sent:
            producer.send(topic, record.value)
            if pause:
                time.sleep(pause)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def last_batch(checkpoint: Path, log: str) -> int:
    """The newest batch id in a query checkpoint's ``offsets`` (planned) or ``commits`` (done) log; -1 if none."""
    folder = checkpoint / log
    return max((int(p.name) for p in folder.iterdir() if p.name.isdigit()), default=-1) if folder.is_dir() else -1


def committed_offsets(checkpoint: Path) -> dict[str, dict[str, int]]:
    """The Kafka offsets the newest batch a query checkpoint committed ends at (``{}``: none yet)."""
    batch = last_batch(checkpoint, "commits")
    if batch < 0:
        return {}
    return json.loads((checkpoint / "offsets" / str(batch)).read_text().splitlines()[2])


def caught_up(bootstrap: str, checkpoint: Path) -> bool:
    """The query has committed every record the topic holds."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or ())]
        ends = {str(tp.partition): offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()
    return bool(ends) and committed_offsets(checkpoint).get(TOPIC) == ends


def utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


Record = tuple[bytes | None, bytes]


def consume_all(bootstrap: str, topic: str, done: Callable[[list[Record]], bool], timeout: float) -> list[Record]:
    """Every record of ``topic`` from the start, polling until ``done(records)`` (or the timeout)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        while not done(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((r.key, r.value) for r in batch)
    finally:
        consumer.close()
    return records


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class Run:
    cluster: Cluster
    out: Path
    checkpoints: Path
    sent: list[Sent]
    job: Job
    kill_note: str
    env: dict[str, str]
    config_file: Path
    window: tuple[int, bool] = (-1, False)  # the paused batch, whether the kill hit its window

    @property
    def chat(self) -> dict[str, ChatEvent]:
        """The chat messages and actions that were sent, by id (re-sent copies once)."""
        out: dict[str, ChatEvent] = {}
        for record in self.sent:
            event = parse_event(record.value)
            if record.expect != "dead_letter" and isinstance(event, ChatEvent) and event.kind in ("message", "action"):
                out[event.id] = event
        return out

    @property
    def other_events(self) -> dict[str, ChatEvent]:
        out: dict[str, ChatEvent] = {}
        for record in self.sent:
            event = parse_event(record.value)
            if record.expect != "dead_letter" and isinstance(event, ChatEvent) and event.kind not in ("message",
                                                                                                   "action"):
                out[event.id] = event
        return out


@pytest.fixture(scope="module")
def cluster(kafka_tarballs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with start_cluster(kafka_tarballs[KAFKA_VERSION], KAFKA_VERSION, tmp_path_factory.mktemp("kafka")) as running:
        create_topics(running, {TOPIC: 2, SCORED_TOPIC: 1, DEAD_LETTER_TOPIC: 1})
        yield running


@pytest.fixture(scope="module")
def run(cluster: Cluster, connector_jars: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("stream")
    out, checkpoints = base / "out", base / "checkpoints"
    config_file = base / "job.toml"
    config_file.write_text(f"""\
sources = ["twitch"]
output_dir = "{out}"
trigger_interval = "2 seconds"
snapshot_windows = 5
top_n = 3
stop_timeout = 60

[kafka]
topics = {{ twitch = "{TOPIC}" }}
max_offsets_per_trigger = 150
scored_topic = "{SCORED_TOPIC}"

{spark_settings(connector_jars)}""")
    # the rest through the environment, as the systemd unit's EnvironmentFile sets it
    env = job_environment(CHAT_SENTIMENT_KAFKA_BOOTSTRAP_SERVERS=cluster.bootstrap,
                          CHAT_SENTIMENT_CHECKPOINT_DIR=str(checkpoints),
                          CHAT_SENTIMENT_KAFKA_DEAD_LETTER_TOPIC=DEAD_LETTER_TOPIC,
                          CHAT_SENTIMENT_FAULT_MARKER=FAULT_MARKER)
    log_path = base / "job.log"

    chat_log = ChatLog()
    first = make_events(chat_log, local_time(2024, 5, 1, 21, 0, 0), FIRST_PART, 1, CHANNELS)
    # records that once failed every batch they were in, amid good ones (each batch holds ~150 records)
    first[60:60] = poison(chat_log, CHANNELS[0], local_time(2024, 5, 1, 21, 1, 0), FAULT_MARKER)
    second = make_events(chat_log, local_time(2024, 5, 1, 21, 20, 0), SECOND_PART, 2, CHANNELS)
    # a shipper whose clock runs an hour ahead, before the second part: nothing after it may count as late
    ahead = [chat_line(chat_log, CHANNELS[1], local_time(2024, 5, 1, 22, 20, s), f"from the future {s} LUL")
             for s in (1, 2)]
    # an hour-late backlog after the second part (a shipper that was down catches up): each in its own minute
    late = [chat_line(chat_log, CHANNELS[0], local_time(2024, 5, 1, 20, 5 + s, 0), f"an hour late {s} Kappa")
            for s in range(3)]
    # re-sends of the first part's chat lines after the crash and restart, minutes after their first copy
    again = [Sent(s.value, s.expect, s.channel, resend=True) for s in first if s.expect == "message"][:12]
    flush = chat_line(chat_log, FLUSH_CHANNEL, local_time(2024, 5, 1, 22, 30, 0), "flush PogChamp")
    produce(cluster.bootstrap, TOPIC, first)
    run_ = Run(cluster, out, checkpoints, first,
               start_job(config_file, log_path, {**env, "CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT": PAUSE_S}), "",
               env, config_file)
    try:
        first_ids = set(run_.chat)
        wait_for(lambda: first_ids <= set(table(out / "messages").get("id", [])), WAIT_S,
                 "the first part's chat messages in messages/", run_.job)
        log_seen = log_path.stat().st_size

        # the crash: more events arrive; the job pauses between a batch's files being in place and its commit
        # (CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT), and the kill lands in that window, checked before it is sent
        rest = [*ahead, *second, *late, flush]
        run_.sent = first + rest
        producer = threading.Thread(target=produce, args=(cluster.bootstrap, TOPIC, rest, 0.05))
        producer.start()

        def paused_batch() -> int | None:
            found = PAUSE_LINE.findall(log_path.read_bytes()[log_seen:].decode("utf-8", "replace"))
            return int(found[-1]) + 1 if found else None  # + 1: batch 0 is a batch too

        batch = wait_for(paused_batch, WAIT_S, "a batch of the second part in the fault window", run_.job) - 1
        app_id = "chat-sentiment-" + QUERY_LINE.findall(log_path.read_text(errors="replace"))[-1]
        # the window: the batch's messages are in the table (its Delta transaction), its checkpoint commit is not
        in_window = (tables.open_table(out / "messages").transaction_version(app_id) == batch
                     and not (checkpoints / "ingest" / "commits" / str(batch)).exists())
        run_.job.kill_group()
        run_.window = (batch, in_window)
        run_.kill_note = f"killed in batch {batch}'s window between the table commit and the checkpoint"
        producer.join(timeout=120)
        assert not producer.is_alive(), "the producer did not finish"
        produce(cluster.bootstrap, TOPIC, again)
        run_.sent = run_.sent + again

        # the restart on the same checkpoints
        run_.job = start_job(config_file, log_path, env)
        all_ids = set(run_.chat)
        wait_for(lambda: all_ids <= set(table(out / "messages").get("id", [])), WAIT_S,
                 "every chat message in messages/ after the restart", run_.job)

        def windows_closed() -> bool:
            messages, windows = table(out / "messages"), table(out / "aggregates")
            if windows.empty:
                return False
            counted = windows[windows.channel != FLUSH_CHANNEL].messages.sum()
            return bool(counted == (messages.channel != FLUSH_CHANNEL).sum())

        wait_for(windows_closed, WAIT_S, "the aggregates of every closed window", run_.job)
        expected_dead = sum(1 for s in run_.sent if s.expect == "dead_letter")
        wait_for(lambda: len(table(out / "dead_letters")) >= expected_dead, WAIT_S,
                 "the dead letters", run_.job)
        wait_for(lambda: len(table(out / "events")) >= len(run_.other_events), WAIT_S,
                 "the events", run_.job)
        wait_for(lambda: caught_up(cluster.bootstrap, checkpoints / "ingest"), WAIT_S,
                 "the job to commit every record of the topic (the late re-sends too)", run_.job)
        yield run_
    finally:
        if run_.job.alive():
            run_.job.kill_group()


# ------------------------------------------------------------------------------------------------ the tests


def test_every_chat_message_is_scored_exactly_once(run: Run) -> None:
    messages = table(run.out / "messages")
    expected = run.chat
    assert len(expected) > 250  # the corpus really has that many distinct chat lines
    duplicated = messages.id[messages.id.duplicated()].tolist()
    assert not duplicated, f"rows repeated after the crash ({run.kill_note}): {duplicated[:5]}"
    assert set(messages.id) == set(expected), f"rows lost or invented ({run.kill_note})"
    scorer = get_scorer("lexicon")
    by_id = messages.set_index("id")
    for event_id, event in expected.items():
        row = by_id.loc[event_id]
        assert (row.kind, row.channel, row.user, row.text) == (event.kind, event.channel, event.user, event.text)
        assert utc(row.ts) == pd.Timestamp(event.ts)
        assert list(row.emotes) == event.emotes
        score = scorer.score_batch([event.text or ""])[0]
        assert (row.label, row.score) == (score.label, pytest.approx(score.score)), event.text
    assert set(messages.label) == {"positive", "neutral", "negative"}
    assert messages.score.between(-1, 1).all()
    korean = messages[messages.text.str.contains("ㅋㅋ")]
    assert not korean.empty and (korean.label == "positive").all()


def test_other_line_kinds_are_kept_as_events_not_scored(run: Run) -> None:
    events = table(run.out / "events")
    expected = run.other_events
    assert not events.id.duplicated().any()
    assert set(events.id) == set(expected)
    assert Counter(events.kind) == Counter(e.kind for e in expected.values())
    assert {"ban", "notification", "viewerstats", "deleted", "bits"} <= set(events.kind)
    assert "label" not in events.columns and "score" not in events.columns
    assert set(events.id).isdisjoint(table(run.out / "messages").id)
    ban = events[events.kind == "ban"].iloc[0]
    assert json.loads(ban["attrs"])["bans"][0]["user"] == "troll_user"


def test_garbage_goes_to_dead_letters_with_the_reason(run: Run) -> None:
    dead = table(run.out / "dead_letters")
    garbage = [s.value.decode("utf-8", "backslashreplace") for s in run.sent if s.expect == "dead_letter"]
    assert len(dead) == len(garbage), "a dead letter was lost or repeated"
    assert sorted(dead.raw) == sorted(garbage)
    assert dead.reason.str.len().gt(0).all()
    reasons = " | ".join(dead.reason)
    for phrase in ("not valid JSON", "not valid UTF-8", "no string 'message'", "cannot tell the channel",
                   "truncated timestamp"):
        assert phrase in reasons
    assert dead.topic.eq(TOPIC).all() and dead.offset.notna().all()


def test_the_kill_hit_the_window_between_the_table_and_the_checkpoint(run: Run) -> None:
    batch, in_window = run.window
    assert in_window, f"batch {batch}'s messages were not in the table, or its checkpoint commit was, at the kill"
    # and the restarted job re-ran that batch to its checkpoint commit (its rows are not in the table twice:
    # test_every_chat_message_is_scored_exactly_once checks the rows)
    assert (run.checkpoints / "ingest" / "commits" / str(batch)).exists()


def test_resends_late_lines_and_a_clock_ahead_lose_and_repeat_nothing(run: Run) -> None:
    resent = [s for s in run.sent if s.resend]
    assert len(resent) > 12, "the corpus must hold re-sends, some of them after the restart"
    messages = table(run.out / "messages")
    assert not messages.id.duplicated().any()
    late = messages[messages.text.str.startswith("an hour late")]
    ahead = messages[messages.text.str.startswith("from the future")]
    assert len(late) == 3 and len(ahead) == 2  # scored, not dropped
    windows = table(run.out / "aggregates")
    for rows in (late, ahead):
        for ts in rows.ts:
            start = utc(ts).floor("min")
            row = windows[(windows.window_start.map(utc) == start) & (windows.channel == rows.channel.iloc[0])]
            assert len(row) == 1 and row.messages.iloc[0] >= 1, f"no window for the line of {start}"


def test_records_that_stopped_the_job_are_dead_letters_and_it_went_on(run: Run) -> None:
    dead = table(run.out / "dead_letters")
    reasons = dict(zip(dead.raw, dead.reason, strict=True))
    poisoned = [s for s in run.sent if s.why]
    assert len(poisoned) == 7
    for sent in poisoned:
        raw = sent.value.decode("utf-8", "backslashreplace")
        assert raw in reasons, f"no dead letter for {raw[:120]}"
        assert sent.why in reasons[raw], (sent.why, reasons[raw])
    log = run.job.log.read_text(errors="replace")
    # the job ran on: no query failed (the one restart is the test's own kill -9, which leaves no log line)
    assert "query ingest stopped" not in log and "the job failed" not in log and "Traceback" not in log


def test_aggregates_add_up_to_the_messages(run: Run) -> None:
    messages = table(run.out / "messages")
    windows = table(run.out / "aggregates")
    windows = windows[windows.channel != FLUSH_CHANNEL]
    assert not windows.duplicated(["source", "channel", "window_start"]).any()
    messages = messages[messages.channel != FLUSH_CHANNEL].copy()
    messages["window_start"] = messages.ts.map(utc).dt.floor("min")
    assert set(windows.channel) == set(CHANNELS)
    assert len(windows) >= 10  # both parts span several minutes per channel
    for (channel, start), group in messages.groupby(["channel", "window_start"]):
        row = windows[(windows.channel == channel) & (windows.window_start.map(utc) == start)]
        assert len(row) == 1, (channel, start)
        row = row.iloc[0]
        labels = Counter(group.label)
        assert (row.messages, row.positive, row.neutral, row.negative) == (
            len(group), labels["positive"], labels["neutral"], labels["negative"]), (channel, start)
        assert abs(row.mean_score - group.score.mean()) < 1e-6
        assert pd.Timestamp(row.window_end) - pd.Timestamp(row.window_start) == pd.Timedelta(minutes=1)
        assert [(t["item"], t["count"]) for t in row.top_emotes] == top_counts(group.emotes, 3)
    assert windows.messages.sum() == len(messages)


def test_scored_messages_and_dead_letters_reach_kafka(run: Run) -> None:
    expected = run.chat
    records = consume_all(run.cluster.bootstrap, SCORED_TOPIC,
                          lambda got: {k.decode() for k, _ in got if k} >= set(expected), WAIT_S)
    keys = {key.decode() for key, _ in records if key is not None}
    assert keys == set(expected)  # at least once: every id, repeats allowed
    messages = table(run.out / "messages").set_index("id")
    for key, value in records:
        body = json.loads(value)
        assert body["id"] == key.decode()
        assert (body["label"], body["score"]) == (messages.loc[body["id"]].label,
                                                  pytest.approx(messages.loc[body["id"]].score))
        assert body["ts"].endswith("Z") and body["channel"] in (*CHANNELS, FLUSH_CHANNEL)
    garbage = sum(1 for s in run.sent if s.expect == "dead_letter")
    dead = consume_all(run.cluster.bootstrap, DEAD_LETTER_TOPIC,
                       lambda got: len({json.loads(v)["raw"] for _, v in got}) >= garbage, WAIT_S)
    assert len({json.loads(v)["raw"] for _, v in dead}) == garbage
    assert all(json.loads(v)["reason"] for _, v in dead)


def test_snapshot_holds_the_latest_windows(run: Run) -> None:
    path = run.out / "snapshot.json"
    windows = table(run.out / "aggregates")

    def current() -> dict[str, Any] | None:
        data = json.loads(path.read_text()) if path.exists() else None
        if not data:
            return None
        total = sum(w["messages"] for c in data["channels"] for w in c["windows"])
        newest = windows.sort_values("window_start").groupby("channel").tail(5)
        return data if total == newest.messages.sum() else None

    data = wait_for(current, WAIT_S, "the snapshot to hold the newest windows", run.job)
    assert data["version"] == 1 and data["window_seconds"] == 60 and data["windows_per_channel"] == 5
    assert [c["channel"] for c in data["channels"]] == sorted(set(windows.channel))
    for channel in data["channels"]:
        rows = windows[windows.channel == channel["channel"]].sort_values("window_start").tail(5)
        assert [w["window_start"] for w in channel["windows"]] == [
            utc(t).strftime("%Y-%m-%dT%H:%M:%SZ") for t in rows.window_start]
        assert [w["messages"] for w in channel["windows"]] == rows.messages.tolist()
        assert all(len(w["top_emotes"]) <= 3 for w in channel["windows"])
    assert not list(path.parent.glob(".snapshot.json.*")), "a temporary snapshot file was left behind"


def test_health_names_the_query_that_reads_kafka_and_its_lag(run: Run) -> None:
    """health.json (beside the snapshot, what the dashboard's health strip shows): the main query's last batch and
    rates, and how far it is behind Kafka on the topic it reads (caught up by now: nothing behind)."""
    path = run.out / "health.json"

    def reported() -> dict[str, Any] | None:
        data = json.loads(path.read_text()) if path.exists() else None
        return data if data and data.get("kafka", {}).get(TOPIC, {}).get("offsets_behind_latest") == 0 else None

    data = wait_for(reported, WAIT_S, "health.json to report the topic caught up", run.job)
    assert data["main_query"] == "ingest" and set(data["kafka"]) == {TOPIC}
    main = data["queries"]["ingest"]
    assert isinstance(main["batch_id"], int) and main["batch_id"] >= 0
    assert main["finished_at"].endswith("Z") and main["processed_rows_per_second"] >= 0


def test_sigterm_stops_the_job_gracefully(run: Run) -> None:
    before = {name: len(table(run.out / name)) for name in ("messages", "events", "dead_letters", "aggregates")}
    run.job.process.send_signal(signal.SIGTERM)  # the driver only, as systemd's KillMode=mixed does
    try:
        code = run.job.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the job did not stop within {STOP_TIMEOUT_S:.0f}s of SIGTERM:\n{tail(run.job.log, 40)}")
    assert code == 0, tail(run.job.log, 40)
    log = run.job.log.read_text(errors="replace")
    assert "SIGTERM received" in log and "stopped gracefully" in log
    wait_for(lambda: not group_alive(run.job.process.pid), 60, "the JVM to exit after the driver")
    after = {name: len(table(run.out / name)) for name in before}
    assert after == before
    assert "progress query=ingest batch=" in log


def test_a_job_with_no_memory_at_all_writes_nothing_twice(run: Run, tmp_path: Path) -> None:
    """A re-send at any later time: a job on a new, empty checkpoint reads the whole topic again (every record a
    re-send older than any state could remember) and must add no row to the tables the first job wrote."""
    before = {name: table(run.out / name) for name in ("messages", "events", "aggregates")}
    fresh = tmp_path / "checkpoints"
    env = {**run.env, "CHAT_SENTIMENT_CHECKPOINT_DIR": str(fresh)}
    job = start_job(run.config_file, run.job.log, env)
    try:
        wait_for(lambda: caught_up(run.cluster.bootstrap, fresh / "ingest"), WAIT_S,
                 "the second job to read the whole topic", job)
    finally:
        job.kill_group()
    log = job.log.read_text(errors="replace")
    assert re.search(r"batch \d+ written: .*duplicates=[1-9]", log), "the second job saw no duplicate at all"
    for name, rows in before.items():
        after = table(run.out / name)
        assert len(after) == len(rows), f"{name}: {len(rows)} rows before, {len(after)} after the second job"
    after = table(run.out / "aggregates").set_index(["source", "channel", "window_start"]).sort_index()
    assert after.messages.tolist() == before["aggregates"].set_index(
        ["source", "channel", "window_start"]).sort_index().messages.tolist()
