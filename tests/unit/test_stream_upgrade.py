"""Upgrading from the Spark 3.5 job: where the new ``ingest`` checkpoint starts reading."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from chat_sentiment import config

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")


def _job(tmp_path: Path, **settings: object):
    from chat_sentiment.stream import StreamJob  # noqa: PLC0415 - needs pyspark

    cfg = config.load(None, environ={"CHAT_SENTIMENT_CHECKPOINT_DIR": str(tmp_path / "cp"), **{
        k: str(v) for k, v in settings.items()}})
    job = StreamJob.__new__(StreamJob)  # no Spark session: starting_offsets reads files only
    job.cfg = cfg
    return job, cfg


def _old_batch(tmp_path: Path, batch: int, offsets: dict[str, dict[str, int]], committed: bool = True) -> None:
    old = tmp_path / "cp" / "messages"
    (old / "offsets").mkdir(parents=True, exist_ok=True)
    (old / "commits").mkdir(parents=True, exist_ok=True)
    (old / "offsets" / str(batch)).write_text("v1\n" + json.dumps({"batchWatermarkMs": 0}) + "\n"
                                              + json.dumps(offsets) + "\n")
    if committed:
        (old / "commits" / str(batch)).write_text("v1\n{}\n")


def test_a_new_deployment_starts_at_the_configured_offsets(tmp_path: Path) -> None:
    job, cfg = _job(tmp_path)
    assert job.starting_offsets() == cfg.kafka.starting_offsets == "earliest"


def test_the_new_checkpoint_starts_after_the_old_ones_last_committed_batch(tmp_path: Path) -> None:
    _old_batch(tmp_path, 6, {"twitch-chat": {"0": 40, "1": 35}})
    _old_batch(tmp_path, 7, {"twitch-chat": {"0": 90, "1": 80}})
    _old_batch(tmp_path, 8, {"twitch-chat": {"0": 99, "1": 99}}, committed=False)  # planned, never finished
    job, _ = _job(tmp_path)
    assert json.loads(job.starting_offsets()) == {"twitch-chat": {"0": 90, "1": 80}}


def test_a_topic_the_old_job_did_not_read_starts_from_the_configured_offsets(tmp_path: Path) -> None:
    _old_batch(tmp_path, 3, {"twitch-chat": {"0": 5}})
    job, _ = _job(tmp_path, CHAT_SENTIMENT_SOURCES="twitch,twitter")
    assert job.starting_offsets() == "earliest"


def test_once_the_new_checkpoint_exists_it_decides(tmp_path: Path) -> None:
    _old_batch(tmp_path, 3, {"twitch-chat": {"0": 5}})
    (tmp_path / "cp" / "ingest").mkdir(parents=True)
    job, _ = _job(tmp_path)
    assert job.starting_offsets() == "earliest"
