"""The job's per-batch logic on pandas frames: Kafka records -> parsed rows, chat rows -> scored rows.

These are the bodies of the streaming job's ``mapInPandas`` steps (see :mod:`chat_sentiment.stream`), kept free of
Spark so they are tested with plain pandas. The column lists here are the contract with the Spark schemas in
``stream.py``: :data:`PARSED_COLUMNS` (one row per event or dead letter) and :data:`SCORED_COLUMNS`.

- :func:`parse_frame`: each Kafka record goes to the parser of its topic's source (``twitch``: a Filebeat event with
  a Chatty line; ``twitter``: an X API v2 object, which may hold several posts) and comes out as one or more rows,
  each either an event (``type = "event"``) or a dead letter (``type = "dead_letter"`` with ``raw``,
  ``reason`` and an id of its own from the record's Kafka position). Nothing is dropped: a record from a topic no
  source reads, or an empty value, is a dead letter too.
  An event whose line carried no time and whose record had none (``ts`` None) takes the Kafka record's timestamp,
  and ``attrs.ts_from`` says so.
- :func:`score_frame`: adds ``label`` and ``score`` from a scorer's ``score_batch``, in row order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from functools import lru_cache
from typing import Any

import pandas as pd

from .filebeat import parse_event
from .records import ChatEvent, DeadLetter, stable_id
from .scorers import Scorer, get_scorer
from .twitter import parse_record

#: Columns of a Kafka record as the job selects them.
KAFKA_COLUMNS = ("value", "topic", "partition", "offset", "timestamp")
#: Columns of a parsed row; the Kafka record's provenance is kept on every row.
PARSED_COLUMNS = (
    "type", "id", "source", "channel", "ts", "kind", "user", "display_name", "text", "emotes", "badges", "lang",
    "attrs", "raw", "reason", "origin", "topic", "partition", "offset", "kafka_ts",
)
SCORED_COLUMNS = (
    "id", "source", "channel", "ts", "user", "display_name", "kind", "text", "label", "score", "emotes", "badges",
    "lang", "topic", "partition", "offset",
)
#: A dead letter keeps at most this many characters of the raw record (the parsers already cut long lines).
MAX_RAW_CHARS = 65_536


def _utc(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _event_row(event: ChatEvent, provenance: dict[str, Any]) -> dict[str, Any]:
    attrs = dict(event.attrs)
    ts = _utc(event.ts)
    if ts is None:
        ts = provenance["kafka_ts"]
        attrs["ts_from"] = "kafka"
    return {
        "type": "event", "id": event.id, "source": event.source, "channel": event.channel, "ts": ts,
        "kind": event.kind, "user": event.user, "display_name": event.display_name, "text": event.text,
        "emotes": list(event.emotes), "badges": list(event.badges), "lang": event.lang,
        "attrs": json.dumps(attrs, ensure_ascii=False, default=str, sort_keys=True),
        "raw": None, "reason": None, "origin": None, **provenance,
    }


def _dead_row(letter: DeadLetter, provenance: dict[str, Any], source: str | None, number: int) -> dict[str, Any]:
    # The id is the record's place on Kafka and its row number there: the job deduplicates every row by id, and a
    # dead letter is never a repeat of another (a re-run batch re-reads the same records with the same state).
    dead_id = stable_id("dead_letter", provenance["topic"], provenance["partition"], provenance["offset"], number)
    return {
        "type": "dead_letter", "id": dead_id, "source": letter.source or source, "channel": None, "ts": None,
        "kind": None, "user": None, "display_name": None, "text": None, "emotes": [], "badges": [], "lang": None,
        "attrs": None, "raw": letter.raw[:MAX_RAW_CHARS], "reason": letter.reason, "origin": letter.origin,
        **provenance,
    }


def parse_value(value: bytes | str | None, source: str | None, topic: str,
                twitter_channel: str = "twitter") -> list[ChatEvent | DeadLetter]:
    """The records in one Kafka value read by ``source``'s parser (never raises, never returns nothing)."""
    if value is None or len(value) == 0:
        return [DeadLetter(raw="", source=source, reason=f"empty Kafka record value on topic {topic!r}")]
    if source == "twitch":
        return [parse_event(value)]
    if source == "twitter":
        return parse_record(value, channel=twitter_channel)
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    return [DeadLetter(raw=text, source=None, reason=f"record from topic {topic!r}, which no configured source reads")]


