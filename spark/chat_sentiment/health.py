"""The job's health document (``health.json`` beside the snapshot), rewritten after every batch.

What a dashboard or a monitoring check needs to tell whether the job keeps up, from Spark's progress reports::

    {"updated_at": "2024-05-01T12:03:10Z", "started_at": "...", "scorer": "lexicon", "main_query": "ingest",
     "queries": {"ingest": {"batch_id": 42, "finished_at": "...", "input_rows_per_second": 81.2,
                            "processed_rows_per_second": 441.3, "num_input_rows": 812}},
     "kafka": {"twitch-chat": {"offsets_behind_latest": 0}},
     "dead_letters_per_minute": [{"minute": "2024-05-01T12:02:00Z", "count": 3}, ...],
     "fallback": {"scorer": "lexicon", "budget_seconds": 3.0},
     "fallback_per_minute": [{"minute": "2024-05-01T12:02:00Z", "count": 120}, ...]}

``main_query``: the query that reads Kafka (``ingest``; ``messages`` before the Delta release), whose entry in
``queries`` is the job's last batch and rates. ``kafka``: per topic, how many records its last batch left unread
(the newest offsets the source saw minus the offsets it has read to). ``dead_letters_per_minute``: dead letters
written per minute of processing time, for the last :data:`KEEP_MINUTES` minutes. ``fallback``: the scorer of
the overflow and the model's budget per task and batch, ``null`` when the job has none
(:mod:`chat_sentiment.fallback`); ``fallback_per_minute``: the messages it scored per minute of processing time
(minutes without any are left out, as for dead letters). A reader that finds
``updated_at`` old knows the job stopped.
Pure Python: tested without Spark.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .snapshot import write_json_atomic

KEEP_MINUTES = 60


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def offsets_behind(source: Mapping[str, Any]) -> dict[str, int]:
    """Per topic: the newest offsets minus the read-to offsets of one Kafka source's progress (``latestOffset``,
    ``endOffset``: ``{topic: {partition: offset}}``, as dicts or JSON text); {} when the source has no such data."""
    import json  # noqa: PLC0415

    def offsets(key: str) -> dict[str, dict[str, int]]:
        value = source.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return {}
        return value if isinstance(value, dict) else {}

    latest, end = offsets("latestOffset"), offsets("endOffset")
    behind: dict[str, int] = {}
    for topic, partitions in latest.items():
        if not isinstance(partitions, dict):
            continue
        read = end.get(topic) if isinstance(end.get(topic), dict) else {}
        behind[topic] = sum(max(0, int(newest) - int(read.get(partition, newest)))
                            for partition, newest in partitions.items())
    return behind


class Health:
    """Collects the progress of the job's queries, its dead letters and its fallback scoring; :meth:`write` saves
    the document."""

    def __init__(self, path: Path, scorer: str, now: datetime | None = None, main_query: str = "ingest", *,
                 fallback: str = "", fallback_budget: float = 0.0) -> None:
        self.path = path
        self.scorer = scorer
        self.main_query = main_query
        self.fallback = {"scorer": fallback, "budget_seconds": fallback_budget} if fallback else None
        self.started_at = now or datetime.now(UTC)
        self.queries: dict[str, dict[str, Any]] = {}
        self.kafka: dict[str, dict[str, int]] = {}
        self.dead_letters: dict[datetime, int] = {}
        self.fallback_counts: dict[datetime, int] = {}
        self._lock = threading.Lock()  # progress events and batches come from different threads

    def _count(self, per_minute: dict[datetime, int], count: int, now: datetime | None) -> None:
        """Add ``count`` to this minute of ``per_minute``, forgetting minutes older than KEEP_MINUTES."""
        if count <= 0:
            return
        minute = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        with self._lock:
            per_minute[minute] = per_minute.get(minute, 0) + count
            horizon = minute - timedelta(minutes=KEEP_MINUTES)
            for old in [m for m in per_minute if m <= horizon]:
                del per_minute[old]

    def dead_letters_written(self, count: int, now: datetime | None = None) -> None:
        self._count(self.dead_letters, count, now)

    def fallback_scored(self, count: int, now: datetime | None = None) -> None:
        """``count`` messages of a batch were scored by the fallback scorer (the model had no budget left)."""
        self._count(self.fallback_counts, count, now)

    def progress(self, report: Mapping[str, Any], now: datetime | None = None) -> None:
        """Record one query's progress report (a dict parsed from ``StreamingQueryProgress.json``)."""
        name = str(report.get("name") or report.get("id") or "query")
        finished = now or datetime.now(UTC)
        entry = {
            "batch_id": report.get("batchId"),
            "finished_at": iso(finished),
            "input_rows_per_second": _number(report.get("inputRowsPerSecond")),
            "processed_rows_per_second": _number(report.get("processedRowsPerSecond")),
            "num_input_rows": int(report.get("numInputRows") or 0),
        }
        with self._lock:
            self.queries[name] = entry
            if name == self.main_query:
                for source in report.get("sources") or []:
                    for topic, behind in offsets_behind(source).items():
                        self.kafka[topic] = {"offsets_behind_latest": behind}

    def document(self, now: datetime | None = None) -> dict[str, Any]:
        with self._lock:
            return {
                "updated_at": iso(now or datetime.now(UTC)),
                "started_at": iso(self.started_at),
                "scorer": self.scorer,
                "main_query": self.main_query,
                "queries": {name: dict(entry) for name, entry in sorted(self.queries.items())},
                "kafka": {topic: dict(entry) for topic, entry in sorted(self.kafka.items())},
                "dead_letters_per_minute": _per_minute(self.dead_letters),
                "fallback": dict(self.fallback) if self.fallback else None,
                "fallback_per_minute": _per_minute(self.fallback_counts),
            }

    def write(self, now: datetime | None = None) -> None:
        write_json_atomic(self.path, self.document(now))


def _per_minute(counts: Mapping[datetime, int]) -> list[dict[str, Any]]:
    return [{"minute": iso(minute), "count": count} for minute, count in sorted(counts.items())]


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0
