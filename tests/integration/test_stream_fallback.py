"""The lexicon fallback on real Spark and Kafka: a transformers job whose model cannot keep up, over tables of the
release before the ``scorer`` column.

A tiny local model (``scripts.localmodel``, random weights, a classifier bias that makes every text positive with
one known score) is the job's transformers scorer, with ``fallback = "lexicon"``. The fault injection
``$CHAT_SENTIMENT_FAULT_SLOW_MODEL`` makes each forward pass :data:`SLOW_S` seconds slower, and the budget is
:data:`BUDGET_S`: each Spark task's model runs exactly :data:`PASSES` passes of :data:`BATCH_SIZE` texts (the second
pass starts at about 2 s of the 3 s budget, the third would start past it), whatever the host's speed within a
second per pass. Every record is on Kafka before the job starts, on one partition, with ``max_offsets_per_trigger``
:data:`PER_BATCH`, so each micro-batch is one task of :data:`PER_BATCH` messages: how many the lexicon scores, and
which (each batch's tail, in Kafka order), is known from these settings alone.

The output directory holds ``messages`` and ``aggregates`` Delta tables in the schema of the previous release
(no ``scorer``, no ``scored_by``), with one row each: the job must add the new columns at start and keep them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from chat_sentiment.scorers import LexiconScorer

from tests.integration.chat_events import ChatLog, chat_line, local_time
from tests.integration.job_local import job_environment, spark_settings, start_job, table, wait_for
from tests.integration.kafka_local import Cluster, create_topics, start_cluster

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("torch and transformers are not installed", allow_module_level=True)

from scripts.localmodel import build_model

pytestmark = pytest.mark.integration

KAFKA_VERSION = "3.0.0"
TOPIC = "twitch-chat"
CHANNEL = "fallbackstreamer"
MESSAGES = 150
PER_BATCH = 50  # max_offsets_per_trigger: every record is there at the start, so batches of 50, 50, 50
BATCH_SIZE = 8
SLOW_S = 2.0
BUDGET_S = 3.0
PASSES = 2  # passes start at ~0 s and ~2 s of model time; the third would start at >= 4 s, past the budget
BIAS = [0.0, 0.5, 3.0]  # the model's logits for every text: negative, neutral, positive
WAIT_S = 420.0
TEXTS = ["PogChamp 최고다", "노잼 ResidentSleeper", "ㅋㅋㅋㅋ 개꿀잼", "this is so bad NotLikeThis", "gg wp 대박",
         "별로네요 재미없어", "hello chat", "Kreygasm 미쳤다"]


def model_score() -> float:
    exps = [math.exp(b) for b in BIAS]
    return round((exps[2] - exps[0]) / sum(exps), 4)


def old_tables(out: Path) -> None:
    """``messages`` and ``aggregates`` as the release before the ``scorer`` column wrote them, one row each."""
    from deltalake import write_deltalake  # noqa: PLC0415

    ts = pa.array([datetime(2024, 4, 30, 8, 0, 5, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))
    strings = pa.list_(pa.string())
    messages = pa.table({
        "id": ["old-1"], "source": ["twitch"], "channel": ["oldchannel"], "ts": ts, "user": ["u"],
        "display_name": ["U"], "kind": ["message"], "text": ["gg"], "label": ["positive"], "score": [0.5],
        "emotes": pa.array([[]], strings), "badges": pa.array([[]], strings), "lang": pa.array([None], pa.string()),
        "topic": [TOPIC],
        "partition": pa.array([0], pa.int64()), "offset": pa.array([0], pa.int64()), "date": ["2024-04-30"]})
    write_deltalake(str(out / "messages"), messages, partition_by=["date"])
    counts = pa.list_(pa.struct([("item", pa.string()), ("count", pa.int64())]))
    aggregates = pa.table({
        "source": ["twitch"], "channel": ["oldchannel"], "window_start": pa.array(
            [datetime(2024, 4, 30, 8, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "window_end": pa.array([datetime(2024, 4, 30, 8, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "messages": pa.array([1], pa.int64()), "positive": pa.array([1], pa.int64()),
        "neutral": pa.array([0], pa.int64()), "negative": pa.array([0], pa.int64()), "mean_score": [0.5],
        "top_emotes": pa.array([[]], counts), "top_words": pa.array([[{"item": "gg", "count": 1}]], counts)})
    write_deltalake(str(out / "aggregates"), aggregates)


def produce(bootstrap: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer  # noqa: PLC0415

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for value in values:
            producer.send(TOPIC, value)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


@pytest.fixture(scope="module")
def cluster(kafka_tarballs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with start_cluster(kafka_tarballs[KAFKA_VERSION], KAFKA_VERSION, tmp_path_factory.mktemp("kafka")) as running:
        create_topics(running, {TOPIC: 1})
        yield running


@pytest.fixture(scope="module")
def run(cluster: Cluster, connector_jars: list[Path], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("fallback")
    out = base / "out"
    model = build_model(base / "model", TEXTS * 4, classifier_bias=BIAS)
    old_tables(out)
    chat_log = ChatLog()
    sent = [chat_line(chat_log, CHANNEL, local_time(2024, 5, 1, 21, i // 60, i % 60), f"{TEXTS[i % len(TEXTS)]} {i}")
            for i in range(MESSAGES)]
    produce(cluster.bootstrap, [s.value for s in sent])
    config_file = base / "job.toml"
    config_file.write_text(f"""\