def parse_rows(records: Iterable[tuple[Any, ...]], source_by_topic: Mapping[str, str],
               twitter_channel: str = "twitter") -> list[dict[str, Any]]:
    """Rows (dicts with :data:`PARSED_COLUMNS`) of ``(value, topic, partition, offset, timestamp)`` records."""
    rows: list[dict[str, Any]] = []
    for value, topic, partition, offset, timestamp in records:
        source = source_by_topic.get(topic)
        provenance = {"topic": topic, "partition": None if pd.isna(partition) else int(partition),
                      "offset": None if pd.isna(offset) else int(offset), "kafka_ts": _utc(timestamp)}
        for number, record in enumerate(parse_value(value, source, topic, twitter_channel)):
            if isinstance(record, ChatEvent):
                rows.append(_event_row(record, provenance))
            else:
                rows.append(_dead_row(record, provenance, source, number))
    return rows


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in ("ts", "kafka_ts"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("partition", "offset"):
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    if "score" in frame.columns:
        frame["score"] = frame["score"].astype("float64")
    return frame


def parse_frame(frame: pd.DataFrame, source_by_topic: Mapping[str, str],
                twitter_channel: str = "twitter") -> pd.DataFrame:
    """A frame of Kafka records (:data:`KAFKA_COLUMNS`) -> a frame of :data:`PARSED_COLUMNS`."""
    records = zip(*(frame[c] for c in KAFKA_COLUMNS), strict=True)
    return _frame(parse_rows(records, source_by_topic, twitter_channel), PARSED_COLUMNS)


def parse_frames(frames: Iterable[pd.DataFrame], source_by_topic: Mapping[str, str],
                 twitter_channel: str = "twitter") -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` body of the parse step."""
    for frame in frames:
        yield parse_frame(frame, source_by_topic, twitter_channel)


def score_frame(frame: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """``frame`` (with at least the :data:`SCORED_COLUMNS` but label/score) plus ``label`` and ``score``, selected
    to :data:`SCORED_COLUMNS`. A missing text scores as empty (neutral)."""
    texts = ["" if t is None or (isinstance(t, float) and pd.isna(t)) else str(t) for t in frame["text"]]
    scores = scorer.score_batch(texts) if texts else []
    if len(scores) != len(texts):
        raise RuntimeError(f"scorer {scorer.name!r} returned {len(scores)} scores for {len(texts)} texts")
    out = frame.assign(label=[s.label for s in scores], score=[float(s.score) for s in scores])
    out["score"] = out["score"].astype("float64")
    return out[list(SCORED_COLUMNS)]


def score_frames(frames: Iterable[pd.DataFrame], scorer: Scorer) -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` body of the scoring step (the scorer is built once, before the first frame)."""
    for frame in frames:
        yield score_frame(frame, scorer)


@lru_cache(maxsize=4)
def cached_scorer(name: str, model: str | None, options_json: str = "{}") -> Scorer:
    """The scorer for these settings, built once per Python process (in Spark: once per worker, which the job's
    ``mapInPandas`` steps reuse across batches; a transformers model is loaded once, not per batch)."""
    if name == "transformers":
        try:  # no progress bars in the executors' logs
            from transformers.utils import logging as hf_logging  # noqa: PLC0415 - optional dependency

            hf_logging.disable_progress_bar()
        except ImportError:
            pass  # get_scorer names the missing dependency
    return get_scorer(name, model=model or None, **json.loads(options_json))
