"""The job's table writer: which log id a query batch gets in each table, kept across restarts and upgrades."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest
from chat_sentiment import sinklog

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")


@dataclass
class Cfg:
    root: Path

    def table_dir(self, name: str) -> Path:
        return self.root / "out" / name

    def checkpoint(self, query: str) -> Path:
        return self.root / "checkpoints" / query


def _commit(cfg: Cfg, table: str, upto: int) -> None:
    for batch in range(upto + 1):
        sinklog.commit_batch(cfg.table_dir(table), batch, [])


def _writer(cfg: Cfg):
    from chat_sentiment.stream import TableWriter  # noqa: PLC0415 - needs pyspark

    return TableWriter(cfg, "messages")


def test_a_new_deployment_logs_batch_n_as_n(tmp_path: Path) -> None:
    cfg = Cfg(tmp_path)
    writer = _writer(cfg)
    assert [writer.log_id(t, 0) for t in ("messages", "events", "dead_letters")] == [0, 0, 0]
    assert writer.log_id("events", 7) == 7


def test_an_upgrade_continues_every_log_and_keeps_the_distance(tmp_path: Path) -> None:
    cfg = Cfg(tmp_path)
    _commit(cfg, "messages", 41)  # the old file sink of the messages query: log ids are its batch ids
    _commit(cfg, "events", 99)  # the old events query: batch ids of its own
    writer = _writer(cfg)
    assert writer.log_id("messages", 42) == 42
    assert writer.log_id("events", 42) == 100
    assert writer.log_id("dead_letters", 42) == 0
    # A restart (a new writer) finds the same ids, whatever the logs hold by then.
    _commit(cfg, "events", 105)
    again = _writer(cfg)
    assert again.log_id("events", 43) == 101 and again.log_id("dead_letters", 50) == 8


def test_a_batch_the_old_sink_committed_already_is_not_written_again(tmp_path: Path) -> None:
    cfg = Cfg(tmp_path)
    _commit(cfg, "messages", 42)  # killed after the file sink committed batch 42, before the checkpoint did
    writer = _writer(cfg)
    assert writer.log_id("messages", 42) == 42
    assert sinklog.is_committed(cfg.table_dir("messages"), writer.log_id("messages", 42))


def test_new_checkpoints_over_old_output_continue_the_logs(tmp_path: Path) -> None:
    cfg = Cfg(tmp_path)
    _commit(cfg, "messages", 12)  # the operator removed the checkpoints and kept the tables
    assert _writer(cfg).log_id("messages", 0) == 13