sources = ["twitch"]
output_dir = "{out}"
checkpoint_dir = "{base / 'checkpoints'}"
trigger_interval = "2 seconds"
stop_timeout = 60

[kafka]
bootstrap_servers = "{cluster.bootstrap}"
topics = {{ twitch = "{TOPIC}" }}
max_offsets_per_trigger = {PER_BATCH}
scored_topic = ""

[scorer]
name = "transformers"
model = "{model}"
batch_size = {BATCH_SIZE}
max_length = 32
threads = 1
fallback = "lexicon"
fallback_budget = {BUDGET_S}

{spark_settings(connector_jars)}""")
    env = job_environment(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CHAT_SENTIMENT_FAULT_SLOW_MODEL=str(SLOW_S))
    job = start_job(config_file, base / "job.log", env)
    try:
        wait_for(lambda: (table(out / "messages").channel == CHANNEL).sum() >= MESSAGES, WAIT_S,
                 "every message in messages/", job)

        def aggregated() -> bool:
            windows = table(out / "aggregates")
            return bool(windows[windows.channel == CHANNEL].messages.sum() == MESSAGES) if len(windows) else False

        wait_for(aggregated, WAIT_S, "the aggregates of every message", job)
        job.process.send_signal(signal.SIGTERM)
        job.process.wait(timeout=120)
        yield {"out": out, "log": job.log.read_text(errors="replace"), "returncode": job.process.returncode}
    finally:
        if job.alive():
            job.kill_group()


def test_the_overflow_of_each_batch_is_scored_by_the_lexicon(run: dict[str, Any]) -> None:
    messages = table(run["out"] / "messages")
    ours = messages[messages.channel == CHANNEL].sort_values("offset")
    assert len(ours) == MESSAGES and ours.id.is_unique
    # each micro-batch is offsets [k * PER_BATCH, (k + 1) * PER_BATCH): its first PASSES * BATCH_SIZE go to the model
    by_model = {offset for offset in range(MESSAGES) if offset % PER_BATCH < PASSES * BATCH_SIZE}
    expected = ["transformers" if offset in by_model else "lexicon" for offset in ours.offset]
    assert ours.scorer.tolist() == expected
    assert (ours.scorer == "lexicon").sum() == MESSAGES - (MESSAGES // PER_BATCH) * PASSES * BATCH_SIZE == 102
    # and each scorer's numbers are really its own: the model's one score, the lexicon's score of that text
    lexicon = LexiconScorer()
    for row in ours.itertuples():
        if row.scorer == "transformers":
            assert (row.label, row.score) == ("positive", pytest.approx(model_score(), abs=1e-4)), row
        else:
            assert (row.label, row.score) == tuple(lexicon.score_text(row.text)), row


def test_the_aggregates_and_the_snapshot_count_the_scorers(run: dict[str, Any]) -> None:
    windows = table(run["out"] / "aggregates")
    ours = windows[windows.channel == CHANNEL]
    totals: dict[str, int] = {}
    for entries in ours.scored_by:
        for entry in entries:
            totals[entry["item"]] = totals.get(entry["item"], 0) + int(entry["count"])
    assert totals == {"transformers": 48, "lexicon": 102}
    snapshot = json.loads((run["out"] / "snapshot.json").read_text())
    (channel,) = [c for c in snapshot["channels"] if c["channel"] == CHANNEL]
    assert sum(w["scored_by"].get("lexicon", 0) for w in channel["windows"]) == 102
    assert all(sum(w["scored_by"].values()) == w["messages"] for w in channel["windows"])


def test_health_and_the_log_say_the_model_did_not_keep_up(run: dict[str, Any]) -> None:
    health = json.loads((run["out"] / "health.json").read_text())
    assert health["fallback"] == {"scorer": "lexicon", "budget_seconds": BUDGET_S}
    assert sum(m["count"] for m in health["fallback_per_minute"]) == 102
    assert run["log"].count("the model does not keep up with the chat") == MESSAGES // PER_BATCH
    assert run["returncode"] == 0


def test_tables_of_the_previous_release_take_the_new_columns(run: dict[str, Any]) -> None:
    messages = table(run["out"] / "messages")
    old = messages[messages.id == "old-1"]
    assert len(old) == 1 and old.scorer.isna().all()
    windows = table(run["out"] / "aggregates")
    old_window = windows[windows.channel == "oldchannel"]
    assert old_window.messages.tolist() == [1] and old_window.scored_by.isna().all()
    assert "added the column(s) `scorer` string" in run["log"]
